//! One renewal: the token call, then the new tokens or the failure stored,
//! fenced by the credentials version that was read.

use crate::domain::catalog::{Provider, ProviderInputs};
use crate::domain::error::{DomainResult, ProviderError};
use crate::domain::handle::Grantd;
use crate::domain::lifecycle::events::{connection_event_data, with_status_change, EventKind};
use crate::domain::model::{ConnectionStatus, Credentials, Token, TokenSet};
use crate::domain::model::{RefreshError, RefreshErrorClass};
use crate::domain::oauth::token::{ClientCredentials, Grant, TokenResponse};
use crate::domain::oauth::token_set::token_set;
use crate::domain::settings::RefreshSettings;
use crate::secrets::SecretString;
use crate::storage::{now_millis, ConnectionRecord, RefreshFailure, RefreshedCredentials};
use rand::Rng;
use std::time::Duration;

/// The token fields of credentials that can be renewed, and how.
enum Renewal<'a> {
    RefreshToken(&'a SecretString),
    ClientCredentials,
    /// No refresh token: the password grant again, with the stored login.
    Password {
        username: &'a str,
        password: &'a SecretString,
    },
}

impl<'a> Renewal<'a> {
    /// How these credentials are renewed; an error for those that are not.
    fn of(credentials: &'a Credentials) -> Result<Self, RefreshError> {
        match credentials {
            Credentials::OAuth2AuthorizationCode { tokens } => match &tokens.refresh_token {
                Some(rt) => Ok(Renewal::RefreshToken(&rt.token)),
                None => Err(misconfigured("no refresh token was issued".into())),
            },
            Credentials::OAuth2ClientCredentials { .. } => Ok(Renewal::ClientCredentials),
            Credentials::OAuth2Password {
                tokens,
                username,
                password,
                ..
            } => Ok(match &tokens.refresh_token {
                Some(rt) => Renewal::RefreshToken(&rt.token),
                None => Renewal::Password { username, password },
            }),
            _ => Err(misconfigured("these credentials do not expire".into())),
        }
    }

    /// The token request that renews, asking again for `scopes`.
    fn grant(&self, scopes: &'a [String]) -> Grant<'a> {
        match *self {
            Renewal::RefreshToken(refresh_token) => Grant::RefreshToken { refresh_token },
            Renewal::ClientCredentials => Grant::ClientCredentials { scopes },
            Renewal::Password { username, password } => Grant::Password {
                username,
                password,
                scopes,
            },
        }
    }
}

/// A failure the provider app's owner must fix; the refresher stops.
fn misconfigured(message: String) -> RefreshError {
    RefreshError {
        class: RefreshErrorClass::MisconfiguredApp,
        error: "misconfigured".into(),
        description: Some(message),
        status: None,
        at: chrono::Utc::now(),
        retry_at: None,
        retry_after: None,
    }
}

impl Grantd {
    /// Asks the provider for new tokens; nothing is written here.
    pub(super) async fn renew(
        &self,
        record: &ConnectionRecord,
    ) -> Result<Credentials, RefreshError> {
        let credentials = self
            .open_credentials(record)
            .map_err(|e| misconfigured(format!("stored credentials unreadable: {e}")))?;
        let provider = self.catalog().get(&record.provider).ok_or_else(|| {
            misconfigured(format!(
                "provider {} is not in the catalog",
                record.provider
            ))
        })?;
        let spec = provider.oauth2.as_ref().ok_or_else(|| {
            misconfigured(format!(
                "provider {} has no OAuth 2.0 settings",
                provider.name
            ))
        })?;
        let inputs = ProviderInputs::new(
            record.provider_workspace_ref.as_deref(),
            &record.provider_metadata,
        );
        let renewal = Renewal::of(&credentials)?;
        let (client_id, client_secret) = self
            .oauth_client(record, &credentials)
            .await
            .map_err(|e| misconfigured(e.to_string()))?;
        let client_id = client_id.as_str();
        let client_secret = client_secret.as_ref();
        let template = match renewal {
            Renewal::RefreshToken(_) => spec.refresh_url.as_deref().unwrap_or(&spec.token_url),
            _ => &spec.token_url,
        };
        let url = provider
            .build_url(template, &inputs)
            .map_err(|e| misconfigured(format!("token URL does not build: {e}")))?;
        let old = credentials.tokens().cloned().unwrap_or_else(empty_tokens);
        let grant = renewal.grant(&old.scopes);
        let response = self
            .tokens()
            .request(
                spec,
                &url,
                &ClientCredentials {
                    client_id,
                    client_secret,
                },
                &grant,
                &spec.scope_separator,
            )
            .await
            .map_err(classify)?;
        let tokens = renewed_tokens(provider, &old, &response);
        Ok(with_tokens(credentials, tokens))
    }

