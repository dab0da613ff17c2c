//! Soak: many requests through one in-process davaudit, mixing 200s, 207s with failures,
//! malformed 207s, upstream resets mid-body, client aborts mid-body and uploads. Checks that
//! no request is lost or duplicated (davaudit's counters and the upstream's own count equal
//! what the clients sent), that the audit counters equal the 207s sent times their known
//! counts, and that open fds and RSS stay flat between the first and the last quarter.
//!
//! - `soak_smoke` runs 2,000 requests with every `cargo test` (counters only: fds and RSS
//!   mean nothing while other tests run in the same process).
//! - `soak_full` is ignored; `tests/soak/run.sh` runs it alone, in release mode, with
//!   `DAVAUDIT_SOAK_REQUESTS` requests (default 200,000).
//!
//! The upstream here is a lean hyper server that counts requests instead of recording them:
//! `FakeUpstream` keeps every request, which over 200,000 requests would be the RSS growth.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::support::process::{open_fds, rss_kib};
use crate::support::*;

/// A 207 with failures: per body, response-level 204 x1, 423 x2 (one with
/// `DAV:lock-token-submitted`), 424 x1; propstat-level 200 x1, 404 x1 (routine for PROPFIND).
const MULTISTATUS: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
<D:multistatus xmlns:D=\"DAV:\" xmlns:Z=\"urn:z\">\
<D:response><D:href>/s/a</D:href><D:status>HTTP/1.1 204 No Content</D:status></D:response>\
<D:response><D:href>/s/b</D:href><D:status>HTTP/1.1 423 Locked</D:status>\
<D:error><D:lock-token-submitted><D:href>/s</D:href></D:lock-token-submitted></D:error></D:response>\
<D:response><D:href>/s/c</D:href><D:status>HTTP/1.1 423 Locked</D:status></D:response>\
<D:response><D:href>/s/d</D:href><D:status>HTTP/1.1 424 Failed Dependency</D:status></D:response>\
<D:response><D:href>/s/e</D:href>\
<D:propstat><D:prop><D:displayname>e</D:displayname></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>\
<D:propstat><D:prop><Z:color/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>\
</D:response></D:multistatus>\n";

/// One complete entry (response-level 200), then a mismatched end tag.
const MALFORMED: &str = "<?xml version=\"1.0\"?><D:multistatus xmlns:D=\"DAV:\">\
<D:response><D:href>/m/a</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>\
<D:response><D:href>/m/b</D:href></D:propstat></D:response></D:multistatus>";

/// Sent before the upstream resets: one complete entry (response-level 423), then the
/// start of a second one, cut inside its href.
const CUT: &str = "<?xml version=\"1.0\"?><D:multistatus xmlns:D=\"DAV:\">\
<D:response><D:href>/r/a</D:href><D:status>HTTP/1.1 423 Locked</D:status></D:response>\
<D:response><D:href>/r/b";

/// Entries in the large 207 the clients abort (each a response-level 423).
const BIG_ENTRIES: usize = 400;
/// Frame size of the large 207.
const BIG_FRAME: usize = 4096;
/// Upload size.
const PUT_BYTES: usize = 1024;

/// What a request is, by `index % 20`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// GET, 200 "ok" (40%).
    Ok,
    /// PROPFIND, 207 [`MULTISTATUS`] (20%).
    Multistatus,
    /// REPORT, 207 [`MALFORMED`] (10%).
    Malformed,
    /// PROPPATCH, 207 [`CUT`] then the upstream resets (5%).
    Reset,
    /// DELETE, a large 207 the client drops after its first frame (5%).
    Abort,
    /// PUT of [`PUT_BYTES`], 201 (20%).
    Put,
}

const KINDS: [Kind; 6] = [
    Kind::Ok,
    Kind::Multistatus,
    Kind::Malformed,
    Kind::Reset,
    Kind::Abort,
    Kind::Put,
];

impl Kind {
    fn of(index: u64) -> Kind {
        match index % 20 {
            0..=7 => Kind::Ok,
            8..=11 => Kind::Multistatus,
            12..=13 => Kind::Malformed,
            14 => Kind::Reset,
            15 => Kind::Abort,
            _ => Kind::Put,
        }
    }

    /// How many of `0..total` are of this kind.
    fn count(self, total: u64) -> u64 {
        (0..20)
            .filter(|&i| Kind::of(i) == self)
            .map(|i| total / 20 + u64::from(total % 20 > i))
            .sum()
    }

