//! What one connection is doing, and closing it when it does nothing: the requests in
//! flight on it ([`Activity`], one [`Busy`] per request, held until the response body is
//! dropped by hyper), and [`drive`], which runs the connection against three deadlines:
//!
//! - no request within `first` of the accept: the connection is dropped (a silent client,
//!   half an h2 preface, an h2c client that never opens a stream);
//! - after that, no request in flight for `idle`: graceful close (GOAWAY on h2; HTTP/1.1
//!   closes between requests). hyper has no idle timeout for h2, and its header-read timer
//!   only covers HTTP/1.1, so without this an idle h2 connection would hold a slot for ever.
//!   A connection still open (and still idle) `idle` after that is dropped: h2's graceful
//!   close waits for the client to acknowledge a PING, which a hostile one never does;
//! - the drain token cancelled (shutdown): graceful close.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;

use hyper::body::{Body, Frame, SizeHint};
use hyper_util::server::graceful::GracefulConnection;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Requests in flight on one connection, and since when it has had none. Nothing here wakes
/// the connection's task per request: [`Activity::idle_for`] keeps one timer and checks the
/// counts when it fires (re-armed lazily, as `body`'s idle timer is).
#[derive(Debug)]
pub(crate) struct Activity {
    active: AtomicUsize,
    /// Set by the first request.
    served: AtomicBool,
    /// When the connection was accepted: `idle_since` counts from here.
    base: Instant,
    /// Nanoseconds from `base` to the moment the last request in flight ended (0: none has).
    idle_since: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            active: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            base: Instant::now(),
            idle_since: AtomicU64::new(0),
        }
    }
}

impl Activity {
    /// Marks one request in flight until the returned guard is dropped.
    pub(crate) fn busy(self: &Arc<Self>) -> Busy {
        self.active.fetch_add(1, Ordering::AcqRel);
        if !self.served.load(Ordering::Relaxed) {
            self.served.store(true, Ordering::Release);
        }
        Busy(self.clone())
    }

    fn served(&self) -> bool {
        self.served.load(Ordering::Acquire)
    }

    /// When the connection last became idle (its accept, before any request ended).
    fn idle_since(&self) -> Instant {
        let nanos = self.idle_since.load(Ordering::Acquire);
        self.base + Duration::from_nanos(nanos)
    }

    /// Resolves once no request has been in flight for `idle` without a break, counted
    /// from the call at the earliest.
    async fn idle_for(&self, idle: Duration) {
        let from = Instant::now();
        let sleep = tokio::time::sleep_until(from + idle);
        let mut sleep = std::pin::pin!(sleep);
        loop {
            sleep.as_mut().await;
            let now = Instant::now();
            // Busy: look again in `idle` (a request that ends in between moves the clock).
            let deadline = if self.active.load(Ordering::Acquire) > 0 {
                now + idle
            } else {
                let deadline = self.idle_since().max(from) + idle;
                if deadline <= now {
                    return;
                }
                deadline
            };
            sleep.as_mut().reset(deadline);
        }
    }
}

/// One request in flight; dropped with its response body (or with the handler's future if
/// the client gave up first).
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        // Stamped before the count drops, so `idle_for` never sees 0 with an old stamp.
        let nanos = u64::try_from(activity.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        activity.idle_since.fetch_max(nanos, Ordering::AcqRel);
        activity.active.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in flight until hyper drops it.
    #[derive(Debug)]
    pub struct Tracked<B> {
        #[pin]
        inner: B,
        busy: Busy,
    }
}

impl<B> Tracked<B> {
    pub(crate) fn new(inner: B, busy: Busy) -> Self {
        Tracked { inner, busy }
    }
}

impl<B: Body> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The deadlines of [`drive`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// Accept to first request.
    pub first: Duration,
    /// Without a request in flight, after the first.
    pub idle: Duration,
}

