//! The project's audit trail: who read which credentials, and who changed
//! connections, provider apps, allowed origins and keys (a grantd extension).

pub mod wire;

use crate::domain::Grantd;
use crate::http::auth::scope::AuditRead;
use crate::http::auth::ProjectAccess;
use crate::http::extract::QueryParams;
use crate::http::problem::{ApiError, Problem};
use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::{AuditPageView, ListAuditQuery};

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// The project's audit records, newest first (scope `audit:read`).
#[utoipa::path(
    operation_id = "listAuditRecords",
    get, path = "/v1/projects/{projectIdOrName}/audit", tag = "Audit",
    params(("projectIdOrName" = String, Path), ListAuditQuery),
    responses(
        (status = 200, body = AuditPageView),
        (status = 400, description = "A filter or the page token is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credential lacks `audit:read`", body = Problem, content_type = "application/problem+json"),
        (status = "default", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_audit(
    State(grantd): State<Grantd>,
    access: ProjectAccess<AuditRead>,
    QueryParams(query): QueryParams<ListAuditQuery>,
) -> Result<Json<AuditPageView>, ApiError> {
    let page = grantd
        .list_audit(Some(&access.project().id), query.into())
        .await?;
    Ok(Json(page.into()))
}
