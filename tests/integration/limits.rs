//! Limits and idle timeouts on both legs: request body size (413), a client that stops
//! sending (408), an upstream that stops sending mid-body or breaks it (counted upstream
//! errors), and the connection limit.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::support::upstream::read_head;
use crate::support::*;

#[tokio::test]
async fn a_declared_body_over_the_limit_gets_413_without_reaching_the_upstream() {
    let upstream = FakeUpstream::always(Reply::status(201)).await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {max_request_body: 1KiB}").await;
    let (status, _, _) = send("PUT", &proxy.url_for("/big"), &[], vec![b'x'; 2048]).await;
    assert_eq!(status.as_u16(), 413);
    assert_eq!(upstream.requests().len(), 0);
    let (status, _, _) = send("PUT", &proxy.url_for("/small"), &[], vec![b'x'; 1024]).await;
    assert_eq!(status.as_u16(), 201);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_413() {
    let upstream = FakeUpstream::always(Reply::status(201)).await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {max_request_body: 1KiB}").await;
    let upload = stream(
        "PUT",
        &proxy.url_for("/big"),
        &[],
        client::pattern_body(4096, 512),
    )
    .await;
    assert_eq!(upload.status.as_u16(), 413);
    let m = proxy.metrics().await;
    assert_eq!(
        m.get("davaudit_upstream_errors_total", &[]),
        0.0,
        "a client fault"
    );
}

#[tokio::test]
async fn a_client_that_stops_sending_its_body_gets_408() {
    let upstream = FakeUpstream::always(Reply::status(201)).await;
    let proxy = Proxy::start_with(&upstream.url(), "upstream: {idle_timeout: 200ms}").await;
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(b"PUT /f HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nab")
        .await;
    let response = conn.read_response(false).await;
    assert_eq!(response.status, 408);
}

#[tokio::test]
async fn an_upstream_that_stalls_mid_body_is_cut_off_and_counted_as_timeout() {
    let upstream = FakeUpstream::always(
        Reply::status(200)
            .generated(1 << 20)
            .framed(1024)
            .frame_delay(Duration::from_secs(30)),
    )
    .await;
    let proxy = Proxy::start_with(&upstream.url(), "upstream: {idle_timeout: 200ms}").await;
    let download = stream("GET", &proxy.url_for("/slow"), &[], client::empty()).await;
    assert_eq!(download.status.as_u16(), 200);
    assert!(
        download.error.is_some(),
        "the client must see the body break off"
    );
    proxy
        .metrics_when(|m| m.get("davaudit_upstream_errors_total", &[("kind", "timeout")]) == 1.0)
        .await;
}

#[tokio::test]
async fn an_upstream_body_broken_mid_way_is_counted_as_reset() {
    let upstream = RawUpstream::start(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
            .await;
        let _ = s.shutdown().await;
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let download = stream("GET", &proxy.url_for("/f"), &[], client::empty()).await;
    assert!(download.error.is_some());
    proxy
        .metrics_when(|m| m.get("davaudit_upstream_errors_total", &[("kind", "reset")]) == 1.0)
        .await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_once() {
    let upstream = FakeUpstream::always(Reply::ok("ok")).await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {max_connections: 1}").await;
    // The first connection holds the only slot (keep-alive, idle).
    let mut first = RawConn::connect(proxy.addr()).await;
    first.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(first.read_response(false).await.status, 200);
    let mut second = RawConn::connect(proxy.addr()).await;
    assert!(
        second.closed_by_peer().await,
        "over the limit: closed without an answer"
    );
    drop(first);
    // Once the slot is free, connections are served again.
    wait_until("a connection slot is free again", || async {
        let bytes = client::raw_exchange(
            proxy.addr(),
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        bytes.starts_with(b"HTTP/1.1 200").then_some(())
    })
    .await;
}
