//! The connection workers (`src/workers.rs`) attacked: one current-thread runtime per core,
//! a connection and its audit on one thread, so work that holds the thread holds every
//! connection placed there.

use std::io::Write;

use crate::support::*;

fn gzip(plain: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(plain).expect("gzip");
    e.finish().expect("gzip")
}

/// A 207 coded `gzip, gzip` of under 1 MiB that decodes to 4 GiB of valid entries: inside,
/// one gzip member per MiB of entries (gzip allows any number of members), the same member
/// over and over, so the outer gzip packs it ~40:1 again (~4,500:1 in all).
fn bomb() -> Vec<u8> {
    let entry = b"<D:response><D:href>/x</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>";
    let mib: Vec<u8> = entry.repeat((1 << 20) / entry.len());
    let member = gzip(&mib);
    let mut inner = gzip(b"<?xml version=\"1.0\"?><D:multistatus xmlns:D=\"DAV:\">");
    for _ in 0..4096 {
        inner.extend_from_slice(&member);
    }
    gzip(&inner)
}

/// A decompression bomb held the worker its connection was placed on: the audit decoded and
/// scanned the whole body in one go (the decoder hands the scanner everything a chunk
/// decodes to), so no other connection on that worker got an answer until it was done
/// (minutes). The audit now stops a body that decodes to more than 1024 bytes per coded
/// byte (outcome `malformed`: never clean), and lets the worker turn between slices.
#[tokio::test]
async fn a_decompression_bomb_neither_holds_its_worker_nor_is_called_clean() {
    let bomb = bomb();
    assert!(bomb.len() < 1 << 20, "under 1 MiB: {}", bomb.len());
    let upstream = FakeUpstream::start(move |r| match r.uri.path() {
        "/bomb" => Reply::multistatus(bomb.clone()).header("content-encoding", "gzip, gzip"),
        _ => Reply::ok("ok"),
    })
    .await;
    // One worker: every connection shares the bomb's thread.
    let proxy = Proxy::start_on_workers(&upstream.url(), "", 1).await;
    let before = proxy.metrics().await;
    let (status, _, body) = send("PROPFIND", &proxy.url_for("/bomb"), &[], "").await;
    assert_eq!((status.as_u16(), body.len()), (207, body.len()));
    // Another connection, same worker: answered (a hang fails after the fixtures' bound).
    let (status, _, body) = send("GET", &proxy.url_for("/ok"), &[], "").await;
    assert_eq!((status.as_u16(), &body[..]), (200, &b"ok"[..]));
    let after = proxy.audited(&before, &[("method", "PROPFIND")], 1).await;
    assert_eq!(
        after.delta(
            &before,
            "davaudit_multistatus_total",
            &[("outcome", "malformed")]
        ),
        1.0,
        "the bomb is not called clean"
    );
    proxy.stop().await;
}

/// Writes are gathered (`listener::coalesce`: the frames ready in one turn, up to 1 MiB, go
/// out as one): an upstream body that breaks after some frames must still reach the client
/// broken (the error goes out after the gathered frames, never dropped for a clean end),
/// whatever the framing and the frame size, and an intact one whole.
#[tokio::test]
async fn a_body_broken_mid_way_reaches_the_client_broken_through_gathered_writes() {
    let body: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let cut = 150_000;
    let reply = body.clone();
    let upstream = FakeUpstream::start(move |r| {
        let path = r.uri.path().to_owned();
        let frame = if path.contains("tiny") { 7 } else { 16 * 1024 };
        let mut answer = Reply::ok(reply.clone()).framed(frame);
        if path.contains("length") {
            answer = answer.content_length();
        }
        if path.contains("broken") {
            answer = answer.reset_after(cut);
        }
        answer
    })
    .await;
    let proxy = Proxy::start_on_workers(&upstream.url(), "", 2).await;
    for path in [
        "/broken/tiny",
        "/broken/large",
        "/broken/tiny/length",
        "/broken/large/length",
        "/whole/tiny",
        "/whole/large/length",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let response = raw_request(proxy.addr(), request.as_bytes()).await;
        assert_eq!(response.status, 200, "{path}");
        assert!(body.starts_with(&response.body), "{path}: a prefix");
        if path.starts_with("/broken") {
            assert!(!response.complete, "{path}: the client must see the break");
            assert!(response.body.len() <= cut as usize, "{path}");
        } else {
            assert!(response.complete, "{path}");
            assert_eq!(response.body.len(), body.len(), "{path}");
        }
    }
}
