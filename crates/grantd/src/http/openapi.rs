//! The OpenAPI document, generated from the handlers' annotations.

use super::routes::{connections, oauth};
use axum::body::Bytes;
use axum::http::header;
use axum::routing::{get, MethodRouter};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// What no resource router registers: the document's info, its security
/// schemes, and the two operations `patch_connection_action` dispatches to
/// (`PATCH …/{connectionId}` and `…/{connectionId}:oauth-update`). The routes and their schemas come from
/// [`super::api_routes`].
#[derive(OpenApi)]
#[openapi(
    info(title = "grantd", description = "Self-hosted connection service, wire-compatible with Ampersand's public API."),
    paths(oauth::update_oauth_connection, connections::update_connection),
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

/// The whole document, as served at `/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = super::api_routes().into_openapi();
    declare_error_statuses(&mut document);
    document
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

/// Declares on every operation the error statuses it can send and its own
/// annotation does not list, each a problem+json `Problem`: a client
/// generated from this document then knows every status grantd answers
/// with. The statuses follow from what the operation is: authenticated
/// (401, 403, and 404 for another project), takes a body (400, 413, 415)
/// or a query (400), writes (409), asks a provider for tokens (422, 502);
/// and any request can time out (408) or meet a failing store (500, 503).
pub fn declare_error_statuses(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, PathItem, Ref, ResponseBuilder};
    let problem = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    for (path, item) in document.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let PathItem {
            get,
            put,
            post,
            delete,
            patch,
            ..
        } = item;
        let methods = [
            (false, get),
            (true, put),
            (true, post),
            (true, delete),
            (true, patch),
        ];
        for (writes, operation) in methods {
            let Some(operation) = operation else { continue };
            let mut statuses = vec![408, 500, 503];
            let authenticated = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            if authenticated {
                statuses.extend([401, 403, 404]);
            }
            let has_query = operation.parameters.as_ref().is_some_and(|params| {
                params
                    .iter()
                    .any(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Query)
            });
            if operation.request_body.is_some() {
                statuses.extend([400, 413, 415]);
            } else if has_query {
                statuses.push(400);
            }
            if writes && authenticated {
                statuses.push(409);
            }
            if matches!(
                operation.operation_id.as_deref(),
                Some("generateConnection" | "updateConnection")
            ) {
                statuses.extend([422, 502]);
            }
            for status in statuses {
                let code = status.to_string();
                if operation.responses.responses.contains_key(&code) {
                    continue;
                }
                let reason = axum::http::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("Error");
                operation.responses.responses.insert(
                    code,
                    ResponseBuilder::new()
                        .description(reason)
                        .content("application/problem+json", problem.clone())
                        .build()
                        .into(),
                );
            }
        }
    }
}
