//! The per-response audit task: queue -> decode -> scanner -> report -> telemetry event.
//!
//! It owns the receiving end of the tee's queue and ends when the tee reports the end of the
//! body (or is dropped), so it never outlives its response. Each chunk's queue budget is
//! given back as soon as the chunk has been scanned (or handed to the decoder).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::AsyncReadExt;
use tokio_util::io::StreamReader;

use super::decode::{self, Encoding};
use super::policy::MethodPolicy;
use super::tee::{End, Message, Receiver};
use crate::multistatus::{BodyEnd, Malformed, Outcome, Report, Scanner};
use crate::recent::RecentFailures;
use crate::telemetry::Metrics;
use crate::telemetry::events::{MultistatusScanned, RequestContext};

/// Everything the task needs, moved into it.
#[derive(Debug)]
pub(super) struct AuditTask {
    pub(super) rx: Receiver,
    pub(super) encoding: Encoding,
    pub(super) scanner: Scanner<MethodPolicy>,
    pub(super) context: Arc<RequestContext>,
    pub(super) status: u16,
    pub(super) started: Instant,
    pub(super) metrics: Arc<Metrics>,
    pub(super) max_logged_failures: usize,
    /// The live view's ring, when it is on.
    pub(super) recent: Option<Arc<RecentFailures>>,
    /// Test hook: sleep this long before scanning each chunk (a slow scanner).
    pub(super) delay: Option<Duration>,
}

impl AuditTask {
    pub(super) async fn run(self) {
        let AuditTask {
            rx,
            encoding,
            mut scanner,
            context,
            status,
            started,
            metrics,
            max_logged_failures,
            recent,
            delay,
        } = self;
        let report = if encoding == Encoding::Identity {
            let end = scan_identity(rx, &mut scanner, delay).await;
            scanner.finish(body_end(end))
        } else {
            scan_decoded(rx, encoding, scanner, delay).await
        };
        MultistatusScanned {
            request: &context,
            status,
            report: &report,
            max_logged_failures,
            duration: started.elapsed(),
            recent: recent.as_deref(),
        }
        .emit(&metrics);
    }
}

fn body_end(end: End) -> BodyEnd {
    match end {
        End::Complete => BodyEnd::Complete,
        End::Error | End::Cancelled => BodyEnd::Truncated,
        End::Lagging => BodyEnd::Lagging,
    }
}

async fn scan_identity(
    mut rx: Receiver,
    scanner: &mut Scanner<MethodPolicy>,
    delay: Option<Duration>,
) -> End {
    while let Some(message) = rx.recv().await {
        match message {
            Message::Data(bytes, budget) => {
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                scanner.feed(&bytes);
                drop(budget);
            }
            Message::End(end) => return end,
        }
    }
    End::Cancelled
}

async fn scan_decoded(
    rx: Receiver,
    encoding: Encoding,
    mut scanner: Scanner<MethodPolicy>,
    delay: Option<Duration>,
) -> Report {
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let (stream, end) = Frames::new(rx.clone(), delay);
    let mut reader = decode::reader(encoding, StreamReader::new(stream));
    let mut buf = vec![0u8; 64 * 1024];
    let mut decode_error = None;
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => scanner.feed(buf.get(..n).unwrap_or_default()),
            Err(error) => {
                decode_error = Some(error);
                break;
            }
        }
    }
    drop(reader);
    // Decoders stop at the end of the compressed stream without asking for more input, so
    // the tee's end message may still be queued: read on to it (and past any trailing bytes).
    if end.is_unset()
        && let Ok(rx) = Arc::try_unwrap(rx)
    {
        let mut rx = rx
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        end.set(loop {
            match rx.recv().await {
                Some(Message::Data(..)) => continue,
                Some(Message::End(end)) => break end,
                None => break End::Cancelled,
            }
        });
    }
    let end = end.get();
    let mut report = scanner.finish(body_end(end));
    // A decode error on a body that ended early is the truncation itself.
    if let (Some(error), End::Complete) = (decode_error, end)
        && !matches!(report.outcome, Outcome::Malformed | Outcome::OverLimit)
    {
        report.outcome = Outcome::Malformed;
        report.malformed = Some(Malformed {
            offset: report.bytes,
            reason: format!("cannot decode the {encoding:?} content coding: {error}"),
            limit: None,
        });
    }
    report
}

/// The queue as a byte stream for the decoder; remembers how the body ended.
struct Frames {
    /// Shared with the task, which drains it after the decoder stops.
    rx: Arc<std::sync::Mutex<Receiver>>,
    end: EndSlot,
    delay: Option<Pin<Box<tokio::time::Sleep>>>,
    delay_each: Option<Duration>,
}

/// Where `Frames` leaves the end of the body for the task to read after decoding.
#[derive(Clone, Default)]
struct EndSlot(Arc<std::sync::Mutex<Option<End>>>);

impl EndSlot {
    fn set(&self, end: End) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(end);
        }
    }

    fn is_unset(&self) -> bool {
        self.0.lock().map(|slot| slot.is_none()).unwrap_or(true)
    }

    fn get(&self) -> End {
        self.0
            .lock()
            .ok()
            .and_then(|slot| *slot)
            .unwrap_or(End::Cancelled)
    }
}

impl Frames {
    fn new(rx: Arc<std::sync::Mutex<Receiver>>, delay: Option<Duration>) -> (Self, EndSlot) {
        let end = EndSlot::default();
        let frames = Frames {
            rx,
            end: end.clone(),
            delay: None,
            delay_each: delay,
        };
        (frames, end)
    }
}

impl Stream for Frames {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(each) = self.delay_each {
            let sleep = self
                .delay
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(each)));
            std::task::ready!(sleep.as_mut().poll(cx));
            self.delay = None;
        }
        let polled = match self.rx.lock() {
            Ok(mut rx) => rx.poll_recv(cx),
            Err(_) => Poll::Ready(None),
        };
        match std::task::ready!(polled) {
            Some(Message::Data(bytes, _budget)) => Poll::Ready(Some(Ok(bytes))),
            Some(Message::End(end)) => {
                self.end.set(end);
                Poll::Ready(None)
            }
            None => {
                self.end.set(End::Cancelled);
                Poll::Ready(None)
            }
        }
    }
}
