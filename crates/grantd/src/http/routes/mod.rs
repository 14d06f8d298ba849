//! Handlers, one folder per resource, named verb_noun: `mod.rs` holds the
//! handlers and the resource's `router()` (each route registered with its
//! OpenAPI operation), `wire.rs` its request and response bodies and path
//! structs. `health` has no bodies of its own and stays one file.

pub mod api_keys;
pub mod audit;
pub mod callback;
pub mod connect;
pub mod connect_sessions;
pub mod connections;
pub mod events;
pub mod health;
pub mod integrations;
pub mod oauth;
pub mod projects;
pub mod provider_apps;
pub mod providers;
pub mod proxy;
pub mod webhooks;
