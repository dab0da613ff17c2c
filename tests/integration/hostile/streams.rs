//! HTTP/2 multiplies upstream work (issue 18, item 2): each client connection may carry many
//! streams, each an upstream request. Streams per connection are bounded
//! (`limits.max_streams_per_connection`, advertised; extra ones refused), requests in flight
//! upstream are bounded over all connections (`limits.max_upstream_requests`: 503, counted
//! in `davaudit_upstream_busy_total`), and the h2 header list limit follows
//! `limits.max_header_bytes` as the HTTP/1.1 head limit does.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::support::h2raw::{
    CONTINUATION, END_HEADERS, END_STREAM, H2Conn, HEADERS, MAX_CONCURRENT_STREAMS,
    MAX_HEADER_LIST_SIZE, RST_STREAM, SETTINGS, get_block,
};
use crate::support::upstream::read_head;
use crate::support::*;

/// Reads each request head, counts it, then never answers (the socket stays open until the
/// test ends): every request sent to it stays in flight.
async fn black_hole() -> (RawUpstream, Arc<AtomicUsize>) {
    let heads = Arc::new(AtomicUsize::new(0));
    let seen = heads.clone();
    let upstream = RawUpstream::start(move |mut s| {
        let seen = seen.clone();
        async move {
            if !read_head(&mut s).await.is_empty() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            std::future::pending::<()>().await;
        }
    })
    .await;
    (upstream, heads)
}

#[tokio::test]
async fn the_h2_settings_carry_the_configured_stream_and_header_limits() {
    let upstream = FakeUpstream::always(Reply::ok("ok")).await;
    let proxy = Proxy::start_with(
        &upstream.url(),
        "limits: {max_streams_per_connection: 4, max_header_bytes: 20KiB}",
    )
    .await;
    let mut h2 = H2Conn::connect(proxy.addr()).await;
    let settings = h2.server_settings().await.settings();
    println!("{settings:?}");
    assert!(
        settings.contains(&(MAX_CONCURRENT_STREAMS, 4)),
        "{settings:?}"
    );
    assert!(
        settings.contains(&(MAX_HEADER_LIST_SIZE, 20 * 1024)),
        "{settings:?}"
    );
}

/// A client that ignores the advertised limit gets the extra streams refused; none of them
/// reaches the upstream.
#[tokio::test]
async fn streams_beyond_the_limit_are_refused() {
    let (upstream, heads) = black_hole().await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {max_streams_per_connection: 4}").await;
    let mut h2 = H2Conn::connect(proxy.addr()).await;
    h2.server_settings().await;
    let ids: Vec<u32> = (0..8).map(|i| 1 + 2 * i).collect();
    for id in &ids {
        h2.get(*id, &format!("/s{id}")).await;
    }
    let mut refused = 0;
    while refused < 4 {
        let frame = h2.next_frame().await.expect("RST_STREAM before EOF");
        if frame.kind == RST_STREAM {
            println!("{frame:?}");
            assert_eq!(frame.error_code(), Some(0x7), "REFUSED_STREAM");
            refused += 1;
        }
    }
    wait_until("4 requests at the upstream", || async {
        (heads.load(Ordering::SeqCst) >= 4).then_some(())
    })
    .await;
    assert_eq!(heads.load(Ordering::SeqCst), 4);
}

