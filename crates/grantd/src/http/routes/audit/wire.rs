//! Wire shapes of the audit trail.

use crate::domain;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Query of `GET …/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAuditQuery {
    /// Only records about this connection.
    pub connection_id: Option<String>,
    /// Only records of this caller: an API key id or a JWT `kid`.
    pub caller: Option<String>,
    /// Only this action, e.g. `credentials.read`.
    pub action: Option<String>,
    /// Records at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Records before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Most records returned, newest first: 1–500, default 100.
    pub page_size: Option<i64>,
    /// `nextPageToken` of the previous page.
    pub page_token: Option<String>,
}

impl From<ListAuditQuery> for domain::AuditQuery {
    fn from(q: ListAuditQuery) -> Self {
        domain::AuditQuery {
            connection_id: q.connection_id,
            caller_id: q.caller,
            action: q.action,
            since: q.since,
            until: q.until,
            page_size: q.page_size,
            page_token: q.page_token,
        }
    }
}

/// Who acted.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditCaller)]
#[serde(rename_all = "camelCase")]
pub struct AuditCallerView {
    /// `apiKey`, `jwt`, `cli` (the admin command line) or `endUser` (a
    /// browser at the OAuth callback).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The API key id, or the JWT's `kid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The JWT's `sub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// One audit record. Never carries a secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditRecord)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecordView {
    pub id: String,
    pub project_id: Option<String>,
    pub time: DateTime<Utc>,
    /// `credentials.read`, `connection.create`, `connection.update`,
    /// `connection.delete`, `connection.reauthorize_start`,
    /// `connection.reauthorize`, `provider_app.create`, `provider_app.update`,
    /// `provider_app.delete`, `allowed_origins.update`, `api_key.create`,
    /// `api_key.revoke`, `jwt_key.create`, `jwt_key.revoke`,
    /// `encryption_key.rotate`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// The provider app, API key or JWT key acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    pub caller: AuditCallerView,
    /// The client's address as grantd saw it (behind a proxy, the proxy's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    /// The request's `x-request-id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What else tells the action apart: the provider, the credential
    /// access level of a read, the scopes of a new key, the fields changed.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<domain::AuditRecord> for AuditRecordView {
    fn from(r: domain::AuditRecord) -> Self {
        let kind = r.caller_type();
        AuditRecordView {
            id: r.id,
            project_id: r.project_id,
            time: r.time,
            action: r.action,
            connection_id: r.connection_id,
            target_id: r.target_id,
            caller: AuditCallerView {
                kind,
                id: r.caller_id,
                subject: r.caller_subject,
            },
            client_address: r.client_address,
            request_id: r.request_id,
            detail: r.detail,
        }
    }
}

/// A page of the audit trail, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditPage)]
#[serde(rename_all = "camelCase")]
pub struct AuditPageView {
    pub records: Vec<AuditRecordView>,
    /// Pass as `pageToken` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

impl From<domain::AuditPage> for AuditPageView {
    fn from(page: domain::AuditPage) -> Self {
        AuditPageView {
            records: page.records.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token,
        }
    }
}
