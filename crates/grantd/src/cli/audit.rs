//! `grantd audit`: the audit trail on a terminal or as JSON lines.

use super::project;
use crate::domain::{AuditQuery, AuditRecord, Grantd};
use clap::Args;
use serde_json::json;

#[derive(Debug, Args)]
pub(super) struct AuditArgs {
    /// Only this project's records; without it, every project's and the
    /// instance-wide ones (key rotation).
    #[arg(long)]
    pub(super) project: Option<String>,
    /// Only records about this connection.
    #[arg(long)]
    pub(super) connection: Option<String>,
    /// Only records of this caller: an API key id or a JWT kid.
    #[arg(long)]
    pub(super) caller: Option<String>,
    /// Only this action, e.g. credentials.read.
    #[arg(long)]
    pub(super) action: Option<String>,
    /// Records at or after this time (RFC 3339).
    #[arg(long)]
    pub(super) since: Option<chrono::DateTime<chrono::Utc>>,
    /// Records before this time (RFC 3339).
    #[arg(long)]
    pub(super) until: Option<chrono::DateTime<chrono::Utc>>,
    /// Most records printed.
    #[arg(long, default_value_t = 100)]
    pub(super) limit: usize,
    /// One JSON object per line, as the API shows them.
    #[arg(long)]
    pub(super) json: bool,
}

/// `grantd audit`: pages through the trail until `limit` records are shown.
pub(super) async fn print_audit(grantd: &Grantd, args: AuditArgs) -> anyhow::Result<()> {
    let project_id = match &args.project {
        Some(p) => Some(project(grantd, p).await?.id),
        None => None,
    };
    let mut shown = 0;
    let mut page_token = None;
    while shown < args.limit {
        let page = grantd
            .list_audit(
                project_id.as_deref(),
                AuditQuery {
                    connection_id: args.connection.clone(),
                    caller_id: args.caller.clone(),
                    action: args.action.clone(),
                    since: args.since,
                    until: args.until,
                    page_size: Some((args.limit - shown).min(500) as i64),
                    page_token: page_token.take(),
                },
            )
            .await?;
        for record in &page.records {
            if args.json {
                println!("{}", audit_json(record));
            } else {
                let caller = match (&record.caller_id, &record.caller_subject) {
                    (Some(id), Some(sub)) => format!("{}:{id}:{sub}", record.caller_type()),
                    (Some(id), None) => format!("{}:{id}", record.caller_type()),
                    _ => record.caller_type().to_owned(),
                };
                let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    record
                        .time
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    dash(&record.project_id),
                    record.action,
                    caller,
                    dash(&record.connection_id.clone().or(record.target_id.clone())),
                    dash(&record.client_address),
                    dash(&record.request_id),
                    record.detail
                );
            }
        }
        shown += page.records.len();
        match page.next_page_token {
            Some(token) => page_token = Some(token),
            None => break,
        }
    }
    Ok(())
}

pub(super) fn audit_json(record: &AuditRecord) -> serde_json::Value {
    json!({
        "id": record.id,
        "projectId": record.project_id,
        "time": record.time,
        "action": record.action,
        "connectionId": record.connection_id,
        "targetId": record.target_id,
        "caller": {
            "type": record.caller_type(),
            "id": record.caller_id,
            "subject": record.caller_subject,
        },
        "clientAddress": record.client_address,
        "requestId": record.request_id,
        "detail": record.detail,
    })
}
