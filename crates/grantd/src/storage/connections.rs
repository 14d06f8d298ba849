use super::directory::{upsert_consumer, upsert_group};
use super::events::{insert_event_in, NewEvent};
use super::write_queue::{Write, WriteFuture};
use super::{require_row, Store, StoreResult};
use sqlx::AnyConnection;

/// A connection with its group, consumer and provider app, as one join.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionRecord {
    pub id: String,
    pub project_id: String,
    pub provider: String,
    pub provider_app_id: Option<String>,
    pub group_ref: String,
    pub consumer_ref: String,
    pub provider_workspace_ref: Option<String>,
    pub provider_consumer_ref: Option<String>,
    pub auth_scheme: String,
    pub status: String,
    pub provider_metadata: String,
    pub scopes: String,
    pub credentials_key_id: String,
    pub credentials_ciphertext: Vec<u8>,
    pub access_token_expires_at: Option<i64>,
    pub last_error: Option<String>,
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
    pub app_scopes: Option<String>,
    pub app_create_time: Option<i64>,
    pub app_update_time: Option<i64>,
}

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

/// Everything needed to write a new connection and the group and consumer it names.
#[derive(Debug)]
pub struct NewConnection {
    pub id: String,
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
    pub provider_consumer_ref: Option<String>,
    pub auth_scheme: String,
    pub status: String,
    pub provider_metadata: String,
    pub scopes: String,
    pub credentials_key_id: String,
    pub credentials_ciphertext: Vec<u8>,
    pub access_token_expires_at: Option<i64>,
    /// When the refresher should renew the token; `None` when it never needs to.
    pub refresh_due_at: Option<i64>,
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
    /// The new credentials' scheme: re-authorizing can change it (e.g. from a password grant).
    pub auth_scheme: String,
    pub provider_metadata: String,
    pub scopes: String,
    pub credentials_key_id: String,
    pub credentials_ciphertext: Vec<u8>,
    pub access_token_expires_at: Option<i64>,
    pub refresh_due_at: Option<i64>,
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
    /// write queue; returns how many deliveries were enqueued.
    pub async fn insert_connection(
        &self,
        new: NewConnection,
        event: NewEvent,
    ) -> StoreResult<usize> {
        self.queue.submit(InsertConnection { new, event }).await
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
            .bind(&update.provider_metadata)
            .bind(&update.scopes)
            .bind(&update.credentials_key_id)
            .bind(&update.credentials_ciphertext)
            .bind(update.access_token_expires_at)
            .bind(update.now)
            .bind(&update.id)
            .bind(&update.project_id)
            .bind(&update.auth_scheme)
            .bind(update.refresh_due_at)
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

struct InsertConnection {
    new: NewConnection,
    event: NewEvent,
}

impl Write for InsertConnection {
    type Output = usize;

    fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, usize> {
        let (new, event) = (&self.new, &self.event);
        Box::pin(async move {
            upsert_group(
                &mut *conn,
                &new.project_id,
                &new.group_ref,
                new.group_name.as_deref(),
                new.now,
            )
            .await?;
            upsert_consumer(
                &mut *conn,
                &new.project_id,
                &new.consumer_ref,
                new.consumer_name.as_deref(),
                new.now,
            )
            .await?;
            sqlx::query(
                "INSERT INTO connections (id, project_id, provider, provider_app_id, group_ref, consumer_ref, \
                 provider_workspace_ref, provider_consumer_ref, auth_scheme, status, provider_metadata, scopes, \
                 credentials_key_id, credentials_ciphertext, access_token_expires_at, refresh_due_at, \
                 create_time, update_time) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $17, $16, $16)",
            )
            .bind(&new.id)
            .bind(&new.project_id)
            .bind(&new.provider)
            .bind(&new.provider_app_id)
            .bind(&new.group_ref)
            .bind(&new.consumer_ref)
            .bind(&new.provider_workspace_ref)
            .bind(&new.provider_consumer_ref)
            .bind(&new.auth_scheme)
            .bind(&new.status)
            .bind(&new.provider_metadata)
            .bind(&new.scopes)
            .bind(&new.credentials_key_id)
            .bind(&new.credentials_ciphertext)
            .bind(new.access_token_expires_at)
            .bind(new.now)
            .bind(new.refresh_due_at)
            .execute(&mut *conn)
            .await?;
            let enqueued = insert_event_in(&mut *conn, event).await?;
            Ok(enqueued)
        })
    }
}
