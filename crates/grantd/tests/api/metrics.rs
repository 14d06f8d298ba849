//! Prometheus metrics on their own listener: known traffic, then a scrape
//! parsed the way Prometheus reads it, and the values checked.

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

type Scrape = MetricsExposition<PrometheusType, PrometheusValue>;

/// Asks for a metrics listener on a free loopback port.
fn with_metrics(config: &mut grantd::config::Config) {
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
}

async fn scrape_text(app: &TestApp) -> String {
    let url = app.metrics_url.as_ref().expect("a metrics listener");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

async fn scrape(app: &TestApp) -> Scrape {
    let text = scrape_text(app).await;
    parse_prometheus(&text).unwrap_or_else(|e| panic!("not Prometheus text ({e:?}):\n{text}"))
}

/// The value of the one sample of family `name` whose labels include
/// `labels`; 0 when there is none (a counter never incremented is not
/// rendered). For a histogram, its count.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let Some(family) = scrape.families.get(name) else {
        return 0.0;
    };
    let matching: Vec<_> = family
        .iter_samples()
        .filter(|sample| {
            let set = sample.get_labelset().unwrap();
            labels
                .iter()
                .all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .collect();
    assert!(
        matching.len() <= 1,
        "{name} {labels:?} matches {matching:?}"
    );
    match matching.first().map(|s| &s.value) {
        None => 0.0,
        Some(PrometheusValue::Counter(counter)) => counter.value.as_f64(),
        Some(PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n)) => n.as_f64(),
        Some(PrometheusValue::Histogram(histogram)) => histogram
            .count
            .map(|count| count as f64)
            .or_else(|| {
                histogram
                    .buckets
                    .iter()
                    .find(|b| b.upper_bound.is_infinite())
                    .map(|b| b.count.as_f64())
            })
            .unwrap_or(0.0),
        Some(other) => panic!("{name}: unexpected {other:?}"),
    }
}

