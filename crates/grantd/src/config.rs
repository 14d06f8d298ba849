//! Server configuration, gathered from flags and `GRANTD_*` variables by the
//! CLI and handed to `Application::build` (tests build it directly).

use crate::domain::WebhookSettings;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where the SQLite database and the generated key file live.
    pub data_dir: PathBuf,
    /// `postgres://…` for a database shared by several instances, or
    /// `sqlite://…`; `None` uses `grantd.db` in the data directory.
    pub database_url: Option<String>,
    /// Pool and timeouts when the database is PostgreSQL.
    pub postgres: crate::storage::PostgresSettings,
    /// Base URL the outside world reaches grantd at; defaults to the listen address.
    pub public_url: Option<Url>,
    /// Keyring spec (`GRANTD_ENCRYPTION_KEY`); `None` uses a key file in the data dir.
    pub encryption_key: Option<crate::secrets::SecretString>,
    /// Extra or overriding provider definitions.
    pub providers_file: Option<PathBuf>,
    /// Lifetime of an OAuth flow's state.
    pub oauth_state_ttl: Duration,
    /// Token lifecycle timings and limits.
    pub refresh: crate::domain::RefreshSettings,
    /// Webhook delivery: retry schedule, attempts, timeout, concurrency.
    pub webhooks: WebhookSettings,
    /// How long API keys, JWT keys and provider apps read from the store are
    /// trusted; changes made by another instance or the CLI take this long
    /// to be seen. Zero reads them on every request.
    pub cache_ttl: Duration,
    /// Audience, issuer and longest lifetime of accepted bearer JWTs.
    pub jwt: crate::domain::JwtSettings,
    /// Header-read and idle timeouts and the cap on open client connections.
    pub connections: crate::http::server::ConnectionLimits,
    /// Where Prometheus scrapes `GET /metrics`; `None` (the default) serves
    /// no metrics. Its own listener, so metrics are never public by accident.
    pub metrics_listen: Option<SocketAddr>,
    /// Draining and the deadline for work in flight at shutdown.
    pub shutdown: ShutdownSettings,
    /// Pruning of old events and webhook deliveries.
    pub retention: RetentionSettings,
    /// Token buckets per API key and per client address.
    pub rate_limits: crate::http::rate_limit::RateLimits,
    /// Address of the proxy's own listener (`/{*path}`), if any; the main
    /// listener serves the proxy under `/proxy/` either way.
    pub proxy_listen: Option<SocketAddr>,
    /// Timeouts and body limit of proxied calls.
    pub proxy: crate::domain::ProxySettings,
}

impl Config {
    /// Defaults for a given data directory, listening on a free loopback port.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            database_url: None,
            postgres: Default::default(),
            public_url: None,
            encryption_key: None,
            providers_file: None,
            oauth_state_ttl: Duration::from_secs(600),
            refresh: Default::default(),
            webhooks: WebhookSettings::default(),
            cache_ttl: Duration::from_secs(5),
            jwt: Default::default(),
            connections: Default::default(),
            metrics_listen: None,
            shutdown: Default::default(),
            retention: Default::default(),
            rate_limits: Default::default(),
            proxy_listen: None,
            proxy: Default::default(),
        }
    }
}

/// What happens between SIGTERM and exit.
#[derive(Debug, Clone)]
pub struct ShutdownSettings {
    /// How long grantd keeps accepting after the signal while `/readyz`
    /// answers 503, so the load balancer in front stops sending first.
    /// 0 by default: without a load balancer polling readiness it only
    /// delays the exit.
    pub drain_delay: Duration,
    /// Longest wait, after accepting stops, for requests, token refreshes
    /// and webhook deliveries in flight; what is left then is abandoned
    /// (its leases released) and grantd exits. 30 s: above the 20 s token
    /// call timeout, below the usual 30 s+ grace of process supervisors.
    pub timeout: Duration,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        ShutdownSettings {
            drain_delay: Duration::ZERO,
            timeout: Duration::from_secs(30),
        }
    }
}

/// How long records kept for a while are kept, and how pruning runs.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// Connection events older than this are deleted (unless a webhook
    /// delivery still waits to send one). 90 days: the window API callers
    /// page back through.
    pub events: Duration,
    /// Delivered and failed webhook deliveries older than this are
    /// deleted. 30 days: enough to debug a receiver.
    pub webhook_deliveries: Duration,
    /// Audit records older than this are deleted. 400 days, the longest of
    /// the three: "who read this token?" is asked long after the fact.
    pub audit_records: Duration,
    /// How often pruning runs.
    pub interval: Duration,
    /// Rows deleted per statement; pruning pauses between batches so
    /// request writes are never held up behind it.
    pub batch: i64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        RetentionSettings {
            events: Duration::from_secs(90 * DAY),
            webhook_deliveries: Duration::from_secs(30 * DAY),
            audit_records: Duration::from_secs(400 * DAY),
            interval: Duration::from_secs(3600),
            batch: 500,
        }
    }
}
