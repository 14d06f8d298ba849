//! The project's event log: what webhooks deliver, kept to be read back.

pub mod wire;

use crate::domain::Grantd;
use crate::http::auth::scope::ConnectionsRead;
use crate::http::auth::ProjectAccess;
use crate::http::extract::QueryParams;
use crate::http::problem::{ApiError, Problem};
use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::{EventView, ListEventsQuery};

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new().routes(routes!(list_events))
}

/// The project's connection events, newest first, optionally of one connection.
#[utoipa::path(
    operation_id = "listEvents",
    get, path = "/v1/projects/{projectIdOrName}/events", tag = "Webhooks",
    params(("projectIdOrName" = String, Path), ListEventsQuery),
    responses((status = 200, body = Vec<EventView>), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_events(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ConnectionsRead>,
    QueryParams(query): QueryParams<ListEventsQuery>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    let events = grantd
        .list_events(
            &access.project().id,
            query.connection_id.as_deref(),
            query.limit,
        )
        .await?;
    Ok(Json(events.into_iter().map(EventView::from).collect()))
}
