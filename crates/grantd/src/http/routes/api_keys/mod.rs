//! The project's API keys over the API (a grantd extension): list, create,
//! revoke. All need `api-keys:manage`; a caller can neither mint nor revoke
//! a key that could do something it cannot.

pub mod wire;

use crate::domain::{Grantd, Scopes};
use crate::http::auth::scope::ApiKeysManage;
use crate::http::auth::ProjectAccess;
use crate::http::extract::JsonBody;
use crate::http::problem::{ApiError, Problem};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::{ApiKeyPath, ApiKeyView, CreateApiKeyRequest, CreatedApiKeyView};

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new()
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
}

/// The project's API keys, revoked ones included, oldest first (scope `api-keys:manage`).
#[utoipa::path(
    operation_id = "listApiKeys",
    get, path = "/v1/projects/{projectIdOrName}/api-keys", tag = "API Key",
    params(("projectIdOrName" = String, Path)),
    responses(
        (status = 200, body = Vec<ApiKeyView>),
        (status = 403, description = "The credential lacks `api-keys:manage`", body = Problem, content_type = "application/problem+json"),
        (status = "default", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_api_keys(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ApiKeysManage>,
) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
    let keys = grantd.list_api_keys(&access.project().id).await?;
    Ok(Json(keys.into_iter().map(ApiKeyView::from).collect()))
}

/// Create an API key holding some of the caller's scopes (scope
/// `api-keys:manage`). The response is the only place the key appears.
#[utoipa::path(
    operation_id = "createApiKey",
    post, path = "/v1/projects/{projectIdOrName}/api-keys", tag = "API Key",
    params(("projectIdOrName" = String, Path)),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Created", body = CreatedApiKeyView),
        (status = 400, description = "Bad Request", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credential lacks `api-keys:manage` or a scope it asked for", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "Error", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn create_api_key(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ApiKeysManage>,
    JsonBody(body): JsonBody<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKeyView>), ApiError> {
    let scopes = Scopes::from_iter(body.scopes.unwrap_or_default());
    let label = body.label.as_deref().unwrap_or("default");
    let created = grantd
        .create_api_key_as(access.caller.scopes, &access.project().id, label, scopes)
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Revoke an API key (scope `api-keys:manage`, and every scope the key holds).
#[utoipa::path(
    operation_id = "revokeApiKey",
    delete, path = "/v1/projects/{projectIdOrName}/api-keys/{apiKeyId}", tag = "API Key",
    params(("projectIdOrName" = String, Path), ("apiKeyId" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "The credential lacks `api-keys:manage` or a scope the key holds", body = Problem, content_type = "application/problem+json"),
        (status = "default", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn revoke_api_key(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ApiKeysManage, ApiKeyPath>,
) -> Result<StatusCode, ApiError> {
    let key = &access.path.api_key_id;
    grantd
        .revoke_api_key_as(access.caller.scopes, &access.project().id, key)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
