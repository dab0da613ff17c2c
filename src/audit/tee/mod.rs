//! `TeeBody<B>`: forwards every frame of a response body unchanged and puts a cheap clone of
//! each data frame (a `Bytes` reference count, no copy) into a queue bounded in bytes.
//!
//! The tee never changes, reorders or withholds a byte for longer than the configured stall
//! time, and knows nothing about XML. When the queue is full it either waits for the audit to
//! take bytes out (`WhenFull::Wait`, at most `stall` without progress) or stops auditing at
//! once (`WhenFull::Skip`); either way a stopped audit is reported as [`End::Lagging`] and the
//! body goes on at full speed. How the body ended is reported exactly once: complete, upstream
//! error, cancelled (dropped before the end: the client went away) or lagging.
//!
//! Frames reach the audit task in batches: the tee wakes it once per [`batch_bytes`] of data
//! (and at the end, and before it waits for budget), not once per frame, so a streamed body
//! costs a context switch per batch rather than per read. The batch counts against the queue
//! like any queued bytes, so `queue_bytes` still bounds everything in flight. When the free
//! budget is below one gathered write (`workers::TURN_BYTES`), a batch handed over also ends
//! the write the connection is gathering (`workers::request_turn`), so the audit task, on the
//! same thread, takes it before more frames are pulled and `skip` is never tripped by a write
//! that gathered past the queue.
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used
)]

use crate::telemetry::metrics::AuditWait;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Sleep;

/// How the forwarded body ended, from the audit's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Every frame was forwarded.
    Complete,
    /// The upstream body failed (reset, protocol error).
    Error,
    /// The body was dropped before its end: the client went away.
    Cancelled,
    /// The queue stayed full: the audit stopped, forwarding went on.
    Lagging,
}

/// What travels from the tee to the audit task.
#[derive(Debug)]
pub enum Message {
    /// Data frames in body order, and the queue budget they hold (to give back once
    /// processed).
    Data(Vec<Bytes>, Budget),
    End(End),
}

/// Bytes gathered before the audit task is woken: a quarter of the queue, at most 1 MiB.
/// Small enough that `skip` keeps three quarters of the queue as slack, large enough that a
/// streamed body wakes the audit about a thousand times per GiB at the default 4 MiB queue,
/// not once per frame (a 256 MiB stream: 835 context switches with 256 KiB batches, 374 with
/// 1 MiB, at the same rate; `ONLY=stream STREAM_MIB=256 bash bench/run.sh`).
pub(crate) fn batch_bytes(queue_bytes: usize) -> usize {
    (queue_bytes / 4).clamp(1, 1024 * 1024)
}

/// Bytes of queue budget held by one message; dropping it gives them back.
pub struct Budget {
    queue: Arc<Semaphore>,
    bytes: u32,
}

impl Budget {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> u32 {
        self.bytes
    }

    /// Takes over `other`'s bytes, to give them all back at once (a moved audit gives budget
    /// back in lumps: `audit::task`). Both must belong to one queue.
    pub(crate) fn absorb(&mut self, mut other: Budget) {
        debug_assert!(Arc::ptr_eq(&self.queue, &other.queue));
        self.bytes = self.bytes.saturating_add(std::mem::take(&mut other.bytes));
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        self.queue.add_permits(self.bytes as usize);
    }
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Budget({})", self.bytes)
    }
}

/// What to do when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for the audit, at most this long without progress.
    Wait(Duration),
    /// Stop the audit at once.
    Skip,
}

/// The receiving end, owned by the audit task.
pub(crate) type Receiver = mpsc::UnboundedReceiver<Message>;

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// The sending side: present while the audit is running.
struct Tap {
    tx: mpsc::UnboundedSender<Message>,
    /// Permits = free bytes in the queue. The tee takes them, the audit gives them back.
    queue: Arc<Semaphore>,
    capacity: u32,
    when_full: WhenFull,
    /// Frames forwarded but not yet handed to the audit, with the budget they hold.
    pending: Vec<Bytes>,
    pending_bytes: u32,
    batch: u32,
}

impl Tap {
    /// Hands the pending frames to the audit (waking it). False: the audit task is gone.
    fn flush(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        let budget = Budget {
            queue: self.queue.clone(),
            bytes: std::mem::take(&mut self.pending_bytes),
        };
        let chunks = std::mem::take(&mut self.pending);
        // The audit task runs on this thread. When what is free in the queue would not take
        // another full gathered write, it should take this batch before more is pulled.
        if self.queue.available_permits() < crate::workers::TURN_BYTES {
            crate::workers::request_turn();
        }
        self.tx.send(Message::Data(chunks, budget)).is_ok()
    }
}

/// A frame held back while the tee waits for queue budget (`WhenFull::Wait` only).
struct Held {
    frame: Frame<Bytes>,
    acquire: Acquire,
    stall: Pin<Box<Sleep>>,
    since: std::time::Instant,
}

/// The body wrapper. See the module docs.
pub struct TeeBody<B> {
    inner: B,
    tap: Option<Tap>,
    held: Option<Held>,
    /// Where the time frames were held back is added (`davaudit_audit_wait_seconds_total`).
    wait: Option<AuditWait>,
}

impl<B> fmt::Debug for TeeBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeeBody")
            .field("auditing", &self.tap.is_some())
            .field("waiting", &self.held.is_some())
            .finish()
    }
}

