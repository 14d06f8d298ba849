//! The OAuth ways to make or renew a connection from a backend: the
//! authorization URL for a new connection, or for re-authorizing one.

pub mod wire;

use crate::domain::{Grantd, Scope};
use crate::http::auth::scope::Manage;
use crate::http::auth::{caller_origin, Caller, ProjectAccess, RequestOrigin};
use crate::http::extract::{JsonBody, PathParams};
use crate::http::problem::{ApiError, Problem};
use crate::http::routes::connections;
use crate::http::routes::connections::wire::{ConnectionPath, OAUTH_UPDATE_ACTION};
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::patch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::OAuthConnectRequest;

/// The authorization URL, as `text/plain` like Ampersand's API.
fn plain_url(url: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], url).into_response()
}

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new()
        .routes(routes!(create_oauth_connect))
        // Undocumented itself: it dispatches by suffix to the documented
        // `update_oauth_connection`, which `ApiDoc` lists by hand.
        .route(
            "/v1/projects/{projectIdOrName}/connections/{connectionId}",
            patch(patch_connection_action),
        )
}

/// Generate the OAuth authorization URL for a new connection.
#[utoipa::path(
    post, path = "/v1/oauth-connect", tag = "OAuth", operation_id = "oauthConnect",
    request_body = OAuthConnectRequest,
    responses(
        (status = 200, description = "URL to render", body = String, content_type = "text/plain"),
        (status = 400, description = "Bad Request", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "Error", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn create_oauth_connect(
    State(grantd): State<Grantd>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<OAuthConnectRequest>,
) -> Result<Response, ApiError> {
    let project = caller.own_project(Scope::Manage)?;
    let request = body.parse(grantd.catalog(), project)?;
    let url = grantd
        .start_oauth_connect(project, request, caller_origin(&headers))
        .await?;
    Ok(plain_url(url))
}

/// Generate the OAuth authorization URL that re-authorizes an existing connection.
#[utoipa::path(
    patch, path = "/v1/projects/{projectIdOrName}/connections/{connectionId}:oauth-update",
    tag = "OAuth", operation_id = "oauthUpdate",
    params(
        ("projectIdOrName" = String, Path, description = "Project ID or name."),
        ("connectionId" = String, Path, description = "The ID of the connection to update."),
    ),
    responses(
        (status = 200, description = "URL to initiate OAuth flow", body = String, content_type = "text/plain"),
        (status = 400, description = "Bad Request", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "Error", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn update_oauth_connection(
    grantd: &Grantd,
    access: ProjectAccess<Manage, ConnectionPath>,
    connection_id: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let url = grantd
        .start_oauth_update(
            &access.actor,
            access.project(),
            connection_id,
            caller_origin(headers).as_deref(),
        )
        .await?;
    Ok(plain_url(url))
}

/// `PATCH /v1/projects/{p}/connections/{connectionId}[:action]`: the router
/// cannot match a static suffix after a parameter, so the action is parsed
/// here. Without one it is updateConnection (a JSON body); an unknown action
/// is an unknown route before it is a scope question: the project is checked
/// only once the action is known.
pub async fn patch_connection_action(
    State(grantd): State<Grantd>,
    caller: Caller,
    origin: RequestOrigin,
    headers: HeaderMap,
    PathParams(path): PathParams<ConnectionPath>,
    request: Request,
) -> Result<Response, ApiError> {
    match path.action() {
        Some((connection_id, OAUTH_UPDATE_ACTION)) => {
            let connection_id = connection_id.to_owned();
            let access = ProjectAccess::check(caller, path, origin)?;
            update_oauth_connection(&grantd, access, &connection_id, &headers).await
        }
        Some(_) => Err(ApiError::RouteNotFound),
        None => {
            let access = ProjectAccess::check(caller, path, origin)?;
            let JsonBody(body) = JsonBody::from_request(request, &grantd).await?;
            Ok(connections::update_connection(&grantd, access, body)
                .await?
                .into_response())
        }
    }
}
