//! The proxy (issue 14): calls sent through grantd to an in-process upstream
//! that records what arrives and can refuse tokens, throttle, redirect,
//! stall and stream. Every test checks what the provider saw, not only what
//! the caller got back.

use crate::helpers::{
    add_providers, expect_problem, issue_names, mock_oauth_base, problem, spawn_app_with, TestApp,
};
use crate::mock_provider::Rotation;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, raw.
    pub uri: String,
    pub headers: HeaderMap,
    pub body_len: usize,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct UpstreamState {
    seen: Mutex<Vec<Seen>>,
    /// Bearer tokens answered with 401.
    rejected_tokens: Mutex<HashSet<String>>,
    /// Releases the second event of `/api/events`.
    release_events: Notify,
    /// Told when `/api/upload` has received its first 100 KiB.
    upload_started: Notify,
}

/// A provider API on 127.0.0.1 that records every request.
pub struct Upstream {
    pub base: String,
    state: Arc<UpstreamState>,
}

impl Upstream {
    pub async fn start() -> Self {
        let state = Arc::new(UpstreamState::default());
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Upstream { base, state }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn reject_token(&self, token: &str) {
        self.state
            .rejected_tokens
            .lock()
            .unwrap()
            .insert(token.to_owned());
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

async fn handle(State(state): State<Arc<UpstreamState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let record = |body_len: usize| {
        state.seen.lock().unwrap().push(Seen {
            method: parts.method.to_string(),
            uri: uri.clone(),
            headers: parts.headers.clone(),
            body_len,
        })
    };
    let refused = bearer(&parts.headers)
        .is_some_and(|token| state.rejected_tokens.lock().unwrap().contains(&token));
    if refused {
        record(0);
        let mut response =
            (StatusCode::UNAUTHORIZED, r#"{"error":"invalid_token"}"#).into_response();
        response.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return response;
    }
    match path.as_str() {
        "/api/events" => {
            record(0);
            let state = state.clone();
            let events = async_stream(state);
            let mut response = Response::new(Body::from_stream(events));
            response.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/event-stream"),
            );
            response
        }
        p if p.starts_with("/api/download/") => {
            record(0);
            let total: usize = p["/api/download/".len()..].parse().unwrap();
            let chunk = Bytes::from(vec![b'z'; 64 * 1024]);
            let chunks = futures::stream::iter((0..total.div_ceil(chunk.len())).map(move |i| {
                let len = chunk.len().min(total - i * chunk.len());
                Ok::<_, std::io::Error>(chunk.slice(..len))
            }));
            Response::new(Body::from_stream(chunks))
        }
        "/api/upload" => {
            let mut stream = body.into_data_stream();
            let mut received = 0usize;
            let mut told = false;
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else {
                    return StatusCode::BAD_REQUEST.into_response();
                };
                received += chunk.len();
                if !told && received >= 100 * 1024 {
                    told = true;
                    state.upload_started.notify_one();
                }
            }
            record(received);
            axum::Json(json!({"received": received})).into_response()
        }
        "/api/limited" => {
            record(0);
            let mut response =
                (StatusCode::TOO_MANY_REQUESTS, r#"{"message":"slow down"}"#).into_response();
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("30"));
            response
        }
        "/api/redirect" => {
            record(0);
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(
                "location",
                HeaderValue::from_static("http://127.0.0.1:9/steal"),
            );
            response
        }
        "/api/hop" => {
            record(0);
            let mut response = axum::Json(json!({"ok": true})).into_response();
            let headers = response.headers_mut();
            headers.insert("connection", HeaderValue::from_static("X-Secret-Hop"));
            headers.insert("x-secret-hop", HeaderValue::from_static("1"));
            headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
            headers.insert("x-kept", HeaderValue::from_static("yes"));
            response
        }
        "/api/slow" => {
            record(0);
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::OK.into_response()
        }
        _ => {
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            record(bytes.len());
            axum::Json(json!({"ok": true, "path": path})).into_response()
        }
    }
}

/// `data: one`, then, once released, `data: two`.
fn async_stream(
    state: Arc<UpstreamState>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::unfold(0, move |step| {
        let state = state.clone();
        async move {
            match step {
                0 => Some((Ok(Bytes::from_static(b"data: one\n\n")), 1)),
                1 => {
                    state.release_events.notified().await;
                    Some((Ok(Bytes::from_static(b"data: two\n\n")), 2))
                }
                _ => None,
            }
        }
    })
}

/// Providers pointing at the upstream, beside the suite's own.
fn upstream_providers(upstream: &str, oauth: &str) -> String {
    format!(
        r#"
[providers.upstream]
displayName = "Recording upstream"
category = "crm"
apiBaseUrl = "{upstream}/api"
authSchemes = ["oauth2/authorizationCode", "apiKey", "basic"]
[providers.upstream.oauth2]
authorizeUrl = "{oauth}/authorize"
tokenUrl = "{oauth}/token"
pkce = "allowed"
[providers.upstream.apiKey]
in = "header"
name = "X-Provider-Key"
prefix = "Key "
[providers.upstream.proxy]
defaultHeaders = {{ "Upstream-Version" = "2024-01-01" }}

[providers.upstream-query]
displayName = "Recording upstream, key in the query"
category = "crm"
apiBaseUrl = "{upstream}/api"
authSchemes = ["apiKey"]
[providers.upstream-query.apiKey]
in = "query"
name = "api_key"

[providers.upstream-open]
displayName = "A base whose host is the workspace"
category = "crm"
apiBaseUrl = "https://{{workspace}}/api"
authSchemes = ["apiKey"]
[providers.upstream-open.workspace]
pattern = "^[a-z0-9.-]+$"
[providers.upstream-open.apiKey]
in = "header"
name = "X-Key"
"#
    )
}

/// A proxy request with Ampersand's version, project and key headers; the
/// caller adds how the connection is named.
fn proxy_request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    project: &str,
    api_key: &str,
) -> reqwest::RequestBuilder {
    client
        .request(method, url)
        .header("x-amp-proxy-version", "1")
        .header("x-amp-project-id", project)
        .header("x-api-key", api_key)
}

struct ProxyTest {
    app: TestApp,
    upstream: Upstream,
}

async fn spawn_proxy_test(configure: impl FnOnce(&mut grantd::config::Config)) -> ProxyTest {
    let upstream = Upstream::start().await;
    let upstream_base = upstream.base.clone();
    let app = spawn_app_with(move |config| {
        let oauth = mock_oauth_base(config);
        add_providers(config, &upstream_providers(&upstream_base, &oauth));
        config.proxy_listen = Some("127.0.0.1:0".parse().unwrap());
        configure(config);
    })
    .await;
    ProxyTest { app, upstream }
}

impl ProxyTest {
    fn proxy_url(&self, path: &str) -> String {
        format!("{}{path}", self.app.proxy_address.as_ref().unwrap())
    }

