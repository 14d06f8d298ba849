//! Calls to providers' token endpoints (RFC 6749 §4.1.3, §4.3, §4.4, §6).
//!
//! Written on reqwest rather than the `oauth2` crate's typed exchange because
//! the catalog's quirks do not fit a fixed response type: tokens nested in
//! sub-objects (Slack `authed_user`), errors sent with HTTP 200 (GitHub),
//! JSON request bodies (Atlassian), string-typed `expires_in`, metadata
//! fields to keep. One generic parser driven by the catalog handles them all.

use crate::domain::catalog::{OAuth2Spec, TokenAuth, TokenRequestFormat};
use crate::domain::error::ProviderError;
use crate::secrets::SecretString;
use base64::Engine;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use url::Url;

/// The grant being exchanged for tokens.
#[derive(Debug)]
pub enum Grant<'a> {
    AuthorizationCode {
        code: &'a SecretString,
        redirect_uri: &'a str,
        code_verifier: Option<&'a SecretString>,
    },
    ClientCredentials {
        scopes: &'a [String],
    },
    Password {
        username: &'a str,
        password: &'a SecretString,
        scopes: &'a [String],
    },
    RefreshToken {
        refresh_token: &'a SecretString,
    },
}

/// The OAuth client making the request.
#[derive(Debug)]
pub struct ClientCredentials<'a> {
    pub client_id: &'a str,
    pub client_secret: Option<&'a SecretString>,
}

/// A successful token response, normalised.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<i64>,
    pub scope: Option<String>,
    pub token_type: Option<String>,
    /// Values named by the catalog's `tokenMetadata`, found in the response.
    pub metadata: BTreeMap<String, String>,
}

/// HTTP client for token endpoints: rustls, no redirects (a token endpoint
/// that redirects is misconfigured or hostile), bounded time.
/// How long one call to a provider's token endpoint may take.
pub const TOKEN_CALL_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct TokenClient {
    http: reqwest::Client,
}

