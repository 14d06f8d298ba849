//! `grantd serve`: every flag of the server, with its environment variable.

use crate::config::{Config, ShutdownSettings};
use crate::domain::{JwtSettings, ProxySettings, RefreshSettings};
use crate::http::rate_limit::{Bucket, RateLimits};
use crate::http::server::ConnectionLimits;
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;
use url::Url;

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GRANTD_LISTEN", default_value = "127.0.0.1:8080")]
    pub(super) listen: SocketAddr,
    /// Public base URL; the OAuth redirect URI is {public-url}/callbacks/v1/oauth.
    #[arg(long, env = "GRANTD_PUBLIC_URL")]
    pub(super) public_url: Option<Url>,
    /// Seconds an OAuth flow's state stays valid.
    #[arg(long, env = "GRANTD_OAUTH_STATE_TTL_SECS", default_value_t = 600)]
    pub(super) oauth_state_ttl_secs: u64,
    /// Renew OAuth tokens at least this many seconds before they expire
    /// (or 10% of their lifetime, whichever is longer).
    #[arg(long, env = "GRANTD_REFRESH_LEAD_SECS", default_value_t = 300)]
    pub(super) refresh_lead_secs: u64,
    /// Seconds a refresh lease holds; a crashed instance's work is taken over after it.
    #[arg(long, env = "GRANTD_REFRESH_LEASE_SECS", default_value_t = 60)]
    pub(super) refresh_lease_secs: u64,
    /// How often the refresher looks for due tokens, in milliseconds.
    #[arg(long, env = "GRANTD_REFRESH_TICK_MS", default_value_t = 1000)]
    pub(super) refresh_tick_ms: u64,
    /// Token refreshes in flight at once, in all.
    #[arg(long, env = "GRANTD_REFRESH_CONCURRENCY", default_value_t = 64)]
    pub(super) refresh_concurrency: usize,
    /// Token refreshes in flight at once against one provider.
    #[arg(long, env = "GRANTD_REFRESH_PER_PROVIDER", default_value_t = 8)]
    pub(super) refresh_per_provider: usize,
    /// First retry delay after a failed refresh, in milliseconds (doubles per failure).
    #[arg(long, env = "GRANTD_REFRESH_BACKOFF_MS", default_value_t = 5000)]
    pub(super) refresh_backoff_ms: u64,
    /// Milliseconds this instance trusts the API keys, JWT keys, provider
    /// apps and proxied connections it has read: a revocation or change made
    /// by another instance or the admin CLI takes effect here within this
    /// time (changes made
    /// through this instance at once). 0 reads them on every request.
    #[arg(long, env = "GRANTD_CACHE_TTL_MS", default_value_t = 5000)]
    pub(super) cache_ttl_ms: u64,
    /// Let webhooks be delivered to loopback, private, link-local and other
    /// non-public addresses (never to cloud metadata addresses), and over
    /// plain http to 127.0.0.1, ::1 or localhost: for receivers on your own
    /// network. Off, any API key could make grantd probe that network.
    #[arg(
        long,
        env = "GRANTD_WEBHOOK_ALLOW_PRIVATE",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub(super) webhook_allow_private: bool,
    /// The `aud` bearer JWTs must name; default: the public URL (with or
    /// without its trailing slash).
    #[arg(long, env = "GRANTD_JWT_AUDIENCE")]
    pub(super) jwt_audience: Option<String>,
    /// The `iss` bearer JWTs must name; not checked when unset.
    #[arg(long, env = "GRANTD_JWT_ISSUER")]
    pub(super) jwt_issuer: Option<String>,
    /// Longest lifetime (`exp - iat`) of an accepted bearer JWT, in seconds.
    #[arg(long, env = "GRANTD_JWT_MAX_LIFETIME_SECS", default_value_t = 3600)]
    pub(super) jwt_max_lifetime_secs: u64,
    /// Seconds a client has to send a request's whole header, from its
    /// first byte (or from connecting); slower clients are disconnected.
    #[arg(long, env = "GRANTD_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub(super) header_read_timeout_secs: u64,
    /// Seconds a connection with no request in flight may stay silent
    /// before it is closed; keep it above the idle timeout of the proxy in front.
    #[arg(long, env = "GRANTD_IDLE_TIMEOUT_SECS", default_value_t = 75)]
    pub(super) idle_timeout_secs: u64,
    /// Most client connections open at once; at the cap, new clients wait
    /// until one closes.
    #[arg(long, env = "GRANTD_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub(super) max_connections: usize,
    /// Address to serve Prometheus metrics on (`GET /metrics`), apart from
    /// the API; off unless given. Keep it off the public network.
    #[arg(long, env = "GRANTD_METRICS_LISTEN")]
    pub(super) metrics_listen: Option<SocketAddr>,
    /// Seconds grantd keeps serving after SIGTERM with /readyz answering
    /// 503, so a load balancer polling it stops sending first.
    #[arg(long, env = "GRANTD_SHUTDOWN_DRAIN_DELAY_SECS", default_value_t = 0)]
    pub(super) shutdown_drain_delay_secs: u64,
    /// Seconds, once accepting stops, that requests, token refreshes and
    /// webhook deliveries in flight get to finish before grantd exits.
    #[arg(long, env = "GRANTD_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub(super) shutdown_timeout_secs: u64,
    /// Days connection events are kept (those a webhook delivery still
    /// waits to send are kept until it is done).
    #[arg(long, env = "GRANTD_EVENT_RETENTION_DAYS", default_value_t = 90)]
    pub(super) event_retention_days: u64,
    /// Days delivered and failed webhook deliveries are kept.
    #[arg(
        long,
        env = "GRANTD_WEBHOOK_DELIVERY_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub(super) webhook_delivery_retention_days: u64,
    /// Days audit records are kept (the longest of the three by default).
    #[arg(long, env = "GRANTD_AUDIT_RETENTION_DAYS", default_value_t = 400)]
    pub(super) audit_retention_days: u64,
    /// Requests per second and burst (`RATE/BURST`, `0` for no limit) for
    /// each API key or bearer token.
    #[arg(long, env = "GRANTD_RATE_LIMIT_API_KEY", default_value = "100/200", value_parser = parse_bucket)]
    pub(super) rate_limit_api_key: RateArg,
    /// The same for each client address on the authenticated API.
    #[arg(long, env = "GRANTD_RATE_LIMIT_ADDRESS", default_value = "200/400", value_parser = parse_bucket)]
    pub(super) rate_limit_address: RateArg,
    /// The same for each client address on the OAuth callback and the
    /// connect page and its API.
    #[arg(long, env = "GRANTD_RATE_LIMIT_UNAUTHENTICATED", default_value = "10/30", value_parser = parse_bucket)]
    pub(super) rate_limit_unauthenticated: RateArg,
    /// Apply the rate limits to loopback clients too.
    #[arg(
        long,
        env = "GRANTD_RATE_LIMIT_LOOPBACK",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub(super) rate_limit_loopback: bool,
    /// Address of the proxy's own listener, where every path is the
    /// provider's (`/{*path}`); the main listener serves it under `/proxy/`.
    #[arg(long, env = "GRANTD_PROXY_LISTEN")]
    pub(super) proxy_listen: Option<SocketAddr>,
    /// Seconds a proxied call may take to connect to the provider.
    #[arg(long, env = "GRANTD_PROXY_CONNECT_TIMEOUT_SECS", default_value_t = 10)]
    pub(super) proxy_connect_timeout_secs: u64,
    /// Seconds a proxied call may wait for the provider's response header.
    #[arg(
        long,
        env = "GRANTD_PROXY_FIRST_BYTE_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub(super) proxy_first_byte_timeout_secs: u64,
    /// Seconds a proxied call may take in all, its response body included.
    #[arg(long, env = "GRANTD_PROXY_TOTAL_TIMEOUT_SECS", default_value_t = 900)]
    pub(super) proxy_total_timeout_secs: u64,
    /// Largest request body a proxied call may carry, in bytes.
    #[arg(long, env = "GRANTD_PROXY_MAX_BODY_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub(super) proxy_max_body_bytes: u64,
}

