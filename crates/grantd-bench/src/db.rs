//! Direct access to grantd's SQLite file: read-only polling while grantd
//! runs, and bulk seeding of the large store while it is stopped.

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("grantd.db")
}

/// The store's file with the settings both handles share: waiting out
/// grantd's locks rather than failing on them.
fn store_options(data_dir: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(db_path(data_dir))
        .busy_timeout(Duration::from_secs(5))
}

/// One connection: the bench reads and seeds in sequence.
async fn open(
    data_dir: &Path,
    options: SqliteConnectOptions,
    how: &str,
) -> anyhow::Result<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {}{how}", db_path(data_dir).display()))
}

/// A read-only handle: WAL readers never block grantd's writers.
pub async fn open_read_only(data_dir: &Path) -> anyhow::Result<SqlitePool> {
    let options = store_options(data_dir).read_only(true);
    open(data_dir, options, " read-only").await
}

async fn open_read_write(data_dir: &Path) -> anyhow::Result<SqlitePool> {
    let options = store_options(data_dir)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true);
    open(data_dir, options, "").await
}

/// How many connections the store holds, read through a short-lived read-only handle.
pub async fn connections_in(data_dir: &Path) -> anyhow::Result<u64> {
    let pool = open_read_only(data_dir).await?;
    let count = count_connections(&pool).await;
    pool.close().await;
    count
}

pub async fn count_connections(pool: &SqlitePool) -> anyhow::Result<u64> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM connections")
        .fetch_one(pool)
        .await
        .context("counting connections")?;
    Ok(count as u64)
}

/// Connections whose access token now expires after `horizon_ms`: refreshed ones.
pub async fn count_expiring_after(pool: &SqlitePool, horizon_ms: i64) -> anyhow::Result<u64> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM connections WHERE access_token_expires_at > $1")
            .bind(horizon_ms)
            .fetch_one(pool)
            .await
            .context("counting refreshed connections")?;
    Ok(count as u64)
}

/// Connections the refresher would pick up at `now_ms`.
pub async fn count_due(pool: &SqlitePool, now_ms: i64) -> anyhow::Result<u64> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM connections WHERE refresh_due_at IS NOT NULL AND refresh_due_at <= $1",
    )
    .bind(now_ms)
    .fetch_one(pool)
    .await
    .context("counting due connections")?;
    Ok(count as u64)
}

/// Connections not working or carrying a refresh error.
pub async fn count_failed(pool: &SqlitePool) -> anyhow::Result<u64> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM connections WHERE status != 'working' OR last_error IS NOT NULL",
    )
    .fetch_one(pool)
    .await
    .context("counting failed connections")?;
    Ok(count as u64)
}

/// Size of the database and its WAL, bytes.
pub fn store_bytes(data_dir: &Path) -> u64 {
    ["grantd.db", "grantd.db-wal"]
        .iter()
        .filter_map(|name| std::fs::metadata(data_dir.join(name)).ok())
        .map(|m| m.len())
        .sum()
}

#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub copies: u64,
    pub elapsed: Duration,
}

/// Rows per transaction: large enough to amortise commits, small enough to
/// keep the WAL at a few hundred MB.
const SEED_BATCH: u64 = 100_000;

/// Brings the store up to `total` connections by copying one real
/// authorization-code connection with new ids and one new group each.
///
/// The copies' ciphertext stays bound to the source row's id (the AEAD
/// associated data), so they cannot be read with credentials: they exist to
/// make the tables and indexes as large as a real store for listing, lookups
/// and memory. Their refresh is scheduled a day out so the refresher leaves
/// them alone during the measurement. grantd must not be running.
pub async fn seed_copies(data_dir: &Path, total: u64) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let pool = open_read_write(data_dir).await?;
    let existing = count_connections(&pool).await?;
    let needed = total.saturating_sub(existing);
    if needed == 0 {
        pool.close().await;
        return Ok(Seeded {
            copies: 0,
            elapsed: started.elapsed(),
        });
    }
    let source: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM connections ORDER BY auth_scheme = 'oauth2/authorizationCode' DESC, \
         create_time LIMIT 1",
    )
    .fetch_optional(&pool)
    .await
    .context("choosing a connection to copy")?;
    let (source,) = source.context("the store has no connection to copy")?;
    let now = chrono::Utc::now().timestamp_millis();
    let day = 86_400_000i64;
    let mut first = 1u64;
    while first <= needed {
        let last = (first + SEED_BATCH - 1).min(needed);
        let mut tx = pool.begin().await.context("starting a seeding batch")?;
        sqlx::query(
            "WITH RECURSIVE seq(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM seq WHERE n < $2) \
             INSERT INTO groups (project_id, group_ref, group_name, create_time, update_time) \
             SELECT c.project_id, 'seed-' || n, 'Seeded group ' || n, $3, $3 \
             FROM seq, connections c WHERE c.id = $4",
        )
        .bind(first as i64)
        .bind(last as i64)
        .bind(now)
        .bind(&source)
        .execute(&mut *tx)
        .await
        .context("seeding groups")?;
        sqlx::query(
            "WITH RECURSIVE seq(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM seq WHERE n < $2) \
             INSERT INTO connections (id, project_id, provider, provider_app_id, group_ref, \
             consumer_ref, provider_workspace_ref, provider_consumer_ref, auth_scheme, status, \
             provider_metadata, scopes, credentials_key_id, credentials_ciphertext, \
             access_token_expires_at, last_error, create_time, update_time, refresh_due_at, \
             refresh_failures, credentials_version) \
             SELECT printf('00000000-0000-7000-8000-%012x', n), c.project_id, c.provider, \
             c.provider_app_id, 'seed-' || n, c.consumer_ref, c.provider_workspace_ref, \
             c.provider_consumer_ref, c.auth_scheme, c.status, c.provider_metadata, c.scopes, \
             c.credentials_key_id, c.credentials_ciphertext, \
             CASE WHEN c.access_token_expires_at IS NULL THEN NULL ELSE $3 + $5 + 600000 END, NULL, \
             $3 - $6 + n, $3 - $6 + n, CASE WHEN c.refresh_due_at IS NULL THEN NULL ELSE $3 + $5 END, \
             0, 0 \
             FROM seq, connections c WHERE c.id = $4",
        )
        .bind(first as i64)
        .bind(last as i64)
        .bind(now)
        .bind(&source)
        .bind(day)
        .bind(needed as i64)
        .execute(&mut *tx)
        .await
        .context("seeding connections")?;
        tx.commit().await.context("committing a seeding batch")?;
        first = last + 1;
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .context("checkpointing after seeding")?;
    pool.close().await;
    Ok(Seeded {
        copies: needed,
        elapsed: started.elapsed(),
    })
}
