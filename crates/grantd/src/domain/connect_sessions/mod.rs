//! Connect sessions and the hosted connect page's side of the OAuth flow.
//!
//! A customer's backend creates a session for one of its users (which
//! providers, which group and consumer, where to send the browser back) and
//! hands the user the session's URL. The session's token is a bearer secret
//! shown once and stored as a SHA-256 hash; it is short-lived and single
//! use: it is consumed when the page starts a flow. Input mistakes
//! (a workspace that does not match the catalog's pattern) are reported
//! before that and can be corrected with the same link; once a flow has
//! started, a failed provider step (the user refused, the exchange failed)
//! cannot be retried with the same session: the page reports the failure
//! and the application creates a new session. The started flow itself can
//! be re-opened (a closed popup) until it expires, since it is the same flow.
//!
//! Return URLs and the origin of the embedding page must be on the project's
//! allow-list of origins; results are `postMessage`d to that exact origin.

mod origins;

pub use origins::normalize_origin;

use crate::domain::catalog::AuthScheme;
use crate::domain::connections::target::MetadataInput;
use crate::domain::error::{optional_name, required_ref, DomainError, DomainResult, FieldIssue};
use crate::domain::handle::Grantd;
use crate::domain::model::{from_millis, Timestamp};
use crate::domain::oauth::callback::{CallbackOutcome, ConnectReturn};
use crate::domain::oauth::connect::{ConnectInput, FlowOptions};
use crate::secrets::{random_token, sha256_hex, SecretString};
use crate::storage::{now_millis, ConnectSessionRow, SessionResult, StoreError};
use crate::vocab::SessionResultStatus;
use origins::{check_parent_origin, check_return_url};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Prefix of session tokens, so that they are recognisable in a leak.
pub const TOKEN_PREFIX: &str = "gcs_";
/// Session lifetime when the caller names none.
pub const DEFAULT_TTL_SECS: i64 = 600;
const MIN_TTL_SECS: i64 = 60;
const MAX_TTL_SECS: i64 = 3600;
/// Most providers one session offers.
const MAX_PROVIDERS: usize = 50;
/// Most origins on a project's allow-list.
pub const MAX_ALLOWED_ORIGINS: usize = 100;

/// The body of `POST /v1/projects/{p}/connect-sessions`, before validation.
#[derive(Debug, Default)]
pub struct ConnectSessionInput {
    pub providers: Option<Vec<String>>,
    pub group_ref: Option<String>,
    pub group_name: Option<String>,
    pub consumer_ref: Option<String>,
    pub consumer_name: Option<String>,
    /// Re-authorize this connection instead of creating one.
    pub connection_id: Option<String>,
    pub return_url: Option<String>,
    pub parent_origin: Option<String>,
    pub expires_in_seconds: Option<i64>,
}

/// How a session's flow ended.
#[derive(Debug, Clone)]
pub struct SessionOutcome {
    pub status: SessionResultStatus,
    pub connection_id: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub finished_at: Timestamp,
}

/// A connect session, without its token.
#[derive(Debug, Clone)]
pub struct ConnectSession {
    pub id: String,
    pub project_id: String,
    pub providers: Vec<String>,
    pub group_ref: String,
    pub group_name: Option<String>,
    pub consumer_ref: String,
    pub consumer_name: Option<String>,
    pub connection_id: Option<String>,
    pub return_url: Option<String>,
    pub parent_origin: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub consumed_at: Option<Timestamp>,
    /// The provider the flow was started with.
    pub provider: Option<String>,
    pub outcome: Option<SessionOutcome>,
}

/// Where a connect session stands, as its API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Not used yet.
    Pending,
    /// Its flow was started and has not come back.
    Started,
    Succeeded,
    Failed,
    Expired,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Pending => "pending",
            SessionStatus::Started => "started",
            SessionStatus::Succeeded => "succeeded",
            SessionStatus::Failed => "failed",
            SessionStatus::Expired => "expired",
        }
    }
}

