//! `grantd catalog check`: a providers file linted as grantd would load it.

use crate::domain::catalog::{self, UrlPolicy};
use std::path::PathBuf;

/// `grantd catalog check`: each file alone, then its names against the
/// shipped files other than its own namesake.
pub(super) fn check_catalog_files(files: &[PathBuf]) -> anyhow::Result<()> {
    for path in files {
        let entries = catalog::parse_file(path, UrlPolicy::HttpsOnly)?;
        let own_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        for (file, text) in catalog::BUILTIN_FILES {
            if *file == own_name {
                continue;
            }
            let shipped = catalog::parse(text, file, UrlPolicy::HttpsOnly)?;
            if let Some(name) = entries.keys().find(|name| shipped.contains_key(*name)) {
                anyhow::bail!(
                    "{}: provider {name} is already defined in {file}",
                    path.display()
                );
            }
        }
        let checked = entries.values().filter(|p| !p.sources.is_empty()).count();
        println!(
            "ok: {} providers in {} ({checked} with sources)",
            entries.len(),
            path.display()
        );
    }
    Ok(())
}
