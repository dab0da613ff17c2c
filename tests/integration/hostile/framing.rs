//! A hostile upstream's framing (issue 18, item 4): an answer with both `Content-Length` and
//! `Transfer-Encoding: chunked`. RFC 9112 §6.3: the chunked framing wins and an intermediary
//! removes the received `Content-Length` before forwarding. The client must get every byte
//! the chunks carry, and the audit must count only what the client was sent.

use tokio::io::AsyncWriteExt;

use crate::support::upstream::read_head;
use crate::support::*;

/// 93 bytes; the 423 sits well past byte 10.
const BODY: &str = "<?xml version=\"1.0\"?><D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/a</D:href>\
<D:status>HTTP/1.1 423 Locked</D:status></D:response></D:multistatus>";

fn chunked(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n0\r\n\r\n", data.len())
}

/// The upstream lies: `Content-Length: 10` beside chunks that carry the whole document.
#[tokio::test]
async fn an_upstream_answer_with_length_and_chunks_reaches_the_client_whole() {
    let upstream = RawUpstream::start(|mut s| async move {
        let _ = read_head(&mut s).await;
        let answer = format!(
            "HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\n\
             Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n{}",
            chunked(BODY)
        );
        let _ = s.write_all(answer.as_bytes()).await;
        let _ = s.shutdown().await;
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;

    for (what, request) in [
        (
            "HTTP/1.1",
            "PROPFIND /a HTTP/1.1\r\nHost: x\r\nDepth: 0\r\nConnection: close\r\n\r\n",
        ),
        (
            "HTTP/1.0",
            "PROPFIND /a HTTP/1.0\r\nHost: x\r\nDepth: 0\r\n\r\n",
        ),
    ] {
        let response = raw_request(proxy.addr(), request.as_bytes()).await;
        println!("{what}: {response:?}");
        assert_eq!(response.status, 207, "{what}");
        assert!(
            response.complete,
            "{what}: the framing the client got ended early"
        );
        assert_eq!(
            response.body_str(),
            BODY,
            "{what}: the client got a different body"
        );
        for length in response.header_all("content-length") {
            assert_eq!(
                length,
                BODY.len().to_string(),
                "{what}: a stale Content-Length was forwarded"
            );
        }
    }
    // The audit saw the same bytes the clients were sent: one 423 each.
    let metrics = proxy.audited(&Metrics::default(), &[], 2).await;
    assert_eq!(
        metrics.get(
            "davaudit_multistatus_failures_total",
            &[("level", "response"), ("code", "423")]
        ),
        2.0
    );
}

/// An h2 client gets the whole body too (a stale length there would reset the stream).
#[tokio::test]
async fn an_h2_client_gets_the_whole_body_of_an_answer_with_length_and_chunks() {
    let upstream = RawUpstream::start(|mut s| async move {
        let _ = read_head(&mut s).await;
        let answer = format!(
            "HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\n\
             Transfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n{}",
            chunked(BODY)
        );
        let _ = s.write_all(answer.as_bytes()).await;
        let _ = s.shutdown().await;
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, headers, body) = HttpClient::h2c()
        .send("PROPFIND", &proxy.url_for("/a"), &[("depth", "0")], "")
        .await;
    assert_eq!(status, 207);
    assert_eq!(std::str::from_utf8(&body).unwrap(), BODY);
    if let Some(length) = headers.get("content-length") {
        assert_eq!(length.to_str().unwrap(), BODY.len().to_string());
    }
}
