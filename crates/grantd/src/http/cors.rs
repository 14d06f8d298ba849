//! CORS for browser callers of `/v1` (`@amp-labs/react` calls the API from
//! the customer's page with `X-Api-Key`).
//!
//! Which origins may call is each project's allowed-origins list. A
//! preflight carries no credential, so it is answered for an origin that
//! any project allows; the request that follows is decided with the
//! caller's own project: the CORS headers come only when that project
//! allows the origin (a request without a valid credential, or to a public
//! path, is again decided by "any project", so that the browser can read
//! the 401). Other origins get no `Access-Control-*` header at all.
//!
//! The decision needs the database, and tower-http's `CorsLayer` sends its
//! method, header and expose lists to every origin; so this middleware
//! decides, and runs the request through a `CorsLayer` for that one exact
//! origin only when it is allowed. No `Access-Control-Allow-Credentials`:
//! callers authenticate with headers, not cookies.

use super::auth::authenticate;
use crate::domain::Grantd;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Request headers a browser caller may send (those of `@amp-labs/react`
/// and grantd's own).
const ALLOWED_HEADERS: [&str; 6] = [
    "x-api-key",
    "authorization",
    "content-type",
    "x-amp-client",
    "x-amp-client-version",
    "x-request-id",
];

/// Response headers a browser caller may read beyond the safelisted ones.
const EXPOSED_HEADERS: [&str; 4] = [
    "x-request-id",
    "retry-after",
    "www-authenticate",
    "location",
];

/// How long a browser may reuse a preflight: short, so that removing an
/// origin from a project takes effect soon.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Adds CORS to `/v1` responses for allowed origins, and answers their
/// preflights.
pub async fn cors(State(grantd): State<Grantd>, mut request: Request, next: Next) -> Response {
    let origin = match request.headers().get(header::ORIGIN) {
        Some(origin) if request.uri().path().starts_with("/v1/") => origin.clone(),
        _ => return next.run(request).await,
    };
    if !origin_allowed(&grantd, &origin, &mut request).await {
        let mut response = next.run(request).await;
        // The answer depends on the origin: shared caches must not reuse it
        // for an allowed one.
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("origin"));
        return response;
    }
    let service = cors_layer(origin).layer(next);
    match service.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// A preflight is decided by every project's list; another request by the
/// list of the project its credential belongs to, when it has a valid one.
async fn origin_allowed(grantd: &Grantd, origin: &HeaderValue, request: &mut Request) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if !preflight {
        if let Ok(caller) = authenticate(grantd, request.headers()).await {
            let allowed = grantd
                .project_allows_origin(&caller.project().id, origin)
                .await;
            // The handler's extractor reuses it rather than authenticating again.
            request.extensions_mut().insert(caller);
            return allowed.unwrap_or_else(|error| {
                tracing::error!(%error, "could not read the project's allowed origins");
                false
            });
        }
    }
    grantd
        .any_project_allows_origin(origin)
        .await
        .unwrap_or_else(|error| {
            tracing::error!(%error, "could not read the allowed origins");
            false
        })
}

fn cors_layer(origin: HeaderValue) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::exact(origin))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(PREFLIGHT_MAX_AGE)
}
