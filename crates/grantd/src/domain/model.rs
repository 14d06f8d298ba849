//! The domain's nouns, decoded from storage rows and handed to the HTTP layer.

use crate::secrets::SecretString;
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::vocab::{
    AuthScheme, ConnectionStatus, MetadataSource, MetadataValue, ProviderMetadata, RefreshError,
    RefreshErrorClass, Timestamp,
};

/// Millisecond epoch (the storage format) to a UTC timestamp.
pub fn from_millis(millis: i64) -> Timestamp {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub name: String,
    /// The name end users see (Ampersand's `appName`); the project's name
    /// until one is set.
    pub app_name: String,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
}

/// An OAuth client registered with a provider, owned by a project.
#[derive(Debug, Clone)]
pub struct ProviderApp {
    pub id: String,
    pub project_id: String,
    pub provider: String,
    pub external_ref: Option<String>,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scopes: Vec<String>,
    pub is_default: bool,
    pub metadata: ProviderAppMetadata,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
}

/// Ampersand's `ProviderApp.metadata`: what a builder adds to the standard
/// flow for one app.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAppMetadata {
    /// Added to the authorization URL, each name once with its values
    /// space-separated (HubSpot's `optional_scope`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub auth_query_params: BTreeMap<String, Vec<String>>,
    /// Provider-specific values kept for the builder (a Salesforce package
    /// install URL, a Gmail Pub/Sub topic); grantd stores and returns them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provider_params: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub project_id: String,
    pub group_ref: String,
    pub group_name: String,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Consumer {
    pub project_id: String,
    pub consumer_ref: String,
    pub consumer_name: String,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
}

/// The public part of the provider app a connection was made with.
#[derive(Debug, Clone)]
pub struct ProviderAppSummary {
    pub id: String,
    pub project_id: String,
    pub provider: String,
    pub external_ref: Option<String>,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
}

/// A token with its lifetime as the provider stated it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub token: SecretString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// What an OAuth 2.0 token endpoint handed out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSet {
    pub access_token: Token,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Token>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

/// The secret part of a connection. Serialized to JSON and sealed as one
/// ciphertext per connection, bound to the connection id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Credentials {
    ApiKey {
        api_key: SecretString,
    },
    #[serde(rename_all = "camelCase")]
    BasicAuth {
        username: String,
        password: SecretString,
    },
    #[serde(rename_all = "camelCase")]
    OAuth2AuthorizationCode {
        tokens: TokenSet,
    },
    #[serde(rename_all = "camelCase")]
    OAuth2ClientCredentials {
        client_id: String,
        client_secret: SecretString,
        tokens: TokenSet,
    },
    #[serde(rename_all = "camelCase")]
    OAuth2Password {
        username: String,
        password: SecretString,
        client_id: String,
        client_secret: Option<SecretString>,
        tokens: TokenSet,
    },
    /// The values of a provider's custom-auth inputs, by input name.
    #[serde(rename_all = "camelCase")]
    CustomAuth {
        values: BTreeMap<String, SecretString>,
    },
    /// A connection to a provider that takes no credentials.
    NoAuth {},
}

impl Credentials {
    pub fn auth_scheme(&self) -> AuthScheme {
        match self {
            Credentials::ApiKey { .. } => AuthScheme::ApiKey,
            Credentials::BasicAuth { .. } => AuthScheme::Basic,
            Credentials::OAuth2AuthorizationCode { .. } => AuthScheme::OAuth2AuthorizationCode,
            Credentials::OAuth2ClientCredentials { .. } => AuthScheme::OAuth2ClientCredentials,
            Credentials::OAuth2Password { .. } => AuthScheme::OAuth2Password,
            Credentials::CustomAuth { .. } => AuthScheme::Custom,
            Credentials::NoAuth {} => AuthScheme::None,
        }
    }

    pub fn tokens(&self) -> Option<&TokenSet> {
        match self {
            Credentials::OAuth2AuthorizationCode { tokens }
            | Credentials::OAuth2ClientCredentials { tokens, .. }
            | Credentials::OAuth2Password { tokens, .. } => Some(tokens),
            _ => None,
        }
    }

    /// When the access token stops working, if it ever does.
    pub fn access_token_expires_at(&self) -> Option<Timestamp> {
        self.tokens().and_then(|t| t.access_token.expires_at)
    }
}

/// A connection and everything needed to render it.
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: String,
    pub project_id: String,
    pub provider: String,
    pub provider_app: Option<ProviderAppSummary>,
    pub group: Group,
    pub consumer: Consumer,
    pub provider_workspace_ref: Option<String>,
    pub provider_consumer_ref: Option<String>,
    pub auth_scheme: AuthScheme,
    pub status: ConnectionStatus,
    pub provider_metadata: ProviderMetadata,
    pub scopes: Vec<String>,
    /// Present only when the caller asked for credentials and may see some.
    pub credentials: Option<Credentials>,
    /// Which parts of `credentials` the caller may see: with `AccessToken`,
    /// refresh tokens, client secrets and grant passwords are withheld.
    pub credential_access: crate::domain::scopes::CredentialAccess,
    /// The last failed refresh, until one succeeds.
    pub refresh_error: Option<RefreshError>,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
}
