//! grantd: a self-hosted connection service for SaaS integrations,
//! wire-compatible with Ampersand's public `/v1` API.
//!
//! Layers, outermost first: `http` (routes, extractors, problem+json),
//! `domain` (OAuth flows, credentials, the provider catalog), `storage`
//! (SQL). `secrets` holds what every layer needs to keep secrets secret;
//! `vocab` the values stored columns hold, which domain and storage share.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod secrets;
pub mod storage;
pub mod telemetry;
pub mod vocab;
