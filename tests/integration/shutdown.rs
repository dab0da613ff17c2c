//! Graceful shutdown (`Running::shutdown`, what SIGTERM triggers): `/readyz` turns 503, the
//! proxy stops accepting, in-flight responses finish byte-identical, and the drain is bounded
//! by `shutdown.drain_timeout` even when a response never ends.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::support::client::read_streamed;
use crate::support::upstream::read_head;
use crate::support::*;

/// An upstream that answers `GET` with the head and the first half of `body`, then waits for
/// a permit on `gate` before sending the rest. Other connections (readiness probes) are
/// closed at once.
async fn gated_upstream(body: &'static [u8], gate: Arc<Semaphore>) -> RawUpstream {
    RawUpstream::start(move |mut s| {
        let gate = gate.clone();
        async move {
            let head = read_head(&mut s).await;
            if !head.starts_with(b"GET ") {
                return;
            }
            let (first, rest) = body.split_at(body.len() / 2);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(first).await;
            let _ = s.flush().await;
            let Ok(permit) = gate.acquire().await else {
                return;
            };
            permit.forget();
            let _ = s.write_all(rest).await;
            let _ = s.shutdown().await;
            // Keep the socket open until the peer is done, like a real server would.
            let mut sink = [0u8; 64];
            let _ = tokio::io::AsyncReadExt::read(&mut s, &mut sink).await;
        }
    })
    .await
}

async fn refuses_connections(addr: std::net::SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_err()
}

fn body_bytes() -> &'static [u8] {
    static BODY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BODY.get_or_init(|| pattern(0, 256 * 1024))
}

#[tokio::test]
async fn shutdown_drains_an_in_flight_response_then_refuses_connections() {
    let gate = Arc::new(Semaphore::new(0));
    let body = body_bytes();
    let upstream = gated_upstream(body, gate.clone()).await;
    let proxy = Proxy::start_with(&upstream.url(), "shutdown: {drain_timeout: 60s}").await;
    let (addr, admin) = (proxy.addr(), proxy.admin_addr());
    let readyz = format!("http://{admin}/readyz");
    wait_until("/readyz 200 before shutdown", || async {
        let (status, _, _) = send("GET", &readyz, &[], "").await;
        (status == 200).then_some(())
    })
    .await;

    // The response head (and half the body) has reached the client: the request is in flight.
    let client = HttpClient::http1();
    let response = client
        .request("GET", &proxy.url_for("/slow.bin"), &[], client::empty())
        .await;
    assert_eq!(response.status(), 200);

    let stopping = tokio::spawn(proxy.stop());

    // Draining: not ready any more, and no new connections, while the response goes on.
    let (status, _, why) = wait_until("/readyz 503 while draining", || async {
        let answer = send("GET", &readyz, &[], "").await;
        (answer.0 == 503).then_some(answer)
    })
    .await;
    assert_eq!(status, 503);
    assert_eq!(why, "draining\n");
    wait_until("the proxy to refuse new connections", || async {
        refuses_connections(addr).await.then_some(())
    })
    .await;
    assert!(!stopping.is_finished(), "shutdown waits for the response");

    // Let the upstream finish: the in-flight response completes, byte-identical.
    gate.add_permits(1);
    let streamed = read_streamed(response).await;
    assert_eq!(streamed.error, None);
    assert_eq!(streamed.digest, digest(body));

    within("shutdown after the drain", stopping)
        .await
        .expect("shutdown task");
    assert!(refuses_connections(addr).await, "proxy listener closed");
    assert!(refuses_connections(admin).await, "admin listener closed");
}

#[tokio::test]
async fn shutdown_returns_after_the_drain_timeout_when_a_response_never_ends() {
    // The gate is never opened: the response never ends.
    let gate = Arc::new(Semaphore::new(0));
    let upstream = gated_upstream(body_bytes(), gate).await;
    let proxy = Proxy::start_with(&upstream.url(), "shutdown: {drain_timeout: 200ms}").await;
    let addr = proxy.addr();
    let client = HttpClient::http1();
    let response = client
        .request("GET", &proxy.url_for("/never.bin"), &[], client::empty())
        .await;
    assert_eq!(response.status(), 200);

    // `Proxy::stop` is bounded by `within`: it fails the test if the drain is not bounded.
    proxy.stop().await;
    assert!(refuses_connections(addr).await, "proxy listener closed");
    drop(response);
}

#[tokio::test]
async fn connections_left_after_the_drain_timeout_are_closed() {
    let gate = Arc::new(Semaphore::new(0));
    let upstream = gated_upstream(body_bytes(), gate).await;
    let proxy = Proxy::start_with(&upstream.url(), "shutdown: {drain_timeout: 200ms}").await;
    let response = HttpClient::http1()
        .request("GET", &proxy.url_for("/never.bin"), &[], client::empty())
        .await;
    assert_eq!(response.status(), 200);
    proxy.stop().await;
    // The drain is over: what was still in flight is cut, not served on by a task nobody owns.
    let streamed = read_streamed(response).await;
    assert!(
        streamed.error.is_some(),
        "the response should break off: {streamed:?}"
    );
}

/// Connections run on the connection workers (`src/workers.rs`), the drain on the runtime
/// that started davaudit: a response in flight on each worker at shutdown finishes
/// byte-identical (the workers are not stopped under them), then shutdown returns.
#[tokio::test]
async fn shutdown_drains_in_flight_responses_on_every_worker() {
    const WORKERS: usize = 2;
    let gate = Arc::new(Semaphore::new(0));
    let body = body_bytes();
    let upstream = gated_upstream(body, gate.clone()).await;
    let proxy =
        Proxy::start_on_workers(&upstream.url(), "shutdown: {drain_timeout: 60s}", WORKERS).await;
    let addr = proxy.addr();
    // One connection per worker (each goes to the least busy one), each response in flight.
    let mut responses = Vec::new();
    for _ in 0..WORKERS {
        let client = HttpClient::http1();
        let response = client
            .request("GET", &proxy.url_for("/slow.bin"), &[], client::empty())
            .await;
        assert_eq!(response.status(), 200);
        responses.push((client, response));
    }
    let stopping = tokio::spawn(proxy.stop());
    wait_until("the proxy to refuse new connections", || async {
        refuses_connections(addr).await.then_some(())
    })
    .await;
    assert!(!stopping.is_finished(), "shutdown waits for the responses");
    gate.add_permits(WORKERS);
    for (_client, response) in responses {
        let streamed = read_streamed(response).await;
        assert_eq!(streamed.error, None);
        assert_eq!(streamed.digest, digest(body));
    }
    within("shutdown after the drain", stopping)
        .await
        .expect("shutdown task");
}
