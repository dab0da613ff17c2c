//! The request target reaches the upstream as the client sent it, or not at all. A
//! `#fragment` (RFC 9112 §3.2 allows none in a request target) is dropped by hyper before
//! davaudit sees the request: forwarded, `DELETE /coll/#frag` would become `DELETE /coll/`,
//! which lighttpd, WsgiDAV and Radicale read as "delete the collection" where the client
//! named a member `#frag`. davaudit answers 400 instead, without contacting the upstream.

use crate::support::*;

const DELETE_FRAGMENT: &[u8] = b"DELETE /coll/#frag HTTP/1.1\r\nHost: t\r\n\r\n";

fn uris(up: &FakeUpstream) -> Vec<String> {
    up.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect()
}

#[tokio::test]
async fn a_fragment_is_refused_never_dropped_and_never_reaches_the_upstream() {
    let up = FakeUpstream::always(Reply::status(204)).await;
    let proxy = Proxy::start(&up.url()).await;
    let before = proxy.metrics().await;

    let response = raw_request(
        proxy.addr(),
        b"DELETE /coll/#frag HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 400, "{}", response.head_str());
    assert!(
        response.body_str().contains("#fragment"),
        "{}",
        response.body_str()
    );

    // An encoded `#` is path data: forwarded unchanged. Answered after the refused request,
    // so the upstream's log below is complete.
    let response = raw_request(
        proxy.addr(),
        b"DELETE /coll/%23frag HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 204);
    up.wait_requests(1).await;
    assert_eq!(uris(&up), ["DELETE /coll/%23frag"]);

    let after = proxy.metrics().await;
    let refused = [("method", "DELETE"), ("code", "400")];
    assert_eq!(
        after.delta(&before, "davaudit_requests_total", &refused),
        1.0
    );
}

#[tokio::test]
async fn on_one_connection_only_the_request_with_a_fragment_is_refused() {
    let up = FakeUpstream::always(Reply::status(204)).await;
    let proxy = Proxy::start(&up.url()).await;
    let mut conn = RawConn::connect(proxy.addr()).await;

    // One at a time: the refusal closes the connection (what was pipelined behind it could
    // otherwise be matched against the record of the refused line); a new one is clean.
    conn.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(conn.read_response(false).await.status, 204);
    conn.send(DELETE_FRAGMENT).await;
    let refused = conn.read_response(false).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.header("connection"), Some("close"));
    assert!(conn.closed_by_peer().await, "closed with the 400");
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(b"DELETE /coll/ HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    assert_eq!(conn.read_response(false).await.status, 204);

    // Pipelined in one write; a body that does not end with a line break and sits right
    // before the request line does not hide the fragment. Nothing after the 400 is read.
    let mut pipelined = b"PUT /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nx\x00y".to_vec();
    pipelined.extend_from_slice(DELETE_FRAGMENT);
    pipelined.extend_from_slice(b"GET /e HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    conn.send(&pipelined).await;
    let statuses = [
        conn.read_response(false).await.status,
        conn.read_response(false).await.status,
    ];
    assert_eq!(statuses, [204, 400]);
    assert!(conn.closed_by_peer().await, "closed with the 400");

    up.wait_requests(3).await;
    assert_eq!(
        uris(&up),
        ["GET /a", "DELETE /coll/", "PUT /b"],
        "the refused request and what followed it never went upstream"
    );
}
