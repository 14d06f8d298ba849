//! Connection events and signed webhooks, against a receiver running in the
//! test on 127.0.0.1 (so most tests allow private destinations, as an
//! operator does with `--webhook-allow-private`), and the guard that keeps
//! deliveries off private addresses when that is not allowed.

use crate::helpers::{issue_names, problem, spawn_app_with, TestApp};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use axum::Router;
use grantd::config::Config;
use grantd::domain::WebhookSettings;
use grantd::storage::{now_millis, AttemptResult, NewEvent};
use grantd::vocab::DeliveryStatus;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any wait for an asynchronous outcome may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);
const STEP: Duration = Duration::from_millis(20);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
            .to_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    /// Statuses for the next requests; 200 once it runs out.
    script: Mutex<VecDeque<u16>>,
}

/// A webhook receiver: records every request and answers as scripted.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let state = Arc::new(ReceiverState::default());
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    fn answer_next(&self, statuses: &[u16]) {
        self.state.script.lock().unwrap().extend(statuses);
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived and returns them all.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        eventually(&format!("{n} webhook requests at {}", self.url), || async {
            let received = self.received();
            (received.len() >= n).then_some(received)
        })
        .await
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> AxumStatus {
    state
        .received
        .lock()
        .unwrap()
        .push(Received { headers, body });
    let status = state.script.lock().unwrap().pop_front().unwrap_or(200);
    AxumStatus::from_u16(status).unwrap()
}

/// Polls `check` every 20 ms until it yields a value, failing after 10 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(STEP).await;
    }
}

/// A retry schedule in milliseconds so that retries happen within the test,
/// and private destinations allowed, for the receivers on 127.0.0.1.
fn fast_webhooks(config: &mut Config) {
    fast_guarded_webhooks(config);
    config.webhooks.allow_private = true;
}

/// The same schedule with the default guard: private destinations refused.
fn fast_guarded_webhooks(config: &mut Config) {
    config.webhooks = WebhookSettings {
        allow_private: false,
        retry_base: Duration::from_millis(20),
        retry_cap: Duration::from_millis(100),
        poll_interval: Duration::from_millis(10),
        request_timeout: Duration::from_secs(5),
        ..WebhookSettings::default()
    };
}

async fn spawn_fast_app() -> TestApp {
    spawn_app_with(fast_webhooks).await
}

/// An app with the default guard that gives each delivery `max_attempts` tries.
async fn spawn_guarded_app(max_attempts: u32) -> TestApp {
    spawn_app_with(|config| {
        fast_guarded_webhooks(config);
        config.webhooks.max_attempts = max_attempts;
    })
    .await
}

/// An endpoint registered at a public URL and then moved to `url` in the
/// database, past registration's checks (as an older instance, or one with
/// other settings, could have stored it); its id.
async fn registered_then_moved_to(app: &TestApp, url: &str) -> String {
    let webhook = register(app, json!({"url": "https://hooks.example.com/grantd"})).await;
    let id = webhook["id"].as_str().unwrap().to_owned();
    sqlx::query("UPDATE webhook_endpoints SET url = $1 WHERE id = $2")
        .bind(url)
        .bind(&id)
        .execute(&app.db().await)
        .await
        .unwrap();
    id
}

/// Registers `url` for the app's project; returns the created body.
async fn register(app: &TestApp, body: Value) -> Value {
    let response = app.post_json(&app.project_url("/webhooks"), &body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "registering failed: {text}");
    serde_json::from_str(&text).unwrap()
}

/// An API-key connection of the `mock` provider; returns its id.
async fn generate_connection(app: &TestApp, group_ref: &str) -> String {
    app.generated_id(&json!({
        "provider": "mock", "groupRef": group_ref, "consumerRef": "user-1",
        "apiKey": "ak-never-in-a-webhook",
    }))
    .await
}

