//! Nothing goes silent (issue 16, item 3): connections open, accepted and refused, requests
//! in flight, upstream retries, config reloads, the TLS certificate's expiry and handshake
//! failures, and the time the audit held responses back are all on `/metrics`; a burst of
//! refused connections is one WARN and one counted summary, not one line each.

use std::sync::Arc;
use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn refused_connections_are_counted_and_logged_once_per_interval() {
    let logs = LogCapture::start();
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {max_connections: 2}").await;
    let _a = RawConn::connect(proxy.addr()).await;
    let _b = RawConn::connect(proxy.addr()).await;
    let m = proxy
        .metrics_when(|m| m.get("davaudit_connections_open", &[("listener", "proxy")]) == 2.0)
        .await;
    assert_eq!(
        m.get(
            "davaudit_connections_accepted_total",
            &[("listener", "proxy")]
        ),
        2.0
    );
    for _ in 0..20 {
        let mut refused = RawConn::connect(proxy.addr()).await;
        assert!(refused.closed_by_peer().await, "over the limit: closed");
    }
    let m = proxy
        .metrics_when(|m| {
            m.get(
                "davaudit_connections_refused_total",
                &[("listener", "proxy"), ("reason", "limit")],
            ) == 20.0
        })
        .await;
    assert_eq!(
        m.get("davaudit_connections_open", &[("listener", "proxy")]),
        2.0
    );
    let warned = logs.find(|e| e.message() == "connection refused: limit reached");
    assert_eq!(warned.len(), 1, "one WARN for the burst, not 20");
}

