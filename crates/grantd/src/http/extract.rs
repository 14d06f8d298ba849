//! Extractors whose rejections are problems naming the bad input, instead of
//! axum's plain-text defaults.

use super::problem::ApiError;
use crate::domain::{FieldIssue, InputLocation};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

/// A JSON request body. Wrong content type → 415; too large → 413;
/// malformed or mistyped → 400 with an issue naming the field's path.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        // No body at all reads as `{}`: an operation whose body is optional
        // (Ampersand's generateConnection) then answers with the fields it
        // misses, not with a media-type error about a body never sent.
        let no_body = content_type.is_empty()
            && request
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_none_or(|length| length == "0")
            && !request.headers().contains_key(header::TRANSFER_ENCODING);
        if no_body {
            return parse_json(b"{}").map(JsonBody);
        }
        if essence != "application/json" && !essence.ends_with("+json") {
            let shown = if content_type.is_empty() {
                "none".into()
            } else {
                content_type
            };
            return Err(ApiError::UnsupportedMediaType(shown));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::Input(vec![FieldIssue::body(
                        "",
                        serde_json::Value::Null,
                        e.body_text(),
                    )])
                }
            })?;
        refuse_nul_in_json(&bytes)?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// No text grantd reads may carry NUL: PostgreSQL cannot store or even
/// compare it, so a NUL in a field only used for a lookup would be a 500.
/// Names and refs get the stricter domain check (`check_text`); this is the
/// floor for every other field. JSON can only spell NUL as `\u0000`.
fn refuse_nul_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.windows(6).any(|w| w == b"\\u0000") {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(()); // parse_json reports the syntax error
    };
    match nul_path(&value, String::new()) {
        None => Ok(()),
        Some(name) => Err(nul_issue(InputLocation::Body, name)),
    }
}

/// The path (`a.b[2]`) of the first string or key holding NUL.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(text) if text.contains('\0') => Some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                return Some(path);
            }
            nul_path(item, path)
        }),
        _ => None,
    }
}

fn nul_issue(location: InputLocation, name: String) -> ApiError {
    ApiError::Input(vec![FieldIssue {
        location,
        detail: format!("{name} contains NUL (U+0000), which no field may carry"),
        name,
        value: serde_json::Value::Null,
    }])
}

/// Deserializes JSON, reporting the path of the first offending field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let name = if path == "." || inner.is_syntax() || inner.is_eof() {
            String::new()
        } else {
            path
        };
        let detail = if inner.is_syntax() || inner.is_eof() {
            format!("body is not valid JSON: {inner}")
        } else {
            inner.to_string()
        };
        ApiError::Input(vec![FieldIssue {
            location: InputLocation::Body,
            name,
            value: serde_json::Value::Null,
            detail,
        }])
    })
}

/// A query string; bad parameters → 400 naming the parameter.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        if let Some((name, _)) = url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            return Err(nul_issue(InputLocation::Query, name.into_owned()));
        }
        let deserializer =
            serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(QueryParams)
            .map_err(|error| {
                let name = error.path().to_string();
                ApiError::Input(vec![FieldIssue {
                    location: InputLocation::Query,
                    name: if name == "." { String::new() } else { name },
                    value: serde_json::Value::Null,
                    detail: error.into_inner().to_string(),
                }])
            })
    }
}

/// Path parameters; a malformed segment → 400.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A URI can only carry NUL percent-encoded.
        if parts.uri.path().contains("%00") {
            return Err(nul_issue(InputLocation::Path, String::new()));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParams(value))
            .map_err(|rejection| {
                ApiError::Input(vec![FieldIssue {
                    location: InputLocation::Path,
                    name: String::new(),
                    value: serde_json::Value::Null,
                    detail: rejection.body_text(),
                }])
            })
    }
}
