//! Startup: open the store, load the catalog and the keyring, bind, serve.

use crate::config::{Config, RetentionSettings, ShutdownSettings};
use crate::domain::catalog::Catalog;
use crate::domain::{DomainSettings, Grantd, WebhookWorker};
use crate::http::server::ConnectionLimits;
use crate::secrets::Cipher;
use crate::storage::{now_millis, SealedRows, Store, SQLITE_FILE};
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::TcpListener;
use url::Url;

/// Name of the key file created in the data directory when no key is configured.
pub const KEY_FILE: &str = "encryption.key";

/// What opening grantd's store may create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The server and `project create`: a missing data directory, SQLite
    /// database and key file are created.
    Create,
    /// Commands that work on a store that must already hold a project
    /// (`project list`, `api-key …`, `jwt-key …`): the store must exist and
    /// no key file is written, so a mistyped `--data-dir` leaves nothing
    /// behind.
    Existing,
}

/// Builds the domain handle from configuration: used by the server and the CLI.
pub async fn open_grantd(
    config: &Config,
    public_url: &Url,
    access: Access,
) -> anyhow::Result<Grantd> {
    let shared = config
        .database_url
        .as_deref()
        .is_some_and(|url| url.starts_with("postgres"));
    if shared && config.encryption_key.is_none() {
        // A key file per instance would seal rows other instances cannot open.
        anyhow::bail!("GRANTD_ENCRYPTION_KEY is required with a PostgreSQL database");
    }
    if access == Access::Existing && config.database_url.is_none() {
        require_existing_store(&config.data_dir)?;
    }
    let store = Store::open(
        config.database_url.as_deref(),
        &config.data_dir,
        &config.postgres,
        access == Access::Create,
    )
    .await
    .with_context(|| match &config.database_url {
        Some(_) => "opening the database named by GRANTD_DATABASE_URL".to_owned(),
        None => format!("opening the database in {}", config.data_dir.display()),
    })?;
    if let Some(database) = sqlite_file(config) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = database.clone().into_os_string();
            name.push(suffix);
            warn_if_readable_by_others(Path::new(&name), "SQLite database file");
        }
    }
    let catalog =
        Catalog::load(config.providers_file.as_deref()).context("loading the provider catalog")?;
    let cipher = load_cipher(config, &store, access).await?;
    let redirect_uri = public_url
        .join("callbacks/v1/oauth")
        .context("building the redirect URI from the public URL")?;
    Ok(Grantd::new(
        store,
        catalog,
        cipher,
        DomainSettings {
            public_url: public_url.clone(),
            redirect_uri,
            public_origin: public_url.origin().ascii_serialization(),
            state_ttl: config.oauth_state_ttl,
            refresh: config.refresh.clone(),
            webhooks: config.webhooks.clone(),
            cache_ttl: config.cache_ttl,
            jwt: config.jwt.clone(),
            proxy: config.proxy.clone(),
        },
    ))
}

/// Opens an existing store without the keyring, for commands that copy it
/// and open no secret (`grantd backup`): the machine taking backups need
/// not hold the key.
pub async fn open_existing_store(config: &Config) -> anyhow::Result<Store> {
    if config.database_url.is_none() {
        require_existing_store(&config.data_dir)?;
    }
    Store::open(
        config.database_url.as_deref(),
        &config.data_dir,
        &config.postgres,
        false,
    )
    .await
    .context("opening the store")
}

/// Fails, naming the path, when the data directory or its database is missing.
fn require_existing_store(data_dir: &Path) -> anyhow::Result<()> {
    let problem = if !data_dir.is_dir() {
        "the directory does not exist"
    } else if !data_dir.join(SQLITE_FILE).is_file() {
        "the directory holds no grantd.db"
    } else {
        return Ok(());
    };
    anyhow::bail!(
        "no grantd store in {}: {problem}; check --data-dir (GRANTD_DATA_DIR), \
         or create a store with `grantd project create`",
        data_dir.display()
    )
}