/// The attack: a few h2 connections, many streams each, against an upstream that never
/// answers. Upstream requests in flight stay at the limit; the rest get 503 at once.
#[tokio::test]
async fn upstream_requests_in_flight_are_bounded_over_all_connections() {
    const LIMIT: usize = 3;
    const CONNECTIONS: usize = 2;
    const STREAMS: usize = 4;
    let (upstream, heads) = black_hole().await;
    let proxy = Proxy::start_with(
        &upstream.url(),
        &format!("limits: {{max_upstream_requests: {LIMIT}}}"),
    )
    .await;
    let mut senders = Vec::new();
    for _ in 0..CONNECTIONS {
        let stream = TcpStream::connect(proxy.addr()).await.unwrap();
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        senders.push(sender);
    }
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for (c, sender) in senders.iter().enumerate() {
        for s in 0..STREAMS {
            let mut sender = sender.clone();
            let done_tx = done_tx.clone();
            let uri = format!("http://127.0.0.1/c{c}s{s}");
            tasks.push(AbortOnDrop(tokio::spawn(async move {
                let request = http::Request::get(uri).body(Empty::<Bytes>::new()).unwrap();
                let result = sender.send_request(request).await;
                let _ = done_tx.send(result.map(|r| {
                    (
                        r.status().as_u16(),
                        r.headers()
                            .get("retry-after")
                            .map(|v| v.to_str().unwrap().to_owned()),
                    )
                }));
            })));
        }
    }
    // Everything beyond the limit is answered; what is within it hangs at the upstream.
    let refused = CONNECTIONS * STREAMS - LIMIT;
    for _ in 0..refused {
        let answer = within("a 503", done.recv()).await.unwrap();
        println!("{answer:?}");
        assert_eq!(answer.unwrap(), (503, Some("1".to_owned())));
    }
    wait_until("the admitted requests at the upstream", || async {
        (heads.load(Ordering::SeqCst) >= LIMIT).then_some(())
    })
    .await;
    assert_eq!(heads.load(Ordering::SeqCst), LIMIT);
    let metrics = proxy.metrics().await;
    assert_eq!(
        metrics.get("davaudit_upstream_busy_total", &[]),
        refused as f64
    );
    assert_eq!(
        metrics.get("davaudit_requests_total", &[("code", "503")]),
        refused as f64
    );
    drop(tasks);
}

/// Sends a GET of `path` with one `x-pad` header of `pad` bytes on stream `id`, the block
/// split into 8 KiB HEADERS + CONTINUATION frames (under the default frame size limit).
async fn get_with_pad(h2: &mut H2Conn, id: u32, path: &str, pad: usize) {
    let pad = vec![b'a'; pad];
    let block = get_block(path, &[("x-pad", &pad)]);
    let chunks: Vec<&[u8]> = block.chunks(8 * 1024).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let kind = if i == 0 { HEADERS } else { CONTINUATION };
        let mut flags = if i == 0 { END_STREAM } else { 0 };
        if i + 1 == chunks.len() {
            flags |= END_HEADERS;
        }
        h2.send_frame(kind, flags, id, chunk).await;
    }
}

/// The h2 header list limit is `limits.max_header_bytes`, as for HTTP/1.1 heads: a 24 KiB
/// list passes a 32 KiB limit (hyper's own h2 default would refuse it at 16 KiB), a 40 KiB
/// one is refused (431 or REFUSED_STREAM) and never forwarded.
#[tokio::test]
async fn the_h2_header_list_limit_is_max_header_bytes() {
    let upstream = FakeUpstream::always(Reply::ok("ok")).await;
    let proxy = Proxy::start_with(&upstream.url(), "limits: {max_header_bytes: 32KiB}").await;
    let mut h2 = H2Conn::connect(proxy.addr()).await;
    h2.server_settings().await;
    get_with_pad(&mut h2, 1, "/big", 40 * 1024).await;
    let answer = h2.wait_stream(1).await;
    println!("over: {answer:?}");
    get_with_pad(&mut h2, 3, "/fits", 24 * 1024).await;
    let answer = h2
        .wait_stream(3)
        .await
        .expect("an answer to the one that fits");
    println!("under: {answer:?}");
    assert_eq!(answer.status(), Some(200));
    let paths: Vec<String> = upstream
        .requests()
        .iter()
        .map(|r| r.uri.path().to_owned())
        .collect();
    assert_eq!(paths, ["/fits"]);
}

