//! The proxy: a caller's request sent on to the provider's API with the
//! connection's credentials attached, and the provider's answer streamed
//! back. The caller never holds the credentials; grantd builds the target
//! from the catalog, injects the credential per scheme, refreshes an
//! expired token first and, after a 401, once more and retries, and keeps
//! the caller's own credentials and the hop-by-hop fields on its side.
//!
//! `target` builds the URL and refuses escapes, `headers` filters both
//! directions, `body` streams bodies (reading a short one ahead for the
//! retry), `client` holds the HTTP client and the throttle state.

pub mod body;
pub mod client;
mod connections;
mod credentials;
mod headers;
pub mod selector;
pub mod target;

use crate::domain::catalog::{Provider, ProviderInputs};
use crate::domain::error::{DomainError, DomainResult, OrNotFound, ProxyError};
use crate::domain::handle::Grantd;
use crate::domain::model::{ConnectionStatus, Credentials, ProviderMetadata};
use crate::storage::{ConnectionFilter, ConnectionRecord};
use body::{BodyStream, BoxError, ReadAhead};
use bytes::Bytes;
use client::RequestBody;
use connections::Proxied;
use credentials::{attach_credentials, renewable};
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_LENGTH};
use hyper::{Method, StatusCode};
pub use selector::ConnectionSelector;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use target::Target;

/// A call to pass on, as the HTTP layer received it.
pub struct ProxyRequest {
    /// The caller's project; connections of other projects are not found.
    pub project_id: String,
    pub connection: ConnectionSelector,
    pub method: Method,
    /// Raw (percent-encoded) path, relative to the provider's API base.
    pub path: String,
    /// Raw query, passed on unchanged.
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// `None` when the caller sent no body.
    pub body: Option<BodyStream>,
    /// `X-Amp-Rate-Limiter-Mode: throttle`: answer 429 without calling the
    /// provider while it has asked this connection to wait.
    pub throttle: bool,
    /// For the log line.
    pub request_id: String,
}

/// The provider's answer, hop-by-hop fields removed, body still streaming.
pub struct ProxyResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: BodyStream,
}

/// Largest 401 body held while the token is refreshed; a longer one goes
/// back to the caller as it is.
const REJECTION_BODY_LIMIT: usize = 64 * 1024;

/// One answer of the provider: still streaming, or read whole (a 401 read
/// while the token was refreshed).
enum Answer {
    /// `deadline`: the call's total timeout, which its body must meet too.
    Live {
        response: hyper::Response<Incoming>,
        deadline: tokio::time::Instant,
    },
    Read {
        status: StatusCode,
        headers: HeaderMap,
        body: BodyStream,
    },
}

impl Answer {
    fn status(&self) -> StatusCode {
        match self {
            Answer::Live { response, .. } => response.status(),
            Answer::Read { status, .. } => *status,
        }
    }

    fn headers(&self) -> &HeaderMap {
        match self {
            Answer::Live { response, .. } => response.headers(),
            Answer::Read { headers, .. } => headers,
        }
    }

    fn into_parts(self) -> (StatusCode, HeaderMap, BodyStream) {
        match self {
            Answer::Live { response, deadline } => {
                let (parts, incoming) = response.into_parts();
                let body = incoming.into_data_stream().map_err(BoxError::from);
                (
                    parts.status,
                    parts.headers,
                    body::until(Box::pin(body), deadline),
                )
            }
            Answer::Read {
                status,
                headers,
                body,
            } => (status, headers, body),
        }
    }
}

/// The caller's body on its way to the provider, with what is known of it.
struct OutgoingBody {
    /// What was read ahead; `None` once a streamed body has been sent.
    read: Option<ReadAhead>,
    /// Set when the body went over `--proxy-max-body-bytes` mid-stream.
    too_large: Arc<AtomicBool>,
    sent_bytes: Arc<AtomicU64>,
}

