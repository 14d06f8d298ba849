//! Token buckets that keep one noisy caller from starving the rest: one
//! per API key (or bearer token), one per client address, and a stricter
//! one per address on the unauthenticated surface (the OAuth callback, the
//! connect page and its API), where no credential identifies the caller.
//! Over its limit a caller gets a 429 problem with `Retry-After`.
//!
//! The address is the TCP peer's: behind a proxy every request shares the
//! proxy's, so the address limits are then set high or off (README).

use crate::http::problem::Problem;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A sustained rate with a burst on top of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub per_second: u32,
    pub burst: u32,
}

/// The limits; a `None` bucket is off.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Each API key or bearer token. 100/s, burst 200: far above what an
    /// integration backend needs, low enough that a loop gone wrong does
    /// not take the database from every other tenant.
    pub per_credential: Option<Bucket>,
    /// Each client address, on the authenticated API. 200/s, burst 400:
    /// one backend host may use several keys.
    pub per_address: Option<Bucket>,
    /// Each client address on the callback and the connect page and API.
    /// 10/s, burst 30: a person connecting an account makes a handful of
    /// requests; anything faster is a script.
    pub unauthenticated_per_address: Option<Bucket>,
    /// Loopback clients (a sidecar, the operator's shell) are not limited.
    pub exempt_loopback: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_credential: Some(Bucket {
                per_second: 100,
                burst: 200,
            }),
            per_address: Some(Bucket {
                per_second: 200,
                burst: 400,
            }),
            unauthenticated_per_address: Some(Bucket {
                per_second: 10,
                burst: 30,
            }),
            exempt_loopback: true,
        }
    }
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// The buckets of one server, shared by its requests.
#[derive(Debug)]
pub struct Limiter {
    exempt_loopback: bool,
    credential: Option<Keyed<String>>,
    address: Option<Keyed<IpAddr>>,
    unauthenticated: Option<Keyed<IpAddr>>,
    checks: AtomicU64,
}

/// Checks between sweeps of the buckets of callers gone quiet.
const SWEEP_EVERY: u64 = 4096;

fn keyed<K: Hash + Eq + Clone>(bucket: Option<Bucket>) -> Option<Keyed<K>> {
    let bucket = bucket?;
    let rate = NonZeroU32::new(bucket.per_second)?;
    let burst = NonZeroU32::new(bucket.burst.max(bucket.per_second)).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl Limiter {
    pub fn new(limits: &RateLimits) -> Arc<Self> {
        Arc::new(Limiter {
            exempt_loopback: limits.exempt_loopback,
            credential: keyed(limits.per_credential),
            address: keyed(limits.per_address),
            unauthenticated: keyed(limits.unauthenticated_per_address),
            checks: AtomicU64::new(0),
        })
    }

    /// Forgets the buckets that are full again, so memory follows the
    /// callers of the last moments, not every caller ever seen.
    fn sweep(&self) {
        if let Some(l) = &self.credential {
            l.retain_recent();
            l.shrink_to_fit();
        }
        for l in [&self.address, &self.unauthenticated].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// Paths whose callers hold no credential: the OAuth callback and the
/// connect page with its API.
fn is_unauthenticated_surface(path: &str) -> bool {
    path.starts_with("/callbacks/") || path == "/connect" || path.starts_with("/connect/")
}

/// Probes are never limited: a load balancer must always see the truth.
fn is_probe(path: &str) -> bool {
    path == "/healthz" || path == "/readyz"
}

/// What the request presents as a credential, hashed (the key holds no
/// secret, and an unknown key is limited like a known one).
fn credential(request: &Request) -> Option<String> {
    let headers = request.headers();
    let value = headers
        .get("x-api-key")
        .or_else(|| headers.get(header::AUTHORIZATION))?;
    Some(crate::secrets::sha256_hex(value.as_bytes()))
}

/// The middleware: checks the buckets that apply, in order, and answers
/// 429 from the first that is empty.
pub async fn limit(State(limiter): State<Arc<Limiter>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if is_probe(path) {
        return next.run(request).await;
    }
    if limiter.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
        limiter.sweep();
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    if limiter.exempt_loopback && peer.is_some_and(|ip| ip.is_loopback()) {
        return next.run(request).await;
    }
    let verdict = if is_unauthenticated_surface(path) {
        check(
            &limiter.unauthenticated,
            peer.as_ref(),
            "this client address",
        )
    } else {
        check(&limiter.address, peer.as_ref(), "this client address").and_then(|()| {
            let key = credential(&request);
            check(&limiter.credential, key.as_ref(), "this API key")
        })
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(limited) => too_many_requests(limited.wait, limited.whom),
    }
}

/// An empty bucket: whose, and how long until it holds a token again.
struct Limited {
    wait: std::time::Duration,
    whom: &'static str,
}

fn check<K: Hash + Eq + Clone>(
    limiter: &Option<Keyed<K>>,
    key: Option<&K>,
    whom: &'static str,
) -> Result<(), Limited> {
    let (Some(limiter), Some(key)) = (limiter, key) else {
        return Ok(());
    };
    limiter.check_key(key).map_err(|not_until| Limited {
        wait: not_until.wait_time_from(DefaultClock::default().now()),
        whom,
    })
}

/// A 429 problem saying when to come back, in `Retry-After` (whole
/// seconds, rounded up) and in the problem's `retryAfter`.
fn too_many_requests(wait: std::time::Duration, whom: &str) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut problem = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many requests from {whom}; retry after {seconds} s"),
    );
    problem.retryable = Some(true);
    problem.retry_after = Some(chrono::Utc::now() + chrono::Duration::seconds(seconds as i64));
    let mut response = problem.into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&seconds.to_string()).expect("digits are a valid header value"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_and_the_connect_page_are_the_unauthenticated_surface() {
        assert!(is_unauthenticated_surface("/callbacks/v1/oauth"));
        assert!(is_unauthenticated_surface("/connect"));
        assert!(is_unauthenticated_surface("/connect/api/start"));
        assert!(!is_unauthenticated_surface("/connections"));
        assert!(!is_unauthenticated_surface(
            "/v1/projects/p/connect-sessions"
        ));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let response = too_many_requests(std::time::Duration::from_millis(1200), "x");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = too_many_requests(std::time::Duration::from_millis(10), "x");
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
