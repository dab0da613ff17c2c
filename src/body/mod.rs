//! Body guards for both legs of a proxied exchange: an idle timeout (no frame for
//! `upstream.idle_timeout`), a size limit on request bodies (`limits.max_request_body`), and
//! on response bodies the report of a failure mid-body, so it is logged and counted once.
//!
//! There is deliberately no whole-body timeout: WebDAV uploads and downloads can take hours.
//! The idle timer is re-armed lazily: each frame only records `Instant::now()`, and the timer
//! is moved forward when it fires early, so a fast stream costs no timer-wheel work per frame.
//!
//! `watch`: an h2 response body that hyper stops pulling (the client grants no window) is
//! given up after the idle time all the same.
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used
)]

pub(crate) mod watch;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Why a guarded body stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The request body is larger than `limits.max_request_body`.
    #[error("request body larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// No frame for the idle timeout.
    #[error("no body bytes for {0:?}")]
    Idle(Duration),
    /// The peer's body failed (connection reset, malformed chunking).
    #[error(transparent)]
    Inner(#[from] hyper::Error),
}

/// Lazily armed and re-armed idle timer: nothing is allocated or registered with the timer
/// wheel until the body first has to wait (a small body that arrives whole never does).
struct IdleTimer {
    idle: Duration,
    last: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl IdleTimer {
    fn new(idle: Duration) -> Self {
        IdleTimer {
            idle,
            last: Instant::now(),
            sleep: None,
        }
    }

    fn touch(&mut self) {
        self.last = Instant::now();
    }

    /// Ready when `idle` has passed since the last frame.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.last.checked_add(self.idle) else {
            // An idle time past the end of time: never.
            return Poll::Pending;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            ready!(sleep.as_mut().poll(cx));
            match self.last.checked_add(self.idle) {
                Some(deadline) if deadline > Instant::now() => sleep.as_mut().reset(deadline),
                _ => return Poll::Ready(()),
            }
        }
    }
}

/// The request body on its way upstream.
pub(crate) struct RequestBody<B = hyper::body::Incoming> {
    /// `None`: an empty body (a request replayed on a fresh upstream connection).
    inner: Option<B>,
    limit: Option<u64>,
    seen: u64,
    timer: IdleTimer,
    /// Shared count of the bytes read (the access log's); `None` when nobody reads it.
    tally: Option<Arc<AtomicU64>>,
}

impl<B> fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody")
            .field("limit", &self.limit)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl<B> RequestBody<B> {
    /// A body with no bytes.
    pub(crate) fn empty(idle: Duration) -> Self {
        RequestBody {
            inner: None,
            limit: None,
            seen: 0,
            timer: IdleTimer::new(idle),
            tally: None,
        }
    }

    /// Also adds every data frame's length to `tally` (the access log's count).
    pub(crate) fn with_tally(mut self, tally: Option<Arc<AtomicU64>>) -> Self {
        self.tally = tally;
        self
    }

    pub(crate) fn new(inner: B, limit: Option<u64>, idle: Duration) -> Self {
        RequestBody {
            inner: Some(inner),
            limit,
            seen: 0,
            timer: IdleTimer::new(idle),
            tally: None,
        }
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.timer.touch();
                if let Some(data) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(data.len() as u64);
                    if let Some(tally) = &this.tally {
                        tally.fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                    if let Some(limit) = this.limit
                        && this.seen > limit
                    {
                        return Poll::Ready(Some(Err(Error::TooLarge { limit })));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(Error::Inner(error)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(this.timer.poll_expired(cx));
                Poll::Ready(Some(Err(Error::Idle(this.timer.idle))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

/// How a response body failed mid-way; reported once to the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The upstream stopped sending for the idle timeout.
    Idle,
    /// The upstream's body broke (reset, bad chunking).
    Broken,
}

/// Told once when a response body fails mid-way. Held by value in the body (no box per
/// response); any `FnOnce(Failure, &Error)` is one.
pub(crate) trait OnFailure: Send {
    fn report(self, failure: Failure, error: &Error);
}

impl<F: FnOnce(Failure, &Error) + Send> OnFailure for F {
    fn report(self, failure: Failure, error: &Error) {
        self(failure, error);
    }
}

/// The response body on its way to the client.
pub(crate) struct ResponseBody<B, R> {
    inner: B,
    timer: IdleTimer,
    /// Called once if the body fails; `None` afterwards.
    on_failure: Option<R>,
}

impl<B, R> fmt::Debug for ResponseBody<B, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

impl<B, R> ResponseBody<B, R> {
    pub(crate) fn new(inner: B, idle: Duration, on_failure: R) -> Self {
        ResponseBody {
            inner,
            timer: IdleTimer::new(idle),
            on_failure: Some(on_failure),
        }
    }
}

impl<B, R> Body for ResponseBody<B, R>
where
    B: Body<Data = Bytes, Error = hyper::Error> + Unpin,
    R: OnFailure + Unpin,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let (failure, error) = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.timer.touch();
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(error))) => (Failure::Broken, Error::Inner(error)),
            Poll::Pending => {
                ready!(this.timer.poll_expired(cx));
                (Failure::Idle, Error::Idle(this.timer.idle))
            }
        };
        if let Some(report) = this.on_failure.take() {
            report.report(failure, &error);
        }
        Poll::Ready(Some(Err(error)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test(start_paused = true)]
    async fn idle_timer_fires_only_after_a_quiet_period() {
        let mut timer = IdleTimer::new(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(6)).await;
        timer.touch();
        tokio::time::advance(Duration::from_secs(6)).await;
        let fired = std::future::poll_fn(|cx| Poll::Ready(timer.poll_expired(cx).is_ready())).await;
        assert!(!fired, "a frame 6 s ago keeps the body alive");
        tokio::time::advance(Duration::from_secs(5)).await;
        let fired = std::future::poll_fn(|cx| Poll::Ready(timer.poll_expired(cx).is_ready())).await;
        assert!(fired);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_response_body_fails_with_idle_and_reports_once() {
        let stalled = StreamBody::new(futures_util::stream::pending::<
            Result<Frame<Bytes>, hyper::Error>,
        >());
        let reports = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = reports.clone();
        let body = ResponseBody::new(
            stalled,
            Duration::from_secs(3),
            move |failure, _e: &Error| {
                assert_eq!(failure, Failure::Idle);
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            },
        );
        let result = body.collect().await;
        assert!(matches!(result, Err(Error::Idle(_))));
        assert_eq!(reports.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