impl OutgoingBody {
    /// The body for the next send: a kept body again, or the stream once;
    /// empty for a request that came without one (no `Content-Length: 0`
    /// added to a GET).
    fn take(&mut self) -> RequestBody {
        match self.read.take() {
            Some(ReadAhead::Whole(bytes)) => {
                let again = bytes.clone();
                self.read = Some(ReadAhead::Whole(bytes));
                Full::new(again)
                    .map_err(|never| match never {})
                    .boxed_unsync()
            }
            Some(ReadAhead::Partial(stream)) => {
                StreamBody::new(stream.map_ok(Frame::data)).boxed_unsync()
            }
            None => Empty::new().map_err(|never| match never {}).boxed_unsync(),
        }
    }

    /// Whether it can be sent again after a refusal: it was read whole.
    fn replayable(&self) -> bool {
        self.read.as_ref().is_some_and(ReadAhead::is_whole)
    }
}

/// What the log line of a call needs besides the provider's answer.
struct Logged<'a> {
    method: &'a Method,
    request_id: &'a str,
    started: Instant,
    sent_bytes: Arc<AtomicU64>,
}

/// What one call sends, whichever credentials it carries.
struct Outgoing<'a> {
    method: &'a Method,
    target: &'a Target,
    provider: &'a Provider,
}

impl Grantd {
    /// Sends `request` to the provider of the connection it names, with
    /// that connection's credentials, and returns the provider's answer.
    pub async fn proxy(&self, mut request: ProxyRequest) -> DomainResult<ProxyResponse> {
        let started = Instant::now();
        let proxied = self
            .proxied_connection(&request.project_id, &request.connection)
            .await?;
        let method = request.method.clone();
        let request_id = std::mem::take(&mut request.request_id);
        let result = self.forward(&proxied, request, started, &request_id).await;
        if let Err(error) = &result {
            self.metrics().proxy_call(
                &proxied.record.provider,
                failure_status(error),
                started.elapsed(),
            );
            // Calls that got no answer from the provider log here; the
            // others when their body has been streamed.
            tracing::info!(
                target: "grantd::proxy",
                method = %method,
                provider = %proxied.record.provider,
                connection = %proxied.record.id,
                status = failure_status(error),
                latency_ms = started.elapsed().as_millis() as u64,
                error = %error,
                request_id = %request_id,
                "proxied call"
            );
        }
        result
    }

