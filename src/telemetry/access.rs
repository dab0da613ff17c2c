//! The access log (`log.access`): one INFO line per exchange, target `davaudit::access`,
//! written when the exchange is over: the response body has ended (or the client went away,
//! or the upstream's body failed) and, for an audited body, its audit has reported.
//!
//! # Lifecycle
//!
//! With `log.access` on, the proxy gives each request's [`RequestContext`] an [`Exchange`]
//! (start time, peer, `traceparent` trace id, byte counts). Holders of a [`Part`] keep the
//! line open: the proxy's [`Open`] (turned into the response [`Body`] once the headers are
//! ready) and the audit task. The last part to let go writes the line, so nothing waits for
//! it and nothing is buffered: the body is counted as it streams.
//!
//! With `log.access` off, `RequestContext::access` is `None`: a [`Part`] is an empty
//! `Option`, the [`Body`] adds one length to a counter per frame, and nothing is allocated.
//!
//! # What a line holds
//!
//! `request_id`, `trace_id` (the W3C `traceparent` trace id, when the client sent a valid
//! one), `peer`, `method`, `path` (never the query; see [`SafePath`]), `status` (absent when
//! the client left before the headers), `request_bytes` and `response_bytes` (body bytes
//! davaudit read from the client and passed to the client's connection), `headers_ms` and
//! `duration_ms` (from the request's arrival to the response headers, and to the end),
//! `end` (`complete`, `client_gone`, `upstream_error`), and for an audited body `audit` (its
//! outcome), `entries` and `failures`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body::{Frame, SizeHint};

use super::events::RequestContext;
use super::path::{self, SafePath};
use crate::multistatus::{Outcome, Report};

/// The tracing target of access lines (`log.level: warn,davaudit::access=info` works too).
pub(crate) const TARGET: &str = "davaudit::access";

/// How the response body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Every byte was handed to the client's connection.
    Complete,
    /// The client went away first (connection closed, h2 stream reset), possibly before the
    /// response headers; or took none of the response for `upstream.idle_timeout` (the
    /// connection closed by `listener::stall`, the h2 stream given up by `body::watch`).
    ClientGone,
    /// The upstream's body failed mid-way (idle timeout, reset): the client got a cut body.
    UpstreamError,
}

impl End {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            End::Complete => "complete",
            End::ClientGone => "client_gone",
            End::UpstreamError => "upstream_error",
        }
    }
}

/// The access-log state of one exchange, inside its [`RequestContext`].
#[derive(Debug)]
pub(crate) struct Exchange {
    started: Instant,
    peer: SocketAddr,
    trace_id: Option<TraceId>,
    /// The route's name (`routes`); `None` when no routes are configured.
    route: Option<Box<str>>,
    /// Counted by the request body as it streams upstream.
    request_bytes: Arc<AtomicU64>,
    /// Holders of a [`Part`]; the one that brings it to 0 writes the line.
    parts: AtomicUsize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    status: Option<u16>,
    headers: Option<Duration>,
    response_bytes: u64,
    end: Option<End>,
    total: Option<Duration>,
    audit: Option<Audited>,
}

#[derive(Debug, Clone, Copy)]
struct Audited {
    outcome: Outcome,
    entries: u64,
    failures: u64,
}

impl Exchange {
    /// A new exchange that arrived at `started` from `peer`, with the request's headers
    /// (read for `traceparent`) and its route's name (`None` without `routes`).
    pub(crate) fn new(
        started: Instant,
        peer: SocketAddr,
        headers: &HeaderMap,
        route: Option<&str>,
    ) -> Exchange {
        Exchange {
            started,
            peer,
            route: route.map(Box::from),
            trace_id: TraceId::from_headers(headers),
            request_bytes: Arc::new(AtomicU64::new(0)),
            parts: AtomicUsize::new(0),
            state: Mutex::new(State::default()),
        }
    }

    /// The request body's byte counter (handed to `body::RequestBody`).
    pub(crate) fn request_bytes(&self) -> Arc<AtomicU64> {
        self.request_bytes.clone()
    }

