//! Every knob the domain takes from the configuration, in one place, so the
//! handle can be built without the modules that use them.

use super::lifecycle::webhook_egress::EgressPolicy;
use std::time::Duration;
use url::Url;

/// Settings the domain needs from the configuration.
#[derive(Debug, Clone)]
pub struct DomainSettings {
    /// grantd's public base URL, with a trailing slash: the connect page and
    /// the bounce endpoint live under it.
    pub public_url: Url,
    /// `{public_url}/callbacks/v1/oauth`, registered with every provider app.
    pub redirect_uri: Url,
    /// Origin of grantd itself, the fallback `postMessage` target.
    pub public_origin: String,
    /// How long an authorization flow's state stays valid.
    pub state_ttl: Duration,
    /// Token lifecycle timings and limits.
    pub refresh: RefreshSettings,
    /// Retry schedule and limits of webhook delivery.
    pub webhooks: WebhookSettings,
    /// How long API keys, JWT signing keys and provider apps read from the
    /// store are trusted before being read again (see [`cache`]).
    pub cache_ttl: Duration,
    /// What a bearer JWT must claim besides a valid signature.
    pub jwt: JwtSettings,
    /// Timeouts and limits of calls through the proxy.
    pub proxy: ProxySettings,
}

/// Limits of calls through the proxy (`--proxy-*` flags).
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Longest wait for a TCP (and TLS) connection to the provider.
    pub connect_timeout: Duration,
    /// Longest wait from sending a request to the provider's response header.
    pub first_byte_timeout: Duration,
    /// Longest whole call, the response body included.
    pub total_timeout: Duration,
    /// Largest request body passed on; larger is a 413.
    pub max_request_body: u64,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(900),
            max_request_body: 100 * 1024 * 1024,
        }
    }
}

/// How the token lifecycle behaves. The defaults are production values;
/// tests shrink the times.
#[derive(Debug, Clone)]
pub struct RefreshSettings {
    /// Renew at least this long before expiry…
    pub lead_min: Duration,
    /// …or this fraction of the token's lifetime, whichever is larger.
    pub lead_fraction: f64,
    /// An API read refreshes first when the token expires within this.
    pub read_skew: Duration,
    /// How long a refresh lease holds; longer than a token call can take.
    pub lease: Duration,
    /// How often the refresher looks for due work.
    pub tick: Duration,
    /// Refreshes in flight at once from this process.
    pub concurrency: usize,
    /// Refreshes in flight at once against one provider.
    pub per_provider: usize,
    /// First retry delay after a transient failure; doubles per failure.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        RefreshSettings {
            lead_min: Duration::from_secs(300),
            lead_fraction: 0.10,
            read_skew: Duration::from_secs(30),
            lease: Duration::from_secs(60),
            tick: Duration::from_secs(1),
            concurrency: 64,
            per_provider: 8,
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(3600),
        }
    }
}

/// How the delivery worker paces itself, and where it may deliver.
/// Configurable so that tests can shrink the retry schedule to milliseconds.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Deliver to loopback, private and other non-public addresses too
    /// (`--webhook-allow-private`), and accept plain http to the loopback
    /// host. Cloud metadata addresses stay refused.
    pub allow_private: bool,
    /// First retry delay ceiling; doubles with each failed attempt.
    pub retry_base: Duration,
    /// Largest retry delay ceiling.
    pub retry_cap: Duration,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// Time allowed for one POST, connection included.
    pub request_timeout: Duration,
    /// How often the worker looks for due retries when nothing wakes it.
    pub poll_interval: Duration,
    /// Deliveries attempted at once by one instance.
    pub concurrency: usize,
    /// How long a claimed delivery stays reserved for the instance that
    /// claimed it; longer than `request_timeout`, so that only a dead
    /// instance's lease ever expires.
    pub lease: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_private: false,
            retry_base: Duration::from_secs(5),
            retry_cap: Duration::from_secs(3600),
            max_attempts: 8,
            request_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            concurrency: 8,
            lease: Duration::from_secs(60),
        }
    }
}

impl WebhookSettings {
    pub fn egress_policy(&self) -> EgressPolicy {
        EgressPolicy {
            allow_private: self.allow_private,
        }
    }
}

/// What a bearer JWT must claim besides a valid signature by a registered key.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// The `aud` grantd accepts; `None`: its public URL, with or without
    /// the trailing slash.
    pub audience: Option<String>,
    /// The `iss` required, when set.
    pub issuer: Option<String>,
    /// Longest `exp - iat` accepted: a leaked token is good for no longer.
    pub max_lifetime: Duration,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            audience: None,
            issuer: None,
            max_lifetime: Duration::from_secs(3600),
        }
    }
}
