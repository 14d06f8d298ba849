//! Pruning what is kept only for a while: connection events and finished
//! webhook deliveries, in small batches so no statement holds the
//! database for long.

use super::{Store, StoreResult};

impl Store {
    /// Deletes up to `limit` delivered or failed webhook deliveries created
    /// before `cutoff`; pending ones are never pruned. Returns how many.
    pub async fn prune_webhook_deliveries(&self, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
             WHERE status <> 'pending' AND created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(cutoff)
        .bind(limit)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes up to `limit` connection events created before `cutoff`,
    /// except those a webhook delivery still waits to send (deleting an
    /// event deletes its deliveries). Returns how many.
    pub async fn prune_events(&self, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM connection_events WHERE id IN (SELECT e.id FROM connection_events e \
             WHERE e.created_at < $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d \
             WHERE d.event_id = e.id AND d.status = 'pending') ORDER BY e.created_at LIMIT $2)",
        )
        .bind(cutoff)
        .bind(limit)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes up to `limit` audit records that occurred before `cutoff`
    /// (the only deletion the audit trail allows). Returns how many.
    pub async fn prune_audit_records(&self, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM audit_records WHERE id IN (SELECT id FROM audit_records \
             WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2)",
        )
        .bind(cutoff)
        .bind(limit)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }
}
