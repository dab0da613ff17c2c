//! Header trust: a client cannot choose the X-Forwarded-Host the upstream sees; fields a
//! Connection header names are removed whatever their bytes; no Host or two Hosts is a 400.

use crate::support::*;

use super::smuggling::{Attack, run_attacks};
use super::*;

/// A request without a Host header (HTTP/1.0, or an HTTP/1.1 client that omits it): davaudit
/// cannot name the public host, so it sets no `X-Forwarded-Host`; the client's own one must
/// not reach the upstream either, since upstreams behind a trusted proxy build absolute URLs
/// (password-reset links, hrefs) from it.
#[tokio::test]
async fn a_client_cannot_choose_the_x_forwarded_host_the_upstream_sees() {
    let upstream = echo_upstream().await;
    let proxy = Proxy::start(&upstream.url()).await;
    for request in [
        "GET /a HTTP/1.0\r\nX-Forwarded-Host: evil.example\r\n\r\n",
        "GET /b HTTP/1.1\r\nX-Forwarded-Host: evil.example\r\nConnection: close\r\n\r\n",
    ] {
        let response = raw_request(proxy.addr(), request.as_bytes()).await;
        println!("{request:?} -> {}", response.status);
    }
    for seen in upstream.requests() {
        println!(
            "{} x-forwarded-host={:?} host={:?}",
            seen.uri,
            seen.header_all("x-forwarded-host"),
            seen.header("host")
        );
        assert!(
            !seen
                .header_all("x-forwarded-host")
                .contains(&"evil.example"),
            "{}: the client's X-Forwarded-Host reached the upstream",
            seen.uri
        );
    }
}

/// RFC 9110 §7.6.1: every field the Connection header names is removed before forwarding.
/// A Connection value that also carries a non-ASCII byte must not switch that off.
#[tokio::test]
async fn fields_named_by_a_connection_header_with_odd_bytes_are_still_removed() {
    let upstream = echo_upstream().await;
    let proxy = Proxy::start(&upstream.url()).await;
    let mut request = b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close, X-Hop, ".to_vec();
    request.extend_from_slice(b"\xff\r\nX-Hop: 1\r\n\r\n");
    // hyper does not read `close` out of a value with a non-ASCII byte: keep-alive.
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(&request).await;
    assert_eq!(conn.read_response(false).await.status, 200);
    let seen = upstream.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("x-hop"),
        None,
        "X-Hop was listed in Connection"
    );
}

/// RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, or with two
/// Host lines. hyper leaves that to the application; davaudit forwards both (with the first
/// Host as X-Forwarded-Host), which lets a client make davaudit and a Host-checking upstream
/// disagree about the public host.
#[tokio::test]
async fn a_request_with_no_host_or_two_hosts_is_rejected() {
    run_attacks(&[
        Attack::reject(
            "HTTP/1.1 without Host",
            "PUT /a HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd".to_owned(),
        ),
        Attack::reject(
            "two Host lines",
            "PUT /a HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nContent-Length: 4\r\n\r\nabcd"
                .to_owned(),
        ),
    ])
    .await;
}
