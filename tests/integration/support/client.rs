//! Clients: raw HTTP/1.1 over TCP (exact bytes out, every byte in), a hyper-util client for
//! ordinary requests (HTTP/1.1 or h2c), and a streaming reader that hashes a large body
//! without storing it.
//!
//! Raw exchanges read to EOF before parsing: send `Connection: close` (or use [`RawConn`] and
//! [`RawConn::read_response`] for keep-alive sequences).

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::hash::{Digest, Hasher};
use super::within;

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1

/// One HTTP/1.x response as it came off the wire.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RawResponse {
    /// e.g. `HTTP/1.1`
    pub(crate) version: String,
    pub(crate) status: u16,
    pub(crate) reason: String,
    /// In wire order, names as sent (case kept), values trimmed.
    pub(crate) headers: Vec<(String, String)>,
    /// Decoded body (chunked framing removed; content coding untouched).
    pub(crate) body: Vec<u8>,
    /// Chunked trailers, if any.
    pub(crate) trailers: Vec<(String, String)>,
    /// False when the stream ended before the framing said the body was complete
    /// (short of Content-Length, or no last chunk).
    pub(crate) complete: bool,
    /// The exact bytes of this response (head and framed body).
    pub(crate) raw: Vec<u8>,
    /// Interim (1xx) responses that preceded this one.
    pub(crate) interim: Vec<RawResponse>,
}

impl fmt::Debug for RawResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("complete", &self.complete)
            .finish_non_exhaustive()
    }
}

impl RawResponse {
    /// First value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub(crate) fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(crate) fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("response body is UTF-8")
    }

    /// The status line and header block as text (for byte-exact assertions).
    pub(crate) fn head_str(&self) -> &str {
        let end = find(&self.raw, b"\r\n\r\n").map_or(self.raw.len(), |i| i + 4);
        std::str::from_utf8(&self.raw[..end]).expect("head is UTF-8")
    }
}

/// Connects to `addr`, writes `request` verbatim, reads to EOF and parses the response (the
/// request should carry `Connection: close`). Panics if no complete response head arrived;
/// use [`raw_exchange`] for answers that are not HTTP.
pub(crate) async fn raw_request(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let bytes = raw_exchange(addr, request).await;
    let head_request = request.starts_with(b"HEAD ");
    match parse_response(&bytes, true, head_request) {
        Parsed::Done(resp, _) => resp,
        Parsed::NeedMore => panic!(
            "no complete response head; got {} bytes: {:?}",
            bytes.len(),
            String::from_utf8_lossy(&bytes)
        ),
        Parsed::Invalid(why) => panic!(
            "invalid response ({why}): {:?}",
            String::from_utf8_lossy(&bytes)
        ),
    }
}

/// Connects, writes `request`, returns every byte read until EOF (bounded by `TIMEOUT`).
pub(crate) async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut conn = RawConn::connect(addr).await;
    conn.send(request).await;
    conn.read_to_end().await
}

