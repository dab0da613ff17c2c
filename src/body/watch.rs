//! `Watched<B>`: a response body on an h2 stream, given up when hyper has not pulled it for
//! the idle time, whether or not anything polls it.
//!
//! Why: an h2 client that keeps reading its socket but grants a stream no flow-control
//! window makes hyper stop pulling that stream's body (it waits for capacity first), so the
//! body's own idle timer, which runs only when the body is polled, never fires; and the
//! socket stays writable, so `listener::stall` does not see it either. The exchange (its
//! upstream connection and its `limits.max_upstream_requests` slot) was held for as long as
//! the client kept the connection open. `upstream.idle_timeout` says no body bytes for that
//! long ends the exchange: a task per h2 response watches when the body was last pulled and,
//! after the idle time without a pull, drops the body (closing its upstream connection and
//! giving the slot back). The stream ends with an error (RST_STREAM) when hyper next polls
//! it (the client grants window) or when the client resets or closes it.
//!
//! HTTP/1 bodies are not watched (`Watched::plain`): there a stalled client fills its socket
//! and `listener::stall` ends the connection.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Error;

/// A body, watched or not.
pub(crate) enum Watched<B> {
    /// Not watched: polls go straight through.
    Plain(B),
    /// Given up by the watch task after the idle time without a pull.
    Watched {
        shared: Arc<Shared<B>>,
        idle: Duration,
    },
}

impl<B> std::fmt::Debug for Watched<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched").finish_non_exhaustive()
    }
}

/// What the body and its watch task share.
pub(crate) struct Shared<B> {
    /// The body and the waker of its last poll; `None` once given up.
    state: Mutex<Option<(B, Option<Waker>)>>,
    /// When the body was last pulled, in milliseconds since `epoch`.
    pulled: AtomicU64,
    epoch: Instant,
    /// Told when the body is dropped, so the task ends at once.
    dropped: Notify,
}

impl<B> Shared<B> {
    fn touch(&self) {
        let millis = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.pulled.store(millis, Ordering::Relaxed);
    }

    fn deadline(&self, idle: Duration) -> Option<Instant> {
        let pulled = Duration::from_millis(self.pulled.load(Ordering::Relaxed));
        self.epoch.checked_add(pulled)?.checked_add(idle)
    }

    /// Drops the body (outside the lock) and wakes its last poller, which then sees the error.
    fn give_up(&self) {
        let taken = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((body, waker)) = taken {
            drop(body);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl<B: Send + 'static> Watched<B> {
    /// Not watched (HTTP/1).
    pub(crate) fn plain(body: B) -> Self {
        Watched::Plain(body)
    }

    /// Watched by a task of its own (h2): given up after `idle` without a pull.
    pub(crate) fn watch(body: B, idle: Duration) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(Some((body, None))),
            pulled: AtomicU64::new(0),
            epoch: Instant::now(),
            dropped: Notify::new(),
        });
        let watched = shared.clone();
        tokio::spawn(async move {
            loop {
                let Some(deadline) = watched.deadline(idle) else {
                    return; // An idle time past the end of time: never.
                };
                tokio::select! {
                    () = watched.dropped.notified() => return,
                    () = tokio::time::sleep_until(deadline) => {
                        if watched.deadline(idle).is_some_and(|d| d <= Instant::now()) {
                            tracing::debug!(?idle, "h2 response body not pulled for the idle timeout; given up");
                            watched.give_up();
                            return;
                        }
                    }
                }
            }
        });
        Watched::Watched { shared, idle }
    }
}

impl<B> Drop for Watched<B> {
    fn drop(&mut self) {
        if let Watched::Watched { shared, .. } = self {
            // Dropped here, not later in the task: a body that ended gives its upstream
            // connection back to the pool at once.
            let taken = shared
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            drop(taken);
            // A permit is stored if the task is not waiting yet: it is never missed.
            shared.dropped.notify_one();
        }
    }
}

impl<B> Body for Watched<B>
where
    B: Body<Data = Bytes, Error = Error> + Unpin,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self.get_mut() {
            Watched::Plain(body) => Pin::new(body).poll_frame(cx),
            Watched::Watched { shared, idle } => {
                shared.touch();
                let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
                let Some((body, waker)) = state.as_mut() else {
                    return Poll::Ready(Some(Err(Error::Idle(*idle))));
                };
                let polled = Pin::new(body).poll_frame(cx);
                if polled.is_pending() {
                    match waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => *waker = Some(cx.waker().clone()),
                    }
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Watched::Plain(body) => body.is_end_stream(),
            Watched::Watched { shared, .. } => shared
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .is_some_and(|(body, _)| body.is_end_stream()),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Watched::Plain(body) => body.size_hint(),
            Watched::Watched { shared, .. } => shared
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map_or_else(SizeHint::default, |(body, _)| body.size_hint()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::atomic::AtomicBool;

    /// A body that never ends and says when it is dropped.
    struct Endless(Arc<AtomicBool>);

    impl Drop for Endless {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    impl Body for Endless {
        type Data = Bytes;
        type Error = Error;
        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_nobody_pulls_is_dropped_after_the_idle_time_and_then_fails() {
        let dropped = Arc::new(AtomicBool::new(false));
        let mut body = Watched::watch(Endless(dropped.clone()), Duration::from_secs(3));
        assert!(body.frame().await.is_some_and(|f| f.is_ok()));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!dropped.load(Ordering::SeqCst), "pulled 2 s ago: kept");
        assert!(body.frame().await.is_some_and(|f| f.is_ok()));
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(
            dropped.load(Ordering::SeqCst),
            "not pulled for 4 s: dropped"
        );
        assert!(matches!(body.frame().await, Some(Err(Error::Idle(_)))));
    }
}
