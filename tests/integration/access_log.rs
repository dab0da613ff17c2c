//! The access log (`log.access`, issue 16 item 5): one INFO line per exchange, written when
//! the response body ended (or the client left), with what the client did and saw: request
//! id, method, path, status, body bytes each way, time to headers and in all, how the body
//! ended, and the audit's outcome and counts. Off by default. `forwarding.echo_request_id`
//! returns the request id to the client; off by default.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::logs::{Event, readme_fields};
use crate::support::*;

const ACCESS: &str = "davaudit::access";

fn access_on() -> &'static str {
    "log:\n  access: true\n"
}

/// The access line of the request with id `id` (waits for it: it is written when the
/// exchange is over, which may trail the client's read).
async fn line_for(logs: &LogCapture, id: &str) -> Event {
    logs.wait_for(&format!("access line of {id}"), |e| {
        e.target() == ACCESS && e.field("request_id").and_then(|v| v.as_str()) == Some(id)
    })
    .await
}

fn int(event: &Event, name: &str) -> u64 {
    event
        .field(name)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("{name} in {:?}", event.0))
}

fn float(event: &Event, name: &str) -> f64 {
    event
        .field(name)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("{name} in {:?}", event.0))
}

fn text<'a>(event: &'a Event, name: &str) -> &'a str {
    event
        .field(name)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_else(|| panic!("{name} in {:?}", event.0))
}

#[tokio::test]
async fn no_access_line_and_no_echoed_id_by_default() {
    let logs = LogCapture::start();
    let dav = DavServer::start().await;
    dav.write("/f.txt", "hello");
    let quiet = Proxy::start(&dav.url()).await;
    let logging = Proxy::start_with(&dav.url(), access_on()).await;
    let (status, headers, _) = send("GET", &quiet.url_for("/f.txt"), &[], "").await;
    assert_eq!(status, 200);
    assert!(
        headers.get("x-request-id").is_none(),
        "the id is not echoed by default"
    );
    send(
        "GET",
        &quiet.url_for("/f.txt"),
        &[("x-request-id", "off-1")],
        "",
    )
    .await;
    send(
        "GET",
        &logging.url_for("/f.txt"),
        &[("x-request-id", "on-1")],
        "",
    )
    .await;
    line_for(&logs, "on-1").await;
    let lines = logs.find(|e| e.target() == ACCESS);
    assert_eq!(lines.len(), 1, "only the proxy with log.access: {lines:?}");
}

