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

//!
//! `mod.rs` holds the single-flight entry points (on read, on schedule);
//! `renew` talks to the provider and stores the outcome; `scheduler` is the
//! background loop; `flights` the per-process locks and limits.

pub mod flights;
pub(crate) mod renew;

use flights::Trigger;
pub mod scheduler;

use crate::domain::error::DomainResult;
use crate::domain::handle::Grantd;
use crate::domain::model::{ConnectionStatus, Credentials};
use crate::domain::settings::RefreshSettings;
use crate::storage::{now_millis, ConnectionRecord, StoreError};
use std::time::Duration;

impl Grantd {
    pub(super) fn refresh_settings(&self) -> &RefreshSettings {
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

    /// For a proxied call whose access token the provider refused (401):
    /// renews it once, through the same single flight as every refresh,
    /// unless the stored credentials have moved on from `version` already
    /// (another caller's refresh, a re-authorization), in which case the
    /// connection is returned as it stands. A refresh the provider rejects
    /// marks the connection `bad_credentials`, as the refresher does.
    pub(crate) async fn refresh_rejected_token(
        &self,
        id: &str,
        version: i64,
    ) -> DomainResult<Option<ConnectionRecord>> {
        self.refresh(id, Trigger::Rejected { version }).await
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
            None => Err(crate::domain::error::DomainError::not_found("connection")),
        }
    }

    /// Expired or about to be, and not backing off from a failure (a read
    /// storm must not hammer a provider that asked us to wait).
    pub(in crate::domain) fn needs_refresh_on_read(&self, record: &ConnectionRecord) -> bool {
        let now = now_millis();
        let skew = self.refresh_settings().read_skew.as_millis() as i64;
        record.status == ConnectionStatus::Working
            && record.refresh_due_at.is_some_and(|due| due <= now)
            && record
                .access_token_expires_at
                .is_some_and(|at| at <= now + skew)
    }

    /// One refresh of one connection, if it still needs it. For a read,
    /// returns the connection as it stands afterwards (`None` if it was
    /// deleted); a scheduled refresh may return `None` without re-reading.
    #[tracing::instrument(name = "refresh", skip_all, fields(connection_id = %id, trigger = ?trigger))]
    pub(super) async fn refresh(
        &self,
        id: &str,
        trigger: Trigger,
    ) -> DomainResult<Option<ConnectionRecord>> {
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
                Trigger::Read | Trigger::Force { .. } | Trigger::Rejected { .. } => {
                    self.await_other_instance(&record).await
                }
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
            Trigger::Read | Trigger::Force { .. } | Trigger::Rejected { .. } => {
                self.reload(id).await
            }
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
                    && record.status == ConnectionStatus::Working
                    // Only renewable credentials have a due time.
                    && record.refresh_due_at.is_some()
            }
            Trigger::Due => {
                record.status == ConnectionStatus::Working
                    && record.refresh_due_at.is_some_and(|due| due <= now_millis())
            }
            // Not while backing off from a failure: a storm of 401s must not
            // hammer a provider that asked us to wait.
            Trigger::Rejected { version } => {
                record.status == ConnectionStatus::Working
                    && record.credentials_version == version
                    && (record.refresh_failures == 0
                        || record.refresh_due_at.is_none_or(|due| due <= now_millis()))
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
}
