//! Tests of the fixtures themselves (no davaudit involved): if one of these fails, fix the
//! fixture before reading anything into a proxy test.

use std::time::Duration;

use crate::support::client::{RawConn, full, pattern_body, raw_exchange};
use crate::support::dav::{DavServer, Op};
use crate::support::oracle::{Root, code_of, encode};
use crate::support::upstream::{RawUpstream, read_head, reset};
use crate::support::{
    FakeUpstream, HttpClient, LogCapture, Metrics, Proxy, Reply, count, decode, digest,
    pattern_digest, raw_request, send, stream,
};

// ---------------------------------------------------------------------------------------------
// upstream.rs + client.rs

#[tokio::test]
async fn fake_upstream_records_requests_and_answers() {
    let up = FakeUpstream::start(|req| match (req.method.as_str(), req.uri.path()) {
        ("PUT", "/a.txt") => Reply::status(201).header("x-seen", req.body_str()),
        _ => Reply::status(404),
    })
    .await;
    let url = format!("{}/a.txt", up.url());
    let (status, headers, body) = send("PUT", &url, &[("x-test", "1")], "hello").await;
    assert_eq!(status, 201);
    assert_eq!(headers["x-seen"], "hello");
    assert!(body.is_empty());
    let (status, _, _) = send("GET", &format!("{}/nope", up.url()), &[], "").await;
    assert_eq!(status, 404);

    let reqs = up.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "PUT");
    assert_eq!(reqs[0].uri, "/a.txt");
    assert_eq!(reqs[0].header("x-test"), Some("1"));
    assert_eq!(reqs[0].body_digest, digest(b"hello"));
    assert_eq!(reqs[1].method, "GET");
}

