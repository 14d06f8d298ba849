//! The OpenAPI document, generated from the handlers' annotations.

use super::routes::oauth;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::{get, MethodRouter};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// What no resource router registers: the document's info, its security
/// schemes, and the one operation without a handler of its own
/// (`…/{connectionId}:oauth-update`, which `patch_connection_action`
/// dispatches to). The routes and their schemas come from
/// [`super::api_routes`].
#[derive(OpenApi)]
#[openapi(
    info(title = "grantd", description = "Self-hosted connection service, wire-compatible with Ampersand's public API."),
    paths(oauth::update_oauth_connection),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

struct SecuritySchemes;

/// What both caller credentials say about scopes.
const SCOPES_DESCRIPTION: &str = "Each credential holds scopes: `connections:read` (read everything \
but secrets), `credentials:access-token` (connections with the access token, API key or basic auth: \
what a request to the provider carries), `credentials:read` (every secret, refresh tokens and client \
secrets too), `manage` (create, change and delete connections, provider apps, webhooks, allowed \
origins and connect sessions; reads no secrets), `api-keys:manage` (the project's API keys), \
`audit:read` (the project's audit trail). Every \
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

/// The whole document, as served at `/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    super::api_routes().into_openapi()
}

/// `GET /v1/openapi.json`: the document, serialized once at startup.
pub fn route<S: Clone + Send + Sync + 'static>(
    document: &utoipa::openapi::OpenApi,
) -> MethodRouter<S> {
    let body = Bytes::from(serde_json::to_vec(document).expect("the OpenAPI document serializes"));
    get(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    })
}