/// Polls the scrape until `check` holds (background work: webhook attempts).
async fn eventually(app: &TestApp, check: impl Fn(&Scrape) -> bool) -> Scrape {
    for _ in 0..250 {
        let scraped = scrape(app).await;
        if check(&scraped) {
            return scraped;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the scrape never showed it:\n{}", scrape_text(app).await);
}

#[tokio::test]
async fn metrics_are_off_unless_a_listener_is_asked_for_and_never_on_the_api() {
    let app = spawn_app().await;
    assert!(app.metrics_url.is_none());
    let response = app.get_without_key(&app.url("/metrics")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn requests_are_counted_by_route_template_method_and_status_and_unmatched_paths_share_one_label(
) {
    let app = spawn_app_with(with_metrics).await;
    for _ in 0..3 {
        let response = app.get(&app.project_url("/groups")).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let missing = app.get(&app.project_url("/connections/no-such-id")).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    for path in ["/nope/1", "/nope/2", "/.env"] {
        let response = app.get_without_key(&app.url(path)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let unauthenticated = app.get_without_key(&app.project_url("/groups")).await;
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    let scraped = scrape(&app).await;
    let groups = "/v1/projects/{projectIdOrName}/groups";
    let ok = [("route", groups), ("method", "GET"), ("status", "200")];
    assert_eq!(value(&scraped, "grantd_http_requests_total", &ok), 3.0);
    assert_eq!(
        value(&scraped, "grantd_http_request_duration_seconds", &ok),
        3.0,
        "the latency histogram counts the same requests"
    );
    assert_eq!(
        value(
            &scraped,
            "grantd_http_requests_total",
            &[("route", groups), ("status", "401")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &scraped,
            "grantd_http_requests_total",
            &[
                (
                    "route",
                    "/v1/projects/{projectIdOrName}/connections/{connectionId}"
                ),
                ("status", "404")
            ]
        ),
        1.0,
        "a matched route keeps its template whatever the id"
    );
    assert_eq!(
        value(
            &scraped,
            "grantd_http_requests_total",
            &[("route", "unmatched"), ("method", "GET"), ("status", "404")]
        ),
        3.0
    );
    let text = scrape_text(&app).await;
    for leaked in ["/nope", ".env", "no-such-id", &app.project_id, "acme"] {
        assert!(!text.contains(leaked), "{leaked} became a label:\n{text}");
    }
    assert_eq!(
        value(
            &scraped,
            "grantd_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
}

#[tokio::test]
async fn flows_are_counted_started_completed_and_failed_by_provider_and_reason() {
    let app = spawn_app_with(with_metrics).await;
    app.create_provider_app("mock").await;
    app.connect_mock("g1", "c1").await;
    // Started, then refused by the user at the provider.
    let url = app.start_flow("mock").await;
    let state = crate::helpers::query_param(&url, "state").unwrap();
    let refused = app
        .get_without_key(&app.url(&format!(
            "/callbacks/v1/oauth?state={state}&error=access_denied"
        )))
        .await;
    assert!(refused.status().is_client_error());
    // A state grantd never issued.
    let forged = app
        .get_without_key(&app.url("/callbacks/v1/oauth?state=forged&code=x"))
        .await;
    assert!(forged.status().is_client_error());

    let scraped = scrape(&app).await;
    let mock = [("provider", "mock")];
    assert_eq!(
        value(&scraped, "grantd_oauth_flows_started_total", &mock),
        2.0
    );
    assert_eq!(
        value(&scraped, "grantd_oauth_flows_completed_total", &mock),
        1.0
    );
    assert_eq!(
        value(
            &scraped,
            "grantd_oauth_flows_failed_total",
            &[("provider", "mock"), ("reason", "provider_error")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &scraped,
            "grantd_oauth_flows_failed_total",
            &[("provider", "unknown"), ("reason", "invalid_state")]
        ),
        1.0
    );
}

/// Imports authorization-code tokens that expired `ago_secs` ago, as a
/// `manage`-only caller: an answer with credentials would refresh them.
async fn import_expired(app: &TestApp, group: &str, ago_secs: i64) -> String {
    let manager: Value = app
        .post_json(
            &app.project_url("/api-keys"),
            &json!({"label": "manager", "scopes": ["manage"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let expired = chrono::Utc::now() - chrono::Duration::seconds(ago_secs);
    let response = app.send_with_key(reqwest::Method::POST, &app.project_url("/connections:generate"), manager["apiKey"].as_str().unwrap(), Some(&json!({"provider": "mock", "groupRef": group, "consumerRef": "c", "oauth2AuthorizationCode": { "accessToken": {"token": "at-old", "expiresAt": expired.to_rfc3339()}, "refreshToken": {"token": "rt-original"}, "scopes": ["read"]}}),)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn refreshes_are_counted_by_outcome_and_the_due_backlog_is_read_at_scrape_time() {
    let app = spawn_app_with(|config| {
        with_metrics(config);
        // An idle refresher: due connections wait for reads, so the backlog holds still.
        config.refresh.tick = Duration::from_secs(3600);
    })
    .await;
    app.create_provider_app("mock").await;
    app.provider.issue_refresh_token("rt-original");
    let first = import_expired(&app, "g1", 120).await;
    let second = import_expired(&app, "g2", 60).await;

    let before = scrape(&app).await;
    assert_eq!(value(&before, "grantd_refresh_backlog", &[]), 2.0);
    let age = value(&before, "grantd_refresh_backlog_oldest_age_seconds", &[]);
    assert!(
        age >= 120.0,
        "the oldest due refresh waited since its expiry: {age}"
    );

    // A read with credentials refreshes the first…
    app.connection_with_credentials(&first).await;
    // …and the provider refuses the second's grant.
    app.provider
        .script_token_response(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
    app.connection_with_credentials(&second).await;

    let after = scrape(&app).await;
    assert_eq!(
        value(
            &after,
            "grantd_token_refreshes_total",
            &[("provider", "mock"), ("outcome", "refreshed")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "grantd_token_refreshes_total",
            &[("provider", "mock"), ("outcome", "grant_rejected")]
        ),
        1.0
    );
    assert_eq!(value(&after, "grantd_refresh_backlog", &[]), 0.0);
    assert_eq!(
        value(&after, "grantd_refresh_backlog_oldest_age_seconds", &[]),
        0.0
    );
}

#[tokio::test]
async fn webhook_attempts_are_counted_by_outcome_and_the_queue_depth_is_read_at_scrape_time() {
    let app = spawn_app_with(|config| {
        with_metrics(config);
        config.webhooks.allow_private = true;
        config.webhooks.max_attempts = 2;
        // The retry waits long enough for the scrape to see it pending.
        config.webhooks.retry_base = Duration::from_secs(3600);
        config.webhooks.retry_cap = Duration::from_secs(3600);
    })
    .await;
    // A port nobody listens on: every attempt is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let created = app
        .post_json(
            &app.project_url("/webhooks"),
            &json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["connection.deleted"]}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = import_expired(&app, "g", 10).await;
    assert_eq!(
        app.delete(&app.project_url(&format!("/connections/{id}")))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let scraped = eventually(&app, |s| {
        value(
            s,
            "grantd_webhook_deliveries_total",
            &[("outcome", "retrying")],
        ) == 1.0
    })
    .await;
    assert_eq!(value(&scraped, "grantd_webhook_queue_depth", &[]), 1.0);
    assert_eq!(
        value(
            &scraped,
            "grantd_webhook_deliveries_total",
            &[("outcome", "delivered")]
        ),
        0.0
    );
}

#[tokio::test]
async fn the_database_pools_are_described_by_size_idle_and_maximum() {
    let app = spawn_app_with(with_metrics).await;
    let scraped = scrape(&app).await;
    if app.database_url.is_some() {
        assert_eq!(
            value(
                &scraped,
                "grantd_db_pool_max_connections",
                &[("pool", "shared")]
            ),
            16.0
        );
        assert!(
            value(
                &scraped,
                "grantd_db_pool_connections",
                &[("pool", "shared")]
            ) >= 1.0
        );
    } else {
        assert_eq!(
            value(
                &scraped,
                "grantd_db_pool_max_connections",
                &[("pool", "write")]
            ),
            1.0
        );
        let read = value(&scraped, "grantd_db_pool_connections", &[("pool", "read")]);
        let idle = value(
            &scraped,
            "grantd_db_pool_idle_connections",
            &[("pool", "read")],
        );
        assert!(
            read >= 1.0 && idle <= read,
            "read pool {read} open, {idle} idle"
        );
    }
    // Rendered from the first scrape on, whether or not an error happened.
    for class in ["unavailable", "database"] {
        let text = scrape_text(&app).await;
        assert!(
            text.contains(&format!(
                "grantd_db_query_errors_total{{class=\"{class}\"}}"
            )),
            "{text}"
        );
    }
}

/// Reports (never asserts) what a scrape costs with about 10,000 series:
/// run with `--nocapture` to see it.
#[tokio::test]
async fn scrape_cost_with_ten_thousand_series_is_reported() {
    let app = spawn_app_with(with_metrics).await;
    let metrics = app.grantd.metrics();
    // 500 providers x 20 route-like series: the shape of a busy catalog.
    for p in 0..500 {
        let provider = format!("provider-{p}");
        for status in [200, 201, 204, 400, 401, 403, 404, 409, 429, 500] {
            metrics.proxy_call(&provider, status, Duration::from_millis(5));
        }
        metrics.flow_started(&provider);
        metrics.refresh(&provider, "refreshed");
    }
    let series = scrape_text(&app)
        .await
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    let started = Instant::now();
    for _ in 0..100 {
        scrape_text(&app).await;
    }
    let elapsed = started.elapsed();
    eprintln!(
        "METRICS scrape cost: {series} series, 100 scrapes in {elapsed:?} ({:?} each)",
        elapsed / 100
    );
    assert!(series >= 10_000, "{series} series");
}