/// A raw TCP connection for multi-step exchanges (keep-alive, pipelining, partial sends).
#[derive(Debug)]
pub(crate) struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl RawConn {
    pub(crate) async fn connect(addr: SocketAddr) -> RawConn {
        let stream = within("connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        RawConn {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        within("write request", self.stream.write_all(bytes))
            .await
            .expect("write request");
    }

    /// Half-closes the write side (note: a hyper server without half-close support then
    /// drops the connection, possibly before answering).
    pub(crate) async fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Reads the next response (after the ones already read). Bounded; panics on a
    /// malformed head, or on EOF before a head.
    pub(crate) async fn read_response(&mut self, head_request: bool) -> RawResponse {
        within("read response", async {
            loop {
                match parse_response(&self.buf, self.eof, head_request) {
                    Parsed::Done(resp, used) => {
                        self.buf.drain(..used);
                        return resp;
                    }
                    Parsed::Invalid(why) => panic!(
                        "invalid response ({why}): {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                    Parsed::NeedMore if self.eof => panic!(
                        "EOF before a complete response head: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                    Parsed::NeedMore => self.fill().await,
                }
            }
        })
        .await
    }

    /// Everything not yet consumed, up to EOF.
    pub(crate) async fn read_to_end(&mut self) -> Vec<u8> {
        within("read to EOF", async {
            while !self.eof {
                self.fill().await;
            }
        })
        .await;
        std::mem::take(&mut self.buf)
    }

    /// True once the peer closed (after the buffered bytes are consumed, reads give EOF).
    /// Waits (bounded) for either EOF or more bytes.
    pub(crate) async fn closed_by_peer(&mut self) -> bool {
        if !self.eof && self.buf.is_empty() {
            within("peer close or data", self.fill()).await;
        }
        self.eof && self.buf.is_empty()
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            // A reset counts as EOF; what arrived before it stays in the buffer.
            Err(_) => self.eof = true,
        }
    }
}

enum Parsed {
    Done(RawResponse, usize),
    NeedMore,
    Invalid(String),
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses one response at the start of `buf`. With `eof`, a body cut short is returned with
/// `complete: false`, and a close-delimited body ends at the end of `buf`.
fn parse_response(buf: &[u8], eof: bool, head_request: bool) -> Parsed {
    let mut interim = Vec::new();
    let mut start = 0;
    loop {
        match parse_one(&buf[start..], eof, head_request) {
            Parsed::Done(resp, used) if (100..200).contains(&resp.status) => {
                interim.push(resp);
                start += used;
            }
            Parsed::Done(mut resp, used) => {
                resp.interim = interim;
                return Parsed::Done(resp, start + used);
            }
            other => return other,
        }
    }
}

fn parse_one(buf: &[u8], eof: bool, head_request: bool) -> Parsed {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return Parsed::NeedMore;
    };
    let Ok(head) = std::str::from_utf8(&buf[..head_end]) else {
        return Parsed::Invalid("head is not UTF-8".into());
    };
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_owned();
    let Some(status) = parts.next().and_then(|s| s.parse::<u16>().ok()) else {
        return Parsed::Invalid(format!("bad status line {status_line:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Parsed::Invalid(format!("bad version in {status_line:?}"));
    }
    let reason = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Parsed::Invalid(format!("bad header line {line:?}"));
        };
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let body_start = head_end + 4;
    let mut resp = RawResponse {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
        trailers: Vec::new(),
        complete: true,
        raw: Vec::new(),
        interim: Vec::new(),
    };
    let rest = &buf[body_start..];
    let no_body = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    let chunked = resp
        .header_all("transfer-encoding")
        .last()
        .is_some_and(|te| te.to_ascii_lowercase().trim_end().ends_with("chunked"));
    let used = if no_body {
        0
    } else if chunked {
        match decode_chunked(rest) {
            Chunked::Done {
                body,
                trailers,
                used,
            } => {
                resp.body = body;
                resp.trailers = trailers;
                used
            }
            Chunked::Partial(body) if eof => {
                resp.body = body;
                resp.complete = false;
                rest.len()
            }
            Chunked::Partial(_) => return Parsed::NeedMore,
            Chunked::Invalid(why) => return Parsed::Invalid(why),
        }
    } else if let Some(cl) = resp.header("content-length") {
        let Ok(cl) = cl.parse::<usize>() else {
            return Parsed::Invalid(format!("bad content-length {cl:?}"));
        };
        if rest.len() >= cl {
            resp.body = rest[..cl].to_vec();
            cl
        } else if eof {
            resp.body = rest.to_vec();
            resp.complete = false;
            rest.len()
        } else {
            return Parsed::NeedMore;
        }
    } else if eof {
        resp.body = rest.to_vec();
        rest.len()
    } else {
        return Parsed::NeedMore;
    };
    resp.raw = buf[..body_start + used].to_vec();
    Parsed::Done(resp, body_start + used)
}

enum Chunked {
    Done {
        body: Vec<u8>,
        trailers: Vec<(String, String)>,
        used: usize,
    },
    /// Ran out of bytes; the data decoded so far.
    Partial(Vec<u8>),
    Invalid(String),
}

fn decode_chunked(buf: &[u8]) -> Chunked {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(line_len) = find(&buf[pos..], b"\r\n") else {
            return Chunked::Partial(body);
        };
        let line = String::from_utf8_lossy(&buf[pos..pos + line_len]);
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return Chunked::Invalid(format!("bad chunk size line {line:?}"));
        };
        pos += line_len + 2;
        if size == 0 {
            let mut trailers = Vec::new();
            loop {
                let Some(l) = find(&buf[pos..], b"\r\n") else {
                    return Chunked::Partial(body);
                };
                let line = String::from_utf8_lossy(&buf[pos..pos + l]).into_owned();
                pos += l + 2;
                if line.is_empty() {
                    return Chunked::Done {
                        body,
                        trailers,
                        used: pos,
                    };
                }
                if let Some((n, v)) = line.split_once(':') {
                    trailers.push((n.to_owned(), v.trim().to_owned()));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            let avail = buf.len().saturating_sub(pos).min(size);
            body.extend_from_slice(&buf[pos..pos + avail]);
            return Chunked::Partial(body);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Chunked::Invalid("chunk data not followed by CRLF".into());
        }
        pos += size + 2;
    }
}

// ---------------------------------------------------------------------------------------------
// hyper-util client

/// Request body type of [`HttpClient`].
pub(crate) type ClientBody = BoxBody<Bytes, std::io::Error>;

/// A fixed request body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ClientBody {
    Full::new(bytes.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

/// An empty request body.
pub(crate) fn empty() -> ClientBody {
    Empty::new().map_err(|e: Infallible| match e {}).boxed()
}

/// A request body of `len` generated pattern bytes (never stored), sent in `frame`-byte
/// frames; compare with `hash::pattern_digest(len)` on the receiving side.
pub(crate) fn pattern_body(len: u64, frame: usize) -> ClientBody {
    let frame = frame.max(1) as u64;
    let stream = futures_util::stream::unfold(0u64, move |offset| async move {
        (offset < len).then(|| {
            let n = frame.min(len - offset);
            let data = Bytes::from(super::hash::pattern(offset, n as usize));
            (
                Ok::<_, std::io::Error>(http_body::Frame::data(data)),
                offset + n,
            )
        })
    });
    http_body_util::StreamBody::new(stream).boxed()
}

/// A hyper-util legacy client (pooled). One per test is fine; reuse it to reuse connections.
#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    inner: Client<HttpConnector, ClientBody>,
}

/// A response read by [`HttpClient::stream`]: the body was hashed, not stored.
#[derive(Debug, Clone)]
pub(crate) struct Streamed {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) digest: Digest,
    /// Data frames received.
    pub(crate) frames: u64,
    pub(crate) trailers: Option<HeaderMap>,
    /// Set when the body ended with an error (reset, truncated); `digest` covers what arrived.
    pub(crate) error: Option<String>,
}

impl HttpClient {
    /// HTTP/1.1.
    pub(crate) fn http1() -> Self {
        HttpClient {
            inner: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// HTTP/2 with prior knowledge over cleartext (h2c).
    pub(crate) fn h2c() -> Self {
        HttpClient {
            inner: Client::builder(TokioExecutor::new())
                .http2_only(true)
                .build_http(),
        }
    }

    /// Sends a request and returns the response head with the body still unread.
    pub(crate) async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: ClientBody,
    ) -> Response<Incoming> {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(url)
            .body(body)
            .expect("request");
        for (n, v) in headers {
            req.headers_mut().append(
                HeaderName::from_bytes(n.as_bytes()).expect("header name"),
                HeaderValue::from_str(v).expect("header value"),
            );
        }
        within(&format!("{method} {url}"), self.inner.request(req))
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e:?}"))
    }

    /// Sends a request and collects the whole response body (panics if the body fails).
    pub(crate) async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let resp = self.request(method, url, headers, full(body)).await;
        let (parts, body) = resp.into_parts();
        let bytes = within(&format!("{method} {url} body"), body.collect())
            .await
            .unwrap_or_else(|e| panic!("{method} {url} body: {e:?}"))
            .to_bytes();
        (parts.status, parts.headers, bytes)
    }

    /// Sends a request and reads the response body frame by frame, hashing and counting
    /// without storing it. A body error is recorded in `error`, not a panic.
    pub(crate) async fn stream(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: ClientBody,
    ) -> Streamed {
        let resp = self.request(method, url, headers, body).await;
        read_streamed(resp).await
    }
}

