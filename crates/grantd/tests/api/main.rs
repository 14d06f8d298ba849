//! grantd's black-box suite: one binary, a real server per test.

mod helpers;
mod mock_provider;

mod ampersand_shapes;
mod api_surface;
mod architecture;
mod auth;
mod browser_compat;
mod catalog_drift;
mod catalog_quirks;
mod cli;
mod conformance;
mod connect_page;
mod connection_reads;
mod crash_recovery;
mod generate;
mod instances;
mod oauth_flow;
mod project;
mod provider_apps;
mod provider_names;
mod proxy;
mod react_client;
mod readme;
mod real_oauth_server;
mod refresh;
mod relay;
mod scopes;
mod secrets_at_rest;
mod slow_clients;
mod snapshots;
mod startup_safety;
mod storage_rows;
mod update_connection;
mod validation;
mod webhooks;
