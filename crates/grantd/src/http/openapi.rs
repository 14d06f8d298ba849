//! The OpenAPI document, generated from the handlers' annotations.

use super::problem::{InputIssue, Problem};
use super::routes::{
    callback, connect, connect_sessions, connections, events, health, oauth, projects,
    provider_apps, providers, webhooks,
};
use super::views;
use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "grantd", description = "Self-hosted connection service, wire-compatible with Ampersand's public API."),
    paths(
        health::get_health,
        health::get_readiness,
        oauth::create_oauth_connect,
        oauth::update_oauth_connection,
        connections::generate_connection,
        connections::list_connections,
        connections::get_connection,
        connections::delete_connection,
        provider_apps::create_provider_app,
        provider_apps::list_provider_apps,
        provider_apps::get_provider_app,
        provider_apps::update_provider_app,
        provider_apps::delete_provider_app,
        projects::get_project,
        projects::list_groups,
        projects::list_consumers,
        providers::list_providers,
        providers::get_provider,
        callback::get_oauth_callback,
        webhooks::create_webhook,
        webhooks::list_webhooks,
        webhooks::get_webhook,
        webhooks::delete_webhook,
        webhooks::list_webhook_deliveries,
        events::list_events,
        connect_sessions::get_allowed_origins,
        connect_sessions::set_allowed_origins,
        connect_sessions::create_connect_session,
        connect_sessions::get_connect_session,
        connect::get_connect_page,
        connect::get_page_session,
        connect::start_page_flow,
        connect::get_bounce_page,
        connect::bounce,
    ),
    components(schemas(
        Problem, InputIssue,
        views::OAuthConnectRequest, views::GenerateConnectionRequest, views::ConnectionView,
        views::ProviderAppView, views::CreateProviderAppRequest, views::UpdateProviderAppRequest,
        views::GroupView, views::ConsumerView, views::ProjectView,
        super::provider_info::ProviderInfo,
        views::CreateWebhookRequest, views::WebhookView, views::CreatedWebhookView,
        views::WebhookDeliveryView, views::EventView,
        views::AllowedOriginsRequest, views::AllowedOriginsView,
        views::CreateConnectSessionRequest, views::ConnectSessionView,
        views::CreatedConnectSessionView, views::SessionOutcomeView,
        views::ConnectPageSessionView, views::ConnectProviderView, views::ConnectInputView,
        views::ConnectStartRequest, views::ConnectStartView,
    )),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "APIKeyHeader",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
        components.add_security_scheme(
            "Bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "ConnectSession",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("gcs_ connect session token")
                    .description(Some("The connect page's session token (`gcs_…`)."))
                    .build(),
            ),
        );
    }
}

/// `GET /v1/openapi.json`.
pub async fn get_openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
