//! Idle HTTP/2 connections (issue 18, item 1): after its first request an h2c connection
//! must not live for ever. Idle ones are closed with a GOAWAY after
//! `limits.keepalive_timeout`, on the proxy and on the admin listener, so a handful of
//! idle clients cannot lock everyone else out at `max_connections` (or make `/healthz`
//! fail at `admin.max_connections`).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::h2raw::{GOAWAY, H2Conn};
use crate::support::*;

/// One h2c request, then silence: the server must send GOAWAY (NO_ERROR) and close.
async fn assert_idle_h2_closed(addr: SocketAddr, path: &str) {
    let mut h2 = H2Conn::connect(addr).await;
    h2.get(1, path).await;
    let head = h2.wait_stream(1).await.expect("an answer on stream 1");
    println!("{path}: {head:?}");
    let frames = h2.read_to_close().await;
    let goaway = frames
        .iter()
        .find(|f| f.kind == GOAWAY)
        .unwrap_or_else(|| panic!("{path}: closed without GOAWAY: {frames:?}"));
    assert_eq!(goaway.error_code(), Some(0), "GOAWAY NO_ERROR");
}

/// A plain HTTP/1.1 GET on a new connection; `None` when the connection was refused,
/// closed or reset before a whole answer.
async fn try_get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok()?;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[tokio::test]
async fn an_idle_h2c_connection_gets_goaway_after_the_keepalive_timeout() {
    let upstream = FakeUpstream::always(Reply::ok("ok")).await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {keepalive_timeout: 300ms}").await;
    assert_idle_h2_closed(proxy.addr(), "/a").await;
    assert_idle_h2_closed(proxy.admin_addr(), "/healthz").await;
}

/// The attack: as many idle h2c connections as `max_connections` allows. A new client must
/// get served once the idle ones are closed.
#[tokio::test]
async fn idle_h2c_connections_cannot_lock_out_new_clients() {
    const SLOTS: usize = 4;
    let upstream = FakeUpstream::always(Reply::ok("ok")).await;
    let proxy = Proxy::start_with(
        &upstream.url(),
        &format!(
            "limits: {{max_connections: {SLOTS}, keepalive_timeout: 300ms}}\n\
             admin: {{max_connections: {SLOTS}}}"
        ),
    )
    .await;
    let mut idle = Vec::new();
    for (addr, path) in [(proxy.addr(), "/a"), (proxy.admin_addr(), "/healthz")] {
        for _ in 0..SLOTS {
            let mut h2 = H2Conn::connect(addr).await;
            h2.get(1, path).await;
            h2.wait_stream(1)
                .await
                .expect("served while there are slots");
            idle.push(h2);
        }
    }
    // Every slot of both listeners is held by an idle client; new clients wait until they
    // are closed (a deadline loop: never a fixed sleep).
    wait_until("a new client served by the proxy", || async {
        (try_get(proxy.addr(), "/b").await == Some(200)).then_some(())
    })
    .await;
    wait_until("/healthz served on the admin listener", || async {
        (try_get(proxy.admin_addr(), "/healthz").await == Some(200)).then_some(())
    })
    .await;
    for mut h2 in idle {
        let frames = h2.read_to_close().await;
        assert!(
            frames.iter().any(|f| f.kind == GOAWAY),
            "idle connection closed without GOAWAY"
        );
    }
}
