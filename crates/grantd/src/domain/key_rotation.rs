//! Key rotation that ends: every sealed value is moved to the first key of
//! the keyring, while grantd serves, so the older keys can be removed.
//!
//! Each column is walked in row id order, in batches; each batch is read,
//! re-sealed in memory and written in one transaction where every row is
//! compare-and-swapped on the ciphertext it was read with. So a refresh (or
//! any update) that writes a row in between keeps what it wrote, a second
//! instance rotating at the same time only finds its writes already done,
//! and a rotation cut short (kill -9) leaves committed batches rotated and
//! is finished by running it again: it reads only values under older keys.

use super::audit::record::Actor;
use super::connections::records::credentials_aad;
use super::error::DomainResult;
use super::handle::Grantd;
use super::lifecycle::webhooks::secret_aad as webhook_secret_aad;
use super::oauth::connect::{authorize_url_aad, verifier_aad};
use super::provider_apps::secret_aad as provider_app_secret_aad;
use crate::secrets::Sealed;
use crate::storage::{Reseal, SealedColumn, SealedRows, SealedSecret, SealedValue, SEALED_VALUES};
use std::time::{Duration, Instant};

/// Passes over the store at most: values another writer sealed under an
/// older key during one pass are taken by the next.
const MAX_PASSES: usize = 3;

/// What a rotation has done so far.
#[derive(Debug, Default)]
struct Tally {
    resealed: u64,
    /// Written by someone else between our read and our write: left to them.
    changed_meanwhile: u64,
    /// Sealed under a key the keyring cannot open, or with other data.
    unreadable: u64,
}

impl Tally {
    fn handled(&self) -> u64 {
        self.resealed + self.changed_meanwhile + self.unreadable
    }
}

/// How far a rotation has come, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct RotationProgress {
    /// Values under older keys when the rotation started.
    pub total: u64,
    /// Values handled so far (re-sealed, changed meanwhile, or unreadable).
    pub done: u64,
}

/// What a rotation did. It holds counts and key ids only, never a secret.
#[derive(Debug, Clone)]
pub struct RotationSummary {
    /// The key everything was re-sealed under.
    pub active_key_id: String,
    /// Values re-sealed under the active key by this rotation.
    pub resealed: u64,
    /// Values a refresh or an update rewrote between read and write; the
    /// writer's value was kept.
    pub changed_meanwhile: u64,
    /// Values that did not open with the key they name (tampered, or
    /// copied to another row); left as they are and logged by row.
    pub unreadable: u64,
    /// Sealed values still under older keys afterwards, per key and table:
    /// empty when the older keys can be removed.
    pub remaining: Vec<SealedRows>,
    pub elapsed: Duration,
}

