use super::columns::{json_text, row_from_columns};
use super::directory::{insert_missing, upsert_entry, Directory};
use super::events::{insert_events_in, NewEvent};
use super::oauth_flows::record_success;
use super::write_queue::{Write, WriteFuture};
use super::{require_row, values_list, Store, StoreError, StoreResult};
use crate::vocab::{AuthScheme, ConnectionStatus, ProviderMetadata, RefreshError};
use sqlx::AnyConnection;
use std::collections::HashMap;

/// A connection with its group, consumer and provider app, as one join.
/// Statuses, schemes and JSON columns arrive decoded (see [`super::columns`]).
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    pub id: String,
    pub project_id: String,
    pub provider: String,
    pub provider_app_id: Option<String>,
    pub group_ref: String,
    pub consumer_ref: String,
    pub provider_workspace_ref: Option<String>,
    pub provider_consumer_ref: Option<String>,
    pub auth_scheme: AuthScheme,
    pub status: ConnectionStatus,
    pub provider_metadata: ProviderMetadata,
    pub scopes: Vec<String>,
    pub credentials_key_id: String,
    pub credentials_ciphertext: Vec<u8>,
    pub access_token_expires_at: Option<i64>,
    pub last_error: Option<RefreshError>,
    pub refresh_due_at: Option<i64>,
    pub refresh_failures: i64,
    pub credentials_version: i64,
    pub last_refresh_at: Option<i64>,
    pub create_time: i64,
    pub update_time: i64,
    pub group_name: String,
    pub group_create_time: i64,
    pub group_update_time: i64,
    pub consumer_name: String,
    pub consumer_create_time: i64,
    pub consumer_update_time: i64,
    pub app_external_ref: Option<String>,
    pub app_client_id: Option<String>,
    pub app_scopes: Option<Vec<String>>,
    pub app_create_time: Option<i64>,
    pub app_update_time: Option<i64>,
}

row_from_columns!(ConnectionRecord in "connections" {
    id: get, project_id: get, provider: get, provider_app_id: get, group_ref: get,
    consumer_ref: get, provider_workspace_ref: get, provider_consumer_ref: get,
    auth_scheme: parse, status: parse, provider_metadata: json, scopes: json,
    credentials_key_id: get, credentials_ciphertext: get, access_token_expires_at: get,
    last_error: json_opt, refresh_due_at: get, refresh_failures: get, credentials_version: get,
    last_refresh_at: get, create_time: get, update_time: get,
    group_name: get, group_create_time: get, group_update_time: get,
    consumer_name: get, consumer_create_time: get, consumer_update_time: get,
    app_external_ref: get, app_client_id: get, app_scopes: json_opt_of("provider_apps", "scopes"),
    app_create_time: get, app_update_time: get,
});

const SELECT_RECORD: &str = "SELECT c.id, c.project_id, c.provider, c.provider_app_id, c.group_ref, \
     c.consumer_ref, c.provider_workspace_ref, c.provider_consumer_ref, c.auth_scheme, c.status, \
     c.provider_metadata, c.scopes, c.credentials_key_id, c.credentials_ciphertext, \
     c.access_token_expires_at, c.last_error, c.refresh_due_at, c.refresh_failures, \
     c.credentials_version, c.last_refresh_at, c.create_time, c.update_time, \
     g.group_name, g.create_time AS group_create_time, g.update_time AS group_update_time, \
     u.consumer_name, u.create_time AS consumer_create_time, u.update_time AS consumer_update_time, \
     a.external_ref AS app_external_ref, a.client_id AS app_client_id, a.scopes AS app_scopes, \
     a.create_time AS app_create_time, a.update_time AS app_update_time \
     FROM connections c \
     JOIN groups g ON g.project_id = c.project_id AND g.group_ref = c.group_ref \
     JOIN consumers u ON u.project_id = c.project_id AND u.consumer_ref = c.consumer_ref \
     LEFT JOIN provider_apps a ON a.id = c.provider_app_id";

/// A connection's credentials as stored: sealed (bound to the connection
/// id), with what listings and the refresher read without opening them.
/// New connections, re-authorizations and refreshes all write this.
#[derive(Debug)]
pub struct StoredCredentials {
    /// The credentials' scheme: re-authorizing can change it (e.g. from a
    /// password grant); a refresh never does and does not write it.
    pub auth_scheme: AuthScheme,
    pub scopes: Vec<String>,
    pub key_id: String,
    pub ciphertext: Vec<u8>,
    pub access_token_expires_at: Option<i64>,
    /// When the refresher should renew the token; `None` when it never needs to.
    pub refresh_due_at: Option<i64>,
}

