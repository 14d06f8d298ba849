//! Finishing an authorization flow when the provider sends the browser back.

use crate::domain::catalog::{OAuth2Spec, Provider, ProviderInputs};
use crate::domain::connections::records::ConnectionDraft;
use crate::domain::error::{DomainError, DomainResult, ProviderError};
use crate::domain::handle::Grantd;
use crate::domain::lifecycle::events::{connection_event_data, with_status_change, EventKind};
use crate::domain::model::{
    ConnectionStatus, Credentials, MetadataSource, MetadataValue, ProviderApp, ProviderMetadata,
    Timestamp, Token, TokenSet,
};
use crate::domain::oauth::authorize::state_hash;
use crate::domain::oauth::connect::verifier_aad;
use crate::domain::oauth::csrf::csrf_matches;
use crate::domain::oauth::token::{ClientCredentials, Grant, TokenResponse};
use crate::secrets::{Sealed, SecretString};
use crate::storage::{
    now_millis, ConnectionOwner, ConnectionSource, FlowOutcome, OAuthFlowRow, Reauthorization,
    SessionResult, StoreError,
};
use crate::vocab::SessionResultStatus;
use url::Url;

/// The query of `GET /callbacks/v1/oauth`.
#[derive(Debug, Default)]
pub struct CallbackInput {
    pub state: Option<String>,
    pub code: Option<SecretString>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207 issuer identifier.
    pub iss: Option<String>,
    /// The flow's CSRF cookie (`csrf_cookie_name(state)`), when the browser sent it.
    pub csrf_cookie: Option<SecretString>,
}

/// Why a callback was refused before anything was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackRejection {
    MissingState,
    /// Unknown, already used, or expired: deliberately not told apart.
    InvalidState,
    /// A CSRF-protected flow's state arrived without the cookie of the
    /// browser that started it. The flow is spent; nothing was stored.
    CsrfMismatch,
}

/// Where the result of a connect-page flow goes besides the callback page.
#[derive(Debug, Clone)]
pub struct ConnectReturn {
    pub session_id: String,
    /// Allow-listed URL the browser goes back to when the flow ran without a
    /// popup; `connectionId`, `status`, … are added to its query.
    pub return_url: Option<String>,
    /// Allow-listed origin of the page embedding or opening the connect page.
    pub parent_origin: Option<String>,
}

/// How a callback with a valid state ended.
#[derive(Debug, Clone)]
pub enum CallbackOutcome {
    Rejected(CallbackRejection),
    Connected {
        project_id: String,
        connection_id: String,
        provider: String,
        opener_origin: String,
        reauthorized: bool,
        /// Set when the flow was started from the hosted connect page.
        connect: Option<ConnectReturn>,
    },
    Failed {
        provider: String,
        opener_origin: String,
        connection_id: Option<String>,
        failure: FlowFailure,
        /// Set when the flow was started from the hosted connect page.
        connect: Option<ConnectReturn>,
    },
}

/// Why a flow with a valid state ended without a connection. Its
/// [`code`](FlowFailure::code) and [`description`](FlowFailure::description)
/// are what the callback page, the opener's message and the connect session
/// report as `error` and `errorDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowFailure {
    /// The provider answered the authorization request with an error
    /// (the person declined, or the request was refused).
    ProviderDenied {
        error: String,
        description: Option<String>,
    },
    /// The flow's provider left the catalog (or lost its OAuth section)
    /// while the person was at the provider.
    UnknownProvider {
        provider: String,
        in_catalog: bool,
    },
    /// The catalog names the provider's issuer, and the response carries no
    /// `iss` (RFC 9207).
    MissingIssuer {
        provider: String,
        expected: String,
    },
    /// `iss` names another authorization server: a mix-up.
    IssuerMismatch {
        provider: String,
        iss: String,
    },
    MissingCode,
    ProviderAppDeleted,
    /// The connection being re-authorized was deleted meanwhile.
    ConnectionDeleted,
    /// The token endpoint refused the code.
    ExchangeRejected {
        error: String,
        description: Option<String>,
    },
    /// The token endpoint could not be reached or failed: trying again may work.
    ProviderUnavailable {
        detail: String,
    },
}

