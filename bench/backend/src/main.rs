//! bench-backend: the fast upstream the davaudit load harness (`bench/run.sh`) proxies to.
//!
//! Serves, on `127.0.0.1:PORT` (the only argument), HTTP/1.1 with keep-alive:
//!
//! | route | answer |
//! |---|---|
//! | `GET /small` | 200, 100 bytes of text |
//! | `PROPFIND /ms/N` (or GET) | 207, a realistic multistatus with `N` entries (`Content-Length`) |
//! | `PROPFIND /gz/ms/N` (or GET) | the same body gzipped (`Content-Encoding: gzip`) |
//! | `PROPFIND /stream/M` (or GET) | 207, a multistatus of about `M` MiB, chunked, made on the fly |
//! | `PROPFIND /gz/stream/M` (or GET) | the same stream as one gzip member (about `M` MiB decoded) |
//! | `GET /expect/ms/N`, `GET /expect/stream/M` | JSON: the per-body counts the audit must find |
//!
//! Every body is built once (the first time it is asked for) and then served from memory:
//! the backend must cost next to nothing, so that the proxies' CPU is what the harness sees.
//! A stream repeats one pre-rendered block of [`BLOCK_ENTRIES`] entries as `Bytes` clones; its
//! gzip form repeats one deflate block compressed after a full flush (so identical bytes every
//! time), with the CRC-32 of the whole decoded stream combined once per size.
//!
//! Entries (`benches/shapes/harness.rs`, shared with the scanner and decode benchmarks) cycle
//! with period 20: 14 have a propstat 200 and a propstat 404 (a property the resource lacks:
//! routine for PROPFIND), 2 only a propstat 200, 3 a response-level 423 with
//! `DAV:lock-token-submitted`, 1 a response-level 403. So every body is a `partial_failure`.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use crc32fast::Hasher as Crc;
use flate2::{Compress, Compression, FlushCompress};
use http::{Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use harness::{HEAD, TAIL};

/// The entries, shared with the davaudit benchmarks' `harness` shape (one home).
#[path = "../../../benches/shapes/harness.rs"]
mod harness;

/// Entries per repeated stream block (a multiple of the period 20, about 64 KiB).
const BLOCK_ENTRIES: usize = 160;
/// Target size of one frame of the gzip stream (several compressed blocks).
const GZ_FRAME: usize = 64 * 1024;
const MIB: u64 = 1024 * 1024;

const SMALL: &[u8] = b"davaudit bench backend: a small plain-text response of exactly one hundred bytes, for GET /small.\n";

/// `(level, code)` -> count, in label spelling: `("propstat", 404)`.
type Counts = BTreeMap<(&'static str, u16), u64>;

/// Appends entry `i` of a body (`benches/shapes/harness.rs`) and counts its statuses.
fn entry(out: &mut String, i: usize, counts: &mut Counts) {
    for &key in harness::entry(out, i) {
        *counts.entry(key).or_default() += 1;
    }
}

/// Entries `0..n`, without head and tail.
fn entries(n: usize) -> (String, Counts) {
    let mut out = String::with_capacity(n * 400);
    let mut counts = Counts::new();
    for i in 0..n {
        entry(&mut out, i, &mut counts);
    }
    (out, counts)
}

fn gzip(data: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("write to a Vec");
    Bytes::from(encoder.finish().expect("finish to a Vec"))
}

/// Raw deflate of `input`, ended with `flush` (`Full` or `Finish`), appended to `out`.
fn deflate(c: &mut Compress, input: &[u8], flush: FlushCompress, out: &mut Vec<u8>) {
    let mut input = input;
    loop {
        out.reserve(input.len() / 2 + 64 * 1024);
        let before = c.total_in();
        let status = c.compress_vec(input, out, flush).expect("deflate");
        input = &input[(c.total_in() - before) as usize..];
        // Done when all input is in and the flush had room to complete.
        let done = match flush {
            FlushCompress::Finish => status == flate2::Status::StreamEnd,
            _ => input.is_empty() && out.len() < out.capacity(),
        };
        if done {
            return;
        }
    }
}

/// A fixed multistatus body, plain and gzipped.
struct Fixed {
    plain: Bytes,
    gz: Bytes,
    entries: u64,
    counts: Counts,
}

/// What every stream shares: the repeated block, plain and deflated after a full flush.
struct StreamParts {
    block: Bytes,
    block_crc: Crc,
    counts: Counts,
    /// gzip header + deflated HEAD (full flush).
    gz_head: Bytes,
    /// One deflated block; `gz_frame` is several of them, about `GZ_FRAME` bytes.
    gz_block: Bytes,
    gz_frame: Bytes,
    gz_frame_blocks: u64,
    /// Deflated TAIL with the final block (the CRC/size trailer is added per stream).
    gz_tail: Bytes,
}

impl StreamParts {
    fn new() -> Self {
        let (block, counts) = entries(BLOCK_ENTRIES);
        let block = Bytes::from(block);
        let mut block_crc = Crc::new();
        block_crc.update(&block);

        let mut c = Compress::new(Compression::default(), false);
        let mut head = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        deflate(&mut c, HEAD.as_bytes(), FlushCompress::Full, &mut head);
        let mut first = Vec::new();
        deflate(&mut c, &block, FlushCompress::Full, &mut first);
        let mut second = Vec::new();
        deflate(&mut c, &block, FlushCompress::Full, &mut second);
        assert_eq!(
            first, second,
            "a block deflated after a full flush must repeat exactly"
        );
        let mut tail = Vec::new();
        deflate(&mut c, TAIL.as_bytes(), FlushCompress::Finish, &mut tail);

        let per_frame = (GZ_FRAME / first.len()).max(1);
        let gz_frame = first.repeat(per_frame);
        StreamParts {
            block,
            block_crc,
            counts,
            gz_head: Bytes::from(head),
            gz_block: Bytes::from(first),
            gz_frame: Bytes::from(gz_frame),
            gz_frame_blocks: per_frame as u64,
            gz_tail: Bytes::from(tail),
        }
    }
}

/// One stream size: how many blocks, and the gzip trailer (CRC-32 and size of the decoded
/// stream).
struct StreamSize {
    blocks: u64,
    bytes: u64,
    gz_bytes: u64,
    gz_tail: Bytes,
}

impl StreamSize {
    fn new(parts: &StreamParts, mib: u64) -> Self {
        let fixed = (HEAD.len() + TAIL.len()) as u64;
        let block = parts.block.len() as u64;
        let blocks = (mib * MIB).saturating_sub(fixed).div_ceil(block).max(1);
        let bytes = fixed + blocks * block;
        let mut crc = Crc::new();
        crc.update(HEAD.as_bytes());
        // Combine by doubling: crc(block x blocks) from crc(block x 2^k).
        let mut power = parts.block_crc.clone();
        let mut remaining = blocks;
        let mut acc: Option<Crc> = None;
        while remaining > 0 {
            if remaining & 1 == 1 {
                match acc.as_mut() {
                    Some(a) => a.combine(&power),
                    None => acc = Some(power.clone()),
                }
            }
            remaining >>= 1;
            if remaining > 0 {
                let copy = power.clone();
                power.combine(&copy);
            }
        }
        if let Some(acc) = acc {
            crc.combine(&acc);
        }
        let mut tail_crc = Crc::new();
        tail_crc.update(TAIL.as_bytes());
        crc.combine(&tail_crc);
        let mut tail = parts.gz_tail.to_vec();
        tail.extend_from_slice(&crc.finalize().to_le_bytes());
        tail.extend_from_slice(&(bytes as u32).to_le_bytes());
        let gz_bytes =
            (parts.gz_head.len() + tail.len()) as u64 + blocks * parts.gz_block.len() as u64;
        StreamSize {
            blocks,
            bytes,
            gz_bytes,
            gz_tail: Bytes::from(tail),
        }
    }
}

/// A streamed body: `head`, then `blocks` repetitions of one block (sent `frame_blocks` at a
/// time as `frame`), then `tail`. No length: chunked, like a large Depth: infinity PROPFIND.
struct Repeat {
    head: Option<Bytes>,
    frame: Bytes,
    frame_blocks: u64,
    single: Bytes,
    remaining: u64,
    tail: Option<Bytes>,
}

impl Body for Repeat {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        if this.remaining >= this.frame_blocks {
            this.remaining -= this.frame_blocks;
            return Poll::Ready(Some(Ok(Frame::data(this.frame.clone()))));
        }
        if this.remaining > 0 {
            this.remaining -= 1;
            return Poll::Ready(Some(Ok(Frame::data(this.single.clone()))));
        }
        Poll::Ready(this.tail.take().map(|t| Ok(Frame::data(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.remaining == 0 && self.tail.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Bodies built so far, by size.
struct State {
    stream: StreamParts,
    fixed: Mutex<HashMap<usize, Arc<Fixed>>>,
    sizes: Mutex<HashMap<u64, Arc<StreamSize>>>,
}

impl State {
    fn fixed(&self, n: usize) -> Arc<Fixed> {
        let mut map = self.fixed.lock().expect("not poisoned");
        map.entry(n)
            .or_insert_with(|| {
                let (body, counts) = entries(n);
                let plain = format!("{HEAD}{body}{TAIL}").into_bytes();
                Arc::new(Fixed {
                    gz: gzip(&plain),
                    plain: Bytes::from(plain),
                    entries: n as u64,
                    counts,
                })
            })
            .clone()
    }

    fn size(&self, mib: u64) -> Arc<StreamSize> {
        let mut map = self.sizes.lock().expect("not poisoned");
        map.entry(mib)
            .or_insert_with(|| Arc::new(StreamSize::new(&self.stream, mib)))
            .clone()
    }
}

type Reply = Response<Either<http_body_util::Full<Bytes>, Repeat>>;

fn full(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
    let mut response = Response::new(Either::Left(http_body_util::Full::new(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

const XML: &str = "application/xml; charset=utf-8";

fn multistatus(response: &mut Reply, gz: bool) {
    *response.status_mut() = StatusCode::MULTI_STATUS;
    if gz {
        response.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
}

fn counts_json(entries: u64, bytes: u64, gz_bytes: u64, counts: &Counts, times: u64) -> String {
    let mut out = format!(
        "{{\"entries\":{},\"bytes\":{bytes},\"gz_bytes\":{gz_bytes},\"statuses\":[",
        entries * times
    );
    for (i, ((level, code), n)) in counts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"level\":\"{level}\",\"code\":\"{code}\",\"count\":{}}}",
            n * times
        );
    }
    out.push_str("]}\n");
    out
}

fn route(state: &State, method: &Method, path: &str) -> Reply {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let known = matches!(*method, Method::GET) || method.as_str() == "PROPFIND";
    let not_found = || {
        full(
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"no\n"),
        )
    };
    if !known {
        return full(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            Bytes::from_static(b"GET or PROPFIND\n"),
        );
    }
    let (gz, rest) = match segments.split_first() {
        Some((&"gz", rest)) => (true, rest),
        _ => (false, &segments[..]),
    };
    match rest {
        ["small"] if !gz => full(StatusCode::OK, "text/plain", Bytes::from_static(SMALL)),
        ["ms", n] => match n.parse::<usize>() {
            Ok(n) if n <= 1_000_000 => {
                let body = state.fixed(n);
                let bytes = if gz {
                    body.gz.clone()
                } else {
                    body.plain.clone()
                };
                let mut response = full(StatusCode::OK, XML, bytes);
                multistatus(&mut response, gz);
                response
            }
            _ => not_found(),
        },
        ["stream", m] => match m.parse::<u64>() {
            Ok(mib) if mib <= 64 * 1024 => {
                let size = state.size(mib);
                let parts = &state.stream;
                let body = if gz {
                    Repeat {
                        head: Some(parts.gz_head.clone()),
                        frame: parts.gz_frame.clone(),
                        frame_blocks: parts.gz_frame_blocks,
                        single: parts.gz_block.clone(),
                        remaining: size.blocks,
                        tail: Some(size.gz_tail.clone()),
                    }
                } else {
                    Repeat {
                        head: Some(Bytes::from_static(HEAD.as_bytes())),
                        frame: parts.block.clone(),
                        frame_blocks: 1,
                        single: parts.block.clone(),
                        remaining: size.blocks,
                        tail: Some(Bytes::from_static(TAIL.as_bytes())),
                    }
                };
                let mut response = Response::new(Either::Right(body));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(XML));
                multistatus(&mut response, gz);
                response
            }
            _ => not_found(),
        },
        ["expect", "ms", n] if !gz => match n.parse::<usize>() {
            Ok(n) if n <= 1_000_000 => {
                let body = state.fixed(n);
                let json = counts_json(
                    body.entries,
                    body.plain.len() as u64,
                    body.gz.len() as u64,
                    &body.counts,
                    1,
                );
                full(StatusCode::OK, "application/json", Bytes::from(json))
            }
            _ => not_found(),
        },
        ["expect", "stream", m] if !gz => match m.parse::<u64>() {
            Ok(mib) if mib <= 64 * 1024 => {
                let size = state.size(mib);
                let json = counts_json(
                    BLOCK_ENTRIES as u64,
                    size.bytes,
                    size.gz_bytes,
                    &state.stream.counts,
                    size.blocks,
                );
                full(StatusCode::OK, "application/json", Bytes::from(json))
            }
            _ => not_found(),
        },
        _ => not_found(),
    }
}

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: bench-backend PORT  (listens on 127.0.0.1:PORT)");
            std::process::exit(2);
        });
    let threads: usize = std::env::var("BACKEND_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let state = Arc::new(State {
        stream: StreamParts::new(),
        fixed: Mutex::new(HashMap::new()),
        sizes: Mutex::new(HashMap::new()),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = TcpListener::bind(addr).await.expect("bind");
        eprintln!("bench-backend listening on http://{addr}");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let reply = route(&state, request.method(), request.uri().path());
                    async move { Ok::<_, Infallible>(reply) }
                });
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
