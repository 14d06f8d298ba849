use super::columns::{json_text, row_from_columns};
use super::{Store, StoreResult};
use crate::vocab::SessionResultStatus;

/// One connect session, keyed by id and looked up by the SHA-256 of its token.
#[derive(Debug, Clone)]
pub struct ConnectSessionRow {
    pub id: String,
    pub project_id: String,
    pub token_hash: String,
    /// Stored as a JSON array of provider names.
    pub providers: Vec<String>,
    pub group_ref: String,
    pub group_name: Option<String>,
    pub consumer_ref: String,
    pub consumer_name: Option<String>,
    pub connection_id: Option<String>,
    pub return_url: Option<String>,
    pub parent_origin: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub provider: Option<String>,
    pub result_status: Option<SessionResultStatus>,
    pub result_connection_id: Option<String>,
    pub result_error: Option<String>,
    pub result_error_description: Option<String>,
    pub finished_at: Option<i64>,
}

row_from_columns!(ConnectSessionRow in "connect_sessions" {
    id: get, project_id: get, token_hash: get, providers: json, group_ref: get, group_name: get,
    consumer_ref: get, consumer_name: get, connection_id: get, return_url: get,
    parent_origin: get, created_at: get, expires_at: get, consumed_at: get, provider: get,
    result_status: parse_opt, result_connection_id: get, result_error: get,
    result_error_description: get, finished_at: get,
});

/// How a session's flow ended, as the callback saw it.
#[derive(Debug, Clone)]
pub struct SessionResult<'a> {
    pub status: SessionResultStatus,
    pub connection_id: Option<&'a str>,
    pub error: Option<&'a str>,
    pub error_description: Option<&'a str>,
    pub now: i64,
}

const COLUMNS: &str = "id, project_id, token_hash, providers, group_ref, group_name, consumer_ref, \
     consumer_name, connection_id, return_url, parent_origin, created_at, expires_at, consumed_at, \
     provider, result_status, result_connection_id, result_error, result_error_description, finished_at";

impl Store {
    pub async fn insert_connect_session(&self, row: &ConnectSessionRow) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO connect_sessions ({COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        ))
        .bind(&row.id)
        .bind(&row.project_id)
        .bind(&row.token_hash)
        .bind(json_text(&row.providers))
        .bind(&row.group_ref)
        .bind(&row.group_name)
        .bind(&row.consumer_ref)
        .bind(&row.consumer_name)
        .bind(&row.connection_id)
        .bind(&row.return_url)
        .bind(&row.parent_origin)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(row.consumed_at)
        .bind(&row.provider)
        .bind(row.result_status.map(SessionResultStatus::as_str))
        .bind(&row.result_connection_id)
        .bind(&row.result_error)
        .bind(&row.result_error_description)
        .bind(row.finished_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The session a token opens, expired or not (the domain decides).
    pub async fn find_connect_session_by_token(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<ConnectSessionRow>> {
        Ok(sqlx::query_as::<_, ConnectSessionRow>(&format!(
            "SELECT {COLUMNS} FROM connect_sessions WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn find_connect_session(
        &self,
        project_id: &str,
        id: &str,
    ) -> StoreResult<ConnectSessionRow> {
        Ok(sqlx::query_as::<_, ConnectSessionRow>(&format!(
            "SELECT {COLUMNS} FROM connect_sessions WHERE project_id = $1 AND id = $2"
        ))
        .bind(project_id)
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn find_connect_session_by_id(&self, id: &str) -> StoreResult<ConnectSessionRow> {
        Ok(sqlx::query_as::<_, ConnectSessionRow>(&format!(
            "SELECT {COLUMNS} FROM connect_sessions WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Marks an unexpired, unused session used for `provider`, in one
    /// statement: of two starts racing with one token exactly one wins.
    /// The session then lives at least until `keep_until`, so the page can
    /// read the result of the flow it started. `false`: it was used or expired.
    pub async fn consume_connect_session(
        &self,
        id: &str,
        provider: &str,
        now: i64,
        keep_until: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE connect_sessions SET consumed_at = $1, provider = $2, \
               expires_at = CASE WHEN expires_at > $3 THEN expires_at ELSE $3 END \
             WHERE id = $4 AND consumed_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(provider)
        .bind(keep_until)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Undoes `consume_connect_session` when the flow could not be recorded,
    /// so that the person can try again with the same link.
    pub async fn release_connect_session(&self, id: &str, expires_at: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE connect_sessions SET consumed_at = NULL, provider = NULL, expires_at = $1 \
             WHERE id = $2 AND result_status IS NULL",
        )
        .bind(expires_at)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Records how the session's flow ended; the first result stays.
    pub async fn record_connect_session_result(
        &self,
        id: &str,
        result: &SessionResult<'_>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE connect_sessions SET result_status = $1, result_connection_id = $2, \
               result_error = $3, result_error_description = $4, finished_at = $5 \
             WHERE id = $6 AND result_status IS NULL",
        )
        .bind(result.status.as_str())
        .bind(result.connection_id)
        .bind(result.error)
        .bind(result.error_description)
        .bind(result.now)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Deletes sessions that expired before `cutoff`; returns how many.
    pub async fn purge_connect_sessions(&self, cutoff: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM connect_sessions WHERE expires_at < $1")
            .bind(cutoff)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    /// A project's allowed origins, sorted.
    pub async fn list_allowed_origins(&self, project_id: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT origin FROM project_allowed_origins WHERE project_id = $1 ORDER BY origin",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(origin,)| origin).collect())
    }

    /// Whether one project allows `origin`.
    pub async fn project_allows_origin(&self, project_id: &str, origin: &str) -> StoreResult<bool> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT origin FROM project_allowed_origins WHERE project_id = $1 AND origin = $2",
        )
        .bind(project_id)
        .bind(origin)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Whether any project allows `origin`.
    pub async fn any_project_allows_origin(&self, origin: &str) -> StoreResult<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT origin FROM project_allowed_origins WHERE origin = $1 LIMIT 1")
                .bind(origin)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Replaces a project's allowed origins with `origins`, in one transaction.
    pub async fn replace_allowed_origins(
        &self,
        project_id: &str,
        origins: &[String],
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM project_allowed_origins WHERE project_id = $1")
            .bind(project_id)
            .execute(&mut *tx)
            .await?;
        for origin in origins {
            sqlx::query(
                "INSERT INTO project_allowed_origins (project_id, origin, created_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(project_id)
            .bind(origin)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
