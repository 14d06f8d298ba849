//! Connection events: what happened to a connection, kept as a log per
//! project and fanned out to the project's webhook endpoints.
//!
//! Events carry identifiers and states only, never credentials: they are
//! shown in the event log and POSTed to URLs outside grantd.

use crate::domain::error::{DomainError, DomainResult, FieldIssue, InputLocation};
use crate::domain::handle::Grantd;
use crate::domain::model::{from_millis, ConnectionStatus, Timestamp};
use crate::storage::{now_millis, EventRow, NewEvent};
use serde_json::{json, Value};

/// What happened to a connection. The wire name (`as_str`) is the event's
/// `type` and what webhook endpoints subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A new connection was stored (OAuth callback or `connections:generate`).
    Created,
    /// Its access token was refreshed.
    Refreshed,
    /// A refresh failed.
    RefreshFailed,
    /// The user re-authorized it in place (`:oauth-update`).
    Reauthorized,
    /// Its credentials, workspace or metadata were changed in place
    /// (updateConnection); data carries the `updateMask`.
    Updated,
    /// Its status changed (data carries `oldStatus` and `newStatus`).
    StatusChanged,
    /// It was deleted.
    Deleted,
}

impl EventKind {
    /// Whether the set of a group's connections changed: a connection came
    /// or went.
    pub fn changes_membership(self) -> bool {
        matches!(self, EventKind::Created | EventKind::Deleted)
    }

    /// Every kind, in documentation order.
    pub const ALL: [EventKind; 7] = [
        EventKind::Created,
        EventKind::Refreshed,
        EventKind::RefreshFailed,
        EventKind::Reauthorized,
        EventKind::Updated,
        EventKind::StatusChanged,
        EventKind::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "connection.created",
            EventKind::Refreshed => "connection.refreshed",
            EventKind::RefreshFailed => "connection.refresh_failed",
            EventKind::Reauthorized => "connection.reauthorized",
            EventKind::Updated => "connection.updated",
            EventKind::StatusChanged => "connection.status_changed",
            EventKind::Deleted => "connection.deleted",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }
}

/// One entry of a project's event log.
#[derive(Debug, Clone)]
pub struct ConnectionEvent {
    pub id: String,
    pub project_id: String,
    pub connection_id: String,
    /// The wire name; kept as stored so that an older binary still shows
    /// kinds added by a newer one.
    pub kind: String,
    pub data: Value,
    pub created_at: Timestamp,
}

impl From<EventRow> for ConnectionEvent {
    fn from(row: EventRow) -> Self {
        ConnectionEvent {
            data: serde_json::from_str(&row.data).unwrap_or_else(|_| json!({})),
            id: row.id,
            project_id: row.project_id,
            connection_id: row.connection_id,
            kind: row.kind,
            created_at: from_millis(row.created_at),
        }
    }
}

/// The `data` every connection event carries: which connection, of which
/// provider, for which group and consumer. Identifiers only, so the object
/// is safe to log and to send to webhook receivers.
pub fn connection_event_data(
    connection_id: &str,
    provider: &str,
    group_ref: &str,
    consumer_ref: &str,
) -> Value {
    json!({
        "connectionId": connection_id,
        "provider": provider,
        "groupRef": group_ref,
        "consumerRef": consumer_ref,
    })
}

/// Adds `oldStatus` and `newStatus` to an event's data, for
/// `connection.status_changed`.
pub fn with_status_change(mut data: Value, old: ConnectionStatus, new: ConnectionStatus) -> Value {
    if let Value::Object(map) = &mut data {
        map.insert("oldStatus".into(), old.as_str().into());
        map.insert("newStatus".into(), new.as_str().into());
    }
    data
}

/// Page size of the event log and delivery logs when none is asked for.
pub const DEFAULT_PAGE: i64 = 100;
/// Largest page of the event log and delivery logs.
pub const MAX_PAGE: i64 = 500;

/// The `limit` query parameter of a log listing, checked: a value out of
/// range is the caller's mistake, reported rather than silently clamped.
pub(in crate::domain) fn page_limit(limit: Option<i64>) -> DomainResult<i64> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(DomainError::invalid(FieldIssue {
            location: InputLocation::Query,
            name: "limit".into(),
            value: n.into(),
            detail: format!("limit must be between 1 and {MAX_PAGE}"),
        })),
    }
}

/// An event about a connection, ready to store.
pub(in crate::domain) fn new_event(
    project_id: &str,
    connection_id: &str,
    kind: EventKind,
    data: Value,
) -> NewEvent {
    NewEvent {
        id: uuid::Uuid::now_v7().to_string(),
        project_id: project_id.to_owned(),
        connection_id: connection_id.to_owned(),
        kind: kind.as_str().to_owned(),
        data: data.to_string(),
        created_at: now_millis(),
    }
}

impl Grantd {
    /// Stores an event and, in the same transaction, enqueues its delivery
    /// to every webhook endpoint of the project subscribed to `kind`; then
    /// wakes the delivery worker. `data` should be a JSON object without
    /// secrets (see [`connection_event_data`]).
    pub async fn record_event(
        &self,
        project_id: &str,
        connection_id: &str,
        kind: EventKind,
        data: Value,
    ) -> DomainResult<()> {
        // The connection's write has happened: what the proxy remembers of
        // it is out of date even if storing the event fails.
        self.inner
            .proxy
            .connections
            .forget(connection_id, kind.changes_membership());
        let event = new_event(project_id, connection_id, kind, data);
        let enqueued = self.store().insert_event(event.clone()).await?;
        self.event_recorded(&event, enqueued);
        Ok(())
    }

    /// After an event was stored with `enqueued` deliveries: wakes the
    /// delivery worker if there is work for it.
    pub(in crate::domain) fn event_recorded(&self, event: &NewEvent, enqueued: usize) {
        tracing::debug!(event_id = %event.id, kind = %event.kind, connection_id = %event.connection_id, enqueued, "connection event recorded");
        if enqueued > 0 {
            self.wake_webhook_worker();
        }
    }

    /// `record_event` for callers whose own write already happened: a
    /// failure is logged, not returned, because failing the request would
    /// tell the caller that the connection was not created (or deleted)
    /// when it was, and invite a duplicate.
    pub(in crate::domain) async fn record_event_after_write(
        &self,
        project_id: &str,
        connection_id: &str,
        kind: EventKind,
        data: Value,
    ) {
        if let Err(error) = self
            .record_event(project_id, connection_id, kind, data)
            .await
        {
            tracing::error!(%error, kind = kind.as_str(), %connection_id, "could not record a connection event");
        }
    }

    /// A project's events, newest first, optionally of one connection; at
    /// most `limit` (1–500, default 100).
    pub async fn list_events(
        &self,
        project_id: &str,
        connection_id: Option<&str>,
        limit: Option<i64>,
    ) -> DomainResult<Vec<ConnectionEvent>> {
        let limit = page_limit(limit)?;
        Ok(self
            .store()
            .list_events(project_id, connection_id, limit)
            .await?
            .into_iter()
            .map(ConnectionEvent::from)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_wire_names() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("connection.exploded"), None);
    }

    #[test]
    fn status_changes_add_old_and_new_status() {
        let data = with_status_change(
            connection_event_data("c", "p", "g", "u"),
            ConnectionStatus::Working,
            ConnectionStatus::BadCredentials,
        );
        assert_eq!(data["oldStatus"], "working");
        assert_eq!(data["newStatus"], "bad_credentials");
        assert_eq!(data["connectionId"], "c");
    }
}