/// Hashes and counts the body of `resp`. Each frame is bounded by `TIMEOUT`, not the whole
/// body: a stall is a failure, a large body on a loaded machine is not (a 96 MiB body took
/// 58 s with other tests running).
pub(crate) async fn read_streamed(resp: Response<Incoming>) -> Streamed {
    let (parts, mut body) = resp.into_parts();
    let mut hasher = Hasher::new();
    let mut frames = 0;
    let mut trailers = None;
    let mut error = None;
    while let Some(frame) = within("stream response body: next frame", body.frame()).await {
        match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => {
                    frames += 1;
                    hasher.update(&data);
                }
                Err(frame) => trailers = frame.into_trailers().ok(),
            },
            Err(e) => {
                error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    Streamed {
        status: parts.status,
        headers: parts.headers,
        digest: hasher.finish(),
        frames,
        trailers,
        error,
    }
}

/// One-shot HTTP/1.1 request with a fixed body; collects the response body.
pub(crate) async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (StatusCode, HeaderMap, Bytes) {
    HttpClient::http1().send(method, url, headers, body).await
}

/// One-shot HTTP/1.1 request; the response body is hashed, not stored.
pub(crate) async fn stream(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: ClientBody,
) -> Streamed {
    HttpClient::http1().stream(method, url, headers, body).await
}