    async fn forward(
        &self,
        proxied: &Proxied,
        mut request: ProxyRequest,
        started: Instant,
        request_id: &str,
    ) -> DomainResult<ProxyResponse> {
        let provider = self
            .catalog()
            .get(&proxied.record.provider)
            .filter(|p| p.supports_proxy())
            .ok_or_else(|| ProxyError::NotProxyable {
                provider: proxied.record.provider.clone(),
            })?;
        if request.throttle {
            if let Some(retry_after) = self.inner.proxy.throttle.remaining(&proxied.record.id) {
                return Err(ProxyError::Throttled { retry_after }.into());
            }
        }
        // An expired (or nearly expired) token is renewed before the call;
        // the remembered row is borrowed, not copied, when it is not.
        let mut record = if self.needs_refresh_on_read(&proxied.record) {
            // Boxed, like the other paths most calls never take, so that
            // the future of every call stays small (it is moved whole).
            Cow::Owned(Box::pin(self.refresh_for_read(proxied.record.clone())).await?)
        } else {
            Cow::Borrowed(&proxied.record)
        };
        let base = match (&record, &proxied.base) {
            (Cow::Borrowed(_), Some(base)) => Cow::Borrowed(base),
            _ => Cow::Owned(base_url(provider, &record)?),
        };
        let target = target::proxied_url(&base, &request.path, request.query.as_deref())?;
        let (headers, mut body) = self.prepare(provider, &mut request).await?;
        let outgoing = Outgoing {
            method: &request.method,
            target: &target,
            provider,
        };
        let credentials = if record.credentials_version == proxied.record.credentials_version {
            Cow::Borrowed(&proxied.credentials)
        } else {
            Cow::Owned(self.open_credentials(&record)?)
        };
        // A 401 is worth a refresh only for a working connection whose
        // credentials can be renewed; the headers are copied only for a
        // call that may then be sent twice.
        let refreshable = renewable(&credentials) && record.status == ConnectionStatus::Working;
        let retry_headers = (refreshable && body.replayable()).then(|| headers.clone());
        let mut answer = self
            .send(&outgoing, headers, &credentials, &mut body)
            .await?;
        if answer.status() == StatusCode::UNAUTHORIZED && refreshable {
            answer = Box::pin(self.retry_refused(
                answer,
                &outgoing,
                retry_headers.map(|headers| (headers, &mut body)),
                &mut record,
            ))
            .await?;
        }
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            self.inner
                .proxy
                .throttle
                .record(&record.id, client::retry_after(answer.headers()));
        }
        let logged = Logged {
            method: &request.method,
            request_id,
            started,
            sent_bytes: body.sent_bytes,
        };
        Ok(self.respond(answer, &record, logged))
    }

    /// The caller's headers and body made ready for the provider: grantd's
    /// and hop-by-hop headers out, the catalog's defaults in, the body
    /// limited, counted and read ahead up to the replay bound.
    async fn prepare(
        &self,
        provider: &Provider,
        request: &mut ProxyRequest,
    ) -> DomainResult<(HeaderMap, OutgoingBody)> {
        let limit = self.settings().proxy.max_request_body;
        let declared_length = request
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_length.is_some_and(|n| n > limit) {
            return Err(ProxyError::BodyTooLarge { limit }.into());
        }
        let mut headers = headers::to_provider(std::mem::take(&mut request.headers));
        if let Some(spec) = &provider.proxy {
            headers::add_defaults(&mut headers, &spec.default_headers);
        }
        let too_large = Arc::new(AtomicBool::new(false));
        let sent_bytes = Arc::new(AtomicU64::new(0));
        let read = match request.body.take() {
            // Most calls (GETs): nothing to limit, count or read.
            None => ReadAhead::Whole(Bytes::new()),
            Some(caller_body) => {
                let counted = body::counted(
                    body::limited(caller_body, limit, too_large.clone()),
                    sent_bytes.clone(),
                );
                Box::pin(body::read_ahead(counted, body::REPLAY_LIMIT))
                    .await
                    .map_err(|_| {
                        if too_large.load(Ordering::Relaxed) {
                            ProxyError::BodyTooLarge { limit }
                        } else {
                            ProxyError::Unreachable("the request body could not be read".into())
                        }
                    })?
            }
        };
        match (&read, declared_length) {
            // A streamed body keeps the caller's framing.
            (ReadAhead::Partial(_), Some(length)) => {
                headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
            }
            // A declared empty body stays declared (`Content-Length: 0`).
            (ReadAhead::Whole(bytes), Some(_)) if bytes.is_empty() => {
                headers.insert(CONTENT_LENGTH, HeaderValue::from(0u64));
            }
            _ => {}
        }
        let body = OutgoingBody {
            read: Some(read),
            too_large,
            sent_bytes,
        };
        Ok((headers, body))
    }

    /// After the provider refused the token (401): renews it through the
    /// single flight and sends the call again when the body can be replayed;
    /// otherwise the refusal goes back to the caller as it came.
    async fn retry_refused(
        &self,
        refused: Answer,
        outgoing: &Outgoing<'_>,
        again: Option<(HeaderMap, &mut OutgoingBody)>,
        record: &mut Cow<'_, ConnectionRecord>,
    ) -> DomainResult<Answer> {
        // Read the refusal while the token is renewed, so that it can still
        // go back to the caller when no retry is possible.
        let (status, refused_headers, refused_body) = refused.into_parts();
        let refused_body = body::read_ahead(refused_body, REJECTION_BODY_LIMIT)
            .await
            .map_err(|e| ProxyError::Unreachable(e.to_string()))?;
        let fresh = self
            .refresh_rejected_token(&record.id, record.credentials_version)
            .await?;
        let renewed = fresh.filter(|fresh| {
            fresh.credentials_version != record.credentials_version
                && fresh.status == ConnectionStatus::Working
        });
        match (renewed, again) {
            (Some(fresh), Some((headers, body))) => {
                let credentials = self.open_credentials(&fresh)?;
                *record = Cow::Owned(fresh);
                self.send(outgoing, headers, &credentials, body).await
            }
            _ => Ok(Answer::Read {
                status,
                headers: refused_headers,
                body: match refused_body {
                    ReadAhead::Whole(bytes) => once(bytes),
                    ReadAhead::Partial(stream) => stream,
                },
            }),
        }
    }

    /// The provider's answer for the caller: counted in the metrics when its
    /// head arrives, logged when its body has been streamed.
    fn respond(
        &self,
        answer: Answer,
        record: &ConnectionRecord,
        logged: Logged<'_>,
    ) -> ProxyResponse {
        let Logged {
            method,
            request_id,
            started,
            sent_bytes,
        } = logged;
        let (status, provider_headers, response_body) = answer.into_parts();
        let latency = started.elapsed();
        self.metrics()
            .proxy_call(&record.provider, status.as_u16(), latency);
        let log = {
            let method = method.clone();
            let request_id = request_id.to_owned();
            let provider = record.provider.clone();
            let connection = record.id.clone();
            move |completed: bool, bytes_received: u64| {
                tracing::info!(
                    target: "grantd::proxy",
                    method = %method,
                    provider = %provider,
                    connection = %connection,
                    status = status.as_u16(),
                    latency_ms = latency.as_millis() as u64,
                    duration_ms = started.elapsed().as_millis() as u64,
                    bytes_sent = sent_bytes.load(Ordering::Relaxed),
                    bytes_received,
                    completed,
                    request_id = %request_id,
                    "proxied call"
                );
            }
        };
        ProxyResponse {
            status,
            headers: headers::to_caller(provider_headers),
            body: Box::pin(body::Finally::new(response_body, log)),
        }
    }

    /// The connection the caller named, in its own project, with its
    /// credentials opened: from memory when this process has it (see
    /// [`connections`]), else from the database.
    async fn proxied_connection(
        &self,
        project_id: &str,
        selector: &ConnectionSelector,
    ) -> DomainResult<Arc<Proxied>> {
        let remembered = &self.inner.proxy.connections;
        let canonical = match selector {
            ConnectionSelector::Id(_) => None,
            ConnectionSelector::GroupAndProvider { provider, .. } => {
                Some(self.catalog().canonical(provider.clone()))
            }
        };
        if let Some(found) = remembered.get(project_id, selector, canonical.as_deref()) {
            return Ok(found);
        }
        let mark = remembered.mark();
        let record =
            Box::pin(self.read_proxied_connection(project_id, selector, canonical.clone())).await?;
        let credentials = self.open_credentials(&record)?;
        let base = self
            .catalog()
            .get(&record.provider)
            .and_then(|provider| base_url(provider, &record).ok());
        let proxied = Arc::new(Proxied {
            record,
            credentials,
            base,
        });
        remembered.remember(mark, selector, canonical.as_deref(), proxied.clone());
        Ok(proxied)
    }

    async fn read_proxied_connection(
        &self,
        project_id: &str,
        selector: &ConnectionSelector,
        canonical_provider: Option<String>,
    ) -> DomainResult<ConnectionRecord> {
        match selector {
            ConnectionSelector::Id(id) => self
                .store()
                .find_connection(project_id, id)
                .await
                .or_not_found("connection"),
            ConnectionSelector::GroupAndProvider {
                group_ref,
                provider,
            } => {
                let filter = ConnectionFilter {
                    provider: canonical_provider,
                    group_ref: Some(group_ref.clone()),
                    consumer_ref: None,
                };
                let mut found = self.store().list_connections(project_id, &filter).await?;
                match found.len() {
                    0 => Err(DomainError::not_found("connection")),
                    1 => Ok(found.remove(0)),
                    n => {
                        let ids: Vec<&str> = found.iter().map(|r| r.id.as_str()).collect();
                        Err(DomainError::Conflict(format!(
                            "{n} connections of provider {provider} belong to group \
                             {group_ref}: {}; name one in x-amp-connection-id",
                            ids.join(", ")
                        )))
                    }
                }
            }
        }
    }

    /// One request to the provider, within the first-byte and total
    /// timeouts (the connect timeout is the client's).
    async fn send(
        &self,
        outgoing: &Outgoing<'_>,
        mut headers: HeaderMap,
        credentials: &Credentials,
        body: &mut OutgoingBody,
    ) -> DomainResult<Answer> {
        let settings = &self.settings().proxy;
        let mut target = outgoing.target.clone();
        attach_credentials(outgoing.provider, credentials, &mut headers, &mut target)?;
        let mut request = hyper::Request::new(body.take());
        *request.method_mut() = outgoing.method.clone();
        *request.uri_mut() = target.into_uri()?;
        *request.headers_mut() = headers;
        let deadline = tokio::time::Instant::now() + settings.total_timeout;
        let first_byte = settings.first_byte_timeout.min(settings.total_timeout);
        let call = self.inner.proxy.http.request(request);
        let response = match tokio::time::timeout(first_byte, call).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) if body.too_large.load(Ordering::Relaxed) => {
                return Err(ProxyError::BodyTooLarge {
                    limit: settings.max_request_body,
                }
                .into())
            }
            Ok(Err(error)) => return Err(send_error(&error, settings).into()),
            Err(_) => {
                return Err(ProxyError::Timeout(format!(
                    "the provider sent no response within {} s",
                    first_byte.as_secs_f64()
                ))
                .into())
            }
        };
        Ok(Answer::Live { response, deadline })
    }
}