impl FlowFailure {
    /// The OAuth-style error code.
    pub fn code(&self) -> &str {
        match self {
            FlowFailure::ProviderDenied { error, .. }
            | FlowFailure::ExchangeRejected { error, .. } => error,
            FlowFailure::UnknownProvider { .. } => "unknown_provider",
            FlowFailure::MissingIssuer { .. } | FlowFailure::MissingCode => "invalid_request",
            FlowFailure::IssuerMismatch { .. } => "issuer_mismatch",
            FlowFailure::ProviderAppDeleted => "provider_app_deleted",
            FlowFailure::ConnectionDeleted => "connection_deleted",
            FlowFailure::ProviderUnavailable { .. } => "provider_unavailable",
        }
    }

    /// What went wrong, for a person.
    pub fn description(&self) -> Option<String> {
        match self {
            FlowFailure::ProviderDenied { description, .. }
            | FlowFailure::ExchangeRejected { description, .. } => description.clone(),
            FlowFailure::UnknownProvider {
                provider,
                in_catalog: false,
            } => Some(format!("{provider} left the catalog")),
            FlowFailure::UnknownProvider { .. } => None,
            FlowFailure::MissingIssuer { provider, expected } => Some(format!(
                "the response carries no iss, but {provider} always sends {expected} (RFC 9207)"
            )),
            FlowFailure::IssuerMismatch { provider, iss } => {
                Some(format!("the response came from {iss}, not from {provider}"))
            }
            FlowFailure::MissingCode => Some("the provider sent no code".into()),
            FlowFailure::ProviderAppDeleted => Some("the provider app was deleted".into()),
            FlowFailure::ConnectionDeleted => {
                Some("the connection was deleted during authorization".into())
            }
            FlowFailure::ProviderUnavailable { detail } => Some(detail.clone()),
        }
    }

    /// The provider could not be reached or failed; trying again may work.
    pub fn is_retryable(&self) -> bool {
        matches!(self, FlowFailure::ProviderUnavailable { .. })
    }

    /// How the flow's row records it: the provider's own refusal, or a
    /// failure on the way to a connection.
    fn flow_outcome(&self) -> FlowOutcome {
        match self {
            FlowFailure::ProviderDenied { .. } => FlowOutcome::ProviderError,
            _ => FlowOutcome::ExchangeFailed,
        }
    }

    /// `code: description`, as the flow's row keeps it.
    fn detail(&self) -> String {
        match self.description() {
            Some(d) => format!("{}: {d}", self.code()),
            None => self.code().to_owned(),
        }
    }
}

/// Why a flow stopped short of a connection: a failure to report on the
/// callback page, or an error of grantd's own.
enum FlowStop {
    Failed(FlowFailure),
    Error(DomainError),
}

impl From<FlowFailure> for FlowStop {
    fn from(failure: FlowFailure) -> Self {
        FlowStop::Failed(failure)
    }
}

impl<E: Into<DomainError>> From<E> for FlowStop {
    fn from(error: E) -> Self {
        FlowStop::Error(error.into())
    }
}

/// A callback that passed its checks: what the code exchange needs.
struct CheckedCallback<'a> {
    provider: &'a Provider,
    spec: &'a OAuth2Spec,
    code: &'a SecretString,
    token_url: Url,
    post_auth_url: Option<Url>,
}