impl ConnectSession {
    pub fn status(&self, now: Timestamp) -> SessionStatus {
        match (&self.outcome, self.consumed_at) {
            (Some(outcome), _) if outcome.status == SessionResultStatus::Success => {
                SessionStatus::Succeeded
            }
            (Some(_), _) => SessionStatus::Failed,
            _ if self.expires_at <= now => SessionStatus::Expired,
            (None, Some(_)) => SessionStatus::Started,
            (None, None) => SessionStatus::Pending,
        }
    }
}

impl From<ConnectSessionRow> for ConnectSession {
    fn from(row: ConnectSessionRow) -> Self {
        let outcome = row.result_status.map(|status| SessionOutcome {
            status,
            connection_id: row.result_connection_id,
            error: row.result_error,
            error_description: row.result_error_description,
            finished_at: from_millis(row.finished_at.unwrap_or(row.created_at)),
        });
        ConnectSession {
            id: row.id,
            project_id: row.project_id,
            providers: row.providers,
            group_ref: row.group_ref,
            group_name: row.group_name,
            consumer_ref: row.consumer_ref,
            consumer_name: row.consumer_name,
            connection_id: row.connection_id,
            return_url: row.return_url,
            parent_origin: row.parent_origin,
            created_at: from_millis(row.created_at),
            expires_at: from_millis(row.expires_at),
            consumed_at: row.consumed_at.map(from_millis),
            provider: row.provider,
            outcome,
        }
    }
}

/// A new session with its token, shown this once only.
/// No `Debug`: it carries the token in clear.
pub struct CreatedConnectSession {
    pub session: ConnectSession,
    pub token: SecretString,
    /// The hosted page: `{public_url}/connect?sessionId={id}#token={token}`.
    pub url: String,
}

/// What the page sends to start the flow.
#[derive(Debug, Default)]
pub struct ConnectStartInput {
    pub provider: Option<String>,
    pub provider_workspace_ref: Option<String>,
    pub provider_metadata: BTreeMap<String, MetadataInput>,
}

/// Two letters for a provider's badge: the initials of its first two words,
/// or its first two letters.
pub fn initials(display_name: &str) -> String {
    let words: Vec<&str> = display_name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let letters: String = match words.as_slice() {
        [] => "?".into(),
        [one] => one.chars().take(2).collect(),
        [first, second, ..] => first
            .chars()
            .take(1)
            .chain(second.chars().take(1))
            .collect(),
    };
    letters.to_uppercase()
}

impl Grantd {
    /// A project's allowed origins.
    pub async fn allowed_origins(&self, project_id: &str) -> DomainResult<Vec<String>> {
        Ok(self.store().list_allowed_origins(project_id).await?)
    }

    /// Whether a project allows `origin` (exact, as a browser sends it in
    /// `Origin`): CORS for its callers, and where the callback page may post.
    pub async fn project_allows_origin(
        &self,
        project_id: &str,
        origin: &str,
    ) -> DomainResult<bool> {
        Ok(self
            .store()
            .project_allows_origin(project_id, origin)
            .await?)
    }

    /// Whether any project allows `origin`: a CORS preflight carries no
    /// credential, so it cannot be decided by one project.
    pub async fn any_project_allows_origin(&self, origin: &str) -> DomainResult<bool> {
        Ok(self.store().any_project_allows_origin(origin).await?)
    }

