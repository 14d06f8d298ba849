//! RFC 9457 problem details: the one error shape of the API.
//!
//! Handlers return `ApiError`; its `IntoResponse` turns it into a `Problem`
//! stored in the response's extensions. The `render_problems` middleware, the
//! only place that writes problem bodies, fills in `requestId` and `time` and
//! also turns bare error responses (unknown route, wrong method, timeouts)
//! into problems, so no error leaves the server in another shape.

use crate::domain::{DomainError, FieldIssue, InputLocation, ProviderError, ProxyError};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input of a 400 problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InputIssue {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub detail: String,
    /// Where the input was: body, header, path or query.
    #[serde(rename = "in")]
    #[schema(value_type = IssueLocation)]
    pub location: String,
    pub name: String,
    pub value: serde_json::Value,
}

/// Where an invalid input was (`InputValidationIssue.in` in Ampersand's API).
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum IssueLocation {
    Body,
    Header,
    Path,
    Query,
}

impl From<FieldIssue> for InputIssue {
    fn from(issue: FieldIssue) -> Self {
        InputIssue {
            problem_type: "about:blank".into(),
            title: "Invalid input".into(),
            detail: issue.detail,
            location: match issue.location {
                InputLocation::Body => "body",
                InputLocation::Query => "query",
                InputLocation::Path => "path",
                InputLocation::Header => "header",
            }
            .into(),
            name: issue.name,
            value: issue.value,
        }
    }
}

/// An RFC 9457 problem with Ampersand's extension fields.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub subsystem: String,
    pub time: DateTime<Utc>,
    pub request_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<InputIssue>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            problem_type: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            subsystem: "api".into(),
            time: Utc::now(),
            request_id: String::new(),
            causes: Vec::new(),
            remedy: None,
            retryable: None,
            retry_after: None,
            issues: Vec::new(),
        }
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = self.status_code().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    #[error("invalid input")]
    Input(Vec<FieldIssue>),
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("route not found")]
    RouteNotFound,
    /// The route exists, not with this method; the value is its `Allow`.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// The instance is shutting down and takes no new work.
    #[error("shutting down")]
    Draining,
}

impl From<crate::domain::scopes::MissingScope> for ApiError {
    fn from(missing: crate::domain::scopes::MissingScope) -> Self {
        ApiError::Domain(missing.into())
    }
}

impl From<ApiError> for Problem {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Domain(domain) => domain_problem(domain),
            ApiError::Unauthenticated(detail) => {
                let mut p = Problem::new(StatusCode::UNAUTHORIZED, detail);
                p.remedy =
                    Some("send an API key in X-Api-Key or a JWT in Authorization: Bearer".into());
                p
            }
            ApiError::Input(issues) => validation_problem(issues),
            ApiError::UnsupportedMediaType(found) => {
                let mut p = Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("expected Content-Type application/json, got {found}"),
                );
                p.remedy = Some("send the body as JSON with Content-Type: application/json".into());
                p
            }
            ApiError::PayloadTooLarge => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request bodies are limited to {} bytes",
                    super::MAX_BODY_BYTES
                ),
            ),
            ApiError::RouteNotFound => Problem::new(StatusCode::NOT_FOUND, "no such route"),
            ApiError::MethodNotAllowed(_) => Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            ),
            ApiError::Draining => {
                let mut p = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "this instance is shutting down",
                );
                p.retryable = Some(true);
                p.remedy = Some("send requests to another instance".into());
                p
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthenticated = matches!(self, ApiError::Unauthenticated(_));
        let allow = match self {
            ApiError::MethodNotAllowed(allow) => Some(allow),
            _ => None,
        };
        let mut response = Problem::from(self).into_response();
        if let Some(allow) = allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer, ApiKey header=\"X-Api-Key\""),
            );
        }
        response
    }
}

/// Most issues a 400 lists; one more issue counts the rest.
pub const MAX_LISTED_ISSUES: usize = 50;
/// Longest name or echoed value in an issue, in characters.
const MAX_ECHOED_CHARS: usize = 256;
/// Longest detail of an issue, in characters (details quote patterns).
const MAX_DETAIL_CHARS: usize = 1024;

