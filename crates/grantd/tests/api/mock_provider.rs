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
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
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
            ..Default::default()
        });
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/me", get(me))
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

    /// Bearer tokens the post-auth endpoint `/me` received.
    pub fn me_tokens(&self) -> Vec<String> {
        self.state.me_tokens.lock().unwrap().clone()
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
    if let Some((status, body)) = state.scripted.lock().unwrap().pop_front() {
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
                "expires_in": 3600,
                "token_type": "Bearer",
                "scope": "read write",
                "instance_url": "https://acme.example.com",
            }))
            .into_response()
        }
        Some("client_credentials") => Json(json!({
            "access_token": format!("cc-access-{n}"),
            "expires_in": "1800",
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
