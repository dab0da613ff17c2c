//! Heap allocations per small request: a 100-byte GET sent straight to a backend, through a
//! plain hyper pass-through (no tee, no audit: the floor hyper sets) and through davaudit
//! (defaults, audit on, logging initialised at `warn` as in production), and through davaudit
//! with `log.access: true` (its line per request written to stderr). All run in this
//! process under a counting allocator; the client and the backend allocate the same in each
//! case, so `proxy - direct` is what the proxy adds per request. Counts, not times: the
//! figures do not move with the load on the machine.
//!
//! Run: `cargo bench --bench request_allocs 2>/dev/null` (REQUESTS=N to change the 2,000
//! requests; stderr holds the access lines).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark: a failure should stop it loudly"
)]

use std::alloc::System;
use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tokio::net::TcpListener;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SMALL: &[u8] = b"davaudit bench backend: a small plain-text response of exactly one hundred bytes, for a GET /small.\n";

/// Serves `service` on 127.0.0.1:0, HTTP/1.1 keep-alive, until the runtime ends.
async fn serve<F, Fut, B>(service: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            let service = service.clone();
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service_fn(service))
                    .await;
            });
        }
    });
    addr
}

async fn backend() -> SocketAddr {
    serve(|_request| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(SMALL))))
    })
    .await
}

async fn passthrough(upstream: SocketAddr) -> SocketAddr {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .build(connector);
    let authority = HeaderValue::from_str(&upstream.to_string()).unwrap();
    serve(move |mut request: Request<Incoming>| {
        let client = client.clone();
        let authority = authority.clone();
        async move {
            let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
            *request.uri_mut() = format!(
                "http://{authority}{path}",
                authority = authority.to_str().unwrap()
            )
            .parse::<Uri>()
            .unwrap();
            request.headers_mut().insert(header::HOST, authority);
            let response = client.request(request).await.unwrap();
            Ok::<_, Infallible>(response)
        }
    })
    .await
}

/// davaudit with defaults (`access`: false), or with `log.access: true`.
async fn davaudit(upstream: SocketAddr, access: bool) -> (SocketAddr, davaudit::Running) {
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nupstream:\n  url: http://{upstream}\n\
         log:\n  format: json\n  level: warn\n  access: {access}\n"
    );
    let config = davaudit::config::from_yaml(&yaml, "bench.yaml").unwrap();
    let running = davaudit::run(config, std::future::pending::<()>())
        .await
        .unwrap();
    (running.proxy_addr(), running)
}

/// Allocations (count, bytes) per request for `n` GETs over one keep-alive connection.
async fn per_request(addr: SocketAddr, n: usize) -> (f64, f64) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut get = async || {
        let request = Request::get("/small")
            .header(header::HOST, "bench.example")
            .header(header::USER_AGENT, "request-allocs/1")
            .header(header::ACCEPT, "*/*")
            .body(Empty::<Bytes>::new())
            .unwrap();
        // The previous response's end may not have been processed yet: wait for the
        // connection to take the next request.
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(
            response.status(),
            200,
            "GET /small via {addr}: {:?}",
            response.headers()
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), SMALL.len());
    };
    for _ in 0..200 {
        get().await;
    }
    let region = Region::new(GLOBAL);
    for _ in 0..n {
        get().await;
    }
    let stats = region.change();
    (
        stats.allocations as f64 / n as f64,
        stats.bytes_allocated as f64 / n as f64,
    )
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` it only builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = davaudit::config::from_yaml(
            "upstream:\n  url: http://127.0.0.1:1\nlog:\n  format: json\n  level: warn\n  access: true\n",
            "bench.yaml",
        )
        .unwrap()
        .log;
        let _log = davaudit::internals::init_logging(&log).unwrap();
        let backend = backend().await;
        let hyper = passthrough(backend).await;
        let (davaudit_off, _running) = davaudit(backend, false).await;
        let (davaudit_on, _running_on) = davaudit(backend, true).await;
        let direct = per_request(backend, n).await;
        let floor = per_request(hyper, n).await;
        let ours = per_request(davaudit_off, n).await;
        // The access line of each request is written to stderr (JSON): redirect it.
        let access = per_request(davaudit_on, n).await;
        println!("allocations per 100-byte GET ({n} requests, one keep-alive connection)");
        println!("| path | allocations | bytes | added by the proxy |");
        println!("|---|---|---|---|");
        println!(
            "| direct (client + backend) | {:.1} | {:.0} | - |",
            direct.0, direct.1
        );
        for (name, (count, bytes)) in [
            ("hyper pass-through", floor),
            ("davaudit", ours),
            ("davaudit, log.access on", access),
        ] {
            println!(
                "| {name} | {count:.1} | {bytes:.0} | {:.1} allocations, {:.0} bytes |",
                count - direct.0,
                bytes - direct.1
            );
        }
    });
}
