//! The OAuth provider grantd talks to during the benchmark, in-process so
//! that its cost is known and small: `/authorize` redirects straight back
//! with a code, `/token` answers authorization_code, refresh_token (rotating)
//! and client_credentials. Two instruments sit on the token endpoint: an
//! optional token-bucket limiter that *delays* calls (as a provider's rate
//! limit shapes traffic, without errors that would change grantd's path), and
//! a record of every refresh token presented, so a refresh token used twice —
//! a double refresh — is counted.

use anyhow::Context;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CLIENT_ID: &str = "bench-client";
pub const CLIENT_SECRET: &str = "bench-secret";
/// Lifetime of every access token the mock issues.
pub const EXPIRES_IN_SECS: i64 = 3600;

/// Reserve-then-sleep limiter (GCRA): each call takes the next slot of
/// `1/rate`, and waits only once it is more than `burst` ahead of now.
#[derive(Debug)]
struct Limiter {
    interval: Option<Duration>,
    burst: Duration,
    theoretical_arrival: Instant,
}

impl Limiter {
    fn delay(&mut self, now: Instant) -> Duration {
        let Some(interval) = self.interval else {
            return Duration::ZERO;
        };
        let slot = self.theoretical_arrival.max(now);
        self.theoretical_arrival = slot + interval;
        (slot - now).saturating_sub(self.burst)
    }
}

#[derive(Debug, Default)]
struct RefreshLog {
    presented: HashSet<String>,
    first: Option<Instant>,
    last: Option<Instant>,
}

struct MockState {
    /// Code -> PKCE challenge it was issued with.
    codes: Mutex<HashMap<String, Option<String>>>,
    counter: AtomicU64,
    limiter: Mutex<Limiter>,
    refreshes: Mutex<RefreshLog>,
    refresh_calls: AtomicU64,
    double_refreshes: AtomicU64,
    token_errors: AtomicU64,
}

/// What the refresh-token instrument saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefreshStats {
    pub calls: u64,
    /// Calls that presented a refresh token already presented before.
    pub doubles: u64,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

/// A running mock; it stops with the runtime.
#[derive(Clone)]
pub struct MockProvider {
    pub base: String,
    state: Arc<MockState>,
}

impl MockProvider {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the mock provider on 127.0.0.1")?;
        let base = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(MockState {
            codes: Mutex::default(),
            counter: AtomicU64::new(0),
            limiter: Mutex::new(Limiter {
                interval: None,
                burst: Duration::ZERO,
                theoretical_arrival: Instant::now(),
            }),
            refreshes: Mutex::default(),
            refresh_calls: AtomicU64::new(0),
            double_refreshes: AtomicU64::new(0),
            token_errors: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("mock provider stopped: {error}");
            }
        });
        Ok(Self { base, state })
    }

    /// Limits the token endpoint to `rate` calls per second (`None`: no limit),
    /// with a burst allowance of 20 ms worth of calls.
    pub fn set_token_rate(&self, rate: Option<u32>) {
        let mut limiter = lock(&self.state.limiter);
        limiter.interval = rate
            .filter(|r| *r > 0)
            .map(|r| Duration::from_secs_f64(1.0 / f64::from(r)));
        limiter.burst = Duration::from_millis(20);
        limiter.theoretical_arrival = Instant::now();
    }

    pub fn refresh_stats(&self) -> RefreshStats {
        let log = lock(&self.state.refreshes);
        RefreshStats {
            calls: self.state.refresh_calls.load(Ordering::Relaxed),
            doubles: self.state.double_refreshes.load(Ordering::Relaxed),
            first: log.first,
            last: log.last,
        }
    }

    /// Token calls answered with an error (bad client, unknown code, …).
    pub fn token_errors(&self) -> u64 {
        self.state.token_errors.load(Ordering::Relaxed)
    }
}

/// A poisoned lock only means another handler panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn authorize(
    State(state): State<Arc<MockState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(redirect_uri) = query.get("redirect_uri") else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is required").into_response();
    };
    let Ok(mut location) = url::Url::parse(redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri does not parse").into_response();
    };
    let code = format!("code-{}", state.counter.fetch_add(1, Ordering::Relaxed));
    lock(&state.codes).insert(code.clone(), query.get("code_challenge").cloned());
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair(
            "state",
            query.get("state").map(String::as_str).unwrap_or(""),
        );
    Redirect::to(location.as_str()).into_response()
}

fn oauth_error(state: &MockState, status: StatusCode, error: &str) -> Response {
    state.token_errors.fetch_add(1, Ordering::Relaxed);
    (status, Json(json!({ "error": error }))).into_response()
}

async fn token(State(state): State<Arc<MockState>>, body: axum::body::Bytes) -> Response {
    let delay = lock(&state.limiter).delay(Instant::now());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let params: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    if param("client_id") != CLIENT_ID || param("client_secret") != CLIENT_SECRET {
        return oauth_error(&state, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let n = state.counter.fetch_add(1, Ordering::Relaxed);
    match param("grant_type") {
        "authorization_code" => {
            let Some(challenge) = lock(&state.codes).remove(param("code")) else {
                return oauth_error(&state, StatusCode::BAD_REQUEST, "invalid_grant");
            };
            if let Some(challenge) = challenge {
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(param("code_verifier").as_bytes()));
                if computed != challenge {
                    return oauth_error(&state, StatusCode::BAD_REQUEST, "invalid_grant");
                }
            }
            Json(json!({
                "access_token": format!("access-{n}"),
                "refresh_token": format!("refresh-{n}"),
                "expires_in": EXPIRES_IN_SECS,
                "token_type": "Bearer",
            }))
            .into_response()
        }
        "refresh_token" => {
            state.refresh_calls.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            {
                let mut log = lock(&state.refreshes);
                if !log.presented.insert(param("refresh_token").to_owned()) {
                    state.double_refreshes.fetch_add(1, Ordering::Relaxed);
                }
                log.first.get_or_insert(now);
                log.last = Some(now);
            }
            // Answered even when presented twice, so a double refresh is
            // counted here instead of turning into a parked connection.
            Json(json!({
                "access_token": format!("refreshed-{n}"),
                "refresh_token": format!("rotated-{n}"),
                "expires_in": EXPIRES_IN_SECS,
                "token_type": "Bearer",
            }))
            .into_response()
        }
        "client_credentials" => Json(json!({
            "access_token": format!("cc-{n}"),
            "expires_in": EXPIRES_IN_SECS,
            "token_type": "Bearer",
        }))
        .into_response(),
        _ => oauth_error(&state, StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_spaces_calls_beyond_the_burst_at_the_rate() {
        let start = Instant::now();
        let mut limiter = Limiter {
            interval: Some(Duration::from_millis(10)),
            burst: Duration::from_millis(20),
            theoretical_arrival: start,
        };
        let delays: Vec<u128> = (0..5).map(|_| limiter.delay(start).as_millis()).collect();
        assert_eq!(delays, [0, 0, 0, 10, 20]);
    }
}