    fn slot(self) -> usize {
        KINDS.iter().position(|k| *k == self).unwrap()
    }

    fn method(self) -> &'static str {
        match self {
            Kind::Ok => "GET",
            Kind::Multistatus => "PROPFIND",
            Kind::Malformed => "REPORT",
            Kind::Reset => "PROPPATCH",
            Kind::Abort => "DELETE",
            Kind::Put => "PUT",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Kind::Ok => "/ok",
            Kind::Multistatus => "/ms",
            Kind::Malformed => "/malformed",
            Kind::Reset => "/reset",
            Kind::Abort => "/abort",
            Kind::Put => "/put",
        }
    }

    fn status(self) -> u16 {
        match self {
            Kind::Ok => 200,
            Kind::Put => 201,
            _ => 207,
        }
    }
}

type UpBody = BoxBody<Bytes, io::Error>;

/// The lean upstream: answers by path, counts requests per kind, keeps nothing.
struct LeanUpstream {
    addr: SocketAddr,
    seen: Arc<[AtomicU64; 6]>,
    _task: AbortOnDrop,
}

impl LeanUpstream {
    async fn start() -> LeanUpstream {
        let listener = bind_local().await;
        let addr = listener.local_addr().unwrap();
        let seen: Arc<[AtomicU64; 6]> = Arc::new(Default::default());
        let big = Bytes::from(big_multistatus());
        let counts = seen.clone();
        let task = spawn_accept_loop(listener, Arc::new(AtomicUsize::new(0)), move |stream| {
            let (counts, big) = (counts.clone(), big.clone());
            async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (counts, big) = (counts.clone(), big.clone());
                    async move { Ok::<_, Infallible>(answer(request, &counts, big).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        });
        LeanUpstream {
            addr,
            seen,
            _task: task,
        }
    }

    fn seen(&self, kind: Kind) -> u64 {
        self.seen[kind.slot()].load(Ordering::SeqCst)
    }
}

fn big_multistatus() -> Vec<u8> {
    let mut body = String::from("<?xml version=\"1.0\"?><D:multistatus xmlns:D=\"DAV:\">");
    for i in 0..BIG_ENTRIES {
        body.push_str(&format!(
            "<D:response><D:href>/big/{i:06}</D:href>\
             <D:status>HTTP/1.1 423 Locked</D:status></D:response>\n"
        ));
    }
    body.push_str("</D:multistatus>\n");
    body.into_bytes()
}

async fn answer(
    request: Request<Incoming>,
    counts: &[AtomicU64; 6],
    big: Bytes,
) -> Response<UpBody> {
    let kind = KINDS
        .iter()
        .copied()
        .find(|k| k.path() == request.uri().path());
    let Some(kind) = kind else {
        return respond(404, Full::new(Bytes::new()).map_err(|e| match e {}).boxed());
    };
    counts[kind.slot()].fetch_add(1, Ordering::SeqCst);
    let body: UpBody = match kind {
        Kind::Ok => full("ok"),
        Kind::Multistatus => full(MULTISTATUS),
        Kind::Malformed => full(MALFORMED),
        Kind::Reset => {
            use futures_util::StreamExt;
            let data =
                futures_util::stream::iter([Ok(Frame::data(Bytes::from_static(CUT.as_bytes())))]);
            // One `Pending` between the data and the error, so hyper flushes the head and the
            // data before it aborts the connection (an error ready at once could beat them).
            let error = futures_util::stream::once(async {
                tokio::task::yield_now().await;
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "soak reset"))
            });
            BodyExt::boxed(StreamBody::new(data.chain(error)))
        }
        Kind::Abort => {
            let frames: Vec<Result<Frame<Bytes>, io::Error>> = (0..big.len())
                .step_by(BIG_FRAME)
                .map(|at| Ok(Frame::data(big.slice(at..(at + BIG_FRAME).min(big.len())))))
                .collect();
            StreamBody::new(futures_util::stream::iter(frames)).boxed()
        }
        Kind::Put => {
            let got = request
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes().len());
            assert_eq!(got.ok(), Some(PUT_BYTES), "the upload arrived whole");
            Full::new(Bytes::new()).map_err(|e| match e {}).boxed()
        }
    };
    respond(kind.status(), body)
}

fn full(text: &'static str) -> UpBody {
    Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|e| match e {})
        .boxed()
}

