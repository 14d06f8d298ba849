use super::{require_row, ProjectRow, Store, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub project_id: String,
    pub label: String,
    pub display_prefix: String,
    /// Granted scope names, separated by spaces.
    pub scopes: String,
    pub create_time: i64,
    pub revoke_time: Option<i64>,
}

pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub label: &'a str,
    pub display_prefix: &'a str,
    pub key_hash: &'a str,
    pub scopes: &'a str,
    pub create_time: i64,
}

/// An unrevoked key's project and scopes: what authenticating it yields.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyGrant {
    #[sqlx(flatten)]
    pub project: ProjectRow,
    pub scopes: String,
}

const API_KEY_COLUMNS: &str =
    "id, project_id, label, display_prefix, scopes, create_time, revoke_time";

impl Store {
    pub async fn insert_api_key(&self, key: NewApiKey<'_>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, project_id, label, display_prefix, key_hash, scopes, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.id)
        .bind(key.project_id)
        .bind(key.label)
        .bind(key.display_prefix)
        .bind(key.key_hash)
        .bind(key.scopes)
        .bind(key.create_time)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The project and scopes of the unrevoked key with this hash.
    pub async fn grant_for_api_key_hash(&self, key_hash: &str) -> StoreResult<ApiKeyGrant> {
        Ok(sqlx::query_as::<_, ApiKeyGrant>(
            "SELECT p.id, p.name, p.create_time, p.update_time, p.app_name, k.scopes FROM api_keys k \
             JOIN projects p ON p.id = k.project_id \
             WHERE k.key_hash = $1 AND k.revoke_time IS NULL",
        )
        .bind(key_hash)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn list_api_keys(&self, project_id: &str) -> StoreResult<Vec<ApiKeyRow>> {
        Ok(sqlx::query_as::<_, ApiKeyRow>(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE project_id = $1 ORDER BY create_time, id"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// One unrevoked key of a project.
    pub async fn find_active_api_key(&self, project_id: &str, id: &str) -> StoreResult<ApiKeyRow> {
        Ok(sqlx::query_as::<_, ApiKeyRow>(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys \
             WHERE project_id = $1 AND id = $2 AND revoke_time IS NULL"
        ))
        .bind(project_id)
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn revoke_api_key(&self, project_id: &str, id: &str, now: i64) -> StoreResult<()> {
        require_row(
            sqlx::query(
                "UPDATE api_keys SET revoke_time = $1 \
             WHERE project_id = $2 AND id = $3 AND revoke_time IS NULL",
            )
            .bind(now)
            .bind(project_id)
            .bind(id)
            .execute(&self.writer)
            .await?,
        )
    }
}
