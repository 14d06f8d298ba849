use crate::domain::{Grantd, Scope};
use crate::http::auth::Caller;
use crate::http::extract::PathParams;
use crate::http::problem::{ApiError, Problem};
use crate::http::views::{ConsumerView, GroupView, ProjectView};
use axum::extract::State;
use axum::Json;

/// The caller's project.
#[utoipa::path(
    operation_id = "getProject",
    get, path = "/v1/projects/{projectIdOrName}", tag = "Projects",
    params(("projectIdOrName" = String, Path)),
    responses((status = 200, body = ProjectView), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn get_project(
    caller: Caller,
    PathParams(project): PathParams<String>,
) -> Result<Json<ProjectView>, ApiError> {
    Ok(Json(
        caller.authorize(&project, Scope::ConnectionsRead)?.into(),
    ))
}

/// Groups of the project, created as connections name them.
#[utoipa::path(
    operation_id = "listGroups",
    get, path = "/v1/projects/{projectIdOrName}/groups", tag = "Projects",
    params(("projectIdOrName" = String, Path)),
    responses((status = 200, body = Vec<GroupView>), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_groups(
    State(grantd): State<Grantd>,
    caller: Caller,
    PathParams(project): PathParams<String>,
) -> Result<Json<Vec<GroupView>>, ApiError> {
    let project = caller.authorize(&project, Scope::ConnectionsRead)?;
    let groups = grantd.list_groups(&project.id).await?;
    Ok(Json(groups.into_iter().map(GroupView::from).collect()))
}

/// Consumers of the project, created as connections name them.
#[utoipa::path(
    operation_id = "listConsumers",
    get, path = "/v1/projects/{projectIdOrName}/consumers", tag = "Projects",
    params(("projectIdOrName" = String, Path)),
    responses((status = 200, body = Vec<ConsumerView>), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_consumers(
    State(grantd): State<Grantd>,
    caller: Caller,
    PathParams(project): PathParams<String>,
) -> Result<Json<Vec<ConsumerView>>, ApiError> {
    let project = caller.authorize(&project, Scope::ConnectionsRead)?;
    let consumers = grantd.list_consumers(&project.id).await?;
    Ok(Json(
        consumers.into_iter().map(ConsumerView::from).collect(),
    ))
}
