//! Wire shapes of allowed origins and connect sessions, as the customer's
//! backend sees them.

use crate::domain::catalog::Catalog;
use crate::domain::connect_sessions::create::SessionTtl;
use crate::domain::connections::target::DisplayName;
use crate::domain::{self, DomainResult, SessionContext};
use crate::http::auth::InProject;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `PUT /v1/projects/{projectIdOrName}/allowed-origins`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllowedOriginsRequest {
    /// Exact origins (`https://app.example.com`, `http://localhost:3000`);
    /// replaces the whole list, `[]` clears it.
    #[schema(required = true)]
    pub origins: Option<Vec<String>>,
}

/// The origins allowed to embed the connect page and receive browsers back.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AllowedOrigins)]
#[serde(rename_all = "camelCase")]
pub struct AllowedOriginsView {
    pub origins: Vec<String>,
}

/// Body of `POST /v1/projects/{projectIdOrName}/connect-sessions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateConnectSessionRequest {
    /// Providers the person may choose from (each needs a default provider
    /// app). For a re-authorization, omit it or name the connection's provider.
    pub providers: Option<Vec<String>>,
    /// Required unless `connectionId` is given.
    pub group_ref: Option<String>,
    pub group_name: Option<String>,
    /// Required unless `connectionId` is given.
    pub consumer_ref: Option<String>,
    pub consumer_name: Option<String>,
    /// Re-authorize this connection in place instead of creating one.
    pub connection_id: Option<String>,
    /// Where the browser goes back after a flow that ran without a popup,
    /// with `connectionId`, `status` and `provider` (and `error`) added to its
    /// query. Its origin must be allowed.
    pub return_url: Option<String>,
    /// Origin of the page that embeds or opens the connect page; results are
    /// `postMessage`d to it. Must be allowed. Defaults to `returnUrl`'s origin.
    pub parent_origin: Option<String>,
    /// 60–3600; default 600.
    pub expires_in_seconds: Option<i64>,
}

impl CreateConnectSessionRequest {
    /// The body as a `NewConnectSession`, checked against what the project
    /// holds (`context`); every bad field named together.
    pub fn parse(
        self,
        catalog: &Catalog,
        context: &SessionContext,
    ) -> DomainResult<domain::NewConnectSession> {
        let mut issues = Vec::new();
        // The context was read for `connectionId`, when one was sent.
        let target = context.target(
            catalog,
            self.providers,
            self.group_ref,
            self.consumer_ref,
            &mut issues,
        );
        let names = (
            DisplayName::parse("groupName", self.group_name.as_deref(), &mut issues),
            DisplayName::parse("consumerName", self.consumer_name.as_deref(), &mut issues),
        );
        let return_to = context.return_to(
            self.return_url.as_deref(),
            self.parent_origin.as_deref(),
            &mut issues,
        );
        let ttl = SessionTtl::parse(self.expires_in_seconds, &mut issues);
        domain::NewConnectSession::new(target, names, return_to, ttl, issues)
    }
}

/// How a session's flow ended.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConnectSessionResult)]
#[serde(rename_all = "camelCase")]
pub struct SessionOutcomeView {
    /// `success` or `failure`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    pub finished_at: DateTime<Utc>,
}

impl From<domain::SessionOutcome> for SessionOutcomeView {
    fn from(o: domain::SessionOutcome) -> Self {
        SessionOutcomeView {
            status: o.status.as_str().to_owned(),
            connection_id: o.connection_id,
            error: o.error,
            error_description: o.error_description,
            finished_at: o.finished_at,
        }
    }
}

/// A connect session as its backend sees it; never its token.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConnectSession)]
#[serde(rename_all = "camelCase")]
pub struct ConnectSessionView {
    pub id: String,
    pub project_id: String,
    /// `pending`, `started`, `succeeded`, `failed` or `expired`.
    pub status: String,
    pub providers: Vec<String>,
    pub group_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    pub consumer_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_origin: Option<String>,
    /// The provider the person chose, once a flow started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<SessionOutcomeView>,
}

impl From<domain::ConnectSession> for ConnectSessionView {
    fn from(s: domain::ConnectSession) -> Self {
        ConnectSessionView {
            status: s.status(Utc::now()).as_str().to_owned(),
            id: s.id,
            project_id: s.project_id,
            providers: s.providers,
            group_ref: s.group_ref,
            group_name: s.group_name,
            consumer_ref: s.consumer_ref,
            consumer_name: s.consumer_name,
            connection_id: s.connection_id,
            return_url: s.return_url,
            parent_origin: s.parent_origin,
            provider: s.provider,
            created_at: s.created_at,
            expires_at: s.expires_at,
            consumed_at: s.consumed_at,
            result: s.outcome.map(SessionOutcomeView::from),
        }
    }
}

/// A new connect session with its token and page URL, shown this once only.
/// No `Debug`: it carries the token in clear.
#[derive(Serialize, ToSchema)]
#[schema(as = CreatedConnectSession)]
#[serde(rename_all = "camelCase")]
pub struct CreatedConnectSessionView {
    #[serde(flatten)]
    pub session: ConnectSessionView,
    /// `gcs_…`: single use, valid until `expiresAt`. Not shown again.
    pub token: String,
    /// The hosted connect page for this session: open it in a popup, an
    /// iframe or the whole window. The token is in its fragment (after
    /// `#`), which browsers never send: pass the URL on whole.
    pub url: String,
}

impl From<domain::CreatedConnectSession> for CreatedConnectSessionView {
    fn from(created: domain::CreatedConnectSession) -> Self {
        CreatedConnectSessionView {
            session: created.session.into(),
            token: created.token.expose().to_owned(),
            url: created.url,
        }
    }
}

/// The path of one connect session.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectSessionPath {
    pub project_id_or_name: String,
    pub session_id: String,
}

impl InProject for ConnectSessionPath {
    fn project_id_or_name(&self) -> &str {
        &self.project_id_or_name
    }
}
