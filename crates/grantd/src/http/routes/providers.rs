use crate::domain::{DomainError, Grantd};
use crate::http::extract::PathParams;
use crate::http::problem::{ApiError, Problem};
use crate::http::provider_info::ProviderInfo;
use axum::extract::State;
use axum::Json;
use std::collections::BTreeMap;

/// All providers grantd knows, by name. Public: the catalog holds no secrets.
#[utoipa::path(
    operation_id = "listProviders",
    get, path = "/v1/providers", tag = "Providers",
    responses((status = 200, body = BTreeMap<String, ProviderInfo>))
)]
pub async fn list_providers(State(grantd): State<Grantd>) -> Json<BTreeMap<String, ProviderInfo>> {
    Json(
        grantd
            .catalog()
            .iter()
            .map(|p| (p.name.clone(), ProviderInfo::from(p)))
            .collect(),
    )
}

#[utoipa::path(
    operation_id = "getProvider",
    get, path = "/v1/providers/{provider}", tag = "Providers",
    params(("provider" = String, Path)),
    responses((status = 200, body = ProviderInfo), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn get_provider(
    State(grantd): State<Grantd>,
    PathParams(name): PathParams<String>,
) -> Result<Json<ProviderInfo>, ApiError> {
    grantd
        .catalog()
        .get(&name)
        .map(|p| Json(ProviderInfo::from(p)))
        .ok_or_else(|| DomainError::not_found("provider").into())
}