/// Whose a new connection is: its project, provider and provider app, the
/// group and consumer it names (created when missing), its workspace.
#[derive(Debug)]
pub struct ConnectionOwner {
    pub project_id: String,
    pub provider: String,
    pub provider_app_id: Option<String>,
    pub group_ref: String,
    /// `None` names a new group after its ref and leaves an existing one as it is.
    pub group_name: Option<String>,
    pub consumer_ref: String,
    /// `None` names a new consumer after its ref and leaves an existing one as it is.
    pub consumer_name: Option<String>,
    pub provider_workspace_ref: Option<String>,
}

/// Everything needed to write a new connection and the group and consumer it names.
#[derive(Debug)]
pub struct NewConnection {
    pub id: String,
    pub owner: ConnectionOwner,
    pub provider_consumer_ref: Option<String>,
    pub status: ConnectionStatus,
    pub provider_metadata: ProviderMetadata,
    pub credentials: StoredCredentials,
    pub now: i64,
}

/// New credentials for an existing connection after the user re-authorized it.
#[derive(Debug)]
pub struct Reauthorization {
    pub id: String,
    pub project_id: String,
    pub provider_app_id: String,
    pub provider_workspace_ref: Option<String>,
    pub provider_consumer_ref: Option<String>,
    pub provider_metadata: ProviderMetadata,
    pub credentials: StoredCredentials,
    pub now: i64,
}

/// Optional narrowing of a connection listing.
#[derive(Debug, Default)]
pub struct ConnectionFilter {
    pub provider: Option<String>,
    pub group_ref: Option<String>,
    pub consumer_ref: Option<String>,
}

impl Store {
    /// Writes the group, the consumer, the connection and its `created`
    /// event (with its webhook deliveries) in one transaction, through the
    /// write queue; returns how many deliveries were enqueued and, for a
    /// generated connection, the connection as stored, read back in the same
    /// transaction (one read for all the connections of a batch rather than
    /// one each afterwards). For a flow's connection, the same transaction
    /// records the flow's successful outcome.
    pub async fn insert_connection(
        &self,
        new: NewConnection,
        event: NewEvent,
        source: ConnectionSource,
    ) -> StoreResult<(usize, Option<ConnectionRecord>)> {
        self.queue
            .submit(InsertConnection { new, event, source })
            .await
    }

    /// Replaces a connection's credentials in place (same id) and marks it
    /// working; a refresh in flight with the old credentials will not store.
    pub async fn reauthorize_connection(&self, update: &Reauthorization) -> StoreResult<()> {
        require_row(
            sqlx::query(
                "UPDATE connections SET provider_app_id = $1, provider_workspace_ref = $2, \
             provider_consumer_ref = COALESCE($3, provider_consumer_ref), provider_metadata = $4, \
             scopes = $5, credentials_key_id = $6, credentials_ciphertext = $7, \
             access_token_expires_at = $8, status = 'working', last_error = NULL, update_time = $9, \
             auth_scheme = $12, refresh_due_at = $13, refresh_failures = 0, \
             credentials_version = credentials_version + 1 WHERE id = $10 AND project_id = $11",
            )
            .bind(&update.provider_app_id)
            .bind(&update.provider_workspace_ref)
            .bind(&update.provider_consumer_ref)
            .bind(json_text(&update.provider_metadata))
            .bind(json_text(&update.credentials.scopes))
            .bind(&update.credentials.key_id)
            .bind(&update.credentials.ciphertext)
            .bind(update.credentials.access_token_expires_at)
            .bind(update.now)
            .bind(&update.id)
            .bind(&update.project_id)
            .bind(update.credentials.auth_scheme.as_str())
            .bind(update.credentials.refresh_due_at)
            .execute(&self.writer)
            .await?,
        )
    }

