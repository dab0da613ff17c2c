//! `WriteStall<IO>`: a connection whose writes make no progress for the stall time fails
//! with `TimedOut`, so hyper ends it and drops what it was answering.
//!
//! Why: a client that sends a request and never reads the answer fills its socket; hyper
//! then stops pulling the response body, so the body's own idle timer (`body`), which runs
//! only when the body is polled, never fires, and the exchange (its upstream connection and
//! its `limits.max_upstream_requests` slot) was held for as long as the client kept the
//! socket open. `upstream.idle_timeout` says no body bytes for that long on either leg ends
//! the exchange; this is the client's leg of it. Any progress (one byte taken) restarts the
//! clock; a connection that writes nothing (idle between requests) is not timed here.
//! An h2 client that withholds flow-control window keeps its socket writable: that case is
//! `body::watch`'s.
//!
//! The stall time is read when the connection is accepted (`Stall`: shared with the reload,
//! which changes it for new connections). No timer is touched while writes go through: the
//! sleep is made at the first refused write and reset at the next stall.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The stall time in milliseconds (0: none), as the latest config says.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stall(Arc<AtomicU64>);

impl Stall {
    pub(crate) fn new(after: Duration) -> Self {
        let stall = Stall::default();
        stall.set(after);
        stall
    }

    /// For connections accepted from now on.
    pub(crate) fn set(&self, after: Duration) {
        let millis = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        self.0.store(millis, Ordering::Relaxed);
    }

    fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            millis => Some(Duration::from_millis(millis)),
        }
    }
}

/// The connection's I/O; reads pass untouched.
#[derive(Debug)]
pub(crate) struct WriteStall<IO> {
    io: IO,
    after: Option<Duration>,
    /// Since when writes have been refused (`None`: the last one went through).
    since: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<IO> WriteStall<IO> {
    pub(crate) fn new(io: IO, stall: &Stall) -> Self {
        WriteStall {
            io,
            after: stall.get(),
            since: None,
            sleep: None,
        }
    }

    /// A write that took bytes stops the clock (a flush that is done does not: a plain
    /// socket's flush always is).
    fn wrote(&mut self, result: io::Result<usize>) -> Poll<io::Result<usize>> {
        if matches!(result, Ok(n) if n > 0) {
            self.since = None;
        }
        Poll::Ready(result)
    }

    /// A write was refused: `Pending`, or `TimedOut` once refused for the stall time.
    fn refused<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let Some(after) = self.after else {
            return Poll::Pending;
        };
        let since = *self.since.get_or_insert_with(Instant::now);
        let Some(deadline) = since.checked_add(after) else {
            return Poll::Pending;
        };
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                sleep
            }
            None => self
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client took no response bytes for {after:?}"),
        )))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for WriteStall<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for WriteStall<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(result) => this.wrote(result),
            Poll::Pending => this.refused(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => this.wrote(result),
            Poll::Pending => this.refused(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => this.refused(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_shutdown(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => this.refused(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A client that reads nothing: the write fails with `TimedOut` after the stall time
    /// (virtual time), one that reads a little keeps it going, and with no stall time the
    /// write waits for ever.
    #[tokio::test(start_paused = true)]
    async fn a_write_refused_for_the_stall_time_fails() {
        let (near, _far) = tokio::io::duplex(64);
        let mut io = WriteStall::new(near, &Stall::new(Duration::from_secs(5)));
        io.write_all(&[1; 64]).await.unwrap();
        let started = Instant::now();
        let error = io.write_all(&[2; 64]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));

        let (near, mut far2) = tokio::io::duplex(64);
        let mut io = WriteStall::new(near, &Stall::new(Duration::from_secs(5)));
        let reader = tokio::spawn(async move {
            let mut byte = [0u8; 1];
            for _ in 0..256 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                far2.read_exact(&mut byte).await.unwrap();
            }
            far2
        });
        io.write_all(&[3; 64 + 256]).await.unwrap();
        drop(reader.await.unwrap());

        let (near, _far3) = tokio::io::duplex(1);
        let mut io = WriteStall::new(near, &Stall::default());
        io.write_all(&[4]).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(3600), io.write_all(&[5])).await;
        assert!(waited.is_err(), "no stall time: waits");
    }
}
