use crate::domain::{Grantd, Scope};
use crate::http::auth::Caller;
use crate::http::extract::{JsonBody, PathParams};
use crate::http::problem::{ApiError, Problem};
use crate::http::views::{CreateProviderAppRequest, ProviderAppView, UpdateProviderAppRequest};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// Register an OAuth client (provider app) for a provider.
#[utoipa::path(
    operation_id = "createProviderApp",
    post, path = "/v1/projects/{projectIdOrName}/provider-apps", tag = "Provider apps",
    params(("projectIdOrName" = String, Path)),
    request_body = CreateProviderAppRequest,
    responses(
        (status = 201, body = ProviderAppView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = "default", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn create_provider_app(
    State(grantd): State<Grantd>,
    caller: Caller,
    PathParams(project): PathParams<String>,
    JsonBody(body): JsonBody<CreateProviderAppRequest>,
) -> Result<(StatusCode, Json<ProviderAppView>), ApiError> {
    let project = caller.authorize(&project, Scope::Manage)?;
    let app = grantd.create_provider_app(&project.id, body.into()).await?;
    Ok((StatusCode::CREATED, Json(app.into())))
}

#[utoipa::path(
    operation_id = "listProviderApps",
    get, path = "/v1/projects/{projectIdOrName}/provider-apps", tag = "Provider apps",
    params(("projectIdOrName" = String, Path)),
    responses((status = 200, body = Vec<ProviderAppView>), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_provider_apps(
    State(grantd): State<Grantd>,
    caller: Caller,
    PathParams(project): PathParams<String>,
) -> Result<Json<Vec<ProviderAppView>>, ApiError> {
    let project = caller.authorize(&project, Scope::ConnectionsRead)?;
    let apps = grantd.list_provider_apps(&project.id).await?;
    Ok(Json(apps.into_iter().map(ProviderAppView::from).collect()))
}

#[utoipa::path(
    operation_id = "getProviderApp",
    get, path = "/v1/projects/{projectIdOrName}/provider-apps/{providerAppId}", tag = "Provider apps",
    params(("projectIdOrName" = String, Path), ("providerAppId" = String, Path)),
    responses((status = 200, body = ProviderAppView), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn get_provider_app(
    State(grantd): State<Grantd>,
    caller: Caller,
    PathParams((project, id)): PathParams<(String, String)>,
) -> Result<Json<ProviderAppView>, ApiError> {
    let project = caller.authorize(&project, Scope::ConnectionsRead)?;
    Ok(Json(
        grantd.get_provider_app(&project.id, &id).await?.into(),
    ))
}

#[utoipa::path(
    operation_id = "updateProviderApp",
    patch, path = "/v1/projects/{projectIdOrName}/provider-apps/{providerAppId}", tag = "Provider apps",
    params(("projectIdOrName" = String, Path), ("providerAppId" = String, Path)),
    request_body = UpdateProviderAppRequest,
    responses((status = 200, body = ProviderAppView), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn update_provider_app(
    State(grantd): State<Grantd>,
    caller: Caller,
    PathParams((project, id)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<UpdateProviderAppRequest>,
) -> Result<Json<ProviderAppView>, ApiError> {
    let project = caller.authorize(&project, Scope::Manage)?;
    Ok(Json(
        grantd
            .update_provider_app(&project.id, &id, body.into())
            .await?
            .into(),
    ))
}

#[utoipa::path(
    operation_id = "deleteProviderApp",
    delete, path = "/v1/projects/{projectIdOrName}/provider-apps/{providerAppId}", tag = "Provider apps",
    params(("projectIdOrName" = String, Path), ("providerAppId" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn delete_provider_app(
    State(grantd): State<Grantd>,
    caller: Caller,
    PathParams((project, id)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let project = caller.authorize(&project, Scope::Manage)?;
    grantd.delete_provider_app(&project.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