impl RotationSummary {
    /// Re-sealed values per second.
    pub fn rows_per_second(&self) -> f64 {
        self.resealed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The associated data a value was sealed with: the row and the secret.
fn associated_data(secret: SealedSecret, row_id: &str) -> String {
    match secret {
        SealedSecret::ProviderAppClientSecret => provider_app_secret_aad(row_id),
        SealedSecret::ConnectionCredentials => credentials_aad(row_id),
        SealedSecret::FlowCodeVerifier => verifier_aad(row_id),
        SealedSecret::FlowAuthorizeUrl => authorize_url_aad(row_id),
        SealedSecret::WebhookSecret => webhook_secret_aad(row_id),
    }
}

impl Grantd {
    /// The id of the key that seals new values (the keyring's first).
    pub fn active_key_id(&self) -> &str {
        self.cipher().active_key_id()
    }

    /// How many sealed values each key id seals, per table.
    pub async fn sealed_values_by_key(&self) -> DomainResult<Vec<SealedRows>> {
        Ok(self.store().sealed_rows_by_key().await?)
    }

    /// Re-seals every value under an older key with the active key, in
    /// batches of `batch_size`, calling `progress` after each batch.
    pub async fn rotate_keys(
        &self,
        batch_size: usize,
        progress: &mut dyn FnMut(RotationProgress),
    ) -> DomainResult<RotationSummary> {
        let started = Instant::now();
        let active = self.active_key_id().to_owned();
        let limit = batch_size.clamp(1, 10_000);
        let older = |rows: &[SealedRows]| -> u64 {
            rows.iter()
                .filter(|r| r.key_id != active)
                .map(|r| r.count as u64)
                .sum()
        };
        let mut state = RotationProgress {
            total: older(&self.sealed_values_by_key().await?),
            done: 0,
        };
        progress(state);
        let mut tally = Tally::default();
        let mut after_batch = |tally: &Tally| {
            state.done = tally.handled().min(state.total);
            progress(state);
        };
        for _ in 0..MAX_PASSES {
            let before = tally.resealed;
            for column in SEALED_VALUES {
                self.reseal_column(column, &active, limit, &mut tally, &mut after_batch)
                    .await?;
            }
            let left = older(&self.sealed_values_by_key().await?);
            if left <= tally.unreadable || tally.resealed == before {
                break;
            }
        }
        let remaining = self
            .sealed_values_by_key()
            .await?
            .into_iter()
            .filter(|r| r.key_id != active)
            .collect();
        let summary = RotationSummary {
            active_key_id: active,
            resealed: tally.resealed,
            changed_meanwhile: tally.changed_meanwhile,
            unreadable: tally.unreadable,
            remaining,
            elapsed: started.elapsed(),
        };
        self.key_rotation_finished(&summary).await?;
        Ok(summary)
    }

    /// One pass over a column: its values under older keys, in row id
    /// order, `limit` at a time, each batch written in one transaction.
    async fn reseal_column(
        &self,
        column: &SealedColumn,
        active: &str,
        limit: usize,
        tally: &mut Tally,
        after_batch: &mut dyn FnMut(&Tally),
    ) -> DomainResult<()> {
        let mut after = String::new();
        loop {
            let batch = self
                .store()
                .sealed_values_not_under(column, active, &after, limit as i64)
                .await?;
            let Some(last) = batch.last() else { break };
            after = last.row_id.clone();
            let fetched = batch.len();
            let reseals = self.reseal_batch(column, batch, tally);
            let written = self.store().reseal(column, &reseals).await?;
            tally.resealed += written;
            tally.changed_meanwhile += reseals.len() as u64 - written;
            after_batch(tally);
            if fetched < limit {
                break;
            }
        }
        Ok(())
    }

    /// Opens each value of a batch and seals it again under the active key;
    /// a value that does not open is counted and left as it is.
    fn reseal_batch(
        &self,
        column: &SealedColumn,
        batch: Vec<SealedValue>,
        tally: &mut Tally,
    ) -> Vec<Reseal> {
        let mut reseals = Vec::with_capacity(batch.len());
        for old in batch {
            let sealed = Sealed {
                key_id: old.key_id.clone(),
                bytes: old.bytes.clone(),
            };
            let aad = associated_data(column.secret, &old.row_id);
            match self.cipher().reseal(&sealed, &aad) {
                Ok(new) => reseals.push(Reseal {
                    old,
                    new_key_id: new.key_id,
                    new_bytes: new.bytes,
                }),
                Err(error) => {
                    tally.unreadable += 1;
                    tracing::warn!(
                        table = column.table,
                        row = %old.row_id,
                        key_id = %old.key_id,
                        %error,
                        "a sealed value does not open; left as it is"
                    );
                }
            }
        }
        reseals
    }

    /// Records a finished rotation in the log and, instance-wide, in the
    /// audit trail: key ids and counts only, never a secret.
    async fn key_rotation_finished(&self, summary: &RotationSummary) -> DomainResult<()> {
        let remaining: i64 = summary.remaining.iter().map(|r| r.count).sum();
        tracing::info!(
            active_key_id = %summary.active_key_id,
            resealed = summary.resealed,
            changed_meanwhile = summary.changed_meanwhile,
            unreadable = summary.unreadable,
            remaining,
            elapsed_ms = summary.elapsed.as_millis() as u64,
            "key rotation finished"
        );
        let remaining_by_key: Vec<serde_json::Value> = summary
            .remaining
            .iter()
            .map(|r| serde_json::json!({"keyId": r.key_id, "table": r.table, "count": r.count}))
            .collect();
        self.record_key_rotation(
            &Actor::cli(),
            serde_json::json!({
                "activeKeyId": summary.active_key_id,
                "resealed": summary.resealed,
                "changedMeanwhile": summary.changed_meanwhile,
                "unreadable": summary.unreadable,
                "remaining": remaining_by_key,
            }),
        )
        .await
    }
}
