//! The HTTP/1.1 server loop, with the limits `axum::serve` lacks.
//!
//! Slow or silent clients must not exhaust file descriptors and lock out
//! everyone else (the OAuth callback included), so every connection is held
//! to three rules:
//! - a request's header must arrive in full within the header-read timeout
//!   of its first byte (or of the connection being accepted);
//! - a connection with no request in flight is closed after the idle
//!   timeout without a byte from the client or to it (this also bounds a
//!   client that stops reading a response);
//! - at most `max_connections` are open at once; at the cap, accepting waits
//!   until one closes, and new clients wait in the kernel's backlog.
//!
//! hyper's own `header_read_timeout` also starts while a kept-alive
//! connection waits for its next request, which would cut keep-alive
//! connections at the header timeout and make the two timeouts one. A
//! proxy that keeps upstream connections open longer than the server does
//! sends requests down connections the server is closing, so the idle
//! timeout must be able to exceed the header timeout: both are kept here.

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

/// Limits on client connections.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Longest time from a request's first byte (or from the accept) to the
    /// end of its header. 10 s: a header is one round trip for any real
    /// client, with room for a slow mobile link.
    pub header_read_timeout: Duration,
    /// Longest silence on a connection with no request in flight. 75 s:
    /// above the 60 s idle timeout common to load balancers and proxies
    /// (nginx upstream keep-alive, AWS ALB), so they close first and never
    /// send a request down a connection grantd is closing.
    pub idle_timeout: Duration,
    /// Most connections open at once. 10,000: far above what one instance
    /// serves behind a proxy, below the file limit most systems give after
    /// grantd raises its soft limit to the hard one.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 10_000,
        }
    }
}

/// What a listener serves: the API router, or the proxy's own service.
pub trait HttpService:
    tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static
{
}

impl<S> HttpService for S where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future: Send,
        > + Clone
        + Send
        + 'static
{
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting and waits up to `drain_timeout` for open connections to
/// finish their requests; connections still busy then are left to be cut
/// when the process exits.
pub async fn serve(
    listener: TcpListener,
    router: impl HttpService,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    drain_timeout: Duration,
) {
    let max = limits
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let permits = Arc::new(Semaphore::new(max));
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(shutdown);
    let mut warned_at: Option<Instant> = None;
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if warned_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    tracing::warn!(
                        max_connections = max,
                        "connection cap reached: new connections wait until one closes"
                    );
                    warned_at = Some(Instant::now());
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    permit = permits.clone().acquire_owned() => {
                        permit.expect("the connection semaphore is never closed")
                    }
                }
            }
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            router.clone(),
            limits.clone(),
            stopped.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit until it ends: all of them back
    // means every connection has finished.
    if tokio::time::timeout(drain_timeout, permits.acquire_many(max as u32))
        .await
        .is_err()
    {
        tracing::warn!(
            still_open = max - permits.available_permits(),
            "requests still in flight at the shutdown deadline are cut"
        );
    }
}

