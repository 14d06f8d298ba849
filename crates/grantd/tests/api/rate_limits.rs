//! Rate limits: a caller over its bucket gets a 429 problem with
//! `Retry-After`, other callers are untouched, and the unauthenticated
//! surface has its own, stricter bucket.

use crate::helpers::{problem, spawn_app_with, TestApp};
use grantd::http::rate_limit::{Bucket, RateLimits};
use reqwest::StatusCode;

fn tight(per_second: u32, burst: u32) -> Option<Bucket> {
    Some(Bucket { per_second, burst })
}

/// Sends `send` until a 429 comes back (at most 30 times).
async fn until_limited<F, Fut>(mut send: F) -> (usize, reqwest::Response)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    for sent in 1..=30 {
        let response = send().await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            return (sent, response);
        }
        assert!(
            response.status().is_success() || response.status().is_client_error(),
            "{}",
            response.status()
        );
    }
    panic!("never limited");
}

async fn list_connections(app: &TestApp, key: &str) -> reqwest::Response {
    app.get_with_key(&app.project_url("/connections"), key)
        .await
}

#[tokio::test]
async fn an_api_key_over_its_limit_gets_429_with_retry_after_and_another_key_is_served() {
    let app = spawn_app_with(|config| {
        config.rate_limits = RateLimits {
            per_credential: tight(1, 3),
            per_address: None,
            unauthenticated_per_address: None,
            exempt_loopback: false,
        };
    })
    .await;
    let (sent, limited) = until_limited(|| list_connections(&app, &app.api_key)).await;
    assert!(sent > 3, "the burst of 3 is served first ({sent})");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body = problem(limited).await;
    assert_eq!(body["status"], 429, "{body}");
    assert_eq!(body["retryable"], true, "{body}");
    assert!(body["retryAfter"].is_string(), "{body}");

    let other = app
        .grantd
        .create_api_key(
            &grantd::domain::Actor::cli(),
            &app.project_id,
            "other",
            grantd::domain::Scopes::all(),
        )
        .await
        .unwrap();
    let response = list_connections(&app, other.key.expose()).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_callback_and_connect_page_have_a_stricter_bucket_than_the_api() {
    let app = spawn_app_with(|config| {
        config.rate_limits = RateLimits {
            per_credential: None,
            per_address: tight(1000, 1000),
            unauthenticated_per_address: tight(1, 2),
            exempt_loopback: false,
        };
    })
    .await;
    let (sent, limited) = until_limited(|| async {
        app.get_without_key(&app.url("/callbacks/v1/oauth?state=unknown&code=x"))
            .await
    })
    .await;
    assert!(sent > 2, "{sent}");
    assert!(limited.headers().contains_key("retry-after"));
    // The connect page shares the unauthenticated bucket.
    let page = app.get_without_key(&app.url("/connect")).await;
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    // The API, from the same address, is within its own bucket.
    let api = list_connections(&app, &app.api_key).await;
    assert_eq!(api.status(), StatusCode::OK);
    // Probes are never limited.
    let ready = app.get_without_key(&app.url("/readyz")).await;
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn loopback_clients_are_not_limited_by_default() {
    let app = spawn_app_with(|config| {
        config.rate_limits = RateLimits {
            per_credential: tight(1, 1),
            per_address: tight(1, 1),
            unauthenticated_per_address: tight(1, 1),
            ..RateLimits::default()
        };
    })
    .await;
    for _ in 0..10 {
        let response = list_connections(&app, &app.api_key).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}
