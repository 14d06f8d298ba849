//! The customer backend's side of the hosted connect page: allowed origins
//! and connect sessions (API key or bearer JWT, like every project route).

pub mod wire;

use crate::domain::Grantd;
use crate::http::auth::scope::{ConnectionsRead, Manage};
use crate::http::auth::ProjectAccess;
use crate::http::extract::JsonBody;
use crate::http::problem::{ApiError, Problem};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::{
    AllowedOriginsRequest, AllowedOriginsView, ConnectSessionPath, ConnectSessionView,
    CreateConnectSessionRequest, CreatedConnectSessionView,
};

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new()
        .routes(routes!(get_allowed_origins, set_allowed_origins))
        .routes(routes!(create_connect_session))
        .routes(routes!(get_connect_session))
}

/// The origins allowed to embed or open the connect page and to receive browsers back.
#[utoipa::path(
    operation_id = "getAllowedOrigins",
    get, path = "/v1/projects/{projectIdOrName}/allowed-origins", tag = "Connect",
    params(("projectIdOrName" = String, Path)),
    responses((status = 200, body = AllowedOriginsView), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn get_allowed_origins(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ConnectionsRead>,
) -> Result<Json<AllowedOriginsView>, ApiError> {
    let origins = grantd.allowed_origins(&access.project().id).await?;
    Ok(Json(AllowedOriginsView { origins }))
}

/// Replace the allowed origins: https, or http on localhost, 127.0.0.1 or ::1.
#[utoipa::path(
    operation_id = "setAllowedOrigins",
    put, path = "/v1/projects/{projectIdOrName}/allowed-origins", tag = "Connect",
    params(("projectIdOrName" = String, Path)),
    request_body = AllowedOriginsRequest,
    responses(
        (status = 200, description = "The list as stored (normalized, sorted)", body = AllowedOriginsView),
        (status = 400, description = "Bad Request", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "Error", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn set_allowed_origins(
    State(grantd): State<Grantd>,
    access: ProjectAccess<Manage>,
    JsonBody(body): JsonBody<AllowedOriginsRequest>,
) -> Result<Json<AllowedOriginsView>, ApiError> {
    let origins = grantd
        .set_allowed_origins(&access.actor, &access.project().id, body.origins)
        .await?;
    Ok(Json(AllowedOriginsView { origins }))
}

/// Create a connect session: a short-lived, single-use link to the hosted
/// connect page for one end user. The token appears in this response only.
#[utoipa::path(
    operation_id = "createConnectSession",
    post, path = "/v1/projects/{projectIdOrName}/connect-sessions", tag = "Connect",
    params(("projectIdOrName" = String, Path)),
    request_body = CreateConnectSessionRequest,
    responses(
        (status = 201, description = "Created", body = CreatedConnectSessionView),
        (status = 400, description = "Bad Request", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "Error", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn create_connect_session(
    State(grantd): State<Grantd>,
    access: ProjectAccess<Manage>,
    JsonBody(body): JsonBody<CreateConnectSessionRequest>,
) -> Result<(StatusCode, Json<CreatedConnectSessionView>), ApiError> {
    let project_id = &access.project().id;
    let context = grantd
        .connect_session_context(
            project_id,
            body.connection_id.as_deref(),
            body.providers.as_deref(),
        )
        .await?;
    let session = body.parse(grantd.catalog(), &context)?;
    let created = grantd.create_connect_session(project_id, session).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// A connect session's status and result (the connection id once it succeeded).
#[utoipa::path(
    operation_id = "getConnectSession",
    get, path = "/v1/projects/{projectIdOrName}/connect-sessions/{sessionId}", tag = "Connect",
    params(("projectIdOrName" = String, Path), ("sessionId" = String, Path)),
    responses((status = 200, body = ConnectSessionView), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn get_connect_session(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ConnectionsRead, ConnectSessionPath>,
) -> Result<Json<ConnectSessionView>, ApiError> {
    let session = grantd
        .get_connect_session(&access.project().id, &access.path.session_id)
        .await?;
    Ok(Json(session.into()))
}