/// Errors of one connection (reset before it was accepted) are skipped;
/// others (out of file descriptors) would repeat at once, so the loop
/// pauses, as `axum::serve` does.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    router: impl HttpService,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    // Responses are written as they are produced (a proxied body chunk by
    // chunk): without this, Nagle's algorithm holds a small write back until
    // the peer acknowledges the previous one, which a delayed ACK can put
    // off for tens of milliseconds.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    let progress = Arc::new(Progress::new());
    let io = TokioIo::new(Watched {
        stream,
        progress: progress.clone(),
    });
    let service = {
        let progress = progress.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = InFlight::start(progress.clone());
            let mut request = request.map(Body::new);
            // The peer's address, for the audit trail and the per-address
            // rate limits.
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            let response = router.clone().oneshot(request);
            async move {
                let response = response.await;
                drop(in_flight);
                response
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        // Enforced below, where it does not also cut idle keep-alive connections.
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    // One timer for the connection's life. Deadlines move on every request;
    // the timer is only ever pulled earlier when one comes closer (a header
    // begins), never pushed out: when it fires early, the deadline is read
    // again and the timer set to it. Re-arming it on every request cost a
    // timer-wheel insert and removal each time.
    let timer = tokio::time::sleep_until(
        progress
            .deadline(&limits)
            .unwrap_or_else(|| Instant::now() + limits.header_read_timeout),
    );
    tokio::pin!(timer);
    loop {
        let changed = progress.changed.notified();
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !draining => {
                // Idle connections close now, busy ones after their response.
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            () = changed => {
                if let Some(deadline) = progress.deadline(&limits) {
                    if deadline < timer.deadline() {
                        timer.as_mut().reset(deadline);
                    }
                }
            }
            () = timer.as_mut() => {
                match progress.deadline(&limits) {
                    Some(deadline) if deadline <= Instant::now() => {
                        tracing::debug!("closing a connection that outlived its timeout");
                        // Dropping the connection closes the socket.
                        return;
                    }
                    Some(deadline) => timer.as_mut().reset(deadline),
                    // A request in flight: look again later (its end
                    // notifies, which brings the timer in if need be).
                    None => timer
                        .as_mut()
                        .reset(Instant::now() + limits.header_read_timeout),
                }
            }
        }
    }
}

/// No time recorded.
const NEVER: u64 = u64::MAX;

/// What a connection is doing, in milliseconds since it was accepted:
/// written by its socket (reads and writes) and its service (requests),
/// read by its watchdog to find the next deadline.
struct Progress {
    accepted: Instant,
    /// When the header now being read began; `NEVER` between requests.
    header_since: AtomicU64,
    /// Requests whose response has not been produced yet.
    in_flight: AtomicUsize,
    /// When the last response was produced.
    last_response: AtomicU64,
    /// When bytes last went out.
    last_write: AtomicU64,
    /// Wakes the watchdog when a deadline moves earlier or appears.
    changed: Notify,
}

impl Progress {
    fn new() -> Self {
        Progress {
            accepted: Instant::now(),
            // A new connection is expected to send its header promptly.
            header_since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            last_response: AtomicU64::new(0),
            last_write: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    fn at(&self, millis: u64) -> Instant {
        self.accepted + Duration::from_millis(millis)
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.header_since.load(Ordering::Relaxed) == NEVER
        {
            self.header_since.store(self.now(), Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    fn bytes_written(&self) {
        self.last_write.store(self.now(), Ordering::Relaxed);
    }

    /// When the connection must be closed unless something happens first;
    /// `None` while a request is being handled (bounded by the router's
    /// request timeout).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let header_since = self.header_since.load(Ordering::Relaxed);
        if header_since != NEVER {
            return Some(self.at(header_since) + limits.header_read_timeout);
        }
        let last = self
            .last_response
            .load(Ordering::Relaxed)
            .max(self.last_write.load(Ordering::Relaxed));
        Some(self.at(last) + limits.idle_timeout)
    }
}

/// A request being handled: its header is complete, and the connection is
/// busy until the guard drops (response produced, or request abandoned).
struct InFlight(Arc<Progress>);

impl InFlight {
    fn start(progress: Arc<Progress>) -> Self {
        progress.in_flight.fetch_add(1, Ordering::Relaxed);
        progress.header_since.store(NEVER, Ordering::Relaxed);
        InFlight(progress)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let progress = &self.0;
        progress
            .last_response
            .store(progress.now(), Ordering::Relaxed);
        progress.in_flight.fetch_sub(1, Ordering::Relaxed);
        progress.changed.notify_one();
    }
}

/// A client socket that reports its reads and writes to [`Progress`].
struct Watched {
    stream: TcpStream,
    progress: Arc<Progress>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.progress.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.progress.bytes_written();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.progress.bytes_written();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Raises the soft limit on open files to the hard limit, so the connection
/// cap, not the default soft limit (often 1,024), bounds how many clients
/// grantd holds. Returns the new soft limit.
pub fn raise_open_files_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 1,
        }
    }

    #[tokio::test]
    async fn a_new_connection_gets_the_header_timeout_then_the_idle_timeout_between_requests() {
        let progress = Arc::new(Progress::new());
        let accepted = progress.accepted;
        let limits = limits();
        assert_eq!(
            progress.deadline(&limits),
            Some(accepted + limits.header_read_timeout)
        );
        let request = InFlight::start(progress.clone());
        assert_eq!(progress.deadline(&limits), None, "no deadline while busy");
        // Bytes of a request body while it is handled start no header.
        progress.bytes_read();
        drop(request);
        let idle = progress.deadline(&limits).unwrap();
        assert!(idle >= accepted + limits.idle_timeout, "idle deadline");
        progress.bytes_read();
        let header = progress.deadline(&limits).unwrap();
        assert!(
            header < accepted + limits.idle_timeout,
            "the next request's first byte starts the header timeout"
        );
    }
}
