//! The metrics side of the HTTP layer: the middleware that counts every
//! request by its route template, and the scrape endpoint served on the
//! separate metrics listener (never on the public one: metrics tell an
//! outsider how busy each provider is).

use crate::domain::Grantd;
use crate::metrics::UNMATCHED_ROUTE;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::time::Instant;

/// Counts a request under its route template, method and status, and
/// times it to the response head.
pub async fn record_request(
    State(grantd): State<Grantd>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || UNMATCHED_ROUTE.to_owned(),
        |path| path.as_str().to_owned(),
    );
    let method = method_label(request.method());
    let response = next.run(request).await;
    grantd.metrics().http_request(
        &route,
        method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The standard methods by name; any other token a client invents is
/// `other`, so it cannot mint series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The metrics listener's whole surface: `GET /metrics`.
pub fn router(grantd: Grantd) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(grantd)
}

async fn scrape(State(grantd): State<Grantd>) -> Response {
    let body = grantd.render_metrics().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let invented = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&invented), "other");
    }
}