async fn deliveries(app: &TestApp, webhook_id: &str) -> Vec<Value> {
    let response = app
        .get(&app.project_url(&format!("/webhooks/{webhook_id}/deliveries")))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Waits until the newest delivery of the endpoint is no longer pending.
async fn settled_delivery(app: &TestApp, webhook_id: &str) -> Value {
    eventually("the delivery to settle", || async {
        let log = deliveries(app, webhook_id).await;
        log.into_iter().next().filter(|d| d["status"] != "pending")
    })
    .await
}

/// What a receiver does: HMAC-SHA256 keyed with the secret over
/// "{timestamp}.{raw body}", compared in constant time (`verify_slice`).
/// A `connection.created` event written straight to the store at `at` (a
/// test dates it ahead, so that only its own claims find it due, never the
/// app's worker); how many deliveries it queued.
async fn record_created_event(app: &TestApp, at: i64) -> usize {
    app.grantd
        .store()
        .insert_event(NewEvent {
            id: uuid::Uuid::now_v7().to_string(),
            project_id: app.project_id.clone(),
            connection_id: "c".into(),
            kind: "connection.created".into(),
            data: "{}".into(),
            created_at: at,
        })
        .await
        .unwrap()
}

fn signature_verifies(secret: &str, received: &Received) -> bool {
    let timestamp = received.header("grantd-webhook-timestamp");
    let signature = received.header("grantd-webhook-signature");
    let Some(hex_mac) = signature.strip_prefix("v1=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_mac) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&received.body);
    mac.verify_slice(&expected).is_ok()
}

const ALL_KINDS: [&str; 7] = [
    "connection.created",
    "connection.refreshed",
    "connection.refresh_failed",
    "connection.reauthorized",
    "connection.updated",
    "connection.status_changed",
    "connection.deleted",
];

#[tokio::test]
async fn registering_returns_the_secret_once_and_listing_never_shows_it() {
    let app = spawn_fast_app().await;
    let created = register(
        &app,
        json!({"url": "https://hooks.example.com/grantd", "description": "ops"}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(secret.len(), "whsec_".len() + 43, "32 bytes, base64url");
    assert_eq!(created["url"], "https://hooks.example.com/grantd");
    assert_eq!(created["events"], json!(ALL_KINDS), "every kind by default");
    assert_eq!(created["description"], "ops");
    assert!(chrono::DateTime::parse_from_rfc3339(created["createdAt"].as_str().unwrap()).is_ok());
    let id = created["id"].as_str().unwrap();

    let second = register(&app, json!({"url": "https://hooks.example.com/other"})).await;
    assert_ne!(second["secret"], created["secret"]);

    let list = app.get(&app.project_url("/webhooks")).await;
    assert_eq!(list.status(), StatusCode::OK);
    let text = list.text().await.unwrap();
    assert!(!text.contains(secret), "the list shows a secret: {text}");
    let list: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], id);
    assert!(list.iter().all(|w| w.get("secret").is_none()));

    let one = app
        .get(&app.project_url(&format!("/webhooks/{id}")))
        .await
        .text()
        .await
        .unwrap();
    assert!(!one.contains(secret));
    assert_eq!(
        serde_json::from_str::<Value>(&one).unwrap()["url"],
        created["url"]
    );

    // Sealed at rest, bound to the endpoint's id.
    let pool = app.db().await;
    let (key_id, ciphertext): (String, Vec<u8>) = sqlx::query_as(
        "SELECT secret_key_id, secret_ciphertext FROM webhook_endpoints WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!key_id.is_empty());
    assert!(!ciphertext
        .windows(secret.len())
        .any(|w| w == secret.as_bytes()));
}

#[tokio::test]
async fn a_generated_connection_is_delivered_as_a_signed_connection_created_event() {
    let app = spawn_fast_app().await;
    let receiver = Receiver::start().await;
    let webhook = register(&app, json!({"url": receiver.url})).await;
    let secret = webhook["secret"].as_str().unwrap();
    let connection_id = generate_connection(&app, "org-1").await;

    let received = receiver.wait_for(1).await;
    let request = &received[0];
    assert_eq!(request.header("content-type"), "application/json");
    assert!(
        signature_verifies(secret, request),
        "the signature does not verify"
    );
    assert!(
        !signature_verifies("whsec_wrong", request),
        "any secret verifies"
    );
    let timestamp: i64 = request.header("grantd-webhook-timestamp").parse().unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - timestamp).abs() <= 300,
        "timestamp {timestamp} is not within 5 minutes"
    );

    let body = request.json();
    assert_eq!(body["type"], "connection.created");
    assert_eq!(body["projectId"], app.project_id.as_str());
    assert_eq!(
        request.header("grantd-webhook-id"),
        body["id"].as_str().unwrap()
    );
    assert!(chrono::DateTime::parse_from_rfc3339(body["createdAt"].as_str().unwrap()).is_ok());
    assert_eq!(
        body["data"],
        json!({"connectionId": connection_id, "provider": "mock", "groupRef": "org-1", "consumerRef": "user-1"})
    );
    assert!(!String::from_utf8_lossy(&request.body).contains("ak-never-in-a-webhook"));

    let delivery = settled_delivery(&app, webhook["id"].as_str().unwrap()).await;
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["lastStatusCode"], 200);
    assert_eq!(delivery["eventId"], body["id"]);
    assert_eq!(delivery["kind"], "connection.created");
    assert!(delivery["deliveredAt"].is_string());
    assert!(delivery["nextAttemptAt"].is_null());

    // The event log has it too, by connection.
    let events = app.connection_events(&connection_id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], body["id"]);
    assert_eq!(events[0]["type"], "connection.created");
    assert_eq!(events[0]["connectionId"], connection_id.as_str());
    assert_eq!(events[0]["data"], body["data"]);
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_same_event_three_times_and_the_log_says_delivered() {
    let app = spawn_fast_app().await;
    let receiver = Receiver::start().await;
    receiver.answer_next(&[500, 500]);
    let webhook = register(&app, json!({"url": receiver.url})).await;
    let secret = webhook["secret"].as_str().unwrap();
    generate_connection(&app, "org-1").await;

    let received = receiver.wait_for(3).await;
    let ids: Vec<String> = received
        .iter()
        .map(|r| r.header("grantd-webhook-id"))
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "ids differ: {ids:?}");
    assert!(received.iter().all(|r| r.json()["id"] == ids[0].as_str()));
    assert!(received.iter().all(|r| signature_verifies(secret, r)));

    let delivery = settled_delivery(&app, webhook["id"].as_str().unwrap()).await;
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["lastStatusCode"], 200);
    assert!(delivery["lastError"].is_null());
    assert_eq!(receiver.received().len(), 3, "nothing after the 2xx");
    app.shutdown().await;
}

