//! Failures behind a success (#14): a 2xx other than 207 to a WebDAV method whose body is a
//! multistatus with failures inside. Radicale answers a calendar DELETE with `200` and such a
//! body; Xandikos an extended MKCOL with `201` and a `403` inside. The client gets the bytes
//! unchanged; the audit reports `failure_in_success`. GET/PUT answers are never read, and a
//! success with nothing failing inside changes no count.

use crate::support::*;

/// Radicale's shape: a `200` to DELETE with a multistatus listing a locked member.
const RADICALE_DELETE: &str = r#"<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:"><response><href>/user/calendar.ics/</href><status>HTTP/1.1 200 OK</status></response><response><href>/user/calendar.ics/event.ics</href><status>HTTP/1.1 423 Locked</status></response></multistatus>"#;

/// Xandikos's shape: a `201` to an extended MKCOL with a refused property, sent with no
/// `Content-Type`, a BOM and leading whitespace (read by its first bytes).
const XANDIKOS_MKCOL: &[u8] = b"\xEF\xBB\xBF\n  <ns0:multistatus xmlns:ns0=\"DAV:\"><ns0:response><ns0:href>/user/contacts/</ns0:href><ns0:propstat><ns0:status>HTTP/1.1 403 Forbidden</ns0:status><ns0:prop><ns0:displayname/></ns0:prop></ns0:propstat></ns0:response></ns0:multistatus>";

/// A clean 207 used as a barrier: once it is audited, every earlier response's audit (if
/// any) has been reported too (same connection, answered in order).
const CLEAN_207: &str = r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/b</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response></D:multistatus>"#;

async fn live_failures(proxy: &Proxy, n: u64) -> serde_json::Value {
    wait_until(&format!("{n} failures recorded"), || async {
        let (_, _, body) = send("GET", &format!("{}/failures", proxy.admin_url()), &[], "").await;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (json["recorded"].as_u64() >= Some(n)).then_some(json)
    })
    .await
}

