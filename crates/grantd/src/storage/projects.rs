use super::{Store, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: String,
    pub name: String,
    pub create_time: i64,
    pub update_time: i64,
    /// The name end users see; `None` reads as `name`.
    pub app_name: Option<String>,
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
            "SELECT id, name, create_time, update_time, app_name FROM projects \
             WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1",
        )
        .bind(id_or_name)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Sets a project's name and display name (`None` leaves one as it is)
    /// and returns the row as it now stands.
    pub async fn update_project(
        &self,
        id: &str,
        name: Option<&str>,
        app_name: Option<&str>,
        now: i64,
    ) -> StoreResult<ProjectRow> {
        let mut tx = self.writer.begin().await?;
        let touched = sqlx::query(
            "UPDATE projects SET name = COALESCE($1, name), app_name = COALESCE($2, app_name), \
             update_time = $3 WHERE id = $4",
        )
        .bind(name)
        .bind(app_name)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if touched.rows_affected() == 0 {
            return Err(super::StoreError::NotFound);
        }
        let row = sqlx::query_as::<_, ProjectRow>(
            "SELECT id, name, create_time, update_time, app_name FROM projects WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn list_projects(&self) -> StoreResult<Vec<ProjectRow>> {
        Ok(sqlx::query_as::<_, ProjectRow>(
            "SELECT id, name, create_time, update_time, app_name FROM projects ORDER BY create_time",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
