//! Scripted fake upstreams.
//!
//! [`FakeUpstream`] is a hyper server (HTTP/1.1 + h2c, hyper-util auto) whose answers come
//! from a handler closure `Fn(&RequestRecord) -> Reply`. It records every request it got.
//! [`RawUpstream`] hands each accepted TCP socket to a closure for byte-exact answers.
//!
//! ```ignore
//! let up = FakeUpstream::start(|req| match (req.method.as_str(), req.uri.path()) {
//!     ("PROPFIND", "/dir/") => Reply::multistatus(BODY).framed(1),
//!     ("GET", "/big") => Reply::status(200).generated(100 << 20),
//!     _ => Reply::status(404),
//! })
//! .await;
//! ```
//!
//! Body framing on the wire: a [`Reply`] with plain bytes goes out with `Content-Length`;
//! anything streamed (`framed`, `generated`, `reset_after`, `frame_delay`) goes out chunked
//! (HTTP/1.1) unless `.content_length()` announces the full length up front.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version,
};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};

use super::hash::{Digest, Hasher, pattern};
use super::{AbortOnDrop, bind_local, spawn_accept_loop, wait_until, within};

/// Request bodies larger than this are hashed but only this prefix is kept.
pub(crate) const KEEP_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What the fake upstream received, for assertions and for the handler.
#[derive(Debug, Clone)]
pub(crate) struct RequestRecord {
    pub(crate) method: Method,
    /// As received (origin-form for HTTP/1.1, absolute for h2).
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    /// The body, up to [`KEEP_BODY_BYTES`] (see `body_digest` for all of it).
    pub(crate) body: Bytes,
    pub(crate) body_digest: Digest,
    /// Set when the request body ended with an error (client or proxy went away).
    pub(crate) body_error: Option<String>,
}

impl RequestRecord {
    /// First value of header `name` as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of header `name` as text.
    pub(crate) fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    pub(crate) fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("request body is UTF-8")
    }
}

#[derive(Clone)]
enum Source {
    Bytes(Bytes),
    /// `len` bytes of [`super::hash::pattern`], generated while sending.
    Pattern(u64),
    /// A valid multistatus document generated while sending.
    Multistatus(GeneratedMultistatus),
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::Pattern(n) => *n,
            Source::Multistatus(g) => g.len(),
        }
    }

    fn slice(&self, offset: u64, len: usize) -> Bytes {
        match self {
            Source::Bytes(b) => b.slice(offset as usize..offset as usize + len),
            Source::Pattern(_) => Bytes::from(pattern(offset, len)),
            Source::Multistatus(g) => Bytes::from(g.slice(offset, len)),
        }
    }
}

/// A well-formed `DAV:multistatus` body of `entries` `DAV:response` elements, produced on the
/// fly at any offset (never stored), with counts known in advance. Every entry has the same
/// length (padded with spaces) and a distinct href (`/big/NNNNNNNNNNNN`); entry `i` is of kind
/// `i % 4`:
///
/// 0. response-level `204 No Content`;
/// 1. two propstats: `200` (DAV:displayname) and `404` (a dead property);
/// 2. response-level `423 Locked` with `DAV:lock-token-submitted`;
/// 3. response-level `424 Failed Dependency`.
///
/// Under the default routine rules a PROPFIND has failures 423 and 424 (the propstat 404 is
/// routine); compare with [`GeneratedMultistatus::status_counts`] and
/// [`GeneratedMultistatus::failure_counts`]. A client checks what it received with
/// [`GeneratedMultistatus::slice`] (byte comparison, cheap even in debug builds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GeneratedMultistatus {
    entries: u64,
}

const GEN_HEADER: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
    <D:multistatus xmlns:D=\"DAV:\" xmlns:Z=\"urn:example:z\">\n";
const GEN_FOOTER: &str = "</D:multistatus>\n";
/// Bytes per entry, padding included.
const GEN_ENTRY_LEN: usize = 320;
/// Digits of the entry number in the href.
const GEN_DIGITS: usize = 12;
const GEN_HREF_PREFIX: &str = "<D:response><D:href>/big/";

