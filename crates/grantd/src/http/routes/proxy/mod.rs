//! The proxy's HTTP side: Ampersand's proxy headers read and checked, the
//! caller authenticated, the call handed to the domain, the provider's
//! answer streamed back. Served at `/{*path}` on its own listener
//! (`--proxy-listen`), so that switching from the provider is swapping the
//! base URL, and under `/proxy/{*path}` on the main listener.
//!
//! Not in the OpenAPI document: method, path and bodies are the provider's,
//! so there is no shape of grantd's to describe, and Ampersand documents its
//! proxy outside its OpenAPI files too.

use crate::domain::proxy::body::{BodyStream, BoxError};
use crate::domain::proxy::{ConnectionSelector, ProxyRequest};
use crate::domain::{DomainError, FieldIssue, Grantd, InputLocation, ProxyError, Scope};
use crate::http::auth::Caller;
use crate::http::problem::{self, ApiError, Problem};
use crate::http::REQUEST_ID_HEADER;
use axum::body::{Body, HttpBody};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

/// Where the main listener serves the proxy.
pub const PREFIX: &str = "/proxy";

/// `/proxy/{*path}` on the main listener.
pub async fn under_prefix(State(grantd): State<Grantd>, request: Request) -> Response {
    let path = request
        .uri()
        .path()
        .strip_prefix(PREFIX)
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or("/")
        .to_owned();
    serve(grantd, request, path).await
}

/// Every path on the proxy's own listener.
pub async fn at_root(State(grantd): State<Grantd>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    serve(grantd, request, path).await
}

/// One proxied call with its request id: the caller's `x-request-id`, or a
/// new one. It goes on to the provider, into the log line and the problem
/// of a failed call, and back to the caller unless the provider's answer
/// carries its own.
async fn serve(grantd: Grantd, mut request: Request, path: String) -> Response {
    const REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
    let text = match request.headers().get(&REQUEST_ID) {
        Some(id) => id.to_str().unwrap_or_default().to_owned(),
        None => {
            let text = uuid::Uuid::new_v4().to_string();
            if let Ok(id) = HeaderValue::from_str(&text) {
                request.headers_mut().insert(REQUEST_ID, id);
            }
            text
        }
    };
    let response = respond(forward(grantd, request, path, text.clone()).await);
    let mut response = problem::render_response(response, &text, false);
    match HeaderValue::from_str(&text) {
        Ok(id) if !text.is_empty() => {
            response.headers_mut().entry(REQUEST_ID).or_insert(id);
        }
        _ => {}
    }
    response
}

fn respond(result: Result<Response, ApiError>) -> Response {
    match result {
        Ok(response) => response,
        Err(error) => {
            let retry_after = match &error {
                ApiError::Domain(DomainError::Proxy(ProxyError::Throttled { retry_after })) => {
                    Some(retry_after.as_secs_f64().ceil().max(1.0) as u64)
                }
                _ => None,
            };
            let mut response = error.into_response();
            if let Some(seconds) = retry_after {
                // Ampersand's throttle header, and the standard one for
                // clients that know only that.
                let value = HeaderValue::from(seconds);
                response
                    .headers_mut()
                    .insert("x-amp-retry-after", value.clone());
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
            response
        }
    }
}

async fn forward(
    grantd: Grantd,
    request: Request,
    path: String,
    request_id: String,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    if matches!(parts.method, Method::CONNECT | Method::TRACE) {
        // TRACE would echo the request, injected credentials included.
        return Ok(Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "the proxy does not pass on CONNECT or TRACE",
        )
        .into_response());
    }
    let caller = Caller::from_request_parts(&mut parts, &grantd).await?;
    let project = caller.own_project(Scope::CredentialsAccessToken)?;
    if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
        return Err(ApiError::Input(vec![FieldIssue {
            location: InputLocation::Path,
            name: "path".into(),
            value: parts.uri.to_string().into(),
            detail: "send the provider's path only (origin-form), never a scheme or host; \
                     grantd picks the host from the catalog"
                .into(),
        }]));
    }
    let amp = AmpHeaders::read(&parts.headers)?;
    if amp.project != project.id && amp.project != project.name {
        return Err(DomainError::not_found("project").into());
    }
    let (connection, throttle) = (amp.connection, amp.throttle);
    let body = (!HttpBody::is_end_stream(&body)).then(|| {
        let stream = body
            .into_data_stream()
            .map(|chunk| chunk.map_err(BoxError::from));
        Box::pin(stream) as BodyStream
    });
    let answer = grantd
        .proxy(ProxyRequest {
            project_id: project.id.clone(),
            connection,
            method: parts.method,
            path,
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            body,
            throttle,
            request_id,
        })
        .await?;
    let mut response = Response::new(Body::from_stream(answer.body));
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    Ok(response)
}

