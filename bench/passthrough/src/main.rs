//! bench-passthrough: the floor hyper itself sets for a proxy, measured beside davaudit by
//! the load harness (`bench/run.sh`). Not a product: no config, no limits, no audit, no tee.
//!
//! `bench-passthrough LISTEN_PORT UPSTREAM_PORT` serves HTTP/1.1 (keep-alive) on
//! `127.0.0.1:LISTEN_PORT` and forwards every request to `127.0.0.1:UPSTREAM_PORT` through a
//! pooled hyper-util client, bodies streamed both ways unchanged, with the same runtime
//! (multi-thread, one worker per core), the same connection options (nodelay, http1 with
//! keep-alive) and the same minimum header work as davaudit (hop-by-hop `Connection` removed,
//! URI made absolute), so the difference to davaudit is what davaudit adds.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;

type Upstream = Client<HttpConnector, Incoming>;

async fn forward(
    client: Upstream,
    authority: HeaderValue,
    origin: &'static str,
    mut request: Request<Incoming>,
) -> Result<Response<Either<Incoming, Empty<Bytes>>>, Infallible> {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let uri: Uri = format!("{origin}{path}").parse().expect("valid URI");
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.remove(header::CONNECTION);
    headers.insert(header::HOST, authority);
    match client.request(request).await {
        Ok(mut response) => {
            response.headers_mut().remove(header::CONNECTION);
            Ok(response.map(Either::Left))
        }
        Err(error) => {
            eprintln!("upstream: {error}");
            // A 502 with an empty body; the harness counts non-2xx answers as errors.
            let mut response = Response::new(Either::Right(Empty::new()));
            *response.status_mut() = http::StatusCode::BAD_GATEWAY;
            Ok(response)
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let listen: u16 = args.next().and_then(|a| a.parse().ok()).expect("LISTEN_PORT");
    let upstream: u16 = args.next().and_then(|a| a.parse().ok()).expect("UPSTREAM_PORT");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let origin: &'static str = Box::leak(format!("http://127.0.0.1:{upstream}").into_boxed_str());
        let authority = HeaderValue::from_str(&format!("127.0.0.1:{upstream}")).expect("host");
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Upstream = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(256)
            .build(connector);
        let addr = SocketAddr::from(([127, 0, 0, 1], listen));
        let listener = TcpListener::bind(addr).await.expect("bind");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let client = client.clone();
            let authority = authority.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    forward(client.clone(), authority.clone(), origin, request)
                });
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
