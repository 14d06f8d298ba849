use crate::domain::Grantd;
use crate::http::problem::{ApiError, Problem};
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new()
        .routes(routes!(get_health))
        .routes(routes!(get_readiness))
}

/// Liveness: the process serves HTTP. Touches nothing else.
#[utoipa::path(get, path = "/healthz", operation_id = "getHealth", tag = "Health", responses((status = 200, body = String, content_type = "text/plain")))]
pub async fn get_health() -> &'static str {
    "ok"
}

/// Readiness: the database answers and the instance is not shutting down.
/// While it drains (after SIGTERM) it answers 503, so a load balancer
/// stops sending it new requests before it stops accepting them.
#[utoipa::path(get, path = "/readyz", operation_id = "getReadiness", tag = "Health", responses(
    (status = 200, body = String, content_type = "text/plain"),
    (status = 503, description = "draining, or the database does not answer", body = Problem, content_type = "application/problem+json"),
))]
pub async fn get_readiness(State(grantd): State<Grantd>) -> Result<&'static str, ApiError> {
    if grantd.is_draining() {
        return Err(ApiError::Draining);
    }
    grantd.ready().await?;
    Ok("ready")
}
