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
//! Only a body hyper is not pulling is given up: one that was never polled, or whose last
//! poll handed over a frame, or that woke hyper since its last poll (`Pending`) and was not
//! polled again (hyper waits for window before it polls a body). A body that is `Pending`
//! and has not woken hyper waits for its own source (the upstream, whose idle timer runs; the
//! audit, with its own bound): a slow upstream stays an upstream timeout, never blamed on
//! the client. The body is polled with a waker of the watch's own that notes the wake.
//!
//! The proxy watches the whole response as the client gets it (access line and audit
//! included), so giving it up ends the exchange as an HTTP/1 connection closed by
//! `listener::stall` does: the access line is written at once with `end=client_gone` and
//! an audited body is counted `truncated` (`davaudit_multistatus_total`).
//!
//! HTTP/1 bodies are not watched (`Watched::plain`): there a stalled client fills its socket
//! and `listener::stall` ends the connection.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
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

/// `Clock::since` while the body is `Pending` and has not woken hyper: it waits for its own
/// source, not for hyper, and is never given up.
const WAITING: u64 = u64::MAX;

/// Since when hyper has had something to pull, and hyper's waker; the waker the body is
/// polled with.
struct Clock {
    /// Milliseconds since `epoch` since which the body has been ready for hyper (made,
    /// handed a frame, or woke hyper), or [`WAITING`].
    since: AtomicU64,
    epoch: Instant,
    /// The waker of hyper's last poll.
    hyper: Mutex<Option<Waker>>,
}