    /// A request to the proxy listener with Ampersand's headers for `connection`.
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        connection: &str,
    ) -> reqwest::RequestBuilder {
        proxy_request(
            &self.app.client,
            method,
            &self.proxy_url(path),
            &self.app.project_id,
            &self.app.api_key,
        )
        .header("x-amp-connection-id", connection)
    }

    /// `call` sent as it is, for the calls that need no body or extra header.
    async fn fetch(
        &self,
        method: reqwest::Method,
        path: &str,
        connection: &str,
    ) -> reqwest::Response {
        self.call(method, path, connection).send().await.unwrap()
    }

    /// A GET to the proxy listener for the connection named some other way
    /// (by group and provider, or not at all), sent with `project` and `api_key`.
    fn get_as(&self, path: &str, project: &str, api_key: &str) -> reqwest::RequestBuilder {
        proxy_request(
            &self.app.client,
            reqwest::Method::GET,
            &self.proxy_url(path),
            project,
            api_key,
        )
    }

    /// A GET of `/x` for `connection`, sent with `project` and `api_key`
    /// (another project's, or a key with fewer scopes).
    async fn fetch_as(&self, project: &str, api_key: &str, connection: &str) -> reqwest::Response {
        self.get_as("/x", project, api_key)
            .header("x-amp-connection-id", connection)
            .send()
            .await
            .unwrap()
    }

    /// An `upstream` connection of group `group_ref` holding the API key `k`.
    async fn key_connection(&self, group_ref: &str) -> String {
        self.generate(json!({
            "provider": "upstream", "groupRef": group_ref, "consumerRef": "c", "apiKey": "k",
        }))
        .await
    }

    async fn generate(&self, body: Value) -> String {
        self.app.generated_id(&body).await
    }

    /// An OAuth connection of `upstream` made through the mock's flow.
    async fn connect_oauth(&self, group_ref: &str) -> (String, String) {
        self.app.create_provider_app("upstream").await;
        let url = self
            .app
            .oauth_connect(json!({
                "projectId": self.app.project_id, "provider": "upstream",
                "groupRef": group_ref, "consumerRef": "c",
            }))
            .await;
        let page = self.app.finish_flow(&url).await;
        assert_eq!(page.status(), StatusCode::OK);
        let id = self.app.only_connection_for(group_ref).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let token = self.access_token(&id).await;
        (id, token)
    }