    /// Records the audit's report (called where the audit is counted, so the line says what
    /// the metrics say).
    pub(crate) fn audited(&self, report: &Report) {
        self.state().audit = Some(Audited {
            outcome: report.outcome,
            entries: report.entries,
            failures: report.failure_count,
        });
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One holder of an exchange's line; empty when `log.access` is off.
#[derive(Debug)]
pub(crate) struct Part(Option<Arc<RequestContext>>);

impl Part {
    /// A part of `context`'s line: the line waits for it to be dropped.
    pub(crate) fn of(context: &Arc<RequestContext>) -> Part {
        match &context.access {
            Some(exchange) => {
                exchange.parts.fetch_add(1, Ordering::AcqRel);
                Part(Some(context.clone()))
            }
            None => Part(None),
        }
    }

    fn exchange(&self) -> Option<&Exchange> {
        self.0.as_deref().and_then(|c| c.access.as_deref())
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        let Some(context) = self.0.take() else {
            return;
        };
        if let Some(exchange) = context.access.as_deref()
            && exchange.parts.fetch_sub(1, Ordering::AcqRel) == 1
        {
            write_line(&context, exchange);
        }
    }
}

/// The proxy's part until the response headers are ready. Dropped before (the client went
/// away while the upstream was answering), the line says `end=client_gone` and no status.
#[derive(Debug)]
pub(crate) struct Open(Part);

impl Open {
    pub(crate) fn new(context: &Arc<RequestContext>) -> Open {
        Open(Part::of(context))
    }

    /// No line to write (`log.access` off, and no context was built).
    pub(crate) fn none() -> Open {
        Open(Part(None))
    }

    /// Records the status and the time to headers, and hands the part to the body.
    pub(crate) fn respond<B: http_body::Body>(self, response: Response<B>) -> Response<Body<B>> {
        if let Some(exchange) = self.0.exchange() {
            let mut state = exchange.state();
            state.status = Some(response.status().as_u16());
            state.headers = Some(exchange.started.elapsed());
        }
        response.map(|inner| Body {
            inner,
            part: self.0,
            bytes: 0,
            end: None,
        })
    }
}

/// The response body on its way to the client, counted; reports its end when dropped.
#[derive(Debug)]
pub(crate) struct Body<B: http_body::Body> {
    inner: B,
    part: Part,
    bytes: u64,
    /// Set when the inner body ended (`None` polled) or failed.
    end: Option<End>,
}

impl<B> http_body::Body for Body<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes = this.bytes.saturating_add(data.len() as u64);
                }
            }
            Some(Err(_)) => this.end = Some(End::UpstreamError),
            None => this.end = Some(End::Complete),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: http_body::Body> Drop for Body<B> {
    fn drop(&mut self) {
        let Some(exchange) = self.part.exchange() else {
            return;
        };
        // hyper stops polling once `is_end_stream` says the last frame went (a known length,
        // a HEAD, an empty body): that is an end too, not a departure.
        let end = self.end.unwrap_or_else(|| {
            if self.inner.is_end_stream() {
                End::Complete
            } else {
                End::ClientGone
            }
        });
        let mut state = exchange.state();
        state.response_bytes = self.bytes;
        state.end = Some(end);
        state.total = Some(exchange.started.elapsed());
    }
}

/// Writes the line (the last part let go).
fn write_line(context: &RequestContext, exchange: &Exchange) {
    let state = exchange.state();
    let audit = state.audit;
    let total = state.total.unwrap_or_else(|| exchange.started.elapsed());
    tracing::info!(
        target: TARGET,
        request_id = %context.request_id,
        trace_id = exchange.trace_id.as_ref().map(TraceId::as_str),
        peer = %exchange.peer,
        method = %context.method,
        route = exchange.route.as_deref(),
        path = %SafePath(&context.path),
        path_truncated = path::truncated(&context.path),
        status = state.status,
        request_bytes = exchange.request_bytes.load(Ordering::Relaxed),
        response_bytes = state.response_bytes,
        headers_ms = state.headers.map(millis),
        duration_ms = millis(total),
        end = state.end.unwrap_or(End::ClientGone).as_str(),
        audit = audit.map(|a| a.outcome.as_str()),
        entries = audit.map(|a| a.entries),
        failures = audit.map(|a| a.failures),
        "access",
    );
}

/// Milliseconds with microsecond precision.
fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// The trace id of a valid W3C `traceparent` (Trace Context level 1, §3.2): 32 lowercase hex
/// digits, not all zero. Anything else (a second header, another length, upper case, version
/// `ff`, a zero parent id) is ignored, as the spec says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceId([u8; 32]);

impl TraceId {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<TraceId> {
        let mut values = headers.get_all("traceparent").iter();
        let value = values.next()?;
        if values.next().is_some() {
            return None;
        }
        TraceId::parse(value.as_bytes())
    }

    /// `version-traceid-parentid-flags`.
    pub(crate) fn parse(value: &[u8]) -> Option<TraceId> {
        let hex = |s: &[u8]| s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let value = value.trim_ascii();
        let version = value.get(0..2)?;
        let trace = value.get(3..35)?;
        let parent = value.get(36..52)?;
        let flags = value.get(53..55)?;
        let dashes = [2, 35, 52].iter().all(|&i| value.get(i) == Some(&b'-'));
        let rest_ok = match version {
            b"00" => value.len() == 55,
            // A later version may append fields after a dash.
            _ => value.len() == 55 || value.get(55) == Some(&b'-'),
        };
        let valid = dashes
            && rest_ok
            && hex(version)
            && version != b"ff"
            && hex(trace)
            && hex(parent)
            && hex(flags)
            && trace.iter().any(|&b| b != b'0')
            && parent.iter().any(|&b| b != b'0');
        if !valid {
            return None;
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(trace);
        Some(TraceId(id))
    }

    pub(crate) fn as_str(&self) -> &str {
        // Checked lowercase hex in `parse`.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_gives_its_trace_id() {
        assert_eq!(
            TraceId::parse(VALID.as_bytes()).unwrap().as_str(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // A later version may carry more fields.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(TraceId::parse(later.as_bytes()).is_some());
    }

    #[test]
    fn a_malformed_traceparent_is_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ] {
            assert_eq!(TraceId::parse(bad.as_bytes()), None, "{bad:?}");
        }
        let mut twice = HeaderMap::new();
        twice.append("traceparent", VALID.parse().unwrap());
        twice.append("traceparent", VALID.parse().unwrap());
        assert_eq!(TraceId::from_headers(&twice), None);
    }
}
