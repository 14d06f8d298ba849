use super::write_queue::{Write, WriteFuture};
use super::{Store, StoreResult};
use sqlx::AnyConnection;

/// A connection event about to be written.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub project_id: String,
    pub connection_id: String,
    pub kind: String,
    /// JSON object text.
    pub data: String,
    pub created_at: i64,
}

/// One entry of the event log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub project_id: String,
    pub connection_id: String,
    pub kind: String,
    pub data: String,
    pub created_at: i64,
}

impl Store {
    /// Writes the event and, in the same transaction, one pending delivery
    /// per webhook endpoint of its project subscribed to its kind (or to
    /// every kind, `'*'`), due at once. Doing both in one transaction is what
    /// makes every stored event reach every subscriber that existed when it
    /// was stored. Returns how many deliveries were enqueued.
    pub async fn insert_event(&self, event: NewEvent) -> StoreResult<usize> {
        self.queue.submit(InsertEvent(event)).await
    }

    /// A project's events, newest first, optionally of one connection.
    pub async fn list_events(
        &self,
        project_id: &str,
        connection_id: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<EventRow>> {
        Ok(sqlx::query_as::<_, EventRow>(
            "SELECT id, project_id, connection_id, kind, data, created_at FROM connection_events \
             WHERE project_id = $1 AND ($2 IS NULL OR connection_id = $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(project_id)
        .bind(connection_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// [`Store::insert_event`] inside a transaction the caller holds, so that an
/// event commits (or not) together with the change it reports.
pub(super) async fn insert_event_in(
    conn: &mut AnyConnection,
    event: &NewEvent,
) -> StoreResult<usize> {
    sqlx::query(
        "INSERT INTO connection_events (id, project_id, connection_id, kind, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&event.id)
    .bind(&event.project_id)
    .bind(&event.connection_id)
    .bind(&event.kind)
    .bind(&event.data)
    .bind(event.created_at)
    .execute(&mut *conn)
    .await?;
    let endpoints: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT e.id FROM webhook_endpoints e \
         JOIN webhook_endpoint_kinds k ON k.endpoint_id = e.id \
         WHERE e.project_id = $1 AND (k.kind = $2 OR k.kind = '*') \
         ORDER BY e.id",
    )
    .bind(&event.project_id)
    .bind(&event.kind)
    .fetch_all(&mut *conn)
    .await?;
    for (endpoint_id,) in &endpoints {
        // The set of endpoints is only known inside the transaction, so
        // the delivery ids are minted here rather than by the domain.
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, project_id, endpoint_id, event_id, status, \
             attempts, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $5)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&event.project_id)
        .bind(endpoint_id)
        .bind(&event.id)
        .bind(event.created_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(endpoints.len())
}

struct InsertEvent(NewEvent);

impl Write for InsertEvent {
    type Output = usize;

    fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, usize> {
        Box::pin(insert_event_in(conn, &self.0))
    }
}
