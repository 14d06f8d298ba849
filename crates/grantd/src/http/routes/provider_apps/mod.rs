//! Provider apps: the project's OAuth clients, one or more per provider.

pub mod wire;

use crate::domain::Grantd;
use crate::http::auth::scope::{ConnectionsRead, Manage};
use crate::http::auth::ProjectAccess;
use crate::http::extract::{parse_json, JsonBody};
use crate::http::problem::{ApiError, Problem};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::{
    CreateProviderAppRequest, FlatProviderAppUpdate, ProviderAppPath, ProviderAppView,
    UpdateProviderAppRequest,
};

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new()
        .routes(routes!(list_provider_apps, create_provider_app))
        .routes(routes!(
            get_provider_app,
            update_provider_app,
            delete_provider_app
        ))
}

/// Register an OAuth client (provider app) for a provider.
#[utoipa::path(
    operation_id = "createProviderApp",
    post, path = "/v1/projects/{projectIdOrName}/provider-apps", tag = "Provider App",
    params(("projectIdOrName" = String, Path)),
    request_body = CreateProviderAppRequest,
    responses(
        (status = 200, body = ProviderAppView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = "default", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn create_provider_app(
    State(grantd): State<Grantd>,
    access: ProjectAccess<Manage>,
    JsonBody(body): JsonBody<CreateProviderAppRequest>,
) -> Result<Json<ProviderAppView>, ApiError> {
    let command = body.parse(grantd.catalog())?;
    let app = grantd
        .create_provider_app(&access.actor, &access.project().id, command)
        .await?;
    // 200, not 201: Ampersand's API answers createProviderApp so, and its
    // strict SDKs reject any other success status.
    Ok(Json(app.into()))
}

#[utoipa::path(
    operation_id = "listProviderApps",
    get, path = "/v1/projects/{projectIdOrName}/provider-apps", tag = "Provider App",
    params(("projectIdOrName" = String, Path)),
    responses((status = 200, body = Vec<ProviderAppView>), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_provider_apps(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ConnectionsRead>,
) -> Result<Json<Vec<ProviderAppView>>, ApiError> {
    let apps = grantd.list_provider_apps(&access.project().id).await?;
    Ok(Json(apps.into_iter().map(ProviderAppView::from).collect()))
}

#[utoipa::path(
    operation_id = "getProviderApp",
    get, path = "/v1/projects/{projectIdOrName}/provider-apps/{providerAppId}", tag = "Provider App",
    params(("projectIdOrName" = String, Path), ("providerAppId" = String, Path)),
    responses((status = 200, body = ProviderAppView), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn get_provider_app(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ConnectionsRead, ProviderAppPath>,
) -> Result<Json<ProviderAppView>, ApiError> {
    let app = grantd
        .get_provider_app(&access.project().id, &access.path.provider_app_id)
        .await?;
    Ok(Json(app.into()))
}

#[utoipa::path(
    operation_id = "updateProviderApp",
    patch, path = "/v1/projects/{projectIdOrName}/provider-apps/{providerAppId}", tag = "Provider App",
    params(("projectIdOrName" = String, Path), ("providerAppId" = String, Path)),
    request_body = UpdateProviderAppRequest,
    responses((status = 200, body = ProviderAppView), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn update_provider_app(
    State(grantd): State<Grantd>,
    access: ProjectAccess<Manage, ProviderAppPath>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Json<ProviderAppView>, ApiError> {
    // Ampersand's `{updateMask, providerApp}`, or grantd's flat form.
    let ampersand_shaped = body.get("updateMask").is_some() || body.get("providerApp").is_some();
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let (changes, provider) = if ampersand_shaped {
        parse_json::<UpdateProviderAppRequest>(&bytes)?
            .into_changes()
            .map_err(ApiError::Input)?
    } else {
        (parse_json::<FlatProviderAppUpdate>(&bytes)?, None)
    };
    let (project_id, id) = (&access.project().id, &access.path.provider_app_id);
    // A provider the body names must be the app's own: read it to compare.
    let current = match &provider {
        Some(_) => Some(grantd.get_provider_app(project_id, id).await?.provider),
        None => None,
    };
    let update = changes.parse(provider.as_deref().zip(current.as_deref()))?;
    let app = grantd
        .update_provider_app(&access.actor, project_id, id, update)
        .await?;
    Ok(Json(app.into()))
}

#[utoipa::path(
    operation_id = "deleteProviderApp",
    delete, path = "/v1/projects/{projectIdOrName}/provider-apps/{providerAppId}", tag = "Provider App",
    params(("projectIdOrName" = String, Path), ("providerAppId" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn delete_provider_app(
    State(grantd): State<Grantd>,
    access: ProjectAccess<Manage, ProviderAppPath>,
) -> Result<StatusCode, ApiError> {
    grantd
        .delete_provider_app(
            &access.actor,
            &access.project().id,
            &access.path.provider_app_id,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
