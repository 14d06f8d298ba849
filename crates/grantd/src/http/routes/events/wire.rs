//! Wire shapes of the event log.

use crate::domain;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Query of `GET …/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    /// Only the events of this connection.
    pub connection_id: Option<String>,
    /// Most events returned, newest first: 1–500, default 100.
    pub limit: Option<i64>,
}

/// An entry of the event log: the webhook body plus the connection's id.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConnectionEvent)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub id: String,
    /// The event kind, e.g. `connection.created`.
    #[serde(rename = "type")]
    pub kind: String,
    pub project_id: String,
    pub connection_id: String,
    /// `connectionId`, `provider`, `groupRef`, `consumerRef`; `oldStatus` and
    /// `newStatus` for status changes. Never credentials.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl From<domain::ConnectionEvent> for EventView {
    fn from(e: domain::ConnectionEvent) -> Self {
        EventView {
            id: e.id,
            kind: e.kind,
            project_id: e.project_id,
            connection_id: e.connection_id,
            data: e.data,
            created_at: e.created_at,
        }
    }
}
