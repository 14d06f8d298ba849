//! Which keyring keys the stored ciphertexts need, for the start-up check
//! that refuses to serve with a keyring that cannot open them.

use super::{Store, StoreResult};

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

/// How many sealed values of one table name one key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRows {
    pub key_id: String,
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
        let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
            "SELECT key_id, tbl, COUNT(*) FROM ({sealed}) sealed \
             GROUP BY key_id, tbl ORDER BY key_id, tbl"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(key_id, table, count)| SealedRows {
                key_id,
                table,
                count,
            })
            .collect())
    }
}
