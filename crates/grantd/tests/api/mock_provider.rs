//! An in-process OAuth 2.0 provider for tests: issues codes at /authorize,
//! checks PKCE and client authentication at /token, counts token calls, and
//! can be scripted to answer the next token calls with chosen errors.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "mock-client";
pub const CLIENT_SECRET: &str = "mock-secret";
pub const USERNAME: &str = "ada";
pub const PASSWORD: &str = "correct horse";

/// One request received at the token endpoint.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub params: HashMap<String, String>,
}

#[derive(Debug)]
struct IssuedCode {
    redirect_uri: String,
    code_challenge: Option<String>,
}

#[derive(Default)]
struct MockState {
    base: String,
    codes: Mutex<HashMap<String, IssuedCode>>,
    requests: Mutex<Vec<TokenRequest>>,
    scripted: Mutex<VecDeque<(StatusCode, Value)>>,
    issued: AtomicUsize,
    /// Bearer tokens presented at /me, in order.
    me_tokens: Mutex<Vec<String>>,
    /// Refresh tokens that no longer work: rotated away once their successor
    /// was used (a grace period like real providers'), or revoked.
    dead_refresh_tokens: Mutex<HashSet<String>>,
    /// Successor -> the refresh token it replaced.
    rotated_from: Mutex<HashMap<String, String>>,
    /// Lifetime of tokens issued from now on, in seconds.
    expires_in: AtomicI64,
    /// Delay before answering a token call, in milliseconds.
    delay_ms: AtomicU64,
    /// Tokens posted to /revoke.
    revoked: Mutex<Vec<String>>,
    /// The next token call streams this many bytes, chunked, with no
    /// Content-Length, instead of answering.
    scripted_stream: Mutex<Option<usize>>,
    /// Bytes of scripted streams handed to the HTTP server so far.
    streamed: Arc<AtomicUsize>,
}

/// Handle to a running mock provider.
#[derive(Clone)]
pub struct MockProvider {
    pub base: String,
    state: Arc<MockState>,
}

impl MockProvider {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(MockState {
            base: base.clone(),
            expires_in: AtomicI64::new(3600),
            ..Default::default()
        });
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/me", get(me))
            .route("/revoke", post(revoke))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, state }
    }

    /// Number of calls the token endpoint received.
    pub fn token_calls(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Token calls with this grant type.
    pub fn calls_with_grant(&self, grant_type: &str) -> usize {
        self.token_requests()
            .iter()
            .filter(|r| r.params.get("grant_type").map(String::as_str) == Some(grant_type))
            .count()
    }

    /// Tokens issued from now on live this many seconds.
    pub fn set_expires_in(&self, seconds: i64) {
        self.state.expires_in.store(seconds, Ordering::SeqCst);
    }

    /// Token calls answer after this long.
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Tokens received at the RFC 7009 endpoint `/revoke`.
    pub fn revoked(&self) -> Vec<String> {
        self.state.revoked.lock().unwrap().clone()
    }

    /// Refresh tokens presented with grant_type=refresh_token, in order.
    pub fn refresh_tokens_presented(&self) -> Vec<String> {
        self.token_requests()
            .iter()
            .filter(|r| r.params.get("grant_type").map(String::as_str) == Some("refresh_token"))
            .map(|r| r.params.get("refresh_token").cloned().unwrap_or_default())
            .collect()
    }

    /// Bearer tokens the post-auth endpoint `/me` received.
    pub fn me_tokens(&self) -> Vec<String> {
        self.state.me_tokens.lock().unwrap().clone()
    }

    /// The next token call answers 200 with a chunked body of `total` bytes
    /// that never becomes valid JSON, produced only as fast as it is read.
    pub fn script_token_stream(&self, total: usize) {
        *self.state.scripted_stream.lock().unwrap() = Some(total);
    }

    /// Bytes of scripted token streams produced so far: what the reader
    /// took, plus what fits in socket buffers.
    pub fn streamed_bytes(&self) -> usize {
        self.state.streamed.load(Ordering::SeqCst)
    }

    /// The next token call answers `status` with `body`, whatever it asks.
    pub fn script_token_response(&self, status: StatusCode, body: Value) {
        self.state
            .scripted
            .lock()
            .unwrap()
            .push_back((status, body));
    }
}

async fn authorize(
    State(state): State<Arc<MockState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let code = format!("code-{}", state.issued.fetch_add(1, Ordering::SeqCst));
    state.codes.lock().unwrap().insert(
        code.clone(),
        IssuedCode {
            redirect_uri: q.get("redirect_uri").cloned().unwrap_or_default(),
            code_challenge: q.get("code_challenge").cloned(),
        },
    );
    let mut location = url::Url::parse(
        q.get("redirect_uri")
            .map(String::as_str)
            .unwrap_or("http://invalid/"),
    )
    .unwrap();
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", q.get("state").map(String::as_str).unwrap_or(""))
        .append_pair("iss", &state.base);
    Redirect::to(location.as_str()).into_response()
}