/// Wakes the connection's task for the deadlines of [`drive`] (the drain token, the idle
/// timer), and notes that they are the reason, so they are polled only then.
#[derive(Default)]
struct Wakeup {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// What ended one round of [`drive`]'s wait.
enum Next<E> {
    Ended(Result<(), E>),
    Drain,
    Idle,
}

/// Runs `connection` until it ends, closing it as the module docs say.
///
/// The connection's task is woken a few times per request, each time for the connection;
/// the drain token and the idle timer are polled only once their own waker fired (and once
/// when they are made), not on every wake as `select!` would (small GET: ~750 Ir a request).
pub(crate) async fn drive<C>(
    connection: C,
    activity: &Activity,
    deadlines: Deadlines,
    drain: &CancellationToken,
) -> Result<(), C::Error>
where
    C: GracefulConnection,
{
    let mut connection = std::pin::pin!(connection);
    let mut closing = false;
    let deadline = Arc::new(Wakeup::default());
    let deadline_waker = Waker::from(deadline.clone());
    loop {
        let quiet = if activity.served() {
            deadlines.idle
        } else {
            deadlines.first
        };
        let cancelled = drain.cancelled();
        let mut cancelled = std::pin::pin!(cancelled);
        let idle = activity.idle_for(quiet);
        let mut idle = std::pin::pin!(idle);
        // New futures: polled once, so that they register their waker.
        deadline.woken.store(true, Ordering::Release);
        let next = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = connection.as_mut().poll(cx) {
                return Poll::Ready(Next::Ended(result));
            }
            // Registered before the flag is read: a deadline that fires in between is seen.
            deadline.task.register(cx.waker());
            if deadline.woken.swap(false, Ordering::AcqRel) {
                let mut cx = Context::from_waker(&deadline_waker);
                if !closing && cancelled.as_mut().poll(&mut cx).is_ready() {
                    return Poll::Ready(Next::Drain);
                }
                if idle.as_mut().poll(&mut cx).is_ready() {
                    return Poll::Ready(Next::Idle);
                }
            }
            Poll::Pending
        })
        .await;
        match next {
            Next::Ended(result) => return result,
            Next::Drain => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            Next::Idle => {
                if !activity.served() {
                    tracing::debug!(deadline = ?quiet, "no request in time; connection closed");
                    return Ok(());
                }
                if closing {
                    // h2 waits for the client to answer a PING after the first GOAWAY; a
                    // client that never does must not keep the connection either.
                    tracing::debug!(idle = ?quiet, "connection not closed by the peer; dropped");
                    return Ok(());
                }
                tracing::debug!(idle = ?quiet, "idle connection closed");
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_the_last_request_to_end() {
        let activity = Arc::new(Activity::default());
        let busy = activity.busy();
        let idle = activity.idle_for(Duration::from_secs(1));
        let mut idle = std::pin::pin!(idle);
        // Busy: an hour passes without the connection counting as idle.
        tokio::select! {
            () = idle.as_mut() => panic!("idle while a request is in flight"),
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
        drop(busy);
        idle.await;
        assert!(activity.served());
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_restarts_the_idle_clock() {
        let activity = Arc::new(Activity::default());
        let idle = activity.idle_for(Duration::from_secs(10));
        let mut idle = std::pin::pin!(idle);
        tokio::select! {
            () = idle.as_mut() => panic!("idle too soon"),
            () = tokio::time::sleep(Duration::from_secs(6)) => {}
        }
        drop(activity.busy());
        tokio::select! {
            () = idle.as_mut() => panic!("the request did not restart the clock"),
            () = tokio::time::sleep(Duration::from_secs(6)) => {}
        }
        idle.await;
    }

    #[tokio::test(start_paused = true)]
    async fn overlapping_requests_keep_the_connection_busy_until_the_last_ends() {
        let activity = Arc::new(Activity::default());
        let first = activity.busy();
        let second = activity.busy();
        let idle = activity.idle_for(Duration::from_secs(1));
        let mut idle = std::pin::pin!(idle);
        drop(first);
        tokio::select! {
            () = idle.as_mut() => panic!("idle while the second request is in flight"),
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        drop(second);
        let ended = Instant::now();
        idle.await;
        assert_eq!(
            ended.elapsed(),
            Duration::from_secs(1),
            "idle from the last end"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_long_idle_still_gets_the_whole_wait_from_the_call() {
        let activity = Arc::new(Activity::default());
        drop(activity.busy());
        tokio::time::sleep(Duration::from_secs(100)).await;
        let called = Instant::now();
        activity.idle_for(Duration::from_secs(5)).await;
        assert_eq!(called.elapsed(), Duration::from_secs(5));
    }
}
