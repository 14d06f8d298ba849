//! Token lifecycle: renewing OAuth tokens before they expire, on a schedule
//! kept in the store and on demand when an API read finds one expired.
//!
//! Safety rests on three rules:
//! - one flight per connection: a per-connection lock in this process and a
//!   row lease in the store (for other processes) before any provider call;
//! - a refresh stores the new access token and the (possibly rotated)
//!   refresh token in one statement, fenced by the credentials version it
//!   read, before anything uses them; the old refresh token is only ever
//!   replaced by a newer one, never dropped;
//! - failures are classified: a rejected grant parks the connection as
//!   `bad_credentials` until re-authorized, everything else backs off and
//!   tries again with the connection still `working`.

use super::catalog::{Provider, ProviderInputs};
use super::error::{DomainResult, ProviderError};
use super::events::{connection_event_data, with_status_change, EventKind};
use super::model::{ConnectionStatus, Credentials, ProviderMetadata, Timestamp, Token, TokenSet};
use super::oauth::callback::token_set;
use super::oauth::token::{ClientCredentials, Grant, TokenResponse};
use super::{scopes_json, Grantd};
use crate::secrets::SecretString;
use crate::storage::{
    now_millis, ConnectionRecord, RefreshFailure, RefreshedCredentials, StoreError,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How the token lifecycle behaves. The defaults are production values;
/// tests shrink the times.
#[derive(Debug, Clone)]
pub struct RefreshSettings {
    /// Renew at least this long before expiry…
    pub lead_min: Duration,
    /// …or this fraction of the token's lifetime, whichever is larger.
    pub lead_fraction: f64,
    /// An API read refreshes first when the token expires within this.
    pub read_skew: Duration,
    /// How long a refresh lease holds; longer than a token call can take.
    pub lease: Duration,
    /// How often the refresher looks for due work.
    pub tick: Duration,
    /// Refreshes in flight at once from this process.
    pub concurrency: usize,
    /// Refreshes in flight at once against one provider.
    pub per_provider: usize,
    /// First retry delay after a transient failure; doubles per failure.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        RefreshSettings {
            lead_min: Duration::from_secs(300),
            lead_fraction: 0.10,
            read_skew: Duration::from_secs(30),
            lease: Duration::from_secs(60),
            tick: Duration::from_secs(1),
            concurrency: 64,
            per_provider: 8,
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(3600),
        }
    }
}

/// Why a refresh failed, as a user needs to tell a revoked grant from an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshErrorClass {
    /// The provider refused the grant (`invalid_grant`): re-authorize.
    GrantRejected,
    /// 5xx or an unusable answer.
    ProviderUnavailable,
    /// The provider could not be reached.
    Network,
    /// 429.
    RateLimited,
    /// The client was refused, or nothing to refresh with: fix the provider app.
    MisconfiguredApp,
}

/// The last refresh failure, stored on the connection and shown by the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshError {
    pub class: RefreshErrorClass,
    /// The provider's own error code (`invalid_grant`, `http_503`, …).
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub at: Timestamp,
    /// When the refresher tries again; absent when it has stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Timestamp>,
    /// The provider's `Retry-After` (on a 429 or a 5xx): the next attempt
    /// waits at least this long, whatever the backoff says.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

/// What asked for a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The schedule: act only if the row is still due.
    Due,
    /// An API read: act only if the token is expired or about to be.
    Read,
    /// An API read with `refresh=force`: act whatever the expiry, unless the
    /// credentials moved past the version the caller read (someone else's
    /// refresh, which concurrent forced reads then share).
    Force { read_version: i64 },
}

/// Per-connection locks and per-provider limits of this process.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    connections: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    providers: Mutex<HashMap<String, Arc<Semaphore>>>,
    queued: Mutex<HashSet<String>>,
}

