//! Finishing an authorization flow when the provider sends the browser back.

use crate::domain::catalog::{Provider, ProviderInputs};
use crate::domain::error::{DomainError, DomainResult, ProviderError};
use crate::domain::handle::Grantd;
use crate::domain::lifecycle::events::{
    connection_event_data, new_event, with_status_change, EventKind,
};
use crate::domain::model::{parse_scopes, scopes_json};
use crate::domain::model::{
    ConnectionStatus, Credentials, MetadataSource, MetadataValue, ProviderMetadata, Timestamp,
    Token, TokenSet,
};
use crate::domain::oauth::authorize::state_hash;
use crate::domain::oauth::connect::verifier_aad;
use crate::domain::oauth::csrf::csrf_matches;
use crate::domain::oauth::token::{ClientCredentials, Grant, TokenResponse};
use crate::secrets::{Sealed, SecretString};
use crate::storage::{
    now_millis, ConnectionSource, FlowOutcome, NewConnection, OAuthFlowRow, Reauthorization,
    StoreError,
};
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
        error: String,
        description: Option<String>,
        /// The provider could not be reached or failed; trying again may work.
        provider_unavailable: bool,
        /// Set when the flow was started from the hosted connect page.
        connect: Option<ConnectReturn>,
    },
}

impl Grantd {
    /// Consumes the flow's state and, when the provider granted access,
    /// exchanges the code and stores the connection.
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
        if flow.csrf_protected != 0
            && !csrf_matches(flow.csrf_hash.as_deref(), input.csrf_cookie.as_ref())
        {
            // The authorization response left the browser that started the
            // flow: spend the flow without sending the code anywhere.
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
                self.record_connect_result(
                    session_id,
                    "failure",
                    None,
                    Some("csrf_rejected"),
                    Some(detail),
                )
                .await;
            }
            tracing::warn!(provider = %flow.provider, detail, "OAuth callback refused: CSRF check failed");
            return Ok(CallbackOutcome::Rejected(CallbackRejection::CsrfMismatch));
        }
        let mut outcome = self.finish_flow(&flow, &input).await;
        if let Some(session_id) = &flow.connect_session_id {
            self.finish_connect_session(session_id, &mut outcome).await;
        }
        let (kind, detail, connection_id) = match &outcome {
            Ok(CallbackOutcome::Connected { connection_id, .. }) => {
                (FlowOutcome::Success, None, Some(connection_id.as_str()))
            }
            Ok(CallbackOutcome::Failed {
                error, description, ..
            }) => {
                let kind = if input.error.is_some() {
                    FlowOutcome::ProviderError
                } else {
                    FlowOutcome::ExchangeFailed
                };
                let detail = match description {
                    Some(d) => format!("{error}: {d}"),
                    None => error.clone(),
                };
                (kind, Some(detail), None)
            }
            Ok(CallbackOutcome::Rejected(_)) => (FlowOutcome::ExchangeFailed, None, None),
            Err(e) => (FlowOutcome::ExchangeFailed, Some(e.to_string()), None),
        };
        // A new connection recorded its flow's success when it was stored.
        let recorded = matches!(
            &outcome,
            Ok(CallbackOutcome::Connected {
                reauthorized: false,
                ..
            })
        );
        if !recorded {
            if let Err(e) = self
                .store()
                .record_oauth_flow_outcome(&flow.state_hash, kind, detail.as_deref(), connection_id)
                .await
            {
                tracing::warn!(error = %e, "could not record the outcome of an OAuth flow");
            }
        }
        outcome
    }

    async fn finish_flow(
        &self,
        flow: &OAuthFlowRow,
        input: &CallbackInput,
    ) -> DomainResult<CallbackOutcome> {
        let failed =
            |error: &str, description: Option<String>, unavailable: bool| CallbackOutcome::Failed {
                provider: flow.provider.clone(),
                opener_origin: flow.opener_origin.clone(),
                connection_id: flow.connection_id.clone(),
                error: error.to_owned(),
                description,
                provider_unavailable: unavailable,
                connect: None,
            };
        if let Some(error) = &input.error {
            return Ok(failed(error, input.error_description.clone(), false));
        }
        let Some(provider) = self.catalog().get(&flow.provider) else {
            return Ok(failed(
                "unknown_provider",
                Some(format!("{} left the catalog", flow.provider)),
                false,
            ));
        };
        let Some(spec) = provider.oauth2.as_ref() else {
            return Ok(failed("unknown_provider", None, false));
        };
        let metadata: ProviderMetadata =
            serde_json::from_str(&flow.provider_metadata).unwrap_or_default();
        let inputs = ProviderInputs::new(flow.provider_workspace_ref.as_deref(), &metadata);
        let token_url = provider.build_url(&spec.token_url, &inputs)?;
        let post_auth_url = provider.post_auth_url(&inputs)?;
        match check_issuer(provider, &inputs, &token_url, input.iss.as_deref())? {
            IssuerCheck::Accepted => {}
            IssuerCheck::Missing(expected) => {
                return Ok(failed(
                    "invalid_request",
                    Some(format!(
                        "the response carries no iss, but {} always sends {expected} (RFC 9207)",
                        provider.name
                    )),
                    false,
                ));
            }
            IssuerCheck::Mismatch(iss) => {
                return Ok(failed(
                    "issuer_mismatch",
                    Some(format!(
                        "the response came from {iss}, not from {}",
                        provider.name
                    )),
                    false,
                ));
            }
        }
        let Some(code) = input.code.as_ref().filter(|c| !c.is_empty()) else {
            return Ok(failed(
                "invalid_request",
                Some("the provider sent no code".into()),
                false,
            ));
        };
        let app = match self
            .flow_provider_app(&flow.project_id, &flow.provider, &flow.provider_app_id)
            .await
        {
            Ok(app) => app,
            Err(DomainError::NotFound { .. }) => {
                return Ok(failed(
                    "provider_app_deleted",
                    Some("the provider app was deleted".into()),
                    false,
                ))
            }
            Err(other) => return Err(other),
        };
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
                spec,
                &token_url,
                &ClientCredentials {
                    client_id: &app.client_id,
                    client_secret: Some(&app.client_secret),
                },
                &Grant::AuthorizationCode {
                    code,
                    redirect_uri: &flow.redirect_uri,
                    code_verifier: code_verifier.as_ref(),
                },
                &spec.scope_separator,
            )
            .await;
        let response = match response {
            Ok(response) => response,
            Err(ProviderError::Rejected {
                error, description, ..
            }) => {
                return Ok(failed(&error, description, false));
            }
            Err(other) => {
                return Ok(failed(
                    "provider_unavailable",
                    Some(other.to_string()),
                    true,
                ))
            }
        };
        let requested = parse_scopes(&flow.scopes);
        let tokens = token_set(provider, &response, &requested, chrono::Utc::now());
        let mut metadata = metadata;
        merge_token_metadata(&mut metadata, &response);
        self.add_post_auth_metadata(
            provider,
            post_auth_url.as_ref(),
            &response.access_token,
            &mut metadata,
        )
        .await;
        let credentials = Credentials::OAuth2AuthorizationCode { tokens };
        let expires_at = credentials
            .access_token_expires_at()
            .map(|t| t.timestamp_millis());
        let scopes = scopes_json(
            &credentials
                .tokens()
                .map(|t| t.scopes.clone())
                .unwrap_or_default(),
        );
        let metadata_json = serde_json::to_string(&metadata).unwrap_or_else(|_| "{}".into());
        let now = now_millis();

        if let Some(connection_id) = &flow.connection_id {
            // Read before the write: a parked connection coming back to
            // `working` is a status change worth an event.
            let previous_status = self
                .store()
                .find_connection(&flow.project_id, connection_id)
                .await
                .ok()
                .map(|record| ConnectionStatus::parse(&record.status));
            let sealed = self.seal_credentials(connection_id, &credentials)?;
            let updated = self
                .store()
                .reauthorize_connection(&Reauthorization {
                    id: connection_id.clone(),
                    project_id: flow.project_id.clone(),
                    provider_app_id: app.id.clone(),
                    provider_workspace_ref: flow.provider_workspace_ref.clone(),
                    provider_consumer_ref: None,
                    auth_scheme: credentials.auth_scheme().as_str().to_owned(),
                    provider_metadata: metadata_json,
                    scopes,
                    credentials_key_id: sealed.key_id,
                    credentials_ciphertext: sealed.bytes,
                    access_token_expires_at: expires_at,
                    refresh_due_at: self.refresh_due_at(&credentials),
                    now,
                })
                .await;
            return match updated {
                Ok(()) => {
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
                        connection_id: connection_id.clone(),
                        provider: flow.provider.clone(),
                        opener_origin: flow.opener_origin.clone(),
                        reauthorized: true,
                        connect: None,
                    })
                }
                Err(StoreError::NotFound) => Ok(failed(
                    "connection_deleted",
                    Some("the connection was deleted during authorization".into()),
                    false,
                )),
                Err(other) => Err(other.into()),
            };
        }

        let connection_id = uuid::Uuid::now_v7().to_string();
        let sealed = self.seal_credentials(&connection_id, &credentials)?;
        let event = new_event(
            &flow.project_id,
            &connection_id,
            EventKind::Created,
            connection_event_data(
                &connection_id,
                &flow.provider,
                &flow.group_ref,
                &flow.consumer_ref,
            ),
        );
        let (enqueued, _) = self
            .store()
            .insert_connection(
                NewConnection {
                    id: connection_id.clone(),
                    project_id: flow.project_id.clone(),
                    provider: flow.provider.clone(),
                    provider_app_id: Some(app.id.clone()),
                    group_ref: flow.group_ref.clone(),
                    group_name: flow.group_name.clone(),
                    consumer_ref: flow.consumer_ref.clone(),
                    consumer_name: flow.consumer_name.clone(),
                    provider_workspace_ref: flow.provider_workspace_ref.clone(),
                    provider_consumer_ref: None,
                    auth_scheme: credentials.auth_scheme().as_str().to_owned(),
                    status: ConnectionStatus::Working.as_str().to_owned(),
                    provider_metadata: metadata_json,
                    scopes,
                    credentials_key_id: sealed.key_id,
                    credentials_ciphertext: sealed.bytes,
                    access_token_expires_at: expires_at,
                    refresh_due_at: self.refresh_due_at(&credentials),
                    now,
                },
                event.clone(),
                ConnectionSource::Flow(flow.state_hash.clone()),
            )
            .await
            .map_err(DomainError::from)?;
        self.event_recorded(&event, enqueued);
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