    /// Replaces a project's allowed origins; every entry must be an origin.
    pub async fn set_allowed_origins(
        &self,
        project_id: &str,
        origins: Option<Vec<String>>,
    ) -> DomainResult<Vec<String>> {
        let Some(origins) = origins else {
            return Err(DomainError::invalid(FieldIssue::body(
                "origins",
                Value::Null,
                "origins is required (an empty array clears the list)",
            )));
        };
        let mut issues = Vec::new();
        if origins.len() > MAX_ALLOWED_ORIGINS {
            issues.push(FieldIssue::body(
                "origins",
                Value::Null,
                format!("at most {MAX_ALLOWED_ORIGINS} origins"),
            ));
        }
        let mut normalized = BTreeSet::new();
        for (i, origin) in origins.iter().enumerate() {
            match normalize_origin(origin) {
                Ok(o) => {
                    normalized.insert(o);
                }
                Err(detail) => issues.push(FieldIssue::body(
                    format!("origins[{i}]"),
                    origin.as_str(),
                    format!("origins[{i}] {detail}"),
                )),
            }
        }
        if !issues.is_empty() {
            return Err(DomainError::Validation(issues));
        }
        let normalized: Vec<String> = normalized.into_iter().collect();
        self.store()
            .replace_allowed_origins(project_id, &normalized, now_millis())
            .await?;
        Ok(normalized)
    }

    /// Validates a session request and mints the session's token.
    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    pub async fn create_connect_session(
        &self,
        project_id: &str,
        mut input: ConnectSessionInput,
    ) -> DomainResult<CreatedConnectSession> {
        input.providers = input.providers.map(|names| {
            names
                .into_iter()
                .map(|name| self.catalog().canonical(name))
                .collect()
        });
        let mut issues = Vec::new();
        let allowed = self.store().list_allowed_origins(project_id).await?;
        let (providers, group_ref, consumer_ref) = match input.connection_id.as_deref() {
            Some(connection_id) => {
                self.reauthorization_target(project_id, connection_id, &input, &mut issues)
                    .await?
            }
            None => {
                required_ref("groupRef", input.group_ref.as_deref(), &mut issues);
                required_ref("consumerRef", input.consumer_ref.as_deref(), &mut issues);
                let providers = self
                    .check_session_providers(project_id, input.providers.as_deref(), &mut issues)
                    .await?;
                (
                    providers,
                    input.group_ref.clone().unwrap_or_default(),
                    input.consumer_ref.clone().unwrap_or_default(),
                )
            }
        };
        let group_name = optional_name("groupName", input.group_name.as_deref(), &mut issues);
        let consumer_name =
            optional_name("consumerName", input.consumer_name.as_deref(), &mut issues);
        let return_url = check_return_url(input.return_url.as_deref(), &allowed, &mut issues);
        let parent_origin = match input.parent_origin.as_deref() {
            Some(value) => check_parent_origin(value, &allowed, &mut issues),
            None => return_url
                .as_ref()
                .map(|u| u.origin().ascii_serialization()),
        };
        let ttl = match input.expires_in_seconds {
            None => DEFAULT_TTL_SECS,
            Some(secs) if (MIN_TTL_SECS..=MAX_TTL_SECS).contains(&secs) => secs,
            Some(secs) => {
                issues.push(FieldIssue::body(
                    "expiresInSeconds",
                    secs,
                    format!("expiresInSeconds must be between {MIN_TTL_SECS} and {MAX_TTL_SECS}"),
                ));
                DEFAULT_TTL_SECS
            }
        };
        if !issues.is_empty() {
            return Err(DomainError::Validation(issues));
        }
        let token = SecretString::new(format!("{TOKEN_PREFIX}{}", random_token()));
        let now = now_millis();
        let row = ConnectSessionRow {
            id: uuid::Uuid::now_v7().to_string(),
            project_id: project_id.to_owned(),
            token_hash: sha256_hex(token.expose().as_bytes()),
            providers,
            group_ref,
            group_name,
            consumer_ref,
            consumer_name,
            connection_id: input.connection_id,
            return_url: return_url.map(String::from),
            parent_origin,
            created_at: now,
            expires_at: now + ttl * 1000,
            consumed_at: None,
            provider: None,
            result_status: None,
            result_connection_id: None,
            result_error: None,
            result_error_description: None,
            finished_at: None,
        };
        self.store().insert_connect_session(&row).await?;
        let url = self.connect_page_url(&row.id, token.expose());
        Ok(CreatedConnectSession {
            session: row.into(),
            token,
            url,
        })
    }

