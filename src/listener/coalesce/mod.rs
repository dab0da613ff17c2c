//! `Coalesce<B>`: gathers the data frames of a response body that are ready one after the
//! other into one frame, so the connection writes a streamed body in a few large writes
//! instead of one write per upstream read.
//!
//! Why: every write to the client's socket wakes the client, and on a busy machine the woken
//! client takes the CPU from the proxy (a context switch). An upstream that sends a 207 in
//! 8–64 KiB chunks cost one write, and so one such switch, per chunk.
//!
//! Never a delay without bound: when the inner body has nothing ready, the frames gathered so
//! far wait for at most one turn of the scheduler (a deferred wake-up, as
//! `tokio::task::yield_now` makes: the tasks already woken, the upstream connection's among
//! them, run first and may hand over their next read), then go out. The turn is a real one:
//! hyper polls a body twice in one pass, so a flag set by the deferred wake-up itself says
//! when it has passed. The end of the body, an error and trailers go out right after the
//! frames before them. The frames are not copied: the gathered frame is a list of the same
//! `Bytes` (`Chunks`), written with one vectored write. At most [`MAX_BYTES`] bytes and
//! `MAX_PARTS` frames are gathered.
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::VecDeque;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

/// Most bytes gathered into one frame. Measured on a 256 MiB streamed 207 (64 KiB upstream
/// chunks, one worker): 256 KiB cut the context switches from ~2,100–4,300 to ~770–940,
/// 512 KiB to ~640, 1 MiB to ~290–360 (nginx stock: 171).
pub(crate) const MAX_BYTES: usize = 1024 * 1024;

/// Most `Bytes` gathered into one frame: hyper writes at most 64 slices per vectored write,
/// two of them for a chunk's size line and its CRLF.
const MAX_PARTS: usize = 62;

/// Data frames written as one: a list of `Bytes` in body order.
#[derive(Debug, Default)]
pub(crate) struct Chunks {
    parts: VecDeque<Bytes>,
    remaining: usize,
}

impl Chunks {
    fn push(&mut self, bytes: Bytes) {
        self.remaining = self.remaining.saturating_add(bytes.len());
        self.parts.push_back(bytes);
    }

    fn is_empty(&self) -> bool {
        self.remaining == 0
    }
}

impl From<Bytes> for Chunks {
    fn from(bytes: Bytes) -> Self {
        let mut chunks = Chunks::default();
        if !bytes.is_empty() {
            chunks.push(bytes);
        }
        chunks
    }
}

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |b| b.as_ref())
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of Chunks");
        while cnt > 0 {
            let Some(front) = self.parts.front_mut() else {
                return;
            };
            let take = cnt.min(front.len());
            front.advance(take);
            cnt = cnt.saturating_sub(take);
            self.remaining = self.remaining.saturating_sub(take);
            if front.is_empty() {
                self.parts.pop_front();
            }
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n: usize = 0;
        for (slot, part) in dst.iter_mut().zip(&self.parts) {
            *slot = IoSlice::new(part);
            n = n.saturating_add(1);
        }
        n
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        match self.parts.front_mut() {
            // The common case (hyper's flattening write path, one part): no copy.
            Some(front) if front.len() >= len => {
                let bytes = front.split_to(len);
                self.remaining = self.remaining.saturating_sub(len);
                if front.is_empty() {
                    self.parts.pop_front();
                }
                bytes
            }
            _ => {
                assert!(
                    len <= self.remaining,
                    "copy_to_bytes past the end of Chunks"
                );
                let mut out = bytes::BytesMut::with_capacity(len);
                let mut left = len;
                while left > 0 {
                    let chunk = self.chunk();
                    let take = left.min(chunk.len());
                    out.extend_from_slice(chunk.get(..take).unwrap_or_default());
                    self.advance(take);
                    left = left.saturating_sub(take);
                }
                out.freeze()
            }
        }
    }
}

/// What comes after the gathered frames: it goes out on the next poll.
enum After<E> {
    Trailers(HeaderMap),
    Error(E),
}

/// One scheduler turn: woken by the runtime once the tasks ready before it have run.
struct Turn {
    task: Waker,
    passed: AtomicBool,
}

