//! Bodies through the proxy: streamed, never held whole. A request body is
//! read ahead only up to [`REPLAY_LIMIT`], so that a short one can be sent
//! again after a 401 and a refresh; a longer one streams once.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A body as chunks, in either direction.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

/// Largest request body kept in memory for a retry after a refresh.
pub const REPLAY_LIMIT: usize = 64 * 1024;

/// A body read ahead up to a bound.
pub enum ReadAhead {
    /// All of it, within the bound: can be sent more than once.
    Whole(Bytes),
    /// What was read, then the rest: can be sent once.
    Partial(BodyStream),
}

impl ReadAhead {
    pub fn is_whole(&self) -> bool {
        matches!(self, ReadAhead::Whole(_))
    }
}

/// Reads `body` until it ends or passes `bound` bytes.
pub async fn read_ahead(mut body: BodyStream, bound: usize) -> Result<ReadAhead, BoxError> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        total += chunk.len();
        chunks.push(chunk);
        if total > bound {
            let head = futures_util::stream::iter(chunks.into_iter().map(Ok));
            return Ok(ReadAhead::Partial(Box::pin(head.chain(body))));
        }
    }
    Ok(ReadAhead::Whole(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => chunks.concat().into(),
    }))
}

/// Fails the stream once more than `limit` bytes have passed, and says so
/// in `exceeded`, so that the failed send can be reported as a 413.
pub fn limited(body: BodyStream, limit: u64, exceeded: Arc<AtomicBool>) -> BodyStream {
    let mut seen = 0u64;
    Box::pin(body.map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > limit {
            exceeded.store(true, Ordering::Relaxed);
            return Err(BoxError::from(format!(
                "request body larger than {limit} bytes"
            )));
        }
        Ok(chunk)
    }))
}

/// Counts the bytes of a stream into `counter` as they pass.
pub fn counted(body: BodyStream, counter: Arc<AtomicU64>) -> BodyStream {
    Box::pin(body.map(move |chunk| {
        if let Ok(bytes) = &chunk {
            counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        chunk
    }))
}

/// Fails the stream when `deadline` passes before it ends: a call's total
/// timeout covers its body too. The timer is set only if the body has to
/// be waited for (a short answer arrives with its head and never is).
pub fn until(body: BodyStream, deadline: tokio::time::Instant) -> BodyStream {
    Box::pin(Until {
        body,
        deadline,
        timer: None,
        expired: false,
    })
}

struct Until {
    body: BodyStream,
    deadline: tokio::time::Instant,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: bool,
}

impl Stream for Until {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = self.body.as_mut().poll_next(cx) {
            return Poll::Ready(item);
        }
        let deadline = self.deadline;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired = true;
                Poll::Ready(Some(Err(BoxError::from(
                    "the provider did not finish the body within the total timeout",
                ))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A response body that counts its bytes and runs `on_end` once, with
/// whether it was read to its end and how many bytes passed, when it
/// ends, fails, or is dropped by a caller that went away.
pub struct Finally<F: FnOnce(bool, u64)> {
    body: BodyStream,
    on_end: Option<F>,
    completed: bool,
    passed: u64,
}

impl<F: FnOnce(bool, u64)> Finally<F> {
    pub fn new(body: BodyStream, on_end: F) -> Self {
        Finally {
            body,
            on_end: Some(on_end),
            completed: false,
            passed: 0,
        }
    }
}

impl<F: FnOnce(bool, u64) + Unpin> Stream for Finally<F> {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.body.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(None) => self.completed = true,
            Poll::Ready(Some(Ok(chunk))) => self.passed += chunk.len() as u64,
            _ => {}
        }
        polled
    }
}

impl<F: FnOnce(bool, u64)> Drop for Finally<F> {
    fn drop(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            on_end(self.completed, self.passed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(sizes: &[usize]) -> BodyStream {
        let items: Vec<Result<Bytes, BoxError>> = sizes
            .iter()
            .map(|n| Ok(Bytes::from(vec![b'x'; *n])))
            .collect();
        Box::pin(futures_util::stream::iter(items))
    }

    async fn collect(body: BodyStream) -> usize {
        body.map(|c| c.unwrap().len())
            .fold(0, |a, n| async move { a + n })
            .await
    }

    #[tokio::test]
    async fn a_short_body_is_kept_whole_and_a_long_one_streams_on_without_loss() {
        match read_ahead(chunks(&[10, 20]), 64).await.unwrap() {
            ReadAhead::Whole(bytes) => assert_eq!(bytes.len(), 30),
            ReadAhead::Partial(_) => panic!("30 bytes fit in 64"),
        }
        match read_ahead(chunks(&[40, 40, 40]), 64).await.unwrap() {
            ReadAhead::Partial(rest) => assert_eq!(collect(rest).await, 120),
            ReadAhead::Whole(_) => panic!("120 bytes do not fit in 64"),
        }
    }

    #[tokio::test]
    async fn a_body_that_outlasts_the_deadline_fails_and_ends() {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
        let slow = futures_util::stream::iter([Ok(Bytes::from_static(b"head"))])
            .chain(futures_util::stream::pending());
        let mut body = until(Box::pin(slow), deadline);
        assert_eq!(body.next().await.unwrap().unwrap(), "head");
        assert!(body.next().await.unwrap().is_err());
        assert!(body.next().await.is_none());
        assert!(tokio::time::Instant::now() >= deadline);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_fails_and_says_so() {
        let exceeded = Arc::new(AtomicBool::new(false));
        let mut body = limited(chunks(&[50, 50]), 60, exceeded.clone());
        assert!(body.next().await.unwrap().is_ok());
        assert!(body.next().await.unwrap().is_err());
        assert!(exceeded.load(Ordering::Relaxed));
    }
}
