use crate::domain::{Grantd, Scope};
use crate::http::auth::Caller;
use crate::http::extract::{PathParams, QueryParams};
use crate::http::problem::{ApiError, Problem};
use crate::http::views::{EventView, ListEventsQuery};
use axum::extract::State;
use axum::Json;

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
    caller: Caller,
    PathParams(project): PathParams<String>,
    QueryParams(query): QueryParams<ListEventsQuery>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    let project = caller.authorize(&project, Scope::ConnectionsRead)?;
    let events = grantd
        .list_events(&project.id, query.connection_id.as_deref(), query.limit)
        .await?;
    Ok(Json(events.into_iter().map(EventView::from).collect()))
}