    /// `{public_url}/connect?sessionId={id}#token={token}`. The token is in
    /// the fragment, which browsers never send, so that no access log of
    /// grantd or of a proxy holds it; the page reads it and removes it from
    /// the address bar. The id (no secret) tells the server who may frame
    /// the page.
    fn connect_page_url(&self, id: &str, token: &str) -> String {
        let base = &self.settings().public_url;
        let mut url = base.clone();
        url.set_path(&format!("{}connect", base.path()));
        url.set_query(None);
        url.query_pairs_mut().append_pair("sessionId", id);
        let fragment = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        url.set_fragment(Some(&fragment));
        url.into()
    }

    /// The origin that may frame a live session's connect page, by the
    /// session's id. Anything that is not a session id names none (and is
    /// never sent to the database).
    pub async fn connect_page_frame_ancestor(&self, id: &str) -> DomainResult<Option<String>> {
        if uuid::Uuid::try_parse(id).is_err() {
            return Ok(None);
        }
        match self.store().find_connect_session_by_id(id).await {
            Ok(row) if row.expires_at > now_millis() => Ok(row.parent_origin),
            Ok(_) | Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// A session of the project, by id, for its backend.
    pub async fn get_connect_session(
        &self,
        project_id: &str,
        id: &str,
    ) -> DomainResult<ConnectSession> {
        match self.store().find_connect_session(project_id, id).await {
            Ok(row) => Ok(row.into()),
            Err(StoreError::NotFound) => Err(DomainError::not_found("connect session")),
            Err(other) => Err(other.into()),
        }
    }

    /// The session a page token opens. Unknown and expired tokens are
    /// both "not found"; a used session stays readable while its flow may
    /// still finish, so that the page can show the result.
    pub async fn connect_session_for_token(&self, token: &str) -> DomainResult<ConnectSession> {
        let row = self
            .store()
            .find_connect_session_by_token(&sha256_hex(token.trim().as_bytes()))
            .await?
            .filter(|row| row.expires_at > now_millis())
            .ok_or(DomainError::not_found("connect session"))?;
        Ok(row.into())
    }

    /// Starts the session's flow for the provider the person chose, with
    /// the workspace and metadata they typed (checked against the catalog
    /// like oauth-connect's, before the session is spent). Returns the URL
    /// to open: grantd's bounce endpoint, since connect-page flows are
    /// always CSRF-protected.
    #[tracing::instrument(skip_all, fields(provider = ?input.provider))]
    pub async fn start_connect_flow(
        &self,
        token: &str,
        mut input: ConnectStartInput,
    ) -> DomainResult<String> {
        input.provider = input.provider.map(|name| self.catalog().canonical(name));
        let session = self.connect_session_for_token(token).await?;
        if session.consumed_at.is_some() {
            return Err(DomainError::Conflict(
                "this connect session was already used; ask the application for a new link".into(),
            ));
        }
        let provider = match input.provider.as_deref() {
            None => Err(FieldIssue::body(
                "provider",
                Value::Null,
                "provider is required",
            )),
            Some(p) if !session.providers.iter().any(|allowed| allowed == p) => {
                Err(FieldIssue::body(
                    "provider",
                    p,
                    format!("this session offers {}", session.providers.join(", ")),
                ))
            }
            Some(p) => Ok(p.to_owned()),
        }
        .map_err(DomainError::invalid)?;
        let prepared = match &session.connection_id {
            Some(connection_id) => {
                self.prepare_update(&session.project_id, connection_id)
                    .await?
            }
            None => {
                let connect = ConnectInput {
                    project_id: Some(session.project_id.clone()),
                    provider: Some(provider.clone()),
                    group_ref: Some(session.group_ref.clone()),
                    consumer_ref: Some(session.consumer_ref.clone()),
                    group_name: session.group_name.clone(),
                    consumer_name: session.consumer_name.clone(),
                    provider_workspace_ref: input
                        .provider_workspace_ref
                        .filter(|w| !w.trim().is_empty()),
                    provider_metadata: input
                        .provider_metadata
                        .into_iter()
                        .filter(|(_, v)| !v.value.trim().is_empty())
                        .collect(),
                    provider_app_id: None,
                    enable_csrf_protection: true,
                    opener_origin: None,
                };
                self.prepare_connect(&session.project_id, connect, Vec::new())
                    .await?
            }
        };
        let now = now_millis();
        let flow_ttl = i64::try_from(self.settings().state_ttl.as_millis()).unwrap_or(i64::MAX);
        let consumed = self
            .store()
            .consume_connect_session(
                &session.id,
                prepared.provider_name(),
                now,
                now.saturating_add(flow_ttl),
            )
            .await?;
        if !consumed {
            return Err(DomainError::Conflict(
                "this connect session was already used; ask the application for a new link".into(),
            ));
        }
        // The callback page reports to the connect page (grantd's own
        // origin), which relays to the embedding page.
        let options = FlowOptions {
            opener_origin: None,
            csrf: true,
            connect_session_id: Some(session.id.clone()),
        };
        match self.begin_flow(prepared, &options).await {
            Ok(url) => Ok(url),
            Err(error) => {
                // Nothing was started: give the link back.
                let expires_at = session.expires_at.timestamp_millis();
                if let Err(e) = self
                    .store()
                    .release_connect_session(&session.id, expires_at)
                    .await
                {
                    tracing::warn!(error = %e, "could not release a connect session");
                }
                Err(error)
            }
        }
    }

    /// Records how a session's flow ended and returns where its result
    /// goes besides the callback page (nothing for a refused callback).
    pub(in crate::domain) async fn finish_connect_session(
        &self,
        session_id: &str,
        outcome: &DomainResult<CallbackOutcome>,
    ) -> Option<ConnectReturn> {
        let failure_description;
        let result = match outcome {
            Ok(CallbackOutcome::Connected { connection_id, .. }) => SessionResult {
                status: SessionResultStatus::Success,
                connection_id: Some(connection_id),
                error: None,
                error_description: None,
                now: now_millis(),
            },
            Ok(CallbackOutcome::Failed {
                connection_id,
                failure,
                ..
            }) => {
                failure_description = failure.description();
                SessionResult {
                    status: SessionResultStatus::Failure,
                    connection_id: connection_id.as_deref(),
                    error: Some(failure.code()),
                    error_description: failure_description.as_deref(),
                    now: now_millis(),
                }
            }
            Ok(CallbackOutcome::Rejected(_)) => return None,
            Err(_) => SessionResult {
                status: SessionResultStatus::Failure,
                connection_id: None,
                error: Some("server_error"),
                error_description: Some("the connection could not be saved"),
                now: now_millis(),
            },
        };
        self.record_connect_result(session_id, &result).await;
        match self.store().find_connect_session_by_id(session_id).await {
            Ok(session) => Some(ConnectReturn {
                session_id: session.id,
                return_url: session.return_url,
                parent_origin: session.parent_origin,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the connect session of a flow");
                None
            }
        }
    }

    /// Stores how a session's flow ended (best effort: the connection, if
    /// any, is already stored and the callback page says what happened).
    pub(in crate::domain) async fn record_connect_result(
        &self,
        session_id: &str,
        result: &SessionResult<'_>,
    ) {
        if let Err(e) = self
            .store()
            .record_connect_session_result(session_id, result)
            .await
        {
            tracing::warn!(error = %e, "could not record the result of a connect session");
        }
    }

    /// Providers of a new-connection session: known, with an authorization
    /// code flow and a default provider app in the project.
    async fn check_session_providers(
        &self,
        project_id: &str,
        providers: Option<&[String]>,
        issues: &mut Vec<FieldIssue>,
    ) -> DomainResult<Vec<String>> {
        let Some(providers) = providers else {
            issues.push(FieldIssue::body(
                "providers",
                Value::Null,
                "providers is required",
            ));
            return Ok(Vec::new());
        };
        if providers.is_empty() || providers.len() > MAX_PROVIDERS {
            issues.push(FieldIssue::body(
                "providers",
                Value::Null,
                format!("providers must name 1 to {MAX_PROVIDERS} providers"),
            ));
            return Ok(Vec::new());
        }
        let mut out: Vec<String> = Vec::new();
        for (i, name) in providers.iter().enumerate() {
            let field = format!("providers[{i}]");
            let Some(provider) = self.catalog().get(name) else {
                issues.push(FieldIssue::body(
                    field,
                    name.as_str(),
                    format!("unknown provider {name}"),
                ));
                continue;
            };
            if !provider.supports(AuthScheme::OAuth2AuthorizationCode) {
                issues.push(FieldIssue::body(
                    field,
                    name.as_str(),
                    format!("provider {name} has no OAuth authorization code flow"),
                ));
                continue;
            }
            match self.resolve_provider_app(project_id, name, None).await {
                Ok(_) => {}
                Err(DomainError::Validation(_)) => {
                    issues.push(FieldIssue::body(
                        field,
                        name.as_str(),
                        format!(
                            "no default provider app for {name} in this project; create one first"
                        ),
                    ));
                    continue;
                }
                Err(other) => return Err(other),
            }
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        Ok(out)
    }

    /// The provider, group and consumer of a re-authorization session: the
    /// connection's own. Values the caller sent must agree with them.
    async fn reauthorization_target(
        &self,
        project_id: &str,
        connection_id: &str,
        input: &ConnectSessionInput,
        issues: &mut Vec<FieldIssue>,
    ) -> DomainResult<(Vec<String>, String, String)> {
        let prepared = match self.prepare_update(project_id, connection_id).await {
            Ok(prepared) => prepared,
            Err(DomainError::NotFound { .. }) => {
                issues.push(FieldIssue::body(
                    "connectionId",
                    connection_id,
                    format!("no connection {connection_id} in this project"),
                ));
                return Ok(Default::default());
            }
            Err(DomainError::Validation(found)) => {
                for issue in found {
                    issues.push(FieldIssue::body(
                        "connectionId",
                        connection_id,
                        issue.detail,
                    ));
                }
                return Ok(Default::default());
            }
            Err(other) => return Err(other),
        };
        let provider = prepared.provider_name().to_owned();
        if let Some(providers) = &input.providers {
            if providers.as_slice() != [provider.clone()] {
                issues.push(FieldIssue::body(
                    "providers",
                    Value::Null,
                    format!("a re-authorization session is for the connection's provider: [\"{provider}\"]"),
                ));
            }
        }
        for (field, given, actual) in [
            ("groupRef", &input.group_ref, prepared.group_ref()),
            ("consumerRef", &input.consumer_ref, prepared.consumer_ref()),
        ] {
            if let Some(given) = given.as_deref().filter(|g| *g != actual) {
                issues.push(FieldIssue::body(
                    field,
                    given,
                    format!("the connection belongs to {field} {actual}"),
                ));
            }
        }
        Ok((
            vec![provider],
            prepared.group_ref().to_owned(),
            prepared.consumer_ref().to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_come_from_the_first_two_words() {
        assert_eq!(initials("Mock CRM"), "MC");
        assert_eq!(initials("Salesforce"), "SA");
        assert_eq!(initials("monday.com"), "MC");
        assert_eq!(initials("X (Twitter)"), "XT");
        assert_eq!(initials(""), "?");
    }
}
