//! Hostile request heads (issue 18, item 8): a client's own `Forwarded` claims, user info in
//! an absolute-form target, and `CONNECT`.

use crate::support::*;

/// Every header an upstream behind a proxy may trust about the client, forged.
const FORGED: &str = "Forwarded: for=6.6.6.6;host=evil;proto=https\r\n\
    X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\n";

async fn forged_request(forwarding: &str) -> RequestRecord {
    let upstream = FakeUpstream::always(Reply::ok("ok")).await;
    let proxy = Proxy::start_with(&upstream.url(), forwarding).await;
    let request =
        format!("GET /f HTTP/1.1\r\nHost: dav.example\r\n{FORGED}Connection: close\r\n\r\n");
    let response = raw_request(proxy.addr(), request.as_bytes()).await;
    assert_eq!(response.status, 200, "{forwarding}");
    let seen = upstream.requests();
    assert_eq!(seen.len(), 1);
    seen.into_iter().next().unwrap()
}

/// With `x_forwarded` on and `forwarded` off (the defaults), the client's `X-Forwarded-*`
/// are overwritten (For appended to); its `Forwarded` must not pass either: an upstream that
/// reads RFC 7239 would trust `host=evil`.
#[tokio::test]
async fn a_client_forwarded_header_is_dropped_when_davaudit_sets_x_forwarded() {
    let seen = forged_request("forwarding: {x_forwarded: true, forwarded: false}").await;
    println!("{:?}", seen.headers);
    assert_eq!(
        seen.header_all("forwarded"),
        Vec::<&str>::new(),
        "the client's Forwarded reached the upstream"
    );
    assert_eq!(seen.header("x-forwarded-host"), Some("dav.example"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(seen.header("x-forwarded-for"), Some("6.6.6.6, 127.0.0.1"));
}

/// And the other way round: with only `forwarded` on, the client's `X-Forwarded-*` go.
#[tokio::test]
async fn client_x_forwarded_headers_are_dropped_when_davaudit_sets_forwarded() {
    let seen = forged_request("forwarding: {x_forwarded: false, forwarded: true}").await;
    println!("{:?}", seen.headers);
    for name in ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"] {
        assert_eq!(
            seen.header_all(name),
            Vec::<&str>::new(),
            "the client's {name} reached the upstream"
        );
    }
    let forwarded = seen.header_all("forwarded").join(", ");
    assert!(
        forwarded.ends_with("for=127.0.0.1;host=dav.example;proto=http"),
        "davaudit's own element is last: {forwarded}"
    );
}

/// Both on: both families carry davaudit's view last; both off: davaudit adds nothing and
/// changes nothing (the deployment behind a trusted proxy that sets them).
#[tokio::test]
async fn both_families_on_or_both_off() {
    let seen = forged_request("forwarding: {x_forwarded: true, forwarded: true}").await;
    assert_eq!(seen.header("x-forwarded-host"), Some("dav.example"));
    assert!(
        seen.header_all("forwarded")
            .join(", ")
            .ends_with("for=127.0.0.1;host=dav.example;proto=http")
    );
    let seen = forged_request("forwarding: {x_forwarded: false, forwarded: false}").await;
    assert_eq!(
        seen.header("forwarded"),
        Some("for=6.6.6.6;host=evil;proto=https")
    );
    assert_eq!(seen.header("x-forwarded-host"), Some("evil"));
}

/// `GET http://user:pw@evil.example/…`: user info is not part of a host. It must not reach
/// `X-Forwarded-Host`, `Forwarded` or (with `preserve_host`) `Host`.
#[tokio::test]
async fn user_info_in_an_absolute_form_target_never_becomes_a_host() {
    for forwarding in [
        "forwarding: {forwarded: true}",
        "forwarding: {forwarded: true, preserve_host: true}",
    ] {
        let upstream = FakeUpstream::always(Reply::ok("ok")).await;
        let proxy = Proxy::start_with(&upstream.url(), forwarding).await;
        let request = "GET http://user:pw@evil.example/u HTTP/1.1\r\nHost: evil.example\r\n\
                       Connection: close\r\n\r\n";
        let response = raw_request(proxy.addr(), request.as_bytes()).await;
        println!("{forwarding}: {response:?}");
        for seen in upstream.requests() {
            println!("{:?}", seen.headers);
            for (name, value) in &seen.headers {
                let value = value.to_str().unwrap_or_default();
                assert!(
                    !value.contains("pw@") && !value.contains("user:"),
                    "{forwarding}: user info in {name}: {value}"
                );
            }
            assert_eq!(seen.header("x-forwarded-host"), Some("evil.example"));
            if forwarding.contains("preserve_host") {
                assert_eq!(seen.header("host"), Some("evil.example"));
            }
        }
    }
}

/// `CONNECT` asks a proxy for a tunnel; davaudit is a reverse proxy for WebDAV and has none
/// to give. The client gets an answer at once, and the upstream is never contacted.
#[tokio::test]
async fn connect_is_answered_without_contacting_the_upstream() {
    let upstream = FakeUpstream::always(Reply::ok("ok")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let response = raw_request(
        proxy.addr(),
        b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nConnection: close\r\n\r\n",
    )
    .await;
    println!("{response:?}");
    assert!(
        response.status == 405 || response.status == 501,
        "CONNECT got {}",
        response.status
    );
    // An ordinary request afterwards proves the proxy is fine; only it reached the upstream.
    let (status, _, _) = send("GET", &proxy.url_for("/after"), &[], "").await;
    assert_eq!(status, 200);
    let seen = upstream.requests();
    assert_eq!(
        seen.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(),
        ["GET"],
        "only the GET may reach the upstream"
    );
    let metrics = proxy.metrics().await;
    assert_eq!(
        metrics.get(
            "davaudit_requests_total",
            &[("code", &response.status.to_string())]
        ),
        1.0
    );
}

/// Over h2 too (`:method CONNECT`, `:authority` only).
#[tokio::test]
async fn an_h2_connect_is_answered_without_contacting_the_upstream() {
    let upstream = FakeUpstream::always(Reply::ok("ok")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let stream = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let request = http::Request::connect("evil.example:443")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = within("h2 CONNECT", sender.send_request(request))
        .await
        .unwrap();
    assert!(
        response.status() == 405 || response.status() == 501,
        "{:?}",
        response.status()
    );
    // (Connections are not counted: the readiness probe opens some.)
    assert!(
        upstream.requests().is_empty(),
        "the CONNECT reached the upstream"
    );
}