impl TokenClient {
    pub fn new(timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("grantd/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("static reqwest configuration is valid");
        Self { http }
    }

    /// Requests a token and parses the answer the way the catalog says.
    pub async fn request(
        &self,
        spec: &OAuth2Spec,
        token_url: &Url,
        client: &ClientCredentials<'_>,
        grant: &Grant<'_>,
        scope_separator: &str,
    ) -> Result<TokenResponse, ProviderError> {
        let mut params: Vec<(&str, String)> = grant_params(grant, scope_separator);
        for (key, value) in &spec.token_params {
            params.push((key.as_str(), value.clone()));
        }
        let request = self
            .http
            .post(token_url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        let request = authenticate(request, &mut params, spec.token_auth, client);
        let response = with_body(request, spec.token_request_format, params)
            .send()
            .await
            .map_err(|e| ProviderError::Network(describe(&e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = match read_capped(response).await {
            Ok(body) => body,
            // An error status says more than the body that came with it.
            Err(unreadable) => return Err(status_error(status, retry_after).unwrap_or(unreadable)),
        };
        let parsed = parse_body(&body);
        if let Some(failure) = answer_failure(status, retry_after, parsed.as_ref()) {
            return Err(failure);
        }
        let value = parsed.ok_or_else(|| {
            ProviderError::InvalidResponse("body is neither JSON nor form-encoded".into())
        })?;
        normalise(spec, &value)
    }
}

/// The parameters RFC 6749 names for a grant, before the catalog's extras
/// and client authentication are added.
fn grant_params(grant: &Grant<'_>, scope_separator: &str) -> Vec<(&'static str, String)> {
    let mut params: Vec<(&'static str, String)> = Vec::with_capacity(8);
    match grant {
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            params.push(("grant_type", "authorization_code".into()));
            params.push(("code", code.expose().into()));
            params.push(("redirect_uri", (*redirect_uri).into()));
            if let Some(verifier) = code_verifier {
                params.push(("code_verifier", verifier.expose().into()));
            }
        }
        Grant::ClientCredentials { scopes } => {
            params.push(("grant_type", "client_credentials".into()));
            if !scopes.is_empty() {
                params.push(("scope", scopes.join(scope_separator)));
            }
        }
        Grant::Password {
            username,
            password,
            scopes,
        } => {
            params.push(("grant_type", "password".into()));
            params.push(("username", (*username).into()));
            params.push(("password", password.expose().into()));
            if !scopes.is_empty() {
                params.push(("scope", scopes.join(scope_separator)));
            }
        }
        Grant::RefreshToken { refresh_token } => {
            params.push(("grant_type", "refresh_token".into()));
            params.push(("refresh_token", refresh_token.expose().into()));
        }
    }
    params
}

/// The request with its parameters as the body, in the catalog's format.
fn with_body(
    request: reqwest::RequestBuilder,
    format: TokenRequestFormat,
    params: Vec<(&str, String)>,
) -> reqwest::RequestBuilder {
    match format {
        TokenRequestFormat::Form => request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(serde_urlencoded::to_string(&params).unwrap_or_default()),
        TokenRequestFormat::Json => {
            let body: Map<String, Value> = params
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v)))
                .collect();
            request.json(&body)
        }
    }
}

/// Whether an answer is a failure, read from its status and its body.
fn answer_failure(
    status: reqwest::StatusCode,
    retry_after: Option<u64>,
    parsed: Option<&Value>,
) -> Option<ProviderError> {
    // An OAuth error body is a refusal even with HTTP 200 (GitHub); on
    // a 5xx or 429 the status decides.
    match (
        status_error(status, retry_after),
        parsed.and_then(oauth_error),
    ) {
        (Some(unavailable @ ProviderError::Unavailable { .. }), _) => Some(unavailable),
        (_, Some((error, description))) => Some(ProviderError::Rejected {
            status: status.as_u16(),
            error,
            description,
        }),
        (Some(ProviderError::Rejected { status, error, .. }), None) => {
            Some(ProviderError::Rejected {
                status,
                error,
                description: parsed.and_then(|v| v.get("detail")).and_then(text),
            })
        }
        (other, None) => other,
    }
}

impl TokenClient {
    /// RFC 7009 revocation: POSTs `token` (and its type hint) with the same
    /// client authentication as token requests.
    pub async fn revoke(
        &self,
        spec: &OAuth2Spec,
        url: &Url,
        client: &ClientCredentials<'_>,
        token: &SecretString,
        hint: &str,
    ) -> Result<(), ProviderError> {
        let mut params: Vec<(&str, String)> = vec![
            ("token", token.expose().into()),
            ("token_type_hint", hint.into()),
        ];
        let mut request = self.http.post(url.clone());
        request = authenticate(request, &mut params, spec.token_auth, client);
        let response = request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(serde_urlencoded::to_string(&params).unwrap_or_default())
            .send()
            .await
            .map_err(|e| ProviderError::Network(describe(&e)))?;
        match status_error(response.status(), None) {
            None => Ok(()),
            Some(failure) => Err(failure),
        }
    }

    /// GETs a JSON document with a bearer token (the catalog's post-auth
    /// lookup); same client, same limits as token calls.
    pub async fn get_json(
        &self,
        url: &Url,
        access_token: &SecretString,
    ) -> Result<Value, ProviderError> {
        let response = self
            .http
            .get(url.clone())
            .bearer_auth(access_token.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| ProviderError::Network(describe(&e)))?;
        if let Some(failure) = status_error(response.status(), None) {
            return Err(failure);
        }
        let body = read_capped(response).await?;
        serde_json::from_slice(&body)
            .map_err(|_| ProviderError::InvalidResponse("post-auth answer is not JSON".into()))
    }
}

/// Most bytes grantd reads of a provider's answer (token, post-auth). Real
/// answers are a few kilobytes; the cap keeps a broken or hostile provider
/// from filling grantd's memory.
pub const MAX_PROVIDER_ANSWER_BYTES: usize = 1024 * 1024;

/// Reads an answer's body, giving up as soon as it passes
/// [`MAX_PROVIDER_ANSWER_BYTES`]: a `Content-Length` over the cap is refused
/// unread, and a body without one (or lying in it) is cut off while it
/// streams in.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, ProviderError> {
    let too_large = || {
        ProviderError::InvalidResponse(format!(
            "the answer is larger than {MAX_PROVIDER_ANSWER_BYTES} bytes"
        ))
    };
    let announced = response.content_length().unwrap_or(0);
    if announced > MAX_PROVIDER_ANSWER_BYTES as u64 {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(announced as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ProviderError::Network(describe(&e)))?
    {
        if body.len() + chunk.len() > MAX_PROVIDER_ANSWER_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads the body as JSON, falling back to form encoding (GitHub's default).
fn parse_body(body: &[u8]) -> Option<Value> {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        return value.is_object().then_some(value);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    if pairs.is_empty() {
        return None;
    }
    Some(Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    ))
}

/// An RFC 6749 §5.2 error (`error`, `error_description`), wherever it appears.
fn oauth_error(value: &Value) -> Option<(String, Option<String>)> {
    let error = value.get("error")?;
    let code = match error {
        Value::String(s) => s.clone(),
        // Some providers nest the error object: {"error": {"code": .., "message": ..}}
        Value::Object(o) => o.get("code").or_else(|| o.get("type")).and_then(text)?,
        _ => return None,
    };
    let description = value
        .get("error_description")
        .or_else(|| value.get("message"))
        .or_else(|| error.get("message"))
        .and_then(text);
    Some((code, description))
}

fn normalise(spec: &OAuth2Spec, value: &Value) -> Result<TokenResponse, ProviderError> {
    let access_token = lookup(
        value,
        spec.access_token_path.as_deref().unwrap_or("access_token"),
    )
    .and_then(text)
    .filter(|t| !t.is_empty())
    .ok_or_else(|| ProviderError::InvalidResponse("no access_token in the response".into()))?;
    let refresh_token = lookup(
        value,
        spec.refresh_token_path
            .as_deref()
            .unwrap_or("refresh_token"),
    )
    .and_then(text)
    .filter(|t| !t.is_empty());
    let expires_in = lookup(
        value,
        spec.expires_in_path.as_deref().unwrap_or("expires_in"),
    )
    .and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    });
    let scope = lookup(value, spec.scope_path.as_deref().unwrap_or("scope")).and_then(text);
    let token_type = value.get("token_type").and_then(text);
    let metadata = spec
        .token_metadata
        .iter()
        .filter_map(|(name, path)| Some((name.clone(), lookup(value, path).and_then(text)?)))
        .collect();
    Ok(TokenResponse {
        access_token: SecretString::new(access_token),
        refresh_token: refresh_token.map(SecretString::new),
        expires_in: expires_in.filter(|s| *s > 0),
        scope,
        token_type,
        metadata,
    })
}

/// Follows a dot path (`authed_user.access_token`, `0.id` for arrays) into a
/// JSON value.
pub(crate) fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, key| match v {
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => v.get(key),
    })
}

