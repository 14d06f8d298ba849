//! The domain: OAuth flows, credentials, the provider catalog. It speaks in
//! domain types and `DomainError`; HTTP and SQL stay outside.
//!
//! Layers, bottom to top (a module imports only from its own layer or the
//! ones below; `tests/api/architecture.rs` keeps the graph acyclic):
//! - vocabulary: `error`, `model`, `scopes`, `settings`, `cache`;
//! - `catalog`: what grantd knows about each provider;
//! - `oauth::{authorize, token}`: the OAuth protocol, no state;
//! - `handle`: the `Grantd` handle the operations hang off;
//! - operations, one folder per capability: `identity` (projects, API keys,
//!   JWTs), `provider_apps`, `connections` (read, generate, targets),
//!   `oauth` flows (connect, callback), `connect_sessions`, `lifecycle`
//!   (refresh, events, webhooks).
//!
//! This file only declares the modules and re-exports what the HTTP layer
//! and the CLI use; modules inside the domain import from the module that
//! defines an item, never through these re-exports.

pub mod audit;
mod cache;
pub mod catalog;
pub mod connect_sessions;
pub mod connections;
pub mod error;
mod handle;
mod identity;
pub mod key_rotation;
pub mod lifecycle;
pub mod model;
pub mod oauth;
mod provider_apps;
pub mod proxy;
pub mod scopes;
mod settings;

pub use audit::record::{Actor, AuditAction, AuditEntry, AuditPage, AuditQuery, AuditRecord};
pub use connect_sessions::{
    ConnectSession, ConnectSessionInput, ConnectStartInput, CreatedConnectSession, SessionOutcome,
};
pub use connections::generate::GenerateInput;
pub use connections::records::{ConnectionQuery, RefreshOnRead};
pub use connections::target::{MetadataInput, WORKSPACE_METADATA};
pub use connections::update::UpdateConnectionInput;
pub use error::{DomainError, DomainResult, FieldIssue, InputLocation, ProviderError, ProxyError};
pub use handle::Grantd;
pub use identity::callers::{Authenticated, CallerIdentity, JwtAlgorithm};
pub use identity::{ApiKeyInfo, CreatedApiKey, NewProject};
pub use key_rotation::{RotationProgress, RotationSummary};
pub use lifecycle::events::{
    connection_event_data, with_status_change, ConnectionEvent, EventKind,
};
pub use lifecycle::webhook_delivery::WebhookWorker;
pub use lifecycle::webhooks::{CreatedWebhook, WebhookDelivery, WebhookEndpoint, WebhookInput};
pub use oauth::callback::{
    CallbackInput, CallbackOutcome, CallbackRejection, ConnectReturn, ProviderAnswer,
};
pub use oauth::connect::ConnectInput;
pub use provider_apps::{ProviderAppInput, ProviderAppPatch};
pub use scopes::{CredentialAccess, Scope, Scopes};
pub use settings::{DomainSettings, JwtSettings, ProxySettings, RefreshSettings, WebhookSettings};
