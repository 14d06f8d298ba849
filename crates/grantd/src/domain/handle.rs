//! The one handle every operation hangs off: the store, the catalog, the
//! cipher, the token client and what the request path caches. It knows
//! nothing of the operations, which live in their capability folders.

use super::cache::TtlCache;
use super::catalog::Catalog;
use super::error::DomainResult;
use super::identity::callers::{Authenticated, VerifyingKey};
use super::lifecycle::refresh::flights::Flights;
use super::oauth::token::{TokenClient, TOKEN_CALL_TIMEOUT};
use super::proxy::client::ProxyClient;
use super::settings::{DomainSettings, WebhookSettings};
use crate::metrics::Metrics;
use crate::secrets::Cipher;
use crate::storage::{ProviderAppRow, Store};
use std::sync::Arc;
use std::time::Duration;

/// Everything grantd can do, behind one handle shared by the HTTP layer and
/// the admin CLI. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Grantd {
    pub(in crate::domain) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(in crate::domain) struct Inner {
    pub(in crate::domain) store: Store,
    pub(in crate::domain) catalog: Catalog,
    pub(in crate::domain) cipher: Cipher,
    pub(in crate::domain) tokens: TokenClient,
    pub(in crate::domain) settings: DomainSettings,
    /// This process's name on refresh leases.
    pub(in crate::domain) instance_id: String,
    pub(in crate::domain) flights: Flights,
    /// Wakes the webhook delivery worker when deliveries are enqueued.
    pub(in crate::domain) webhook_wakeup: tokio::sync::Notify,
    pub(in crate::domain) caches: Caches,
    /// What this instance counts; scraped on the metrics listener.
    pub(in crate::domain) metrics: Metrics,
    /// Set once shutdown begins: readiness turns false so load balancers
    /// stop sending before this instance stops accepting.
    pub(in crate::domain) draining: std::sync::atomic::AtomicBool,
    /// The proxy's HTTP client and throttle state.
    pub(in crate::domain) proxy: ProxyClient,
}

/// What the request path remembers between requests; see [`cache`].
#[derive(Debug)]
pub(in crate::domain) struct Caches {
    /// SHA-256 of an API key → its project and scopes.
    pub(in crate::domain) api_keys: TtlCache<String, Authenticated>,
    /// JWT key id → the key and its project.
    pub(in crate::domain) jwt_keys: TtlCache<String, VerifyingKey>,
    /// (project, provider, app id or none for the default) → the app's row.
    pub(in crate::domain) provider_apps: TtlCache<(String, String, Option<String>), ProviderAppRow>,
}

impl Caches {
    fn new(ttl: Duration) -> Self {
        Self {
            api_keys: TtlCache::new(ttl, 10_000),
            jwt_keys: TtlCache::new(ttl, 1_000),
            provider_apps: TtlCache::new(ttl, 10_000),
        }
    }
}

impl Grantd {
    pub fn new(store: Store, catalog: Catalog, cipher: Cipher, settings: DomainSettings) -> Self {
        let caches = Caches::new(settings.cache_ttl);
        let proxy = ProxyClient::new(&settings.proxy, settings.cache_ttl);
        Self {
            inner: Arc::new(Inner {
                store,
                catalog,
                cipher,
                tokens: TokenClient::new(TOKEN_CALL_TIMEOUT),
                settings,
                instance_id: uuid::Uuid::new_v4().to_string(),
                flights: Default::default(),
                webhook_wakeup: tokio::sync::Notify::new(),
                caches,
                metrics: Metrics::new(),
                draining: Default::default(),
                proxy,
            }),
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(in crate::domain) fn cipher(&self) -> &Cipher {
        &self.inner.cipher
    }

    pub(in crate::domain) fn settings(&self) -> &DomainSettings {
        &self.inner.settings
    }

    /// The webhook delivery settings, for sizing the shutdown grace period.
    pub fn webhook_settings(&self) -> &WebhookSettings {
        &self.inner.settings.webhooks
    }

    /// The registry every layer records this instance's metrics in.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(in crate::domain) fn caches(&self) -> &Caches {
        &self.inner.caches
    }

    pub(in crate::domain) fn tokens(&self) -> &TokenClient {
        &self.inner.tokens
    }

    /// Marks this instance as shutting down (see [`Grantd::is_draining`]).
    pub fn begin_draining(&self) {
        self.inner
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether shutdown has begun: `/readyz` then answers 503.
    pub fn is_draining(&self) -> bool {
        self.inner
            .draining
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Readiness: the store answers.
    pub async fn ready(&self) -> DomainResult<()> {
        Ok(self.inner.store.ping().await?)
    }
}