#[tokio::test]
async fn an_upload_and_a_download_are_logged_with_their_bytes_each_way() {
    let logs = LogCapture::start();
    let dav = DavServer::start().await;
    let proxy = Proxy::start_with(&dav.url(), access_on()).await;
    let upload = vec![b'u'; 100_000];
    let streamed = HttpClient::http1()
        .stream(
            "PUT",
            &proxy.url_for("/up.bin"),
            &[("x-request-id", "put-1")],
            client::pattern_body(300_001, 4096),
        )
        .await;
    assert_eq!(streamed.status, 201);
    let (status, _, _) = send(
        "PUT",
        &proxy.url_for("/small.bin"),
        &[("x-request-id", "put-2")],
        upload.clone(),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, body) = send(
        "GET",
        &proxy.url_for("/up.bin"),
        &[("x-request-id", "get-1")],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body.len(), 300_001);

    let put = line_for(&logs, "put-1").await;
    assert_eq!(put.level(), "INFO");
    assert_eq!(put.message(), "access");
    assert_eq!(text(&put, "method"), "PUT");
    assert_eq!(text(&put, "path"), "/up.bin");
    assert_eq!(int(&put, "status"), 201);
    assert_eq!(
        int(&put, "request_bytes"),
        300_001,
        "a chunked upload, counted"
    );
    assert_eq!(text(&put, "end"), "complete");
    assert!(put.field("audit").is_none(), "nothing audited: {put:?}");
    assert!(put.field("trace_id").is_none());
    let small = line_for(&logs, "put-2").await;
    assert_eq!(int(&small, "request_bytes"), 100_000);

    let get = line_for(&logs, "get-1").await;
    assert_eq!(text(&get, "method"), "GET");
    assert_eq!(int(&get, "status"), 200);
    assert_eq!(int(&get, "request_bytes"), 0);
    assert_eq!(int(&get, "response_bytes"), 300_001);
    assert_eq!(text(&get, "end"), "complete");
    let (headers, total) = (float(&get, "headers_ms"), float(&get, "duration_ms"));
    assert!(
        headers >= 0.0 && headers <= total,
        "time to headers {headers} within the total {total}"
    );
    assert!(text(&get, "peer").starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn a_half_failed_delete_is_logged_with_its_audit_outcome_and_counts() {
    // "My DELETE half-failed at 10:02": the line joins the client's exchange to the audit.
    let logs = LogCapture::start();
    let dav = DavServer::builder()
        .refuse_remove("/dir/keep.txt")
        .start()
        .await;
    dav.write("/dir/keep.txt", "x");
    dav.write("/dir/gone.txt", "y");
    dav.write("/clean.txt", "z");
    let proxy = Proxy::start_with(&dav.url(), access_on()).await;
    let (status, _, body) = send(
        "DELETE",
        &proxy.url_for("/dir/"),
        &[("x-request-id", "del-1")],
        "",
    )
    .await;
    assert_eq!(status, 207);
    let oracle = count(&body);
    let line = line_for(&logs, "del-1").await;
    assert_eq!(int(&line, "status"), 207);
    assert_eq!(text(&line, "audit"), "partial_failure");
    assert_eq!(int(&line, "entries"), oracle.entries);
    assert_eq!(
        int(&line, "failures"),
        oracle.failures_with_default_rules("DELETE").len() as u64
    );
    assert!(int(&line, "failures") >= 1);
    assert_eq!(int(&line, "response_bytes"), body.len() as u64);
    assert_eq!(text(&line, "end"), "complete");
    // The WARN of the same exchange carries the same request id.
    let warn = logs
        .wait_for("partial failure WARN", |e| {
            e.message() == "multistatus partial failure"
        })
        .await;
    assert_eq!(warn.field("request_id").unwrap(), "del-1");

    let (status, _, body) = send(
        "PROPFIND",
        &proxy.url_for("/clean.txt"),
        &[("x-request-id", "pf-1"), ("depth", "0")],
        "",
    )
    .await;
    assert_eq!(status, 207);
    let line = line_for(&logs, "pf-1").await;
    assert_eq!(text(&line, "audit"), "clean");
    assert_eq!(int(&line, "entries"), count(&body).entries);
    assert_eq!(int(&line, "failures"), 0);
}

#[tokio::test]
async fn a_client_that_leaves_mid_body_is_logged_as_gone() {
    let logs = LogCapture::start();
    // A slow body: the client has time to leave after the first bytes.
    let up = FakeUpstream::always(
        Reply::ok("")
            .generated(4 << 20)
            .framed(16 * 1024)
            .frame_delay(Duration::from_millis(20)),
    )
    .await;
    let proxy = Proxy::start_with(&up.url(), access_on()).await;
    let mut stream = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(b"GET /big HTTP/1.1\r\nHost: t\r\nX-Request-Id: gone-1\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") || got.len() < 20_000 {
        let n = within("first body bytes", stream.read(&mut buf))
            .await
            .unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
    drop(stream);
    let line = line_for(&logs, "gone-1").await;
    assert_eq!(text(&line, "end"), "client_gone");
    assert_eq!(int(&line, "status"), 200);
    let sent = int(&line, "response_bytes");
    assert!(sent > 0 && sent < 4 << 20, "{sent} bytes passed on");
}

#[tokio::test]
async fn a_client_that_leaves_before_the_headers_is_logged_without_a_status() {
    let logs = LogCapture::start();
    // Longer than the fixtures' bound: if the departure were not noticed, the test fails.
    let up = FakeUpstream::always(Reply::ok("late").delay_headers(Duration::from_secs(120))).await;
    let proxy = Proxy::start_with(&up.url(), access_on()).await;
    let mut stream = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\nX-Request-Id: early-1\r\n\r\n")
        .await
        .unwrap();
    up.wait_requests(1).await;
    drop(stream);
    let line = line_for(&logs, "early-1").await;
    assert_eq!(text(&line, "end"), "client_gone");
    assert!(line.field("status").is_none(), "{line:?}");
    assert!(line.field("headers_ms").is_none(), "{line:?}");
    assert_eq!(int(&line, "response_bytes"), 0);
}

#[tokio::test]
async fn a_broken_upstream_body_is_logged_as_an_upstream_error() {
    let logs = LogCapture::start();
    let up = FakeUpstream::always(
        Reply::ok("")
            .generated(1 << 20)
            .content_length()
            .reset_after(1000),
    )
    .await;
    let proxy = Proxy::start_with(&up.url(), access_on()).await;
    let streamed = HttpClient::http1()
        .stream(
            "GET",
            &proxy.url_for("/cut"),
            &[("x-request-id", "cut-1")],
            client::empty(),
        )
        .await;
    assert!(streamed.error.is_some(), "the client saw a cut body");
    let line = line_for(&logs, "cut-1").await;
    assert_eq!(text(&line, "end"), "upstream_error");
    assert_eq!(int(&line, "status"), 200);
}

#[tokio::test]
async fn answers_davaudit_makes_itself_are_logged_too() {
    let logs = LogCapture::start();
    // Nothing listens there: 502.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let proxy = Proxy::start_with(&format!("http://{dead}"), access_on()).await;
    let (status, _, _) = send(
        "PROPFIND",
        &proxy.url_for("/x"),
        &[("x-request-id", "bad-gw")],
        "",
    )
    .await;
    assert_eq!(status, 502);
    let line = line_for(&logs, "bad-gw").await;
    assert_eq!(int(&line, "status"), 502);
    assert_eq!(text(&line, "end"), "complete");
    assert!(int(&line, "response_bytes") > 0);

    let response = raw_request(
        proxy.addr(),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nX-Request-Id: tunnel\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 501);
    let line = line_for(&logs, "tunnel").await;
    assert_eq!(text(&line, "method"), "CONNECT");
    assert_eq!(int(&line, "status"), 501);
}

#[tokio::test]
async fn a_valid_traceparent_gives_the_trace_id_and_a_forged_one_is_ignored() {
    let logs = LogCapture::start();
    let up = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start_with(&up.url(), access_on()).await;
    let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    send(
        "GET",
        &proxy.url_for("/"),
        &[("x-request-id", "tp-1"), ("traceparent", valid)],
        "",
    )
    .await;
    let forged = "00-4bf92f3577b34da6a3ce929d0e0e4736\nx=1-00f067aa0ba902b7-01";
    let request = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Request-Id: tp-2\r\ntraceparent: {}\r\nConnection: close\r\n\r\n",
        forged.replace('\n', " ")
    );
    raw_request(proxy.addr(), request.as_bytes()).await;
    let line = line_for(&logs, "tp-1").await;
    assert_eq!(text(&line, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    let line = line_for(&logs, "tp-2").await;
    assert!(line.field("trace_id").is_none(), "{line:?}");
    // The traceparent still reaches the upstream unchanged: the log only reads it.
    let requests = up.wait_requests(2).await;
    assert_eq!(requests[0].header("traceparent"), Some(valid));
}

#[tokio::test]
async fn a_hostile_path_cannot_forge_a_field_or_a_line_and_is_bounded() {
    let logs = LogCapture::start();
    let up = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start_with(&up.url(), access_on()).await;
    // Quotes, a backslash, raw UTF-8 and a percent-encoded newline in the path.
    let mut request = b"GET /a\"b\\c/\xC3\xA9/%0Aend=x?token=secret HTTP/1.1\r\nHost: t\r\nX-Request-Id: path-1\r\nConnection: close\r\n\r\n".to_vec();
    let response = raw_request(proxy.addr(), &request).await;
    assert_eq!(response.status, 200, "hyper accepted the path");
    let line = line_for(&logs, "path-1").await;
    let path = text(&line, "path");
    assert_eq!(path, "/a%22b%5Cc/%C3%A9/%0Aend=x", "never the query");
    assert!(line.field("path_truncated").is_none());

    let long = format!("/{}", "p".repeat(8000));
    request = format!(
        "GET {long} HTTP/1.1\r\nHost: t\r\nX-Request-Id: path-2\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    raw_request(proxy.addr(), &request).await;
    let line = line_for(&logs, "path-2").await;
    assert_eq!(text(&line, "path").len(), 1024);
    assert_eq!(line.field("path_truncated").unwrap(), true);
    for event in logs.find(|e| e.target() == ACCESS) {
        let path = text(&event, "path");
        assert!(
            path.bytes().all(|b| b.is_ascii_graphic() && b != b'"'),
            "{path:?}"
        );
    }
}

#[tokio::test]
async fn echo_request_id_returns_the_id_and_never_replaces_the_upstreams() {
    let logs = LogCapture::start();
    let up = FakeUpstream::start(|request| {
        if request.uri.path() == "/own" {
            Reply::ok("x").header("x-request-id", "upstream-own")
        } else {
            Reply::ok("x")
        }
    })
    .await;
    let proxy = Proxy::start_with(
        &up.url(),
        "log:\n  access: true\nforwarding:\n  echo_request_id: true\n",
    )
    .await;
    // No id from the client: the generated one comes back, and is the one logged and sent
    // upstream.
    let (_, headers, _) = send("GET", &proxy.url_for("/a"), &[], "").await;
    let id = headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 24);
    let upstream_saw = up.wait_requests(1).await[0]
        .header("x-request-id")
        .unwrap()
        .to_owned();
    assert_eq!(upstream_saw, id);
    line_for(&logs, &id).await;
    // A sane id from the client is reused.
    let (_, headers, _) = send(
        "GET",
        &proxy.url_for("/a"),
        &[("x-request-id", "mine-7")],
        "",
    )
    .await;
    assert_eq!(headers["x-request-id"], "mine-7");
    // One that is too long (or not visible ASCII) is replaced, not echoed.
    let long = "x".repeat(201);
    let (_, headers, _) = send("GET", &proxy.url_for("/a"), &[("x-request-id", &long)], "").await;
    assert_eq!(headers["x-request-id"].len(), 24);
    // The upstream's own header is left as it is.
    let (_, headers, _) = send("GET", &proxy.url_for("/own"), &[], "").await;
    assert_eq!(
        headers.get_all("x-request-id").iter().collect::<Vec<_>>(),
        ["upstream-own"]
    );
    // Answers davaudit makes itself carry it too.
    let response = raw_request(
        proxy.addr(),
        b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nX-Request-Id: tun-9\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.header("x-request-id"), Some("tun-9"));
}

#[tokio::test]
async fn h2_exchanges_are_logged_like_http1_ones() {
    let logs = LogCapture::start();
    let up = FakeUpstream::always(Reply::ok("twelve bytes")).await;
    let proxy = Proxy::start_with(&up.url(), access_on()).await;
    let (status, _, body) = HttpClient::h2c()
        .send(
            "PUT",
            &proxy.url_for("/h2"),
            &[("x-request-id", "h2-1")],
            "seven b",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body.len(), 12);
    let line = line_for(&logs, "h2-1").await;
    assert_eq!(int(&line, "request_bytes"), 7);
    assert_eq!(int(&line, "response_bytes"), 12);
    assert_eq!(text(&line, "end"), "complete");
}

#[tokio::test]
async fn turning_the_access_log_on_by_reload_logs_the_next_request() {
    let logs = LogCapture::start();
    let up = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&up.url()).await;
    send(
        "GET",
        &proxy.url_for("/"),
        &[("x-request-id", "before")],
        "",
    )
    .await;
    let yaml = format!("{}log:\n  access: true\n", proxy.config_yaml());
    let config = ::davaudit::config::from_yaml(&yaml, "reload.yaml").unwrap();
    let restart = proxy.running().reloader().reload(config).unwrap();
    assert!(
        restart.is_empty(),
        "log.access needs no restart: {restart:?}"
    );
    send("GET", &proxy.url_for("/"), &[("x-request-id", "after")], "").await;
    line_for(&logs, "after").await;
    let ids: Vec<_> = logs
        .find(|e| e.target() == ACCESS)
        .iter()
        .map(|e| text(e, "request_id").to_owned())
        .collect();
    assert_eq!(ids, ["after"]);
}

#[tokio::test]
async fn in_logfmt_a_hostile_path_stays_one_value_of_one_line() {
    let logs = LogCapture::start_text();
    let up = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start_with(&up.url(), access_on()).await;
    let request = b"GET /a\"b\\c/\xC3\xA9/%0Aend=x%20level=ERROR HTTP/1.1\r\nHost: t\r\nX-Request-Id: fmt-1\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_request(proxy.addr(), request).await.status, 200);
    let line = wait_until("the logfmt access line", || async {
        logs.lines()
            .into_iter()
            .find(|l| l.contains("target=davaudit::access") && l.contains("request_id=fmt-1"))
    })
    .await;
    assert!(
        line.contains(r#" path="/a%22b%5Cc/%C3%A9/%0Aend=x%20level=ERROR" "#),
        "{line}"
    );
    assert!(line.contains(" level=INFO "), "{line}");
    assert_eq!(
        logs.lines()
            .iter()
            .filter(|l| l.contains("davaudit::access"))
            .count(),
        1
    );
}

#[tokio::test]
async fn the_readme_lists_every_field_of_the_access_record() {
    let logs = LogCapture::start();
    let up = FakeUpstream::always(Reply::multistatus(
        r#"<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href><D:status>HTTP/1.1 423 Locked</D:status></D:response></D:multistatus>"#,
    ))
    .await;
    let config = format!("{}routes:\n  - name: dav\n    prefix: /d\n", access_on());
    let proxy = Proxy::start_with(&up.url(), &config).await;
    // Every optional field present: a route, a trace id, a path over the bound, an audited
    // body.
    let long = format!("/{}", "d".repeat(1100));
    send(
        "DELETE",
        &proxy.url_for(&long),
        &[
            ("x-request-id", "all-fields"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ],
        "",
    )
    .await;
    let line = line_for(&logs, "all-fields").await;
    assert_eq!(text(&line, "audit"), "partial_failure");
    assert_eq!(text(&line, "route"), "dav");
    let emitted = line.field_names();
    let documented = readme_fields("Access log");
    assert_eq!(
        emitted, documented,
        "the record (left) vs README ## Access log (right)"
    );
}