    /// A connection by id alone, for background work that spans projects.
    pub async fn find_connection_by_id(&self, id: &str) -> StoreResult<ConnectionRecord> {
        Ok(
            sqlx::query_as::<_, ConnectionRecord>(&format!("{SELECT_RECORD} WHERE c.id = $1"))
                .bind(id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn find_connection(
        &self,
        project_id: &str,
        id: &str,
    ) -> StoreResult<ConnectionRecord> {
        Ok(sqlx::query_as::<_, ConnectionRecord>(&format!(
            "{SELECT_RECORD} WHERE c.project_id = $1 AND c.id = $2"
        ))
        .bind(project_id)
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Connections of a project, oldest first, optionally narrowed.
    pub async fn list_connections(
        &self,
        project_id: &str,
        filter: &ConnectionFilter,
    ) -> StoreResult<Vec<ConnectionRecord>> {
        // Only the filters given become conditions, so the planner can use
        // the (project, group) and (project, consumer) indexes; an
        // `$n IS NULL OR …` form would make it read the whole project.
        let mut sql = format!("{SELECT_RECORD} WHERE c.project_id = $1");
        let mut values = Vec::new();
        for (column, value) in [
            ("c.provider", &filter.provider),
            ("c.group_ref", &filter.group_ref),
            ("c.consumer_ref", &filter.consumer_ref),
        ] {
            if let Some(value) = value {
                values.push(value);
                sql.push_str(&format!(" AND {column} = ${}", values.len() + 1));
            }
        }
        sql.push_str(" ORDER BY c.create_time, c.id");
        let mut query = sqlx::query_as::<_, ConnectionRecord>(&sql).bind(project_id);
        for value in values {
            query = query.bind(value);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    pub async fn delete_connection(&self, project_id: &str, id: &str) -> StoreResult<()> {
        require_row(
            sqlx::query("DELETE FROM connections WHERE project_id = $1 AND id = $2")
                .bind(project_id)
                .bind(id)
                .execute(&self.writer)
                .await?,
        )
    }
}

/// Where a new connection comes from, which decides what its insert also does.
#[derive(Debug)]
pub enum ConnectionSource {
    /// `connections:generate`: the caller answers with the stored connection.
    Generated,
    /// The callback of the flow with this state hash: its outcome is recorded.
    Flow(String),
}

struct InsertConnection {
    new: NewConnection,
    event: NewEvent,
    source: ConnectionSource,
}

impl InsertConnection {
    fn flow_state_hash(&self) -> Option<&str> {
        match &self.source {
            ConnectionSource::Flow(state_hash) => Some(state_hash),
            ConnectionSource::Generated => None,
        }
    }

    fn read_back(&self) -> bool {
        matches!(self.source, ConnectionSource::Generated)
    }
}

impl Write for InsertConnection {
    type Output = (usize, Option<ConnectionRecord>);

    fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, Self::Output> {
        Box::pin(async move {
            let mut outputs = Self::run_many(vec![self], conn).await?;
            outputs.pop().ok_or(StoreError::NotFound)
        })
    }

    /// Connections made together: groups and consumers first (multi-row
    /// where no name was supplied, one by one where a name may rename),
    /// then the connections and their events a few rows per statement.
    fn run_many<'c>(
        writes: Vec<&'c Self>,
        conn: &'c mut AnyConnection,
    ) -> WriteFuture<'c, Vec<Self::Output>> {
        Box::pin(async move {
            insert_owners(&mut *conn, &writes).await?;
            insert_connection_rows(&mut *conn, &writes).await?;
            let events: Vec<&NewEvent> = writes.iter().map(|w| &w.event).collect();
            let enqueued = insert_events_in(&mut *conn, &events).await?;
            for w in &writes {
                if let Some(state_hash) = w.flow_state_hash() {
                    record_success(&mut *conn, state_hash, &w.new.id).await?;
                }
            }
            read_back(&mut *conn, &writes, enqueued).await
        })
    }
}

/// The groups and consumers of the new connections: those named by no one
/// here in one multi-row insert each, the named ones one by one (a name
/// may rename).
async fn insert_owners(conn: &mut AnyConnection, writes: &[&InsertConnection]) -> StoreResult<()> {
    const DIRECTORIES: [Directory; 2] = [Directory::Groups, Directory::Consumers];
    for directory in DIRECTORIES {
        // (project, ref, time) of the entries named by no one here.
        let unnamed = distinct(writes.iter().filter_map(|w| {
            let (reference, name) = entry_of(&w.new.owner, directory);
            name.is_none()
                .then_some((w.new.owner.project_id.as_str(), reference, w.new.now))
        }));
        insert_missing(&mut *conn, directory, &unnamed).await?;
    }
    for w in writes {
        let owner = &w.new.owner;
        for directory in DIRECTORIES {
            if let (reference, Some(name)) = entry_of(owner, directory) {
                upsert_entry(
                    &mut *conn,
                    directory,
                    &owner.project_id,
                    reference,
                    Some(name),
                    w.new.now,
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// The owner's ref and name in one directory.
fn entry_of(owner: &ConnectionOwner, directory: Directory) -> (&str, Option<&str>) {
    match directory {
        Directory::Groups => (&owner.group_ref, owner.group_name.as_deref()),
        Directory::Consumers => (&owner.consumer_ref, owner.consumer_name.as_deref()),
    }
}

/// The connection rows, a few per statement.
async fn insert_connection_rows(
    conn: &mut AnyConnection,
    writes: &[&InsertConnection],
) -> StoreResult<()> {
    for chunk in writes.chunks(ROWS_PER_INSERT) {
        let sql = insert_connections_sql(chunk.len());
        let mut query = sqlx::query(&sql);
        for w in chunk {
            query = bind_connection(query, &w.new);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Each write's output: how many deliveries its event enqueued and, when it asked,
/// the connection as stored.
async fn read_back(
    conn: &mut AnyConnection,
    writes: &[&InsertConnection],
    enqueued: Vec<usize>,
) -> StoreResult<Vec<(usize, Option<ConnectionRecord>)>> {
    let ids: Vec<&str> = writes
        .iter()
        .filter(|w| w.read_back())
        .map(|w| w.new.id.as_str())
        .collect();
    let mut records = HashMap::new();
    for chunk in ids.chunks(ROWS_PER_INSERT * 4) {
        records.extend(records_by_id(&mut *conn, chunk).await?);
    }
    writes
        .iter()
        .zip(enqueued)
        .map(|(w, enqueued)| {
            if !w.read_back() {
                return Ok((enqueued, None));
            }
            let record = records.remove(&w.new.id).ok_or(StoreError::NotFound)?;
            Ok((enqueued, Some(record)))
        })
        .collect()
}

/// Connections by id, with their joins, read inside the caller's transaction.
async fn records_by_id(
    conn: &mut AnyConnection,
    ids: &[&str],
) -> StoreResult<HashMap<String, ConnectionRecord>> {
    let params = values_list(ids.len(), 1, |p| p(1));
    let sql = format!("{SELECT_RECORD} WHERE c.id IN ({params})");
    let mut query = sqlx::query_as::<_, ConnectionRecord>(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    Ok(query
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(|record| (record.id.clone(), record))
        .collect())
}

/// Rows per multi-row `INSERT` (binding costs more than linear time in the
/// number of parameters on SQLite).
const ROWS_PER_INSERT: usize = 8;

/// Parameters of one connection row.
const CONNECTION_PARAMS: usize = 17;

/// `INSERT INTO connections` of `rows` rows, parameters numbered row after row.
fn insert_connections_sql(rows: usize) -> String {
    // refresh_due_at is parameter 17; `now` (16) is both create and update time.
    let values = values_list(rows, CONNECTION_PARAMS, |p| {
        let first = (1..=15).map(p).collect::<Vec<_>>().join(", ");
        format!("({first}, {}, {}, {})", p(17), p(16), p(16))
    });
    format!(
        "INSERT INTO connections (id, project_id, provider, provider_app_id, group_ref, consumer_ref, \
         provider_workspace_ref, provider_consumer_ref, auth_scheme, status, provider_metadata, scopes, \
         credentials_key_id, credentials_ciphertext, access_token_expires_at, refresh_due_at, \
         create_time, update_time) VALUES {values}"
    )
}

fn bind_connection<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    new: &'q NewConnection,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(&new.id)
        .bind(&new.owner.project_id)
        .bind(&new.owner.provider)
        .bind(&new.owner.provider_app_id)
        .bind(&new.owner.group_ref)
        .bind(&new.owner.consumer_ref)
        .bind(&new.owner.provider_workspace_ref)
        .bind(&new.provider_consumer_ref)
        .bind(new.credentials.auth_scheme.as_str())
        .bind(new.status.as_str())
        .bind(json_text(&new.provider_metadata))
        .bind(json_text(&new.credentials.scopes))
        .bind(&new.credentials.key_id)
        .bind(&new.credentials.ciphertext)
        .bind(new.credentials.access_token_expires_at)
        .bind(new.now)
        .bind(new.credentials.refresh_due_at)
}

/// The (project, ref) pairs once each, first occurrence kept.
fn distinct<'a>(
    rows: impl Iterator<Item = (&'a str, &'a str, i64)>,
) -> Vec<(&'a str, &'a str, i64)> {
    let mut seen = std::collections::HashSet::new();
    rows.filter(|(project, key, _)| seen.insert((*project, *key)))
        .collect()
}