#[tokio::test]
async fn a_delivery_is_failed_after_its_last_attempt_with_the_error_recorded() {
    let app = spawn_app_with(|config| {
        fast_webhooks(config);
        config.webhooks.max_attempts = 3;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.answer_next(&[503, 503, 503, 503]);
    let webhook = register(&app, json!({"url": receiver.url})).await;
    generate_connection(&app, "org-1").await;

    let delivery = settled_delivery(&app, webhook["id"].as_str().unwrap()).await;
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["lastStatusCode"], 503);
    assert_eq!(delivery["lastError"], "http_503");
    assert!(delivery["nextAttemptAt"].is_null());
    assert_eq!(receiver.received().len(), 3);
}

/// An address where nothing listens and nothing can start to while it is
/// held: a bound socket that never listens refuses connections.
fn closed_port() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = socket.local_addr().unwrap();
    (socket, address)
}

#[tokio::test]
async fn an_unreachable_endpoint_records_the_connect_class_without_a_status() {
    let app = spawn_app_with(|config| {
        fast_webhooks(config);
        config.webhooks.max_attempts = 2;
    })
    .await;
    let (_held, closed) = closed_port();
    let webhook = register(&app, json!({"url": format!("http://{closed}/hook")})).await;
    generate_connection(&app, "org-1").await;

    let delivery = settled_delivery(&app, webhook["id"].as_str().unwrap()).await;
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 2);
    assert!(delivery["lastStatusCode"].is_null());
    assert_eq!(delivery["lastError"], "connect", "{delivery}");
}