/// Strings as they are; numbers and booleans in their JSON spelling.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Client authentication the way the catalog says: `client_id` and
/// `client_secret` in the body, or an HTTP Basic header.
fn authenticate(
    request: reqwest::RequestBuilder,
    params: &mut Vec<(&str, String)>,
    how: TokenAuth,
    client: &ClientCredentials<'_>,
) -> reqwest::RequestBuilder {
    match how {
        TokenAuth::Body => {
            params.push(("client_id", client.client_id.into()));
            if let Some(secret) = client.client_secret {
                params.push(("client_secret", secret.expose().into()));
            }
            request
        }
        TokenAuth::Basic => request.header(reqwest::header::AUTHORIZATION, basic_auth(client)),
    }
}

/// The failure a non-2xx answer stands for: 5xx and 429 are worth retrying,
/// other statuses are refusals. `None` for success.
fn status_error(status: reqwest::StatusCode, retry_after: Option<u64>) -> Option<ProviderError> {
    if status.is_success() {
        return None;
    }
    if status.is_server_error() || status.as_u16() == 429 {
        return Some(ProviderError::Unavailable {
            status: status.as_u16(),
            retry_after,
        });
    }
    Some(ProviderError::Rejected {
        status: status.as_u16(),
        error: format!("http_{}", status.as_u16()),
        description: None,
    })
}

/// RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
fn basic_auth(client: &ClientCredentials<'_>) -> String {
    let user = form_encode(client.client_id);
    let pass = client
        .client_secret
        .map(|s| form_encode(s.expose()))
        .unwrap_or_default();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {basic}")
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// reqwest's errors name the URL; keep the class of failure only.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> OAuth2Spec {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn nested_tokens_and_string_expiry_are_read_from_configured_paths() {
        let spec = spec(
            r#"tokenUrl = "https://x"
               accessTokenPath = "authed_user.access_token"
               expiresInPath = "authed_user.expires_in"
               tokenMetadata = { teamId = "team.id" }"#,
        );
        let body = serde_json::json!({
            "ok": true,
            "authed_user": {"access_token": "xoxp-1", "expires_in": "3600"},
            "team": {"id": "T1"}
        });
        let parsed = normalise(&spec, &body).unwrap();
        assert_eq!(parsed.access_token.expose(), "xoxp-1");
        assert_eq!(parsed.expires_in, Some(3600));
        assert_eq!(parsed.metadata["teamId"], "T1");
    }

    #[test]
    fn form_encoded_bodies_and_errors_in_200_answers_are_understood() {
        let value = parse_body(b"error=bad_verification_code&error_description=expired").unwrap();
        let (code, description) = oauth_error(&value).unwrap();
        assert_eq!(code, "bad_verification_code");
        assert_eq!(description.as_deref(), Some("expired"));
    }
}