#[tokio::test]
async fn fixed_body_has_content_length_and_framed_body_is_chunked() {
    let up = FakeUpstream::start(|req| match req.uri.path() {
        "/fixed" => Reply::ok("hello"),
        _ => Reply::ok("hello").framed(1),
    })
    .await;
    let fixed = raw_request(
        up.addr(),
        b"GET /fixed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(fixed.status, 200);
    assert_eq!(fixed.header("content-length"), Some("5"));
    assert_eq!(fixed.body, b"hello");

    let framed = raw_request(
        up.addr(),
        b"GET /framed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(framed.header("transfer-encoding"), Some("chunked"));
    assert_eq!(framed.body, b"hello");
    assert!(framed.complete);
    let raw = String::from_utf8_lossy(&framed.raw);
    assert!(
        raw.ends_with("\r\n\r\n1\r\nh\r\n1\r\ne\r\n1\r\nl\r\n1\r\nl\r\n1\r\no\r\n0\r\n\r\n"),
        "one chunk per byte: {raw:?}"
    );
}

#[tokio::test]
async fn generated_body_matches_pattern_digest_without_storing() {
    const LEN: u64 = 5 * 1024 * 1024 + 7;
    let up = FakeUpstream::always(Reply::status(200).generated(LEN)).await;
    let got = stream("GET", &up.url(), &[], full("")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.error, None);
    assert_eq!(got.digest, pattern_digest(LEN));
    assert!(got.frames > 1, "streamed in several frames");
    assert!(got.headers.get("content-length").is_none(), "chunked");
}

#[tokio::test]
async fn generated_request_body_is_hashed_by_the_upstream() {
    const LEN: u64 = 3 * 1024 * 1024;
    let up = FakeUpstream::always(Reply::status(201)).await;
    let client = HttpClient::http1();
    let got = client
        .stream("PUT", &up.url(), &[], pattern_body(LEN, 64 * 1024))
        .await;
    assert_eq!(got.status, 201);
    let req = &up.requests()[0];
    assert_eq!(req.body_digest, pattern_digest(LEN));
    assert_eq!(req.body.len() as u64, LEN);
    assert_eq!(req.body_error, None);
}

#[tokio::test]
async fn reset_after_cuts_the_body_and_fails_it() {
    let up = FakeUpstream::start(|req| {
        let r = Reply::ok(vec![b'x'; 100]).reset_after(10);
        if req.uri.path() == "/cl" {
            r.content_length()
        } else {
            r
        }
    })
    .await;
    // hyper client: the body ends with an error after at most 10 bytes
    let got = stream("GET", &up.url(), &[], full("")).await;
    assert_eq!(got.status, 200);
    assert!(got.error.is_some(), "body must fail: {got:?}");
    assert!(got.digest.len <= 10);

    // raw: chunked without the last chunk
    let chunked = raw_request(
        up.addr(),
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(!chunked.complete);
    assert_eq!(chunked.body, vec![b'x'; 10]);

    // raw: short of the announced Content-Length
    let cl = raw_request(
        up.addr(),
        b"GET /cl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(cl.header("content-length"), Some("100"));
    assert!(!cl.complete);
    assert_eq!(cl.body, vec![b'x'; 10]);
}

#[tokio::test]
async fn delayed_headers_and_frames_still_arrive_whole() {
    let up = FakeUpstream::always(
        Reply::ok("abc")
            .delay_headers(Duration::from_millis(20))
            .frame_delay(Duration::from_millis(5))
            .framed(1),
    )
    .await;
    let got = stream("GET", &up.url(), &[], full("")).await;
    assert_eq!(got.digest, digest(b"abc"));
    assert_eq!(got.frames, 3);
}

#[tokio::test]
async fn encoded_reply_decodes_back() {
    for coding in ["gzip", "deflate", "br", "zstd"] {
        let up = FakeUpstream::always(Reply::multistatus("<x/>").encoded(coding)).await;
        let (status, headers, body) = send("GET", &up.url(), &[], "").await;
        assert_eq!(status, 207);
        assert_eq!(headers["content-encoding"], coding);
        let ce = headers["content-encoding"].to_str().unwrap();
        assert_eq!(decode(Some(ce), &body), b"<x/>", "{coding}");
    }
}

#[tokio::test]
async fn h2c_client_reaches_the_fake_upstream() {
    let up = FakeUpstream::always(Reply::ok("h2")).await;
    let (status, _, body) = HttpClient::h2c().send("GET", &up.url(), &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"h2");
    assert_eq!(up.requests()[0].version, http::Version::HTTP_2);
}

#[tokio::test]
async fn keep_alive_on_one_raw_connection() {
    let up = FakeUpstream::start(|req| Reply::ok(req.uri.path().to_owned())).await;
    let mut conn = RawConn::connect(up.addr()).await;
    conn.send(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(conn.read_response(false).await.body, b"/one");
    conn.send(b"HEAD /two HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let head = conn.read_response(true).await;
    assert_eq!(head.header("content-length"), Some("4"));
    assert!(head.body.is_empty());
    conn.send(b"GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(conn.read_response(false).await.body, b"/three");
    assert!(conn.closed_by_peer().await);
    assert_eq!(up.connections(), 1);
    assert_eq!(up.wait_requests(3).await.len(), 3);
}

#[tokio::test]
async fn raw_upstream_writes_exact_bytes() {
    let up = RawUpstream::respond_with(
        b"HTTP/1.1 100 Continue\r\n\r\n\
          HTTP/1.1 207 Multi-Status\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n\
          3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n",
    )
    .await;
    let resp = raw_request(
        up.addr(),
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(resp.interim.len(), 1);
    assert_eq!(resp.interim[0].status, 100);
    assert_eq!(resp.status, 207);
    assert_eq!(resp.reason, "Multi-Status");
    assert_eq!(resp.header_all("x-a"), ["1", "2"]);
    assert_eq!(resp.body, b"abcde");
    assert_eq!(resp.trailers, [("X-Trailer".to_owned(), "t".to_owned())]);
    assert!(resp.complete);
    assert!(resp.head_str().starts_with("HTTP/1.1 207 Multi-Status\r\n"));

    // close-delimited body (no framing headers): everything up to EOF
    let up = RawUpstream::respond_with(b"HTTP/1.0 200 OK\r\n\r\nuntil close").await;
    let resp = raw_request(up.addr(), b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(resp.body, b"until close");

    // garbage and resets
    let up = RawUpstream::respond_with(b"garbage\r\n\r\n").await;
    let bytes = raw_exchange(up.addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(bytes, b"garbage\r\n\r\n");
    let up = RawUpstream::start(|mut s| async move {
        let _ = read_head(&mut s).await;
        reset(s);
    })
    .await;
    let mut conn = RawConn::connect(up.addr()).await;
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(conn.closed_by_peer().await);
    up.wait_connections(1).await;
}

// ---------------------------------------------------------------------------------------------
// scrape.rs

const EXPOSITION: &str = r#"# HELP davaudit_requests_total Proxied responses.
# TYPE davaudit_requests_total counter
davaudit_requests_total{code="200",method="GET"} 3
davaudit_requests_total{code="207",method="PROPFIND"} 2
davaudit_requests_total{code="502",method="GET"} 1
# HELP davaudit_request_duration_seconds Time to response headers.
# TYPE davaudit_request_duration_seconds histogram
davaudit_request_duration_seconds_bucket{method="GET",le="0.005"} 1
davaudit_request_duration_seconds_bucket{method="GET",le="+Inf"} 4
davaudit_request_duration_seconds_sum{method="GET"} 0.25
davaudit_request_duration_seconds_count{method="GET"} 4
# TYPE davaudit_build_info gauge
davaudit_build_info{version="0.1.0 \"x\"\\y"} 1
process_start_time_seconds 1.7e9
"#;

#[test]
fn scrape_parses_prometheus_text() {
    let m = Metrics::parse(EXPOSITION).unwrap();
    let fam = "davaudit_requests_total";
    assert_eq!(m.get(fam, &[("method", "GET"), ("code", "200")]), 3.0);
    assert_eq!(m.get(fam, &[("method", "GET")]), 4.0, "subset match sums");
    assert_eq!(m.get(fam, &[("method", "PUT")]), 0.0, "absent is 0");
    assert_eq!(
        m.get_exact(fam, &[("method", "PROPFIND"), ("code", "207")]),
        Some(2.0)
    );
    assert_eq!(m.get_exact(fam, &[("method", "PROPFIND")]), None);
    assert!(m.has_family("davaudit_request_duration_seconds"));
    assert!(m.has_family("process_start_time_seconds"));
    assert!(!m.has_family("davaudit_multistatus_total"));
    assert_eq!(
        m.get(
            "davaudit_request_duration_seconds_bucket",
            &[("le", "+Inf")]
        ),
        4.0
    );
    assert_eq!(m.labels_of(fam).len(), 3);
    assert_eq!(m.label_values(fam, "code"), ["200", "207", "502"]);
    assert_eq!(
        m.labels_of("davaudit_build_info")[0]["version"],
        "0.1.0 \"x\"\\y"
    );
    assert_eq!(m.types["davaudit_request_duration_seconds"], "histogram");
    assert_eq!(m.get("process_start_time_seconds", &[]), 1.7e9);

    let before =
        Metrics::parse("davaudit_requests_total{code=\"200\",method=\"GET\"} 1\n").unwrap();
    assert_eq!(
        m.delta(&before, fam, &[("method", "GET"), ("code", "200")]),
        2.0
    );
    assert_eq!(m.delta(&before, fam, &[("code", "502")]), 1.0);

    assert!(Metrics::parse("bad line without value\n").is_err());
    assert!(Metrics::parse("x{a=\"1} 2\n").is_err());
}

#[tokio::test]
async fn scrape_over_http_and_wait_for() {
    let up = FakeUpstream::start(|req| match req.uri.path() {
        "/metrics" => Reply::ok(EXPOSITION),
        _ => Reply::status(404),
    })
    .await;
    let m = Metrics::scrape(up.addr()).await;
    assert_eq!(m.get("davaudit_requests_total", &[]), 6.0);
    let m = Metrics::wait_for(up.addr(), |m| m.has_family("davaudit_build_info")).await;
    assert_eq!(m.get("davaudit_build_info", &[]), 1.0);
}

// ---------------------------------------------------------------------------------------------
// oracle.rs

const MIXED: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:multistatus xmlns:d="DAV:" xmlns:x="urn:other">
  <d:response>
    <d:href>/dir/a.txt</d:href>
    <d:status>HTTP/1.1 423 Locked</d:status>
    <d:error><d:lock-token-submitted><d:href>/dir/</d:href></d:lock-token-submitted></d:error>
    <d:responsedescription> locked by someone </d:responsedescription>
  </d:response>
  <d:response>
    <d:href>/dir/</d:href>
    <d:status>HTTP/1.1 424 Failed Dependency</d:status>
  </d:response>
  <response xmlns="DAV:">
    <href>/dir/b.txt</href>
    <propstat><prop><getetag/></prop><status>  HTTP/1.1 200 OK  </status></propstat>
    <propstat><prop><x:color/></prop><status>HTTP/1.1 404 Not Found</status></propstat>
    <propstat><prop><x:size/></prop><x:status>HTTP/1.1 500 Not DAV</x:status><status>HTTP/2 507</status>
      <error><x:quota/></error></propstat>
  </response>
  <d:response>
    <d:href>/dir/c.txt</d:href>
    <d:status>not a status line</d:status>
  </d:response>
  <x:response><d:href>/ignored</d:href><d:status>HTTP/1.1 500 X</d:status></x:response>
</d:multistatus>"#;

#[test]
fn oracle_counts_by_namespace_and_level() {
    let c = count(MIXED.as_bytes());
    assert_eq!(c.root, Root::Multistatus);
    assert_eq!(c.entries, 4);
    let resp: Vec<_> = c
        .response_status
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(resp, [("423", 1), ("424", 1), ("invalid", 1)]);
    let props: Vec<_> = c
        .propstat_status
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(props, [("200", 1), ("404", 1), ("507", 1)]);

    // no routine rules: every >= 400 and invalid, 424 last
    let codes: Vec<_> = c.failures.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["423", "404", "507", "invalid", "424"]);
    assert_eq!(c.failures[0].href, "/dir/a.txt");
    assert_eq!(c.failures[0].level, "response");
    assert_eq!(
        c.failures[0].error.as_deref(),
        Some("DAV:lock-token-submitted")
    );
    assert_eq!(
        c.failures[0].description.as_deref(),
        Some("locked by someone")
    );
    assert_eq!(c.failures[2].error.as_deref(), Some("{urn:other}quota"));

    // PROPFIND: propstat 404 is routine
    let codes: Vec<_> = c
        .failures_with_default_rules("PROPFIND")
        .iter()
        .map(|f| f.code.clone())
        .collect();
    assert_eq!(codes, ["423", "507", "invalid", "424"]);
    assert_eq!(c.outcome("PROPFIND"), "partial_failure");
    assert_eq!(
        c.failure_counts("PROPFIND")[&("propstat", "507".to_owned())],
        1
    );
    assert_eq!(c.status_counts()[&("response", "424".to_owned())], 1);
}

#[test]
fn oracle_status_line_codes() {
    for (line, code) in [
        ("HTTP/1.1 200 OK", "200"),
        ("  HTTP/1.1 423 Locked \n", "423"),
        ("HTTP/1.0 404", "404"),
        ("HTTP/2 507 Insufficient Storage", "507"),
        ("HTTP/1.1\t403\tForbidden", "403"),
        ("HTTP/1.1 2000 OK", "invalid"),
        ("HTTP/1.1 20 OK", "invalid"),
        ("HTTP/1.1 099 x", "invalid"),
        ("HTTP/1.1 404Not", "invalid"),
        ("http/1.1 200 OK", "invalid"),
        ("HTTP/ 200 OK", "invalid"),
        ("200 OK", "invalid"),
        ("", "invalid"),
    ] {
        assert_eq!(code_of(line), code, "{line:?}");
    }
}

#[test]
fn oracle_roots_and_encodings() {
    assert!(matches!(count(b"<a><b></a>").root, Root::Malformed(_)));
    assert_eq!(
        count(b"<error xmlns=\"DAV:\"/>").root,
        Root::Other("{DAV:}error".into())
    );
    assert_eq!(
        count(b"<multistatus/>").root,
        Root::Other("multistatus".into()),
        "no namespace is not DAV:"
    );
    let doc = "<d:multistatus xmlns:d=\"DAV:\"><d:response><d:href>/\u{e9}</d:href>\
               <d:status>HTTP/1.1 403 Forbidden</d:status></d:response></d:multistatus>";
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(doc.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let c = count(&utf16);
    assert_eq!(c.entries, 1);
    assert_eq!(c.failures[0].href, "/\u{e9}");
    let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(doc);
    let latin1 = [
        b"<?xml version='1.0' encoding='ISO-8859-1'?>".as_slice(),
        &latin1,
    ]
    .concat();
    assert_eq!(count(&latin1).failures[0].href, "/\u{e9}");
    assert!(matches!(
        count(b"<!DOCTYPE x [<!ENTITY e \"v\">]><x>&e;</x>").root,
        Root::Malformed(_)
    ));
}

#[test]
fn decode_undoes_every_coding() {
    let plain = MIXED.as_bytes();
    for coding in ["gzip", "x-gzip", "deflate", "br", "zstd"] {
        assert_eq!(
            decode(Some(coding), &encode(coding, plain)),
            plain,
            "{coding}"
        );
    }
    let twice = encode("br", &encode("gzip", plain));
    assert_eq!(decode(Some("gzip, br"), &twice), plain);
    assert_eq!(decode(None, plain), plain);
    assert_eq!(decode(Some("identity"), plain), plain);
}

// ---------------------------------------------------------------------------------------------
// logs.rs

#[tokio::test] // current_thread: spawned tasks run on this thread, so they are captured
async fn logs_capture_spawned_tasks_but_not_other_threads() {
    let logs = LogCapture::start();
    tokio::spawn(async {
        let span = tracing::info_span!("audit", method = "DELETE");
        let _e = span.enter();
        tracing::warn!(href = "/dir/locked.txt", code = 403, "partial failure");
    })
    .await
    .unwrap();
    std::thread::spawn(|| tracing::warn!("from another thread"))
        .join()
        .unwrap();

    let warns = logs.at_level("WARN");
    assert_eq!(warns.len(), 1, "{warns:?}");
    let ev = &warns[0];
    assert_eq!(ev.message(), "partial failure");
    assert_eq!(ev.field("href").unwrap(), "/dir/locked.txt");
    assert_eq!(ev.field("code").unwrap(), 403);
}

#[tokio::test]
async fn logs_wait_for_a_late_event() {
    let logs = LogCapture::start_with("info");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = rx.await;
        tracing::info!(outcome = "clean", "audit finished");
    });
    tracing::debug!("filtered out");
    tx.send(()).unwrap();
    let ev = logs
        .wait_for("audit finished", |e| e.message() == "audit finished")
        .await;
    assert_eq!(ev.field("outcome").unwrap(), "clean");
    assert!(logs.find(|e| e.level() == "DEBUG").is_empty());
}

// ---------------------------------------------------------------------------------------------
// dav.rs: what dav-server really answers

/// Sends and returns (status, body text), printing the body (`--nocapture` shows it).
async fn dav(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let (status, _, bytes) = send(method, url, headers, body.to_owned()).await;
    let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 body");
    println!("--- {method} {url} -> {status}\n{text}");
    (status.as_u16(), text)
}

#[tokio::test]
async fn dav_server_serves_put_get_propfind() {
    let srv = DavServer::start().await;
    let url = srv.url();
    assert_eq!(dav("MKCOL", &format!("{url}/d/"), &[], "").await.0, 201);
    assert_eq!(
        dav("PUT", &format!("{url}/d/a.txt"), &[], "abc").await.0,
        201
    );
    assert_eq!(std::fs::read(srv.path("/d/a.txt")).unwrap(), b"abc");
    assert_eq!(
        dav("GET", &format!("{url}/d/a.txt"), &[], "").await,
        (200, "abc".into())
    );
    let (status, body) = dav("PROPFIND", &format!("{url}/d/"), &[("depth", "1")], "").await;
    assert_eq!(status, 207);
    let c = count(body.as_bytes());
    assert_eq!(c.entries, 2);
    assert_eq!(c.outcome("PROPFIND"), "clean");
    // no Depth header: dav-server lists the members only, not the collection itself
    let (status, body) = dav("PROPFIND", &format!("{url}/d/"), &[], "").await;
    assert_eq!(status, 207);
    let c = count(body.as_bytes());
    assert_eq!(c.entries, 1);
    assert_eq!(c.statuses[0].href, "/d/a.txt");
}

#[tokio::test]
async fn dav_delete_collection_with_refused_member_is_207() {
    let srv = DavServer::builder()
        .refuse_remove("/dir/locked.txt")
        .start()
        .await;
    srv.write("/dir/locked.txt", "x");
    srv.write("/dir/free.txt", "y");
    let (status, body) = dav("DELETE", &format!("{}/dir/", srv.url()), &[], "").await;
    assert_eq!(status, 207);
    let c = count(body.as_bytes());
    assert_eq!(c.entries, 1, "only the refused member is listed");
    assert_eq!(c.failures[0].href, "/dir/locked.txt");
    assert_eq!(
        (c.failures[0].level, c.failures[0].code.as_str()),
        ("response", "403")
    );
    assert!(srv.exists("/dir/locked.txt"));
    assert!(!srv.exists("/dir/free.txt"), "the rest is deleted");
    assert!(srv.exists("/dir"), "the collection stays");
}

#[tokio::test]
async fn dav_refusal_status_is_configurable() {
    let srv = DavServer::builder()
        .refuse_with(
            Op::Remove,
            "/dir/full.txt",
            dav_server::fs::FsError::InsufficientStorage,
        )
        .start()
        .await;
    srv.write("/dir/full.txt", "x");
    let (status, body) = dav("DELETE", &format!("{}/dir/", srv.url()), &[], "").await;
    assert_eq!(status, 207);
    assert_eq!(count(body.as_bytes()).failures[0].code, "507");
    // a single resource: no 207, the plain status
    let (status, _) = dav("DELETE", &format!("{}/dir/full.txt", srv.url()), &[], "").await;
    assert_eq!(status, 507);
}

#[tokio::test]
async fn dav_copy_collection_with_refused_member_is_207() {
    let srv = DavServer::builder().refuse_copy("/src/b.txt").start().await;
    srv.write("/src/a.txt", "a");
    srv.write("/src/b.txt", "b");
    let dest = format!("{}/dst/", srv.url());
    let (status, body) = dav(
        "COPY",
        &format!("{}/src/", srv.url()),
        &[("destination", &dest)],
        "",
    )
    .await;
    assert_eq!(status, 207);
    let c = count(body.as_bytes());
    assert_eq!(c.entries, 1);
    assert_eq!(c.failures[0].href, "/src/b.txt");
    assert_eq!(c.failures[0].code, "403");
    assert!(srv.exists("/dst/a.txt"));
    assert!(!srv.exists("/dst/b.txt"));
}

#[tokio::test]
async fn dav_move_is_207_only_when_overwriting_a_refusing_destination() {
    let srv = DavServer::builder()
        .refuse_rename("/plain/")
        .refuse_remove("/dst/keep.txt")
        .start()
        .await;
    srv.write("/plain/a.txt", "a");
    srv.write("/src/a.txt", "a");
    srv.write("/dst/keep.txt", "k");
    let to = format!("{}/elsewhere/", srv.url());
    let (status, _) = dav(
        "MOVE",
        &format!("{}/plain/", srv.url()),
        &[("destination", &to)],
        "",
    )
    .await;
    assert_eq!(status, 403, "a collection MOVE is one rename: plain status");

    let to = format!("{}/dst/", srv.url());
    let (status, body) = dav(
        "MOVE",
        &format!("{}/src/", srv.url()),
        &[("destination", &to), ("overwrite", "T")],
        "",
    )
    .await;
    assert_eq!(status, 207);
    let c = count(body.as_bytes());
    assert_eq!(c.entries, 1);
    assert_eq!(c.failures[0].href, "/dst/keep.txt");
    assert_eq!(c.failures[0].code, "403");
    assert!(srv.exists("/src/a.txt"), "nothing moved");
}

const PATCH_GETETAG: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:z">
  <D:set><D:prop><D:getetag>"forced"</D:getetag></D:prop></D:set>
  <D:set><D:prop><Z:color>red</Z:color></D:prop></D:set>
</D:propertyupdate>"#;

#[tokio::test]
async fn dav_proppatch_of_protected_property_is_403_and_424() {
    let srv = DavServer::start().await;
    srv.write("/f.txt", "x");
    let (status, body) = dav(
        "PROPPATCH",
        &format!("{}/f.txt", srv.url()),
        &[],
        PATCH_GETETAG,
    )
    .await;
    assert_eq!(status, 207);
    let c = count(body.as_bytes());
    assert_eq!(c.entries, 1);
    let props: Vec<_> = c
        .propstat_status
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(props, [("403", 1), ("424", 1)]);
    let codes: Vec<_> = c.failures.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["403", "424"]);
}

#[tokio::test]
async fn dav_proppatch_refused_dead_property_and_propfind_quirks() {
    let srv = DavServer::builder()
        .refuse_patch_prop("/f.txt", "color")
        .start()
        .await;
    srv.write("/f.txt", "x");
    srv.write("/g.txt", "y");
    let patch = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:z">
  <D:set><D:prop><Z:color>red</Z:color><Z:size>9</Z:size></D:prop></D:set>
</D:propertyupdate>"#;
    let (status, body) = dav("PROPPATCH", &format!("{}/f.txt", srv.url()), &[], patch).await;
    assert_eq!(status, 207);
    let codes: Vec<_> = count(body.as_bytes())
        .failures
        .iter()
        .map(|f| f.code.clone())
        .collect();
    assert_eq!(codes, ["403", "424"]);

    // the same patch elsewhere succeeds, and PROPFIND reads it back
    let (status, body) = dav("PROPPATCH", &format!("{}/g.txt", srv.url()), &[], patch).await;
    assert_eq!(status, 207);
    assert_eq!(count(body.as_bytes()).outcome("PROPPATCH"), "clean");
    let find = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:Z="urn:example:z">
  <D:prop><D:getcontentlength/><Z:color/><Z:missing/><D:nonexistent/></D:prop>
</D:propfind>"#;
    let (status, body) = dav(
        "PROPFIND",
        &format!("{}/g.txt", srv.url()),
        &[("depth", "0")],
        find,
    )
    .await;
    assert_eq!(status, 207);
    assert!(body.contains(">red<"), "dead property value comes back");
    let c = count(body.as_bytes());
    // dav-server 0.11 drops every requested property that is not 200 (no 404 propstat),
    // and appends all dead properties even when not asked (color twice, size unasked).
    let props: Vec<_> = c
        .propstat_status
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(props, [("200", 1)]);
    assert!(!body.contains("missing") && !body.contains("nonexistent"));
    assert_eq!(body.matches("<Z:color").count(), 2);
    assert!(body.contains("<Z:size"));
}

#[tokio::test]
async fn dav_propfind_depth_infinity_is_501_with_xml_error_body() {
    let srv = DavServer::start().await;
    srv.mkdir("/d");
    let (status, headers, body) = send(
        "PROPFIND",
        &format!("{}/d/", srv.url()),
        &[("depth", "infinity")],
        "",
    )
    .await;
    let body = String::from_utf8(body.to_vec()).unwrap();
    println!("--- PROPFIND Depth: infinity -> {status}\n{body}");
    assert_eq!(status, 501);
    assert!(headers["content-type"].to_str().unwrap().contains("xml"));
    assert!(body.contains("propfind-finite-depth"));
    assert_eq!(
        count(body.as_bytes()).root,
        Root::Other("{DAV:}error".into())
    );
}

#[tokio::test]
async fn dav_lock_unlock_and_locked_delete() {
    let srv = DavServer::start().await;
    srv.write("/dir/a.txt", "a");
    let lock = r#"<?xml version="1.0" encoding="utf-8"?>
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>
<D:locktype><D:write/></D:locktype><D:owner>test</D:owner></D:lockinfo>"#;
    let url = format!("{}/dir/a.txt", srv.url());
    let (status, headers, _) = send("LOCK", &url, &[("timeout", "Second-60")], lock).await;
    assert_eq!(status, 200);
    let token = headers["lock-token"].to_str().unwrap().to_owned();
    let (status, _) = dav("DELETE", &format!("{}/dir/", srv.url()), &[], "").await;
    assert_eq!(status, 423, "locked member: plain 423, not a 207");
    let (status, _) = dav("UNLOCK", &url, &[("lock-token", &token)], "").await;
    assert_eq!(status, 204);
    let (status, _) = dav("DELETE", &format!("{}/dir/", srv.url()), &[], "").await;
    assert_eq!(status, 204);
}

// ---------------------------------------------------------------------------------------------
// davaudit.rs: the Proxy fixture starts, forwards, scrapes and stops

const ONE_FAILURE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dir/locked.txt</D:href>
<D:status>HTTP/1.1 423 Locked</D:status></D:response></D:multistatus>"#;

#[tokio::test]
async fn proxy_fixture_forwards_and_exposes_metrics() {
    let up = FakeUpstream::always(Reply::multistatus(ONE_FAILURE)).await;
    let proxy = Proxy::start(&up.url()).await;
    let (status, _, body) = send("DELETE", &proxy.url_for("/dir/"), &[], "").await;
    assert_eq!(status, 207);
    assert_eq!(&body[..], ONE_FAILURE.as_bytes());
    assert_eq!(up.requests()[0].uri, "/dir/");

    let m = proxy
        .metrics_when(|m| m.get("davaudit_requests_total", &[("method", "DELETE")]) >= 1.0)
        .await;
    assert_eq!(
        m.get(
            "davaudit_requests_total",
            &[("method", "DELETE"), ("code", "207")]
        ),
        1.0
    );
    proxy.stop().await;
}

#[tokio::test]
async fn proxy_fixture_merges_extra_yaml() {
    let up = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start_with(
        &up.url(),
        "upstream:\n  response_timeout: 7s\naudit:\n  when_behind: skip\n",
    )
    .await;
    let yaml = proxy.config_yaml();
    assert!(yaml.contains(&up.url()), "base upstream.url kept: {yaml}");
    assert!(yaml.contains("response_timeout: 7s"), "{yaml}");
    assert!(yaml.contains("when_behind: skip"), "{yaml}");
    let (status, _, _) = send("GET", &proxy.url(), &[], "").await;
    assert_eq!(status, 200);
    drop(proxy); // shutdown starts on drop
}
