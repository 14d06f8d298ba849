//! The domain: OAuth flows, credentials, the provider catalog. It speaks in
//! domain types and `DomainError`; HTTP and SQL stay outside.

mod cache;
pub mod catalog;
pub mod connect_sessions;
mod connections;
pub mod error;
pub mod events;
pub mod generate;
mod identity;
pub mod model;
pub mod oauth;
mod provider_apps;
pub mod refresh;
pub mod scopes;
mod target;
pub mod update_connection;
pub mod webhook_delivery;
pub mod webhook_egress;
pub mod webhooks;

pub use connect_sessions::{
    ConnectSession, ConnectSessionInput, ConnectStartInput, CreatedConnectSession, SessionOutcome,
};
pub use connections::{ConnectionQuery, RefreshOnRead};
pub use error::{DomainError, DomainResult, FieldIssue, InputLocation, ProviderError};
pub use events::{connection_event_data, with_status_change, ConnectionEvent, EventKind};
pub use generate::GenerateInput;
pub use identity::{
    ApiKeyInfo, Authenticated, CreatedApiKey, JwtAlgorithm, JwtSettings, NewProject,
};
pub use oauth::callback::{CallbackInput, CallbackOutcome, CallbackRejection, ConnectReturn};
pub use oauth::connect::{ConnectInput, MetadataInput};
pub use provider_apps::{ProviderAppInput, ProviderAppPatch};
pub use scopes::{CredentialAccess, Scope, Scopes};
pub use update_connection::UpdateConnectionInput;
pub use webhook_delivery::WebhookWorker;
pub use webhooks::{
    CreatedWebhook, WebhookDelivery, WebhookEndpoint, WebhookInput, WebhookSettings,
};

use crate::secrets::Cipher;
use crate::storage::{ProviderAppRow, Store};
use cache::TtlCache;
use catalog::Catalog;
use oauth::token::TokenClient;
use std::sync::Arc;
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
    pub refresh: refresh::RefreshSettings,
    /// Retry schedule and limits of webhook delivery.
    pub webhooks: WebhookSettings,
    /// How long API keys, JWT signing keys and provider apps read from the
    /// store are trusted before being read again (see [`cache`]).
    pub cache_ttl: Duration,
    /// What a bearer JWT must claim besides a valid signature.
    pub jwt: JwtSettings,
}

/// Everything grantd can do, behind one handle shared by the HTTP layer and
/// the admin CLI. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Grantd {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    catalog: Catalog,
    cipher: Cipher,
    tokens: TokenClient,
    settings: DomainSettings,
    /// This process's name on refresh leases.
    instance_id: String,
    flights: refresh::Flights,
    /// Wakes the webhook delivery worker when deliveries are enqueued.
    webhook_wakeup: tokio::sync::Notify,
    caches: Caches,
}

/// What the request path remembers between requests; see [`cache`].
#[derive(Debug)]
struct Caches {
    /// SHA-256 of an API key → its project and scopes.
    api_keys: TtlCache<String, Authenticated>,
    /// JWT key id → the key and its project.
    jwt_keys: TtlCache<String, identity::VerifyingKey>,
    /// (project, provider, app id or none for the default) → the app's row.
    provider_apps: TtlCache<(String, String, Option<String>), ProviderAppRow>,
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
        Self {
            inner: Arc::new(Inner {
                store,
                catalog,
                cipher,
                tokens: TokenClient::new(oauth::token::TOKEN_CALL_TIMEOUT),
                settings,
                instance_id: uuid::Uuid::new_v4().to_string(),
                flights: Default::default(),
                webhook_wakeup: tokio::sync::Notify::new(),
                caches,
            }),
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    fn cipher(&self) -> &Cipher {
        &self.inner.cipher
    }

    fn settings(&self) -> &DomainSettings {
        &self.inner.settings
    }

    /// The webhook delivery settings, for sizing the shutdown grace period.
    pub fn webhook_settings(&self) -> &WebhookSettings {
        &self.inner.settings.webhooks
    }

    fn caches(&self) -> &Caches {
        &self.inner.caches
    }

    fn tokens(&self) -> &TokenClient {
        &self.inner.tokens
    }

    /// Readiness: the store answers.
    pub async fn ready(&self) -> DomainResult<()> {
        Ok(self.inner.store.ping().await?)
    }
}

/// JSON array text for a list of scopes (the storage format).
fn scopes_json(scopes: &[String]) -> String {
    serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into())
}

/// Scopes from their storage format; a corrupt value reads as none.
fn parse_scopes(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}
