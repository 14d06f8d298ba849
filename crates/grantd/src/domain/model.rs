//! The domain's nouns, decoded from storage rows and handed to the HTTP layer.

use crate::secrets::SecretString;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Ways a connection can authenticate, named as Ampersand names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AuthScheme {
    #[serde(rename = "oauth2/authorizationCode")]
    OAuth2AuthorizationCode,
    #[serde(rename = "oauth2/authorizationCodePKCE")]
    OAuth2AuthorizationCodePkce,
    #[serde(rename = "oauth2/clientCredentials")]
    OAuth2ClientCredentials,
    #[serde(rename = "oauth2/password")]
    OAuth2Password,
    #[serde(rename = "apiKey")]
    ApiKey,
    #[serde(rename = "basic")]
    Basic,
}

impl AuthScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::OAuth2AuthorizationCode => "oauth2/authorizationCode",
            AuthScheme::OAuth2AuthorizationCodePkce => "oauth2/authorizationCodePKCE",
            AuthScheme::OAuth2ClientCredentials => "oauth2/clientCredentials",
            AuthScheme::OAuth2Password => "oauth2/password",
            AuthScheme::ApiKey => "apiKey",
            AuthScheme::Basic => "basic",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(value.to_owned())).ok()
    }

    pub(crate) fn is_oauth2(self) -> bool {
        !matches!(self, AuthScheme::ApiKey | AuthScheme::Basic)
    }
}

/// Why a refresh failed, as a user needs to tell a revoked grant from an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshErrorClass {
    /// The provider refused the grant (`invalid_grant`): re-authorize.
    GrantRejected,
    /// 5xx or an unusable answer.
    ProviderUnavailable,
    /// The provider could not be reached.
    Network,
    /// 429.
    RateLimited,
    /// The client was refused, or nothing to refresh with: fix the provider app.
    MisconfiguredApp,
}

impl RefreshErrorClass {
    /// The class as stored and as the refresh metrics' `outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshErrorClass::GrantRejected => "grant_rejected",
            RefreshErrorClass::ProviderUnavailable => "provider_unavailable",
            RefreshErrorClass::Network => "network",
            RefreshErrorClass::RateLimited => "rate_limited",
            RefreshErrorClass::MisconfiguredApp => "misconfigured_app",
        }
    }
}

/// The last refresh failure, stored on the connection and shown by the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshError {
    pub class: RefreshErrorClass,
    /// The provider's own error code (`invalid_grant`, `http_503`, …).
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub at: Timestamp,
    /// When the refresher tries again; absent when it has stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Timestamp>,
    /// The provider's `Retry-After` (on a 429 or a 5xx): the next attempt
    /// waits at least this long, whatever the backoff says.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

pub type Timestamp = DateTime<Utc>;

/// Millisecond epoch (the storage format) to a UTC timestamp.
pub fn from_millis(millis: i64) -> Timestamp {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub name: String,
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
    pub create_time: Timestamp,
    pub update_time: Timestamp,
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

/// Where a piece of provider metadata came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataSource {
    /// Supplied by the caller when the connection was made.
    Input,
    /// Read from the provider's token response.
    Token,
    /// Read from the provider's API right after authorization (the catalog's
    /// `postAuth` lookup).
    Provider,
}

impl MetadataSource {
    pub fn as_str(self) -> &'static str {
        match self {
            MetadataSource::Input => "input",
            MetadataSource::Token => "token",
            MetadataSource::Provider => "provider",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataValue {
    pub value: String,
    pub source: MetadataSource,
}

/// `providerMetadata`, as stored and as returned.
pub type ProviderMetadata = BTreeMap<String, MetadataValue>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    Working,
    BadCredentials,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Working => "working",
            ConnectionStatus::BadCredentials => "bad_credentials",
        }
    }

    pub fn parse(value: &str) -> Self {
        match value {
            "bad_credentials" => ConnectionStatus::BadCredentials,
            _ => ConnectionStatus::Working,
        }
    }
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
}

impl Credentials {
    pub fn auth_scheme(&self) -> AuthScheme {
        match self {
            Credentials::ApiKey { .. } => AuthScheme::ApiKey,
            Credentials::BasicAuth { .. } => AuthScheme::Basic,
            Credentials::OAuth2AuthorizationCode { .. } => AuthScheme::OAuth2AuthorizationCode,
            Credentials::OAuth2ClientCredentials { .. } => AuthScheme::OAuth2ClientCredentials,
            Credentials::OAuth2Password { .. } => AuthScheme::OAuth2Password,
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
    pub auth_scheme: String,
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

/// JSON array text for a list of scopes (the storage format).
pub(crate) fn scopes_json(scopes: &[String]) -> String {
    serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into())
}

/// Scopes from their storage format; a corrupt value reads as none.
pub(crate) fn parse_scopes(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}
