//! The caller's project, and the groups and consumers its connections name.

pub mod wire;

use crate::domain::Grantd;
use crate::http::auth::scope::ConnectionsRead;
use crate::http::auth::ProjectAccess;
use crate::http::problem::{ApiError, Problem};
use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::{ConsumerView, GroupView, ProjectView};

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new()
        .routes(routes!(get_project))
        .routes(routes!(list_groups))
        .routes(routes!(list_consumers))
}

/// The caller's project.
#[utoipa::path(
    operation_id = "getProject",
    get, path = "/v1/projects/{projectIdOrName}", tag = "Project",
    params(("projectIdOrName" = String, Path)),
    responses((status = 200, body = ProjectView), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn get_project(access: ProjectAccess<ConnectionsRead>) -> Json<ProjectView> {
    Json(access.project().into())
}

/// Groups of the project, created as connections name them.
#[utoipa::path(
    operation_id = "listGroups",
    get, path = "/v1/projects/{projectIdOrName}/groups", tag = "Project",
    params(("projectIdOrName" = String, Path)),
    responses((status = 200, body = Vec<GroupView>), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_groups(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ConnectionsRead>,
) -> Result<Json<Vec<GroupView>>, ApiError> {
    let groups = grantd.list_groups(&access.project().id).await?;
    Ok(Json(groups.into_iter().map(GroupView::from).collect()))
}

/// Consumers of the project, created as connections name them.
#[utoipa::path(
    operation_id = "listConsumers",
    get, path = "/v1/projects/{projectIdOrName}/consumers", tag = "Project",
    params(("projectIdOrName" = String, Path)),
    responses((status = 200, body = Vec<ConsumerView>), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_consumers(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ConnectionsRead>,
) -> Result<Json<Vec<ConsumerView>>, ApiError> {
    let consumers = grantd.list_consumers(&access.project().id).await?;
    Ok(Json(
        consumers.into_iter().map(ConsumerView::from).collect(),
    ))
}
