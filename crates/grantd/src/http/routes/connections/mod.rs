//! Connections: generate one from supplied credentials, list, read, delete.
//! (The OAuth ways to make one are in `oauth` and `connect`.)

mod credentials;
mod parse;
pub mod wire;

use crate::domain::{ConnectionQuery, CredentialAccess, Grantd, RefreshOnRead, Scope};
use crate::http::auth::scope::{ConnectionsRead, Manage};
use crate::http::auth::ProjectAccess;
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::problem::{ApiError, Problem};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::{
    ConnectionPath, ConnectionView, GenerateConnectionRequest, GetConnectionQuery,
    ListConnectionsQuery, RefreshParam, UpdateConnectionRequest,
};

/// The `Allow` of a path whose route is shared but whose methods are not:
/// `…/{connectionId}:oauth-update` takes PATCH only.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    path.ends_with(&format!(":{}", wire::OAUTH_UPDATE_ACTION))
        .then_some("PATCH")
}

/// GET or DELETE of `{connectionId}:action`: the action is no connection.
fn refuse_action(path: &ConnectionPath) -> Result<(), ApiError> {
    match path.action() {
        None => Ok(()),
        Some((_, wire::OAUTH_UPDATE_ACTION)) => Err(ApiError::MethodNotAllowed("PATCH")),
        Some(_) => Err(ApiError::RouteNotFound),
    }
}

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new()
        .routes(routes!(list_connections))
        .routes(routes!(generate_connection))
        .routes(routes!(get_connection, delete_connection))
}

/// Create a connection from supplied credentials (scope `manage`). The
/// answer shows its credentials as far as the caller's scopes allow.
#[utoipa::path(
    post, path = "/v1/projects/{projectIdOrName}/connections:generate", tag = "Connection",
    operation_id = "generateConnection",
    params(("projectIdOrName" = String, Path, description = "The project ID or project name.")),
    request_body = GenerateConnectionRequest,
    responses(
        (status = 201, description = "Created", body = ConnectionView),
        (status = 400, description = "Bad Request", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "Error", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn generate_connection(
    State(grantd): State<Grantd>,
    access: ProjectAccess<Manage>,
    JsonBody(body): JsonBody<GenerateConnectionRequest>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    let command = body.parse(grantd.catalog())?;
    let connection = grantd
        .generate_connection(
            &access.actor,
            access.project(),
            command,
            access.caller.credential_access(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(connection.into())))
}

/// List the project's connections, optionally by provider, group or consumer.
#[utoipa::path(
    operation_id = "listConnections",
    get, path = "/v1/projects/{projectIdOrName}/connections", tag = "Connection",
    params(("projectIdOrName" = String, Path), ListConnectionsQuery),
    responses((status = 200, body = Vec<ConnectionView>), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_connections(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ConnectionsRead>,
    QueryParams(query): QueryParams<ListConnectionsQuery>,
) -> Result<Json<Vec<ConnectionView>>, ApiError> {
    let connections = grantd
        .list_connections(
            &access.project().id,
            ConnectionQuery {
                provider: query.provider,
                group_ref: query.group_ref,
                consumer_ref: query.consumer_ref,
            },
        )
        .await?;
    Ok(Json(
        connections.into_iter().map(ConnectionView::from).collect(),
    ))
}

/// One connection; secrets only with `includeCreds=true` (alias
/// `includeCredentials`: what a request to the provider carries, scope
/// `credentials:access-token`) or `includeRefreshToken=true` (every secret,
/// scope `credentials:read`). `refresh` renews the token first.
#[utoipa::path(
    operation_id = "getConnection",
    get, path = "/v1/projects/{projectIdOrName}/connections/{connectionId}", tag = "Connection",
    params(("projectIdOrName" = String, Path), ("connectionId" = String, Path), GetConnectionQuery),
    responses((status = 200, body = ConnectionView), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn get_connection(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ConnectionsRead, ConnectionPath>,
    QueryParams(query): QueryParams<GetConnectionQuery>,
) -> Result<Json<ConnectionView>, ApiError> {
    refuse_action(&access.path)?;
    let credentials = if query.include_refresh_token {
        access.require(Scope::CredentialsRead)?;
        CredentialAccess::All
    } else if query.include_creds || query.include_credentials {
        access.require(Scope::CredentialsAccessToken)?;
        CredentialAccess::AccessToken
    } else {
        CredentialAccess::None
    };
    let refresh = match query.refresh {
        None => RefreshOnRead::Auto,
        Some(RefreshParam::IfExpired) => RefreshOnRead::IfExpired,
        Some(RefreshParam::Force) => {
            // A provider call on demand: for the callers that use tokens.
            access.require(Scope::CredentialsAccessToken)?;
            RefreshOnRead::Force
        }
    };
    let connection = grantd
        .read_connection(
            &access.actor,
            &access.project().id,
            &access.path.connection_id,
            credentials,
            refresh,
        )
        .await?;
    Ok(Json(connection.into()))
}

/// Delete a connection and its stored credentials.
#[utoipa::path(
    operation_id = "deleteConnection",
    delete, path = "/v1/projects/{projectIdOrName}/connections/{connectionId}", tag = "Connection",
    params(("projectIdOrName" = String, Path), ("connectionId" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn delete_connection(
    State(grantd): State<Grantd>,
    access: ProjectAccess<Manage, ConnectionPath>,
) -> Result<StatusCode, ApiError> {
    refuse_action(&access.path)?;
    grantd
        .delete_connection(
            &access.actor,
            &access.project().id,
            &access.path.connection_id,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a connection's API key, basic-auth password, client or password
/// credentials, or change its workspace or metadata, in place (same id).
/// Client and password credentials are exchanged for a token first, so
/// secrets the provider refuses are a 422 and nothing is stored. Records
/// `connection.updated`. Reached through `patch_connection_action`, which
/// tells it from `{connectionId}:oauth-update`.
#[utoipa::path(
    operation_id = "updateConnection",
    patch, path = "/v1/projects/{projectIdOrName}/connections/{connectionId}", tag = "Connection",
    params(("projectIdOrName" = String, Path), ("connectionId" = String, Path)),
    request_body = UpdateConnectionRequest,
    responses(
        (status = 200, description = "The connection as updated", body = ConnectionView),
        (status = 400, description = "Bad Request", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "Error", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn update_connection(
    grantd: &Grantd,
    access: ProjectAccess<Manage, ConnectionPath>,
    body: UpdateConnectionRequest,
) -> Result<Json<ConnectionView>, ApiError> {
    let connection = grantd
        .update_connection(
            &access.actor,
            access.project(),
            &access.path.connection_id,
            |scheme| body.parse(scheme),
            access.caller.credential_access(),
        )
        .await?;
    Ok(Json(connection.into()))
}
