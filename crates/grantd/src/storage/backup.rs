//! `grantd backup`: a consistent copy of the SQLite store, taken while
//! grantd serves.

use super::{create_private_file, Store, StoreError, StoreResult};
use std::path::Path;

impl Store {
    /// Writes a consistent copy of the SQLite database to `path` (which
    /// must not exist) with `VACUUM INTO`: it reads one snapshot, a read
    /// transaction that in WAL mode blocks no writer, and the copy is a
    /// plain database file with no `-wal` beside it. The file is created
    /// readable by its owner only: it holds the sealed secrets and the API
    /// key hashes. PostgreSQL is backed up with its own tools (README).
    pub async fn backup_into(&self, path: &Path) -> StoreResult<()> {
        let io = |e: std::io::Error| StoreError::Unavailable(e.into());
        let target = path.to_str().ok_or_else(|| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the backup path is not UTF-8",
            ))
        })?;
        create_private_file(path).map_err(io)?;
        // On the writer pool: the readers are query_only, which refuses
        // VACUUM. It writes only the new file, so it holds no write lock.
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.writer)
            .await;
        if let Err(error) = copied {
            let _ = std::fs::remove_file(path);
            return Err(error.into());
        }
        Ok(())
    }
}