/// A 400 whose size does not grow with the request's beyond a bound: at most
/// [`MAX_LISTED_ISSUES`] issues, each with its name, value and detail cut
/// short, so that a large bad request cannot make a much larger answer.
fn validation_problem(issues: Vec<FieldIssue>) -> Problem {
    let total = issues.len();
    let mut listed: Vec<InputIssue> = issues
        .into_iter()
        .take(MAX_LISTED_ISSUES + 1)
        .map(|issue| {
            let mut issue = InputIssue::from(issue);
            issue.name = shortened(&issue.name, MAX_ECHOED_CHARS);
            issue.detail = shortened(&issue.detail, MAX_DETAIL_CHARS);
            issue.value = shortened_value(issue.value);
            issue
        })
        .collect();
    if total > MAX_LISTED_ISSUES {
        let first_unlisted = listed.swap_remove(MAX_LISTED_ISSUES);
        listed.push(InputIssue {
            detail: format!(
                "{} more invalid inputs are not listed",
                total - MAX_LISTED_ISSUES
            ),
            name: String::new(),
            value: serde_json::Value::Null,
            ..first_unlisted
        });
    }
    let names: Vec<&str> = listed
        .iter()
        .take(MAX_LISTED_ISSUES)
        .map(|i| i.name.as_str())
        .collect();
    let mut detail = shortened(
        &format!("invalid input: {}", names.join(", ")),
        MAX_DETAIL_CHARS,
    );
    if total > MAX_LISTED_ISSUES {
        detail.push_str(&format!(" and {} more", total - MAX_LISTED_ISSUES));
    }
    let mut p = Problem::new(StatusCode::BAD_REQUEST, detail);
    p.issues = listed;
    p
}

/// `text` itself, or its first `max` characters followed by "…".
fn shortened(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// An echoed value, bounded: long strings are cut; arrays and objects whose
/// JSON is long are replaced by the start of that JSON.
fn shortened_value(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) => Value::String(shortened(&text, MAX_ECHOED_CHARS)),
        Value::Array(_) | Value::Object(_) => {
            let json = value.to_string();
            if json.chars().count() > MAX_ECHOED_CHARS {
                Value::String(shortened(&json, MAX_ECHOED_CHARS))
            } else {
                value
            }
        }
        other => other,
    }
}

/// The single mapping from domain errors to HTTP.
fn domain_problem(error: DomainError) -> Problem {
    match error {
        DomainError::Validation(issues) => validation_problem(issues),
        DomainError::NotFound { resource } => {
            Problem::new(StatusCode::NOT_FOUND, format!("{resource} not found"))
        }
        DomainError::Conflict(detail) => Problem::new(StatusCode::CONFLICT, detail),
        DomainError::Duplicate { field, detail, .. } => {
            let mut p = Problem::new(StatusCode::CONFLICT, detail.clone());
            p.issues.push(InputIssue::from(FieldIssue::body(
                field,
                serde_json::Value::Null,
                detail,
            )));
            p
        }
        DomainError::MissingScope(scope) => {
            let mut p = Problem::new(
                StatusCode::FORBIDDEN,
                format!("this credential lacks the scope {scope}"),
            );
            p.causes.push(format!("missing scope: {scope}"));
            p.remedy = Some(format!(
                "use an API key or JWT granted the scope {scope} (see the README's API key scopes)"
            ));
            p.retryable = Some(false);
            p
        }
        DomainError::Provider(provider) => provider_problem(provider),
        DomainError::Proxy(proxy) => proxy_problem(proxy),
        DomainError::Unavailable(e) => {
            tracing::error!(error = %e, "database unavailable");
            let mut p = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable",
            );
            p.retryable = Some(true);
            p.subsystem = "storage".into();
            p
        }
        other => {
            tracing::error!(error = %other, cause_chain = %cause_chain(&other), "internal error");
            let mut p = Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            p.retryable = Some(false);
            p
        }
    }
}

/// An error and its sources, outermost first, for the log of a 5xx.
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(" <- ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

fn provider_problem(error: ProviderError) -> Problem {
    let mut p = match &error {
        ProviderError::Rejected {
            error: code,
            description,
            ..
        } => {
            let mut p = Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the provider refused the credentials; nothing was stored",
            );
            p.causes.push(match description {
                Some(d) => format!("{code}: {d}"),
                None => code.clone(),
            });
            p.retryable = Some(false);
            p
        }
        ProviderError::Unavailable { retry_after, .. } => {
            let mut p = Problem::new(StatusCode::BAD_GATEWAY, "the provider is unavailable");
            p.causes.push(error.to_string());
            p.retryable = Some(true);
            p.retry_after = retry_after.map(|s| Utc::now() + chrono::Duration::seconds(s as i64));
            p
        }
        ProviderError::Network(_) | ProviderError::InvalidResponse(_) => {
            let mut p = Problem::new(
                StatusCode::BAD_GATEWAY,
                "the provider's token endpoint failed",
            );
            p.causes.push(error.to_string());
            p.retryable = Some(matches!(error, ProviderError::Network(_)));
            p
        }
    };
    p.subsystem = "provider".into();
    p
}

