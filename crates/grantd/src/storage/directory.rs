//! Groups and consumers: the customer-side identities connections belong to.
//! They are upserted by ref inside the transaction that writes a connection.

use super::{Store, StoreResult};
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

/// Creates the group (named after its ref unless a name is given), or
/// renames it when a different name is given.
pub(super) async fn upsert_group(
    conn: &mut AnyConnection,
    project_id: &str,
    group_ref: &str,
    group_name: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO groups (project_id, group_ref, group_name, create_time, update_time) \
         VALUES ($1, $2, COALESCE($3, $2), $4, $4) \
         ON CONFLICT (project_id, group_ref) DO UPDATE SET \
           group_name = excluded.group_name, update_time = excluded.update_time \
         WHERE $3 IS NOT NULL AND groups.group_name <> excluded.group_name",
    )
    .bind(project_id)
    .bind(group_ref)
    .bind(group_name)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Creates the consumer (named after its ref unless a name is given), or
/// renames it when a different name is given.
pub(super) async fn upsert_consumer(
    conn: &mut AnyConnection,
    project_id: &str,
    consumer_ref: &str,
    consumer_name: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO consumers (project_id, consumer_ref, consumer_name, create_time, update_time) \
         VALUES ($1, $2, COALESCE($3, $2), $4, $4) \
         ON CONFLICT (project_id, consumer_ref) DO UPDATE SET \
           consumer_name = excluded.consumer_name, update_time = excluded.update_time \
         WHERE $3 IS NOT NULL AND consumers.consumer_name <> excluded.consumer_name",
    )
    .bind(project_id)
    .bind(consumer_ref)
    .bind(consumer_name)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    pub async fn list_groups(&self, project_id: &str) -> StoreResult<Vec<GroupRow>> {
        Ok(sqlx::query_as::<_, GroupRow>(
            "SELECT project_id, group_ref, group_name, create_time, update_time FROM groups \
             WHERE project_id = $1 ORDER BY create_time, group_ref",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn list_consumers(&self, project_id: &str) -> StoreResult<Vec<ConsumerRow>> {
        Ok(sqlx::query_as::<_, ConsumerRow>(
            "SELECT project_id, consumer_ref, consumer_name, create_time, update_time FROM consumers \
             WHERE project_id = $1 ORDER BY create_time, consumer_ref",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