impl Flights {
    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.connections.lock().expect("flight map");
        map.entry(id.to_owned()).or_default().clone()
    }

    /// Drops the lock entry once nobody else is waiting on it.
    fn release(&self, id: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.connections.lock().expect("flight map");
        // Ours and the map's are the only references left.
        if Arc::strong_count(&lock) <= 2 {
            map.remove(id);
        }
    }

    fn provider_limit(&self, provider: &str, per_provider: usize) -> Arc<Semaphore> {
        let mut map = self.providers.lock().expect("provider limits");
        map.entry(provider.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(per_provider)))
            .clone()
    }

    fn busy_providers(&self) -> Vec<String> {
        let map = self.providers.lock().expect("provider limits");
        map.iter()
            .filter(|(_, s)| s.available_permits() == 0)
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// The token fields of credentials that can be renewed, and how.
enum Renewal<'a> {
    RefreshToken(&'a SecretString),
    ClientCredentials,
    Password,
}

impl Grantd {
    fn refresh_settings(&self) -> &RefreshSettings {
        &self.inner.settings.refresh
    }

    /// When the refresher should renew these credentials: `None` for
    /// credentials that never expire or cannot be renewed.
    pub(crate) fn refresh_due_at(&self, credentials: &Credentials) -> Option<i64> {
        let tokens = credentials.tokens()?;
        let expires_at = tokens.access_token.expires_at?;
        let renewable = match credentials {
            Credentials::OAuth2AuthorizationCode { tokens } => tokens.refresh_token.is_some(),
            Credentials::OAuth2ClientCredentials { .. } | Credentials::OAuth2Password { .. } => {
                true
            }
            _ => false,
        };
        if !renewable {
            return None;
        }
        let settings = self.refresh_settings();
        let issued_at = tokens
            .access_token
            .issued_at
            .unwrap_or_else(chrono::Utc::now);
        let lifetime_ms = (expires_at - issued_at).num_milliseconds().max(0);
        let lead_ms = (settings.lead_min.as_millis() as i64)
            .max((lifetime_ms as f64 * settings.lead_fraction) as i64)
            // A short-lived token is renewed halfway, not continuously.
            .min(lifetime_ms / 2);
        Some(expires_at.timestamp_millis() - lead_ms)
    }

    /// For API reads with credentials: renews an expired (or nearly expired)
    /// token first. Concurrent reads share one provider call.
    pub(crate) async fn refresh_for_read(
        &self,
        record: ConnectionRecord,
    ) -> DomainResult<ConnectionRecord> {
        if !self.needs_refresh_on_read(&record) {
            return Ok(record);
        }
        match self.refresh(&record.id, Trigger::Read).await? {
            Some(fresh) => Ok(fresh),
            None => Ok(record),
        }
    }

    /// For `refresh=force`: renews the token now, whatever its expiry,
    /// through the same single flight as every other refresh. Credentials
    /// that cannot be renewed (API keys, basic auth, tokens without a
    /// refresh token) are returned as they are.
    pub(crate) async fn refresh_forced(
        &self,
        record: ConnectionRecord,
    ) -> DomainResult<ConnectionRecord> {
        let trigger = Trigger::Force {
            read_version: record.credentials_version,
        };
        if !self.still_needed(&record, trigger) {
            return Ok(record);
        }
        match self.refresh(&record.id, trigger).await? {
            Some(fresh) => Ok(fresh),
            None => Err(super::error::DomainError::not_found("connection")),
        }
    }

    /// Expired or about to be, and not backing off from a failure (a read
    /// storm must not hammer a provider that asked us to wait).
    fn needs_refresh_on_read(&self, record: &ConnectionRecord) -> bool {
        let now = now_millis();
        let skew = self.refresh_settings().read_skew.as_millis() as i64;
        record.status == ConnectionStatus::Working.as_str()
            && record.refresh_due_at.is_some_and(|due| due <= now)
            && record
                .access_token_expires_at
                .is_some_and(|at| at <= now + skew)
    }

    /// One refresh of one connection, if it still needs it. For a read,
    /// returns the connection as it stands afterwards (`None` if it was
    /// deleted); a scheduled refresh may return `None` without re-reading.
    async fn refresh(&self, id: &str, trigger: Trigger) -> DomainResult<Option<ConnectionRecord>> {
        let flights = &self.inner.flights;
        let lock = flights.lock_for(id);
        let outcome = {
            let _held = lock.lock().await;
            self.refresh_locked(id, trigger).await
        };
        flights.release(id, lock);
        outcome
    }

    async fn refresh_locked(
        &self,
        id: &str,
        trigger: Trigger,
    ) -> DomainResult<Option<ConnectionRecord>> {
        let Some(record) = self.reload(id).await? else {
            return Ok(None);
        };
        if !self.still_needed(&record, trigger) {
            return Ok(Some(record));
        }
        let owner = self.inner.instance_id.as_str();
        let lease = self.refresh_settings().lease.as_millis() as i64;
        let now = now_millis();
        if !self
            .store()
            .claim_refresh_lease(id, owner, now, now + lease)
            .await?
        {
            // Another instance is refreshing it; a reader waits for its result.
            return match trigger {
                Trigger::Due => Ok(Some(record)),
                Trigger::Read | Trigger::Force { .. } => self.await_other_instance(&record).await,
            };
        }
        // Read again under the lease: this is the version the write is fenced
        // on, and another instance may have refreshed it between our first
        // read and our claim.
        let Some(record) = self.reload(id).await? else {
            return Ok(None);
        };
        if !self.still_needed(&record, trigger) {
            self.store().release_refresh_lease(id, owner).await?;
            return Ok(Some(record));
        }
        let result = self.renew(&record).await;
        let stored = match result {
            Ok(credentials) => self.store_renewed(&record, &credentials).await?,
            Err(failure) => {
                self.store_failure(&record, failure).await?;
                true
            }
        };
        if !stored {
            // Re-authorized or changed meanwhile: theirs wins.
            self.store().release_refresh_lease(id, owner).await?;
        }
        match trigger {
            // A reader wants the connection as it now stands.
            Trigger::Read | Trigger::Force { .. } => self.reload(id).await,
            // The scheduler reads nothing back: skip the joined re-read.
            Trigger::Due => Ok(None),
        }
    }

    /// Whether the trigger still applies to the connection as it now stands.
    fn still_needed(&self, record: &ConnectionRecord, trigger: Trigger) -> bool {
        match trigger {
            Trigger::Read => self.needs_refresh_on_read(record),
            Trigger::Force { read_version } => {
                record.credentials_version == read_version
                    && record.status == ConnectionStatus::Working.as_str()
                    // Only renewable credentials have a due time.
                    && record.refresh_due_at.is_some()
            }
            Trigger::Due => {
                record.status == ConnectionStatus::Working.as_str()
                    && record.refresh_due_at.is_some_and(|due| due <= now_millis())
            }
        }
    }

    async fn reload(&self, id: &str) -> DomainResult<Option<ConnectionRecord>> {
        match self.store().find_connection_by_id(id).await {
            Ok(record) => Ok(Some(record)),
            Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// Polls until the other holder stores a new version or its lease runs out.
    async fn await_other_instance(
        &self,
        record: &ConnectionRecord,
    ) -> DomainResult<Option<ConnectionRecord>> {
        let deadline = tokio::time::Instant::now() + self.refresh_settings().lease;
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let Some(current) = self.reload(&record.id).await? else {
                return Ok(None);
            };
            if current.credentials_version != record.credentials_version
                || tokio::time::Instant::now() >= deadline
            {
                return Ok(Some(current));
            }
        }
    }

    /// Asks the provider for new tokens; nothing is written here.
    async fn renew(&self, record: &ConnectionRecord) -> Result<Credentials, RefreshError> {
        let misconfigured = |message: String| RefreshError {
            class: RefreshErrorClass::MisconfiguredApp,
            error: "misconfigured".into(),
            description: Some(message),
            status: None,
            at: chrono::Utc::now(),
            retry_at: None,
            retry_after: None,
        };
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
        let metadata: ProviderMetadata =
            serde_json::from_str(&record.provider_metadata).unwrap_or_default();
        let inputs = ProviderInputs::new(record.provider_workspace_ref.as_deref(), &metadata);
        let renewal = match &credentials {
            Credentials::OAuth2AuthorizationCode { tokens } => match &tokens.refresh_token {
                Some(rt) => Renewal::RefreshToken(&rt.token),
                None => return Err(misconfigured("no refresh token was issued".into())),
            },
            Credentials::OAuth2ClientCredentials { .. } => Renewal::ClientCredentials,
            Credentials::OAuth2Password { tokens, .. } => match &tokens.refresh_token {
                Some(rt) => Renewal::RefreshToken(&rt.token),
                None => Renewal::Password,
            },
            _ => return Err(misconfigured("these credentials do not expire".into())),
        };
        let (client_id, client_secret) = self
            .oauth_client(record, &credentials)
            .await
            .map_err(misconfigured)?;
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
        let grant = match (&renewal, &credentials) {
            (Renewal::RefreshToken(token), _) => Grant::RefreshToken {
                refresh_token: token,
            },
            (Renewal::ClientCredentials, _) => Grant::ClientCredentials {
                scopes: &old.scopes,
            },
            (
                Renewal::Password,
                Credentials::OAuth2Password {
                    username, password, ..
                },
            ) => Grant::Password {
                username,
                password,
                scopes: &old.scopes,
            },
            _ => return Err(misconfigured("nothing to renew with".into())),
        };
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
    async fn store_renewed(
        &self,
        record: &ConnectionRecord,
        credentials: &Credentials,
    ) -> DomainResult<bool> {
        let sealed = self.seal_credentials(&record.id, credentials)?;
        let tokens = credentials.tokens();
        let stored = self
            .store()
            .store_refreshed(RefreshedCredentials {
                id: record.id.clone(),
                read_version: record.credentials_version,
                credentials_key_id: sealed.key_id,
                credentials_ciphertext: sealed.bytes,
                access_token_expires_at: credentials
                    .access_token_expires_at()
                    .map(|t| t.timestamp_millis()),
                refresh_due_at: self.refresh_due_at(credentials),
                scopes: scopes_json(&tokens.map(|t| t.scopes.clone()).unwrap_or_default()),
                now: now_millis(),
            })
            .await?;
        if stored {
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
    async fn store_failure(
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
        failure.retry_at = retry_at.map(super::model::from_millis);
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
                status: status.as_str(),
                last_error: serde_json::to_string(&failure).unwrap_or_default(),
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
        let old = ConnectionStatus::parse(&record.status);
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

impl Grantd {
    /// The OAuth client that renews (or revokes) these credentials: the
    /// provider app for code-flow connections, the stored client otherwise.
    pub(super) async fn oauth_client(
        &self,
        record: &ConnectionRecord,
        credentials: &Credentials,
    ) -> Result<(String, Option<SecretString>), String> {
        match credentials {
            Credentials::OAuth2ClientCredentials {
                client_id,
                client_secret,
                ..
            } => Ok((client_id.clone(), Some(client_secret.clone()))),
            Credentials::OAuth2Password {
                client_id,
                client_secret,
                ..
            } => Ok((client_id.clone(), client_secret.clone())),
            _ => {
                let app_id = record
                    .provider_app_id
                    .as_deref()
                    .ok_or("the connection has no provider app")?;
                let app = self
                    .get_provider_app(&record.project_id, app_id)
                    .await
                    .map_err(|e| format!("provider app unavailable: {e}"))?;
                Ok((app.client_id, Some(app.client_secret)))
            }
        }
    }
}

/// The event payload common to refresh events: which connection, no secrets.
fn event_data(record: &ConnectionRecord) -> serde_json::Value {
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
fn backoff(settings: &RefreshSettings, failures: i64) -> Duration {
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
pub(super) fn renewed_tokens(
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

/// The background refresher: picks due connections from the store, at most
/// `concurrency` at once and `per_provider` per provider, until `shutdown`.
pub async fn run_refresher(grantd: Grantd, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let settings = grantd.refresh_settings().clone();
    let global = Arc::new(Semaphore::new(settings.concurrency));
    // A finished refresh makes room at once: a backlog drains at the speed
    // of the provider, not one batch per tick.
    let room_freed = Arc::new(tokio::sync::Notify::new());
    // The first look comes one tick after start, not at once: a process
    // started with a long tick (an idle refresher) must stay idle.
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + settings.tick, settings.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = room_freed.notified() => {}
            _ = shutdown.changed() => break,
        }
        if let Err(error) = grantd
            .dispatch_due(&global, &room_freed, &settings, &shutdown)
            .await
        {
            tracing::warn!(%error, "refresher could not read due connections");
        }
    }
    drain_refreshes(&global, settings.concurrency).await;
}

/// Waits for the refreshes in flight to store their answers. A provider that
/// rotates refresh tokens has retired the old one the moment it answered, so
/// an answer dropped at shutdown would cost the connection its grant. Every
/// task holds a permit of `global`; all permits back means none is running.
/// Bounded by the token call timeout, after which a call has failed anyway.
async fn drain_refreshes(global: &Semaphore, concurrency: usize) {
    let in_flight = concurrency - global.available_permits();
    if in_flight == 0 {
        return;
    }
    tracing::info!(in_flight, "waiting for token refreshes in flight to finish");
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    let grace = super::oauth::token::TOKEN_CALL_TIMEOUT + Duration::from_secs(1);
    if tokio::time::timeout(grace, global.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("token refreshes still in flight at shutdown; their answers are lost");
    }
}

impl Grantd {
    /// Starts a task for every due connection there is room for.
    async fn dispatch_due(
        &self,
        global: &Arc<Semaphore>,
        room_freed: &Arc<tokio::sync::Notify>,
        settings: &RefreshSettings,
        shutdown: &tokio::sync::watch::Receiver<bool>,
    ) -> DomainResult<()> {
        let flights = &self.inner.flights;
        loop {
            let room = global.available_permits();
            if room == 0 {
                return Ok(());
            }
            let queued = flights.queued.lock().expect("queue").len();
            let busy = flights.busy_providers();
            let due = self
                .store()
                .due_for_refresh(now_millis(), (room + queued) as i64, &busy)
                .await?;
            let fetched = due.len();
            let mut started = 0;
            for row in due {
                if !flights.queued.lock().expect("queue").insert(row.id.clone()) {
                    continue;
                }
                let Ok(permit) = global.clone().try_acquire_owned() else {
                    flights.queued.lock().expect("queue").remove(&row.id);
                    return Ok(());
                };
                let limit = flights.provider_limit(&row.provider, settings.per_provider);
                let grantd = self.clone();
                let room_freed = room_freed.clone();
                let shutdown = shutdown.clone();
                started += 1;
                tokio::spawn(async move {
                    // One still queued behind its provider's limit when
                    // shutdown comes is not started: nothing to lose.
                    let slot = limit.acquire().await;
                    let stopping = *shutdown.borrow();
                    if slot.is_ok() && !stopping {
                        if let Err(error) = grantd.refresh(&row.id, Trigger::Due).await {
                            tracing::warn!(connection = %row.id, %error, "refresh failed to run");
                        }
                    }
                    drop(slot);
                    grantd
                        .inner
                        .flights
                        .queued
                        .lock()
                        .expect("queue")
                        .remove(&row.id);
                    drop(permit);
                    room_freed.notify_one();
                });
            }
            if started == 0 || fetched < room {
                return Ok(());
            }
        }
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
