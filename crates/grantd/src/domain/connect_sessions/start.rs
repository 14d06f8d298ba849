//! The connect page's side of the OAuth flow: the person's choice parsed
//! against the session, the session spent as the flow starts (and given
//! back when it cannot start), and the flow's result recorded on it.

use super::ConnectSession;
use crate::domain::catalog::{AuthScheme, Catalog};
use crate::domain::connections::target::{ConnectionTarget, TargetFields};
use crate::domain::error::{DomainError, DomainResult, FieldIssue};
use crate::domain::fields::finish;
use crate::domain::handle::Grantd;
use crate::domain::oauth::callback::{CallbackOutcome, ConnectReturn};
use crate::domain::oauth::connect::{FlowOptions, PreparedFlow};
use crate::storage::{now_millis, SessionResult};
use crate::vocab::SessionResultStatus;
use serde_json::Value;
use std::collections::BTreeMap;

/// What the connect page starts, parsed against its session: a new
/// connection's flow for the chosen provider with the inputs the person
/// typed, or the re-authorization the session is for.
#[derive(Debug)]
pub enum PageFlow<'c> {
    New(ConnectionTarget<'c>),
    Reauthorize { connection_id: String },
}

impl<'c> PageFlow<'c> {
    /// The provider must be one the session offers; a new connection's
    /// target is the session's group and consumer with the inputs typed
    /// (blank ones count as absent), checked like oauth-connect's.
    pub fn parse(
        catalog: &'c Catalog,
        session: &ConnectSession,
        provider: Option<String>,
        workspace: Option<String>,
        metadata: BTreeMap<String, String>,
    ) -> DomainResult<Self> {
        let provider = match provider.map(|name| catalog.canonical(name)) {
            None => Err(FieldIssue::body(
                "provider",
                Value::Null,
                "provider is required",
            )),
            Some(p) if !session.providers.contains(&p) => Err(FieldIssue::body(
                "provider",
                p.as_str(),
                format!("this session offers {}", session.providers.join(", ")),
            )),
            Some(p) => Ok(p),
        }
        .map_err(DomainError::invalid)?;
        if let Some(connection_id) = &session.connection_id {
            return Ok(PageFlow::Reauthorize {
                connection_id: connection_id.clone(),
            });
        }
        let fields = TargetFields {
            provider: Some(provider),
            group_ref: Some(session.group_ref.clone()),
            group_name: session.group_name.clone(),
            consumer_ref: Some(session.consumer_ref.clone()),
            consumer_name: session.consumer_name.clone(),
            workspace: workspace.filter(|w| !w.trim().is_empty()),
            metadata: metadata
                .into_iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .collect(),
        };
        let mut issues = Vec::new();
        let scheme = Some(AuthScheme::OAuth2AuthorizationCode);
        let target = ConnectionTarget::parse(catalog, fields, scheme, &mut issues);
        finish(target.map(PageFlow::New), issues)
    }
}

const ALREADY_USED: &str =
    "this connect session was already used; ask the application for a new link";

impl Grantd {
    /// Starts the session's flow with what the person chose, `parse`d
    /// against the session (before the session is spent, so a mistake can
    /// be corrected with the same link). Returns the URL to open: grantd's
    /// bounce endpoint, since connect-page flows are always CSRF-protected.
    #[tracing::instrument(skip_all, fields(provider = tracing::field::Empty))]
    pub async fn start_connect_flow<'g>(
        &'g self,
        token: &str,
        parse: impl FnOnce(&ConnectSession) -> DomainResult<PageFlow<'g>>,
    ) -> DomainResult<String> {
        let session = self.connect_session_for_token(token).await?;
        if session.consumed_at.is_some() {
            return Err(DomainError::Conflict(ALREADY_USED.into()));
        }
        let prepared = match parse(&session)? {
            PageFlow::Reauthorize { connection_id } => {
                self.prepare_update(&session.project_id, &connection_id)
                    .await?
            }
            PageFlow::New(target) => {
                self.prepare_connect(&session.project_id, target, None)
                    .await?
            }
        };
        tracing::Span::current().record("provider", prepared.provider_name());
        self.spend_session(&session, &prepared).await?;
        self.begin_session_flow(&session, prepared).await
    }

    /// Marks the session used by a flow for `prepared`'s provider; a
    /// session another request spent first is a conflict.
    async fn spend_session(
        &self,
        session: &ConnectSession,
        prepared: &PreparedFlow<'_>,
    ) -> DomainResult<()> {
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
        if consumed {
            Ok(())
        } else {
            Err(DomainError::Conflict(ALREADY_USED.into()))
        }
    }

    /// Begins a spent session's flow; when it cannot begin, nothing was
    /// started and the link is given back.
    async fn begin_session_flow(
        &self,
        session: &ConnectSession,
        prepared: PreparedFlow<'_>,
    ) -> DomainResult<String> {
        // The callback page reports to the connect page (grantd's own
        // origin), which relays to the embedding page.
        let options = FlowOptions {
            opener_origin: None,
            csrf: true,
            connect_session_id: Some(session.id.clone()),
        };
        let begun = self.begin_flow(prepared, &options).await;
        if begun.is_err() {
            let expires_at = session.expires_at.timestamp_millis();
            if let Err(e) = self
                .store()
                .release_connect_session(&session.id, expires_at)
                .await
            {
                tracing::warn!(error = %e, "could not release a connect session");
            }
        }
        begun
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
}