#[tokio::test]
async fn a_delete_200_and_a_mkcol_201_with_failures_inside_are_reported_as_failure_in_success() {
    let logs = LogCapture::start();
    let upstream = FakeUpstream::start(|req| match req.method.as_str() {
        "DELETE" => Reply::ok(RADICALE_DELETE)
            .header("content-type", "text/xml; charset=utf-8")
            .framed(7),
        "MKCOL" => Reply::status(201).body(XANDIKOS_MKCOL).framed(1),
        _ => Reply::status(404),
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;

    let (status, _, received) =
        send("DELETE", &proxy.url_for("/user/calendar.ics/"), &[], "").await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(received, RADICALE_DELETE.as_bytes());
    let (status, headers, received) =
        send("MKCOL", &proxy.url_for("/user/contacts/"), &[], "").await;
    assert_eq!(status.as_u16(), 201);
    assert_eq!(received, XANDIKOS_MKCOL);
    assert!(headers.get("content-type").is_none());

    let metrics = proxy
        .audited(&Metrics::default(), &[("outcome", "failure_in_success")], 2)
        .await;
    for method in ["DELETE", "MKCOL"] {
        assert_eq!(
            metrics.get(
                "davaudit_multistatus_total",
                &[("method", method), ("outcome", "failure_in_success")]
            ),
            1.0,
            "{method}"
        );
    }
    assert_eq!(
        metrics.get(
            "davaudit_multistatus_failures_total",
            &[("method", "DELETE"), ("level", "response"), ("code", "423")]
        ),
        1.0
    );
    assert_eq!(
        metrics.get(
            "davaudit_multistatus_failures_total",
            &[("method", "MKCOL"), ("level", "propstat"), ("code", "403")]
        ),
        1.0
    );
    assert_eq!(
        metrics.get(
            "davaudit_multistatus_total",
            &[("outcome", "partial_failure")]
        ),
        0.0
    );

    let event = logs
        .wait_for("failure in success WARN", |e| {
            e.level() == "WARN"
                && e.field("outcome").and_then(|o| o.as_str()) == Some("failure_in_success")
                && e.field("method").and_then(|m| m.as_str()) == Some("DELETE")
        })
        .await;
    assert_eq!(event.field("status").unwrap(), 200);
    assert_eq!(
        event.field("response_status").unwrap(),
        &serde_json::json!({"200": 1, "423": 1})
    );
    assert_eq!(event.field("failures").unwrap(), 1);

    let json = live_failures(&proxy, 2).await;
    let records = json["failures"].as_array().unwrap();
    let delete = records.iter().find(|r| r["method"] == "DELETE").unwrap();
    assert_eq!(delete["status"], 200);
    assert_eq!(delete["outcome"], "failure_in_success");
    assert_eq!(delete["failed"][0]["href"], "/user/calendar.ics/event.ics");
    let mkcol = records.iter().find(|r| r["method"] == "MKCOL").unwrap();
    assert_eq!(mkcol["status"], 201);
    assert_eq!(mkcol["failed"][0]["code"], "403");
}

#[tokio::test]
async fn get_put_answers_and_successes_with_nothing_failing_inside_change_no_count() {
    let failing = RADICALE_DELETE;
    let upstream = FakeUpstream::start(move |req| match (req.method.as_str(), req.uri.path()) {
        // Never read: GET and PUT answers, whatever they hold.
        ("GET", _) | ("PUT", _) => Reply::ok(failing).header("content-type", "application/xml"),
        // Read, but nothing failing inside: silent.
        ("DELETE", "/clean") => Reply::ok(CLEAN_207).header("content-type", "application/xml"),
        ("LOCK", _) => Reply::ok(r#"<D:prop xmlns:D="DAV:"><D:lockdiscovery/></D:prop>"#)
            .header("content-type", "application/xml"),
        ("MOVE", _) => Reply::status(201).body("Moved. <b>423</b>"),
        ("COPY", _) => Reply::ok(failing).header("content-type", "text/plain"),
        // The barrier.
        ("PROPFIND", _) => Reply::multistatus(CLEAN_207),
        _ => Reply::status(404),
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    for (method, path) in [
        ("GET", "/f"),
        ("PUT", "/f"),
        ("DELETE", "/clean"),
        ("LOCK", "/f"),
        ("MOVE", "/f"),
        ("COPY", "/f"),
    ] {
        let (status, _, _) = send(method, &proxy.url_for(path), &[], "").await;
        assert!(status.is_success(), "{method}");
    }
    let (status, _, _) = send("PROPFIND", &proxy.url_for("/b"), &[], "").await;
    assert_eq!(status.as_u16(), 207);
    let metrics = proxy
        .audited(&Metrics::default(), &[("method", "PROPFIND")], 1)
        .await;
    // Only the barrier was scanned: its bytes, and one audited response in all.
    assert_eq!(
        metrics.get("davaudit_audit_bytes_total", &[]),
        CLEAN_207.len() as f64
    );
    assert_eq!(metrics.get("davaudit_multistatus_total", &[]), 1.0);
    assert_eq!(metrics.get("davaudit_multistatus_failures_total", &[]), 0.0);
}

/// lighttpd 1.4 answers a COPY whose destination member it could not write with `200 OK`, no
/// `Content-Type` and a bare `<D:response>` fragment: no `multistatus` root, the prefix `D`
/// declared nowhere (captured, `tests/corpus/lighttpd/`). The audit reads the prefix as `DAV:`
/// and the root `DAV:response` as a one-entry multistatus (DESIGN.md §2.7), so the member's
/// 403 is a `failure_in_success`, counted as the corpus oracle (`tests/corpus/count.py`)
/// counts it, and the body is marked for its unbound prefix.
#[tokio::test]
async fn lighttpds_bare_response_fragment_under_a_copy_200_is_a_failure_in_success() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/lighttpd");
    let body = std::fs::read(dir.join("copy-unwritable-member-200-fragment.xml")).unwrap();
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("copy-unwritable-member-200-fragment.expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(expected["method"], "COPY");
    assert_eq!(expected["namespace_well_formed"], false);
    let logs = LogCapture::start();
    let served = body.clone();
    let upstream = FakeUpstream::start(move |req| match req.method.as_str() {
        "COPY" => Reply::ok(served.clone()).framed(5),
        _ => Reply::status(404),
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, headers, received) = send(
        "COPY",
        &proxy.url_for("/dir/"),
        &[("destination", "/dst/"), ("overwrite", "T")],
        "",
    )
    .await;
    assert_eq!(status.as_u16(), 200);
    assert!(headers.get("content-type").is_none());
    assert_eq!(received, body, "the client gets the bytes unchanged");

    let metrics = proxy
        .audited(&Metrics::default(), &[("outcome", "failure_in_success")], 1)
        .await;
    let copy = |outcome| [("method", "COPY"), ("outcome", outcome)];
    assert_eq!(
        metrics.get("davaudit_multistatus_total", &copy("failure_in_success")),
        1.0
    );
    assert_eq!(
        metrics.get("davaudit_multistatus_total", &copy("malformed")),
        0.0
    );
    // Every status the oracle counted, at its level and code, and nothing else.
    let mut statuses = 0.0;
    for level in ["response", "propstat"] {
        for (code, n) in expected[format!("{level}_status")].as_object().unwrap() {
            let labels = [("method", "COPY"), ("level", level), ("code", code)];
            let n = n.as_f64().unwrap();
            assert_eq!(
                metrics.get("davaudit_multistatus_entries_total", &labels),
                n
            );
            assert_eq!(
                metrics.get("davaudit_multistatus_failures_total", &labels),
                n,
                "every status here is a failure"
            );
            statuses += n;
        }
    }
    assert_eq!(
        metrics.get("davaudit_multistatus_entries_total", &[]),
        statuses
    );
    assert_eq!(
        statuses,
        expected["failure_count"].as_f64().unwrap(),
        "the oracle counted a failure"
    );
    assert_eq!(
        metrics.get(
            "davaudit_multistatus_unbound_prefix_total",
            &[("method", "COPY")]
        ),
        1.0
    );

    let event = logs
        .wait_for("failure in success WARN for the COPY", |e| {
            e.level() == "WARN"
                && e.field("outcome").and_then(|o| o.as_str()) == Some("failure_in_success")
                && e.field("method").and_then(|m| m.as_str()) == Some("COPY")
        })
        .await;
    assert_eq!(event.field("status").unwrap(), 200);
    assert_eq!(*event.field("entries").unwrap(), expected["entries"]);
    assert!(event.field("unbound_prefixes").unwrap().as_u64().unwrap() > 0);
    let json = live_failures(&proxy, 1).await;
    let record = &json["failures"][0];
    assert_eq!(record["outcome"], "failure_in_success");
    assert_eq!(
        record["failed"][0]["hrefs"], expected["failures"][0][2],
        "the member the oracle names"
    );
}