/// A call through the proxy that did not get the provider's answer.
fn proxy_problem(error: ProxyError) -> Problem {
    let detail = error.to_string();
    let mut p = match &error {
        ProxyError::NotProxyable { .. } => {
            let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail);
            p.retryable = Some(false);
            p
        }
        ProxyError::Throttled { retry_after } => {
            let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, detail);
            p.retryable = Some(true);
            p.retry_after = Some(
                Utc::now()
                    + chrono::Duration::milliseconds(
                        retry_after.as_millis().min(i64::MAX as u128) as i64
                    ),
            );
            p
        }
        ProxyError::BodyTooLarge { .. } => {
            let mut p = Problem::new(StatusCode::PAYLOAD_TOO_LARGE, detail);
            p.retryable = Some(false);
            p
        }
        ProxyError::Timeout(_) => {
            let mut p = Problem::new(StatusCode::GATEWAY_TIMEOUT, detail);
            p.retryable = Some(true);
            p
        }
        ProxyError::Unreachable(_) => {
            let mut p = Problem::new(StatusCode::BAD_GATEWAY, detail);
            p.retryable = Some(true);
            p
        }
    };
    p.subsystem = "proxy".into();
    p
}

/// Renders every problem body. Must wrap the whole router.
pub async fn render_problems(request: Request, next: Next) -> Response {
    render(request, next, true).await
}

async fn render(request: Request, next: Next, bare_errors_too: bool) -> Response {
    let request_id = request
        .headers()
        .get(super::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = next.run(request).await;
    render_response(response, &request_id, bare_errors_too)
}

/// `response` with the [`Problem`] a handler left in its extensions written
/// out as its problem+json body (and, with `bare_errors_too`, a bare error
/// status turned into one). Anything else is returned as it is.
pub fn render_response(
    mut response: Response,
    request_id: &str,
    bare_errors_too: bool,
) -> Response {
    let problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None if bare_errors_too && is_bare_error(&response) => {
            let status = response.status();
            let detail = match status {
                StatusCode::NOT_FOUND => "no such route",
                StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route",
                StatusCode::PAYLOAD_TOO_LARGE => "request body too large",
                StatusCode::REQUEST_TIMEOUT => "the request took too long",
                _ => status.canonical_reason().unwrap_or("error"),
            };
            Problem::new(status, detail)
        }
        None => return response,
    };
    let mut problem = problem;
    problem.request_id = request_id.to_owned();
    let status = problem.status_code();
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let (mut parts, _) = response.into_parts();
    parts.status = status;
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// An error status whose body is not already a problem or an HTML page.
fn is_bare_error(response: &Response) -> bool {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    !(content_type.starts_with(PROBLEM_JSON) || content_type.starts_with("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Constraint, StoreError};

    #[test]
    fn a_unique_key_conflict_is_a_409_naming_the_field_it_protects() {
        let error = DomainError::from(StoreError::Conflict {
            constraint: Constraint::DefaultProviderApp,
            message: "UNIQUE constraint failed: provider_apps.project_id, provider_apps.provider"
                .into(),
        });
        let problem = domain_problem(error);
        assert_eq!(problem.status, 409);
        assert_eq!(problem.issues.len(), 1);
        assert_eq!(problem.issues[0].name, "isDefault");
        assert_eq!(problem.issues[0].location, "body");
        assert!(
            !problem
                .detail
                .as_deref()
                .unwrap_or_default()
                .contains("UNIQUE"),
            "the database's wording stays in the log"
        );
    }

    #[test]
    fn a_conflict_on_a_key_no_caller_chose_stays_a_plain_409() {
        let error = DomainError::from(StoreError::Conflict {
            constraint: Constraint::Other,
            message: "duplicate key value violates unique constraint \"api_keys_pkey\"".into(),
        });
        let problem = domain_problem(error);
        assert_eq!(problem.status, 409);
        assert!(problem.issues.is_empty());
        assert_eq!(
            problem.detail.as_deref(),
            Some("conflicts with an existing resource")
        );
    }

    #[test]
    fn the_cause_chain_lists_every_source() {
        let error = DomainError::from(StoreError::Conflict {
            constraint: Constraint::ProjectName,
            message: "UNIQUE constraint failed: projects.name".into(),
        });
        let chain = cause_chain(&error);
        assert!(
            chain.starts_with("conflict: a project with this name exists"),
            "{chain}"
        );
        assert!(
            chain.contains("<- conflict on projects.name: UNIQUE constraint failed"),
            "{chain}"
        );
    }
}