impl GeneratedMultistatus {
    pub(crate) fn new(entries: u64) -> Self {
        GeneratedMultistatus { entries }
    }

    /// The number of entries of a body of about `bytes` bytes (at least 1).
    pub(crate) fn with_size(bytes: u64) -> Self {
        let fixed = (GEN_HEADER.len() + GEN_FOOTER.len()) as u64;
        GeneratedMultistatus::new((bytes.saturating_sub(fixed) / GEN_ENTRY_LEN as u64).max(1))
    }

    pub(crate) fn entries(&self) -> u64 {
        self.entries
    }

    /// Total body length in bytes.
    pub(crate) fn len(&self) -> u64 {
        (GEN_HEADER.len() + GEN_FOOTER.len()) as u64 + self.entries * GEN_ENTRY_LEN as u64
    }

    /// The whole body (for small instances only).
    pub(crate) fn whole(self) -> Vec<u8> {
        self.slice(0, usize::try_from(self.len()).expect("small body"))
    }

    /// Entries of kind `k` (`i % 4 == k`) among `0..entries`.
    fn of_kind(&self, k: u64) -> u64 {
        self.entries / 4 + u64::from(self.entries % 4 > k)
    }

    /// Statuses by (level, code): compare with `davaudit_multistatus_entries_total`.
    pub(crate) fn status_counts(&self) -> std::collections::BTreeMap<(&'static str, String), u64> {
        let mut out = std::collections::BTreeMap::new();
        for (level, code, n) in [
            ("response", "204", self.of_kind(0)),
            ("propstat", "200", self.of_kind(1)),
            ("propstat", "404", self.of_kind(1)),
            ("response", "423", self.of_kind(2)),
            ("response", "424", self.of_kind(3)),
        ] {
            if n > 0 {
                out.insert((level, code.to_owned()), n);
            }
        }
        out
    }

    /// Failures by (level, code) for a PROPFIND under the default routine rules.
    pub(crate) fn propfind_failure_counts(
        &self,
    ) -> std::collections::BTreeMap<(&'static str, String), u64> {
        self.status_counts()
            .into_iter()
            .filter(|((_, code), _)| code == "423" || code == "424")
            .collect()
    }

    /// Entry `i`, exactly [`GEN_ENTRY_LEN`] bytes.
    fn entry(i: u64) -> [u8; GEN_ENTRY_LEN] {
        let body = match i % 4 {
            0 => "</D:href><D:status>HTTP/1.1 204 No Content</D:status>",
            1 => {
                "</D:href><D:propstat><D:prop><D:displayname>x</D:displayname></D:prop>\
                 <D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop>\
                 <Z:color/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>"
            }
            2 => {
                "</D:href><D:status>HTTP/1.1 423 Locked</D:status>\
                 <D:error><D:lock-token-submitted/></D:error>"
            }
            _ => "</D:href><D:status>HTTP/1.1 424 Failed Dependency</D:status>",
        };
        let digits = format!("{i:0GEN_DIGITS$}");
        assert_eq!(digits.len(), GEN_DIGITS, "entry number too large");
        let mut out = [b' '; GEN_ENTRY_LEN];
        let mut at = 0;
        for part in [GEN_HREF_PREFIX, &digits, body] {
            out[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
        }
        let end = b"</D:response>\n";
        assert!(at + end.len() <= GEN_ENTRY_LEN, "entry template too long");
        out[GEN_ENTRY_LEN - end.len()..].copy_from_slice(end);
        out
    }

    /// `len` bytes of the body starting at `offset`.
    pub(crate) fn slice(&self, offset: u64, len: usize) -> Vec<u8> {
        let header = GEN_HEADER.len() as u64;
        let entries_end = header + self.entries * GEN_ENTRY_LEN as u64;
        assert!(offset + len as u64 <= self.len(), "slice beyond the body");
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let pos = offset + out.len() as u64;
            let want = len - out.len();
            let (piece, from): (&[u8], u64) = if pos < header {
                (GEN_HEADER.as_bytes(), pos)
            } else if pos < entries_end {
                let i = (pos - header) / GEN_ENTRY_LEN as u64;
                let entry = Self::entry(i);
                let from = (pos - header) % GEN_ENTRY_LEN as u64;
                let n = want.min(GEN_ENTRY_LEN - from as usize);
                out.extend_from_slice(&entry[from as usize..from as usize + n]);
                continue;
            } else {
                (GEN_FOOTER.as_bytes(), pos - entries_end)
            };
            let rest = &piece[from as usize..];
            out.extend_from_slice(&rest[..want.min(rest.len())]);
        }
        out
    }
}