/// A rate limit flag's value: a bucket, or none for `0`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct RateArg(pub(super) Option<Bucket>);

/// `RATE/BURST` or `RATE` (burst = rate) requests per second; `0` is no limit.
pub(super) fn parse_bucket(value: &str) -> Result<RateArg, String> {
    let (rate, burst) = value.split_once('/').unwrap_or((value, value));
    let number = |text: &str| {
        text.trim()
            .parse::<u32>()
            .map_err(|_| format!("{value:?}: expected RATE/BURST, e.g. 100/200, or 0 for none"))
    };
    let (per_second, burst) = (number(rate)?, number(burst)?);
    Ok(RateArg((per_second > 0).then_some(Bucket {
        per_second,
        burst: burst.max(per_second),
    })))
}

impl ServeArgs {
    /// Writes the flags into the configuration the global flags began.
    pub(super) fn apply_to(self, config: &mut Config) {
        config.listen = self.listen;
        config.public_url = self.public_url;
        config.oauth_state_ttl = Duration::from_secs(self.oauth_state_ttl_secs);
        config.cache_ttl = Duration::from_millis(self.cache_ttl_ms);
        config.webhooks.allow_private = self.webhook_allow_private;
        if self.webhook_allow_private {
            tracing::warn!("webhooks may be delivered to private and loopback addresses (--webhook-allow-private)");
        }
        config.jwt = JwtSettings {
            audience: self.jwt_audience,
            issuer: self.jwt_issuer,
            max_lifetime: Duration::from_secs(self.jwt_max_lifetime_secs),
        };
        config.refresh = RefreshSettings {
            lead_min: Duration::from_secs(self.refresh_lead_secs),
            lease: Duration::from_secs(self.refresh_lease_secs.max(1)),
            tick: Duration::from_millis(self.refresh_tick_ms.max(1)),
            concurrency: self.refresh_concurrency.max(1),
            per_provider: self.refresh_per_provider.max(1),
            backoff_base: Duration::from_millis(self.refresh_backoff_ms),
            ..RefreshSettings::default()
        };
        config.connections = ConnectionLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_connections: self.max_connections.max(1),
        };
        config.metrics_listen = self.metrics_listen;
        config.shutdown = ShutdownSettings {
            drain_delay: Duration::from_secs(self.shutdown_drain_delay_secs),
            timeout: Duration::from_secs(self.shutdown_timeout_secs),
        };
        config.retention.events = Duration::from_secs(self.event_retention_days * 86_400);
        config.retention.webhook_deliveries =
            Duration::from_secs(self.webhook_delivery_retention_days * 86_400);
        config.retention.audit_records = Duration::from_secs(self.audit_retention_days * 86_400);
        config.rate_limits = RateLimits {
            per_credential: self.rate_limit_api_key.0,
            per_address: self.rate_limit_address.0,
            unauthenticated_per_address: self.rate_limit_unauthenticated.0,
            exempt_loopback: !self.rate_limit_loopback,
        };
        config.proxy_listen = self.proxy_listen;
        config.proxy = ProxySettings {
            connect_timeout: Duration::from_secs(self.proxy_connect_timeout_secs.max(1)),
            first_byte_timeout: Duration::from_secs(self.proxy_first_byte_timeout_secs.max(1)),
            total_timeout: Duration::from_secs(self.proxy_total_timeout_secs.max(1)),
            max_request_body: self.proxy_max_body_bytes,
        };
    }
}
