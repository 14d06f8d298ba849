//! Webhook endpoints and their delivery logs.

pub mod wire;

use crate::domain::Grantd;
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
    CreateWebhookRequest, CreatedWebhookView, ListDeliveriesQuery, WebhookDeliveryView,
    WebhookPath, WebhookView,
};

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, delete_webhook))
        .routes(routes!(list_webhook_deliveries))
}

/// Register a webhook endpoint. The response is the only place its signing secret appears.
#[utoipa::path(
    operation_id = "createWebhook",
    post, path = "/v1/projects/{projectIdOrName}/webhooks", tag = "Webhooks",
    params(("projectIdOrName" = String, Path, description = "The project ID or project name.")),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created", body = CreatedWebhookView),
        (status = 400, description = "Bad Request", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "Error", body = Problem, content_type = "application/problem+json"),
    ),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn create_webhook(
    State(grantd): State<Grantd>,
    access: ProjectAccess<Manage>,
    JsonBody(body): JsonBody<CreateWebhookRequest>,
) -> Result<(StatusCode, Json<CreatedWebhookView>), ApiError> {
    let webhook = grantd.parse_webhook(body.url, body.events, body.description)?;
    let created = grantd.create_webhook(&access.project().id, webhook).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// The project's webhook endpoints, oldest first, without secrets.
#[utoipa::path(
    operation_id = "listWebhooks",
    get, path = "/v1/projects/{projectIdOrName}/webhooks", tag = "Webhooks",
    params(("projectIdOrName" = String, Path)),
    responses((status = 200, body = Vec<WebhookView>), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_webhooks(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ConnectionsRead>,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    let webhooks = grantd.list_webhooks(&access.project().id).await?;
    Ok(Json(webhooks.into_iter().map(WebhookView::from).collect()))
}

/// One webhook endpoint, without its secret.
#[utoipa::path(
    operation_id = "getWebhook",
    get, path = "/v1/projects/{projectIdOrName}/webhooks/{webhookId}", tag = "Webhooks",
    params(("projectIdOrName" = String, Path), ("webhookId" = String, Path)),
    responses((status = 200, body = WebhookView), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn get_webhook(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ConnectionsRead, WebhookPath>,
) -> Result<Json<WebhookView>, ApiError> {
    let webhook = grantd
        .get_webhook(&access.project().id, &access.path.webhook_id)
        .await?;
    Ok(Json(webhook.into()))
}

/// Delete a webhook endpoint; deliveries not yet made to it are dropped.
#[utoipa::path(
    operation_id = "deleteWebhook",
    delete, path = "/v1/projects/{projectIdOrName}/webhooks/{webhookId}", tag = "Webhooks",
    params(("projectIdOrName" = String, Path), ("webhookId" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn delete_webhook(
    State(grantd): State<Grantd>,
    access: ProjectAccess<Manage, WebhookPath>,
) -> Result<StatusCode, ApiError> {
    grantd
        .delete_webhook(&access.project().id, &access.path.webhook_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The delivery log of an endpoint, newest first.
#[utoipa::path(
    operation_id = "listWebhookDeliveries",
    get, path = "/v1/projects/{projectIdOrName}/webhooks/{webhookId}/deliveries", tag = "Webhooks",
    params(("projectIdOrName" = String, Path), ("webhookId" = String, Path), ListDeliveriesQuery),
    responses((status = 200, body = Vec<WebhookDeliveryView>), (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("APIKeyHeader" = []), ("Bearer" = []))
)]
pub async fn list_webhook_deliveries(
    State(grantd): State<Grantd>,
    access: ProjectAccess<ConnectionsRead, WebhookPath>,
    QueryParams(query): QueryParams<ListDeliveriesQuery>,
) -> Result<Json<Vec<WebhookDeliveryView>>, ApiError> {
    let deliveries = grantd
        .list_webhook_deliveries(&access.project().id, &access.path.webhook_id, query.limit)
        .await?;
    Ok(Json(
        deliveries
            .into_iter()
            .map(WebhookDeliveryView::from)
            .collect(),
    ))
}
