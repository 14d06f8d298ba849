use super::{require_row, Store, StoreResult};

/// A public key a project registered to sign its bearer JWTs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JwtKeyRow {
    pub id: String,
    pub project_id: String,
    pub algorithm: String,
    pub public_key_pem: String,
    pub create_time: i64,
}

impl Store {
    pub async fn insert_jwt_key(&self, row: &JwtKeyRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO jwt_keys (id, project_id, algorithm, public_key_pem, create_time) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.id)
        .bind(&row.project_id)
        .bind(&row.algorithm)
        .bind(&row.public_key_pem)
        .bind(row.create_time)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn find_jwt_key(&self, id: &str) -> StoreResult<JwtKeyRow> {
        Ok(sqlx::query_as::<_, JwtKeyRow>(
            "SELECT id, project_id, algorithm, public_key_pem, create_time FROM jwt_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn list_jwt_keys(&self, project_id: &str) -> StoreResult<Vec<JwtKeyRow>> {
        Ok(sqlx::query_as::<_, JwtKeyRow>(
            "SELECT id, project_id, algorithm, public_key_pem, create_time FROM jwt_keys \
             WHERE project_id = $1 ORDER BY create_time",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn delete_jwt_key(&self, project_id: &str, id: &str) -> StoreResult<()> {
        require_row(
            sqlx::query("DELETE FROM jwt_keys WHERE project_id = $1 AND id = $2")
                .bind(project_id)
                .bind(id)
                .execute(&self.writer)
                .await?,
        )
    }
}
