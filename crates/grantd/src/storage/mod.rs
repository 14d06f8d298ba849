//! Persistence. The only module that speaks SQL: it hands out plain row
//! records and knows nothing of HTTP, OAuth or encryption (secret columns
//! arrive here already sealed).

mod api_keys;
mod connections;
mod directory;
mod events;
mod jwt_keys;
mod oauth_flows;
mod projects;
mod provider_apps;
mod webhooks;

pub use api_keys::{ApiKeyRow, NewApiKey};
pub use connections::{ConnectionFilter, ConnectionRecord, NewConnection, Reauthorization};
pub use directory::{ConsumerRow, GroupRow};
pub use events::{EventRow, NewEvent};
pub use jwt_keys::JwtKeyRow;
pub use oauth_flows::{FlowOutcome, NewOAuthFlow, OAuthFlowRow};
pub use projects::ProjectRow;
pub use provider_apps::{NewProviderApp, ProviderAppRow, ProviderAppUpdate};
pub use webhooks::{
    AttemptResult, DeliveryJob, WebhookDeliveryRow, WebhookEndpointRecord, WebhookEndpointRow,
};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Storage failures. `NotFound` and `Conflict` are expected outcomes the
/// domain turns into 404/409; everything else is an outage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_owned())
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(error)
            }
            sqlx::Error::Database(db) if db.message().contains("database is locked") => {
                StoreError::Unavailable(error)
            }
            _ => StoreError::Database(error),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Handle to the database; cheap to clone (it is a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the SQLite database in `data_dir` and runs migrations.
    pub async fn open_sqlite(data_dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Unavailable(e.into()))?;
        let url = format!("sqlite://{}", data_dir.join("grantd.db").display());
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A write that must have touched a row; none means the row does not exist.
fn require_row(done: sqlx::sqlite::SqliteQueryResult) -> StoreResult<()> {
    if done.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Milliseconds since the Unix epoch: the one time format of the schema.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