impl Clock {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(WAITING - 1)
    }

    /// When the body is given up if hyper does not pull it before; `None` while it waits for
    /// its source (or past the end of time).
    fn deadline(&self, idle: Duration) -> Option<Instant> {
        match self.since.load(Ordering::Acquire) {
            WAITING => None,
            millis => self
                .epoch
                .checked_add(Duration::from_millis(millis))?
                .checked_add(idle),
        }
    }

    fn hyper(&self) -> MutexGuard<'_, Option<Waker>> {
        self.hyper.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake_hyper(&self) {
        let waker = self.hyper().clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Wake for Clock {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// The body has something for hyper: the clock starts (unless it runs already).
    fn wake_by_ref(self: &Arc<Self>) {
        let _ =
            self.since
                .compare_exchange(WAITING, self.now(), Ordering::AcqRel, Ordering::Acquire);
        self.wake_hyper();
    }
}

/// What the body and its watch task share.
pub(crate) struct Shared<B> {
    /// The body; `None` once given up.
    state: Mutex<Option<B>>,
    clock: Arc<Clock>,
    /// `clock` as a waker, made once.
    relay: Waker,
    /// Told when the body is dropped, so the task ends at once.
    dropped: Notify,
}

impl<B> Shared<B> {
    fn lock(&self) -> MutexGuard<'_, Option<B>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops the body (outside the lock) and wakes hyper, which then sees the error; unless a
    /// poll came in meanwhile (checked under the lock). True when given up.
    fn give_up(&self, idle: Duration) -> bool {
        let taken = {
            let mut state = self.lock();
            if self.clock.deadline(idle).is_none_or(|d| d > Instant::now()) {
                return false;
            }
            state.take()
        };
        if taken.is_some() {
            drop(taken);
            self.clock.wake_hyper();
        }
        true
    }
}

impl<B: Send + 'static> Watched<B> {
    /// Not watched (HTTP/1).
    pub(crate) fn plain(body: B) -> Self {
        Watched::Plain(body)
    }

    /// Watched by a task of its own (h2): given up after `idle` without a pull.
    pub(crate) fn watch(body: B, idle: Duration) -> Self {
        let clock = Arc::new(Clock {
            since: AtomicU64::new(0),
            epoch: Instant::now(),
            hyper: Mutex::new(None),
        });
        let shared = Arc::new(Shared {
            state: Mutex::new(Some(body)),
            relay: Waker::from(clock.clone()),
            clock,
            dropped: Notify::new(),
        });
        let watched = shared.clone();
        tokio::spawn(async move {
            loop {
                // Waiting for its source: looked at again an idle time later.
                let wake = watched
                    .clock
                    .deadline(idle)
                    .or_else(|| Instant::now().checked_add(idle));
                let Some(wake) = wake else {
                    return; // An idle time past the end of time: never.
                };
                tokio::select! {
                    () = watched.dropped.notified() => return,
                    () = tokio::time::sleep_until(wake) => {
                        if watched.give_up(idle) {
                            tracing::debug!(?idle, "h2 response body not pulled for the idle timeout; given up");
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
            let taken = shared.lock().take();
            drop(taken);
            // A permit is stored if the task is not waiting yet: it is never missed.
            shared.dropped.notify_one();
        }
    }
}

impl<B> Body for Watched<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: From<Error>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.get_mut() {
            Watched::Plain(body) => Pin::new(body).poll_frame(cx),
            Watched::Watched { shared, idle } => {
                let mut state = shared.lock();
                let Some(body) = state.as_mut() else {
                    return Poll::Ready(Some(Err(Error::Idle(*idle).into())));
                };
                {
                    let mut hyper = shared.clock.hyper();
                    match &*hyper {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => *hyper = Some(cx.waker().clone()),
                    }
                }
                let clock = &shared.clock;
                // Set before the poll: a wake during it starts the clock again.
                clock.since.store(WAITING, Ordering::Release);
                let polled = Pin::new(body).poll_frame(&mut Context::from_waker(&shared.relay));
                if polled.is_ready() {
                    clock.since.store(clock.now(), Ordering::Release);
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Watched::Plain(body) => body.is_end_stream(),
            Watched::Watched { shared, .. } => shared
                .lock()
                .as_ref()
                .is_some_and(|body| body.is_end_stream()),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Watched::Plain(body) => body.size_hint(),
            Watched::Watched { shared, .. } => shared
                .lock()
                .as_ref()
                .map_or_else(SizeHint::default, |body| body.size_hint()),
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

    /// A body waiting for its source (an upstream that sends nothing) until the test opens
    /// it; says when it is dropped.
    struct Gate {
        open: Arc<Mutex<(bool, Option<Waker>)>>,
        dropped: Arc<AtomicBool>,
    }

    impl Drop for Gate {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    impl Body for Gate {
        type Data = Bytes;
        type Error = Error;
        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
            let mut open = self.open.lock().unwrap();
            if open.0 {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))));
            }
            open.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// An h2 body waiting for its upstream is the upstream's business (its own idle timer
    /// reports it as an upstream timeout): never given up as if the client were not pulling.
    /// Once it has woken hyper and hyper does not come back for the idle time (no window),
    /// it is.
    #[tokio::test(start_paused = true)]
    async fn a_body_waiting_for_its_source_is_kept_and_one_hyper_does_not_pull_after_a_wake_is_not()
    {
        let open = Arc::new(Mutex::new((false, None::<Waker>)));
        let dropped = Arc::new(AtomicBool::new(false));
        let mut body = Watched::watch(
            Gate {
                open: open.clone(),
                dropped: dropped.clone(),
            },
            Duration::from_secs(3),
        );
        let first =
            std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await;
        assert!(first.is_pending());
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(
            !dropped.load(Ordering::SeqCst),
            "waiting for its source: kept"
        );
        // The source has something; hyper is woken but does not poll.
        let waker = {
            let mut open = open.lock().unwrap();
            open.0 = true;
            open.1.take().unwrap()
        };
        waker.wake();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!dropped.load(Ordering::SeqCst), "woken 2 s ago: kept");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            dropped.load(Ordering::SeqCst),
            "woken 4 s ago, never pulled: given up"
        );
        assert!(matches!(body.frame().await, Some(Err(Error::Idle(_)))));
    }
}
