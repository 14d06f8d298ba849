//! The audit trail: an append-only record of every credential read and
//! every change to connections, provider apps, allowed origins, API keys,
//! JWT keys and the encryption key, with who, from where and in which
//! request. It answers "who read this token?".
//!
//! Two ways to write: [`Grantd::audit`] before an action takes effect
//! (credential reads: no record, no credentials) and
//! [`Grantd::audit_after_write`] after a change that is already committed,
//! where failing the request would only hide a change that happened; that
//! failure is logged and counted (`grantd_audit_write_failures_total`).

pub mod record;

use crate::domain::audit::record::{
    Actor, AuditAction, AuditEntry, AuditPage, AuditQuery, AuditRecord,
};
use crate::domain::error::{DomainError, DomainResult, FieldIssue, InputLocation};
use crate::domain::handle::Grantd;
use crate::domain::model::from_millis;
use crate::storage::{now_millis, AuditFilter, AuditRow};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Largest page of audit records.
const MAX_PAGE: i64 = 500;
const DEFAULT_PAGE: i64 = 100;

fn query_issue(name: &str, value: &str, detail: impl Into<String>) -> DomainError {
    DomainError::invalid(FieldIssue {
        location: InputLocation::Query,
        name: name.into(),
        value: value.into(),
        detail: detail.into(),
    })
}

/// A page token: the `(time, id)` of the last record shown, opaque to callers.
fn encode_token(time: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{time}:{id}"))
}

fn decode_token(token: &str) -> DomainResult<(i64, String)> {
    let invalid = || query_issue("pageToken", token, "not a page token this API returned");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (time, id) = text.split_once(':').ok_or_else(invalid)?;
    let time = time.parse::<i64>().map_err(|_| invalid())?;
    if id.is_empty() || id.len() > 64 {
        return Err(invalid());
    }
    Ok((time, id.to_owned()))
}

impl From<AuditRow> for AuditRecord {
    fn from(row: AuditRow) -> Self {
        AuditRecord {
            id: row.id,
            project_id: row.project_id,
            time: from_millis(row.occurred_at),
            action: row.action,
            connection_id: row.connection_id,
            target_id: row.target_id,
            caller_kind: row.caller_kind,
            caller_id: row.caller_id,
            caller_subject: row.caller_subject,
            client_address: row.client_address,
            request_id: row.request_id,
            detail: serde_json::from_str(&row.detail).unwrap_or_default(),
        }
    }
}

impl Grantd {
    /// Records an action and returns once the record is committed; an
    /// error means there is no record, and the caller must not go on.
    pub async fn audit(&self, actor: &Actor, entry: AuditEntry<'_>) -> DomainResult<()> {
        let (caller_kind, caller_id, caller_subject) = actor.parts();
        let row = AuditRow {
            id: uuid::Uuid::now_v7().to_string(),
            project_id: entry.project_id.map(str::to_owned),
            occurred_at: now_millis(),
            action: entry.action.as_str().to_owned(),
            connection_id: entry.connection_id.map(str::to_owned),
            target_id: entry.target_id.map(str::to_owned),
            caller_kind: caller_kind.to_owned(),
            caller_id,
            caller_subject,
            client_address: actor.client_address.clone(),
            request_id: actor.request_id.clone(),
            detail: entry.detail.to_string(),
        };
        match self.store().insert_audit_record(row).await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.metrics().audit_write_failed();
                tracing::error!(%error, action = entry.action.as_str(), "could not write an audit record");
                Err(error.into())
            }
        }
    }

    /// Records a change already committed: a failure is logged and
    /// counted, not returned (the change happened either way).
    pub(in crate::domain) async fn audit_after_write(&self, actor: &Actor, entry: AuditEntry<'_>) {
        // `audit` logs and counts the failure.
        let _ = self.audit(actor, entry).await;
    }

    /// For key rotation: records that secrets were re-sealed under a new
    /// key (instance-wide, so in no project). `detail` names key ids and
    /// counts, never key material.
    pub async fn record_key_rotation(
        &self,
        actor: &Actor,
        detail: serde_json::Value,
    ) -> DomainResult<()> {
        self.audit(
            actor,
            AuditEntry {
                action: AuditAction::EncryptionKeyRotate,
                project_id: None,
                connection_id: None,
                target_id: None,
                detail,
            },
        )
        .await
    }

    /// A page of audit records, newest first: one project's, or with
    /// `project_id` `None` (the CLI) every project's and the instance-wide ones.
    pub async fn list_audit(
        &self,
        project_id: Option<&str>,
        query: AuditQuery,
    ) -> DomainResult<AuditPage> {
        let limit = match query.page_size {
            None => DEFAULT_PAGE,
            Some(n) if (1..=MAX_PAGE).contains(&n) => n,
            Some(n) => {
                return Err(query_issue(
                    "pageSize",
                    &n.to_string(),
                    format!("pageSize must be between 1 and {MAX_PAGE}"),
                ))
            }
        };
        if let Some(action) = &query.action {
            if AuditAction::parse(action).is_none() {
                let known: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
                return Err(query_issue(
                    "action",
                    action,
                    format!("action is one of {}", known.join(", ")),
                ));
            }
        }
        let before = query.page_token.as_deref().map(decode_token).transpose()?;
        let filter = AuditFilter {
            project_id: project_id.map(str::to_owned),
            connection_id: query.connection_id,
            caller_id: query.caller_id,
            action: query.action,
            since: query.since.map(|t| t.timestamp_millis()),
            until: query.until.map(|t| t.timestamp_millis()),
            before,
            // One more than asked: whether a next page exists.
            limit: limit + 1,
        };
        let mut rows = self.store().list_audit_records(&filter).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_page_token = more
            .then(|| {
                rows.last()
                    .map(|last| encode_token(last.occurred_at, &last.id))
            })
            .flatten();
        Ok(AuditPage {
            records: rows.into_iter().map(AuditRecord::from).collect(),
            next_page_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_token_round_trips_and_garbage_is_a_400_naming_it() {
        let token = encode_token(1_700_000_000_000, "0193-abc");
        assert_eq!(
            decode_token(&token).unwrap(),
            (1_700_000_000_000, "0193-abc".to_owned())
        );
        for bad in [
            "",
            "!!!",
            &URL_SAFE_NO_PAD.encode("nocolon"),
            &URL_SAFE_NO_PAD.encode("x:id"),
        ] {
            match decode_token(bad) {
                Err(DomainError::Validation(issues)) => assert_eq!(issues[0].name, "pageToken"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn every_action_name_parses_back() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
    }
}