    /// Writes renewed credentials over the version that was read.
    pub(super) async fn store_renewed(
        &self,
        record: &ConnectionRecord,
        credentials: &Credentials,
    ) -> DomainResult<bool> {
        let stored = self
            .store()
            .store_refreshed(RefreshedCredentials {
                id: record.id.clone(),
                read_version: record.credentials_version,
                credentials: self.stored_credentials(&record.id, credentials)?,
                now: now_millis(),
            })
            .await?;
        if stored {
            self.metrics().refresh(&record.provider, "refreshed");
            tracing::info!(connection = %record.id, provider = %record.provider, "token refreshed");
            let mut data = event_data(record);
            if let serde_json::Value::Object(map) = &mut data {
                map.insert(
                    "accessTokenExpiresAt".into(),
                    serde_json::json!(credentials.access_token_expires_at()),
                );
            }
            self.record_event_after_write(
                &record.project_id,
                &record.id,
                EventKind::Refreshed,
                data,
            )
            .await;
        }
        Ok(stored)
    }

    /// Records a failure: parks a rejected grant, schedules a retry otherwise.
    pub(super) async fn store_failure(
        &self,
        record: &ConnectionRecord,
        mut failure: RefreshError,
    ) -> DomainResult<()> {
        let settings = self.refresh_settings();
        let failures = record.refresh_failures + 1;
        let (status, retry_at) = match failure.class {
            RefreshErrorClass::GrantRejected => (ConnectionStatus::BadCredentials, None),
            _ => {
                let mut delay = backoff(settings, failures);
                if let Some(after) = failure.retry_after {
                    delay = delay.max(after);
                }
                (
                    ConnectionStatus::Working,
                    Some(now_millis() + delay.as_millis() as i64),
                )
            }
        };
        failure.retry_at = retry_at.map(crate::domain::model::from_millis);
        self.metrics()
            .refresh(&record.provider, failure.class.as_str());
        tracing::warn!(
            connection = %record.id,
            provider = %record.provider,
            class = ?failure.class,
            error = %failure.error,
            "token refresh failed"
        );
        let recorded = self
            .store()
            .record_refresh_failure(&RefreshFailure {
                id: &record.id,
                owner: &self.inner.instance_id,
                status,
                last_error: &failure,
                refresh_due_at: retry_at,
                failures,
                now: now_millis(),
            })
            .await?;
        if !recorded {
            return Ok(());
        }
        let mut data = event_data(record);
        if let serde_json::Value::Object(map) = &mut data {
            map.insert(
                "error".into(),
                serde_json::to_value(&failure).unwrap_or_default(),
            );
        }
        self.record_event_after_write(
            &record.project_id,
            &record.id,
            EventKind::RefreshFailed,
            data.clone(),
        )
        .await;
        let old = record.status;
        if old != status {
            self.record_event_after_write(
                &record.project_id,
                &record.id,
                EventKind::StatusChanged,
                with_status_change(data, old, status),
            )
            .await;
        }
        Ok(())
    }
}

/// The event payload common to refresh events: which connection, no secrets.
pub(super) fn event_data(record: &ConnectionRecord) -> serde_json::Value {
    connection_event_data(
        &record.id,
        &record.provider,
        &record.group_ref,
        &record.consumer_ref,
    )
}

/// Sorts a token endpoint failure into the classes users act on.
fn classify(error: ProviderError) -> RefreshError {
    let at = chrono::Utc::now();
    let retry_after = match &error {
        ProviderError::Unavailable { retry_after, .. } => retry_after.map(Duration::from_secs),
        _ => None,
    };
    let (class, code, description, status) = match error {
        ProviderError::Rejected {
            status,
            error,
            description,
        } => {
            let class = if error == "invalid_grant" {
                RefreshErrorClass::GrantRejected
            } else {
                RefreshErrorClass::MisconfiguredApp
            };
            (class, error, description, Some(status))
        }
        ProviderError::Unavailable {
            status: 429,
            retry_after,
        } => (
            RefreshErrorClass::RateLimited,
            "http_429".to_owned(),
            retry_after.map(|s| format!("retry after {s}s")),
            Some(429),
        ),
        ProviderError::Unavailable { status, .. } => (
            RefreshErrorClass::ProviderUnavailable,
            format!("http_{status}"),
            None,
            Some(status),
        ),
        ProviderError::Network(message) => (
            RefreshErrorClass::Network,
            "network".to_owned(),
            Some(message),
            None,
        ),
        ProviderError::InvalidResponse(message) => (
            RefreshErrorClass::ProviderUnavailable,
            "invalid_response".to_owned(),
            Some(message),
            None,
        ),
    };
    RefreshError {
        class,
        error: code,
        description,
        status,
        at,
        retry_at: None,
        retry_after,
    }
}

/// Exponential backoff with jitter over the upper half: never immediate,
/// never in lockstep with other connections that failed together.
pub(super) fn backoff(settings: &RefreshSettings, failures: i64) -> Duration {
    let exponent = failures.clamp(1, 30) as u32 - 1;
    let ceiling = settings
        .backoff_base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(settings.backoff_cap);
    let half = ceiling / 2;
    half + half.mul_f64(rand::thread_rng().gen::<f64>())
}

fn empty_tokens() -> TokenSet {
    TokenSet {
        access_token: Token {
            token: Default::default(),
            issued_at: None,
            expires_at: None,
        },
        refresh_token: None,
        scopes: Vec::new(),
        token_type: None,
    }
}

/// The new token set: what the provider answered, keeping the previous
/// refresh token when it sent none (no rotation) and the previous scopes when
/// it named none.
pub(crate) fn renewed_tokens(
    provider: &Provider,
    old: &TokenSet,
    response: &TokenResponse,
) -> TokenSet {
    let mut tokens = token_set(provider, response, &old.scopes, chrono::Utc::now());
    if tokens.refresh_token.is_none() {
        tokens.refresh_token = old.refresh_token.clone();
    }
    if tokens.token_type.is_none() {
        tokens.token_type = old.token_type.clone();
    }
    tokens
}

fn with_tokens(credentials: Credentials, tokens: TokenSet) -> Credentials {
    match credentials {
        Credentials::OAuth2AuthorizationCode { .. } => {
            Credentials::OAuth2AuthorizationCode { tokens }
        }
        Credentials::OAuth2ClientCredentials {
            client_id,
            client_secret,
            ..
        } => Credentials::OAuth2ClientCredentials {
            client_id,
            client_secret,
            tokens,
        },
        Credentials::OAuth2Password {
            username,
            password,
            client_id,
            client_secret,
            ..
        } => Credentials::OAuth2Password {
            username,
            password,
            client_id,
            client_secret,
            tokens,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_stops_at_the_cap() {
        let settings = RefreshSettings {
            backoff_base: Duration::from_secs(4),
            backoff_cap: Duration::from_secs(60),
            ..Default::default()
        };
        for (failures, ceiling) in [(1, 4), (2, 8), (3, 16), (5, 60), (40, 60)] {
            let delay = backoff(&settings, failures);
            let ceiling = Duration::from_secs(ceiling);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{failures}: {delay:?}"
            );
        }
    }

    #[test]
    fn invalid_grant_is_a_rejected_grant_and_429_a_rate_limit() {
        let rejected = classify(ProviderError::Rejected {
            status: 400,
            error: "invalid_grant".into(),
            description: None,
        });
        assert_eq!(rejected.class, RefreshErrorClass::GrantRejected);
        let client = classify(ProviderError::Rejected {
            status: 401,
            error: "invalid_client".into(),
            description: None,
        });
        assert_eq!(client.class, RefreshErrorClass::MisconfiguredApp);
        let limited = classify(ProviderError::Unavailable {
            status: 429,
            retry_after: Some(30),
        });
        assert_eq!(limited.class, RefreshErrorClass::RateLimited);
        assert_eq!(limited.retry_after, Some(Duration::from_secs(30)));
        let down = classify(ProviderError::Unavailable {
            status: 503,
            retry_after: Some(7),
        });
        assert_eq!(down.class, RefreshErrorClass::ProviderUnavailable);
        assert_eq!(down.retry_after, Some(Duration::from_secs(7)));
    }
}
