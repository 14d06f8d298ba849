//! The HTTP layer: routes, extractors, authentication and the mapping of
//! errors to problem+json. Handlers are thin: parse, call the domain, render.

pub mod auth;
mod bounce_page;
mod callback_page;
mod connect_page;
pub mod extract;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod server;
pub mod wire;

use crate::domain::Grantd;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::{get, post};
use axum::Router;
use problem::{ApiError, Problem};
use routes::{
    api_keys, callback, connect, connect_sessions, connections, events, health, oauth, projects,
    provider_apps, providers, webhooks,
};
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// Largest request body accepted; the API's bodies are small JSON documents.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The whole HTTP surface of grantd.
pub fn router(grantd: Grantd) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let project = "/v1/projects/{projectIdOrName}";
    let api = Router::new()
        .route("/healthz", get(health::get_health))
        .route("/readyz", get(health::get_readiness))
        .route("/v1/openapi.json", get(openapi::get_openapi))
        .route("/v1/providers", get(providers::list_providers))
        .route("/v1/providers/{provider}", get(providers::get_provider))
        .route("/v1/oauth-connect", post(oauth::create_oauth_connect))
        .route(project, get(projects::get_project))
        .route(&format!("{project}/groups"), get(projects::list_groups))
        .route(
            &format!("{project}/consumers"),
            get(projects::list_consumers),
        )
        .route(
            &format!("{project}/connections"),
            get(connections::list_connections),
        )
        .route(
            &format!("{project}/connections:generate"),
            post(connections::generate_connection),
        )
        .route(
            &format!("{project}/connections/{{connectionId}}"),
            get(connections::get_connection)
                .delete(connections::delete_connection)
                .patch(oauth::patch_connection_action),
        )
        .route(
            &format!("{project}/provider-apps"),
            get(provider_apps::list_provider_apps).post(provider_apps::create_provider_app),
        )
        .route(
            &format!("{project}/provider-apps/{{providerAppId}}"),
            get(provider_apps::get_provider_app)
                .patch(provider_apps::update_provider_app)
                .delete(provider_apps::delete_provider_app),
        )
        .route(
            &format!("{project}/webhooks"),
            get(webhooks::list_webhooks).post(webhooks::create_webhook),
        )
        .route(
            &format!("{project}/webhooks/{{webhookId}}"),
            get(webhooks::get_webhook).delete(webhooks::delete_webhook),
        )
        .route(
            &format!("{project}/webhooks/{{webhookId}}/deliveries"),
            get(webhooks::list_webhook_deliveries),
        )
        .route(&format!("{project}/events"), get(events::list_events))
        .route(
            &format!("{project}/api-keys"),
            get(api_keys::list_api_keys).post(api_keys::create_api_key),
        )
        .route(
            &format!("{project}/api-keys/{{apiKeyId}}"),
            axum::routing::delete(api_keys::revoke_api_key),
        )
        .route(
            &format!("{project}/allowed-origins"),
            get(connect_sessions::get_allowed_origins).put(connect_sessions::set_allowed_origins),
        )
        .route(
            &format!("{project}/connect-sessions"),
            post(connect_sessions::create_connect_session),
        )
        .route(
            &format!("{project}/connect-sessions/{{sessionId}}"),
            get(connect_sessions::get_connect_session),
        )
        .route("/connect", get(connect::get_connect_page))
        .route("/connect/assets/{file}", get(connect::get_connect_asset))
        .route("/connect/api/session", get(connect::get_page_session))
        .route("/connect/api/start", post(connect::start_page_flow))
        .route("/connect/start", get(connect::refuse_query_bounce))
        .route("/callbacks/v1/oauth", get(callback::get_oauth_callback))
        .route(
            "/callbacks/v1/oauth/start",
            get(connect::get_bounce_page).post(connect::bounce),
        )
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .with_state(grantd);

    // Outermost first. render_problems sits outside the panic and timeout
    // layers so that what they produce is rendered as problems too.
    api.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                    // The path only: query strings carry codes and states.
                    let id = request
                        .headers()
                        .get(REQUEST_ID_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .on_failure(DefaultOnFailure::new().level(Level::ERROR)),
            )
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(axum::middleware::from_fn(no_store_for_api))
            .layer(axum::middleware::from_fn(problem::render_problems))
            .layer(CatchPanicLayer::custom(|_panic| {
                tracing::error!("handler panicked");
                axum::response::IntoResponse::into_response(Problem::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
                ))
            }))
            .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(60)))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
    )
}

/// `/v1` paths that hold nothing private: the catalog and the OpenAPI document.
fn is_public_v1_path(path: &str) -> bool {
    path == "/v1/openapi.json" || path == "/v1/providers" || path.starts_with("/v1/providers/")
}

/// Every other `/v1` response (errors included) is a tenant's data and may
/// carry secrets: tokens, client secrets, new API keys, webhook secrets,
/// connect-session tokens. Deny-by-default, so a new route cannot forget it.
/// `Pragma` for HTTP/1.0 caches, as RFC 6749 §5.1 asks of token responses.
async fn no_store_for_api(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    let private = path.starts_with("/v1/") && !is_public_v1_path(path);
    let mut response = next.run(request).await;
    if private {
        let headers = response.headers_mut();
        headers.insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        headers.insert(
            axum::http::header::PRAGMA,
            axum::http::HeaderValue::from_static("no-cache"),
        );
    }
    response
}
