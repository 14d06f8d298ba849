//! The provider catalog, in Ampersand's `ProviderInfo` shape.

pub mod wire;

use crate::domain::{DomainError, Grantd};
use crate::http::extract::PathParams;
use crate::http::problem::{ApiError, Problem};
use axum::extract::State;
use axum::Json;
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::{ProviderInfo, ProviderPath};

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new()
        .routes(routes!(list_providers))
        .routes(routes!(get_provider))
}

/// All providers grantd knows, by name. Public: the catalog holds no secrets.
#[utoipa::path(
    operation_id = "listProviders",
    get, path = "/v1/providers", tag = "Provider",
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
    get, path = "/v1/providers/{provider}", tag = "Provider",
    params(("provider" = String, Path)),
    responses((status = 200, body = ProviderInfo), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn get_provider(
    State(grantd): State<Grantd>,
    PathParams(path): PathParams<ProviderPath>,
) -> Result<Json<ProviderInfo>, ApiError> {
    grantd
        .catalog()
        .get(&path.provider)
        .map(|p| Json(ProviderInfo::from(p)))
        .ok_or_else(|| DomainError::not_found("provider").into())
}
