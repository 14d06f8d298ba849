//! Persistence. The only module that speaks SQL: it hands out plain row
//! records and knows nothing of HTTP, OAuth or encryption (secret columns
//! arrive here already sealed).

mod api_keys;
mod columns;
mod connect_sessions;
mod connection_updates;
mod connections;
mod directory;
mod events;
mod jwt_keys;
mod oauth_flows;
mod projects;
mod provider_apps;
mod refresh;
mod sealed;
mod webhooks;
mod write_queue;

pub use api_keys::{ApiKeyGrant, ApiKeyRow, NewApiKey};
pub use columns::CorruptColumn;

pub use connect_sessions::{ConnectSessionRow, SessionResult};
pub use connection_updates::ConnectionUpdate;
pub use connections::{
    ConnectionFilter, ConnectionOwner, ConnectionRecord, ConnectionSource, NewConnection,
    Reauthorization, StoredCredentials,
};
pub use directory::{ConsumerRow, GroupRow};
pub use events::{EventRow, NewEvent};
pub use jwt_keys::JwtKeyRow;
pub use oauth_flows::{BoundFlow, FlowOutcome, NewOAuthFlow, OAuthFlowRow};
pub use projects::ProjectRow;
pub use provider_apps::{NewProviderApp, ProviderAppRow, ProviderAppUpdate};
pub use refresh::{DueConnection, RefreshFailure, RefreshedCredentials};
pub use sealed::{SealedRows, SEALED_COLUMNS};
pub use webhooks::{
    AttemptResult, DeliveryJob, WebhookDeliveryRow, WebhookEndpointRecord, WebhookEndpointRow,
};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyQueryResult};
use sqlx::{AnyPool, ConnectOptions, Executor};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Storage failures. `NotFound` and `Conflict` are expected outcomes the
/// domain turns into 404/409; everything else is an outage or a bug.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; `constraint` says which, so
    /// the caller can name the field that collided.
    #[error("conflict on {constraint}: {message}")]
    Conflict {
        constraint: Constraint,
        /// The database's own wording (names tables and columns: for logs).
        message: String,
    },
    /// A stored value does not decode into its type.
    #[error("stored data is corrupt: {0}")]
    Corrupt(#[source] CorruptColumn),
    /// The write queue lost track of a write: a bug, not bad data.
    #[error("write queue: {0}")]
    WriteQueue(&'static str),
    #[error("unsupported database URL scheme: {0}")]
    UnsupportedUrl(String),
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
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                constraint: Constraint::of(db.as_ref()),
                message: db.message().to_owned(),
            },
            sqlx::Error::ColumnDecode { source, .. } if source.is::<CorruptColumn>() => {
                match source.downcast_ref::<CorruptColumn>() {
                    Some(corrupt) => StoreError::Corrupt(corrupt.clone()),
                    None => StoreError::Database(error),
                }
            }
            // The server went away, or the pool cannot reach it: the
            // database is down, not the request wrong.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::PoolClosed => StoreError::Unavailable(error),
            sqlx::Error::Database(db) if is_transient(db.as_ref()) => {
                StoreError::Unavailable(error)
            }
            _ => StoreError::Database(error),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The unique constraints a request can run into, told apart so that a
/// conflict names what collided. PostgreSQL names the constraint or index;
/// SQLite names the columns (`UNIQUE constraint failed: projects.name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// `projects.name`.
    ProjectName,
    /// `provider_apps_one_default`: one default app per provider and project.
    DefaultProviderApp,
    /// Any other (ids, hashes): not something a caller chose.
    Other,
}

impl Constraint {
    fn of(db: &dyn sqlx::error::DatabaseError) -> Self {
        let named = |name: &str| db.constraint() == Some(name) || db.message().contains(name);
        if named("projects_name_key") || named("projects.name") {
            Constraint::ProjectName
        } else if named("provider_apps_one_default")
            || named("provider_apps.project_id, provider_apps.provider")
        {
            Constraint::DefaultProviderApp
        } else {
            Constraint::Other
        }
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Constraint::ProjectName => "projects.name",
            Constraint::DefaultProviderApp => "provider_apps_one_default",
            Constraint::Other => "a unique key",
        })
    }
}

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: one file in the data directory.
    Sqlite,
    /// Shared by several grantd instances.
    Postgres,
}

/// Pool and timeout settings for PostgreSQL.
#[derive(Clone, Debug)]
pub struct PostgresSettings {
    pub max_connections: u32,
    /// Applied to every statement on every connection.
    pub statement_timeout: Duration,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        PostgresSettings {
            max_connections: 16,
            statement_timeout: Duration::from_secs(15),
        }
    }
}

/// Handle to the database; cheap to clone (it is a connection pool). The
/// SQL is written once for both backends (`$n` placeholders, integer
/// milliseconds, text ids) and runs through sqlx's `Any` driver.
///
/// Reads and writes go through separate pools. On SQLite the writer pool
/// holds exactly one connection: SQLite lets one writer in at a time, and
/// writers queueing for that connection in the pool wait without cost,
/// where writers racing for the file lock sleep in SQLite's busy handler
/// (milliseconds each) and lose throughput. Its readers are `query_only`,
/// so a write sent down the wrong pool fails loudly instead of racing.
/// On PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Store {
    /// For statements that only read.
    pool: AnyPool,
    /// For statements and transactions that write.
    writer: AnyPool,
    /// Group commit of the busiest writes, on `writer`.
    queue: write_queue::WriteQueue,
    backend: Backend,
}