impl Grantd {
    /// Consumes the flow's state and, when the provider granted access,
    /// exchanges the code and stores the connection.
    #[tracing::instrument(skip_all, fields(provider, connection_id))]
    pub async fn complete_oauth_callback(
        &self,
        input: CallbackInput,
    ) -> DomainResult<CallbackOutcome> {
        let Some(state) = input.state.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(CallbackOutcome::Rejected(CallbackRejection::MissingState));
        };
        let Some(flow) = self
            .store()
            .consume_oauth_flow(&state_hash(state), now_millis())
            .await?
        else {
            return Ok(CallbackOutcome::Rejected(CallbackRejection::InvalidState));
        };
        let span = tracing::Span::current();
        span.record("provider", flow.provider.as_str());
        if let Some(id) = &flow.connection_id {
            span.record("connection_id", id.as_str());
        }
        if flow.csrf_protected != 0
            && !csrf_matches(flow.csrf_hash.as_deref(), input.csrf_cookie.as_ref())
        {
            return Ok(self.refuse_cross_site(&flow, &input).await);
        }
        let mut outcome = match self.finish_flow(&flow, &input).await {
            Ok(outcome) => Ok(outcome),
            Err(FlowStop::Failed(failure)) => Ok(CallbackOutcome::Failed {
                provider: flow.provider.clone(),
                opener_origin: flow.opener_origin.clone(),
                connection_id: flow.connection_id.clone(),
                failure,
                connect: None,
            }),
            Err(FlowStop::Error(error)) => Err(error),
        };
        if let Some(session_id) = &flow.connect_session_id {
            if let Some(connect) = self.finish_connect_session(session_id, &outcome).await {
                if let Ok(
                    CallbackOutcome::Connected { connect: slot, .. }
                    | CallbackOutcome::Failed { connect: slot, .. },
                ) = &mut outcome
                {
                    *slot = Some(connect);
                }
            }
        }
        self.record_flow_outcome(&flow, &outcome).await;
        outcome
    }

    /// The authorization response left the browser that started the flow:
    /// spend the flow without sending the code anywhere.
    async fn refuse_cross_site(
        &self,
        flow: &OAuthFlowRow,
        input: &CallbackInput,
    ) -> CallbackOutcome {
        let detail = if flow.csrf_hash.is_none() {
            "the flow was never started through its bounce URL"
        } else if input.csrf_cookie.is_none() {
            "the callback arrived without the flow's CSRF cookie"
        } else {
            "the callback's CSRF cookie is not the flow's"
        };
        if let Err(e) = self
            .store()
            .record_oauth_flow_outcome(
                &flow.state_hash,
                FlowOutcome::CsrfRejected,
                Some(detail),
                None,
            )
            .await
        {
            tracing::warn!(error = %e, "could not record the outcome of an OAuth flow");
        }
        if let Some(session_id) = &flow.connect_session_id {
            let result = SessionResult {
                status: SessionResultStatus::Failure,
                connection_id: None,
                error: Some("csrf_rejected"),
                error_description: Some(detail),
                now: now_millis(),
            };
            self.record_connect_result(session_id, &result).await;
        }
        tracing::warn!(provider = %flow.provider, detail, "OAuth callback refused: CSRF check failed");
        CallbackOutcome::Rejected(CallbackRejection::CsrfMismatch)
    }

    /// Records on the flow's row how it ended (best effort). A new
    /// connection recorded its flow's success when it was stored.
    async fn record_flow_outcome(
        &self,
        flow: &OAuthFlowRow,
        outcome: &DomainResult<CallbackOutcome>,
    ) {
        let (kind, detail, connection_id) = match outcome {
            Ok(CallbackOutcome::Connected {
                reauthorized: false,
                ..
            }) => return,
            Ok(CallbackOutcome::Connected { connection_id, .. }) => {
                (FlowOutcome::Success, None, Some(connection_id.as_str()))
            }
            Ok(CallbackOutcome::Failed { failure, .. }) => {
                (failure.flow_outcome(), Some(failure.detail()), None)
            }
            Ok(CallbackOutcome::Rejected(_)) => (FlowOutcome::ExchangeFailed, None, None),
            Err(e) => (FlowOutcome::ExchangeFailed, Some(e.to_string()), None),
        };
        if let Err(e) = self
            .store()
            .record_oauth_flow_outcome(&flow.state_hash, kind, detail.as_deref(), connection_id)
            .await
        {
            tracing::warn!(error = %e, "could not record the outcome of an OAuth flow");
        }
    }

    /// The steps of a flow whose state and browser checked out.
    async fn finish_flow(
        &self,
        flow: &OAuthFlowRow,
        input: &CallbackInput,
    ) -> Result<CallbackOutcome, FlowStop> {
        let checked = self.check_callback(flow, input)?;
        let app = match self
            .flow_provider_app(&flow.project_id, &flow.provider, &flow.provider_app_id)
            .await
        {
            Ok(app) => app,
            Err(DomainError::NotFound { .. }) => return Err(FlowFailure::ProviderAppDeleted.into()),
            Err(other) => return Err(other.into()),
        };
        let response = self.exchange_code(flow, &checked, &app).await?;
        let tokens = token_set(
            checked.provider,
            &response,
            &flow.scopes,
            chrono::Utc::now(),
        );
        let mut metadata = flow.provider_metadata.clone();
        merge_token_metadata(&mut metadata, &response);
        self.add_post_auth_metadata(
            checked.provider,
            checked.post_auth_url.as_ref(),
            &response.access_token,
            &mut metadata,
        )
        .await;
        let credentials = Credentials::OAuth2AuthorizationCode { tokens };
        match &flow.connection_id {
            Some(connection_id) => {
                self.store_reauthorization(flow, connection_id, &app.id, metadata, &credentials)
                    .await
            }
            None => {
                self.store_flow_connection(flow, &app.id, metadata, credentials)
                    .await
            }
        }
    }

    /// What the callback itself must show before any code is sent: the
    /// provider still known, no error from it, the right issuer, a code.
    fn check_callback<'a>(
        &'a self,
        flow: &OAuthFlowRow,
        input: &'a CallbackInput,
    ) -> Result<CheckedCallback<'a>, FlowStop> {
        if let Some(error) = &input.error {
            return Err(FlowFailure::ProviderDenied {
                error: error.clone(),
                description: input.error_description.clone(),
            }
            .into());
        }
        let unknown = |in_catalog| FlowFailure::UnknownProvider {
            provider: flow.provider.clone(),
            in_catalog,
        };
        let provider = self
            .catalog()
            .get(&flow.provider)
            .ok_or_else(|| unknown(false))?;
        let spec = provider.oauth2.as_ref().ok_or_else(|| unknown(true))?;
        let inputs = ProviderInputs::new(
            flow.provider_workspace_ref.as_deref(),
            &flow.provider_metadata,
        );
        let token_url = provider.build_url(&spec.token_url, &inputs)?;
        let post_auth_url = provider.post_auth_url(&inputs)?;
        match check_issuer(provider, &inputs, &token_url, input.iss.as_deref())? {
            IssuerCheck::Accepted => {}
            IssuerCheck::Missing(expected) => {
                return Err(FlowFailure::MissingIssuer {
                    provider: provider.name.clone(),
                    expected,
                }
                .into())
            }
            IssuerCheck::Mismatch(iss) => {
                return Err(FlowFailure::IssuerMismatch {
                    provider: provider.name.clone(),
                    iss,
                }
                .into())
            }
        }
        let code = input
            .code
            .as_ref()
            .filter(|c| !c.is_empty())
            .ok_or(FlowFailure::MissingCode)?;
        Ok(CheckedCallback {
            provider,
            spec,
            code,
            token_url,
            post_auth_url,
        })
    }

    /// Trades the code (with the flow's PKCE verifier) for tokens.
    async fn exchange_code(
        &self,
        flow: &OAuthFlowRow,
        checked: &CheckedCallback<'_>,
        app: &ProviderApp,
    ) -> Result<TokenResponse, FlowStop> {
        let code_verifier = match (&flow.code_verifier_key_id, &flow.code_verifier_ciphertext) {
            (Some(key_id), Some(bytes)) => {
                let sealed = Sealed {
                    key_id: key_id.clone(),
                    bytes: bytes.clone(),
                };
                let raw = self
                    .cipher()
                    .open(&sealed, &verifier_aad(&flow.state_hash))?;
                Some(SecretString::new(
                    String::from_utf8_lossy(&raw).into_owned(),
                ))
            }
            _ => None,
        };
        let response = self
            .tokens()
            .request(
                checked.spec,
                &checked.token_url,
                &ClientCredentials {
                    client_id: &app.client_id,
                    client_secret: Some(&app.client_secret),
                },
                &Grant::AuthorizationCode {
                    code: checked.code,
                    redirect_uri: &flow.redirect_uri,
                    code_verifier: code_verifier.as_ref(),
                },
                &checked.spec.scope_separator,
            )
            .await;
        response.map_err(|error| {
            match error {
                ProviderError::Rejected {
                    error, description, ..
                } => FlowFailure::ExchangeRejected { error, description },
                other => FlowFailure::ProviderUnavailable {
                    detail: other.to_string(),
                },
            }
            .into()
        })
    }

    /// New credentials for the connection the flow re-authorizes, in place.
    async fn store_reauthorization(
        &self,
        flow: &OAuthFlowRow,
        connection_id: &str,
        provider_app_id: &str,
        metadata: ProviderMetadata,
        credentials: &Credentials,
    ) -> Result<CallbackOutcome, FlowStop> {
        // Read before the write: a parked connection coming back to
        // `working` is a status change worth an event.
        let previous_status = self
            .store()
            .find_connection(&flow.project_id, connection_id)
            .await
            .ok()
            .map(|record| record.status);
        let updated = self
            .store()
            .reauthorize_connection(&Reauthorization {
                id: connection_id.to_owned(),
                project_id: flow.project_id.clone(),
                provider_app_id: provider_app_id.to_owned(),
                provider_workspace_ref: flow.provider_workspace_ref.clone(),
                provider_consumer_ref: None,
                provider_metadata: metadata,
                credentials: self.stored_credentials(connection_id, credentials)?,
                now: now_millis(),
            })
            .await;
        match updated {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(FlowFailure::ConnectionDeleted.into()),
            Err(other) => return Err(other.into()),
        }
        let data = connection_event_data(
            connection_id,
            &flow.provider,
            &flow.group_ref,
            &flow.consumer_ref,
        );
        self.record_event_after_write(
            &flow.project_id,
            connection_id,
            EventKind::Reauthorized,
            data.clone(),
        )
        .await;
        if let Some(old) = previous_status.filter(|s| *s != ConnectionStatus::Working) {
            self.record_event_after_write(
                &flow.project_id,
                connection_id,
                EventKind::StatusChanged,
                with_status_change(data, old, ConnectionStatus::Working),
            )
            .await;
        }
        Ok(CallbackOutcome::Connected {
            project_id: flow.project_id.clone(),
            connection_id: connection_id.to_owned(),
            provider: flow.provider.clone(),
            opener_origin: flow.opener_origin.clone(),
            reauthorized: true,
            connect: None,
        })
    }

    /// A new connection from the flow; its insert records the flow's success.
    async fn store_flow_connection(
        &self,
        flow: &OAuthFlowRow,
        provider_app_id: &str,
        metadata: ProviderMetadata,
        credentials: Credentials,
    ) -> Result<CallbackOutcome, FlowStop> {
        let owner = ConnectionOwner {
            project_id: flow.project_id.clone(),
            provider: flow.provider.clone(),
            provider_app_id: Some(provider_app_id.to_owned()),
            group_ref: flow.group_ref.clone(),
            group_name: flow.group_name.clone(),
            consumer_ref: flow.consumer_ref.clone(),
            consumer_name: flow.consumer_name.clone(),
            provider_workspace_ref: flow.provider_workspace_ref.clone(),
        };
        let draft = ConnectionDraft {
            owner,
            provider_metadata: metadata,
            credentials,
        };
        let (connection_id, _) = self
            .store_new_connection(draft, ConnectionSource::Flow(flow.state_hash.clone()))
            .await?;
        Ok(CallbackOutcome::Connected {
            project_id: flow.project_id.clone(),
            connection_id,
            provider: flow.provider.clone(),
            opener_origin: flow.opener_origin.clone(),
            reauthorized: false,
            connect: None,
        })
    }
}