/// An h2 client that keeps reading its socket but grants a stream no flow-control window
/// (initial window 0, never a WINDOW_UPDATE): hyper stops pulling the response body while the
/// stream has no capacity, so the body's idle timer (which runs only when the body is polled)
/// never fired, and the socket stays writable, so the HTTP/1 write-stall guard cannot see it.
/// The exchange (its upstream connection and its `limits.max_upstream_requests` slot) was held
/// for as long as the client kept the connection open. Now no body progress for
/// `upstream.idle_timeout` gives the slot back, and the stream is reset.
///
/// The operator sees it as the HTTP/1 client that stops reading: at once (not when the
/// client finally grants window or leaves), the access line says `end=client_gone` and
/// the audit of the 207 it starved is counted `truncated`.
#[tokio::test]
async fn an_h2_client_that_grants_no_window_gives_its_exchange_back_after_the_idle_timeout() {
    const INITIAL_WINDOW_SIZE: u16 = 0x4;
    const WINDOW_UPDATE: u8 = 0x8;
    let logs = LogCapture::start();
    let upstream = FakeUpstream::start(|r| match r.uri.path() {
        "/big" => Reply::generated_multistatus(GeneratedMultistatus::with_size(1 << 30)),
        _ => Reply::ok("ok"),
    })
    .await;
    let proxy = Proxy::start_with(
        &upstream.url(),
        "upstream: {idle_timeout: 1s}\nlimits: {max_upstream_requests: 1}\nlog: {access: true}",
    )
    .await;
    let mut stalled = H2Conn::connect(proxy.addr()).await;
    let mut zero_window = INITIAL_WINDOW_SIZE.to_be_bytes().to_vec();
    zero_window.extend_from_slice(&0u32.to_be_bytes());
    stalled.send_frame(SETTINGS, 0, 0, &zero_window).await;
    let block = get_block("/big", &[("x-request-id", b"starved-1")]);
    stalled
        .send_frame(HEADERS, END_STREAM | END_HEADERS, 1, &block)
        .await;
    upstream.wait_requests(1).await;
    // No keep-alive PINGs are sent to h2 clients: this one need not read meanwhile.
    // 503 while the stalled exchange holds the only slot; 200 once it gave it back.
    wait_until(
        "the window-starved h2 exchange gave its upstream slot back",
        || async {
            let (status, _, _) = send("GET", &proxy.url_for("/small"), &[], "").await;
            (status.as_u16() == 200).then_some(())
        },
    )
    .await;
    // Seen while the client still withholds window, as an HTTP/1 client that stops reading
    // is: the client's leg ended the exchange, the audit could not finish.
    let line = logs
        .wait_for("access line of starved-1", |e| {
            e.target() == "davaudit::access"
                && e.field("request_id").and_then(|v| v.as_str()) == Some("starved-1")
        })
        .await;
    assert_eq!(
        line.field("end").and_then(|v| v.as_str()),
        Some("client_gone"),
        "{line:?}"
    );
    assert_eq!(
        line.field("audit").and_then(|v| v.as_str()),
        Some("truncated"),
        "{line:?}"
    );
    let metrics = proxy
        .audited(&Metrics::default(), &[("outcome", "truncated")], 1)
        .await;
    assert_eq!(
        metrics.get(
            "davaudit_multistatus_total",
            &[("method", "GET"), ("outcome", "truncated")]
        ),
        1.0
    );
    // Not the upstream's fault.
    assert_eq!(
        metrics.get("davaudit_upstream_errors_total", &[("kind", "timeout")]),
        0.0
    );
    // Once the client grants a window, hyper pulls the body again: the stream is reset,
    // never completed as if the body had ended.
    stalled
        .send_frame(WINDOW_UPDATE, 0, 1, &65_535u32.to_be_bytes())
        .await;
    let ended = stalled
        .wait_stream(1)
        .await
        .expect("the connection outlives the starved stream");
    assert_eq!(
        ended.kind, RST_STREAM,
        "the starved stream is reset, not completed"
    );
    let lines = logs.find(|e| {
        e.target() == "davaudit::access"
            && e.field("request_id").and_then(|v| v.as_str()) == Some("starved-1")
    });
    assert_eq!(lines.len(), 1, "one access line per exchange: {lines:?}");
}
