//! The OAuth 2.0 authorization code flow and token endpoint calls.

pub mod authorize;
pub mod callback;
pub mod client;
pub mod connect;
pub mod csrf;
pub mod post_auth;
pub mod token;
pub mod token_set;