/// A TCP listener that accepts connections, counts them and never answers.
struct SilentListener {
    address: std::net::SocketAddr,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl SilentListener {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            // Held open until the test ends, so the client waits for an answer.
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(socket);
            }
        });
        Self { address, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn delivery_errors_are_recorded_as_classes_that_name_no_host_or_port() {
    let app = spawn_app_with(|config| {
        fast_webhooks(config);
        config.webhooks.max_attempts = 1;
        config.webhooks.request_timeout = Duration::from_millis(500);
    })
    .await;
    let (_held, closed) = closed_port();
    let failing = Receiver::start().await;
    failing.answer_next(&[500]);
    let silent = SilentListener::start().await;
    // A plain-http server asked for TLS.
    let plain = Receiver::start().await;
    let tls_url = plain.url.replace("http://", "https://");
    let cases = [
        (format!("http://{closed}/hook"), "connect"),
        (failing.url.clone(), "http_500"),
        (format!("http://{}/hook", silent.address), "timeout"),
        (tls_url, "tls"),
    ];
    let mut webhooks = Vec::new();
    for (url, class) in &cases {
        let webhook = register(&app, json!({"url": url})).await;
        webhooks.push((webhook["id"].as_str().unwrap().to_owned(), *class, url));
    }
    generate_connection(&app, "org-1").await;

    for (id, class, url) in webhooks {
        let delivery = settled_delivery(&app, &id).await;
        assert_eq!(delivery["status"], "failed", "{url}: {delivery}");
        assert_eq!(delivery["lastError"], class, "{url}: {delivery}");
    }
    assert_eq!(silent.accepted(), 1, "the silent receiver was reached once");
}

#[tokio::test]
async fn a_host_name_that_does_not_resolve_records_the_dns_class() {
    let app = spawn_guarded_app(1).await;
    // A label longer than DNS allows (63 octets) under the reserved .invalid:
    // the system resolver refuses it without asking a DNS server, so the
    // test needs none. Over http, since TLS would refuse the name before
    // resolving it; registration refuses plain http, so it is set directly.
    let url = format!("http://{}.invalid/hook", "a".repeat(64));
    let id = &registered_then_moved_to(&app, &url).await;
    generate_connection(&app, "org-1").await;

    let delivery = settled_delivery(&app, id).await;
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["lastError"], "dns", "{delivery}");
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_connect_time_and_nothing_reaches_it() {
    let app = spawn_guarded_app(2).await;
    let listener = SilentListener::start().await;
    // A name, so registering cannot tell where it leads; `localhost`
    // resolves to loopback at delivery, as a rebinding name would.
    let url = format!("https://localhost:{}/hook", listener.address.port());
    let webhook = register(&app, json!({"url": url})).await;
    generate_connection(&app, "org-1").await;

    let delivery = settled_delivery(&app, webhook["id"].as_str().unwrap()).await;
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 2);
    assert!(delivery["lastStatusCode"].is_null());
    assert_eq!(delivery["lastError"], "refused_address", "{delivery}");
    assert_eq!(
        listener.accepted(),
        0,
        "a connection reached the loopback port"
    );
}

#[tokio::test]
async fn an_endpoint_stored_at_a_private_address_is_refused_when_private_destinations_are_not_allowed(
) {
    let app = spawn_guarded_app(1).await;
    let receiver = Receiver::start().await;
    // Registered while the opt-in was on (or before the guard existed),
    // then served without it: the literal is checked at each delivery.
    let id = &registered_then_moved_to(&app, &receiver.url).await;
    generate_connection(&app, "org-1").await;

    let delivery = settled_delivery(&app, id).await;
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["lastError"], "refused_address", "{delivery}");
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn non_public_addresses_and_plain_http_are_refused_at_registration_without_the_opt_in() {
    let app = spawn_app_with(fast_guarded_webhooks).await;
    let receiver = Receiver::start().await;
    for url in [
        "https://10.0.0.1/hook".to_owned(),
        "https://192.168.1.10/hook".to_owned(),
        "https://[::ffff:127.0.0.1]/hook".to_owned(),
        "https://[fd00::1]/hook".to_owned(),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://2130706433/hook".to_owned(),
        receiver.url.clone(),
        "http://localhost/hook".to_owned(),
    ] {
        let response = app
            .post_json(&app.project_url("/webhooks"), &json!({ "url": url }))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(issue_names(&problem(response).await), ["url"], "{url}");
    }
    let list: Vec<Value> = app.get_json(&app.project_url("/webhooks")).await;
    assert!(list.is_empty(), "nothing was registered: {list:?}");
}

