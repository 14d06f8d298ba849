//! The OpenAPI document, generated from the handlers' annotations.

use super::problem::{InputIssue, Problem};
use super::routes::{
    api_keys, callback, connect, connect_sessions, connections, events, health, oauth, projects,
    provider_apps, providers, webhooks,
};
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
        api_keys::list_api_keys,
        api_keys::create_api_key,
        api_keys::revoke_api_key,
    ),
    components(schemas(
        Problem, InputIssue,
        oauth::wire::OAuthConnectRequest,
        connections::wire::GenerateConnectionRequest, connections::wire::ConnectionView,
        provider_apps::wire::ProviderAppView, provider_apps::wire::CreateProviderAppRequest,
        provider_apps::wire::UpdateProviderAppRequest,
        projects::wire::GroupView, projects::wire::ConsumerView, projects::wire::ProjectView,
        providers::wire::ProviderInfo,
        webhooks::wire::CreateWebhookRequest, webhooks::wire::WebhookView,
        webhooks::wire::CreatedWebhookView, webhooks::wire::WebhookDeliveryView,
        events::wire::EventView,
        connect_sessions::wire::AllowedOriginsRequest, connect_sessions::wire::AllowedOriginsView,
        connect_sessions::wire::CreateConnectSessionRequest,
        connect_sessions::wire::ConnectSessionView,
        connect_sessions::wire::CreatedConnectSessionView,
        connect_sessions::wire::SessionOutcomeView,
        connect::wire::ConnectPageSessionView, connect::wire::ConnectProviderView,
        connect::wire::ConnectInputView, connect::wire::ConnectStartRequest,
        connect::wire::ConnectStartView,
        api_keys::wire::CreateApiKeyRequest, api_keys::wire::ApiKeyView,
        api_keys::wire::CreatedApiKeyView,
    )),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

struct SecuritySchemes;

/// What both caller credentials say about scopes.
const SCOPES_DESCRIPTION: &str = "Each credential holds scopes: `connections:read` (read everything \
but secrets), `credentials:access-token` (connections with the access token, API key or basic auth: \
what a request to the provider carries), `credentials:read` (every secret, refresh tokens and client \
secrets too), `manage` (create, change and delete connections, provider apps, webhooks, allowed \
origins and connect sessions; reads no secrets), `api-keys:manage` (the project's API keys). Every \
scope includes `connections:read`, `credentials:read` includes `credentials:access-token`. A missing \
scope is a 403 problem naming it.";

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "APIKeyHeader",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                SCOPES_DESCRIPTION,
            ))),
        );
        components.add_security_scheme(
            "Bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(format!(
                        "A JWT signed by a key registered for the project; it must name grantd in \
                         `aud`, carry `exp` and `iat` (at most an hour apart by default), and holds \
                         the scopes of its space-separated `scope` claim (`connections:read` \
                         without one). {SCOPES_DESCRIPTION}"
                    )))
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