/// What RFC 9207 says of a callback's `iss`.
#[derive(Debug, PartialEq, Eq)]
enum IssuerCheck {
    Accepted,
    /// The catalog names the provider's issuer, so the provider sends `iss`
    /// on every response: one without it did not come from that provider
    /// (or was stripped on the way). Carries the expected issuer.
    Missing(String),
    /// `iss` names another authorization server: a mix-up. Carries `iss`.
    Mismatch(String),
}

/// RFC 9207: the `iss` of an authorization response must be the issuer of
/// the provider the flow was started with. Where the catalog names the
/// issuer, `iss` is required; where it does not, an `iss` that comes anyway
/// must be the origin of the token endpoint this flow would use, with the
/// flow's workspace and metadata filled in (tenant-hosted providers such as
/// Zendesk answer from the tenant's own host).
fn check_issuer(
    provider: &Provider,
    inputs: &ProviderInputs<'_>,
    token_url: &Url,
    iss: Option<&str>,
) -> DomainResult<IssuerCheck> {
    let published = provider.oauth2.as_ref().and_then(|o| o.issuer.as_deref());
    let outcome = match (published, iss) {
        (Some(template), iss) => {
            let expected = provider.fill_placeholders(template, inputs)?;
            match iss {
                None => IssuerCheck::Missing(expected),
                Some(iss) if iss.trim_end_matches('/') == expected.trim_end_matches('/') => {
                    IssuerCheck::Accepted
                }
                Some(iss) => IssuerCheck::Mismatch(iss.to_owned()),
            }
        }
        (None, None) => IssuerCheck::Accepted,
        (None, Some(iss)) => {
            let expected = token_url.origin().ascii_serialization();
            let actual = Url::parse(iss)
                .ok()
                .map(|u| u.origin().ascii_serialization());
            if actual.as_deref() == Some(expected.as_str()) {
                IssuerCheck::Accepted
            } else {
                IssuerCheck::Mismatch(iss.to_owned())
            }
        }
    };
    Ok(outcome)
}

