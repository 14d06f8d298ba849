//! Wire shapes of webhook endpoints and their deliveries.

use crate::domain;
use crate::http::auth::InProject;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /v1/projects/{projectIdOrName}/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where events are POSTed: an https URL whose host is a public address or a
    /// name (judged by the address it resolves to at each delivery). Private and
    /// loopback addresses, and plain http to 127.0.0.1, ::1 or localhost, only
    /// when the server runs with `--webhook-allow-private`.
    #[schema(required = true)]
    pub url: Option<String>,
    /// Event kinds to receive; every kind (including future ones) when omitted.
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
}

/// Query of `GET …/webhooks/{webhookId}/deliveries`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveriesQuery {
    /// Most deliveries returned, newest first: 1–500, default 100.
    pub limit: Option<i64>,
}

/// A webhook endpoint. Its signing secret is only ever in the creation response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Webhook)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    pub project_id: String,
    pub url: String,
    /// The event kinds this endpoint receives.
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<domain::WebhookEndpoint> for WebhookView {
    fn from(w: domain::WebhookEndpoint) -> Self {
        WebhookView {
            id: w.id,
            project_id: w.project_id,
            url: w.url,
            events: w.events,
            description: w.description,
            created_at: w.created_at,
        }
    }
}

/// A new webhook endpoint with its signing secret, shown this once only.
/// No `Debug`: it carries the secret in clear.
#[derive(Serialize, ToSchema)]
#[schema(as = CreatedWebhook)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhookView {
    pub id: String,
    pub project_id: String,
    pub url: String,
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    /// `whsec_…`: the HMAC-SHA256 key of `Grantd-Webhook-Signature`. Store it now;
    /// it is not shown again.
    pub secret: String,
}

impl From<domain::CreatedWebhook> for CreatedWebhookView {
    fn from(created: domain::CreatedWebhook) -> Self {
        let w = created.endpoint;
        CreatedWebhookView {
            id: w.id,
            project_id: w.project_id,
            url: w.url,
            events: w.events,
            description: w.description,
            created_at: w.created_at,
            secret: created.secret.expose().to_owned(),
        }
    }
}

/// One attempt record of the delivery of an event to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeliveryView {
    pub id: String,
    pub event_id: String,
    pub kind: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts started so far.
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed, as a class only: `refused_address` (the
    /// destination is not a permitted address; nothing was sent), `dns`,
    /// `connect`, `tls`, `timeout`, `protocol`, `http_<status>`,
    /// `signing_secret` or `abandoned`.
    pub last_error: Option<String>,
    /// When the next attempt is due; null once delivered or failed.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<domain::WebhookDelivery> for WebhookDeliveryView {
    fn from(d: domain::WebhookDelivery) -> Self {
        WebhookDeliveryView {
            id: d.id,
            event_id: d.event_id,
            kind: d.kind,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

/// The path of one webhook endpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPath {
    pub project_id_or_name: String,
    pub webhook_id: String,
}

impl InProject for WebhookPath {
    fn project_id_or_name(&self) -> &str {
        &self.project_id_or_name
    }
}
