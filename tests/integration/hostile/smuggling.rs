//! Request smuggling: conflicting or obfuscated framing, obs-fold, bare CR/LF and broken
//! chunks never make the proxy and the upstream see different requests.

use crate::support::*;

use super::*;

/// The request an attacker tries to slip past the proxy.
const SMUGGLED: &str = "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n";
/// Sent after every attack (on the same connection, and on a new one if that was closed):
/// when its answer arrives, everything before it has been processed.
const CANARY: &[u8] = b"GET /canary HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// `data` as one chunk and the last chunk.
fn chunked(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n0\r\n\r\n", data.len())
}

/// An ambiguous request and what the server stack may do with it.
pub(super) struct Attack {
    name: &'static str,
    bytes: String,
    /// `None`: it must be rejected with 400. `Some(body)`: 400, or forwarded as exactly one
    /// `PUT /a` whose body is `body` (the framing a correct parser picks).
    one_request_body: Option<String>,
}

/// Whether `request` carries both Content-Length and Transfer-Encoding (any case).
fn has_cl_and_te(request: &str) -> bool {
    let head = request
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    head.contains("\ncontent-length:") && head.contains("transfer-encoding:")
}

impl Attack {
    pub(super) fn reject(name: &'static str, bytes: String) -> Self {
        Attack {
            name,
            bytes,
            one_request_body: None,
        }
    }

    pub(super) fn reject_or_one(name: &'static str, bytes: String, body: &str) -> Self {
        Attack {
            name,
            bytes,
            one_request_body: Some(body.to_owned()),
        }
    }
}

/// Sends `attack` then the canary on one connection to a fresh davaudit, and checks that the
/// upstream saw exactly the requests the client got answers for, in order, each answer
/// naming its request; that the attack was rejected or became exactly one request; and that
/// the smuggled `GET /admin` never reached the upstream. Returns the attack's status.
async fn run_attack(attack: &Attack) -> u16 {
    let name = attack.name;
    let upstream = echo_upstream().await;
    // A body that waits for bytes that never come ends in 408 instead of a hang.
    let proxy = Proxy::start_with(&upstream.url(), "upstream: {idle_timeout: 2s}").await;
    let before = proxy.metrics().await;
    let mut conn = RawConn::connect(proxy.addr()).await;
    // One write: the server may close right after the attack, before a second write.
    let mut bytes = attack.bytes.clone().into_bytes();
    bytes.extend_from_slice(CANARY);
    conn.send(&bytes).await;
    let mut responses = Vec::new();
    while !conn.closed_by_peer().await {
        responses.push(conn.read_response(false).await);
    }
    assert!(!responses.is_empty(), "{name}: no response at all");
    let canary_answered = responses.last().is_some_and(|r| r.body == b"GET /canary");
    if has_cl_and_te(&attack.bytes) {
        assert!(
            !canary_answered,
            "{name}: RFC 9112 §6.1: the connection must close after a request with both \
             Content-Length and Transfer-Encoding"
        );
    }
    if !canary_answered {
        let again = raw_request(proxy.addr(), CANARY).await;
        assert_eq!(again.status, 200, "{name}: the proxy still serves");
        responses.push(again);
    }

    let answered: Vec<String> = responses
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    let seen = upstream.requests();
    let seen_lines: Vec<String> = seen
        .iter()
        .map(|r| format!("{} {}", r.method, r.uri.path()))
        .collect();
    assert_eq!(
        seen_lines, answered,
        "{name}: the upstream saw exactly the requests the client got answers for"
    );
    assert!(
        !seen_lines.iter().any(|l| l.contains("/admin")),
        "{name}: the smuggled request reached the upstream: {seen_lines:?}"
    );
    let status = responses[0].status;
    let attack_requests = &seen[..seen.len() - 1];
    match (&attack.one_request_body, status) {
        (_, 400) => assert!(attack_requests.is_empty(), "{name}: rejected yet forwarded"),
        (Some(body), 200) => {
            assert_eq!(attack_requests.len(), 1, "{name}: {seen_lines:?}");
            assert_eq!(seen_lines[0], "PUT /a", "{name}");
            assert_eq!(
                String::from_utf8_lossy(&attack_requests[0].body),
                *body,
                "{name}: the body the upstream got"
            );
            assert!(attack_requests[0].body_error.is_none(), "{name}");
        }
        (expect, other) => panic!(
            "{name}: status {other}; allowed: 400{}; responses {responses:?}",
            if expect.is_some() {
                " or one forwarded request"
            } else {
                ""
            }
        ),
    }
    // Every forwarded request was counted once; rejections are either hyper's (never reach
    // the handler, not counted) or davaudit's own 400 (counted under code 400).
    let forwarded = |m: &Metrics| {
        (m.delta(&before, "davaudit_requests_total", &[])
            - m.delta(&before, "davaudit_requests_total", &[("code", "400")])) as usize
    };
    let after = proxy
        .metrics_when(|m| forwarded(m) == seen_lines.len())
        .await;
    assert_eq!(forwarded(&after), seen_lines.len(), "{name}");
    status
}

