//! Oversized request heads and slowloris: 431 for a head past the limit; clients that send
//! half a head, nothing, only the h2c preface, or trickle, are closed after the timeouts.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

use super::*;

#[tokio::test]
async fn an_oversized_request_head_gets_431_and_the_next_request_works() {
    let upstream = echo_upstream().await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {max_header_bytes: 8KiB}").await;

    // One large field.
    let big = "a".repeat(12 * 1024);
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(format!("GET /big HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes())
        .await;
    let response = conn.read_response(false).await;
    assert_eq!(response.status, 431, "{response:?}");
    assert!(conn.closed_by_peer().await, "closed after the 431");

    // Many small fields, the same size in all.
    let many: String = (0..400).map(|i| format!("X-F{i}: {i:020}\r\n")).collect();
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(format!("GET /many HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes())
        .await;
    let response = conn.read_response(false).await;
    assert_eq!(response.status, 431, "{response:?}");
    assert!(conn.closed_by_peer().await, "closed after the 431");

    assert!(upstream.requests().is_empty(), "nothing was forwarded");

    // The proxy still serves, a head just under the limit included.
    let (status, _, body) = send("GET", &proxy.url_for("/next"), &[], "").await;
    assert_eq!((status.as_u16(), &body[..]), (200, &b"GET /next"[..]));
    let fits = "b".repeat(6 * 1024);
    let (status, _, body) = send("GET", &proxy.url_for("/fits"), &[("x-fits", &fits)], "").await;
    assert_eq!((status.as_u16(), &body[..]), (200, &b"GET /fits"[..]));
}

/// Reads what the server sends until it closes: nothing, or a 408.
async fn assert_closed_without_an_answer(conn: &mut RawConn, what: &str) {
    let rest = conn.read_to_end().await;
    assert!(
        rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
        "{what}: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[tokio::test]
async fn a_client_that_sends_half_a_head_is_closed_after_the_header_read_timeout() {
    let upstream = echo_upstream().await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {header_read_timeout: 300ms}").await;
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await;
    assert_closed_without_an_answer(&mut conn, "half a head").await;
    assert!(upstream.requests().is_empty());
    let (status, _, _) = send("GET", &proxy.url_for("/next"), &[], "").await;
    assert_eq!(status.as_u16(), 200);
}

/// A keep-alive client that sends half of its next head, or nothing more, is closed after
/// `header_read_timeout` (`keepalive_timeout` is 75 s here). Two deadlines enforce it on
/// HTTP/1: hyper's header read timer (`listener::head_timer`, re-armed for every head) and
/// the connection's first idle deadline (`activity`). Either alone passes this test (each
/// was checked with the other disabled); with both gone it times out.
#[tokio::test]
async fn a_keep_alive_client_that_stalls_in_its_next_head_is_closed_after_the_header_read_timeout()
{
    let upstream = echo_upstream().await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {header_read_timeout: 300ms}").await;
    for rest in [&b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: "[..], b""] {
        let mut conn = RawConn::connect(proxy.addr()).await;
        for path in ["/first", "/second"] {
            conn.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await;
            let response = conn.read_response(false).await;
            assert_eq!(response.status, 200, "{response:?}");
        }
        conn.send(rest).await;
        assert_closed_without_an_answer(&mut conn, "a stalled keep-alive connection").await;
    }
    assert_eq!(upstream.requests().len(), 4);
}

/// A connection that sends nothing, or only the start of the HTTP/2 preface, holds a
/// connection slot (`limits.max_connections`) for ever: hyper-util's `auto` builder reads
/// the first bytes to choose HTTP/1.1 or h2 with no timeout, and hyper's header read timer
/// only starts once HTTP/1.1 was chosen. 10,000 silent sockets lock every client out.
#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_read_timeout() {
    let upstream = echo_upstream().await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {header_read_timeout: 300ms}").await;
    let mut silent = RawConn::connect(proxy.addr()).await;
    assert_closed_without_an_answer(&mut silent, "silent connection").await;
    let mut preface = RawConn::connect(proxy.addr()).await;
    preface.send(b"PRI * HTTP/2.0\r\n").await;
    assert_closed_without_an_answer(&mut preface, "half the h2 preface").await;
}

/// An h2c client that sends the preface and then nothing: the h2 side has neither a
/// header read timeout nor an idle timeout (`limits.keepalive_timeout` is only given to
/// hyper's HTTP/1 builder), so the connection and its slot are held for ever.
#[tokio::test]
async fn an_h2c_client_that_stops_after_the_preface_is_closed() {
    let upstream = echo_upstream().await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {header_read_timeout: 300ms}").await;
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    // The server's SETTINGS (and maybe a GOAWAY) arrive; then the connection must end.
    let _ = conn.read_to_end().await;
}

/// The header read timeout bounds the whole head, not the gap between bytes: a client that
/// sends one byte every 20 ms (pacing the client, not waiting for state) is still closed.
/// At that pace the 30 s fixture bound allows 1,500 bytes, far below the 64 KiB head limit,
/// so only the timeout can close it.
#[tokio::test]
async fn a_client_that_trickles_its_head_is_closed_too() {
    let upstream = echo_upstream().await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {header_read_timeout: 300ms}").await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut sent = 0usize;
    let mut buf = [0u8; 1024];
    let received = within("the server to close a trickling client", async {
        let mut received = Vec::new();
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return received,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                },
                _ = tick.tick() => {
                    if stream.write_all(b"a").await.is_err() {
                        return received;
                    }
                    sent += 1;
                }
            }
        }
    })
    .await;
    println!("trickling client closed after {sent} bytes of header value");
    assert!(
        received.is_empty() || received.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout() {
    let upstream = echo_upstream().await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {keepalive_timeout: 300ms}").await;
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(conn.read_response(false).await.body, b"GET /one");
    assert_closed_without_an_answer(&mut conn, "idle keep-alive connection").await;
}

/// A client that sends a request and then never reads the answer: hyper stops pulling the
/// response body once the socket is full, so the body's idle timer never ran and the
/// exchange (its upstream connection and its `limits.max_upstream_requests` slot) was held
/// for as long as the client kept the socket open. `upstream.idle_timeout` says "no body
/// bytes for this long, either leg, ends the exchange": a response that cannot be written
/// for that long now ends it, and the slot goes back.
#[tokio::test]
async fn a_client_that_stops_reading_gives_its_exchange_back_after_the_idle_timeout() {
    let upstream = FakeUpstream::start(|r| match r.uri.path() {
        "/big" => Reply::status(200).generated(1 << 30),
        _ => Reply::ok("ok"),
    })
    .await;
    let proxy = Proxy::start_with(
        &upstream.url(),
        "upstream: {idle_timeout: 1s}\nlimits: {max_upstream_requests: 1}",
    )
    .await;
    let mut stalled = RawConn::connect(proxy.addr()).await;
    stalled.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n").await;
    upstream.wait_requests(1).await;
    // 503 while the stalled exchange holds the only slot; 200 once it gave it back.
    wait_until(
        "the stalled exchange gave its upstream slot back",
        || async {
            let (status, _, _) = send("GET", &proxy.url_for("/small"), &[], "").await;
            (status.as_u16() == 200).then_some(())
        },
    )
    .await;
    drop(stalled);
}
