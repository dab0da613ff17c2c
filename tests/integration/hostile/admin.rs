//! The admin listener under hostile readers (issue 18, item 6): `/failures` renders a
//! bounded answer however heavy the recorded texts, large answers in flight are bounded in
//! number, and on a loopback admin address every path gets the DNS-rebinding Host check.

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::support::*;

/// A 207 whose ten 423s carry 1 KiB of `<` in the href and in the description: each `<`
/// becomes six bytes (`\u003c`) in the live view's JSON.
fn heavy_multistatus() -> String {
    let lt = "&lt;".repeat(1024);
    let mut body = String::from("<D:multistatus xmlns:D=\"DAV:\">");
    for i in 0..10 {
        body.push_str(&format!(
            "<D:response><D:href>/{i}{lt}</D:href><D:status>HTTP/1.1 423 Locked</D:status>\
             <D:responsedescription>{lt}</D:responsedescription></D:response>"
        ));
    }
    body.push_str("</D:multistatus>");
    body
}

async fn proxy_with_heavy_ring(records: usize) -> (FakeUpstream, Proxy) {
    let upstream = FakeUpstream::always(Reply::multistatus(heavy_multistatus())).await;
    let proxy = Proxy::start(&upstream.url()).await;
    for i in 0..records {
        let (status, _, _) = send("DELETE", &proxy.url_for(&format!("/d{i}/")), &[], "").await;
        assert_eq!(status, 207);
    }
    proxy
        .metrics_when(|m| m.get("davaudit_multistatus_total", &[]) >= records as f64)
        .await;
    (upstream, proxy)
}

#[tokio::test]
async fn a_failures_answer_is_bounded_however_heavy_the_records() {
    let (_upstream, proxy) = proxy_with_heavy_ring(16).await;
    let url = format!("{}/failures?limit=200", proxy.admin_url());
    let (status, _, body) = HttpClient::http1().send("GET", &url, &[], "").await;
    assert_eq!(status, 200);
    println!("/failures?limit=200: {} bytes", body.len());
    let value: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
    let kept = value["failures"].as_array().unwrap().len();
    let omitted = value["omitted"].as_u64().expect("an omitted count");
    println!("kept {kept}, omitted {omitted}");
    assert_eq!(kept as u64 + omitted, 16);
    assert!(omitted > 0, "16 heavy records cannot all fit");
    assert!(body.len() <= 1 << 20, "{} bytes", body.len());
}

/// Readers that do not read: each holds a large answer in flight (a 1-byte h2 window). Past
/// the bound, the next one gets 503 at once, so memory does not grow with the readers.
#[tokio::test]
async fn large_answers_in_flight_are_bounded() {
    let (_upstream, proxy) = proxy_with_heavy_ring(2).await;
    let stream = TcpStream::connect(proxy.admin_addr()).await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(1)
        .handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut held = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let request = http::Request::get(format!("{}/failures", proxy.admin_url()))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = within("/failures", sender.clone().send_request(request))
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        held.push(response); // never read
    }
    println!("{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 4);
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 2);
    assert_eq!(held[5].headers()["retry-after"], "1");
    // The bound is per kind of answer: /metrics and the small paths still work.
    let (status, _, _) = HttpClient::http1()
        .send("GET", &format!("{}/healthz", proxy.admin_url()), &[], "")
        .await;
    assert_eq!(status, 200);
    proxy.metrics().await;
    // Readers that finish free their slot.
    drop(held);
    wait_until("a /failures slot free again", || async {
        let (status, _, _) = HttpClient::http1()
            .send("GET", &format!("{}/failures", proxy.admin_url()), &[], "")
            .await;
        (status == 200).then_some(())
    })
    .await;
}

/// DNS rebinding: a page on evil.example resolved to 127.0.0.1 would send `Host:
/// evil.example`. On a loopback admin address no path answers it.
#[tokio::test]
async fn a_loopback_admin_answers_only_to_local_host_names() {
    let upstream = FakeUpstream::always(Reply::ok("ok")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    for path in ["/metrics", "/healthz", "/readyz", "/failures", "/"] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: evil.example:{}\r\nConnection: close\r\n\r\n",
            proxy.admin_addr().port()
        );
        let response = raw_request(proxy.admin_addr(), request.as_bytes()).await;
        assert_eq!(response.status, 403, "{path}: {response:?}");
        for host in ["localhost", "127.0.0.1"] {
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {host}:{}\r\nConnection: close\r\n\r\n",
                proxy.admin_addr().port()
            );
            let response = raw_request(proxy.admin_addr(), request.as_bytes()).await;
            assert_eq!(response.status, 200, "{path} {host}: {response:?}");
        }
    }
}