#[tokio::test]
async fn metadata_addresses_are_refused_even_where_private_destinations_are_allowed() {
    let app = spawn_fast_app().await;
    for url in [
        "https://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://100.100.100.200/latest/meta-data/",
        "https://[::ffff:169.254.169.254]/",
    ] {
        let response = app
            .post_json(&app.project_url("/webhooks"), &json!({ "url": url }))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(issue_names(&problem(response).await), ["url"], "{url}");
    }
}

#[tokio::test]
async fn an_error_stored_in_words_by_an_older_instance_is_shown_as_its_class() {
    let app = spawn_fast_app().await;
    let webhook = register(&app, json!({"url": "https://hooks.example.com/grantd"})).await;
    let store = app.grantd.store();
    // Dated a day ahead: due only for the claim below, never for the app's
    // own worker.
    let later = now_millis() + 86_400_000;
    record_created_event(&app, later).await;
    let jobs = store
        .claim_webhook_deliveries("older-instance", later, later + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    let recorded = AttemptResult {
        status: DeliveryStatus::Failed,
        next_attempt_at: None,
        last_status_code: None,
        last_error: Some(
            "could not connect: client error (Connect): tcp connect error: Connection refused (os error 111)"
                .into(),
        ),
        delivered_at: None,
        now: later,
    };
    assert!(store
        .finish_webhook_attempt(&jobs[0].id, "older-instance", &recorded)
        .await
        .unwrap());

    let log = deliveries(&app, webhook["id"].as_str().unwrap()).await;
    assert_eq!(log[0]["lastError"], "connect", "{log:?}");
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_counts_as_a_failed_attempt() {
    let app = spawn_app_with(|config| {
        fast_webhooks(config);
        config.webhooks.max_attempts = 1;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.answer_next(&[307]);
    let webhook = register(&app, json!({"url": receiver.url})).await;
    generate_connection(&app, "org-1").await;

    let delivery = settled_delivery(&app, webhook["id"].as_str().unwrap()).await;
    assert_eq!(delivery["status"], "failed");
    assert_eq!(delivery["lastStatusCode"], 307);
    assert_eq!(delivery["lastError"], "http_307");
}

#[tokio::test]
async fn deleting_a_connection_emits_connection_deleted_to_subscribers_of_that_kind() {
    let app = spawn_fast_app().await;
    let receiver = Receiver::start().await;
    let webhook = register(
        &app,
        json!({"url": receiver.url, "events": ["connection.deleted"]}),
    )
    .await;
    assert_eq!(webhook["events"], json!(["connection.deleted"]));
    let connection_id = generate_connection(&app, "org-1").await;
    let response = app
        .delete(&app.project_url(&format!("/connections/{connection_id}")))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let received = receiver.wait_for(1).await;
    let body = received[0].json();
    assert_eq!(body["type"], "connection.deleted");
    assert_eq!(body["data"]["connectionId"], connection_id.as_str());
    assert_eq!(body["data"]["provider"], "mock");
    // connection.created was logged but not enqueued for this endpoint.
    assert_eq!(
        deliveries(&app, webhook["id"].as_str().unwrap())
            .await
            .len(),
        1
    );
    let events: Vec<Value> = app.get_json(&app.project_url("/events")).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["connection.deleted", "connection.created"],
        "newest first"
    );

    // Deleting it again is a 404 and no second event.
    let again = app
        .delete(&app.project_url(&format!("/connections/{connection_id}")))
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let events: Vec<Value> = app.get_json(&app.project_url("/events")).await;
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn oauth_connections_emit_created_and_then_reauthorized() {
    let app = spawn_fast_app().await;
    let receiver = Receiver::start().await;
    register(&app, json!({"url": receiver.url})).await;
    app.create_provider_app("mock").await;
    let id = app.connect_mock("org-1", "user-1").await;
    app.reauthorize(&id).await;

    let received = receiver.wait_for(2).await;
    let mut kinds: Vec<String> = received
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["connection.created", "connection.reauthorized"]);
    for request in &received {
        let body = request.json();
        assert_eq!(body["data"]["connectionId"], id.as_str());
        assert_eq!(body["data"]["groupRef"], "org-1");
        let text = String::from_utf8_lossy(&request.body);
        assert!(
            !text.contains("access-") && !text.contains("refresh-"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn bad_registrations_are_400s_naming_the_field() {
    let app = spawn_fast_app().await;
    for (body, field) in [
        (json!({"url": "http://hooks.example.com/grantd"}), "url"),
        (json!({"url": "http://10.1.2.3/hook"}), "url"),
        (json!({"url": "ftp://hooks.example.com/"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "https://user:pw@hooks.example.com/"}), "url"),
        (json!({}), "url"),
        (
            json!({"url": "https://hooks.example.com/", "events": ["connection.exploded"]}),
            "events[0]",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://hooks.example.com/", "description": "x".repeat(513)}),
            "description",
        ),
        (json!({"url": 42}), "url"),
    ] {
        let response = app.post_json(&app.project_url("/webhooks"), &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let problem = problem(response).await;
        assert!(
            issue_names(&problem).contains(&field.to_owned()),
            "{body}: {problem}"
        );
    }
    let list: Vec<Value> = app.get_json(&app.project_url("/webhooks")).await;
    assert!(list.is_empty(), "nothing was registered");

    for query in ["limit=0", "limit=501", "limit=many"] {
        let response = app.get(&app.project_url(&format!("/events?{query}"))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(issue_names(&problem(response).await), ["limit"]);
    }
}

#[tokio::test]
async fn events_of_another_project_are_not_delivered_to_it() {
    let app = spawn_fast_app().await;
    let (_, other_key) = app.other_project().await;
    let other_url = |rest: &str| app.url(&format!("/v1/projects/globex{rest}"));
    let ours = Receiver::start().await;
    let theirs = Receiver::start().await;
    let our_webhook = register(&app, json!({"url": ours.url})).await;
    let response = app
        .send_with_key(
            reqwest::Method::POST,
            &other_url("/webhooks"),
            &other_key,
            Some(&json!({"url": theirs.url})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let their_webhook: Value = response.json().await.unwrap();
    let their_id = their_webhook["id"].as_str().unwrap();

    generate_connection(&app, "org-1").await;
    ours.wait_for(1).await;
    // Deliveries are enqueued with the event, so none for the other project
    // means none will ever be made.
    let their_log: Vec<Value> = app
        .get_with_key(
            &other_url(&format!("/webhooks/{their_id}/deliveries")),
            &other_key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(their_log.is_empty(), "{their_log:?}");
    assert!(theirs.received().is_empty());
    let their_events: Vec<Value> = app
        .get_with_key(&other_url("/events"), &other_key)
        .await
        .json()
        .await
        .unwrap();
    assert!(their_events.is_empty());

    // Nor can they see our endpoint, its log, or remove it.
    let our_id = our_webhook["id"].as_str().unwrap();
    for path in [
        format!("/webhooks/{our_id}"),
        format!("/webhooks/{our_id}/deliveries"),
    ] {
        let response = app.get_with_key(&other_url(&path), &other_key).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let response = app
        .send_with_key(
            reqwest::Method::DELETE,
            &other_url(&format!("/webhooks/{our_id}")),
            &other_key,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_deleted_webhook_is_gone_and_receives_nothing_more() {
    let app = spawn_fast_app().await;
    let receiver = Receiver::start().await;
    let webhook = register(&app, json!({"url": receiver.url})).await;
    let id = webhook["id"].as_str().unwrap();
    let response = app
        .delete(&app.project_url(&format!("/webhooks/{id}")))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for path in [
        format!("/webhooks/{id}"),
        format!("/webhooks/{id}/deliveries"),
    ] {
        let response = app.get(&app.project_url(&path)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let response = app
        .delete(&app.project_url(&format!("/webhooks/{id}")))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // A second endpoint shows when deliveries would have happened.
    let witness = Receiver::start().await;
    register(&app, json!({"url": witness.url})).await;
    generate_connection(&app, "org-1").await;
    witness.wait_for(1).await;
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn the_openapi_document_describes_the_webhook_routes() {
    let app = spawn_fast_app().await;
    let doc: Value = app.public_json("/v1/openapi.json").await;
    let paths = &doc["paths"];
    let project = "/v1/projects/{projectIdOrName}";
    assert!(paths[format!("{project}/webhooks")]["post"].is_object());
    assert!(paths[format!("{project}/webhooks")]["get"].is_object());
    assert!(paths[format!("{project}/webhooks/{{webhookId}}")]["get"].is_object());
    assert!(paths[format!("{project}/webhooks/{{webhookId}}")]["delete"].is_object());
    assert!(paths[format!("{project}/webhooks/{{webhookId}}/deliveries")]["get"].is_object());
    assert!(paths[format!("{project}/events")]["get"].is_object());
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Webhook",
        "CreatedWebhook",
        "WebhookDelivery",
        "ConnectionEvent",
    ] {
        assert!(schemas[name].is_object(), "schema {name} is missing");
    }
}

#[tokio::test]
async fn a_due_delivery_is_leased_to_one_instance_until_its_lease_expires() {
    let app = spawn_fast_app().await;
    let receiver = Receiver::start().await;
    register(&app, json!({"url": receiver.url})).await;
    let store = app.grantd.store();
    // Events dated a day ahead: due only for the claims below, never for
    // the app's own worker.
    let later = now_millis() + 86_400_000;
    for _ in 0..20 {
        let enqueued = record_created_event(&app, later).await;
        assert_eq!(enqueued, 1);
    }
    let lease = 60_000;

    // Two instances claiming at once split the due rows between them.
    let (a, b) = tokio::join!(
        store.claim_webhook_deliveries("instance-a", later, later + lease, 15),
        store.claim_webhook_deliveries("instance-b", later, later + lease, 15),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 20);
    assert!(
        a.iter().all(|x| b.iter().all(|y| x.id != y.id)),
        "a row was claimed twice"
    );
    assert!(a.iter().chain(&b).all(|job| job.attempts == 1));

    // While leased, nobody else gets them; once the lease expires (the
    // instance died), another instance does, and the old holder's late
    // result is not recorded.
    let c = store
        .claim_webhook_deliveries("instance-c", later + 1_000, later + 1_000 + lease, 50)
        .await
        .unwrap();
    assert!(c.is_empty());
    let c = store
        .claim_webhook_deliveries("instance-c", later + lease + 1, later + 2 * lease, 50)
        .await
        .unwrap();
    assert_eq!(c.len(), 20);
    assert!(c.iter().all(|job| job.attempts == 2));
    let stale = AttemptResult {
        status: DeliveryStatus::Delivered,
        next_attempt_at: None,
        last_status_code: Some(200),
        last_error: None,
        delivered_at: Some(later),
        now: later,
    };
    let holder = if a.is_empty() {
        "instance-b"
    } else {
        "instance-a"
    };
    let job = a.first().or(b.first()).unwrap();
    assert!(!store
        .finish_webhook_attempt(&job.id, holder, &stale)
        .await
        .unwrap());
    assert!(store
        .finish_webhook_attempt(&job.id, "instance-c", &stale)
        .await
        .unwrap());
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_signing_secret_copied_to_another_endpoint_signs_nothing() {
    let app = spawn_fast_app().await;
    let (victim, target) = (Receiver::start().await, Receiver::start().await);
    let victim_hook = register(&app, json!({"url": victim.url})).await;
    let target_hook = register(&app, json!({"url": target.url})).await;
    let target_id = target_hook["id"].as_str().unwrap();
    // Sealed at rest, bound to the endpoint's id: a copy does not open.
    let copied = sqlx::query(
        "UPDATE webhook_endpoints SET \
         secret_ciphertext = (SELECT secret_ciphertext FROM webhook_endpoints WHERE id = $1), \
         secret_key_id = (SELECT secret_key_id FROM webhook_endpoints WHERE id = $1) WHERE id = $2",
    )
    .bind(victim_hook["id"].as_str().unwrap())
    .bind(target_id)
    .execute(&app.db().await)
    .await
    .unwrap();
    assert_eq!(copied.rows_affected(), 1);

    generate_connection(&app, "org-1").await;
    let delivered = victim.wait_for(1).await;
    assert!(signature_verifies(
        victim_hook["secret"].as_str().unwrap(),
        &delivered[0]
    ));
    let settled = settled_delivery(&app, target_id).await;
    assert_eq!(settled["status"], "failed", "{settled}");
    assert_eq!(settled["lastError"], "signing_secret", "{settled}");
    assert!(target.received().is_empty(), "nothing was signed for it");
}
