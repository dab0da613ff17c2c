//! Upstream faults: refused (502), too slow (504), garbage (502), closed before answering
//! (502), reset mid-body (the client sees the break, the audit says `truncated`). Each one
//! counted by kind and by top-level status.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::support::upstream::{read_head, reset};
use crate::support::*;

async fn refused_url() -> String {
    // Bind, note the port, close: nothing listens there any more.
    let listener = bind_local().await;
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

async fn assert_counted(proxy: &Proxy, method: &str, status: &str, kind: &str) {
    let m = proxy
        .metrics_when(|m| m.get("davaudit_upstream_errors_total", &[("kind", kind)]) == 1.0)
        .await;
    assert_eq!(
        m.get(
            "davaudit_requests_total",
            &[("method", method), ("code", status)]
        ),
        1.0
    );
}

#[tokio::test]
async fn unreachable_upstream_answers_502_and_counts_connect() {
    let proxy = Proxy::start(&refused_url().await).await;
    let (status, headers, body) = send("PROPFIND", &proxy.url_for("/x"), &[], "").await;
    assert_eq!(status.as_u16(), 502);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert!(String::from_utf8_lossy(&body).contains("could not connect"));
    assert_counted(&proxy, "PROPFIND", "502", "connect").await;
}

#[tokio::test]
async fn slow_upstream_answers_504_after_the_response_timeout() {
    let upstream =
        FakeUpstream::always(Reply::status(200).delay_headers(Duration::from_secs(20))).await;
    let proxy = Proxy::start_with(&upstream.url(), "upstream: {response_timeout: 200ms}").await;
    let (status, _, body) = send("REPORT", &proxy.url_for("/cal/"), &[], "").await;
    assert_eq!(status.as_u16(), 504);
    assert!(String::from_utf8_lossy(&body).contains("did not answer in time"));
    assert_counted(&proxy, "REPORT", "504", "timeout").await;
}

#[tokio::test]
async fn garbage_instead_of_http_answers_502_and_counts_protocol() {
    let upstream = RawUpstream::respond_with(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, _, _) = send("GET", &proxy.url_for("/"), &[], "").await;
    assert_eq!(status.as_u16(), 502);
    assert_counted(&proxy, "GET", "502", "protocol").await;
}

#[tokio::test]
async fn upstream_closing_before_answering_answers_502_and_counts_reset() {
    let upstream = RawUpstream::start(|mut s| async move {
        let _ = read_head(&mut s).await;
        reset(s);
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, _, _) = send("DELETE", &proxy.url_for("/x"), &[], "").await;
    assert_eq!(status.as_u16(), 502);
    assert_counted(&proxy, "DELETE", "502", "reset").await;
}

#[tokio::test]
async fn reset_in_the_middle_of_a_207_reaches_the_client_and_the_audit_is_truncated() {
    let upstream = RawUpstream::start(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s
            .write_all(
                b"HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\n\
                  Content-Length: 1000\r\n\r\n<d:multistatus xmlns:d=\"DAV:\"><d:response>\
                  <d:href>/a</d:href><d:status>HTTP/1.1 423 Locked</d:status></d:response>",
            )
            .await;
        let _ = s.flush().await;
        reset(s);
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let response = raw_request(
        proxy.addr(),
        b"DELETE /dir/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 207);
    assert!(
        !response.complete,
        "the client must see that the body broke off"
    );
    let m = proxy
        .audited(
            &Metrics::default(),
            &[("method", "DELETE"), ("outcome", "truncated")],
            1,
        )
        .await;
    // What was read before the reset is still counted.
    assert_eq!(
        m.get(
            "davaudit_multistatus_entries_total",
            &[("method", "DELETE"), ("level", "response"), ("code", "423")]
        ),
        1.0
    );
}
