//! updateConnection's write: a connection's credentials, workspace and
//! metadata replaced in place, fenced on the credentials version read.

use super::columns::json_text;
use super::{Store, StoreResult};
use crate::vocab::{ConnectionStatus, ProviderMetadata, RefreshError};

/// The new state of a connection after an update.
#[derive(Debug)]
pub struct ConnectionUpdate {
    pub id: String,
    pub project_id: String,
    /// The credentials version the update was computed from; the write only
    /// happens if it is still the stored one.
    pub read_version: i64,
    pub provider_workspace_ref: Option<String>,
    pub provider_metadata: ProviderMetadata,
    pub scopes: Vec<String>,
    pub credentials_key_id: String,
    pub credentials_ciphertext: Vec<u8>,
    pub access_token_expires_at: Option<i64>,
    pub refresh_due_at: Option<i64>,
    pub status: ConnectionStatus,
    pub last_error: Option<RefreshError>,
    pub refresh_failures: i64,
    pub now: i64,
}

impl Store {
    /// Writes the update and bumps the credentials version, so that a
    /// refresh in flight with the old version does not store. `false`: the
    /// connection changed (or went) since it was read.
    pub async fn update_connection_in_place(&self, u: &ConnectionUpdate) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE connections SET provider_workspace_ref = $1, provider_metadata = $2, \
             scopes = $3, credentials_key_id = $4, credentials_ciphertext = $5, \
             access_token_expires_at = $6, refresh_due_at = $7, status = $8, last_error = $9, \
             refresh_failures = $10, update_time = $11, \
             credentials_version = credentials_version + 1 \
             WHERE id = $12 AND project_id = $13 AND credentials_version = $14",
        )
        .bind(&u.provider_workspace_ref)
        .bind(json_text(&u.provider_metadata))
        .bind(json_text(&u.scopes))
        .bind(&u.credentials_key_id)
        .bind(&u.credentials_ciphertext)
        .bind(u.access_token_expires_at)
        .bind(u.refresh_due_at)
        .bind(u.status.as_str())
        .bind(u.last_error.as_ref().map(json_text))
        .bind(u.refresh_failures)
        .bind(u.now)
        .bind(&u.id)
        .bind(&u.project_id)
        .bind(u.read_version)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
