//! `grantd keys status|rotate`: which keys seal the stored secrets, and
//! re-sealing them under the active key.

use crate::domain::{Grantd, RotationProgress};
use crate::storage::SealedRows;
use serde_json::json;

/// Per key id: how many secrets it seals and in which tables, the active
/// key marked.
pub(super) fn print_key_status(active: &str, sealed: &[SealedRows], json: bool) {
    let mut keys: Vec<&str> = sealed.iter().map(|r| r.key_id.as_str()).collect();
    keys.dedup();
    if !keys.contains(&active) {
        keys.insert(0, active);
    }
    if json {
        let list: Vec<_> = keys
            .iter()
            .map(|key| {
                let tables: serde_json::Map<String, serde_json::Value> = sealed
                    .iter()
                    .filter(|r| r.key_id == *key)
                    .map(|r| (r.table.clone(), json!(r.count)))
                    .collect();
                let total: i64 = sealed
                    .iter()
                    .filter(|r| r.key_id == *key)
                    .map(|r| r.count)
                    .sum();
                json!({"keyId": key, "active": *key == active, "sealed": total, "tables": tables})
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return;
    }
    for key in keys {
        let rows: Vec<&SealedRows> = sealed.iter().filter(|r| r.key_id == key).collect();
        let total: i64 = rows.iter().map(|r| r.count).sum();
        let tables = rows
            .iter()
            .map(|r| format!("{}={}", r.table, r.count))
            .collect::<Vec<_>>()
            .join(" ");
        let mark = if key == active { " (active)" } else { "" };
        println!("{key}{mark}\t{total}\t{tables}");
    }
}

/// `grantd keys rotate`: a progress bar on a terminal, a summary at the
/// end, and a failure while anything is left under an older key.
pub(super) async fn rotate_keys(
    grantd: &Grantd,
    batch_size: usize,
    json: bool,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} secrets re-sealed ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut on_progress = |progress: RotationProgress| {
        if let Some(bar) = &bar {
            bar.set_length(progress.total);
            bar.set_position(progress.done);
        }
    };
    let summary = grantd.rotate_keys(batch_size, &mut on_progress).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let remaining: i64 = summary.remaining.iter().map(|r| r.count).sum();
    if json {
        println!(
            "{}",
            json!({
                "activeKeyId": summary.active_key_id,
                "resealed": summary.resealed,
                "changedMeanwhile": summary.changed_meanwhile,
                "unreadable": summary.unreadable,
                "remaining": remaining,
                "elapsedMs": summary.elapsed.as_millis() as u64,
                "rowsPerSecond": summary.rows_per_second().round(),
            })
        );
    } else {
        println!(
            "re-sealed {} secrets under key {} in {:.1}s ({:.0}/s); {} were rewritten meanwhile, {} do not open",
            summary.resealed,
            summary.active_key_id,
            summary.elapsed.as_secs_f64(),
            summary.rows_per_second(),
            summary.changed_meanwhile,
            summary.unreadable,
        );
    }
    if remaining > 0 {
        let keys: Vec<String> = summary
            .remaining
            .iter()
            .map(|r| format!("{} in {}: {}", r.key_id, r.table, r.count))
            .collect();
        anyhow::bail!(
            "{remaining} secrets are still sealed by older keys ({}): an instance whose \
             keyring does not list {} first is still sealing with an older key; update \
             every instance's keyring and run `grantd keys rotate` again",
            keys.join(", "),
            summary.active_key_id
        );
    }
    eprintln!(
        "every secret is sealed by {}: older keys may now be removed from the keyring",
        summary.active_key_id
    );
    Ok(())
}