pub(super) async fn run_attacks(attacks: &[Attack]) {
    for attack in attacks {
        let status = run_attack(attack).await;
        println!("{:<60} -> {status}", attack.name);
    }
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_framed_by_the_chunks_only() {
    let hidden = chunked(SMUGGLED);
    run_attacks(&[
        // TE.CL: a parser that believed Content-Length would take the chunk's bytes as the
        // start of a second request.
        Attack::reject_or_one(
            "Content-Length: 4 before Transfer-Encoding: chunked",
            format!(
                "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\
                 Transfer-Encoding: chunked\r\n\r\n{hidden}"
            ),
            SMUGGLED,
        ),
        Attack::reject_or_one(
            "Transfer-Encoding: chunked before Content-Length: 4",
            format!(
                "PUT /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
                 Content-Length: 4\r\n\r\n{hidden}"
            ),
            SMUGGLED,
        ),
        Attack::reject_or_one(
            "Transfer-Encoding: CHUNKED (case) with Content-Length",
            format!(
                "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\
                 Transfer-Encoding: CHUNKED\r\n\r\n{hidden}"
            ),
            SMUGGLED,
        ),
        // CL.TE: Content-Length covers the smuggled bytes, the chunked body ends before
        // them. Framed by the chunks, the rest would be a next request on the connection;
        // RFC 9112 §6.1: the server MUST close the connection after such a request, so the
        // rest is never read.
        Attack::reject_or_one(
            "Content-Length longer than the chunked body",
            {
                let rest = format!("0\r\n\r\n{SMUGGLED}");
                format!(
                    "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\
                     Transfer-Encoding: chunked\r\n\r\n{rest}",
                    rest.len()
                )
            },
            "",
        ),
        Attack::reject(
            "Content-Length with Transfer-Encoding in HTTP/1.0",
            format!(
                "PUT /a HTTP/1.0\r\nHost: x\r\nContent-Length: 4\r\n\
                 Transfer-Encoding: chunked\r\n\r\n{hidden}"
            ),
        ),
    ])
    .await;
}

#[tokio::test]
async fn two_different_content_lengths_are_rejected() {
    let body = format!("abcd{SMUGGLED}");
    run_attacks(&[
        Attack::reject(
            "Content-Length: 4 and Content-Length: N",
            format!(
                "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        ),
        Attack::reject(
            "Content-Length: N and Content-Length: 4",
            format!(
                "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nContent-Length: 4\r\n\r\n{body}",
                body.len()
            ),
        ),
        Attack::reject(
            "Content-Length: 4, N (one field)",
            format!(
                "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4, {}\r\n\r\n{body}",
                body.len()
            ),
        ),
        Attack::reject(
            "Content-Length: +4",
            format!("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\n{body}"),
        ),
        Attack::reject(
            "Content-Length: 0x4",
            format!("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0x4\r\n\r\n{body}"),
        ),
        Attack::reject(
            "Content-Length: -1",
            format!("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{body}"),
        ),
    ])
    .await;
}

#[tokio::test]
async fn obfuscated_transfer_encodings_are_rejected() {
    let hidden = chunked(SMUGGLED);
    let with_cl = |te_lines: &str| {
        format!("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n{te_lines}\r\n{hidden}")
    };
    run_attacks(&[
        Attack::reject(
            "Transfer-Encoding: chunked, identity",
            with_cl("Transfer-Encoding: chunked, identity\r\n"),
        ),
        Attack::reject(
            "Transfer-Encoding: identity",
            with_cl("Transfer-Encoding: identity\r\n"),
        ),
        Attack::reject(
            "Transfer-Encoding: xchunked",
            with_cl("Transfer-Encoding: xchunked\r\n"),
        ),
        Attack::reject(
            "Transfer-Encoding: chunked-false",
            with_cl("Transfer-Encoding: chunked-false\r\n"),
        ),
        Attack::reject(
            "two Transfer-Encoding fields, chunked first",
            with_cl("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"),
        ),
        Attack::reject(
            "space before the colon",
            with_cl("Transfer-Encoding : chunked\r\n"),
        ),
        Attack::reject(
            "vertical tab before the value",
            with_cl("Transfer-Encoding:\x0bchunked\r\n"),
        ),
        Attack::reject(
            "NUL inside the value",
            with_cl("Transfer-Encoding: chun\0ked\r\n"),
        ),
        Attack::reject_or_one(
            "tab before the value (valid whitespace)",
            with_cl("Transfer-Encoding:\tchunked\r\n"),
            SMUGGLED,
        ),
    ])
    .await;
}

#[tokio::test]
async fn obs_fold_header_lines_are_rejected() {
    let hidden = chunked(SMUGGLED);
    let body = format!("abcd{SMUGGLED}");
    run_attacks(&[
        Attack::reject(
            "Transfer-Encoding folded onto the previous line (space)",
            format!(
                "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nX-Pad: a\r\n \
                 Transfer-Encoding: chunked\r\n\r\n{hidden}"
            ),
        ),
        Attack::reject(
            "Transfer-Encoding folded onto the previous line (tab)",
            format!(
                "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nX-Pad: a\r\n\t\
                 Transfer-Encoding: chunked\r\n\r\n{hidden}"
            ),
        ),
        Attack::reject(
            "Transfer-Encoding value continued on a folded line",
            format!(
                "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\
                 Transfer-Encoding: identity\r\n ,chunked\r\n\r\n{hidden}"
            ),
        ),
        Attack::reject(
            "Content-Length value continued on a folded line",
            format!(
                "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n {}\r\n\r\n{body}",
                body.len()
            ),
        ),
    ])
    .await;
}

#[tokio::test]
async fn bare_lf_and_bare_cr_never_split_a_request() {
    let hidden = chunked(SMUGGLED);
    run_attacks(&[
        // httparse accepts LF as a line end; what matters is that the request is one.
        Attack::reject_or_one(
            "bare LF line ends throughout",
            "PUT /a HTTP/1.1\nHost: x\nContent-Length: 4\n\nabcd".to_owned(),
            "abcd",
        ),
        Attack::reject_or_one(
            "bare LF request line only",
            "PUT /a HTTP/1.1\nHost: x\r\nContent-Length: 4\r\n\r\nabcd".to_owned(),
            "abcd",
        ),
        Attack::reject_or_one(
            "a bare LF starts a Transfer-Encoding line inside another field",
            format!(
                "PUT /a HTTP/1.1\r\nHost: x\r\nX-A: 1\nTransfer-Encoding: chunked\r\n\
                 Content-Length: 4\r\n\r\n{hidden}"
            ),
            SMUGGLED,
        ),
        Attack::reject(
            "a bare CR starts a Transfer-Encoding line inside another field",
            format!(
                "PUT /a HTTP/1.1\r\nHost: x\r\nX-A: 1\rTransfer-Encoding: chunked\r\n\
                 Content-Length: 4\r\n\r\n{hidden}"
            ),
        ),
        Attack::reject(
            "a bare CR ends the request line",
            "PUT /a HTTP/1.1\rHost: x\r\nContent-Length: 4\r\n\r\nabcd".to_owned(),
        ),
    ])
    .await;
}

/// Broken chunk framing is found while the body streams, after the head was forwarded: the
/// upstream sees one request whose body broke off, never a second one.
#[tokio::test]
async fn broken_chunk_framing_never_becomes_a_second_request() {
    let cases = [
        (
            "chunk size overflowing 64 bits",
            format!("ffffffffffffffffff1\r\n{SMUGGLED}\r\n0\r\n\r\n"),
        ),
        (
            "chunk shorter than its size line",
            format!("ff\r\n{SMUGGLED}\r\n0\r\n\r\n"),
        ),
        (
            "chunk size with a bare-LF extension",
            format!("2;\nxx\r\n0\r\n\r\n{SMUGGLED}"),
        ),
        (
            "negative chunk size",
            format!("-1\r\n{SMUGGLED}\r\n0\r\n\r\n"),
        ),
    ];
    for (name, body) in cases {
        let upstream = echo_upstream().await;
        let proxy = Proxy::start_with(&upstream.url(), "upstream: {idle_timeout: 1s}").await;
        let head = "PUT /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut conn = RawConn::connect(proxy.addr()).await;
        conn.send(format!("{head}{body}").as_bytes()).await;
        let mut statuses = Vec::new();
        while !conn.closed_by_peer().await {
            statuses.push(conn.read_response(false).await.status);
            if statuses.len() > 1 {
                break;
            }
        }
        drop(conn);
        // Anything the upstream got arrived before the proxy answered the client.
        let canary = raw_request(proxy.addr(), CANARY).await;
        assert_eq!(canary.body, b"GET /canary", "{name}");
        let seen: Vec<String> = upstream
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.uri.path()))
            .collect();
        println!("{name:<60} -> {statuses:?}, upstream saw {seen:?}");
        assert!(
            !seen.iter().any(|l| l.contains("/admin")),
            "{name}: smuggled: {seen:?}"
        );
        assert!(
            seen.iter().filter(|l| *l == "PUT /a").count() <= 1,
            "{name}: {seen:?}"
        );
        assert!(
            statuses.len() <= 1,
            "{name}: one answer at most: {statuses:?}"
        );
        if let Some(&status) = statuses.first() {
            // 400: the framing error was found; 408: the body waits for bytes that never
            // come; 200: the upstream answered before the body broke.
            assert!([400, 408, 200].contains(&status), "{name}: status {status}");
        }
    }
}
