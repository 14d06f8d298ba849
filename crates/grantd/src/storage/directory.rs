//! Groups and consumers: the customer-side identities connections belong to.
//! They are upserted by ref inside the transaction that writes a connection.

use super::{values_list, Store, StoreResult};
use sqlx::AnyConnection;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub project_id: String,
    pub group_ref: String,
    pub group_name: String,
    pub create_time: i64,
    pub update_time: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsumerRow {
    pub project_id: String,
    pub consumer_ref: String,
    pub consumer_name: String,
    pub create_time: i64,
    pub update_time: i64,
}

/// Entries per multi-row `INSERT`: three parameters each, so four times
/// the connections' rows per statement for about the same binding cost.
const ENTRIES_PER_INSERT: usize = 32;

/// Groups and consumers: two tables of the same shape under different
/// column names, so one piece of SQL serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Directory {
    Groups,
    Consumers,
}

impl Directory {
    /// `(table, ref column, name column)`: fixed names, never caller text.
    fn columns(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Directory::Groups => ("groups", "group_ref", "group_name"),
            Directory::Consumers => ("consumers", "consumer_ref", "consumer_name"),
        }
    }
}

/// Creates the entry (named after its ref unless a name is given), or
/// renames it when a different name is given.
pub(super) async fn upsert_entry(
    conn: &mut AnyConnection,
    directory: Directory,
    project_id: &str,
    reference: &str,
    name: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    let (table, ref_column, name_column) = directory.columns();
    sqlx::query(&format!(
        "INSERT INTO {table} (project_id, {ref_column}, {name_column}, create_time, update_time) \
         VALUES ($1, $2, COALESCE($3, $2), $4, $4) \
         ON CONFLICT (project_id, {ref_column}) DO UPDATE SET \
           {name_column} = excluded.{name_column}, update_time = excluded.update_time \
         WHERE $3 IS NOT NULL AND {table}.{name_column} <> excluded.{name_column}"
    ))
    .bind(project_id)
    .bind(reference)
    .bind(name)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Creates the entries that do not exist yet, named after their refs;
/// existing ones are left as they are. `rows` are `(project, ref, time)`.
pub(super) async fn insert_missing(
    conn: &mut AnyConnection,
    directory: Directory,
    rows: &[(&str, &str, i64)],
) -> StoreResult<()> {
    let (table, ref_column, name_column) = directory.columns();
    for chunk in rows.chunks(ENTRIES_PER_INSERT) {
        let values = values_list(chunk.len(), 3, |p| {
            let (project, key, now) = (p(1), p(2), p(3));
            format!("({project}, {key}, {key}, {now}, {now})")
        });
        let sql = format!(
            "INSERT INTO {table} (project_id, {ref_column}, {name_column}, create_time, update_time) \
             VALUES {values} ON CONFLICT (project_id, {ref_column}) DO NOTHING"
        );
        let mut query = sqlx::query(&sql);
        for (project, key, now) in chunk {
            query = query.bind(*project).bind(*key).bind(*now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

impl Store {
    pub async fn list_groups(&self, project_id: &str) -> StoreResult<Vec<GroupRow>> {
        self.list_entries(Directory::Groups, project_id).await
    }

    pub async fn list_consumers(&self, project_id: &str) -> StoreResult<Vec<ConsumerRow>> {
        self.list_entries(Directory::Consumers, project_id).await
    }

    /// A project's entries, oldest first.
    async fn list_entries<R>(&self, directory: Directory, project_id: &str) -> StoreResult<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let (table, ref_column, name_column) = directory.columns();
        Ok(sqlx::query_as::<_, R>(&format!(
            "SELECT project_id, {ref_column}, {name_column}, create_time, update_time FROM {table} \
             WHERE project_id = $1 ORDER BY create_time, {ref_column}"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
