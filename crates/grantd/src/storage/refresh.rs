//! The refresher's queries: due work by time, row leases, and writes fenced
//! by the credentials version that was read.

use super::columns::json_text;
use super::connections::StoredCredentials;
use super::write_queue::{Write, WriteFuture};
use super::{Store, StoreResult};
use crate::vocab::{ConnectionStatus, RefreshError};
use sqlx::AnyConnection;

/// A connection whose token is due for renewal.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueConnection {
    pub id: String,
    pub provider: String,
}

/// New credentials from a refresh, to be stored over `read_version` only.
#[derive(Debug)]
pub struct RefreshedCredentials {
    pub id: String,
    pub read_version: i64,
    pub credentials: StoredCredentials,
    pub now: i64,
}

/// The outcome of a failed refresh, written by the lease holder.
#[derive(Debug)]
pub struct RefreshFailure<'a> {
    pub id: &'a str,
    pub owner: &'a str,
    pub status: ConnectionStatus,
    /// Stored as JSON: class, provider error, description, status, time.
    pub last_error: &'a RefreshError,
    pub refresh_due_at: Option<i64>,
    pub failures: i64,
    pub now: i64,
}

impl Store {
    /// Up to `limit` working connections due by `now` whose lease is free,
    /// earliest first, skipping `busy_providers`. Reads the partial index on
    /// `refresh_due_at`, so the cost follows the due rows, not the table.
    pub async fn due_for_refresh(
        &self,
        now: i64,
        limit: i64,
        busy_providers: &[String],
    ) -> StoreResult<Vec<DueConnection>> {
        let mut sql = String::from(
            "SELECT id, provider FROM connections \
             WHERE refresh_due_at IS NOT NULL AND refresh_due_at <= $1 AND status = 'working' \
             AND (refresh_lease_until IS NULL OR refresh_lease_until < $1)",
        );
        if !busy_providers.is_empty() {
            let placeholders: Vec<String> = (0..busy_providers.len())
                .map(|i| format!("${}", i + 3))
                .collect();
            sql.push_str(&format!(
                " AND provider NOT IN ({})",
                placeholders.join(", ")
            ));
        }
        sql.push_str(" ORDER BY refresh_due_at LIMIT $2");
        let mut query = sqlx::query_as::<_, DueConnection>(&sql)
            .bind(now)
            .bind(limit);
        for provider in busy_providers {
            query = query.bind(provider);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Takes (or renews) the refresh lease on one connection. False when
    /// another owner holds a lease that has not yet run out.
    pub async fn claim_refresh_lease(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        self.queue
            .submit(ClaimLease {
                id: id.to_owned(),
                owner: owner.to_owned(),
                now,
                until,
            })
            .await
    }

    /// Lets go of a lease without changing anything else.
    pub async fn release_refresh_lease(&self, id: &str, owner: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE connections SET refresh_lease_owner = NULL, refresh_lease_until = NULL \
             WHERE id = $1 AND refresh_lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Stores refreshed credentials, access and (rotated) refresh token
    /// together in one statement, only over the version that was read. False
    /// when the connection changed meanwhile (re-authorized or deleted).
    pub async fn store_refreshed(&self, r: RefreshedCredentials) -> StoreResult<bool> {
        self.queue.submit(StoreRefreshed(r)).await
    }

    /// Records a failed refresh and when to try again, releasing the lease.
    pub async fn record_refresh_failure(&self, f: &RefreshFailure<'_>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE connections SET status = $3, last_error = $4, refresh_due_at = $5, \
             refresh_failures = $6, update_time = $7, \
             refresh_lease_owner = NULL, refresh_lease_until = NULL \
             WHERE id = $1 AND refresh_lease_owner = $2",
        )
        .bind(f.id)
        .bind(f.owner)
        .bind(f.status.as_str())
        .bind(json_text(f.last_error))
        .bind(f.refresh_due_at)
        .bind(f.failures)
        .bind(f.now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

struct ClaimLease {
    id: String,
    owner: String,
    now: i64,
    until: i64,
}

impl Write for ClaimLease {
    type Output = bool;

    fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, bool> {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE connections SET refresh_lease_owner = $2, refresh_lease_until = $4 \
                 WHERE id = $1 AND (refresh_lease_until IS NULL OR refresh_lease_until < $3 \
                 OR refresh_lease_owner = $2)",
            )
            .bind(&self.id)
            .bind(&self.owner)
            .bind(self.now)
            .bind(self.until)
            .execute(conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}

struct StoreRefreshed(RefreshedCredentials);

impl Write for StoreRefreshed {
    type Output = bool;

    fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, bool> {
        let r = &self.0;
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE connections SET credentials_key_id = $3, credentials_ciphertext = $4, \
                         access_token_expires_at = $5, refresh_due_at = $6, scopes = $7, \
                         credentials_version = credentials_version + 1, refresh_failures = 0, \
                         last_error = NULL, last_refresh_at = $8, update_time = $8, \
                         refresh_lease_owner = NULL, refresh_lease_until = NULL \
                         WHERE id = $1 AND credentials_version = $2",
            )
            .bind(&r.id)
            .bind(r.read_version)
            .bind(&r.credentials.key_id)
            .bind(&r.credentials.ciphertext)
            .bind(r.credentials.access_token_expires_at)
            .bind(r.credentials.refresh_due_at)
            .bind(json_text(&r.credentials.scopes))
            .bind(r.now)
            .execute(conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