/// A scripted answer. Built with chained methods; cheap to clone.
#[derive(Clone)]
pub(crate) struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    source: Source,
    frame_size: Option<usize>,
    header_delay: Option<Duration>,
    frame_delay: Option<Duration>,
    reset_after: Option<u64>,
    announce_length: bool,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.source.len())
            .field("frame_size", &self.frame_size)
            .field("reset_after", &self.reset_after)
            .finish_non_exhaustive()
    }
}

/// Default frame size for generated bodies.
const PATTERN_FRAME: usize = 64 * 1024;

impl Reply {
    /// `status` with an empty body.
    pub(crate) fn status(status: u16) -> Self {
        Reply {
            status: StatusCode::from_u16(status).expect("valid status code"),
            headers: Vec::new(),
            source: Source::Bytes(Bytes::new()),
            frame_size: None,
            header_delay: None,
            frame_delay: None,
            reset_after: None,
            announce_length: false,
        }
    }

    /// 200 with `body`.
    pub(crate) fn ok(body: impl Into<Bytes>) -> Self {
        Reply::status(200).body(body)
    }

    /// 207 with `Content-Type: application/xml; charset="utf-8"` and `xml` as body.
    pub(crate) fn multistatus(xml: impl Into<Bytes>) -> Self {
        Reply::status(207)
            .header("content-type", "application/xml; charset=\"utf-8\"")
            .body(xml)
    }

    /// Adds a header (repeatable: the same name twice gives two fields).
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        ));
        self
    }

    /// Fixed body bytes.
    pub(crate) fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.source = Source::Bytes(body.into());
        self
    }

    /// A body of `len` [`super::hash::pattern`] bytes produced on the fly (never stored);
    /// compare what arrived with `hash::pattern_digest(len)`. Sent in 64 KiB frames unless
    /// `.framed(n)`.
    pub(crate) fn generated(mut self, len: u64) -> Self {
        self.source = Source::Pattern(len);
        self
    }

    /// A generated multistatus body (see [`GeneratedMultistatus`]), produced on the fly and
    /// never stored; sent in 64 KiB frames unless `.framed(n)`. Use with `Reply::status(207)`
    /// plus a content type, or through [`Reply::generated_multistatus`].
    pub(crate) fn multistatus_source(mut self, generated: GeneratedMultistatus) -> Self {
        self.source = Source::Multistatus(generated);
        self
    }

    /// 207 with an XML content type and a generated multistatus body.
    pub(crate) fn generated_multistatus(generated: GeneratedMultistatus) -> Self {
        Reply::status(207)
            .header("content-type", "application/xml; charset=\"utf-8\"")
            .multistatus_source(generated)
    }

    /// Sends the body in frames of `n` bytes (`1` = one frame per byte). HTTP/1.1: each
    /// frame becomes one chunk.
    pub(crate) fn framed(mut self, n: usize) -> Self {
        assert!(n > 0, "frame size must be > 0");
        self.frame_size = Some(n);
        self
    }

    /// Sends only the first `k` body bytes, then fails the body: hyper aborts the
    /// connection (HTTP/1.1: closed without the last chunk / short of Content-Length; h2:
    /// RST_STREAM). Use `k >= 1` when the headers must reach the peer first.
    pub(crate) fn reset_after(mut self, k: u64) -> Self {
        self.reset_after = Some(k);
        self
    }

    /// Waits this long before sending the response headers (a slow upstream).
    pub(crate) fn delay_headers(mut self, d: Duration) -> Self {
        self.header_delay = Some(d);
        self
    }

    /// Waits this long before each body frame (headers go out first).
    pub(crate) fn frame_delay(mut self, d: Duration) -> Self {
        self.frame_delay = Some(d);
        self
    }

    /// Announces the full body length in `Content-Length` even when streaming (so a
    /// `reset_after` reply is short of its declared length).
    pub(crate) fn content_length(mut self) -> Self {
        self.announce_length = true;
        self
    }

    /// Compresses the (fixed) body and sets `Content-Encoding`: `gzip`, `deflate` (zlib),
    /// `br` or `zstd`.
    pub(crate) fn encoded(mut self, coding: &str) -> Self {
        let Source::Bytes(plain) = &self.source else {
            panic!("encoded() needs a fixed body");
        };
        let packed = super::oracle::encode(coding, plain);
        self.source = Source::Bytes(Bytes::from(packed));
        self.header("content-encoding", coding)
    }

    fn streamed(&self) -> bool {
        self.frame_size.is_some()
            || self.frame_delay.is_some()
            || self.reset_after.is_some()
            || matches!(self.source, Source::Pattern(_) | Source::Multistatus(_))
    }

    async fn into_response(self) -> Response<ChanBody> {
        if let Some(d) = self.header_delay {
            tokio::time::sleep(d).await;
        }
        let total = self.source.len();
        let exact = if self.streamed() { None } else { Some(total) };
        let (tx, rx) = mpsc::channel(1);
        let mut resp = Response::new(ChanBody { rx, exact });
        *resp.status_mut() = self.status;
        for (name, value) in &self.headers {
            resp.headers_mut().append(name.clone(), value.clone());
        }
        if self.announce_length {
            resp.headers_mut()
                .insert(http::header::CONTENT_LENGTH, HeaderValue::from(total));
        }
        tokio::spawn(produce(self, tx));
        resp
    }
}

