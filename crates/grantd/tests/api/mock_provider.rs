//! An in-process OAuth 2.0 authorization server for tests, as strict as a
//! real one: codes are single use and bound to the client, the redirect URI
//! and the PKCE challenge; refresh tokens must have been issued (by the mock,
//! or registered by the test as issued earlier) and are retired as the
//! configured rotation policy says; client authentication is checked on every
//! grant. It counts token calls and can be scripted to answer the next token
//! calls with chosen statuses, headers and bodies.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "mock-client";
pub const CLIENT_SECRET: &str = "mock-secret";
pub const USERNAME: &str = "ada";
pub const PASSWORD: &str = "correct horse";

/// How the server treats a refresh token once it has been used, after the
/// behaviours real authorization servers have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    /// Every refresh answers a new refresh token and the presented one stops
    /// working at once (RFC 9700 §4.14.2). A token used again is refused.
    #[default]
    Strict,
    /// No new refresh token: the one the client has keeps working (Google,
    /// Salesforce and most providers).
    None,
    /// Strict, and a retired token presented again revokes the whole grant,
    /// its live successor included (reuse detection: Auth0, Okta).
    ReuseRevokesGrant,
}

/// One request received at the token endpoint.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// When it arrived.
    pub at: std::time::Instant,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub params: HashMap<String, String>,
}

/// What `/authorize` bound a code to.
#[derive(Debug)]
struct IssuedCode {
    client_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
}

/// A refresh token the server issued, and whether it still works.
#[derive(Debug, Clone, Copy)]
struct RefreshTokenState {
    grant: u64,
    live: bool,
}

/// An answer the test has queued for the next token call.
struct Scripted {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Value,
}

#[derive(Default)]
struct Grants {
    refresh_tokens: HashMap<String, RefreshTokenState>,
    revoked: HashSet<u64>,
    next_grant: u64,
}

impl Grants {
    fn issue(&mut self, token: &str, grant: Option<u64>) {
        let grant = grant.unwrap_or_else(|| {
            self.next_grant += 1;
            self.next_grant
        });
        self.refresh_tokens
            .insert(token.to_owned(), RefreshTokenState { grant, live: true });
    }

    fn revoke_grant(&mut self, grant: u64) {
        self.revoked.insert(grant);
        for state in self.refresh_tokens.values_mut() {
            if state.grant == grant {
                state.live = false;
            }
        }
    }
}

#[derive(Default)]
struct MockState {
    base: String,
    rotation: Mutex<Rotation>,
    codes: Mutex<HashMap<String, IssuedCode>>,
    grants: Mutex<Grants>,
    requests: Mutex<Vec<TokenRequest>>,
    scripted: Mutex<VecDeque<Scripted>>,
    issued: AtomicUsize,
    /// Bearer tokens presented at /me, in order.
    me_tokens: Mutex<Vec<String>>,
    /// Lifetime of tokens issued from now on, in seconds.
    expires_in: AtomicI64,
    /// Delay before a token answer leaves, in milliseconds. The grant is
    /// decided first, so a client that goes away meanwhile has still
    /// rotated its token, as with a real server.
    delay_ms: AtomicU64,
    /// Delays for one grant type only, over `delay_ms`.
    grant_delays: Mutex<HashMap<String, std::time::Duration>>,
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

    /// How refresh tokens rotate from now on.
    pub fn set_rotation(&self, rotation: Rotation) {
        *self.state.rotation.lock().unwrap() = rotation;
    }

    /// Records `token` as a live refresh token of a new grant, issued before
    /// the test began: what a test imports into grantd must have come from
    /// the server, or the server refuses it as it would a forged one.
    pub fn issue_refresh_token(&self, token: &str) {
        self.state.grants.lock().unwrap().issue(token, None);
    }

    /// Whether `token` is a refresh token the server would still honour.
    pub fn refresh_token_is_live(&self, token: &str) -> bool {
        let grants = self.state.grants.lock().unwrap();
        grants.refresh_tokens.get(token).is_some_and(|s| s.live)
    }

    /// Every refresh token the provider still honours.
    pub fn live_refresh_tokens(&self) -> Vec<String> {
        let grants = self.state.grants.lock().unwrap();
        grants
            .refresh_tokens
            .iter()
            .filter(|(_, state)| state.live)
            .map(|(token, _)| token.clone())
            .collect()
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

    /// Token calls of `grant_type` answer after this long.
    pub fn set_grant_delay(&self, grant_type: &str, delay: std::time::Duration) {
        self.state
            .grant_delays
            .lock()
            .unwrap()
            .insert(grant_type.to_owned(), delay);
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
        self.script_token_response_with_headers(status, &[], body);
    }

    /// Like `script_token_response`, with response headers (`Retry-After`).
    pub fn script_token_response_with_headers(
        &self,
        status: StatusCode,
        headers: &[(&str, &str)],
        body: Value,
    ) {
        let headers = headers
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect();
        self.state.scripted.lock().unwrap().push_back(Scripted {
            status,
            headers,
            body,
        });
    }
}

async fn authorize(
    State(state): State<Arc<MockState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| q.get(name).cloned().unwrap_or_default();
    let Ok(mut location) = url::Url::parse(&param("redirect_uri")) else {
        return (StatusCode::BAD_REQUEST, "no redirect_uri").into_response();
    };
    if param("response_type") != "code" || param("client_id").is_empty() {
        return (StatusCode::BAD_REQUEST, "not a code request").into_response();
    }
    // Only S256 is accepted, as RFC 9700 §2.1.1 recommends.
    let challenge = q.get("code_challenge").cloned();
    if challenge.is_some() && param("code_challenge_method") != "S256" {
        return (
            StatusCode::BAD_REQUEST,
            "code_challenge_method must be S256",
        )
            .into_response();
    }
    let code = format!("code-{}", state.issued.fetch_add(1, Ordering::SeqCst));
    state.codes.lock().unwrap().insert(
        code.clone(),
        IssuedCode {
            client_id: param("client_id"),
            redirect_uri: param("redirect_uri"),
            code_challenge: challenge,
        },
    );
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &param("state"))
        .append_pair("iss", &state.base);
    Redirect::to(location.as_str()).into_response()
}

