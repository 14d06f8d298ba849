use super::write_queue::{Write, WriteFuture};
use super::{plain_tuple, values_list, Store, StoreResult};
use sqlx::AnyConnection;

/// One entry of the event log, as written and as read back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub project_id: String,
    pub connection_id: String,
    pub kind: String,
    /// JSON object text.
    pub data: String,
    pub created_at: i64,
}

/// A connection event about to be written: the row it becomes.
pub type NewEvent = EventRow;

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

/// One event inside the caller's transaction ([`insert_events_in`] of one).
async fn insert_event_in(conn: &mut AnyConnection, event: &NewEvent) -> StoreResult<usize> {
    Ok(insert_events_in(conn, &[event]).await?[0])
}

struct InsertEvent(NewEvent);

impl Write for InsertEvent {
    type Output = usize;

    fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, usize> {
        Box::pin(insert_event_in(conn, &self.0))
    }

    fn run_many<'c>(
        writes: Vec<&'c Self>,
        conn: &'c mut AnyConnection,
    ) -> WriteFuture<'c, Vec<usize>> {
        Box::pin(async move {
            let events: Vec<&NewEvent> = writes.iter().map(|w| &w.0).collect();
            insert_events_in(conn, &events).await
        })
    }
}

/// Several events at once: a few rows per `INSERT`, one endpoint lookup
/// per (project, kind), and their deliveries likewise. Returns the number
/// of deliveries enqueued for each event, in order.
pub(super) async fn insert_events_in(
    conn: &mut AnyConnection,
    events: &[&NewEvent],
) -> StoreResult<Vec<usize>> {
    const ROWS: usize = 16;
    for chunk in events.chunks(ROWS) {
        let values = values_list(chunk.len(), 6, plain_tuple(6));
        let sql = format!(
            "INSERT INTO connection_events (id, project_id, connection_id, kind, data, created_at) \
             VALUES {values}"
        );
        let mut query = sqlx::query(&sql);
        for event in chunk {
            query = query
                .bind(&event.id)
                .bind(&event.project_id)
                .bind(&event.connection_id)
                .bind(&event.kind)
                .bind(&event.data)
                .bind(event.created_at);
        }
        query.execute(&mut *conn).await?;
    }
    let mut subscribers: std::collections::HashMap<(&str, &str), Vec<String>> =
        std::collections::HashMap::new();
    for event in events {
        let key = (event.project_id.as_str(), event.kind.as_str());
        if let std::collections::hash_map::Entry::Vacant(slot) = subscribers.entry(key) {
            slot.insert(subscribed_endpoints(&mut *conn, key.0, key.1).await?);
        }
    }
    // (delivery id, project, endpoint, event, time) for every subscriber.
    let deliveries: Vec<(String, &NewEvent, &str)> = events
        .iter()
        .flat_map(|event| {
            subscribers[&(event.project_id.as_str(), event.kind.as_str())]
                .iter()
                .map(move |endpoint| (uuid::Uuid::now_v7().to_string(), *event, endpoint.as_str()))
        })
        .collect();
    for chunk in deliveries.chunks(ROWS) {
        let values = values_list(chunk.len(), 5, |p| {
            let (id, project, endpoint, event, now) = (p(1), p(2), p(3), p(4), p(5));
            format!("({id}, {project}, {endpoint}, {event}, 'pending', 0, {now}, {now}, {now})")
        });
        let sql = format!(
            "INSERT INTO webhook_deliveries (id, project_id, endpoint_id, event_id, status, \
             attempts, next_attempt_at, created_at, updated_at) VALUES {values}"
        );
        let mut query = sqlx::query(&sql);
        for (id, event, endpoint) in chunk {
            query = query
                .bind(id)
                .bind(&event.project_id)
                .bind(*endpoint)
                .bind(&event.id)
                .bind(event.created_at);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(events
        .iter()
        .map(|event| subscribers[&(event.project_id.as_str(), event.kind.as_str())].len())
        .collect())
}

/// Ids of the project's webhook endpoints subscribed to `kind` (or to all).
async fn subscribed_endpoints(
    conn: &mut AnyConnection,
    project_id: &str,
    kind: &str,
) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT e.id FROM webhook_endpoints e \
         JOIN webhook_endpoint_kinds k ON k.endpoint_id = e.id \
         WHERE e.project_id = $1 AND (k.kind = $2 OR k.kind = '*') \
         ORDER BY e.id",
    )
    .bind(project_id)
    .bind(kind)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
