//! Several grantd instances on one database (the same SQLite file, or one
//! PostgreSQL database with GRANTD_TEST_DATABASE_URL): flows cross
//! instances, background refresh is shared through row leases, and a dead
//! instance's lease is taken over once it runs out.

use crate::helpers::{due_import, spawn_app_with, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

/// Imports connections whose tokens are due (2 minutes left of an hour).
async fn import_due(app: &TestApp, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        app.provider.issue_refresh_token(&format!("rt-{i}"));
        ids.push(app.generated_id(&due_import(i)).await);
    }
    ids
}

/// A connection (refresh token `rt-0`) created with a fresh access token
/// that has expired since, so that creating it refreshed nothing and the
/// next read with credentials refreshes. Returns its id.
async fn import_expired_since(app: &TestApp) -> String {
    app.provider.issue_refresh_token("rt-0");
    let fresh = (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    let created: Value = app
        .generate(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
            "oauth2AuthorizationCode": {
                "accessToken": {"token": "at-0", "expiresAt": fresh},
                "refreshToken": {"token": "rt-0"}}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let past = chrono::Utc::now().timestamp_millis() - 60_000;
    sqlx::query(
        "UPDATE connections SET access_token_expires_at = $1, refresh_due_at = $1 WHERE id = $2",
    )
    .bind(past)
    .bind(&id)
    .execute(&app.db().await)
    .await
    .unwrap();
    assert_eq!(app.provider.token_calls(), 0);
    id
}

/// Connections whose token now runs for more than half an hour.
async fn refreshed(app: &TestApp) -> i64 {
    let horizon = chrono::Utc::now().timestamp_millis() + 30 * 60 * 1000;
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM connections WHERE access_token_expires_at > $1")
            .bind(horizon)
            .fetch_one(&app.db().await)
            .await
            .unwrap();
    count
}

async fn wait_for_refreshed(app: &TestApp, expected: i64) {
    for _ in 0..500 {
        if refreshed(app).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("only {} of {expected} refreshed", refreshed(app).await);
}

fn idle_refresher(config: &mut grantd::config::Config) {
    config.refresh.tick = Duration::from_secs(3600);
}

#[tokio::test]
async fn a_flow_started_on_one_instance_finishes_its_callback_on_another() {
    let app = spawn_app_with(|_| {}).await;
    let other = app.spawn_sibling(|_| {}).await;
    let callback = app.mock_flow_at_callback().await;
    // The provider sends the browser back to whichever instance the load
    // balancer picks: here, the other one.
    let on_other = callback.replacen(&app.address, &other.address, 1);
    assert_ne!(on_other, callback);
    let response = app.get_without_key(&on_other).await;
    assert_eq!(response.status(), StatusCode::OK);
    let connection = app.only_connection_for("g").await;
    assert_eq!(connection["status"], "working");
    // The state was consumed: replaying it on the first instance fails.
    let replay = app.get_without_key(&callback).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn two_instances_share_a_refresh_wave_and_refresh_no_connection_twice() {
    let app = spawn_app_with(idle_refresher).await;
    app.create_provider_app("mock").await;
    let ids = import_due(&app, 30).await;
    app.provider.set_delay(Duration::from_millis(50));
    let fast = |config: &mut grantd::config::Config| {
        config.refresh.tick = Duration::from_millis(20);
        config.refresh.per_provider = 3;
    };
    let _b = app.spawn_sibling(fast).await;
    let _c = app.spawn_sibling(fast).await;
    wait_for_refreshed(&app, ids.len() as i64).await;

    let presented = app.provider.refresh_tokens_presented();
    let distinct: HashSet<&String> = presented.iter().collect();
    assert_eq!(
        distinct.len(),
        presented.len(),
        "a refresh token was used twice: {presented:?}"
    );
    assert_eq!(presented.len(), ids.len());
}

#[tokio::test]
async fn a_read_on_one_instance_waits_for_the_refresh_another_instance_is_making() {
    let app = spawn_app_with(idle_refresher).await;
    let other = app.spawn_sibling(idle_refresher).await;
    app.create_provider_app("mock").await;
    app.provider
        .set_grant_delay("refresh_token", Duration::from_millis(800));
    let id = import_expired_since(&app).await;
    let path = format!(
        "/v1/projects/{}/connections/{id}?includeRefreshToken=true",
        app.project_name,
    );

    // A read on the first instance refreshes; while the provider holds the
    // call, a read on the other instance finds the lease taken.
    let url = app.url(&path);
    let first = app.get(&url);
    let second = async {
        let provider = app.provider.clone();
        for _ in 0..500 {
            if provider.calls_with_grant("refresh_token") == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        app.get_with_key(&format!("{}{path}", other.address), &app.api_key)
            .await
    };
    let (first, second) = tokio::join!(first, second);
    for response in [first, second] {
        assert_eq!(response.status(), StatusCode::OK);
        let full: Value = response.json().await.unwrap();
        let tokens = &full["oauth2AuthorizationCode"];
        assert_eq!(
            tokens["accessToken"]["token"], "refreshed-access-1",
            "{full}"
        );
        assert_eq!(tokens["refreshToken"]["token"], "rotated-1", "{full}");
    }
    assert_eq!(app.provider.refresh_tokens_presented(), ["rt-0"]);
}

#[tokio::test]
async fn a_refresh_another_instance_stored_while_this_one_waited_for_the_lease_is_not_repeated() {
    let app = spawn_app_with(idle_refresher).await;
    app.create_provider_app("mock").await;
    let id = import_expired_since(&app).await;
    let db = app.db().await;

    // The test plays another instance: it holds the row (PostgreSQL) or the
    // database's write lock (SQLite), so this instance's read finds the
    // token expired and then waits to claim the lease…
    let mut other = db.acquire().await.unwrap();
    if app.database_url.is_some() {
        sqlx::query("BEGIN").execute(&mut *other).await.unwrap();
        sqlx::query("SELECT id FROM connections WHERE id = $1 FOR UPDATE")
            .bind(&id)
            .execute(&mut *other)
            .await
            .unwrap();
    } else {
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *other)
            .await
            .unwrap();
    }
    let url = app.project_url(&format!("/connections/{id}?includeRefreshToken=true"));
    let read = tokio::spawn({
        let client = app.client.clone();
        let key = app.api_key.clone();
        async move {
            client
                .get(url)
                .header("X-Api-Key", key)
                .send()
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // …while the other instance stores a refresh of its own and lets go.
    let later = chrono::Utc::now().timestamp_millis() + 3_600_000;
    sqlx::query(
        "UPDATE connections SET credentials_version = credentials_version + 1, \
         access_token_expires_at = $1, refresh_due_at = $1 WHERE id = $2",
    )
    .bind(later)
    .bind(&id)
    .execute(&mut *other)
    .await
    .unwrap();
    sqlx::query("COMMIT").execute(&mut *other).await.unwrap();

    // With the lease, this instance reads the row again and finds nothing
    // left to do: no second refresh of the same grant.
    let response = read.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.provider.calls_with_grant("refresh_token"), 0);
}

#[tokio::test]
async fn a_dead_instances_lease_is_taken_over_once_it_runs_out() {
    let app = spawn_app_with(idle_refresher).await;
    app.create_provider_app("mock").await;
    let ids = import_due(&app, 2).await;
    // An instance that died while holding the lease of the first for an hour.
    let db = app.db().await;
    let hold = |until: i64| {
        sqlx::query(
            "UPDATE connections SET refresh_lease_owner = 'dead-instance', refresh_lease_until = $1 WHERE id = $2",
        )
        .bind(until)
        .bind(&ids[0])
        .execute(&db)
    };
    hold(chrono::Utc::now().timestamp_millis() + 3_600_000)
        .await
        .unwrap();
    let _live = app
        .spawn_sibling(|config| config.refresh.tick = Duration::from_millis(20))
        .await;
    // The live instance is at work (it refreshes the free one) and, ten
    // ticks on, has still left the leased one alone.
    wait_for_refreshed(&app, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.provider.refresh_tokens_presented(),
        ["rt-1"],
        "the lease is respected"
    );
    // The lease runs out.
    hold(chrono::Utc::now().timestamp_millis() - 1)
        .await
        .unwrap();
    wait_for_refreshed(&app, 2).await;
    assert_eq!(app.provider.refresh_tokens_presented(), ["rt-1", "rt-0"]);
}

/// A TCP relay to the database that the test can cut and restore, standing
/// in for a database server going away and coming back.
struct Relay {
    port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn start(target: String) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (flag, list) = (down.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused in effect
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                list.lock().unwrap().push(task.abort_handle());
            }
        });
        Relay { port, down, links }
    }

    fn cut(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_database_outage_is_a_retryable_503_and_grantd_recovers_by_itself() {
    let Ok(server) = std::env::var("GRANTD_TEST_DATABASE_URL") else {
        crate::helpers::skip(
            "a_database_outage_is_a_retryable_503_and_grantd_recovers_by_itself",
            "PostgreSQL only: set GRANTD_TEST_DATABASE_URL to run it",
        );
        return;
    };
    let server = url::Url::parse(&server).unwrap();
    let target = format!(
        "{}:{}",
        server.host_str().unwrap(),
        server.port().unwrap_or(5432)
    );
    let relay = Relay::start(target).await;
    let port = relay.port;
    let app = spawn_app_with(move |config| {
        let mut url = url::Url::parse(config.database_url.as_deref().unwrap()).unwrap();
        url.set_port(Some(port)).unwrap();
        config.database_url = Some(url.to_string());
    })
    .await;
    let list = app.project_url("/connections");
    assert_eq!(app.get(&list).await.status(), StatusCode::OK);

    relay.cut();
    let response = app.get(&list).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["retryable"], true, "{body}");
    assert_eq!(
        app.get_without_key(&app.url("/readyz")).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    relay.restore();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        status = app.get(&list).await.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK, "grantd did not recover");
}
