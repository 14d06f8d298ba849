//! Which keyring keys the stored ciphertexts need, for the start-up check
//! that refuses to serve with a keyring that cannot open them, and the
//! reads and compare-and-swap writes key rotation re-seals them with.

use super::{Store, StoreResult};
use sqlx::Connection;

/// Every sealed column of the schema, as (table, column naming the key).
/// A migration that adds a sealed column adds it here too; a test compares
/// this list with the schema.
pub const SEALED_COLUMNS: &[(&str, &str)] = &[
    ("provider_apps", "client_secret_key_id"),
    ("connections", "credentials_key_id"),
    ("oauth_flows", "code_verifier_key_id"),
    ("oauth_flows", "authorize_url_key_id"),
    ("webhook_endpoints", "secret_key_id"),
];

/// What a sealed value is bound to: its associated data names the row and
/// the secret, so re-sealing needs to know which of them it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedSecret {
    ProviderAppClientSecret,
    ConnectionCredentials,
    FlowCodeVerifier,
    FlowAuthorizeUrl,
    WebhookSecret,
}

/// Where one kind of sealed value lives.
#[derive(Debug, Clone, Copy)]
pub struct SealedColumn {
    pub secret: SealedSecret,
    pub table: &'static str,
    /// The primary key, from which the associated data is built.
    pub row_id: &'static str,
    pub key_id: &'static str,
    pub ciphertext: &'static str,
}

/// Every sealed value of the schema, in the order of [`SEALED_COLUMNS`].
pub const SEALED_VALUES: &[SealedColumn] = &[
    SealedColumn {
        secret: SealedSecret::ProviderAppClientSecret,
        table: "provider_apps",
        row_id: "id",
        key_id: "client_secret_key_id",
        ciphertext: "client_secret_ciphertext",
    },
    SealedColumn {
        secret: SealedSecret::ConnectionCredentials,
        table: "connections",
        row_id: "id",
        key_id: "credentials_key_id",
        ciphertext: "credentials_ciphertext",
    },
    SealedColumn {
        secret: SealedSecret::FlowCodeVerifier,
        table: "oauth_flows",
        row_id: "state_hash",
        key_id: "code_verifier_key_id",
        ciphertext: "code_verifier_ciphertext",
    },
    SealedColumn {
        secret: SealedSecret::FlowAuthorizeUrl,
        table: "oauth_flows",
        row_id: "state_hash",
        key_id: "authorize_url_key_id",
        ciphertext: "authorize_url_ciphertext",
    },
    SealedColumn {
        secret: SealedSecret::WebhookSecret,
        table: "webhook_endpoints",
        row_id: "id",
        key_id: "secret_key_id",
        ciphertext: "secret_ciphertext",
    },
];

/// One stored ciphertext with the row it belongs to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedValue {
    pub row_id: String,
    pub key_id: String,
    pub bytes: Vec<u8>,
}

/// A re-sealed value to write if the row still holds `old`.
#[derive(Debug, Clone)]
pub struct Reseal {
    pub old: SealedValue,
    pub new_key_id: String,
    pub new_bytes: Vec<u8>,
}

/// How many sealed values of one table name one key id.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SealedRows {
    pub key_id: String,
    #[sqlx(rename = "tbl")]
    pub table: String,
    pub count: i64,
}

impl Store {
    /// Counts the sealed values per key id and table (a table with two
    /// sealed columns counts each value), ordered by key id then table.
    pub async fn sealed_rows_by_key(&self) -> StoreResult<Vec<SealedRows>> {
        let sealed = SEALED_COLUMNS
            .iter()
            .map(|(table, column)| {
                format!(
                    "SELECT {column} AS key_id, CAST('{table}' AS TEXT) AS tbl FROM {table} \
                     WHERE {column} IS NOT NULL"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        Ok(sqlx::query_as::<_, SealedRows>(&format!(
            "SELECT key_id, tbl, COUNT(*) AS count FROM ({sealed}) sealed \
             GROUP BY key_id, tbl ORDER BY key_id, tbl"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Up to `limit` values of `column` sealed by a key other than
    /// `active_key_id`, with row ids after `after`, in row id order: a
    /// rotation walks each column once, and a rerun after a crash finds
    /// only what is left.
    pub async fn sealed_values_not_under(
        &self,
        column: &SealedColumn,
        active_key_id: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<SealedValue>> {
        let SealedColumn {
            table,
            row_id,
            key_id,
            ciphertext,
            ..
        } = column;
        Ok(sqlx::query_as::<_, SealedValue>(&format!(
            "SELECT {row_id} AS row_id, {key_id} AS key_id, {ciphertext} AS bytes FROM {table} \
             WHERE {key_id} IS NOT NULL AND {ciphertext} IS NOT NULL \
             AND {key_id} <> $1 AND {row_id} > $2 ORDER BY {row_id} LIMIT $3"
        ))
        .bind(active_key_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Writes re-sealed values in one transaction, each only if its row
    /// still holds the ciphertext it was read with: a refresh or update
    /// that wrote in between keeps its value. Nothing else of the row
    /// changes (not its version), so writers fenced on it are not disturbed.
    /// Returns how many were written.
    pub async fn reseal(&self, column: &SealedColumn, values: &[Reseal]) -> StoreResult<u64> {
        let SealedColumn {
            table,
            row_id,
            key_id,
            ciphertext,
            ..
        } = column;
        let statement = format!(
            "UPDATE {table} SET {key_id} = $1, {ciphertext} = $2 \
             WHERE {row_id} = $3 AND {key_id} = $4 AND {ciphertext} = $5"
        );
        let mut conn = self.writer.acquire().await?;
        let mut tx = conn.begin().await?;
        let mut written = 0;
        for value in values {
            written += sqlx::query(&statement)
                .bind(&value.new_key_id)
                .bind(&value.new_bytes)
                .bind(&value.old.row_id)
                .bind(&value.old.key_id)
                .bind(&value.old.bytes)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rotation_list_names_every_sealed_column_the_startup_check_counts() {
        let rotated: Vec<(&str, &str)> =
            SEALED_VALUES.iter().map(|c| (c.table, c.key_id)).collect();
        assert_eq!(rotated, SEALED_COLUMNS);
    }
}
