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

/// `as_str` and `FromStr` of an enum stored as text, from one list of
/// names, so that what is written and what is read cannot drift apart.
macro_rules! stored_names {
    ($ty:ident, $kind:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = UnknownValue;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($name => Ok($ty::$variant),)+
                    other => Err(UnknownValue {
                        kind: $kind,
                        value: other.to_owned(),
                    }),
                }
            }
        }
    };
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
    /// Named inputs sent as the catalog's headers or query parameters
    /// (Ampersand's custom auth).
    #[serde(rename = "custom")]
    Custom,
    /// No credentials at all: the provider's API is open.
    #[serde(rename = "none")]
    None,
}

stored_names!(AuthScheme, "auth scheme", {
    OAuth2AuthorizationCode => "oauth2/authorizationCode",
    OAuth2AuthorizationCodePkce => "oauth2/authorizationCodePKCE",
    OAuth2ClientCredentials => "oauth2/clientCredentials",
    OAuth2Password => "oauth2/password",
    ApiKey => "apiKey",
    Basic => "basic",
    Custom => "custom",
    None => "none",
});

impl AuthScheme {
    pub fn parse(value: &str) -> Option<Self> {
        value.parse().ok()
    }

    pub(crate) fn is_oauth2(self) -> bool {
        !matches!(
            self,
            AuthScheme::ApiKey | AuthScheme::Basic | AuthScheme::Custom | AuthScheme::None
        )
    }
}

/// Whether a connection's credentials still work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    Working,
    BadCredentials,
}

stored_names!(ConnectionStatus, "connection status", {
    Working => "working",
    BadCredentials => "bad_credentials",
});

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

stored_names!(MetadataSource, "metadata source", {
    Input => "input",
    Token => "token",
    Provider => "provider",
});

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

stored_names!(SessionResultStatus, "session result status", {
    Success => "success",
    Failure => "failure",
});

/// Where a webhook delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Out of attempts.
    Failed,
}

stored_names!(DeliveryStatus, "delivery status", {
    Pending => "pending",
    Delivered => "delivered",
    Failed => "failed",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_auth_scheme_reads_back_from_its_name_and_serializes_as_it() {
        for scheme in [
            AuthScheme::OAuth2AuthorizationCode,
            AuthScheme::OAuth2AuthorizationCodePkce,
            AuthScheme::OAuth2ClientCredentials,
            AuthScheme::OAuth2Password,
            AuthScheme::ApiKey,
            AuthScheme::Basic,
        ] {
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
