//! hyper's HTTP/1 timer for one connection: the header read timeout
//! (`limits.header_read_timeout`) without timer-wheel work per request.
//!
//! hyper arms the header read timer for every request head (and, between requests, while it
//! waits for the next one) and drops it once the head is in: with hyper-util's `TokioTimer`
//! each request registered a tokio sleep in the runtime's timer wheel and removed it again.
//! Here a connection keeps one tokio sleep for its life; each of hyper's sleeps is only a
//! deadline beside it. Polled, a deadline moves the shared sleep earlier when it has to, and
//! when the shared sleep fires before the deadline being waited for (it was armed for an
//! earlier head) it is moved forward then, as `body`'s idle timer is. A deadline fires at its
//! own time, never earlier, never later; a fast connection costs no wheel work per request.
//!
//! One connection's sleeps are all polled from that connection's task (HTTP/1 reads one head
//! at a time), so the single waker the shared sleep keeps is always the right one. Not for h2,
//! whose streams run as tasks of their own: its builder keeps `TokioTimer`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant as StdInstant};

use hyper::rt::{Sleep as HyperSleep, Timer};
use tokio::time::{Instant, Sleep};

/// The timer of one connection (see the module docs). Clones share the sleep.
#[derive(Clone, Default)]
pub(crate) struct HeadTimer {
    shared: Arc<Mutex<Option<Pin<Box<Sleep>>>>>,
}

impl std::fmt::Debug for HeadTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadTimer").finish_non_exhaustive()
    }
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn HyperSleep>> {
        self.deadline(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: StdInstant) -> Pin<Box<dyn HyperSleep>> {
        self.deadline(Instant::from_std(deadline))
    }

    /// tokio's clock (as `TokioTimer`'s), so a paused test clock applies here too.
    fn now(&self) -> StdInstant {
        Instant::now().into_std()
    }
}

impl HeadTimer {
    fn deadline(&self, at: Instant) -> Pin<Box<dyn HyperSleep>> {
        Box::pin(Deadline {
            at,
            shared: self.shared.clone(),
        })
    }
}

/// One of hyper's sleeps: ready at `at`.
struct Deadline {
    at: Instant,
    shared: Arc<Mutex<Option<Pin<Box<Sleep>>>>>,
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let at = self.at;
        let mut slot = lock(&self.shared);
        let sleep = slot.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if sleep.deadline() > at {
            sleep.as_mut().reset(at);
        }
        loop {
            ready!(sleep.as_mut().poll(cx));
            if Instant::now() >= at {
                return Poll::Ready(());
            }
            // Armed for an earlier head: on to this one's deadline.
            sleep.as_mut().reset(at);
        }
    }
}

impl HyperSleep for Deadline {}

/// The sleep, even if a poll panicked while holding it (it holds no invariant).
fn lock(shared: &Mutex<Option<Pin<Box<Sleep>>>>) -> MutexGuard<'_, Option<Pin<Box<Sleep>>>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `sleep` is ready now (polled once, with a no-op waker).
    fn ready(sleep: &mut Pin<Box<dyn HyperSleep>>) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        sleep.as_mut().poll(&mut cx).is_ready()
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_fires_at_its_time_not_at_an_earlier_heads() {
        let timer = HeadTimer::default();
        let start = Instant::now();
        let mut first = timer.sleep(Duration::from_secs(10));
        assert!(!ready(&mut first), "armed, not due");
        tokio::time::advance(Duration::from_secs(4)).await;
        // The first head is in: hyper drops its sleep and arms the next one.
        drop(first);
        let mut second = timer.sleep(Duration::from_secs(10));
        assert!(!ready(&mut second));
        // The shared sleep fires at the first deadline (10 s): the second is not due yet.
        tokio::time::advance(Duration::from_secs(7)).await;
        assert!(!ready(&mut second), "fired for the first head only");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!ready(&mut second), "13 s: still one second to go");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(ready(&mut second), "due at 14 s");
        assert_eq!(start.elapsed(), Duration::from_secs(14));
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_moves_the_shared_sleep_forward() {
        let timer = HeadTimer::default();
        let mut long = timer.sleep(Duration::from_secs(60));
        assert!(!ready(&mut long));
        drop(long);
        let short = timer.sleep(Duration::from_secs(1));
        // Awaited for real: the wake-up must come from the timer, at 1 s, not at 60 s.
        let start = Instant::now();
        tokio::time::timeout(Duration::from_secs(30), short)
            .await
            .expect("woken at its deadline");
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_until_and_now_use_tokios_clock() {
        let timer = HeadTimer::default();
        let start = timer.now();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(timer.now() - start, Duration::from_secs(5));
        let deadline = timer.now() + Duration::from_secs(3);
        let sleep = timer.sleep_until(deadline);
        tokio::time::timeout(Duration::from_secs(30), sleep)
            .await
            .expect("woken at its deadline");
        assert_eq!(timer.now(), deadline);
    }
}
