//! What a token endpoint's answer becomes once stored: the token set and the
//! metadata the catalog keeps from it. Apart from the callback because the
//! refresher and imported connections turn answers into tokens the same way.

use crate::domain::catalog::Provider;
use crate::domain::model::{
    MetadataSource, MetadataValue, ProviderMetadata, Timestamp, Token, TokenSet,
};
use crate::domain::oauth::token::TokenResponse;

/// Turns a token response into the stored token set.
pub(crate) fn token_set(
    provider: &Provider,
    response: &TokenResponse,
    requested_scopes: &[String],
    now: Timestamp,
) -> TokenSet {
    let tokens_expire = provider.oauth2.as_ref().is_none_or(|o| o.tokens_expire);
    let expires_at = response
        .expires_in
        .filter(|_| tokens_expire)
        .map(|secs| now + chrono::Duration::seconds(secs));
    let separator = provider
        .oauth2
        .as_ref()
        .map(|o| o.scope_separator.as_str())
        .unwrap_or(" ");
    let scopes = match &response.scope {
        Some(granted) => granted
            .split(|c: char| separator.contains(c) || c == ' ' || c == ',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => requested_scopes.to_vec(),
    };
    TokenSet {
        access_token: Token {
            token: response.access_token.clone(),
            issued_at: Some(now),
            expires_at,
        },
        refresh_token: response.refresh_token.as_ref().map(|token| Token {
            token: token.clone(),
            issued_at: Some(now),
            expires_at: None,
        }),
        scopes,
        token_type: response.token_type.clone(),
    }
}

/// Adds the values the catalog asked to keep from the token response.
pub(crate) fn merge_token_metadata(metadata: &mut ProviderMetadata, response: &TokenResponse) {
    for (name, value) in &response.metadata {
        metadata.insert(
            name.clone(),
            MetadataValue {
                value: value.clone(),
                source: MetadataSource::Token,
            },
        );
    }
}
