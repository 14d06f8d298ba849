//! The HTTP layer: routes, extractors, authentication and the mapping of
//! errors to problem+json. Handlers are thin: parse, call the domain, render.

pub mod auth;
pub mod cors;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod wire;

use crate::domain::Grantd;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::response::IntoResponse;
use axum::Router;
use problem::{ApiError, Problem};
use routes::{
    api_keys, audit, callback, connect, connect_sessions, connections, events, health,
    integrations, oauth, projects, provider_apps, providers, webhooks,
};
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Largest request body accepted; the API's bodies are small JSON documents.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Every documented route, from one list: each resource's `router()`
/// registers its handlers together with their OpenAPI operations, so a
/// route cannot exist without its documentation.
pub fn api_routes() -> OpenApiRouter<Grantd> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(providers::router())
        .merge(oauth::router())
        .merge(projects::router())
        .merge(integrations::router())
        .merge(connections::router())
        .merge(provider_apps::router())
        .merge(webhooks::router())
        .merge(events::router())
        .merge(api_keys::router())
        .merge(audit::router())
        .merge(connect_sessions::router())
        .merge(connect::router())
        .merge(callback::router())
}

/// The layers of proxied calls: only a panic guard. No request timeout
/// (the proxy has its own, and a streamed download may outlast any fixed
/// one), no body limit (it has its own) and no rewriting of the provider's
/// error answers into problems. Request ids and grantd's own problems are
/// handled in the handler, not by layers: each layer costs allocations
/// and moves on every call, and the proxy's throughput is its product.
fn with_proxy_layers(proxy: Router) -> Router {
    proxy.layer(CatchPanicLayer::custom(|_panic| proxy_panicked()))
}

/// The proxy's own listener (`--proxy-listen`): every path is the
/// provider's, so there is nothing to route. Served by the handler itself,
/// without a router: routing, its extensions and boxed futures cost every
/// call allocations and copies for a match that cannot fail.
pub fn proxy_service(grantd: Grantd) -> impl server::HttpService {
    tower::service_fn(move |request: axum::extract::Request| {
        let grantd = grantd.clone();
        async move {
            use futures_util::FutureExt;
            let handled = std::panic::AssertUnwindSafe(routes::proxy::at_root(
                axum::extract::State(grantd),
                request,
            ))
            .catch_unwind()
            .await;
            Ok(handled.unwrap_or_else(|_panic| proxy_panicked()))
        }
    })
}

/// The answer to a proxied call whose handler panicked.
fn proxy_panicked() -> axum::response::Response {
    tracing::error!("proxy handler panicked");
    let problem = Problem::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal error",
    );
    problem::render_response(
        axum::response::IntoResponse::into_response(problem),
        "",
        false,
    )
}

/// The whole HTTP surface of grantd, with `limits` on its callers.
pub fn router(grantd: Grantd, limits: &rate_limit::RateLimits) -> Router {
    let proxy = with_proxy_layers(
        Router::new()
            .route(
                "/proxy/{*path}",
                axum::routing::any(routes::proxy::under_prefix),
            )
            .with_state(grantd.clone()),
    );
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let (routes, mut document) = api_routes().split_for_parts();
    openapi::declare_error_statuses(&mut document);
    let api = routes
        .route("/v1/openapi.json", openapi::route(&document))
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|uri: axum::http::Uri| async move {
            // `{connectionId}:oauth-update` shares its route with the
            // connection itself, but takes PATCH only.
            match routes::connections::allowed_methods(uri.path()) {
                Some(allow) => ApiError::MethodNotAllowed(allow).into_response(),
                // axum adds the route's own `Allow`.
                None => Problem::new(
                    axum::http::StatusCode::METHOD_NOT_ALLOWED,
                    "method not allowed on this route",
                )
                .into_response(),
            }
        })
        .with_state(grantd.clone());

    // Outermost first. render_problems sits outside the panic and timeout
    // layers so that what they produce is rendered as problems too.
    let api = api.layer(
        ServiceBuilder::new()
            // Outermost: it sees the status every other layer settled on.
            .layer(axum::middleware::from_fn_with_state(
                grantd.clone(),
                metrics::record_request,
            ))
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
            // Outside the problem renderer: errors carry the CORS headers too.
            .layer(axum::middleware::from_fn_with_state(grantd, cors::cors))
            .layer(axum::middleware::from_fn(no_store_for_api))
            .layer(axum::middleware::from_fn(problem::render_problems))
            // Inside the renderer (its 429 is a problem), before any work.
            .layer(axum::middleware::from_fn_with_state(
                rate_limit::Limiter::new(limits),
                rate_limit::limit,
            ))
            .layer(CatchPanicLayer::custom(|_panic| {
                tracing::error!("handler panicked");
                axum::response::IntoResponse::into_response(Problem::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
                ))
            }))
            .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(60)))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
    );
    proxy.merge(api)
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