type FrameResult = Result<Frame<Bytes>, io::Error>;

async fn produce(reply: Reply, tx: mpsc::Sender<FrameResult>) {
    let total = reply.source.len();
    let frame = reply.frame_size.unwrap_or(match reply.source {
        Source::Bytes(ref b) => b.len().max(1),
        Source::Pattern(_) | Source::Multistatus(_) => PATTERN_FRAME,
    }) as u64;
    let limit = reply.reset_after.unwrap_or(total).min(total);
    let mut offset = 0;
    while offset < limit {
        let n = frame.min(limit - offset);
        if let Some(d) = reply.frame_delay {
            tokio::time::sleep(d).await;
        }
        let chunk = reply.source.slice(offset, n as usize);
        if tx.send(Ok(Frame::data(chunk))).await.is_err() {
            return; // receiver gone: the connection ended
        }
        offset += n;
    }
    if reply.reset_after.is_some() {
        let err = io::Error::new(io::ErrorKind::ConnectionReset, "scripted reset");
        let _ = tx.send(Err(err)).await;
    }
}

/// Response body fed by the producer task through a 1-slot channel (bounded memory).
#[derive(Debug)]
pub(crate) struct ChanBody {
    rx: mpsc::Receiver<FrameResult>,
    exact: Option<u64>,
}

impl Body for ChanBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

type Handler = dyn Fn(&RequestRecord) -> Reply + Send + Sync;

#[derive(Default)]
struct Log {
    requests: Mutex<Vec<RequestRecord>>,
    notify: Notify,
}

/// A scripted HTTP upstream on 127.0.0.1:0 (HTTP/1.1 and h2c). Stops on drop.
pub(crate) struct FakeUpstream {
    addr: std::net::SocketAddr,
    log: Arc<Log>,
    accepted: Arc<AtomicUsize>,
    _task: AbortOnDrop,
}

impl fmt::Debug for FakeUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeUpstream {
    /// Starts the server; `handler` is called once per request, after its body was read.
    pub(crate) async fn start<F>(handler: F) -> FakeUpstream
    where
        F: Fn(&RequestRecord) -> Reply + Send + Sync + 'static,
    {
        let handler: Arc<Handler> = Arc::new(handler);
        let listener = bind_local().await;
        let addr = listener.local_addr().expect("local addr");
        let log = Arc::new(Log::default());
        let accepted = Arc::new(AtomicUsize::new(0));
        let conn_log = log.clone();
        let task = spawn_accept_loop(listener, accepted.clone(), move |stream| {
            let handler = handler.clone();
            let log = conn_log.clone();
            async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    let log = log.clone();
                    async move {
                        let record = record(req).await;
                        let reply = handler(&record);
                        log.requests.lock().expect("log lock").push(record);
                        log.notify.notify_waiters();
                        Ok::<_, io::Error>(reply.into_response().await)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            }
        });
        FakeUpstream {
            addr,
            log,
            accepted,
            _task: task,
        }
    }

