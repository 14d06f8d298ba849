//! The caller's project, and the groups and consumers its connections name.

pub mod wire;

use crate::domain::{FieldIssue, Grantd};
use crate::http::auth::scope::{ConnectionsRead, Manage};
use crate::http::auth::ProjectAccess;
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::problem::{ApiError, Problem};
use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::{
    ConsumerView, Entitlements, GetProjectQuery, GroupView, ProjectView, UpdateProjectRequest,
};

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new()
        .routes(routes!(get_project, update_project))
        .routes(routes!(list_groups))
        .routes(routes!(list_consumers))
}

/// The caller's project; its entitlements with `includeEntitlements=true`.
#[utoipa::path(
    operation_id = "getProject",
    get, path = "/v1/projects/{projectIdOrName}", tag = "Project",
    params(("projectIdOrName" = String, Path), GetProjectQuery),
    responses((status = 200, body = ProjectView), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn get_project(
    access: ProjectAccess<ConnectionsRead>,
    QueryParams(query): QueryParams<GetProjectQuery>,
) -> Json<ProjectView> {
    let mut view = ProjectView::from(access.project());
    if query.include_entitlements {
        view.entitlements = Some(Entitlements::self_hosted());
    }
    Json(view)
}

/// Set the project's `appName` (the name end users see) or rename it
/// (scope `manage`).
#[utoipa::path(
    operation_id = "updateProject",
    patch, path = "/v1/projects/{projectIdOrName}", tag = "Project",
    params(("projectIdOrName" = String, Path)),
    request_body = UpdateProjectRequest,
    responses((status = 200, body = ProjectView), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn update_project(
    State(grantd): State<Grantd>,
    access: ProjectAccess<Manage>,
    JsonBody(body): JsonBody<UpdateProjectRequest>,
) -> Result<Json<ProjectView>, ApiError> {
    let mut issues = Vec::new();
    let mut name = None;
    let mut app_name = None;
    if body.update_mask.is_empty() {
        issues.push(FieldIssue::body(
            "updateMask",
            serde_json::json!([]),
            "updateMask must name appName or name",
        ));
    }
    for (i, field) in body.update_mask.iter().enumerate() {
        let (slot, value) = match field.as_str() {
            "appName" => (&mut app_name, body.project.app_name.as_deref()),
            "name" => (&mut name, body.project.name.as_deref()),
            other => {
                issues.push(FieldIssue::body(
                    format!("updateMask[{i}]"),
                    other,
                    format!("{other} cannot be updated; the allowed values are appName, name"),
                ));
                continue;
            }
        };
        match value {
            Some(value) => *slot = Some(value),
            None => issues.push(FieldIssue::body(
                format!("project.{field}"),
                serde_json::Value::Null,
                format!("updateMask names {field}, so project.{field} is required"),
            )),
        }
    }
    if !issues.is_empty() {
        return Err(ApiError::Input(issues));
    }
    let project = grantd
        .update_project(&access.project().id, name, app_name)
        .await?;
    Ok(Json(ProjectView::from(&project)))
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