#[tokio::test]
async fn a_request_waiting_for_the_upstream_is_in_flight_until_its_headers() {
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
    let upstream = RawUpstream::start(move |mut s| {
        let released = released.clone();
        async move {
            let _ = crate::support::upstream::read_head(&mut s).await;
            if let Some(rx) = released.lock().await.take() {
                let _ = rx.await;
            }
            use tokio::io::AsyncWriteExt;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
        }
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let url = proxy.url_for("/slow");
    let request = tokio::spawn(async move { send("GET", &url, &[], "").await });
    proxy
        .metrics_when(|m| m.get("davaudit_requests_in_flight", &[]) == 1.0)
        .await;
    release.send(()).unwrap();
    let (status, _, _) = within("the held request", request).await.unwrap();
    assert_eq!(status, 200);
    proxy
        .metrics_when(|m| m.get("davaudit_requests_in_flight", &[]) == 0.0)
        .await;
}

#[tokio::test]
async fn reloads_are_counted_with_their_result_and_the_last_success_time() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let m = proxy.metrics().await;
    assert_eq!(
        m.get_exact("davaudit_config_last_reload_successful", &[]),
        Some(1.0)
    );
    let started = m.get("davaudit_config_last_reload_success_timestamp_seconds", &[]);
    assert!(started > 1.0e9, "a unix time: {started}");

    let mut bad = ::davaudit::config::from_yaml(proxy.config_yaml(), "reload.yaml").unwrap();
    bad.upstream.url = "https://127.0.0.1:1".parse().unwrap();
    bad.upstream.tls.ca_file = Some("/nonexistent/ca.pem".into());
    assert!(proxy.running().reloader().reload(bad).is_err());
    let m = proxy.metrics().await;
    assert_eq!(
        m.get("davaudit_config_reloads_total", &[("result", "failure")]),
        1.0
    );
    assert_eq!(
        m.get_exact("davaudit_config_last_reload_successful", &[]),
        Some(0.0)
    );

    let good = ::davaudit::config::from_yaml(proxy.config_yaml(), "reload.yaml").unwrap();
    proxy.running().reloader().reload(good).unwrap();
    let m = proxy.metrics().await;
    assert_eq!(
        m.get("davaudit_config_reloads_total", &[("result", "success")]),
        1.0
    );
    assert_eq!(
        m.get_exact("davaudit_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert!(m.get("davaudit_config_last_reload_success_timestamp_seconds", &[]) >= started);
}

#[tokio::test]
async fn the_tls_certificate_expiry_and_failed_handshakes_are_exported() {
    let cert = SelfSigned::new();
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start_with(&upstream.url(), &cert.yaml()).await;
    let m = proxy.metrics().await;
    // rcgen's default validity ends on 4096-01-01T00:00:00Z.
    assert_eq!(
        m.get_exact("davaudit_tls_certificate_not_after_timestamp_seconds", &[]),
        Some(67_090_118_400.0)
    );
    // Plain HTTP on the TLS port: a failed handshake.
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let _ = conn.read_to_end().await;
    proxy
        .metrics_when(|m| {
            m.get(
                "davaudit_tls_handshake_failures_total",
                &[("reason", "error")],
            ) == 1.0
        })
        .await;
}

#[tokio::test]
async fn time_the_audit_held_a_response_back_is_counted() {
    let generated = GeneratedMultistatus::with_size(512 << 10);
    let upstream =
        FakeUpstream::always(Reply::generated_multistatus(generated).framed(16 << 10)).await;
    let proxy = Proxy::start_with_hooks(
        &upstream.url(),
        "audit: {when_behind: wait, queue_bytes: 64KiB, stall_timeout: 60s}",
        ::davaudit::Hooks {
            scan_delay: Some(Duration::from_millis(5)),
        },
    )
    .await;
    let (status, _, body) = send("PROPFIND", &proxy.url_for("/big/"), &[], "").await;
    assert_eq!(status, 207);
    assert_eq!(body.len() as u64, generated.len());
    let m = proxy
        .metrics_when(|m| m.get("davaudit_multistatus_total", &[("method", "PROPFIND")]) == 1.0)
        .await;
    assert!(
        m.get("davaudit_audit_wait_seconds_total", &[]) > 0.0,
        "a 512 KiB body through a 64 KiB queue to a slow scanner waited"
    );
}

#[tokio::test]
async fn without_tls_or_waits_the_new_families_read_zero() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let m = proxy.metrics().await;
    for family in [
        "davaudit_tls_certificate_not_after_timestamp_seconds",
        "davaudit_audit_wait_seconds_total",
        "davaudit_upstream_retries_total",
        "davaudit_requests_in_flight",
    ] {
        assert_eq!(m.get_exact(family, &[]), Some(0.0), "{family}");
    }
}

#[tokio::test]
async fn method_histograms_appear_on_first_use_and_metrics_are_gzipped_when_asked() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let idle = proxy.metrics().await;
    assert!(
        idle.labels_of("davaudit_request_duration_seconds_count")
            .is_empty(),
        "no zero histograms before any request:\n{}",
        idle.text
    );
    let (status, _, _) = send("GET", &proxy.url_for("/a"), &[], "").await;
    assert_eq!(status, 200);
    let m = proxy.metrics().await;
    assert_eq!(
        m.label_values("davaudit_request_duration_seconds_count", "method"),
        ["GET"]
    );

    let url = format!("{}/metrics", proxy.admin_url());
    let (status, headers, body) = send("GET", &url, &[("accept-encoding", "gzip")], "").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-encoding"], "gzip");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text).unwrap();
    assert!(text.contains("davaudit_request_duration_seconds_count{method=\"GET\"} 1"));
    assert!(
        body.len() * 3 < text.len(),
        "compressed: {} of {}",
        body.len(),
        text.len()
    );
    let (_, headers, _) = send("GET", &url, &[("accept-encoding", "gzip;q=0")], "").await;
    assert!(headers.get("content-encoding").is_none());
}

#[tokio::test]
async fn failed_tls_handshakes_are_logged_once_per_interval_and_counted() {
    // They were counted but logged at DEBUG only: a scanner or a client with the wrong CA
    // left no line at the default level. Now one WARN per interval, then a counted summary.
    let logs = LogCapture::start();
    let cert = SelfSigned::new();
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start_with(&upstream.url(), &cert.yaml()).await;
    for _ in 0..5 {
        // Plain HTTP on the TLS port.
        let mut conn = RawConn::connect(proxy.addr()).await;
        conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let _ = conn.read_to_end().await;
    }
    proxy
        .metrics_when(|m| {
            m.get(
                "davaudit_tls_handshake_failures_total",
                &[("reason", "error")],
            ) == 5.0
        })
        .await;
    let warned = logs.find(|e| e.level() == "WARN" && e.message() == "TLS handshake failed");
    assert_eq!(warned.len(), 1, "one WARN for the burst, not 5");
    assert_eq!(warned[0].field("reason").unwrap(), "error");
    assert!(warned[0].field("peer").is_some());
}

const LOCKED_MEMBER: &str = "<?xml version=\"1.0\"?>\
    <D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/sync/locked.txt</D:href>\
    <D:status>HTTP/1.1 423 Locked</D:status></D:response></D:multistatus>";

#[tokio::test]
async fn identical_partial_failures_from_one_client_are_logged_once_per_interval() {
    // A sync client retrying the same DELETE gets the same 207 each time: one WARN line
    // each used to flood the log. Every one is still counted; only the log folds them.
    let logs = LogCapture::start();
    let upstream = FakeUpstream::always(Reply::multistatus(LOCKED_MEMBER)).await;
    let proxy = Proxy::start(&upstream.url()).await;
    for _ in 0..5 {
        let (status, _, _) = send("DELETE", &proxy.url_for("/sync/"), &[], "").await;
        assert_eq!(status, 207);
    }
    let m = proxy
        .audited(&Metrics::default(), &[("outcome", "partial_failure")], 5)
        .await;
    assert_eq!(
        m.get(
            "davaudit_multistatus_failures_total",
            &[("method", "DELETE"), ("code", "423")]
        ),
        5.0,
        "counts are never folded"
    );
    let warned = || logs.find(|e| e.message() == "multistatus partial failure");
    assert_eq!(warned().len(), 1, "one WARN for five identical failures");

    // Another path is another failure: logged in full.
    let (status, _, _) = send("DELETE", &proxy.url_for("/other/"), &[], "").await;
    assert_eq!(status, 207);
    proxy
        .audited(&m, &[("outcome", "partial_failure")], 1)
        .await;
    let paths: Vec<String> = warned()
        .iter()
        .map(|e| e.field("path").unwrap().as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, ["/sync/", "/other/"]);
}