    /// Answers every request with a clone of `reply`.
    pub(crate) async fn always(reply: Reply) -> FakeUpstream {
        FakeUpstream::start(move |_| reply.clone()).await
    }

    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        self.log.requests.lock().expect("log lock").clone()
    }

    /// Waits (bounded) until at least `n` requests were received, and returns them all.
    pub(crate) async fn wait_requests(&self, n: usize) -> Vec<RequestRecord> {
        within(&format!("upstream to receive {n} requests"), async {
            loop {
                let notified = self.log.notify.notified();
                let got = self.requests();
                if got.len() >= n {
                    return got;
                }
                notified.await;
            }
        })
        .await
    }

    /// TCP connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn record(req: Request<Incoming>) -> RequestRecord {
    let (parts, mut body) = req.into_parts();
    let mut hasher = Hasher::new();
    let mut kept = Vec::new();
    let mut body_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    hasher.update(&data);
                    let room = KEEP_BODY_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&data[..room.min(data.len())]);
                }
            }
            Err(e) => {
                body_error = Some(e.to_string());
                break;
            }
        }
    }
    RequestRecord {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        body: Bytes::from(kept),
        body_digest: hasher.finish(),
        body_error,
    }
}

/// A raw TCP upstream: every accepted socket goes to the closure, which writes whatever bytes
/// the test needs (garbage, a truncated head, an immediate close, a reset). Stops on drop.
pub(crate) struct RawUpstream {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    _task: AbortOnDrop,
}

impl fmt::Debug for RawUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RawUpstream {
    pub(crate) async fn start<F, Fut>(on_conn: F) -> RawUpstream
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = bind_local().await;
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = spawn_accept_loop(listener, accepted.clone(), on_conn);
        RawUpstream {
            addr,
            accepted,
            _task: task,
        }
    }

    /// Reads each request head, then writes `response` verbatim and closes.
    pub(crate) async fn respond_with(response: &'static [u8]) -> RawUpstream {
        RawUpstream::start(move |mut s| async move {
            let _ = read_head(&mut s).await;
            let _ = s.write_all(response).await;
            let _ = s.shutdown().await;
        })
        .await
    }

    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// TCP connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `n` connections were accepted.
    pub(crate) async fn wait_connections(&self, n: usize) {
        wait_until(&format!("{n} connections to the raw upstream"), || async {
            (self.connections() >= n).then_some(())
        })
        .await
    }
}

/// Reads up to and including the blank line ending a request head (bounded at 64 KiB).
/// Returns what was read (may include the start of the body); empty on EOF.
pub(crate) async fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match s.read(&mut byte).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&byte[..n]),
        }
    }
    buf
}

/// Closes the socket with a TCP RST (SO_LINGER 0) instead of a FIN.
pub(crate) fn reset(s: TcpStream) {
    let _ = s.set_zero_linger();
    drop(s);
}

/// An upstream whose connects hang: a listener that never accepts, with its accept queue
/// (backlog 0) filled by the fixture's own connections, so the kernel drops new SYNs and a
/// client's connect neither succeeds nor fails until its own timeout. Loopback only.
pub(crate) struct Blackhole {
    addr: std::net::SocketAddr,
    _listener: tokio::net::TcpListener,
    _queued: Vec<std::net::TcpStream>,
}

impl fmt::Debug for Blackhole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blackhole")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Blackhole {
    pub(crate) fn new() -> Blackhole {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind 127.0.0.1:0");
        let listener = socket.listen(0).expect("listen");
        let addr = listener.local_addr().expect("local addr");
        // Fill the queue: connect until one connect does not complete (bounded).
        let mut queued = Vec::new();
        for _ in 0..16 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(stream) => queued.push(stream),
                Err(_) => break,
            }
        }
        Blackhole {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
