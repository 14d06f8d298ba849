//! What the proxy keeps between calls: one HTTP client (its connection
//! pool), the connections it calls with, and, per connection, until when
//! the provider asked to wait.
//!
//! The client is hyper's own (hyper-util's pooled client over rustls), not
//! reqwest as elsewhere in grantd: reqwest's per-call layers (redirect and
//! retry policies, the URL parsed again, the response wrapped) cost more
//! CPU than the call itself, and the proxy follows no redirect and retries
//! on its own terms anyway.

use super::body::BoxError;
use super::connections::ProxiedConnections;
use crate::domain::settings::ProxySettings;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Connections remembered as throttled at most; the expired are dropped first.
const MAX_THROTTLED: usize = 100_000;

/// A request body on its way to the provider.
pub(super) type RequestBody = UnsyncBoxBody<Bytes, BoxError>;

pub(super) type HttpClient = Client<HttpsConnector<HttpConnector>, RequestBody>;

#[derive(Debug)]
pub struct ProxyClient {
    pub(super) http: HttpClient,
    pub(super) throttle: Throttle,
    pub(in crate::domain) connections: ProxiedConnections,
}

impl ProxyClient {
    /// `cache_ttl`: how long a connection's row and opened credentials are
    /// remembered between calls (see [`ProxiedConnections`]).
    pub fn new(settings: &ProxySettings, cache_ttl: Duration) -> Self {
        ProxyClient {
            http: http_client(settings),
            throttle: Throttle::default(),
            connections: ProxiedConnections::new(cache_ttl),
        }
    }
}

/// HTTP/1.1 or HTTP/2 (by ALPN) over TLS with the Web PKI roots, plain
/// http for what the catalog allows (a loopback test double); connections
/// kept for a minute between calls. It follows no redirect: a 3xx goes back
/// to the caller as it is, so the credentials never reach another host.
fn http_client(settings: &ProxySettings) -> HttpClient {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(settings.connect_timeout));
    // Named explicitly: two rustls providers are linked (ring here,
    // aws-lc-rs for the database), so there is no process default.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .expect("ring supports rustls' default protocol versions")
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(tls)
}

/// Per connection, until when a provider's 429 asked to wait. In this
/// process only: each instance learns from the 429s it sees.
#[derive(Debug, Default)]
pub(super) struct Throttle {
    until: Mutex<HashMap<String, Instant>>,
}

impl Throttle {
    /// How long calls of this connection must still wait, if at all.
    pub(super) fn remaining(&self, connection_id: &str) -> Option<Duration> {
        let mut until = self.until.lock().expect("throttle map");
        let at = *until.get(connection_id)?;
        let left = at.checked_duration_since(Instant::now());
        if left.is_none() {
            until.remove(connection_id);
        }
        left.filter(|d| !d.is_zero())
    }

    pub(super) fn record(&self, connection_id: &str, wait: Duration) {
        let now = Instant::now();
        let mut until = self.until.lock().expect("throttle map");
        if until.len() >= MAX_THROTTLED {
            until.retain(|_, at| *at > now);
        }
        if until.len() < MAX_THROTTLED {
            until.insert(connection_id.to_owned(), now + wait);
        }
    }
}

/// The wait a 429 asks for: `Retry-After` in seconds or as an HTTP date
/// (RFC 9110 §10.2.3); one second when it says nothing usable.
pub(super) fn retry_after(headers: &hyper::header::HeaderMap) -> Duration {
    const DEFAULT: Duration = Duration::from_secs(1);
    const LONGEST: Duration = Duration::from_secs(24 * 3600);
    let Some(value) = headers
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    else {
        return DEFAULT;
    };
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => match httpdate::parse_http_date(value) {
            Ok(at) => at
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default(),
            Err(_) => DEFAULT,
        },
    };
    wait.min(LONGEST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_takes_seconds_or_a_date_and_defaults_to_a_second() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), Duration::from_secs(1));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&headers), Duration::from_secs(120));
        let later = std::time::SystemTime::now() + Duration::from_secs(600);
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(later)).unwrap(),
        );
        let wait = retry_after(&headers);
        assert!(wait > Duration::from_secs(590) && wait <= Duration::from_secs(600));
    }

    #[test]
    fn a_throttle_lasts_until_its_time_and_not_after() {
        let throttle = Throttle::default();
        assert_eq!(throttle.remaining("c"), None);
        throttle.record("c", Duration::from_secs(60));
        assert!(throttle.remaining("c").unwrap() > Duration::from_secs(59));
        throttle.record("c", Duration::ZERO);
        assert_eq!(throttle.remaining("c"), None);
    }
}