impl Wake for Turn {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.passed.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

impl Turn {
    /// Starts a turn: the task is woken when the runtime has run what was ready before it
    /// (at once outside a runtime).
    fn start(task: &Waker) -> Arc<Turn> {
        let turn = Arc::new(Turn {
            task: task.clone(),
            passed: AtomicBool::new(false),
        });
        let waker = Waker::from(turn.clone());
        let mut cx = Context::from_waker(&waker);
        let _pending = std::pin::pin!(tokio::task::yield_now()).poll(&mut cx);
        turn
    }

    fn passed(&self) -> bool {
        self.passed.load(Ordering::Acquire)
    }
}

/// The body wrapper. See the module docs.
pub(crate) struct Coalesce<B: Body> {
    inner: B,
    /// Bytes gathered before they go out: [`MAX_BYTES`], or 0 (every frame at once).
    limit: usize,
    gathered: Chunks,
    parts: usize,
    /// The turn the gathered frames wait for, started at the first `Pending` after the last
    /// frame; once it has passed, the next `Pending` sends them.
    turn: Option<Arc<Turn>>,
    after: Option<After<B::Error>>,
    /// The inner body ended: `None` once the gathered frames are out.
    finished: bool,
}

// Nothing is pinned through the wrapper: it moves frames and errors by value.
impl<B: Body + Unpin> Unpin for Coalesce<B> {}

impl<B: Body> Coalesce<B> {
    /// Gathers frames when `gather`; else hands each on at once (same `Data` type).
    pub(crate) fn new(inner: B, gather: bool) -> Self {
        Coalesce {
            inner,
            limit: if gather { MAX_BYTES } else { 0 },
            gathered: Chunks::default(),
            parts: 0,
            turn: None,
            after: None,
            finished: false,
        }
    }

    fn take(&mut self) -> Frame<Chunks> {
        self.parts = 0;
        self.turn = None;
        Frame::data(std::mem::take(&mut self.gathered))
    }
}

impl<B> Body for Coalesce<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Chunks;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Chunks>, B::Error>>> {
        let this = self.get_mut();
        if let Some(after) = this.after.take() {
            return Poll::Ready(match after {
                After::Trailers(trailers) => Some(Ok(Frame::trailers(trailers))),
                After::Error(error) => Some(Err(error)),
            });
        }
        if this.finished {
            return Poll::Ready(None);
        }
        loop {
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending if this.gathered.is_empty() => return Poll::Pending,
                Poll::Pending => match &this.turn {
                    // Let the tasks that are ready run first (the upstream connection may
                    // have the next read), then look again, once.
                    None => {
                        this.turn = Some(Turn::start(cx.waker()));
                        return Poll::Pending;
                    }
                    Some(turn) if !turn.passed() => return Poll::Pending,
                    Some(_) => return Poll::Ready(Some(Ok(this.take()))),
                },
                Poll::Ready(None) => {
                    this.finished = true;
                    if this.gathered.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(this.take())));
                }
                Poll::Ready(Some(Err(error))) if this.gathered.is_empty() => {
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(Some(Err(error))) => {
                    this.after = Some(After::Error(error));
                    return Poll::Ready(Some(Ok(this.take())));
                }
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            let data = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    let Ok(trailers) = frame.into_trailers() else {
                        // A frame kind http-body does not have yet: skipped as hyper does.
                        continue;
                    };
                    if this.gathered.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                    }
                    this.after = Some(After::Trailers(trailers));
                    return Poll::Ready(Some(Ok(this.take())));
                }
            };
            if data.is_empty() {
                continue;
            }
            this.gathered.push(data);
            this.parts = this.parts.saturating_add(1);
            this.turn = None;
            if this.gathered.remaining() >= this.limit
                || this.parts >= MAX_PARTS
                || this.inner.is_end_stream()
            {
                return Poll::Ready(Some(Ok(this.take())));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.gathered.is_empty()
            && self.after.is_none()
            && (self.finished || self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let held = u64::try_from(self.gathered.remaining()).unwrap_or(u64::MAX);
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(held));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(held));
        }
        hint
    }
}

#[cfg(test)]
mod tests;
