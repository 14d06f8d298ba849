//! Startup: open the store, load the catalog and the keyring, bind, serve.

use crate::config::Config;
use crate::domain::catalog::Catalog;
use crate::domain::{DomainSettings, Grantd, WebhookWorker};
use crate::secrets::Cipher;
use crate::storage::{now_millis, Store};
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use url::Url;

/// Name of the key file created in the data directory when no key is configured.
pub const KEY_FILE: &str = "encryption.key";

/// Builds the domain handle from configuration: used by the server and the CLI.
pub async fn open_grantd(config: &Config, public_url: &Url) -> anyhow::Result<Grantd> {
    let shared = config
        .database_url
        .as_deref()
        .is_some_and(|url| url.starts_with("postgres"));
    if shared && config.encryption_key.is_none() {
        // A key file per instance would seal rows other instances cannot open.
        anyhow::bail!("GRANTD_ENCRYPTION_KEY is required with a PostgreSQL database");
    }
    let store = Store::open(
        config.database_url.as_deref(),
        &config.data_dir,
        &config.postgres,
    )
    .await
    .with_context(|| match &config.database_url {
        Some(_) => "opening the database named by GRANTD_DATABASE_URL".to_owned(),
        None => format!("opening the database in {}", config.data_dir.display()),
    })?;
    let catalog =
        Catalog::load(config.providers_file.as_deref()).context("loading the provider catalog")?;
    let cipher = load_cipher(config)?;
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
        },
    ))
}

fn load_cipher(config: &Config) -> anyhow::Result<Cipher> {
    match &config.encryption_key {
        Some(spec) => Cipher::from_spec(spec.expose()).context("GRANTD_ENCRYPTION_KEY"),
        None => {
            std::fs::create_dir_all(&config.data_dir)?;
            Cipher::load_or_create_key_file(&config.data_dir.join(KEY_FILE))
                .context("encryption key file")
        }
    }
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    grantd: Grantd,
    public_url: Url,
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
        let grantd = open_grantd(&config, &public_url).await?;
        Ok(Self {
            listener,
            grantd,
            public_url,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    pub fn grantd(&self) -> &Grantd {
        &self.grantd
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let janitor = tokio::spawn(purge_expired_flows(self.grantd.store().clone()));
        let (stop_refresher, stopped) = tokio::sync::watch::channel(false);
        let refresher = tokio::spawn(crate::domain::refresh::run_refresher(
            self.grantd.clone(),
            stopped,
        ));
        let webhooks = WebhookWorker::start(self.grantd.clone());
        let router = crate::http::router(self.grantd.clone());
        tracing::info!(address = %self.local_addr(), public_url = %self.public_url, "grantd listening");
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        janitor.abort();
        let _ = stop_refresher.send(true);
        let _ = refresher.await;
        // Attempts in flight are bounded by the request timeout; a little
        // more than that lets them finish and record their outcome.
        let grace = self.grantd.webhook_settings().request_timeout + Duration::from_secs(1);
        webhooks.shutdown(grace).await;
        self.grantd.store().close().await;
        served.context("serving HTTP")
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
