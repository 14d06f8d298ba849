//! Where each scheme's credential goes on a proxied call: a bearer token,
//! an API key in the header or query parameter the catalog names, HTTP
//! Basic, or the catalog's custom-auth templates. Apart from the call
//! itself so that what leaves grantd with a secret is in one place.

use super::target::Target;
use crate::domain::catalog::Provider;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::model::Credentials;
use crate::secrets::SecretString;
use base64::Engine;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use std::collections::BTreeMap;

/// Whether these credentials can be renewed after the provider refused them.
pub(super) fn renewable(credentials: &Credentials) -> bool {
    match credentials {
        Credentials::OAuth2AuthorizationCode { tokens } => tokens.refresh_token.is_some(),
        Credentials::OAuth2ClientCredentials { .. } | Credentials::OAuth2Password { .. } => true,
        Credentials::ApiKey { .. }
        | Credentials::BasicAuth { .. }
        | Credentials::CustomAuth { .. }
        | Credentials::NoAuth {} => false,
    }
}

/// Puts the connection's credential where the provider expects it: a
/// bearer token, an API key in a header or the query (name and prefix from
/// the catalog), or HTTP Basic.
pub(super) fn attach_credentials(
    provider: &Provider,
    credentials: &Credentials,
    headers: &mut HeaderMap,
    target: &mut Target,
) -> DomainResult<()> {
    match credentials {
        Credentials::OAuth2AuthorizationCode { tokens }
        | Credentials::OAuth2ClientCredentials { tokens, .. }
        | Credentials::OAuth2Password { tokens, .. } => {
            let token = tokens.access_token.token.expose();
            headers.insert(AUTHORIZATION, secret_header(format!("Bearer {token}"))?);
        }
        Credentials::BasicAuth { username, password } => {
            let pair = format!("{username}:{}", password.expose());
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            headers.insert(AUTHORIZATION, secret_header(format!("Basic {encoded}"))?);
        }
        Credentials::NoAuth {} => {}
        Credentials::CustomAuth { values } => {
            attach_custom_auth(provider, values, headers, target)?
        }
        Credentials::ApiKey { api_key } => {
            attach_api_key(provider, api_key.expose(), headers, target)?
        }
    }
    Ok(())
}

/// A credential as a header value, marked sensitive so that no debug
/// output of the request shows it.
fn secret_header(value: String) -> DomainResult<HeaderValue> {
    let mut value = HeaderValue::from_str(&value).map_err(|_| {
        DomainError::Conflict("the connection's credential cannot be sent in an HTTP header".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn header_name(provider: &Provider, name: &str, missing: &'static str) -> DomainResult<HeaderName> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| DomainError::CatalogIncomplete {
        provider: provider.name.clone(),
        missing,
    })
}

/// The catalog's `{input}` templates for headers and query parameters,
/// filled with the stored values.
fn attach_custom_auth(
    provider: &Provider,
    values: &BTreeMap<String, SecretString>,
    headers: &mut HeaderMap,
    target: &mut Target,
) -> DomainResult<()> {
    let Some(spec) = &provider.custom_auth else {
        return Err(DomainError::CatalogIncomplete {
            provider: provider.name.clone(),
            missing: "customAuth",
        });
    };
    let fill = |template: &str| {
        let mut out = template.to_owned();
        for (name, value) in values {
            out = out.replace(&format!("{{{name}}}"), value.expose());
        }
        out
    };
    for (name, template) in &spec.headers {
        let name = header_name(
            provider,
            name,
            "customAuth header names that are header names",
        )?;
        headers.insert(name, secret_header(fill(template))?);
    }
    for (name, template) in &spec.query {
        target.append_query_pair(name, &fill(template));
    }
    Ok(())
}

/// An API key where the catalog says (a header by default, as a bearer
/// token when the entry names no place), with its prefix.
fn attach_api_key(
    provider: &Provider,
    key: &str,
    headers: &mut HeaderMap,
    target: &mut Target,
) -> DomainResult<()> {
    let Some(spec) = &provider.api_key else {
        headers.insert(AUTHORIZATION, secret_header(format!("Bearer {key}"))?);
        return Ok(());
    };
    let value = format!("{}{key}", spec.prefix.as_deref().unwrap_or_default());
    if spec.location == "query" {
        target.append_query_pair(&spec.name, &value);
    } else {
        let name = header_name(provider, &spec.name, "apiKey.name that is a header name")?;
        headers.insert(name, secret_header(value)?);
    }
    Ok(())
}