fn respond(status: u16, body: UpBody) -> Response<UpBody> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    if status == 207 {
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/xml; charset=\"utf-8\""),
        );
    }
    response
}

/// One request of kind `kind`, checked.
async fn exchange(client: &HttpClient, proxy: &Proxy, kind: Kind) {
    let url = proxy.url_for(kind.path());
    let body = match kind {
        Kind::Put => client::full(vec![b'u'; PUT_BYTES]),
        _ => client::empty(),
    };
    let response = client.request(kind.method(), &url, &[], body).await;
    assert_eq!(response.status().as_u16(), kind.status(), "{kind:?}");
    let mut body = response.into_body();
    match kind {
        Kind::Abort => {
            let first = within("first frame", body.frame()).await;
            assert!(matches!(first, Some(Ok(_))), "{kind:?}: {first:?}");
            // Dropping the body closes the client's connection mid-body.
        }
        Kind::Reset => {
            let got = within("a body that breaks off", body.collect()).await;
            assert!(got.is_err(), "{kind:?}: the client sees the reset");
        }
        _ => {
            let got = within("body", body.collect()).await.unwrap().to_bytes();
            let want: &[u8] = match kind {
                Kind::Ok => b"ok",
                Kind::Multistatus => MULTISTATUS.as_bytes(),
                Kind::Malformed => MALFORMED.as_bytes(),
                _ => b"",
            };
            assert_eq!(&got[..], want, "{kind:?}: forwarded unchanged");
        }
    }
}

/// fds and RSS after each quarter.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    done: u64,
    fds: usize,
    rss_kib: u64,
    secs: f64,
}

fn run_soak(total: u64, concurrency: usize, check_resources: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(soak(total, concurrency, check_resources));
}

