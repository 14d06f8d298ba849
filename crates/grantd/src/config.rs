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
            proxy_listen: None,
            proxy: Default::default(),
        }
    }
}
