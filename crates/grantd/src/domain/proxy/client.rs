//! What the proxy keeps between calls: one HTTP client (its connection
//! pool), the connections it calls with, and, per connection, until when
//! the provider asked to wait.

use super::connections::ProxiedConnections;
use crate::domain::settings::ProxySettings;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Connections remembered as throttled at most; the expired are dropped first.
const MAX_THROTTLED: usize = 100_000;

#[derive(Debug)]
pub struct ProxyClient {
    pub(super) http: reqwest::Client,
    pub(super) throttle: Throttle,
    pub(in crate::domain) connections: ProxiedConnections,
}

impl ProxyClient {
    /// `cache_ttl`: how long a connection's row and opened credentials are
    /// remembered between calls (see [`ProxiedConnections`]).
    pub fn new(settings: &ProxySettings, cache_ttl: Duration) -> Self {
        let http = reqwest::Client::builder()
            // A 3xx goes back to the caller as it is: following it could
            // carry the credentials to another host.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .expect("the proxy's HTTP client builds");
        ProxyClient {
            http,
            throttle: Throttle::default(),
            connections: ProxiedConnections::new(cache_ttl),
        }
    }
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
pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    const DEFAULT: Duration = Duration::from_secs(1);
    const LONGEST: Duration = Duration::from_secs(24 * 3600);
    let Some(value) = headers
        .get(reqwest::header::RETRY_AFTER)
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
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

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
