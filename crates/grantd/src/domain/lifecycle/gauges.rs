//! The metrics scrape: gauges that describe the store now (due refreshes,
//! pending deliveries, pool use) are read at scrape time, so they are never
//! stale and cost nothing between scrapes.

use crate::domain::handle::Grantd;
use crate::metrics::StoreGauges;
use crate::storage::now_millis;

/// Seconds from `due` (ms) to `now` (ms); 0 when nothing is due yet.
fn age_seconds(due: Option<i64>, now: i64) -> f64 {
    due.map_or(0.0, |due| (now - due).max(0) as f64 / 1000.0)
}

impl Grantd {
    /// The Prometheus text of this instance's metrics. A store that does
    /// not answer leaves the store gauges at their last values (the query
    /// error counter says why) rather than failing the scrape.
    pub async fn render_metrics(&self) -> String {
        let now = now_millis();
        let mut gauges = StoreGauges {
            pools: self
                .store()
                .pool_use()
                .into_iter()
                .map(|pool| (pool.name, pool.size, pool.idle, pool.max))
                .collect(),
            ..StoreGauges::default()
        };
        match self.store().backlog(now).await {
            Ok(backlog) => {
                gauges.refresh_backlog = backlog.refresh_due;
                gauges.refresh_backlog_age_seconds =
                    age_seconds(backlog.refresh_oldest_due_at, now);
                gauges.webhook_queue_depth = backlog.deliveries_pending;
                gauges.webhook_queue_age_seconds = age_seconds(
                    backlog.delivery_oldest_due_at.filter(|due| *due <= now),
                    now,
                );
                self.metrics().set_store_gauges(&gauges);
            }
            Err(error) => {
                tracing::warn!(%error, "metrics scrape: could not read the backlog");
                self.metrics().set_pool_gauges(&gauges);
            }
        }
        self.metrics().render()
    }
}
