//! Handlers, one module per resource, named verb_noun.

pub mod api_keys;
pub mod callback;
pub mod connect;
pub mod connect_sessions;
pub mod connections;
pub mod events;
pub mod health;
pub mod oauth;
pub mod projects;
pub mod provider_apps;
pub mod providers;
pub mod webhooks;
