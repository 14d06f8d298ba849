use super::{Store, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: String,
    pub name: String,
    pub create_time: i64,
    pub update_time: i64,
}

impl Store {
    pub async fn insert_project(&self, row: &ProjectRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO projects (id, name, create_time, update_time) VALUES ($1, $2, $3, $4)",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(row.create_time)
        .bind(row.update_time)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Finds a project by id or, failing that, by its unique name.
    pub async fn find_project(&self, id_or_name: &str) -> StoreResult<ProjectRow> {
        Ok(sqlx::query_as::<_, ProjectRow>(
            "SELECT id, name, create_time, update_time FROM projects \
             WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1",
        )
        .bind(id_or_name)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn list_projects(&self) -> StoreResult<Vec<ProjectRow>> {
        Ok(sqlx::query_as::<_, ProjectRow>(
            "SELECT id, name, create_time, update_time FROM projects ORDER BY create_time",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
