use crate::domain::catalog::Provider;
use crate::domain::{DomainError, Grantd};
use crate::http::extract::PathParams;
use crate::http::problem::{ApiError, Problem};
use axum::extract::State;
use axum::Json;

/// All providers grantd knows. Public: the catalog holds no secrets.
#[utoipa::path(
    operation_id = "listProviders",
    get, path = "/v1/providers", tag = "Providers",
    responses((status = 200, body = Vec<Object>))
)]
pub async fn list_providers(State(grantd): State<Grantd>) -> Json<Vec<Provider>> {
    Json(grantd.catalog().iter().cloned().collect())
}

#[utoipa::path(
    operation_id = "getProvider",
    get, path = "/v1/providers/{provider}", tag = "Providers",
    params(("provider" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn get_provider(
    State(grantd): State<Grantd>,
    PathParams(name): PathParams<String>,
) -> Result<Json<Provider>, ApiError> {
    grantd
        .catalog()
        .get(&name)
        .cloned()
        .map(Json)
        .ok_or_else(|| DomainError::not_found("provider").into())
}
