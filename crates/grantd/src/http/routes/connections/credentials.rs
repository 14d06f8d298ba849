//! The secret-carrying parts of a connection's view: tokens and the
//! credentials of each auth scheme. None derives `Debug`: each carries
//! secrets in clear, and a `Debug` would put them in logs.

use crate::domain::model::{Token, TokenSet};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
#[schema(as = Token)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&Token> for TokenView {
    fn from(t: &Token) -> Self {
        TokenView {
            token: t.token.expose().to_owned(),
            issued_at: t.issued_at,
            expires_at: t.expires_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = OAuth2AuthorizationCodeTokens)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2TokensView {
    pub access_token: TokenView,
    /// Withheld from callers without `credentials:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<TokenView>,
    pub scopes: Vec<String>,
}

impl OAuth2TokensView {
    pub fn new(t: &TokenSet, renewal_secrets: bool) -> Self {
        OAuth2TokensView {
            access_token: (&t.access_token).into(),
            refresh_token: t
                .refresh_token
                .as_ref()
                .filter(|_| renewal_secrets)
                .map(TokenView::from),
            scopes: t.scopes.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = BasicAuth)]
pub struct BasicAuthView {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = OAuth2ClientCredentials)]
#[serde(rename_all = "camelCase")]
pub struct ClientCredentialsView {
    pub client_id: String,
    /// Withheld from callers without `credentials:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub access_token: TokenView,
}

#[derive(Serialize, ToSchema)]
#[schema(as = OAuth2PasswordCredentials)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredentialsView {
    pub username: String,
    /// Withheld from callers without `credentials:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub client_id: String,
    /// Withheld from callers without `credentials:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub access_token: TokenView,
    /// Withheld from callers without `credentials:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<TokenView>,
}