    async fn access_token(&self, id: &str) -> String {
        self.app.connection_with_credentials(id).await["oauth2AuthorizationCode"]["accessToken"]
            ["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test]
async fn an_oauth_call_goes_to_the_catalog_base_with_the_bearer_token_and_method_path_query_body_unchanged(
) {
    let t = spawn_proxy_test(|_| {}).await;
    let (id, token) = t.connect_oauth("g").await;
    let response = t
        .call(
            reqwest::Method::PATCH,
            "/contacts/42?fields=a,b&q=%C3%A9",
            &id,
        )
        .header("content-type", "application/json")
        .body(r#"{"name":"Ada"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["ok"], true);
    let seen = t.upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "PATCH");
    assert_eq!(seen[0].uri, "/api/contacts/42?fields=a,b&q=%C3%A9");
    assert_eq!(seen[0].body_len, r#"{"name":"Ada"}"#.len());
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(seen[0].header("upstream-version"), Some("2024-01-01"));

    // The same under /proxy/ on the main listener, and a caller's own
    // version header wins over the catalog's default.
    let response = proxy_request(
        &t.app.client,
        reqwest::Method::GET,
        &t.app.url("/proxy/contacts"),
        &t.app.project_name,
        &t.app.api_key,
    )
    .header("x-amp-group-ref", "g")
    .header("x-amp-provider", "upstream")
    .header("upstream-version", "2025-06-01")
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = t.upstream.seen();
    assert_eq!(seen[1].uri, "/api/contacts");
    assert_eq!(seen[1].header("upstream-version"), Some("2025-06-01"));
    assert_eq!(
        seen[1].header("content-length"),
        None,
        "a GET stays without a body"
    );
}

#[tokio::test]
async fn api_keys_go_in_the_catalogs_header_or_query_and_basic_auth_as_basic() {
    let t = spawn_proxy_test(|_| {}).await;
    let in_header = t
        .generate(json!({"provider": "upstream", "groupRef": "h", "consumerRef": "c", "apiKey": "k-header"}))
        .await;
    let in_query = t
        .generate(json!({"provider": "upstream-query", "groupRef": "q", "consumerRef": "c", "apiKey": "k q&1"}))
        .await;
    let basic = t
        .generate(
            json!({"provider": "upstream", "groupRef": "b", "consumerRef": "c",
                         "basicAuth": {"username": "ada", "password": "s3cret"}}),
        )
        .await;
    for id in [&in_header, &in_query, &basic] {
        let response = t.fetch(reqwest::Method::GET, "/items?page=2", id).await;
        assert_eq!(response.status(), StatusCode::OK, "{id}");
    }
    let seen = t.upstream.seen();
    assert_eq!(seen[0].header("x-provider-key"), Some("Key k-header"));
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(seen[0].uri, "/api/items?page=2");
    assert_eq!(seen[1].uri, "/api/items?page=2&api_key=k+q%261");
    assert_eq!(seen[1].header("authorization"), None);
    use base64::Engine;
    let pair = base64::engine::general_purpose::STANDARD.encode("ada:s3cret");
    assert_eq!(
        seen[2].header("authorization"),
        Some(format!("Basic {pair}").as_str())
    );
    // grantd's own API key never reaches the provider, whatever it is called.
    for call in &seen {
        assert!(
            call.headers
                .values()
                .all(|v| v.to_str().unwrap_or_default() != t.app.api_key),
            "{call:?}"
        );
    }
}

#[tokio::test]
async fn the_callers_credentials_cookies_amp_and_hop_by_hop_headers_never_cross_in_either_direction(
) {
    let t = spawn_proxy_test(|_| {}).await;
    let id = t.key_connection("h").await;
    let response = t
        .call(reqwest::Method::GET, "/hop", &id)
        .header("cookie", "session=secret")
        .header("x-amp-rate-limiter-mode", "passthrough")
        .header("connection", "keep-alive, X-Private-Hop")
        .header("x-private-hop", "1")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic eDp5")
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-kept"], "yes");
    for dropped in ["x-secret-hop", "keep-alive"] {
        assert!(
            response.headers().get(dropped).is_none(),
            "{dropped} reached the caller"
        );
    }
    let seen = &t.upstream.seen()[0];
    assert_eq!(seen.header("x-custom"), Some("kept"));
    for dropped in [
        "x-api-key",
        "cookie",
        "x-amp-proxy-version",
        "x-amp-project-id",
        "x-amp-connection-id",
        "x-amp-rate-limiter-mode",
        "x-private-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
    ] {
        assert!(
            seen.header(dropped).is_none(),
            "{dropped} reached the provider"
        );
    }
    // The upstream does send those fields: grantd is what removes them.
    let direct = t
        .app
        .get_without_key(&format!("{}/api/hop", t.upstream.base))
        .await;
    assert_eq!(direct.headers()["x-secret-hop"], "1");
}

#[tokio::test]
async fn a_401_refreshes_once_through_the_single_flight_and_every_concurrent_call_retries_with_the_new_token(
) {
    let t = spawn_proxy_test(|_| {}).await;
    t.app.provider.set_rotation(Rotation::Strict);
    let (id, old_token) = t.connect_oauth("g").await;
    t.upstream.reject_token(&old_token);
    let calls = (0..20).map(|i| {
        t.call(reqwest::Method::POST, &format!("/notes/{i}"), &id)
            .body(format!("note {i}"))
            .send()
    });
    for response in futures::future::join_all(calls).await {
        assert_eq!(response.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(t.app.provider.calls_with_grant("refresh_token"), 1);
    let presented = t.app.provider.refresh_tokens_presented();
    assert_eq!(presented.len(), 1, "the rotated refresh token is used once");
    let new_token = t.access_token(&id).await;
    assert_ne!(new_token, old_token);
    let seen = t.upstream.seen();
    let accepted: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.header("authorization") == Some(format!("Bearer {new_token}").as_str()))
        .collect();
    assert_eq!(
        accepted.len(),
        20,
        "every call went through with the new token"
    );
    assert!(
        accepted.iter().all(|s| s.body_len > 0),
        "bodies were sent again"
    );
}

#[tokio::test]
async fn a_refresh_the_provider_rejects_marks_the_connection_bad_credentials_and_returns_the_401() {
    let t = spawn_proxy_test(|_| {}).await;
    let (id, old_token) = t.connect_oauth("g").await;
    t.upstream.reject_token(&old_token);
    t.app.provider.script_token_response(
        StatusCode::BAD_REQUEST,
        json!({"error": "invalid_grant", "error_description": "revoked"}),
    );
    let response = t.fetch(reqwest::Method::GET, "/me", &id).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"error":"invalid_token"}"#
    );
    let connection = t.app.only_connection_for("g").await;
    assert_eq!(connection["status"], "bad_credentials");
    assert_eq!(t.upstream.seen().len(), 1, "no retry without a new token");
}

#[tokio::test]
async fn an_expired_token_is_refreshed_before_the_call() {
    // No background refresher in the way: only the call refreshes.
    let t = spawn_proxy_test(|config| config.refresh.tick = Duration::from_secs(3600)).await;
    t.app.create_provider_app("upstream").await;
    t.app.provider.issue_refresh_token("rt-imported");
    let expired = chrono::Utc::now() - chrono::Duration::seconds(60);
    let id = t
        .generate(
            json!({"provider": "upstream", "groupRef": "g", "consumerRef": "c",
            "oauth2AuthorizationCode": {
                "accessToken": {"token": "at-expired", "expiresAt": expired.to_rfc3339()},
                "refreshToken": {"token": "rt-imported"}, "scopes": ["read"]}}),
        )
        .await;
    let response = t.fetch(reqwest::Method::GET, "/me", &id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(t.app.provider.refresh_tokens_presented(), ["rt-imported"]);
    let seen = t.upstream.seen();
    assert_eq!(seen.len(), 1, "one call, with the renewed token");
    let used = seen[0].header("authorization").unwrap().to_owned();
    assert_eq!(used, format!("Bearer {}", t.access_token(&id).await));
    assert_ne!(used, "Bearer at-expired");
}

#[tokio::test]
async fn a_request_body_larger_than_the_replay_bound_streams_to_the_provider_as_it_is_sent() {
    let t = spawn_proxy_test(|_| {}).await;
    let id = t.key_connection("h").await;
    let (mut sender, receiver) =
        futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let call = tokio::spawn(
        t.call(reqwest::Method::POST, "/upload", &id)
            .body(reqwest::Body::wrap_stream(receiver))
            .send(),
    );
    use futures::SinkExt;
    sender.send(Ok(vec![b'a'; 128 * 1024])).await.unwrap();
    // The provider has the first 128 KiB before the caller sends the rest:
    // nothing waits for the whole body.
    tokio::time::timeout(
        Duration::from_secs(10),
        t.upstream.state.upload_started.notified(),
    )
    .await
    .expect("the start of the body reached the provider before its end was sent");
    for _ in 0..32 {
        sender.send(Ok(vec![b'b'; 128 * 1024])).await.unwrap();
    }
    drop(sender);
    let response = call.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["received"],
        33 * 128 * 1024
    );
}

#[tokio::test]
async fn server_sent_events_and_large_downloads_pass_through_as_they_arrive() {
    let t = spawn_proxy_test(|_| {}).await;
    let id = t.key_connection("h").await;
    let mut events = t.fetch(reqwest::Method::GET, "/events", &id).await;
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let first = tokio::time::timeout(Duration::from_secs(10), events.chunk())
        .await
        .expect("the first event arrives while the provider holds the second")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"data: one\n\n");
    t.upstream.state.release_events.notify_one();
    let rest = events.bytes().await.unwrap();
    assert_eq!(&rest[..], b"data: two\n\n");

    let size = 8 * 1024 * 1024 + 7;
    let download = t
        .fetch(reqwest::Method::GET, &format!("/download/{size}"), &id)
        .await;
    assert_eq!(download.status(), StatusCode::OK);
    let mut received = 0usize;
    let mut stream = download.bytes_stream();
    while let Some(chunk) = stream.next().await {
        received += chunk.unwrap().len();
    }
    assert_eq!(received, size);
}

#[tokio::test]
async fn after_a_provider_429_throttle_mode_answers_429_without_calling_the_provider_and_plain_calls_pass_through(
) {
    let t = spawn_proxy_test(|_| {}).await;
    let id = t.key_connection("h").await;
    let throttled = |t: &ProxyTest| {
        t.call(reqwest::Method::GET, "/limited", &id)
            .header("x-amp-rate-limiter-mode", "throttle")
            .send()
    };
    // The provider's own 429 comes back as it is.
    let first = throttled(&t).await.unwrap();
    assert_eq!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(first.headers()["retry-after"], "30");
    assert_eq!(first.text().await.unwrap(), r#"{"message":"slow down"}"#);
    assert_eq!(t.upstream.seen().len(), 1);

    let second = throttled(&t).await.unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = second.headers()["x-amp-retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    let body = problem(second).await;
    assert_eq!(body["subsystem"], "proxy");
    assert_eq!(t.upstream.seen().len(), 1, "the provider was not called");

    // Without the header the call reaches the provider, and its 429 passes through.
    let plain = t.fetch(reqwest::Method::GET, "/limited", &id).await;
    assert_eq!(plain.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(plain.headers().get("x-amp-retry-after").is_none());
    assert_eq!(t.upstream.seen().len(), 2);
}

/// Sends a raw HTTP/1.1 request, so that the request target reaches grantd
/// exactly as written (clients normalise `..` and encoded dots).
async fn raw_status(address: &str, target: &str, headers: &[(&str, &str)]) -> u16 {
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn no_path_can_send_the_credentials_anywhere_but_the_providers_base_and_redirects_are_not_followed(
) {
    let t = spawn_proxy_test(|_| {}).await;
    let id = t.key_connection("h").await;
    let project = t.app.project_id.clone();
    let headers = [
        ("x-amp-proxy-version", "1"),
        ("x-amp-project-id", project.as_str()),
        ("x-api-key", t.app.api_key.as_str()),
        ("x-amp-connection-id", id.as_str()),
    ];
    let proxy = t.app.proxy_address.clone().unwrap();
    for target in [
        "/../admin",
        "/a/../../admin",
        "/%2e%2e/admin",
        "/%2E%2e/admin",
        "/./admin",
        "/a%2fb",
        "/a%2F..%2F..%2Fadmin",
        "/a%5cb",
        "//evil.example/steal",
        "http://evil.example/steal",
        "http://127.0.0.1:9/steal",
    ] {
        let status = raw_status(&proxy, target, &headers).await;
        assert_eq!(status, 400, "{target}");
        let main = format!(
            "/proxy{}",
            target
                .strip_prefix('/')
                .map_or(String::new(), |t| format!("/{t}"))
        );
        if target.starts_with('/') {
            assert_eq!(
                raw_status(&t.app.address, &main, &headers).await,
                400,
                "{main}"
            );
        }
    }
    assert!(t.upstream.seen().is_empty(), "{:?}", t.upstream.seen());

    // A redirect goes back to the caller as it is, never followed.
    let response = t.fetch(reqwest::Method::GET, "/redirect", &id).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], "http://127.0.0.1:9/steal");
    assert_eq!(t.upstream.seen().len(), 1);

    // TRACE would echo the injected credentials back.
    let trace = t.fetch(reqwest::Method::TRACE, "/x", &id).await;
    assert_eq!(trace.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(t.upstream.seen().len(), 1);
}

#[tokio::test]
async fn another_projects_connection_is_a_404_and_never_a_call() {
    let t = spawn_proxy_test(|_| {}).await;
    let id = t.key_connection("h").await;
    let (other_id, other_key) = t.app.other_project().await;
    let response = t.fetch_as(&other_id, &other_key, &id).await;
    assert_eq!(
        expect_problem(response, StatusCode::NOT_FOUND).await["detail"],
        "connection not found"
    );
    // Naming the owner's project with another project's key: 404 too.
    let response = t.fetch_as(&t.app.project_id, &other_key, &id).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(t.upstream.seen().is_empty());
}

#[tokio::test]
async fn ampersands_installation_headers_missing_headers_and_ambiguous_groups_are_problems_naming_what_to_send(
) {
    let t = spawn_proxy_test(|_| {}).await;
    let first = t
        .generate(
            json!({"provider": "upstream", "groupRef": "g", "consumerRef": "c1", "apiKey": "k1"}),
        )
        .await;
    let second = t
        .generate(
            json!({"provider": "upstream", "groupRef": "g", "consumerRef": "c2", "apiKey": "k2"}),
        )
        .await;
    let base = || t.get_as("/x", &t.app.project_id, &t.app.api_key);
    let response = base()
        .header("x-amp-installation-id", "inst-1")
        .send()
        .await
        .unwrap();
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert!(
        issue_names(&body).contains(&"x-amp-installation-id".to_owned()),
        "{body}"
    );
    assert!(body.to_string().contains("x-amp-connection-id"), "{body}");

    let response = base().send().await.unwrap();
    assert!(!issue_names(&expect_problem(response, StatusCode::BAD_REQUEST).await).is_empty());

    let response = t
        .app
        .client
        .get(t.proxy_url("/x"))
        .header("x-api-key", &t.app.api_key)
        .header("x-amp-connection-id", &first)
        .send()
        .await
        .unwrap();
    let names = issue_names(&problem(response).await);
    assert!(
        names.contains(&"x-amp-proxy-version".to_owned()),
        "{names:?}"
    );
    assert!(names.contains(&"x-amp-project-id".to_owned()), "{names:?}");

    let response = base()
        .header("x-amp-group-ref", "g")
        .header("x-amp-provider", "upstream")
        .send()
        .await
        .unwrap();
    let detail = expect_problem(response, StatusCode::CONFLICT).await["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.contains(&first) && detail.contains(&second),
        "{detail}"
    );

    let response = t
        .app
        .client
        .get(t.proxy_url("/x"))
        .header("x-amp-proxy-version", "1")
        .header("x-amp-project-id", &t.app.project_id)
        .header("x-amp-connection-id", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(t.upstream.seen().is_empty());
}

#[tokio::test]
async fn a_key_without_credential_access_may_not_proxy() {
    let t = spawn_proxy_test(|_| {}).await;
    let id = t.key_connection("g").await;
    let created: Value = t
        .app
        .post_json(
            &t.app.project_url("/api-keys"),
            &json!({"label": "dashboard", "scopes": ["connections:read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let response = t
        .fetch_as(&t.app.project_id, created["apiKey"].as_str().unwrap(), &id)
        .await;
    assert!(
        expect_problem(response, StatusCode::FORBIDDEN).await["detail"]
            .as_str()
            .unwrap()
            .contains("credentials:access-token")
    );
    assert!(t.upstream.seen().is_empty());
}

#[tokio::test]
async fn a_provider_whose_host_is_an_open_input_is_not_proxied() {
    let t = spawn_proxy_test(|_| {}).await;
    let id = t
        .generate(
            json!({"provider": "upstream-open", "groupRef": "g", "consumerRef": "c",
                         "apiKey": "k", "providerWorkspaceRef": "localhost"}),
        )
        .await;
    let response = t.fetch(reqwest::Method::GET, "/x", &id).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let catalog = t.app.public_json("/v1/providers/upstream-open").await;
    assert_eq!(catalog["support"]["proxy"], false);
    let catalog = t.app.public_json("/v1/providers/upstream").await;
    assert_eq!(catalog["support"]["proxy"], true);
    let salesforce = t.app.public_json("/v1/providers/salesforce").await;
    assert_eq!(salesforce["support"]["proxy"], true);
}

#[tokio::test]
async fn first_byte_timeouts_are_504_and_bodies_over_the_limit_413_problems() {
    let t = spawn_proxy_test(|config| {
        config.proxy.first_byte_timeout = Duration::from_millis(300);
        config.proxy.max_request_body = 100 * 1024;
    })
    .await;
    let id = t.key_connection("g").await;
    let response = t.fetch(reqwest::Method::GET, "/slow", &id).await;
    assert_eq!(
        expect_problem(response, StatusCode::GATEWAY_TIMEOUT).await["subsystem"],
        "proxy"
    );

    // Declared too large: refused before anything is sent.
    let response = t
        .call(reqwest::Method::POST, "/upload", &id)
        .body(vec![b'x'; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Chunked, found too large on the way.
    let chunks =
        futures::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 64 * 1024])));
    let response = t
        .call(reqwest::Method::POST, "/upload", &id)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let uploads = t
        .upstream
        .seen()
        .iter()
        .filter(|s| s.uri == "/api/upload")
        .count();
    assert_eq!(uploads, 0, "no over-limit body completed at the provider");
}

/// End to end with a real, independent OAuth server (oauth2-mock-server):
/// connect through its authorization-code flow, then proxy a call and find
/// at the upstream exactly the access token (a JWT) that server issued.
#[tokio::test]
async fn a_connection_made_with_oauth2_mock_server_proxies_with_the_token_it_issued() {
    use crate::real_oauth_server::{
        authorize_at_real_server, register_real_server_apps, tools_ready, RealOAuthServer,
    };
    if !tools_ready(
        "a_connection_made_with_oauth2_mock_server_proxies_with_the_token_it_issued",
        false,
    ) {
        return;
    }
    let server = RealOAuthServer::start();
    let upstream = Upstream::start().await;
    let entry = format!(
        r#"
[providers.real-proxied]
displayName = "oauth2-mock-server behind the recording upstream"
category = "developer-tools"
apiBaseUrl = "{}/api"
authSchemes = ["oauth2/authorizationCode"]
[providers.real-proxied.oauth2]
authorizeUrl = "{base}/authorize"
tokenUrl = "{base}/token"
pkce = "required"
tokenAuth = "basic"
"#,
        upstream.base,
        base = server.base
    );
    let app = spawn_app_with(move |config| add_providers(config, &entry)).await;
    register_real_server_apps(&app, &["real-proxied"]).await;
    let url = app
        .oauth_connect(json!({
            "projectId": app.project_id, "provider": "real-proxied",
            "groupRef": "org-real", "consumerRef": "user-real",
        }))
        .await;
    let callback = authorize_at_real_server(&app, &url).await;
    let page = app.get_without_key(&callback).await;
    assert_eq!(page.status(), StatusCode::OK);

    // Through the main listener's /proxy/, named by group and provider.
    let response = proxy_request(
        &app.client,
        reqwest::Method::GET,
        &app.url("/proxy/v1/me?expand=teams"),
        &app.project_id,
        &app.api_key,
    )
    .header("x-amp-group-ref", "org-real")
    .header("x-amp-provider", "real-proxied")
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let id = app.only_connection_for("org-real").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let issued = app.connection_with_credentials(&id).await["oauth2AuthorizationCode"]
        ["accessToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        issued.split('.').count(),
        3,
        "oauth2-mock-server issues JWTs"
    );
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/api/v1/me?expand=teams");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {issued}").as_str())
    );
}

// What the proxy remembers of a connection between calls (its row and
// opened credentials, for --cache-ttl-ms) never outlives a change made
// through this instance, and a token renewed by another instance is picked
// up when the provider refuses the remembered one.

#[tokio::test]
async fn a_connection_updated_through_the_api_is_proxied_with_its_new_key_at_once() {
    let t = spawn_proxy_test(|config| config.cache_ttl = Duration::from_secs(3600)).await;
    let id = t
        .generate(
            json!({"provider": "upstream", "groupRef": "g", "consumerRef": "c", "apiKey": "key-1"}),
        )
        .await;
    let status = |response: reqwest::Response| response.status();
    let first = t.fetch(reqwest::Method::GET, "/a", &id).await;
    assert_eq!(status(first), StatusCode::OK);
    let updated = t
        .app
        .patch_json(
            &t.app.project_url(&format!("/connections/{id}")),
            &json!({"updateMask": ["apiKey"], "connection": {"apiKey": "key-2"}}),
        )
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let second = t.fetch(reqwest::Method::GET, "/b", &id).await;
    assert_eq!(status(second), StatusCode::OK);
    let keys: Vec<Option<String>> = t
        .upstream
        .seen()
        .iter()
        .map(|s| s.header("x-provider-key").map(str::to_owned))
        .collect();
    assert_eq!(
        keys,
        [Some("Key key-1".to_owned()), Some("Key key-2".to_owned())]
    );
}

#[tokio::test]
async fn a_deleted_connection_is_not_proxied_again_and_its_group_names_no_connection() {
    let t = spawn_proxy_test(|config| config.cache_ttl = Duration::from_secs(3600)).await;
    let id = t.key_connection("g").await;
    let by_group = |path: &str| {
        t.get_as(path, &t.app.project_id, &t.app.api_key)
            .header("x-amp-group-ref", "g")
            .header("x-amp-provider", "upstream")
            .send()
    };
    let by_id = t.fetch(reqwest::Method::GET, "/a", &id).await;
    assert_eq!(by_id.status(), StatusCode::OK);
    assert_eq!(by_group("/b").await.unwrap().status(), StatusCode::OK);
    let deleted = t
        .app
        .delete(&t.app.project_url(&format!("/connections/{id}")))
        .await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let by_id = t.fetch(reqwest::Method::GET, "/c", &id).await;
    assert_eq!(by_id.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        by_group("/d").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let paths: Vec<String> = t.upstream.seen().iter().map(|s| s.uri.clone()).collect();
    assert_eq!(paths, ["/api/a", "/api/b"], "nothing after the delete");
}

#[tokio::test]
async fn a_token_renewed_by_another_instance_is_used_once_the_provider_refuses_the_remembered_one()
{
    // The background refresher stays out of the way: only the sibling's
    // forced read renews the token.
    let t = spawn_proxy_test(|config| {
        config.cache_ttl = Duration::from_secs(3600);
        config.refresh.tick = Duration::from_secs(3600);
    })
    .await;
    let (id, old_token) = t.connect_oauth("g").await;
    let first = t.fetch(reqwest::Method::GET, "/a", &id).await;
    assert_eq!(first.status(), StatusCode::OK);

    let sibling = t.app.spawn_sibling(|_| {}).await;
    let forced = t
        .app
        .get(&format!(
            "{}/v1/projects/{}/connections/{id}?refresh=force",
            sibling.address, t.app.project_name
        ))
        .await;
    assert_eq!(forced.status(), StatusCode::OK);
    assert_eq!(t.app.provider.calls_with_grant("refresh_token"), 1);
    let new_token = t.access_token(&id).await;
    assert_ne!(new_token, old_token);
    t.upstream.reject_token(&old_token);

    let second = t.fetch(reqwest::Method::GET, "/b", &id).await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(
        t.app.provider.calls_with_grant("refresh_token"),
        1,
        "the stored token was newer: no second refresh"
    );
    let used: Vec<(String, Option<String>)> = t
        .upstream
        .seen()
        .iter()
        .map(|s| (s.uri.clone(), s.header("authorization").map(str::to_owned)))
        .collect();
    assert_eq!(
        used,
        [
            ("/api/a".to_owned(), Some(format!("Bearer {old_token}"))),
            ("/api/b".to_owned(), Some(format!("Bearer {old_token}"))),
            ("/api/b".to_owned(), Some(format!("Bearer {new_token}"))),
        ]
    );
}

/// The request id is handled by the proxy handler itself (no layer): the
/// caller's own goes to the provider and comes back, a missing one is made
/// once and seen by both sides, and a problem grantd raises names it.
#[tokio::test]
async fn a_request_id_reaches_the_provider_comes_back_and_names_grantds_own_problems() {
    let t = spawn_proxy_test(|_| {}).await;
    let id = t.key_connection("rid").await;

    let response = t
        .call(reqwest::Method::GET, "/item", &id)
        .header("x-request-id", "caller-chosen-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "caller-chosen-7");
    let seen = t.upstream.seen();
    assert_eq!(
        seen.last().unwrap().headers["x-request-id"],
        "caller-chosen-7"
    );

    let response = t.fetch(reqwest::Method::GET, "/item", &id).await;
    let made = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    let seen = t.upstream.seen();
    assert_eq!(seen.last().unwrap().headers["x-request-id"], made.as_str());

    let response = t
        .call(reqwest::Method::GET, "/item", "no-such-connection")
        .header("x-request-id", "caller-chosen-8")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "caller-chosen-8");
    let problem = expect_problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(problem["requestId"], "caller-chosen-8");
}
