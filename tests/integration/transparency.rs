//! Transparency: whatever the method and body, the client gets what the upstream sent
//! (status, end-to-end headers, body bytes) and the upstream gets what the client sent.

use crate::support::client::{HttpClient, pattern_body};
use crate::support::*;

#[tokio::test]
async fn every_method_round_trips_with_body_and_status_unchanged() {
    let upstream = FakeUpstream::start(|req| {
        let body = format!("answer to {} with {} bytes", req.method, req.body.len());
        Reply::status(299)
            .header("x-answer", req.method.as_str())
            .body(body)
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let before = proxy.metrics().await;

    // Every method davaudit labels by name (its own list), and one it has never heard of.
    let methods = forwardable_methods();
    for (i, method) in methods.iter().enumerate() {
        let sent = format!("<body of {method} #{i}/>");
        let (status, headers, body) = send(
            method,
            &proxy.url_for(&format!("/a/{i}?q=1")),
            &[("depth", "1")],
            sent.clone(),
        )
        .await;
        assert_eq!(status.as_u16(), 299, "{method}");
        assert_eq!(headers["x-answer"], *method);
        assert_eq!(
            body,
            format!("answer to {method} with {} bytes", sent.len())
        );
        let record = upstream.requests().pop().expect("request recorded");
        assert_eq!(record.method.as_str(), *method);
        assert_eq!(
            record.uri.path_and_query().unwrap().as_str(),
            format!("/a/{i}?q=1")
        );
        assert_eq!(record.body_str(), sent);
        assert_eq!(record.header("depth"), Some("1"));
    }

    let after = proxy.metrics().await;
    for method in &methods {
        let label = method_label(method);
        assert_eq!(
            after.delta(
                &before,
                "davaudit_requests_total",
                &[("method", label), ("code", "2xx")]
            ),
            1.0,
            "{method}"
        );
    }
}

#[tokio::test]
async fn response_bytes_are_identical_on_the_wire_including_header_order() {
    // A byte-exact upstream answer with unusual but valid framing and header spelling.
    const ANSWER: &[u8] = b"HTTP/1.1 207 Multi-Status\r\n\
        Content-Type: text/xml; charset=\"utf-8\"\r\n\
        X-Custom: one\r\n\
        X-Custom: two\r\n\
        ETag: \"abc\"\r\n\
        Transfer-Encoding: chunked\r\n\r\n\
        5\r\n<?xml\r\n\
        3e\r\n version=\"1.0\"?><d:multistatus xmlns:d=\"DAV:\"></d:multistatus>\r\n\
        0\r\n\r\n";
    let upstream = RawUpstream::respond_with(ANSWER).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let response = raw_request(
        proxy.addr(),
        b"PROPFIND /x HTTP/1.1\r\nHost: dav.example\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 207);
    assert_eq!(
        response.body,
        b"<?xml version=\"1.0\"?><d:multistatus xmlns:d=\"DAV:\"></d:multistatus>"
    );
    assert_eq!(response.header_all("x-custom"), ["one", "two"]);
    assert_eq!(response.header("etag"), Some("\"abc\""));
    assert_eq!(
        response.header("content-type"),
        Some("text/xml; charset=\"utf-8\"")
    );
}

#[tokio::test]
async fn large_bodies_stream_both_ways_byte_identical() {
    // Hundreds of MB in release builds; less in debug builds, where hashing dominates.
    let len: u64 = if cfg!(debug_assertions) {
        96 << 20
    } else {
        512 << 20
    };
    let upstream = FakeUpstream::start(move |req| match req.method.as_str() {
        "GET" => Reply::status(200).generated(len),
        _ => Reply::status(201),
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;

    let download = stream("GET", &proxy.url_for("/big"), &[], client::empty()).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.error, None);
    assert_eq!(download.digest, pattern_digest(len));

    let upload = stream(
        "PUT",
        &proxy.url_for("/big"),
        &[],
        pattern_body(len, 64 << 10),
    )
    .await;
    assert_eq!(upload.status, 201);
    let record = upstream.requests().pop().unwrap();
    assert_eq!(record.body_digest, pattern_digest(len));
    assert_eq!(record.body_error, None);
}

#[tokio::test]
async fn a_207_in_one_byte_frames_is_forwarded_byte_identical_and_audited() {
    let body = r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a/locked.txt</D:href>
<D:status>HTTP/1.1 423 Locked</D:status></D:response></D:multistatus>"#;
    let upstream = FakeUpstream::always(Reply::multistatus(body).framed(1)).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, _, received) = send("DELETE", &proxy.url_for("/a/"), &[], "").await;
    assert_eq!(status.as_u16(), 207);
    assert_eq!(received, body.as_bytes());
    let metrics = proxy
        .audited(
            &Metrics::default(),
            &[("method", "DELETE"), ("outcome", "partial_failure")],
            1,
        )
        .await;
    assert_eq!(
        metrics.get(
            "davaudit_multistatus_failures_total",
            &[("method", "DELETE"), ("level", "response"), ("code", "423")]
        ),
        1.0
    );
}

/// As the binary serves them: each connection on a worker thread of its own runtime, with its
/// upstream connections and audits. Concurrent streams (HTTP/1.1 and h2c) reach the clients
/// byte for byte, in frames gathered into few writes, every 207 is audited, and the drain ends
/// it all.
#[tokio::test]
async fn on_worker_threads_concurrent_streams_are_byte_identical_and_audited() {
    let len: u64 = 8 << 20;
    let failing = r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a/locked.txt</D:href>
<D:status>HTTP/1.1 423 Locked</D:status></D:response></D:multistatus>"#;
    let upstream = FakeUpstream::start(move |req| match req.method.as_str() {
        "GET" => Reply::status(200).generated(len),
        _ => Reply::multistatus(failing).framed(7),
    })
    .await;
    let proxy = Proxy::start_on_workers(&upstream.url(), "", 2).await;
    let downloads = (0..4).map(|i| {
        let url = proxy.url_for(&format!("/big{i}"));
        async move { stream("GET", &url, &[], client::empty()).await }
    });
    let deletes = (0..3).map(|i| {
        let url = proxy.url_for(&format!("/d{i}/"));
        async move { send("DELETE", &url, &[], "").await }
    });
    let (h2c, h2_url) = (HttpClient::h2c(), proxy.url_for("/h2/"));
    let h2 = h2c.send("PROPFIND", &h2_url, &[], "");
    let (downloads, deletes, h2) = tokio::join!(
        futures_util::future::join_all(downloads),
        futures_util::future::join_all(deletes),
        h2
    );
    for download in downloads {
        assert_eq!(download.status, 200);
        assert_eq!(download.error, None);
        assert_eq!(download.digest, pattern_digest(len));
    }
    for (status, _, body) in deletes {
        assert_eq!(status.as_u16(), 207);
        assert_eq!(body, failing.as_bytes());
    }
    assert_eq!(h2.0.as_u16(), 207);
    assert_eq!(h2.2, failing.as_bytes());
    let none = Metrics::default();
    for (method, n) in [("DELETE", 3), ("PROPFIND", 1)] {
        let labels = [("method", method), ("outcome", "partial_failure")];
        proxy.audited(&none, &labels, n).await;
    }
    proxy.stop().await;
}

#[tokio::test]
async fn h2c_clients_are_served_and_forwarded_as_http_1_1() {
    let upstream = FakeUpstream::always(Reply::ok("hello over h2")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, _, body) = HttpClient::h2c()
        .send("PROPFIND", &proxy.url_for("/h2"), &[], "x")
        .await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(body, "hello over h2");
    let record = upstream.requests().pop().unwrap();
    assert_eq!(record.version, http::Version::HTTP_11);
    assert_eq!(record.method.as_str(), "PROPFIND");
}

#[tokio::test]
async fn expect_100_continue_gets_the_body_through() {
    let upstream = FakeUpstream::always(Reply::status(201)).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(
        b"PUT /f.txt HTTP/1.1\r\nHost: dav.example\r\nExpect: 100-continue\r\n\
          Content-Length: 5\r\nConnection: close\r\n\r\n",
    )
    .await;
    // hyper answers 100 Continue when the handler starts reading the body.
    conn.send(b"hello").await;
    let response = conn.read_response(false).await;
    assert_eq!(response.status, 201);
    let record = upstream.requests().pop().unwrap();
    assert_eq!(record.body_str(), "hello");
}
