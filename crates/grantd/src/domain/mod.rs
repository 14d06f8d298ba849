//! The domain: OAuth flows, credentials, the provider catalog. It speaks in
//! domain types and `DomainError`; HTTP and SQL stay outside.
//!
//! Layers, bottom to top (a module imports only from its own layer or the
//! ones below; `tests/api/architecture.rs` keeps the graph acyclic):
//! - vocabulary: `error`, `fields` (parsed values the commands share),
//!   `model`, `scopes`, `settings`, `cache`;
//! - `catalog`: what grantd knows about each provider;
//! - `oauth::{authorize, token}`: the OAuth protocol, no state;
//! - `handle`: the `Grantd` handle the operations hang off;
//! - operations, one folder per capability: `identity` (projects, API keys,
//!   JWTs), `provider_apps`, `connections` (read, generate, update, targets,
//!   supplied credentials),
//!   `oauth` flows (connect, callback), `connect_sessions`, `lifecycle`
//!   (refresh, events, webhooks).
//!
//! Operations that take a request take it as a parsed command (a type only
//! its `parse` builds, with every bad field reported together), never as an
//! all-`Option` mirror of the wire body, so they never check presence again.
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
pub mod fields;
mod handle;
mod identity;
pub mod key_rotation;
pub mod lifecycle;
pub mod model;
pub mod oauth;
pub mod provider_apps;
pub mod proxy;
pub mod scopes;
mod settings;

pub use audit::record::{Actor, AuditAction, AuditEntry, AuditPage, AuditQuery, AuditRecord};
pub use connect_sessions::create::{NewConnectSession, SessionContext};
pub use connect_sessions::start::PageFlow;
pub use connect_sessions::{ConnectSession, CreatedConnectSession, SessionOutcome};
pub use connections::credentials::SuppliedCredentials;
pub use connections::generate::GenerateConnection;
pub use connections::records::{ConnectionQuery, RefreshOnRead};
pub use connections::target::{ConnectionTarget, TargetFields, WORKSPACE_METADATA};
pub use connections::update::{UpdatableField, UpdateConnection, UpdateMask};
pub use error::{DomainError, DomainResult, FieldIssue, InputLocation, ProviderError, ProxyError};
pub use handle::Grantd;
pub use identity::callers::{Authenticated, CallerIdentity, JwtAlgorithm};
pub use identity::{ApiKeyInfo, CreatedApiKey, NewProject};
pub use key_rotation::{RotationProgress, RotationSummary};
pub use lifecycle::events::{
    connection_event_data, with_status_change, ConnectionEvent, EventKind,
};
pub use lifecycle::webhook_delivery::WebhookWorker;
pub use lifecycle::webhooks::{CreatedWebhook, NewWebhook, WebhookDelivery, WebhookEndpoint};
pub use oauth::callback::{
    CallbackInput, CallbackOutcome, CallbackRejection, ConnectReturn, ProviderAnswer,
};
pub use oauth::connect::StartOAuthConnect;
pub use provider_apps::{CreateProviderApp, UpdateProviderApp};
pub use scopes::{CredentialAccess, Scope, Scopes};
pub use settings::{DomainSettings, JwtSettings, ProxySettings, RefreshSettings, WebhookSettings};