impl<B: Body<Data = Bytes>> TeeBody<B> {
    /// Wraps `inner`; the returned receiver yields its data frames and then one `End`.
    /// `queue_bytes` is clamped to `1..=u32::MAX`.
    pub fn new(inner: B, queue_bytes: usize, when_full: WhenFull) -> (Self, Receiver) {
        let capacity = u32::try_from(queue_bytes).unwrap_or(u32::MAX).max(1);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut tee = TeeBody {
            inner,
            tap: Some(Tap {
                tx,
                queue: Arc::new(Semaphore::new(capacity as usize)),
                capacity,
                when_full,
                pending: Vec::new(),
                pending_bytes: 0,
                batch: u32::try_from(batch_bytes(capacity as usize)).unwrap_or(u32::MAX),
            }),
            held: None,
            wait: None,
        };
        // hyper never polls a body that says it is already at its end: report it now.
        if tee.inner.is_end_stream() {
            tee.end(End::Complete);
        }
        (tee, rx)
    }
}

impl<B> TeeBody<B> {
    /// Adds the time each frame is held back for the audit to `wait`.
    pub fn metered(mut self, wait: AuditWait) -> Self {
        self.wait = Some(wait);
        self
    }

    /// Reports the end once (after the pending frames) and stops auditing.
    fn end(&mut self, end: End) {
        if let Some(mut tap) = self.tap.take()
            && tap.flush()
        {
            let _ = tap.tx.send(Message::End(end));
        }
    }

    /// Hands the pending frames to the audit now (before waiting for it to free budget).
    fn flush(&mut self) {
        if let Some(tap) = self.tap.as_mut()
            && !tap.flush()
        {
            // The audit task is gone (it stopped early, e.g. on a malformed body).
            self.tap = None;
        }
    }

    /// Queues a data frame's bytes with the budget they hold; wakes the audit per batch.
    fn send(&mut self, data: Bytes, permit: OwnedSemaphorePermit) {
        if let Some(tap) = self.tap.as_mut() {
            let bytes = u32::try_from(permit.num_permits()).unwrap_or(u32::MAX);
            permit.forget();
            tap.pending.push(data);
            tap.pending_bytes = tap.pending_bytes.saturating_add(bytes);
            if tap.pending_bytes >= tap.batch {
                self.flush();
            }
        }
    }
}

impl<B> Body for TeeBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(held) = this.held.as_mut() {
            let outcome = match held.acquire.as_mut().poll(cx) {
                Poll::Ready(Ok(permit)) => Some(permit),
                Poll::Ready(Err(_closed)) => None,
                Poll::Pending => {
                    ready!(held.stall.as_mut().poll(cx));
                    None
                }
            };
            let Some(held) = this.held.take() else {
                return Poll::Pending;
            };
            if let Some(wait) = &this.wait {
                wait.add(held.since.elapsed());
            }
            match (outcome, held.frame.data_ref().cloned()) {
                (Some(permit), Some(data)) => this.send(data, permit),
                _ => this.end(End::Lagging),
            }
            this.after_frame();
            return Poll::Ready(Some(Ok(held.frame)));
        }

        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            None => {
                this.end(End::Complete);
                return Poll::Ready(None);
            }
            Some(Err(error)) => {
                this.end(End::Error);
                return Poll::Ready(Some(Err(error)));
            }
            Some(Ok(frame)) => frame,
        };
        let (Some(tap), Some(data)) = (this.tap.as_ref(), frame.data_ref()) else {
            this.after_frame();
            return Poll::Ready(Some(Ok(frame)));
        };
        if data.is_empty() {
            this.after_frame();
            return Poll::Ready(Some(Ok(frame)));
        }
        let want = u32::try_from(data.len())
            .unwrap_or(u32::MAX)
            .min(tap.capacity);
        match tap.queue.clone().try_acquire_many_owned(want) {
            Ok(permit) => {
                let data = data.clone();
                this.send(data, permit);
            }
            Err(_) => match tap.when_full {
                WhenFull::Skip => this.end(End::Lagging),
                WhenFull::Wait(stall) => {
                    // The audit can only free budget for bytes it has been given.
                    this.flush();
                    let Some(tap) = this.tap.as_ref() else {
                        this.after_frame();
                        return Poll::Ready(Some(Ok(frame)));
                    };
                    let acquire: Acquire = Box::pin(tap.queue.clone().acquire_many_owned(want));
                    this.held = Some(Held {
                        frame,
                        acquire,
                        stall: Box::pin(tokio::time::sleep(stall)),
                        since: std::time::Instant::now(),
                    });
                    // Poll the acquire once so its waker is registered.
                    return Pin::new(this).poll_frame(cx);
                }
            },
        }
        this.after_frame();
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Body> TeeBody<B> {
    /// hyper stops polling once `is_end_stream` is true, so the end is reported right after
    /// the last frame rather than on a poll that never comes.
    fn after_frame(&mut self) {
        if self.held.is_none() && self.inner.is_end_stream() {
            self.end(End::Complete);
        }
    }
}

impl<B> Drop for TeeBody<B> {
    fn drop(&mut self) {
        self.end(End::Cancelled);
    }
}

#[cfg(test)]
mod tests;