/// Ampersand's proxy headers.
struct AmpHeaders<'a> {
    project: &'a str,
    connection: ConnectionSelector,
    throttle: bool,
}

impl<'a> AmpHeaders<'a> {
    fn read(headers: &'a HeaderMap) -> Result<Self, ApiError> {
        let mut reader = HeaderReader {
            headers,
            issues: Vec::new(),
        };
        reader.refuse_ampersand_only();
        reader.check_version();
        let project = reader.project();
        let connection = reader.connection();
        let throttle = headers
            .get("x-amp-rate-limiter-mode")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|mode| mode.trim().eq_ignore_ascii_case("throttle"));
        match (project, connection) {
            (Some(project), Some(connection)) if reader.issues.is_empty() => Ok(AmpHeaders {
                project,
                connection,
                throttle,
            }),
            _ => Err(ApiError::Input(reader.issues)),
        }
    }
}

/// Reads Ampersand's headers one by one, keeping every issue found so that
/// one 400 names them all.
struct HeaderReader<'a> {
    headers: &'a HeaderMap,
    issues: Vec<FieldIssue>,
}

impl<'a> HeaderReader<'a> {
    /// A present header's trimmed value; an empty or non-ASCII one is an issue.
    fn text(&mut self, name: &str) -> Option<&'a str> {
        let value = self.headers.get(name)?;
        match value.to_str().map(str::trim) {
            Ok(v) if !v.is_empty() => Some(v),
            _ => {
                self.issues
                    .push(header_issue(name, "", "must be non-empty visible ASCII"));
                None
            }
        }
    }

    /// Ampersand's installation and integration headers name things grantd
    /// does not have: the issue says what to send instead.
    fn refuse_ampersand_only(&mut self) {
        for name in ["x-amp-installation-id", "x-amp-integration-name"] {
            if self.headers.contains_key(name) {
                self.issues.push(header_issue(
                    name,
                    "",
                    "grantd has no installations or integrations: name the connection with \
                     x-amp-connection-id, or with x-amp-group-ref and x-amp-provider",
                ));
            }
        }
    }

    fn check_version(&mut self) {
        const NAME: &str = "x-amp-proxy-version";
        match self.text(NAME) {
            Some("1") => {}
            Some(version) => {
                self.issues
                    .push(header_issue(NAME, version, "the only proxy version is 1"))
            }
            None if !self.headers.contains_key(NAME) => {
                self.issues
                    .push(header_issue(NAME, "", "send x-amp-proxy-version: 1"))
            }
            None => {}
        }
    }

    fn project(&mut self) -> Option<&'a str> {
        const NAME: &str = "x-amp-project-id";
        let project = self.text(NAME);
        if project.is_none() && !self.headers.contains_key(NAME) {
            self.issues.push(header_issue(
                NAME,
                "",
                "send the project's id (or name) in x-amp-project-id",
            ));
        }
        project
    }

    /// By id, or by group and provider: exactly one of the two ways.
    fn connection(&mut self) -> Option<ConnectionSelector> {
        let id = self.text("x-amp-connection-id");
        let group_ref = self.text("x-amp-group-ref");
        let provider = self.text("x-amp-provider");
        match (id, group_ref, provider) {
            (Some(id), None, None) => Some(ConnectionSelector::Id(id.to_owned())),
            (None, Some(group_ref), Some(provider)) => Some(ConnectionSelector::GroupAndProvider {
                group_ref: group_ref.to_owned(),
                provider: provider.to_owned(),
            }),
            (Some(_), _, _) => {
                self.issues.push(header_issue(
                    "x-amp-connection-id",
                    "",
                    "name the connection either by x-amp-connection-id or by \
                     x-amp-group-ref and x-amp-provider, not both",
                ));
                None
            }
            (None, group_ref, _) => {
                let missing = if group_ref.is_none() {
                    "x-amp-group-ref"
                } else {
                    "x-amp-provider"
                };
                if !has_issue(&self.issues, missing) {
                    self.issues.push(header_issue(
                        missing,
                        "",
                        "name the connection with x-amp-connection-id, or with \
                         x-amp-group-ref and x-amp-provider",
                    ));
                }
                None
            }
        }
    }
}

fn has_issue(issues: &[FieldIssue], name: &str) -> bool {
    issues.iter().any(|issue| issue.name == name)
}

fn header_issue(name: &str, value: &str, detail: &str) -> FieldIssue {
    FieldIssue {
        location: InputLocation::Header,
        name: name.to_owned(),
        value: value.into(),
        detail: detail.to_owned(),
    }
}