/// The SQLite database file grantd uses, if it uses one.
fn sqlite_file(config: &Config) -> Option<PathBuf> {
    match config.database_url.as_deref() {
        None => Some(config.data_dir.join(SQLITE_FILE)),
        Some(url) => {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))?;
            let path = path.split('?').next().unwrap_or_default();
            (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
        }
    }
}

/// Whether a file mode lets anyone but the owner read or write the file.
pub fn open_to_others(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// Warns when a file holding secrets (or sealed ones, and everything
/// else) is open to other users of the machine.
fn warn_if_readable_by_others(path: &Path, what: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path) {
            let mode = metadata.permissions().mode();
            if open_to_others(mode) {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "{what} is readable by other users: run `chmod 600` on it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what);
}

/// The keyring, checked against the key ids the stored secrets name: a
/// keyring that cannot open them would answer every credential read with
/// a 500 and seal new secrets with a key the old ones do not share, so
/// grantd refuses to start instead. A key file is created only for a store
/// that holds no sealed secret yet.
async fn load_cipher(config: &Config, store: &Store, access: Access) -> anyhow::Result<Cipher> {
    let sealed = store
        .sealed_rows_by_key()
        .await
        .context("counting the sealed secrets in the store")?;
    let cipher = match &config.encryption_key {
        Some(spec) => Cipher::from_spec(spec.expose()).context("GRANTD_ENCRYPTION_KEY")?,
        None => {
            let path = config.data_dir.join(KEY_FILE);
            if path.exists() {
                warn_if_readable_by_others(&path, "encryption key file");
                Cipher::load_key_file(&path).context("encryption key file")?
            } else if !sealed.is_empty() {
                anyhow::bail!(
                    "the store holds secrets sealed by {}, but there is no key file {} and \
                     GRANTD_ENCRYPTION_KEY is not set: restore the key file, or set \
                     GRANTD_ENCRYPTION_KEY to the keyring that sealed them (a new key \
                     could not open them, so none is created)",
                    describe_keys(&sealed, |_| true),
                    path.display()
                );
            } else if access == Access::Create {
                Cipher::create_key_file(&path).context("encryption key file")?
            } else {
                // Nothing is sealed, and the commands that need an existing
                // store seal nothing: a key kept in memory leaves the data
                // directory as it was.
                Cipher::from_spec(&Cipher::generate_spec()).context("in-memory key")?
            }
        }
    };
    if sealed.iter().any(|rows| !cipher.has_key(&rows.key_id)) {
        let source = if config.encryption_key.is_some() {
            "GRANTD_ENCRYPTION_KEY".to_owned()
        } else {
            format!("the key file {}", config.data_dir.join(KEY_FILE).display())
        };
        anyhow::bail!(
            "the keyring from {source} lacks keys the store needs: {}; set \
             GRANTD_ENCRYPTION_KEY to a keyring that includes them (new key first to \
             rotate), or restore the key file that sealed them",
            describe_keys(&sealed, |id| !cipher.has_key(id))
        );
    }
    Ok(cipher)
}

/// `key "a" seals 3 secrets (connections: 2, provider_apps: 1), …` for
/// the key ids `select` picks.
fn describe_keys(sealed: &[SealedRows], select: impl Fn(&str) -> bool) -> String {
    let mut described: Vec<String> = Vec::new();
    let mut rows = sealed.iter().filter(|r| select(&r.key_id)).peekable();
    while let Some(first) = rows.next() {
        let mut tables = vec![first];
        while let Some(next) = rows.next_if(|r| r.key_id == first.key_id) {
            tables.push(next);
        }
        let total: i64 = tables.iter().map(|r| r.count).sum();
        let per_table = tables
            .iter()
            .map(|r| format!("{}: {}", r.table, r.count))
            .collect::<Vec<_>>()
            .join(", ");
        let noun = if total == 1 { "secret" } else { "secrets" };
        described.push(format!(
            "key {:?} seals {total} {noun} ({per_table})",
            first.key_id
        ));
    }
    described.join("; ")
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    /// The metrics listener, when `--metrics-listen` asks for one.
    metrics_listener: Option<TcpListener>,
    /// The proxy's own listener (`--proxy-listen`), if configured.
    proxy_listener: Option<TcpListener>,
    grantd: Grantd,
    public_url: Url,
    connections: ConnectionLimits,
    shutdown: ShutdownSettings,
    retention: RetentionSettings,
    rate_limits: crate::http::rate_limit::RateLimits,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let local = listener.local_addr()?;
        let public_url = match &config.public_url {
            Some(url) => with_trailing_slash(url.clone()),
            None => Url::parse(&format!("http://{local}/"))?,
        };
        if serves_plain_http_beyond_loopback(local, &public_url) {
            tracing::warn!(
                address = %local,
                public_url = %public_url,
                "grantd listens beyond loopback and its public URL is http: OAuth codes, \
                 API keys and tokens would cross the network in clear; put a \
                 TLS-terminating proxy in front and set --public-url https://…"
            );
        }
        let metrics_listener = bind_optional(config.metrics_listen, "metrics").await?;
        let proxy_listener = bind_optional(config.proxy_listen, "proxy").await?;
        let grantd = open_grantd(&config, &public_url, Access::Create).await?;
        Ok(Self {
            listener,
            metrics_listener,
            proxy_listener,
            grantd,
            public_url,
            connections: config.connections,
            shutdown: config.shutdown,
            retention: config.retention,
            rate_limits: config.rate_limits,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Where `GET /metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Where the proxy's own listener is bound, if it has one.
    pub fn proxy_addr(&self) -> Option<SocketAddr> {
        self.proxy_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    pub fn grantd(&self) -> &Grantd {
        &self.grantd
    }

    /// Serves until `shutdown` resolves, then drains: `/readyz` answers 503
    /// for the drain delay while requests are still taken, then accepting
    /// stops and the requests, refreshes and webhook deliveries in flight
    /// get until the shutdown deadline to finish; leases of what is cut
    /// off are released so another instance takes it at once.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let background = BackgroundWork::start(&self.grantd, &self.retention);
        let router = crate::http::router(self.grantd.clone(), &self.rate_limits);
        let address = self.local_addr();
        let metrics = self
            .metrics_listener
            .map(|listener| serve_metrics(listener, self.grantd.clone()));
        tracing::info!(%address, public_url = %self.public_url, "grantd listening");
        let timeout = self.shutdown.timeout;
        let drain = Drain::on(shutdown, self.grantd.clone(), self.shutdown.clone());
        let proxy_server = self.proxy_listener.map(|listener| {
            let address = listener.local_addr().ok();
            tracing::info!(address = ?address, "proxy listening");
            let service = crate::http::proxy_service(self.grantd.clone());
            tokio::spawn(crate::http::server::serve(
                listener,
                service,
                self.connections.clone(),
                drain.accepting_stops(),
                timeout,
            ))
        });
        crate::http::server::serve(
            self.listener,
            router,
            self.connections,
            drain.accepting_stops(),
            timeout,
        )
        .await;
        if let Some(proxy_server) = proxy_server {
            let _ = proxy_server.await;
        }
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        let deadline = drain.deadline(timeout).await;
        background.stop(&self.grantd, deadline).await;
        self.grantd.store().close().await;
        tracing::info!("grantd stopped");
        Ok(())
    }
}

/// Serves `GET /metrics` on its own listener, warning when that listener
/// is reachable beyond loopback (it has no authentication).
fn serve_metrics(
    listener: TcpListener,
    grantd: Grantd,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "serving metrics at /metrics");
        if !address.ip().is_loopback() {
            tracing::warn!(
                %address,
                "the metrics listener is reachable beyond loopback and has no \
                 authentication: keep it on a private network"
            );
        }
    }
    let router = crate::http::metrics::router(grantd);
    tokio::spawn(async move { axum::serve(listener, router).await })
}

/// The shutdown sequence's clock: once the signal comes, `/readyz` turns
/// 503 for the drain delay, then every listener stops accepting at once and
/// the shutdown deadline starts.
struct Drain {
    signal: tokio::task::JoinHandle<()>,
    stopping: tokio::sync::watch::Receiver<bool>,
    deadline: tokio::sync::oneshot::Receiver<tokio::time::Instant>,
}

impl Drain {
    fn on(
        shutdown: impl Future<Output = ()> + Send + 'static,
        grantd: Grantd,
        settings: ShutdownSettings,
    ) -> Self {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let (deadline_tx, deadline) = tokio::sync::oneshot::channel();
        let signal = tokio::spawn(async move {
            shutdown.await;
            grantd.begin_draining();
            if !settings.drain_delay.is_zero() {
                tracing::info!(
                    drain_delay_ms = settings.drain_delay.as_millis() as u64,
                    "draining: /readyz answers 503 until accepting stops"
                );
                tokio::time::sleep(settings.drain_delay).await;
            }
            let _ = deadline_tx.send(tokio::time::Instant::now() + settings.timeout);
            let _ = stop.send(true);
        });
        Self {
            signal,
            stopping,
            deadline,
        }
    }

    /// Resolves when listeners are to stop accepting.
    fn accepting_stops(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopping = self.stopping.clone();
        async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }
    }

    /// The shutdown deadline, once the listeners have stopped; `timeout`
    /// from now if the signal never came (the server stopped by itself).
    async fn deadline(self, timeout: Duration) -> tokio::time::Instant {
        self.signal.abort();
        self.deadline
            .await
            .unwrap_or_else(|_| tokio::time::Instant::now() + timeout)
    }
}

/// The work grantd does besides answering requests: started before the
/// listeners, stopped after them within the shutdown deadline.
struct BackgroundWork {
    janitor: tokio::task::JoinHandle<()>,
    pruner: tokio::task::JoinHandle<()>,
    stop_refresher: tokio::sync::watch::Sender<bool>,
    refresher: tokio::task::JoinHandle<()>,
    webhooks: WebhookWorker,
}

impl BackgroundWork {
    fn start(grantd: &Grantd, retention: &RetentionSettings) -> Self {
        let janitor = tokio::spawn(purge_expired_flows(grantd.store().clone()));
        let pruner = tokio::spawn(prune_old_records(grantd.store().clone(), retention.clone()));
        let (stop_refresher, stopped) = tokio::sync::watch::channel(false);
        let refresher = tokio::spawn(crate::domain::lifecycle::refresh::scheduler::run_refresher(
            grantd.clone(),
            stopped,
        ));
        let webhooks = WebhookWorker::start(grantd.clone());
        Self {
            janitor,
            pruner,
            stop_refresher,
            refresher,
            webhooks,
        }
    }

    /// Stops it all by `deadline`, releasing the leases of refreshes and
    /// deliveries cut off so another instance takes them at once.
    async fn stop(self, grantd: &Grantd, deadline: tokio::time::Instant) {
        self.janitor.abort();
        self.pruner.abort();
        let _ = self.stop_refresher.send(true);
        let mut refresher = self.refresher;
        if tokio::time::timeout_at(deadline, &mut refresher)
            .await
            .is_err()
        {
            tracing::warn!("token refreshes still in flight at the shutdown deadline are cut");
            refresher.abort();
        }
        grantd.release_refresh_leases().await;
        // Attempts in flight are bounded by the request timeout; a little
        // more than that lets them finish and record their outcome, within
        // the shutdown deadline.
        let grace = (grantd.webhook_settings().request_timeout + Duration::from_secs(1))
            .min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        self.webhooks.shutdown(grace).await;
    }
}

/// Binds one of the optional listeners (metrics, proxy) when an address
/// is configured.
async fn bind_optional(
    address: Option<SocketAddr>,
    what: &str,
) -> anyhow::Result<Option<TcpListener>> {
    match address {
        Some(address) => {
            Ok(Some(TcpListener::bind(address).await.with_context(
                || format!("binding the {what} listener {address}"),
            )?))
        }
        None => Ok(None),
    }
}

/// Whether grantd would take secrets in clear over a network: it listens
/// on an address other machines can reach, and the URL clients are given
/// is plain http (so no TLS-terminating proxy is in front).
pub fn serves_plain_http_beyond_loopback(listen: SocketAddr, public_url: &Url) -> bool {
    !listen.ip().is_loopback() && public_url.scheme() == "http"
}

/// Raises the soft limit on open files to the hard one (see
/// [`crate::http::server::raise_open_files_limit`]) and says what it is,
/// warning when it leaves too little room for `max_connections` clients
/// beside the database pool, log files and outgoing requests.
pub fn raise_and_log_open_files_limit(max_connections: usize) {
    const OTHER_FILES: u64 = 256;
    match crate::http::server::raise_open_files_limit() {
        Ok(limit) => {
            tracing::info!(open_files_limit = limit, "open files limit");
            if limit < max_connections as u64 + OTHER_FILES {
                tracing::warn!(
                    open_files_limit = limit,
                    max_connections,
                    "the open files limit is below --max-connections + {OTHER_FILES}: at the \
                     limit, accepting fails; raise the hard limit (ulimit -Hn, LimitNOFILE=) \
                     or lower --max-connections"
                );
            }
        }
        Err(error) => tracing::warn!(%error, "could not raise the open files limit"),
    }
}

fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// Deletes flow and connect session records a day after they expire, hourly.
async fn purge_expired_flows(store: Store) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let cutoff = now_millis() - 86_400_000;
        match store.purge_oauth_flows(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged expired OAuth flows"),
            Err(e) => tracing::warn!(error = %e, "could not purge expired OAuth flows"),
        }
        match store.purge_connect_sessions(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged expired connect sessions"),
            Err(e) => tracing::warn!(error = %e, "could not purge expired connect sessions"),
        }
    }
}

/// Deletes events and finished webhook deliveries past their retention,
/// every `interval`, in batches with a pause between them: a backlog of
/// millions drains over minutes without holding up the request path.
async fn prune_old_records(store: Store, retention: RetentionSettings) {
    let mut tick = tokio::time::interval(retention.interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let batch = retention.batch.max(1);
    loop {
        tick.tick().await;
        let now = now_millis();
        let deliveries_cutoff = now - retention.webhook_deliveries.as_millis() as i64;
        let events_cutoff = now - retention.events.as_millis() as i64;
        let audit_cutoff = now - retention.audit_records.as_millis() as i64;
        let mut deliveries = 0;
        let mut events = 0;
        let mut audit_records = 0;
        let pruned: Result<(), crate::storage::StoreError> = async {
            loop {
                let n = store
                    .prune_webhook_deliveries(deliveries_cutoff, batch)
                    .await?;
                deliveries += n;
                if n < batch as u64 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            loop {
                let n = store.prune_events(events_cutoff, batch).await?;
                events += n;
                if n < batch as u64 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            loop {
                let n = store.prune_audit_records(audit_cutoff, batch).await?;
                audit_records += n;
                if n < batch as u64 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(())
        }
        .await;
        if deliveries + events + audit_records > 0 {
            tracing::info!(
                webhook_deliveries = deliveries,
                events,
                audit_records,
                "pruned records past their retention"
            );
        }
        if let Err(error) = pruned {
            tracing::warn!(%error, "could not prune old records; retrying at the next interval");
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn plain_http_is_flagged_only_when_listening_beyond_loopback() {
        let http = url("http://connect.example.com/");
        let https = url("https://connect.example.com/");
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let lan: SocketAddr = "10.0.0.5:8080".parse().unwrap();
        let any_v6: SocketAddr = "[::]:8080".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let loopback_v6: SocketAddr = "[::1]:8080".parse().unwrap();
        assert!(serves_plain_http_beyond_loopback(any, &http));
        assert!(serves_plain_http_beyond_loopback(lan, &http));
        assert!(serves_plain_http_beyond_loopback(any_v6, &http));
        assert!(!serves_plain_http_beyond_loopback(any, &https));
        assert!(!serves_plain_http_beyond_loopback(loopback, &http));
        assert!(!serves_plain_http_beyond_loopback(loopback_v6, &http));
    }

    #[test]
    fn a_mode_open_to_group_or_others_is_flagged() {
        assert!(!open_to_others(0o100600));
        assert!(!open_to_others(0o100400));
        assert!(open_to_others(0o100644));
        assert!(open_to_others(0o100640));
        assert!(open_to_others(0o100602));
    }
}
