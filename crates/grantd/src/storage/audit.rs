//! The audit trail: appended through the write queue (a credential read
//! under load is a write per read; group commit keeps that cheap), read
//! newest first with a keyset cursor.

use super::write_queue::{Write, WriteFuture};
use super::{plain_tuple, values_list, Store, StoreResult};
use sqlx::AnyConnection;

/// One audit record, as stored and as read back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: String,
    pub project_id: Option<String>,
    pub occurred_at: i64,
    pub action: String,
    pub connection_id: Option<String>,
    pub target_id: Option<String>,
    pub caller_kind: String,
    pub caller_id: Option<String>,
    pub caller_subject: Option<String>,
    pub client_address: Option<String>,
    pub request_id: Option<String>,
    /// JSON object text.
    pub detail: String,
}

const COLUMNS: &str = "id, project_id, occurred_at, action, connection_id, target_id, \
     caller_kind, caller_id, caller_subject, client_address, request_id, detail";

/// Which records to read: every filter is optional; `before` is the
/// `(occurred_at, id)` of the last record of the previous page.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// `None` reads every project's records and the instance-wide ones (the CLI).
    pub project_id: Option<String>,
    pub connection_id: Option<String>,
    /// An API key id or a JWT kid.
    pub caller_id: Option<String>,
    pub action: Option<String>,
    /// Inclusive lower bound, ms.
    pub since: Option<i64>,
    /// Exclusive upper bound, ms.
    pub until: Option<i64>,
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

impl Store {
    /// Appends one record; returns once it is committed.
    pub async fn insert_audit_record(&self, row: AuditRow) -> StoreResult<()> {
        self.queue.submit(InsertAudit(row)).await
    }

    /// Records matching `filter`, newest first.
    pub async fn list_audit_records(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRow>> {
        let (before_time, before_id) = match &filter.before {
            Some((time, id)) => (Some(*time), Some(id.as_str())),
            None => (None, None),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_records \
             WHERE ($1 IS NULL OR project_id = $1) \
             AND ($2 IS NULL OR connection_id = $2) \
             AND ($3 IS NULL OR caller_id = $3) \
             AND ($4 IS NULL OR action = $4) \
             AND ($5 IS NULL OR occurred_at >= $5) \
             AND ($6 IS NULL OR occurred_at < $6) \
             AND ($7 IS NULL OR occurred_at < $7 OR (occurred_at = $7 AND id < $8)) \
             ORDER BY occurred_at DESC, id DESC LIMIT $9"
        );
        Ok(sqlx::query_as::<_, AuditRow>(&sql)
            .bind(filter.project_id.as_deref())
            .bind(filter.connection_id.as_deref())
            .bind(filter.caller_id.as_deref())
            .bind(filter.action.as_deref())
            .bind(filter.since)
            .bind(filter.until)
            .bind(before_time)
            .bind(before_id)
            .bind(filter.limit)
            .fetch_all(&self.pool)
            .await?)
    }
}

struct InsertAudit(AuditRow);

impl Write for InsertAudit {
    type Output = ();

    fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, ()> {
        Box::pin(insert_audit_rows(conn, vec![&self.0]))
    }

    fn run_many<'c>(
        writes: Vec<&'c Self>,
        conn: &'c mut AnyConnection,
    ) -> WriteFuture<'c, Vec<()>> {
        Box::pin(async move {
            let count = writes.len();
            insert_audit_rows(conn, writes.iter().map(|w| &w.0).collect()).await?;
            Ok(vec![(); count])
        })
    }
}

async fn insert_audit_rows(conn: &mut AnyConnection, rows: Vec<&AuditRow>) -> StoreResult<()> {
    const ROWS: usize = 16;
    for chunk in rows.chunks(ROWS) {
        let values = values_list(chunk.len(), 12, plain_tuple(12));
        let sql = format!("INSERT INTO audit_records ({COLUMNS}) VALUES {values}");
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(&row.id)
                .bind(row.project_id.as_deref())
                .bind(row.occurred_at)
                .bind(&row.action)
                .bind(row.connection_id.as_deref())
                .bind(row.target_id.as_deref())
                .bind(&row.caller_kind)
                .bind(row.caller_id.as_deref())
                .bind(row.caller_subject.as_deref())
                .bind(row.client_address.as_deref())
                .bind(row.request_id.as_deref())
                .bind(&row.detail);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
