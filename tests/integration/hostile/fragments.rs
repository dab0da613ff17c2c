//! The `#fragment` guard (`src/fragment.rs`) attacked: it reads the connection's bytes on
//! their way to hyper and remembers the request lines that carried a fragment, and the
//! proxy refuses (400) the request that matches one. Forwarded, `DELETE /coll/#member`
//! becomes `DELETE /coll/`: the collection, not the member. Each attack here tries to get a
//! request with a fragment forwarded all the same; the upstream must never see one.

use crate::support::*;

/// The requests the upstream received, as `METHOD target [if-match]`.
fn seen(up: &FakeUpstream) -> Vec<String> {
    up.requests()
        .iter()
        .map(|r| {
            let guard = r.header("if-match").unwrap_or("-");
            format!("{} {} {guard}", r.method, r.uri)
        })
        .collect()
}

/// Sends `bytes` on one connection and reads what comes back until the proxy closes it or
/// `responses` responses are in; returns their statuses.
async fn statuses(proxy: &Proxy, bytes: &[u8], responses: usize) -> Vec<u16> {
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(bytes).await;
    let mut got = Vec::new();
    while got.len() < responses && !conn.closed_by_peer().await {
        got.push(conn.read_response(false).await.status);
    }
    got
}

/// The records are few (`fragment::MAX_KEPT`): lines shaped like request lines with a
/// fragment in the same head (here header values) pushed the request's own record out
/// before hyper parsed the request, and `DELETE /coll/#member` went upstream as
/// `DELETE /coll/`.
#[tokio::test]
async fn a_fragment_record_pushed_out_by_later_lines_still_refuses_its_request() {
    let up = FakeUpstream::always(Reply::status(204)).await;
    let proxy = Proxy::start(&up.url()).await;
    let mut head = b"DELETE /coll/#member HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..3 * 8 {
        head.extend_from_slice(format!("X-Pad-{i}: GET /pad{i}#f HTTP/1.1\r\n").as_bytes());
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    let got = statuses(&proxy, &head, 1).await;
    assert_eq!(got, [400], "the request with a fragment is refused");

    // The same flood in the body of an earlier request on the connection.
    let mut body = Vec::new();
    for i in 0..64 {
        body.extend_from_slice(format!("GET /pad{i}#f HTTP/1.1\r\n").as_bytes());
    }
    let mut bytes = format!(
        "DELETE /coll/#member HTTP/1.1\r\nHost: t\r\n\r\nPUT /log HTTP/1.1\r\nHost: t\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&body);
    let got = statuses(&proxy, &bytes, 2).await;
    assert_eq!(got.first(), Some(&400), "{got:?}");
    assert!(
        !seen(&up).iter().any(|s| s.starts_with("DELETE")),
        "a DELETE went upstream: {:?}",
        seen(&up)
    );
}

/// Pipelined, an earlier request with the same method and target but no fragment took the
/// record of the later one: the earlier was refused, and the later, `DELETE /coll/#member`
/// without the conditions of the first, went upstream as `DELETE /coll/`.
#[tokio::test]
async fn a_pipelined_request_without_a_fragment_does_not_use_up_the_record_of_a_later_one() {
    let up = FakeUpstream::always(Reply::status(204)).await;
    let proxy = Proxy::start(&up.url()).await;
    let bytes = b"DELETE /coll/ HTTP/1.1\r\nHost: t\r\nIf-Match: \"v1\"\r\n\r\n\
        DELETE /coll/#member HTTP/1.1\r\nHost: t\r\n\r\n\
        GET /after HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let got = statuses(&proxy, bytes, 3).await;
    assert!(got.contains(&400), "{got:?}");
    for request in seen(&up) {
        assert!(
            !request.starts_with("DELETE") || request.ends_with("\"v1\""),
            "the DELETE with a fragment went upstream: {:?}",
            seen(&up)
        );
    }
}
