use super::columns::row_from_columns;
use super::{require_row, Store, StoreResult};
use crate::vocab::DeliveryStatus;
use std::collections::HashMap;

/// A webhook endpoint as stored; the secret arrives sealed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookEndpointRow {
    pub id: String,
    pub project_id: String,
    pub url: String,
    pub description: Option<String>,
    pub secret_key_id: String,
    pub secret_ciphertext: Vec<u8>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An endpoint with the kinds it subscribes to (`'*'`: every kind).
#[derive(Debug, Clone)]
pub struct WebhookEndpointRecord {
    pub endpoint: WebhookEndpointRow,
    pub kinds: Vec<String>,
}

const ENDPOINT_COLUMNS: &str =
    "id, project_id, url, description, secret_key_id, secret_ciphertext, created_at, updated_at";

/// One line of an endpoint's delivery log.
#[derive(Debug, Clone)]
pub struct WebhookDeliveryRow {
    pub id: String,
    pub event_id: String,
    pub kind: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub created_at: i64,
}

row_from_columns!(WebhookDeliveryRow in "webhook_deliveries" {
    id: get, event_id: get, kind: get, status: parse, attempts: get, last_status_code: get,
    last_error: get, next_attempt_at: get, delivered_at: get, created_at: get,
});

/// A claimed delivery with everything needed to attempt it: the endpoint's
/// URL and sealed secret, and the event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryJob {
    pub id: String,
    /// Attempts started so far, this one included.
    pub attempts: i64,
    pub endpoint_id: String,
    pub url: String,
    pub secret_key_id: String,
    pub secret_ciphertext: Vec<u8>,
    pub event_id: String,
    pub project_id: String,
    pub kind: String,
    pub data: String,
    pub event_created_at: i64,
}

/// What an attempt ended in, as the columns record it.
#[derive(Debug)]
pub struct AttemptResult {
    /// `pending` (to retry at `next_attempt_at`), `delivered` or `failed`.
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub now: i64,
}

