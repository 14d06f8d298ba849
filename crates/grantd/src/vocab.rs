//! The stored vocabulary: the values that text and JSON columns hold.
//!
//! Both the domain (which gives them meaning) and storage (which decodes
//! them once, at the boundary) speak these types, so they sit below both
//! layers and import neither. A column whose text is not one of these
//! values is corrupt, never silently read as a default.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

pub type Timestamp = DateTime<Utc>;

/// Text that names no value of the type it was read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {kind}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

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
    pub const ALL: [AuthScheme; 6] = [
        AuthScheme::OAuth2AuthorizationCode,
        AuthScheme::OAuth2AuthorizationCodePkce,
        AuthScheme::OAuth2ClientCredentials,
        AuthScheme::OAuth2Password,
        AuthScheme::ApiKey,
        AuthScheme::Basic,
    ];

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
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub(crate) fn is_oauth2(self) -> bool {
        !matches!(self, AuthScheme::ApiKey | AuthScheme::Basic)
    }
}

impl std::str::FromStr for AuthScheme {
    type Err = UnknownValue;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value).ok_or_else(|| UnknownValue {
            kind: "auth scheme",
            value: value.to_owned(),
        })
    }
}

/// Whether a connection's credentials still work.
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
}

impl std::str::FromStr for ConnectionStatus {
    type Err = UnknownValue;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "working" => Ok(ConnectionStatus::Working),
            "bad_credentials" => Ok(ConnectionStatus::BadCredentials),
            other => Err(UnknownValue {
                kind: "connection status",
                value: other.to_owned(),
            }),
        }
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

/// The last refresh failure, stored on the connection (as JSON) and shown by the API.
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

/// How a connect session's flow ended, as its row records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionResultStatus {
    Success,
    Failure,
}

impl SessionResultStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionResultStatus::Success => "success",
            SessionResultStatus::Failure => "failure",
        }
    }
}

impl std::str::FromStr for SessionResultStatus {
    type Err = UnknownValue;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "success" => Ok(SessionResultStatus::Success),
            "failure" => Ok(SessionResultStatus::Failure),
            other => Err(UnknownValue {
                kind: "session result status",
                value: other.to_owned(),
            }),
        }
    }
}

/// Where a webhook delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Out of attempts.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = UnknownValue;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "pending" => Ok(DeliveryStatus::Pending),
            "delivered" => Ok(DeliveryStatus::Delivered),
            "failed" => Ok(DeliveryStatus::Failed),
            other => Err(UnknownValue {
                kind: "delivery status",
                value: other.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_auth_scheme_reads_back_from_its_name() {
        for scheme in AuthScheme::ALL {
            assert_eq!(scheme.as_str().parse::<AuthScheme>(), Ok(scheme));
            let json = serde_json::to_value(scheme).unwrap();
            assert_eq!(json, scheme.as_str());
        }
        assert!("oauth2".parse::<AuthScheme>().is_err());
    }

    #[test]
    fn an_unknown_connection_status_is_an_error_not_working() {
        assert_eq!(
            "bad_credentials".parse::<ConnectionStatus>(),
            Ok(ConnectionStatus::BadCredentials)
        );
        let err = "wroking".parse::<ConnectionStatus>().unwrap_err();
        assert_eq!(err.to_string(), "\"wroking\" is not a connection status");
    }
}