async fn soak(total: u64, concurrency: usize, check_resources: bool) {
    let upstream = LeanUpstream::start().await;
    // The soak checks counting, not pacing: on two shared cores a scanner may get no CPU
    // for a second while another build runs, which the default 1 s stall timeout would
    // (correctly) report as `lagging`.
    let proxy = Arc::new(
        Proxy::start_with(
            &format!("http://{}", upstream.addr),
            "audit: {stall_timeout: 60s}",
        )
        .await,
    );
    let before = proxy.metrics().await;
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(std::sync::Mutex::new(Vec::<Sample>::new()));
    let started = Instant::now();
    let client = HttpClient::http1();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (proxy, next, done, samples, client) = (
            proxy.clone(),
            next.clone(),
            done.clone(),
            samples.clone(),
            client.clone(),
        );
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    break;
                }
                exchange(&client, &proxy, Kind::of(i)).await;
                let finished = done.fetch_add(1, Ordering::SeqCst) + 1;
                if finished % (total / 4).max(1) == 0 {
                    samples.lock().unwrap().push(Sample {
                        done: finished,
                        fds: open_fds(),
                        rss_kib: rss_kib(),
                        secs: started.elapsed().as_secs_f64(),
                    });
                }
            }
        });
    }
    // Bounded: far above what the release run takes, a hang detector only.
    let bound = std::time::Duration::from_secs(240 + total / 100);
    tokio::time::timeout(bound, async {
        while let Some(worker) = workers.join_next().await {
            worker.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("soak of {total} requests did not finish within {bound:?}"));
    let elapsed = started.elapsed();
    drop(client);

    let n = |kind: Kind| kind.count(total);
    let n207 = n(Kind::Multistatus) + n(Kind::Malformed) + n(Kind::Reset) + n(Kind::Abort);
    let after = proxy.audited(&before, &[], n207).await;
    let d = |name: &str, labels: &[(&str, &str)]| after.delta(&before, name, labels) as u64;

    println!(
        "soak: {total} requests, {concurrency} clients, {:.1} s, {:.0} req/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    let mut samples = samples.lock().unwrap().clone();
    samples.sort_by_key(|s| s.done);
    for s in &samples {
        println!(
            "soak: after {:>7} requests ({:>6.1} s): fds {:>4}, RSS {:>7} KiB",
            s.done, s.secs, s.fds, s.rss_kib
        );
    }

    // None lost, none duplicated: davaudit's count, per method and status, and the
    // upstream's own count equal what the clients sent.
    assert_eq!(d("davaudit_requests_total", &[]), total);
    for kind in KINDS {
        let code = kind.status().to_string();
        assert_eq!(
            d(
                "davaudit_requests_total",
                &[("method", kind.method()), ("code", &code)]
            ),
            n(kind),
            "{kind:?}"
        );
        assert_eq!(upstream.seen(kind), n(kind), "{kind:?} at the upstream");
    }

    // The audit: outcomes, then entries and failures, against the known counts.
    assert_eq!(
        d("davaudit_multistatus_total", &[]),
        n207,
        "one outcome per 207"
    );
    let outcome = |method: &str, outcome: &str| {
        d(
            "davaudit_multistatus_total",
            &[("method", method), ("outcome", outcome)],
        )
    };
    assert_eq!(outcome("PROPFIND", "partial_failure"), n(Kind::Multistatus));
    assert_eq!(outcome("REPORT", "malformed"), n(Kind::Malformed));
    assert_eq!(outcome("PROPPATCH", "truncated"), n(Kind::Reset));
    assert_eq!(
        d("davaudit_multistatus_total", &[("method", "DELETE")]),
        n(Kind::Abort)
    );
    let entries = |method: &str, level: &str, code: &str| {
        d(
            "davaudit_multistatus_entries_total",
            &[("method", method), ("level", level), ("code", code)],
        )
    };
    let failures = |method: &str, level: &str, code: &str| {
        d(
            "davaudit_multistatus_failures_total",
            &[("method", method), ("level", level), ("code", code)],
        )
    };
    let ms = n(Kind::Multistatus);
    for (level, code, per_body, failing) in [
        ("response", "204", 1, false),
        ("response", "423", 2, true),
        ("response", "424", 1, true),
        ("propstat", "200", 1, false),
        ("propstat", "404", 1, false),
    ] {
        assert_eq!(
            entries("PROPFIND", level, code),
            per_body * ms,
            "{level} {code}"
        );
        let want = if failing { per_body * ms } else { 0 };
        assert_eq!(failures("PROPFIND", level, code), want, "{level} {code}");
    }
    assert_eq!(
        d(
            "davaudit_multistatus_entries_total",
            &[("method", "PROPFIND")]
        ),
        6 * ms
    );
    assert_eq!(
        d(
            "davaudit_multistatus_entries_total",
            &[("method", "REPORT")]
        ),
        n(Kind::Malformed),
        "the entry before the malformation, once per body"
    );
    assert_eq!(entries("REPORT", "response", "200"), n(Kind::Malformed));
    assert_eq!(
        d(
            "davaudit_multistatus_entries_total",
            &[("method", "PROPPATCH")]
        ),
        n(Kind::Reset),
        "the entry before the reset, once per body"
    );
    assert_eq!(failures("PROPPATCH", "response", "423"), n(Kind::Reset));
    assert!(
        entries("DELETE", "response", "423") <= n(Kind::Abort) * BIG_ENTRIES as u64,
        "aborted bodies count at most what was sent"
    );
    // Upstream faults: exactly the resets; client aborts are downstream, not counted here.
    assert_eq!(
        d("davaudit_upstream_errors_total", &[("kind", "reset")]),
        n(Kind::Reset)
    );
    assert_eq!(d("davaudit_upstream_errors_total", &[]), n(Kind::Reset));

    if check_resources {
        let (first, last) = match (samples.first(), samples.last()) {
            (Some(first), Some(last)) if samples.len() >= 4 => (*first, *last),
            _ => panic!("expected four quarter samples, got {samples:?}"),
        };
        // Generous bounds, for allocator and pool noise; a leak of one fd or 1 KiB per
        // request would exceed them many times over.
        assert!(
            last.fds <= first.fds + 64,
            "fds grew from {} to {}",
            first.fds,
            last.fds
        );
        assert!(
            last.rss_kib <= first.rss_kib + 64 * 1024,
            "RSS grew from {} KiB to {} KiB",
            first.rss_kib,
            last.rss_kib
        );
    }
}

/// Every `cargo test`: the same mix and checks, 2,000 requests.
#[test]
fn soak_smoke() {
    run_soak(2_000, 8, false);
}

/// `tests/soak/run.sh`: `DAVAUDIT_SOAK_REQUESTS` requests (default 200,000), 32 clients,
/// fds and RSS checked (this test runs alone in its process there).
#[test]
#[ignore = "soak: run by .ci/run via tests/soak/run.sh"]
fn soak_full() {
    let total = std::env::var("DAVAUDIT_SOAK_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    run_soak(total, 32, true);
}