impl Store {
    /// Writes an endpoint and its subscriptions in one transaction.
    pub async fn insert_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpointRow,
        kinds: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&endpoint.id)
        .bind(&endpoint.project_id)
        .bind(&endpoint.url)
        .bind(&endpoint.description)
        .bind(&endpoint.secret_key_id)
        .bind(&endpoint.secret_ciphertext)
        .bind(endpoint.created_at)
        .bind(endpoint.updated_at)
        .execute(&mut *tx)
        .await?;
        for kind in kinds {
            sqlx::query("INSERT INTO webhook_endpoint_kinds (endpoint_id, kind) VALUES ($1, $2)")
                .bind(&endpoint.id)
                .bind(kind)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn find_webhook_endpoint(
        &self,
        project_id: &str,
        id: &str,
    ) -> StoreResult<WebhookEndpointRecord> {
        let endpoint = sqlx::query_as::<_, WebhookEndpointRow>(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE project_id = $1 AND id = $2"
        ))
        .bind(project_id)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let kinds: Vec<(String,)> = sqlx::query_as(
            "SELECT kind FROM webhook_endpoint_kinds WHERE endpoint_id = $1 ORDER BY kind",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(WebhookEndpointRecord {
            endpoint,
            kinds: kinds.into_iter().map(|(k,)| k).collect(),
        })
    }

    /// A project's endpoints, oldest first.
    pub async fn list_webhook_endpoints(
        &self,
        project_id: &str,
    ) -> StoreResult<Vec<WebhookEndpointRecord>> {
        let endpoints = sqlx::query_as::<_, WebhookEndpointRow>(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE project_id = $1 \
             ORDER BY created_at, id"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT k.endpoint_id, k.kind FROM webhook_endpoint_kinds k \
             JOIN webhook_endpoints e ON e.id = k.endpoint_id \
             WHERE e.project_id = $1 ORDER BY k.kind",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        let mut kinds: HashMap<String, Vec<String>> = HashMap::new();
        for (endpoint_id, kind) in rows {
            kinds.entry(endpoint_id).or_default().push(kind);
        }
        Ok(endpoints
            .into_iter()
            .map(|endpoint| WebhookEndpointRecord {
                kinds: kinds.remove(&endpoint.id).unwrap_or_default(),
                endpoint,
            })
            .collect())
    }

    /// Deletes an endpoint with its subscriptions and delivery log; its
    /// pending deliveries are never attempted.
    pub async fn delete_webhook_endpoint(&self, project_id: &str, id: &str) -> StoreResult<()> {
        require_row(
            sqlx::query("DELETE FROM webhook_endpoints WHERE project_id = $1 AND id = $2")
                .bind(project_id)
                .bind(id)
                .execute(&self.writer)
                .await?,
        )
    }

    /// An endpoint's deliveries, newest first.
    pub async fn list_webhook_deliveries(
        &self,
        endpoint_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDeliveryRow>> {
        Ok(sqlx::query_as::<_, WebhookDeliveryRow>(
            "SELECT d.id, d.event_id, v.kind, d.status, d.attempts, d.last_status_code, \
             d.last_error, d.next_attempt_at, d.delivered_at, d.created_at \
             FROM webhook_deliveries d JOIN connection_events v ON v.id = d.event_id \
             WHERE d.endpoint_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2",
        )
        .bind(endpoint_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Leases up to `limit` due deliveries to `owner` until `lease_until`
    /// and counts the attempt, in one statement: the outer condition repeats
    /// the lease test so that of two instances racing for a row exactly one
    /// gets it (also under PostgreSQL's READ COMMITTED, which re-checks it on
    /// the row it updates), and a lease left by a killed instance simply
    /// expires. Returns the claimed deliveries whose endpoint and event still
    /// exist.
    pub async fn claim_webhook_deliveries(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryJob>> {
        // Workers poll; most polls find nothing. A read first keeps those
        // polls from taking SQLite's write lock.
        let due: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        // On PostgreSQL, rows another instance is claiming right now are
        // skipped rather than waited for, so concurrent claims split the due
        // rows instead of one of them coming back empty. SQLite has one
        // writer at a time and needs no such clause.
        let claimed: Vec<(String,)> = sqlx::query_as(&format!(
            "UPDATE webhook_deliveries \
             SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id IN (SELECT id FROM webhook_deliveries \
                          WHERE status = 'pending' AND next_attempt_at <= $3 \
                          AND (lease_until IS NULL OR lease_until < $3) \
                          ORDER BY next_attempt_at LIMIT $4{}) \
             AND status = 'pending' AND (lease_until IS NULL OR lease_until < $3) \
             RETURNING id",
            self.skip_locked()
        ))
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.writer)
        .await?;
        let mut jobs = Vec::with_capacity(claimed.len());
        for (id,) in claimed {
            let job = sqlx::query_as::<_, DeliveryJob>(
                "SELECT d.id, d.attempts, e.id AS endpoint_id, e.url, e.secret_key_id, \
                 e.secret_ciphertext, v.id AS event_id, v.project_id, v.kind, v.data, \
                 v.created_at AS event_created_at \
                 FROM webhook_deliveries d \
                 JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                 JOIN connection_events v ON v.id = d.event_id \
                 WHERE d.id = $1 AND d.lease_owner = $2",
            )
            .bind(&id)
            .bind(owner)
            .fetch_optional(&self.pool)
            .await?;
            jobs.extend(job);
        }
        Ok(jobs)
    }

    /// Records how an attempt ended and releases the lease. Only the lease
    /// holder may: a worker whose lease expired and was taken over writes
    /// nothing. Returns whether the row was updated.
    pub async fn finish_webhook_attempt(
        &self,
        id: &str,
        owner: &str,
        result: &AttemptResult,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, \
             last_status_code = $3, last_error = $4, delivered_at = $5, updated_at = $6, \
             lease_owner = NULL, lease_until = NULL \
             WHERE id = $7 AND lease_owner = $8",
        )
        .bind(result.status.as_str())
        .bind(result.next_attempt_at)
        .bind(result.last_status_code)
        .bind(&result.last_error)
        .bind(result.delivered_at)
        .bind(result.now)
        .bind(id)
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives up `owner`'s leases (on shutdown) so that the deliveries are
    /// retried without waiting for the leases to expire.
    pub async fn release_webhook_leases(&self, owner: &str) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL \
             WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }
}