/// Turns a token response into the stored token set.
pub(crate) fn token_set(
    provider: &Provider,
    response: &TokenResponse,
    requested_scopes: &[String],
    now: Timestamp,
) -> TokenSet {
    let tokens_expire = provider.oauth2.as_ref().is_none_or(|o| o.tokens_expire);
    let expires_at = response
        .expires_in
        .filter(|_| tokens_expire)
        .map(|secs| now + chrono::Duration::seconds(secs));
    let separator = provider
        .oauth2
        .as_ref()
        .map(|o| o.scope_separator.as_str())
        .unwrap_or(" ");
    let scopes = match &response.scope {
        Some(granted) => granted
            .split(|c: char| separator.contains(c) || c == ' ' || c == ',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => requested_scopes.to_vec(),
    };
    TokenSet {
        access_token: Token {
            token: response.access_token.clone(),
            issued_at: Some(now),
            expires_at,
        },
        refresh_token: response.refresh_token.as_ref().map(|token| Token {
            token: token.clone(),
            issued_at: Some(now),
            expires_at: None,
        }),
        scopes,
        token_type: response.token_type.clone(),
    }
}

/// Adds the values the catalog asked to keep from the token response.
pub(crate) fn merge_token_metadata(metadata: &mut ProviderMetadata, response: &TokenResponse) {
    for (name, value) in &response.metadata {
        metadata.insert(
            name.clone(),
            MetadataValue {
                value: value.clone(),
                source: MetadataSource::Token,
            },
        );
    }
}
