//! Integrations (Ampersand's read, write and subscribe actions) are not a
//! grantd feature: it holds connections only. `@amp-labs/react` lists them
//! on every `ConnectProvider` mount, so the list exists and is honestly
//! empty; `InstallIntegration` then reports that the integration does not
//! exist, which is true.

use crate::domain::Grantd;
use crate::http::auth::scope::ConnectionsRead;
use crate::http::auth::ProjectAccess;
use crate::http::problem::Problem;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new().routes(routes!(list_integrations))
}

/// The project's integrations: always none in grantd.
#[utoipa::path(
    operation_id = "listIntegrations",
    get, path = "/v1/projects/{projectIdOrName}/integrations", tag = "Integration",
    params(("projectIdOrName" = String, Path, description = "The project ID or project name.")),
    responses(
        (status = 200, description = "List of integrations: grantd has none, so always empty", body = Vec<serde_json::Value>),
        (status = "default", description = "Error", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_integrations(_access: ProjectAccess<ConnectionsRead>) -> Json<[(); 0]> {
    Json([])
}