/// RFC 7009 revocation: records the token; revoking a refresh token ends
/// its grant. Always 200, as the RFC asks for unknown tokens too.
async fn revoke(State(state): State<Arc<MockState>>, body: axum::body::Bytes) -> StatusCode {
    let params: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(token) = params.get("token") {
        state.revoked.lock().unwrap().push(token.clone());
        let mut grants = state.grants.lock().unwrap();
        if let Some(grant) = grants.refresh_tokens.get(token).map(|s| s.grant) {
            grants.revoke_grant(grant);
        }
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

/// `{"access_token":"aaaa…` for `total` bytes, in chunks of a little over
/// 64 KiB (no sum of them is a round size, so a reader must cap by
/// "more than", not "exactly"), made on demand, counting what was produced
/// in `produced`.
fn endless_json(total: usize, produced: Arc<AtomicUsize>) -> Response {
    const CHUNK: usize = 64 * 1024 + 7;
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

/// The client's credentials, from HTTP Basic (form-decoded, RFC 6749
/// §2.3.1) or the body; both at once is an error (§2.3).
fn client_credentials(
    authorization: Option<&str>,
    params: &HashMap<String, String>,
) -> Option<(String, String)> {
    let in_body = params.contains_key("client_secret");
    match authorization.and_then(|a| a.strip_prefix("Basic ")) {
        Some(_) if in_body => None,
        Some(encoded) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (id, secret) = decoded.split_once(':')?;
            let form = |s: &str| {
                url::form_urlencoded::parse(format!("v={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((form(id)?, form(secret)?))
        }
        None => Some((
            params.get("client_id").cloned().unwrap_or_default(),
            params.get("client_secret").cloned().unwrap_or_default(),
        )),
    }
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
        at: std::time::Instant::now(),
        authorization: header("authorization"),
        content_type,
        params,
    };
    let n = {
        let mut requests = state.requests.lock().unwrap();
        requests.push(request.clone());
        requests.len()
    };
    let stream = state.scripted_stream.lock().unwrap().take();
    if let Some(total) = stream {
        return endless_json(total, state.streamed.clone());
    }
    let scripted = state.scripted.lock().unwrap().pop_front();
    let response = match scripted {
        Some(scripted) => {
            let mut response = (scripted.status, Json(scripted.body)).into_response();
            response.headers_mut().extend(scripted.headers);
            response
        }
        None => grant(&state, &request, n),
    };
    let grant_delay = request
        .params
        .get("grant_type")
        .and_then(|grant| state.grant_delays.lock().unwrap().get(grant).copied());
    let delay = grant_delay.unwrap_or(std::time::Duration::from_millis(
        state.delay_ms.load(Ordering::SeqCst),
    ));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    response
}

/// Decides a token request; `n` numbers the tokens it issues.
fn grant(state: &MockState, request: &TokenRequest, n: usize) -> Response {
    let params = &request.params;
    let Some((client_id, client_secret)) =
        client_credentials(request.authorization.as_deref(), params)
    else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if client_id != CLIENT_ID || client_secret != CLIENT_SECRET {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let expires_in = state.expires_in.load(Ordering::SeqCst);
    match params.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = params.get("code").cloned().unwrap_or_default();
            let Some(issued) = state.codes.lock().unwrap().remove(&code) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let verifier = params.get("code_verifier");
            let pkce_ok = match (&issued.code_challenge, verifier) {
                (Some(challenge), Some(verifier)) => {
                    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(Sha256::digest(verifier.as_bytes()));
                    &computed == challenge
                }
                (None, None) => true,
                // A verifier without a challenge, or the reverse (RFC 7636 §4.6).
                _ => false,
            };
            if issued.client_id != client_id
                || params.get("redirect_uri") != Some(&issued.redirect_uri)
                || !pkce_ok
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            let refresh_token = format!("refresh-{n}");
            state.grants.lock().unwrap().issue(&refresh_token, None);
            Json(json!({
                "access_token": format!("access-{n}"),
                "refresh_token": refresh_token,
                "expires_in": expires_in,
                "token_type": "Bearer",
                "scope": "read write",
                "instance_url": "https://acme.example.com",
            }))
            .into_response()
        }
        Some("refresh_token") => {
            let presented = params.get("refresh_token").cloned().unwrap_or_default();
            let rotation = *state.rotation.lock().unwrap();
            let mut grants = state.grants.lock().unwrap();
            let Some(current) = grants.refresh_tokens.get(&presented).copied() else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            if !current.live {
                if rotation == Rotation::ReuseRevokesGrant {
                    grants.revoke_grant(current.grant);
                }
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            let mut answer = json!({
                "access_token": format!("refreshed-access-{n}"),
                "expires_in": expires_in,
                "token_type": "Bearer",
            });
            if rotation != Rotation::None {
                let successor = format!("rotated-{n}");
                grants.refresh_tokens.get_mut(&presented).unwrap().live = false;
                grants.issue(&successor, Some(current.grant));
                answer["refresh_token"] = json!(successor);
            }
            Json(answer).into_response()
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
            let refresh_token = format!("pw-refresh-{n}");
            state.grants.lock().unwrap().issue(&refresh_token, None);
            Json(json!({
                "access_token": format!("pw-access-{n}"),
                "refresh_token": refresh_token,
                "expires_in": 600,
            }))
            .into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}
