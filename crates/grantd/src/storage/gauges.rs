//! Counts read at each metrics scrape: both through partial indexes
//! (`connections_refresh_due`, `webhook_deliveries_due`), so a scrape costs
//! what is due or pending, not the size of the tables.

use super::{Backend, Store, StoreResult};

/// What is waiting: due refreshes and pending webhook deliveries.
#[derive(Debug, Clone, Default)]
pub struct Backlog {
    pub refresh_due: i64,
    /// Earliest `refresh_due_at` among them (ms), if any.
    pub refresh_oldest_due_at: Option<i64>,
    pub deliveries_pending: i64,
    /// Earliest `next_attempt_at` among pending deliveries (ms), if any.
    pub delivery_oldest_due_at: Option<i64>,
}

/// One connection pool's use.
#[derive(Debug, Clone)]
pub struct PoolUse {
    pub name: &'static str,
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

impl Store {
    /// Due refreshes (working connections whose due time has passed) and
    /// pending webhook deliveries, with the earliest due time of each.
    pub async fn backlog(&self, now: i64) -> StoreResult<Backlog> {
        let (refresh_due, refresh_oldest_due_at): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(refresh_due_at) FROM connections \
             WHERE refresh_due_at IS NOT NULL AND refresh_due_at <= $1 AND status = 'working'",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let (deliveries_pending, delivery_oldest_due_at): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Backlog {
            refresh_due,
            refresh_oldest_due_at,
            deliveries_pending,
            delivery_oldest_due_at,
        })
    }

    /// Open, idle and largest connections of each pool (`read` and `write`
    /// on SQLite; one `shared` pool on PostgreSQL).
    pub fn pool_use(&self) -> Vec<PoolUse> {
        let describe = |name, pool: &sqlx::AnyPool| PoolUse {
            name,
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        };
        match self.backend {
            Backend::Sqlite => vec![
                describe("read", &self.pool),
                describe("write", &self.writer),
            ],
            Backend::Postgres => vec![describe("shared", &self.pool)],
        }
    }
}
