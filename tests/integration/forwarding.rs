//! What davaudit changes on the way, and only that: hop-by-hop headers (both legs),
//! X-Forwarded-*/Forwarded, Host, the request id, and Destination/If for COPY/MOVE.

use crate::support::*;

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_and_webdav_headers_kept_on_the_request() {
    let upstream = FakeUpstream::always(Reply::status(204)).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let headers = [
        ("connection", "x-private"),
        ("x-private", "secret"),
        ("keep-alive", "timeout=5"),
        ("proxy-authorization", "Basic Zm9vOmJhcg=="),
        ("te", "trailers"),
        ("depth", "infinity"),
        ("overwrite", "F"),
        ("lock-token", "<urn:uuid:1>"),
        ("timeout", "Second-600"),
        ("if", "(<urn:uuid:1>)"),
        ("authorization", "Basic dXNlcjpwdw=="),
    ];
    send("LOCK", &proxy.url_for("/f"), &headers, "").await;
    let record = upstream.requests().pop().unwrap();
    for dropped in [
        "connection",
        "x-private",
        "keep-alive",
        "proxy-authorization",
        "te",
    ] {
        assert_eq!(
            record.header(dropped),
            None,
            "{dropped} must not reach the upstream"
        );
    }
    for (kept, value) in [
        ("depth", "infinity"),
        ("overwrite", "F"),
        ("lock-token", "<urn:uuid:1>"),
        ("timeout", "Second-600"),
        ("if", "(<urn:uuid:1>)"),
        ("authorization", "Basic dXNlcjpwdw=="),
    ] {
        assert_eq!(record.header(kept), Some(value), "{kept}");
    }
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_on_the_response() {
    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nConnection: x-hop, close\r\nX-Hop: 1\r\n\
        Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nX-Kept: yes\r\n\
        Content-Length: 2\r\n\r\nok";
    let upstream = RawUpstream::respond_with(ANSWER).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let response = raw_request(
        proxy.addr(),
        b"GET / HTTP/1.1\r\nHost: dav.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.body, b"ok");
    assert_eq!(response.header("x-kept"), Some("yes"));
    for dropped in ["x-hop", "keep-alive", "proxy-authenticate"] {
        assert_eq!(response.header(dropped), None, "{dropped}");
    }
}

#[tokio::test]
async fn x_forwarded_headers_host_and_request_id_are_set() {
    let upstream = FakeUpstream::always(Reply::status(200)).await;
    let proxy = Proxy::start_with(&upstream.url(), "forwarding: {forwarded: true}").await;
    send(
        "GET",
        &proxy.url_for("/x"),
        &[("host", "dav.example"), ("x-forwarded-for", "203.0.113.9")],
        "",
    )
    .await;
    let record = upstream.requests().pop().unwrap();
    assert_eq!(
        record.header("x-forwarded-for"),
        Some("203.0.113.9, 127.0.0.1")
    );
    assert_eq!(record.header("x-forwarded-proto"), Some("http"));
    assert_eq!(record.header("x-forwarded-host"), Some("dav.example"));
    assert_eq!(
        record.header("forwarded"),
        Some("for=127.0.0.1;host=dav.example;proto=http")
    );
    assert_eq!(
        record.header("host"),
        Some(upstream.addr().to_string().as_str())
    );
    let id = record
        .header("x-request-id")
        .expect("a request id is generated");
    assert_eq!(id.len(), 24);

    send(
        "GET",
        &proxy.url_for("/x"),
        &[("x-request-id", "client-chosen-1")],
        "",
    )
    .await;
    let record = upstream.requests().pop().unwrap();
    assert_eq!(record.header("x-request-id"), Some("client-chosen-1"));
}

#[tokio::test]
async fn preserve_host_sends_the_clients_host() {
    let upstream = FakeUpstream::always(Reply::status(200)).await;
    let proxy = Proxy::start_with(
        &upstream.url(),
        "forwarding: {preserve_host: true, x_forwarded: false}",
    )
    .await;
    send(
        "GET",
        &proxy.url_for("/x"),
        &[("host", "cloud.example")],
        "",
    )
    .await;
    let record = upstream.requests().pop().unwrap();
    assert_eq!(record.header("host"), Some("cloud.example"));
    assert_eq!(record.header("x-forwarded-for"), None);
}

#[tokio::test]
async fn destination_and_if_tags_move_from_the_public_to_the_upstream_origin() {
    let upstream = FakeUpstream::always(Reply::status(201)).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let up = upstream.url();
    let cases = [
        ("http://dav.example/dir/b.txt", format!("{up}/dir/b.txt")),
        ("/dir/c.txt", format!("{up}/dir/c.txt")),
        (
            "http://elsewhere.example/d.txt",
            "http://elsewhere.example/d.txt".to_owned(),
        ),
    ];
    for (sent, expected) in cases {
        send(
            "COPY",
            &proxy.url_for("/dir/a.txt"),
            &[
                ("host", "dav.example"),
                ("destination", sent),
                ("if", "<http://dav.example/dir/a.txt> (<urn:uuid:7>)"),
            ],
            "",
        )
        .await;
        let record = upstream.requests().pop().unwrap();
        assert_eq!(
            record.header("destination"),
            Some(expected.as_str()),
            "{sent}"
        );
        assert_eq!(
            record.header("if"),
            Some(format!("<{up}/dir/a.txt> (<urn:uuid:7>)").as_str())
        );
    }

    let plain =
        Proxy::start_with(&upstream.url(), "forwarding: {rewrite_destination: false}").await;
    send(
        "MOVE",
        &plain.url_for("/a"),
        &[
            ("host", "dav.example"),
            ("destination", "http://dav.example/b"),
        ],
        "",
    )
    .await;
    let record = upstream.requests().pop().unwrap();
    assert_eq!(record.header("destination"), Some("http://dav.example/b"));
}

#[tokio::test]
async fn copy_and_move_through_the_proxy_work_against_a_real_webdav_server() {
    let dav = DavServer::start().await;
    std::fs::write(dav.root().join("a.txt"), "payload").unwrap();
    let proxy = Proxy::start(&dav.url()).await;
    let public = proxy.url();
    let (status, _, _) = send(
        "COPY",
        &proxy.url_for("/a.txt"),
        &[("destination", &format!("{public}/b.txt"))],
        "",
    )
    .await;
    assert_eq!(status.as_u16(), 201);
    let (status, _, _) = send(
        "MOVE",
        &proxy.url_for("/b.txt"),
        &[("destination", "/c.txt")],
        "",
    )
    .await;
    assert_eq!(status.as_u16(), 201);
    assert_eq!(
        std::fs::read_to_string(dav.root().join("c.txt")).unwrap(),
        "payload"
    );
    assert!(!dav.root().join("b.txt").exists());
}