impl Store {
    /// Opens the SQLite database in `data_dir` and runs migrations. With
    /// `create`, a missing directory (mode 0700) and database (mode 0600)
    /// are created; without, they must exist.
    pub async fn open_sqlite(data_dir: &Path, create: bool) -> StoreResult<Self> {
        let path = data_dir.join(SQLITE_FILE);
        if create {
            create_private_dir(data_dir).map_err(|e| StoreError::Unavailable(e.into()))?;
            // SQLite gives the -wal and -shm files the mode of the database
            // file, so creating this one private keeps all three private.
            create_private_file(&path).map_err(|e| StoreError::Unavailable(e.into()))?;
        }
        let url = format!("sqlite://{}?mode=rw", path.display());
        Self::open_sqlite_url(&url).await
    }

    async fn open_sqlite_url(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let writer = sqlite_pool(1, false).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let readers = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
        let pool = sqlite_pool(readers.clamp(2, 16) as u32, true)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            queue: write_queue::WriteQueue::start(writer.clone()),
            writer,
            backend: Backend::Sqlite,
        })
    }

    /// Connects to PostgreSQL and runs its migrations (safe to run from
    /// several instances at once: sqlx takes an advisory lock).
    pub async fn open_postgres(url: &str, settings: &PostgresSettings) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let timeout_ms = settings.statement_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(
                        format!("SET statement_timeout = {timeout_ms}; SET lock_timeout = 5000")
                            .as_str(),
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            writer: pool.clone(),
            queue: write_queue::WriteQueue::start(pool.clone()),
            pool,
            backend: Backend::Postgres,
        })
    }

    /// Opens what a `GRANTD_DATABASE_URL` names: `postgres://…` or
    /// `sqlite://…`; nothing means the SQLite file in `data_dir`.
    /// `create` lets a missing SQLite database be created (see [`Store::open_sqlite`]).
    pub async fn open(
        database_url: Option<&str>,
        data_dir: &Path,
        postgres: &PostgresSettings,
        create: bool,
    ) -> StoreResult<Self> {
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Self::open_postgres(url, postgres).await
            }
            Some(url) if url.starts_with("sqlite:") => {
                let url = if url.contains('?') {
                    url.to_owned()
                } else if create {
                    format!("{url}?mode=rwc")
                } else {
                    format!("{url}?mode=rw")
                };
                Self::open_sqlite_url(&url).await
            }
            Some(other) => Err(StoreError::UnsupportedUrl(
                other.split(':').next().unwrap_or_default().to_owned(),
            )),
            None => Self::open_sqlite(data_dir, create).await,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The row-locking clause for a claim's sub-select: `FOR UPDATE SKIP
    /// LOCKED` on PostgreSQL, nothing on SQLite (one writer at a time).
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Name of the SQLite database file in the data directory.
pub const SQLITE_FILE: &str = "grantd.db";

/// Creates a directory (and its missing parents) readable by its owner only.
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Creates an empty file readable by its owner only, unless it exists.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The `VALUES` list of a multi-row statement: `rows` tuples whose
/// parameters are numbered row after row from `$1`, `per_row` to a row.
/// `tuple` writes one row given the placeholder of its i-th parameter
/// (1-based); [`plain_tuple`] lists them all in order.
fn values_list(
    rows: usize,
    per_row: usize,
    tuple: impl Fn(&dyn Fn(usize) -> String) -> String,
) -> String {
    (0..rows)
        .map(|row| tuple(&|i| format!("${}", row * per_row + i)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($a, $b, …)` of a row's `n` parameters, for [`values_list`].
fn plain_tuple(n: usize) -> impl Fn(&dyn Fn(usize) -> String) -> String {
    move |p| format!("({})", (1..=n).map(p).collect::<Vec<_>>().join(", "))
}

/// Options of a pool of SQLite connections. A local file needs no liveness
/// check before each use (that would be a round trip to the connection's
/// worker thread per statement).
fn sqlite_pool(max_connections: u32, query_only: bool) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                )
                .await?;
                if query_only {
                    conn.execute("PRAGMA query_only = ON;").await?;
                }
                Ok(())
            })
        })
}

/// Errors worth retrying: SQLite's busy database, PostgreSQL's
/// serialization failures, deadlocks, shutdowns and timeouts.
fn is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    if db.message().contains("database is locked") {
        return true;
    }
    matches!(
        db.code().as_deref(),
        Some("40001" | "40P01" | "57014" | "57P01" | "57P02" | "57P03" | "55P03" | "53300")
    )
}

/// A write that must have touched a row; none means the row does not exist.
fn require_row(done: AnyQueryResult) -> StoreResult<()> {
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
