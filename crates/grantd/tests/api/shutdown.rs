//! Stopping an instance: readiness turns false first, then accepting stops,
//! and work still in flight at the deadline is cut with its leases released.

use crate::helpers::{spawn_app_with, TestApp};
use grantd::app::Application;
use grantd::config::Config;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use tokio::sync::oneshot;

/// An instance on `app`'s database with `configure` applied, whose
/// `run_until` the test can wait for.
async fn start_instance(
    app: &TestApp,
    configure: impl FnOnce(&mut Config),
) -> (
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let mut config = app.config.clone();
    configure(&mut config);
    let instance = Application::build(config).await.expect("instance starts");
    let address = format!("http://{}", instance.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(instance.run_until(async {
        let _ = stopped.await;
    }));
    (address, stop, running)
}

#[tokio::test]
async fn readyz_answers_503_during_the_drain_delay_while_requests_are_still_served() {
    let app = spawn_app_with(|_| {}).await;
    let (address, stop, running) = start_instance(&app, |config| {
        config.shutdown.drain_delay = Duration::from_secs(2);
    })
    .await;
    let client = reqwest::Client::new();
    let ready = client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    stop.send(()).unwrap();
    let mut draining = None;
    for _ in 0..200 {
        let response = client
            .get(format!("{address}/readyz"))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            draining = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let draining = draining.expect("/readyz turns 503 once shutdown begins");
    assert_eq!(
        draining.headers()["content-type"],
        "application/problem+json"
    );
    // Still serving while the load balancer catches up.
    let providers = client
        .get(format!("{address}/v1/providers/mock"))
        .send()
        .await
        .unwrap();
    assert_eq!(providers.status(), StatusCode::OK);
    let health = client
        .get(format!("{address}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    // Then it stops accepting and returns.
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the instance stops after the drain delay")
        .unwrap()
        .unwrap();
    let refused = reqwest::Client::new()
        .get(format!("{address}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");
}

#[tokio::test]
async fn a_refresh_cut_by_the_shutdown_deadline_releases_its_lease_and_the_instance_exits() {
    // The test's own instance does no scheduled refreshes.
    let app = spawn_app_with(|config| config.refresh.tick = Duration::from_secs(3600)).await;
    app.create_provider_app("mock").await;
    app.provider.issue_refresh_token("rt-slow");
    let expiring = (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339();
    let issued = (chrono::Utc::now() - chrono::Duration::minutes(58)).to_rfc3339();
    let created = app
        .generate(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
            "oauth2AuthorizationCode": {
                "accessToken": {"token": "at", "expiresAt": expiring, "issuedAt": issued},
                "refreshToken": {"token": "rt-slow"}}}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The provider holds the refresh far past the shutdown deadline.
    app.provider.set_delay(Duration::from_secs(120));
    let (_address, stop, running) = start_instance(&app, |config| {
        config.refresh.tick = Duration::from_millis(50);
        config.refresh.lease = Duration::from_secs(600);
        config.shutdown.timeout = Duration::from_secs(1);
    })
    .await;
    for _ in 0..400 {
        if app.provider.calls_with_grant("refresh_token") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.provider.calls_with_grant("refresh_token"), 1);
    let db = app.db().await;
    let lease_owner = |db: sqlx::AnyPool, id: String| async move {
        let (owner,): (Option<String>,) =
            sqlx::query_as("SELECT refresh_lease_owner FROM connections WHERE id = $1")
                .bind(id)
                .fetch_one(&db)
                .await
                .unwrap();
        owner
    };
    assert!(lease_owner(db.clone(), id.clone()).await.is_some());

    stop.send(()).unwrap();
    // Well before the token call timeout (20 s) the drain would wait out.
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the instance exits at its shutdown deadline")
        .unwrap()
        .unwrap();
    assert_eq!(
        lease_owner(db, id).await,
        None,
        "the lease is released for another instance to take at once"
    );
}
