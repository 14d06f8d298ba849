//! `grantd backup`: a consistent copy of a SQLite store, taken while grantd
//! serves. Apart because it is the one command that works on the store
//! without the domain.

use crate::app::open_existing_store;
use crate::config::Config;
use crate::storage::Backend;
use anyhow::Context;
use std::path::Path;

/// Writes the copy to `file`, which must not exist.
pub(super) async fn backup(config: &Config, file: &Path) -> anyhow::Result<()> {
    let store = open_existing_store(config).await?;
    if store.backend() != Backend::Sqlite {
        anyhow::bail!(
            "grantd backup copies a SQLite store; back up PostgreSQL with pg_dump \
             (see the README's Operations section)"
        );
    }
    if file.exists() {
        anyhow::bail!("{} exists already; name a new file", file.display());
    }
    let started = std::time::Instant::now();
    store
        .backup_into(file)
        .await
        .with_context(|| format!("writing the backup {}", file.display()))?;
    store.close().await;
    println!(
        "backup written to {} in {:.1}s; keep the keyring (GRANTD_ENCRYPTION_KEY or \
         the data directory's encryption.key) apart from it: it cannot be opened without it",
        file.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