/// The API base of `record`'s connection: the catalog's template with its
/// workspace and metadata filled in.
fn base_url(provider: &Provider, record: &ConnectionRecord) -> DomainResult<url::Url> {
    let metadata: &ProviderMetadata = &record.provider_metadata;
    let inputs = ProviderInputs::new(record.provider_workspace_ref.as_deref(), metadata);
    provider.proxy_base_url(&inputs, metadata)
}

fn once(bytes: Bytes) -> BodyStream {
    Box::pin(futures_util::stream::iter([Ok(bytes)]))
}

/// A failed send, classified. hyper's errors never carry the URL (which
/// may hold a credential in its query).
fn send_error(
    error: &hyper_util::client::legacy::Error,
    settings: &crate::domain::settings::ProxySettings,
) -> ProxyError {
    let mut causes = Vec::new();
    let mut cause = std::error::Error::source(error);
    while let Some(next) = cause {
        causes.push(next);
        cause = next.source();
    }
    let timed_out = causes.iter().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    });
    if error.is_connect() {
        return if timed_out {
            ProxyError::Timeout(format!(
                "no connection to the provider within {} s",
                settings.connect_timeout.as_secs_f64()
            ))
        } else {
            ProxyError::Unreachable("no connection to the provider".into())
        };
    }
    let mut message = error.to_string();
    for cause in causes {
        message = format!("{message}: {cause}");
    }
    ProxyError::Unreachable(message.chars().take(300).collect())
}

/// The status the caller gets for a call that failed in grantd (for the log).
fn failure_status(error: &DomainError) -> u16 {
    match error {
        DomainError::Proxy(ProxyError::NotProxyable { .. }) => 422,
        DomainError::Proxy(ProxyError::Throttled { .. }) => 429,
        DomainError::Proxy(ProxyError::BodyTooLarge { .. }) => 413,
        DomainError::Proxy(ProxyError::Timeout(_)) => 504,
        DomainError::Proxy(ProxyError::Unreachable(_)) => 502,
        DomainError::Validation(_) => 400,
        DomainError::NotFound { .. } => 404,
        DomainError::Conflict(_) => 409,
        DomainError::Unavailable(_) => 503,
        _ => 500,
    }
}