/// RFC 7009 revocation: records the token, always 200.
async fn revoke(State(state): State<Arc<MockState>>, body: axum::body::Bytes) -> StatusCode {
    let params: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(token) = params.get("token") {
        state.revoked.lock().unwrap().push(token.clone());
    }
    StatusCode::OK
}

/// An account lookup in the shape of Atlassian's accessible-resources: an
/// array of sites, readable only with a bearer token.
async fn me(State(state): State<Arc<MockState>>, headers: HeaderMap) -> Response {
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    state.me_tokens.lock().unwrap().push(token.to_owned());
    Json(json!([{"id": format!("cloud-for-{token}"), "url": "https://site.example"}]))
        .into_response()
}

/// `{"access_token":"aaaa…` for `total` bytes, in 64 KiB chunks made on
/// demand, counting what was produced in `produced`.
fn endless_json(total: usize, produced: Arc<AtomicUsize>) -> Response {
    const CHUNK: usize = 64 * 1024;
    let chunks = futures::stream::unfold(0usize, move |sent| {
        let produced = produced.clone();
        async move {
            if sent >= total {
                return None;
            }
            let mut chunk = vec![b'a'; CHUNK.min(total - sent)];
            if sent == 0 {
                chunk[..17].copy_from_slice(b"{\"access_token\":\"");
            }
            produced.fetch_add(chunk.len(), Ordering::SeqCst);
            let len = chunk.len();
            Some((Ok::<_, std::convert::Infallible>(chunk), sent + len))
        }
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(chunks),
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": format!("mock says {error}")})),
    )
        .into_response()
}

async fn token(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type");
    let params: HashMap<String, String> = if content_type.as_deref() == Some("application/json") {
        serde_json::from_slice::<HashMap<String, String>>(&body).unwrap_or_default()
    } else {
        serde_urlencoded::from_bytes(&body).unwrap_or_default()
    };
    let request = TokenRequest {
        authorization: header("authorization"),
        content_type,
        params: params.clone(),
    };
    state.requests.lock().unwrap().push(request.clone());
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let stream = state.scripted_stream.lock().unwrap().take();
    if let Some(total) = stream {
        return endless_json(total, state.streamed.clone());
    }
    let scripted = state.scripted.lock().unwrap().pop_front();
    if let Some((status, body)) = scripted {
        return (status, Json(body)).into_response();
    }

    // Client authentication: HTTP Basic or body parameters.
    let (client_id, client_secret) = match request
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Basic "))
    {
        Some(encoded) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap_or_default();
            let decoded = String::from_utf8(decoded).unwrap_or_default();
            let (id, secret) = decoded.split_once(':').unwrap_or_default();
            (id.to_owned(), secret.to_owned())
        }
        None => (
            params.get("client_id").cloned().unwrap_or_default(),
            params.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    if client_id != CLIENT_ID || client_secret != CLIENT_SECRET {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let n = state.requests.lock().unwrap().len();
    let expires_in = state.expires_in.load(Ordering::SeqCst);
    match params.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = params.get("code").cloned().unwrap_or_default();
            let Some(issued) = state.codes.lock().unwrap().remove(&code) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            if params.get("redirect_uri") != Some(&issued.redirect_uri) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            if let Some(challenge) = issued.code_challenge {
                let verifier = params.get("code_verifier").cloned().unwrap_or_default();
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(verifier.as_bytes()));
                if computed != challenge {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                }
            }
            Json(json!({
                "access_token": format!("access-{n}"),
                "refresh_token": format!("refresh-{n}"),
                "expires_in": expires_in,
                "token_type": "Bearer",
                "scope": "read write",
                "instance_url": "https://acme.example.com",
            }))
            .into_response()
        }
        Some("refresh_token") => {
            let presented = params.get("refresh_token").cloned().unwrap_or_default();
            if state.dead_refresh_tokens.lock().unwrap().contains(&presented) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            // Using a successor retires the token it replaced.
            if let Some(previous) = state.rotated_from.lock().unwrap().remove(&presented) {
                state.dead_refresh_tokens.lock().unwrap().insert(previous);
            }
            let successor = format!("rotated-{n}");
            state
                .rotated_from
                .lock()
                .unwrap()
                .insert(successor.clone(), presented);
            Json(json!({
                "access_token": format!("refreshed-access-{n}"),
                "refresh_token": successor,
                "expires_in": expires_in,
                "token_type": "Bearer",
            }))
            .into_response()
        }
        Some("client_credentials") => Json(json!({
            "access_token": format!("cc-access-{n}"),
            "expires_in": if expires_in == 3600 { json!("1800") } else { json!(expires_in.to_string()) },
            "token_type": "Bearer",
        }))
        .into_response(),
        Some("password") => {
            if params.get("username").map(String::as_str) != Some(USERNAME)
                || params.get("password").map(String::as_str) != Some(PASSWORD)
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            Json(json!({
                "access_token": format!("pw-access-{n}"),
                "refresh_token": format!("pw-refresh-{n}"),
                "expires_in": 600,
            }))
            .into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}
