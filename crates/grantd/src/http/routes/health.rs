use crate::domain::Grantd;
use crate::http::problem::ApiError;
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

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", operation_id = "getReadiness", tag = "Health", responses((status = 200, body = String, content_type = "text/plain")))]
pub async fn get_readiness(State(grantd): State<Grantd>) -> Result<&'static str, ApiError> {
    grantd.ready().await?;
    Ok("ready")
}
