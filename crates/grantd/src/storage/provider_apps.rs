use super::columns::{json_text, row_from_columns};
use super::{require_row, Store, StoreError, StoreResult};
use sqlx::AnyConnection;

const COLUMNS: &str = "id, project_id, provider, external_ref, client_id, client_secret_key_id, \
     client_secret_ciphertext, scopes, is_default, create_time, update_time, metadata";

#[derive(Debug, Clone)]
pub struct ProviderAppRow {
    pub id: String,
    pub project_id: String,
    pub provider: String,
    pub external_ref: Option<String>,
    pub client_id: String,
    pub client_secret_key_id: String,
    pub client_secret_ciphertext: Vec<u8>,
    /// Stored as a JSON array of scope strings.
    pub scopes: Vec<String>,
    /// 1 or 0: an integer on both backends.
    pub is_default: i64,
    pub create_time: i64,
    pub update_time: i64,
    /// JSON object: Ampersand's ProviderAppMetadata.
    pub metadata: String,
}

pub type NewProviderApp = ProviderAppRow;

row_from_columns!(ProviderAppRow in "provider_apps" {
    id: get, project_id: get, provider: get, external_ref: get, client_id: get,
    client_secret_key_id: get, client_secret_ciphertext: get, scopes: json, is_default: get,
    create_time: get, update_time: get, metadata: get,
});

/// A partial update; `None` leaves the column as it is.
#[derive(Debug, Default)]
pub struct ProviderAppUpdate {
    pub external_ref: Option<Option<String>>,
    pub client_id: Option<String>,
    pub client_secret: Option<(String, Vec<u8>)>,
    pub scopes: Option<Vec<String>>,
    /// JSON object text, as the row holds it.
    pub metadata: Option<String>,
    pub make_default: bool,
    pub update_time: i64,
}

impl Store {
    /// Inserts an app; when it is the default, the previous default of its
    /// provider stops being one in the same transaction.
    pub async fn insert_provider_app(&self, app: &NewProviderApp) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        if app.is_default != 0 {
            sqlx::query(
                "UPDATE provider_apps SET is_default = 0 WHERE project_id = $1 AND provider = $2 AND is_default = 1",
            )
            .bind(&app.project_id)
            .bind(&app.provider)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(&format!(
            "INSERT INTO provider_apps ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&app.id)
        .bind(&app.project_id)
        .bind(&app.provider)
        .bind(&app.external_ref)
        .bind(&app.client_id)
        .bind(&app.client_secret_key_id)
        .bind(&app.client_secret_ciphertext)
        .bind(json_text(&app.scopes))
        .bind(app.is_default)
        .bind(app.create_time)
        .bind(app.update_time)
        .bind(&app.metadata)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn count_provider_apps(&self, project_id: &str, provider: &str) -> StoreResult<i64> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM provider_apps WHERE project_id = $1 AND provider = $2",
        )
        .bind(project_id)
        .bind(provider)
        .fetch_one(&self.pool)
        .await?;
        Ok(count)
    }

    pub async fn find_provider_app(
        &self,
        project_id: &str,
        id: &str,
    ) -> StoreResult<ProviderAppRow> {
        Ok(sqlx::query_as::<_, ProviderAppRow>(&format!(
            "SELECT {COLUMNS} FROM provider_apps WHERE project_id = $1 AND id = $2"
        ))
        .bind(project_id)
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn find_default_provider_app(
        &self,
        project_id: &str,
        provider: &str,
    ) -> StoreResult<ProviderAppRow> {
        Ok(sqlx::query_as::<_, ProviderAppRow>(&format!(
            "SELECT {COLUMNS} FROM provider_apps WHERE project_id = $1 AND provider = $2 AND is_default = 1"
        ))
        .bind(project_id)
        .bind(provider)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn list_provider_apps(&self, project_id: &str) -> StoreResult<Vec<ProviderAppRow>> {
        Ok(sqlx::query_as::<_, ProviderAppRow>(&format!(
            "SELECT {COLUMNS} FROM provider_apps WHERE project_id = $1 ORDER BY create_time, id"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Applies a partial update and returns the row as it now stands.
    pub async fn update_provider_app(
        &self,
        project_id: &str,
        id: &str,
        update: ProviderAppUpdate,
    ) -> StoreResult<ProviderAppRow> {
        let mut tx = self.writer.begin().await?;
        let touched = sqlx::query(
            "UPDATE provider_apps SET update_time = $1 WHERE project_id = $2 AND id = $3",
        )
        .bind(update.update_time)
        .bind(project_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if touched.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        set_columns(&mut tx, id, &update).await?;
        if update.make_default {
            make_default(&mut tx, project_id, id).await?;
        }
        let row = sqlx::query_as::<_, ProviderAppRow>(&format!(
            "SELECT {COLUMNS} FROM provider_apps WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn delete_provider_app(&self, project_id: &str, id: &str) -> StoreResult<()> {
        require_row(
            sqlx::query("DELETE FROM provider_apps WHERE project_id = $1 AND id = $2")
                .bind(project_id)
                .bind(id)
                .execute(&self.writer)
                .await?,
        )
    }
}

/// The columns a partial update names, each set in the update's transaction.
async fn set_columns(
    conn: &mut AnyConnection,
    id: &str,
    update: &ProviderAppUpdate,
) -> StoreResult<()> {
    if let Some(external_ref) = &update.external_ref {
        set_column(conn, "external_ref", external_ref, id).await?;
    }
    if let Some(client_id) = &update.client_id {
        set_column(conn, "client_id", client_id, id).await?;
    }
    if let Some((key_id, ciphertext)) = &update.client_secret {
        sqlx::query(
            "UPDATE provider_apps SET client_secret_key_id = $1, client_secret_ciphertext = $2 WHERE id = $3",
        )
        .bind(key_id)
        .bind(ciphertext)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(scopes) = &update.scopes {
        set_column(conn, "scopes", json_text(scopes), id).await?;
    }
    if let Some(metadata) = &update.metadata {
        set_column(conn, "metadata", metadata, id).await?;
    }
    Ok(())
}

/// `UPDATE provider_apps SET {column} = $1 WHERE id = $2`; `column` is one
/// of [`set_columns`]' names, never caller text.
async fn set_column<T>(
    conn: &mut AnyConnection,
    column: &'static str,
    value: T,
    id: &str,
) -> StoreResult<()>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Send,
{
    sqlx::query(&format!(
        "UPDATE provider_apps SET {column} = $1 WHERE id = $2"
    ))
    .bind(value)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes the app its provider's default.
async fn make_default(conn: &mut AnyConnection, project_id: &str, id: &str) -> StoreResult<()> {
    // Clear the old default before setting the new one: the unique
    // index on defaults is checked row by row.
    sqlx::query(
        "UPDATE provider_apps SET is_default = 0 \
             WHERE project_id = $1 AND is_default = 1 AND id <> $2 \
             AND provider = (SELECT provider FROM provider_apps WHERE id = $2)",
    )
    .bind(project_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE provider_apps SET is_default = 1 WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
