//! davaudit's own upstream pool (`src/upstream/pool.rs`) against a hostile upstream: bytes
//! it sends unasked on a pooled connection, `Connection: close` answers on a socket it keeps
//! open, answers sent before the request body, and the bound on upstream sockets.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::support::upstream::read_head;
use crate::support::*;

/// `HTTP/1.1 200` naming the request line's target, keep-alive.
fn echo(head: &[u8]) -> Vec<u8> {
    let line = String::from_utf8_lossy(head);
    let target = line.split(' ').nth(1).unwrap_or("?").to_owned();
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{target}",
        target.len()
    )
    .into_bytes()
}

const UNASKED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!";

/// A response the upstream sends that no request asked for (behind a real answer in the same
/// write, or on its own once the connection sat idle in the pool) must never be taken as the
/// answer to the next request sent on that connection: that request's client would get
/// another's bytes. Each later answer is its own target or, the connection being dropped
/// as broken, a fresh connection's.
#[tokio::test]
async fn a_response_the_upstream_sends_unasked_never_answers_a_later_request() {
    for separate in [false, true] {
        let sent = Arc::new(Notify::new());
        let signal = sent.clone();
        let upstream = RawUpstream::start(move |mut s: TcpStream| {
            let signal = signal.clone();
            async move {
                let mut first = true;
                loop {
                    let head = read_head(&mut s).await;
                    if head.is_empty() {
                        return;
                    }
                    let mut answer = echo(&head);
                    if first && !separate {
                        answer.extend_from_slice(UNASKED);
                    }
                    if s.write_all(&answer).await.is_err() {
                        return;
                    }
                    if first && separate {
                        let _ = s.write_all(UNASKED).await;
                        signal.notify_one();
                    }
                    first = false;
                }
            }
        })
        .await;
        let proxy = Proxy::start(&upstream.url()).await;
        let client = HttpClient::http1();
        for n in 0..6 {
            let path = format!("/r{n}");
            let (status, _, body) = client.send("GET", &proxy.url_for(&path), &[], "").await;
            if n == 0 && separate {
                within("the unasked bytes sent", sent.notified()).await;
            }
            assert_eq!(
                (status.as_u16(), String::from_utf8_lossy(&body).into_owned()),
                (200, path.clone()),
                "separate write: {separate}"
            );
        }
    }
}

/// An upstream that answers `Connection: close` but keeps its socket open: davaudit must
/// neither send another request on it nor leave it open (one socket per request, each
/// closed by davaudit).
#[tokio::test]
async fn a_connection_close_answer_is_never_reused_and_davaudit_closes_it() {
    let closed = Arc::new(AtomicUsize::new(0));
    let reused = Arc::new(AtomicUsize::new(0));
    let (c, r) = (closed.clone(), reused.clone());
    let upstream = RawUpstream::start(move |mut s: TcpStream| {
        let (closed, reused) = (c.clone(), r.clone());
        async move {
            let head = read_head(&mut s).await;
            if head.is_empty() {
                return; // the readiness probe's connection
            }
            let mut answer = echo(&head);
            answer.splice(17..17, b"Connection: close\r\n".iter().copied());
            let _ = s.write_all(&answer).await;
            // Not closed here: whatever comes next is davaudit's doing.
            if !read_head(&mut s).await.is_empty() {
                reused.fetch_add(1, Ordering::SeqCst);
            }
            closed.fetch_add(1, Ordering::SeqCst);
        }
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let client = HttpClient::http1();
    for n in 0..4 {
        let path = format!("/c{n}");
        let (status, _, body) = client.send("GET", &proxy.url_for(&path), &[], "").await;
        assert_eq!((status.as_u16(), &body[..]), (200, path.as_bytes()));
    }
    wait_until("davaudit closed every upstream socket", || async {
        (closed.load(Ordering::SeqCst) == 4).then_some(())
    })
    .await;
    assert_eq!(
        reused.load(Ordering::SeqCst),
        0,
        "a request on a closing connection"
    );
}

/// An upstream that answers an upload before reading its body (a 401 for a PUT, as servers
/// checking credentials do) and then reads no more: the upstream connection is still busy
/// sending the client's body after the answer ended. The request's slot
/// (`limits.max_upstream_requests`) went with the answer, so clients that keep their
/// uploads open held upstream sockets beyond the bound (`DESIGN.md` §2.8: upstream sockets
/// ≤ `max_upstream_requests` + the idle pool).
#[tokio::test]
async fn an_upload_answered_early_keeps_its_upstream_slot_until_its_connection_is_free() {
    const LIMIT: usize = 2;
    let used = Arc::new(AtomicUsize::new(0));
    let counter = used.clone();
    let upstream = RawUpstream::start(move |mut s: TcpStream| {
        let used = counter.clone();
        async move {
            if read_head(&mut s).await.is_empty() {
                return; // the readiness probe's connection
            }
            used.fetch_add(1, Ordering::SeqCst);
            let _ = s
                .write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
                .await;
            // Reads nothing more; holds the socket until the test ends.
            std::future::pending::<()>().await;
        }
    })
    .await;
    let proxy = Proxy::start_with(
        &upstream.url(),
        &format!("limits: {{max_upstream_requests: {LIMIT}}}"),
    )
    .await;
    let mut clients = Vec::new();
    let mut statuses = Vec::new();
    for n in 0..2 * LIMIT {
        let mut conn = RawConn::connect(proxy.addr()).await;
        let head = format!("PUT /up/{n} HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n");
        conn.send(head.as_bytes()).await;
        conn.send(&[b'x'; 4096]).await;
        statuses.push(conn.read_response(false).await.status);
        clients.push(conn); // the upload stays open
    }
    assert!(
        used.load(Ordering::SeqCst) <= LIMIT,
        "{} upstream connections busy for a limit of {LIMIT}; answers {statuses:?}",
        used.load(Ordering::SeqCst)
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        LIMIT,
        "{statuses:?}"
    );
}

/// Reads one request off `s` (`buf` keeps what was read beyond it): its line and its
/// `Content-Length` body's length; `None` at EOF.
async fn next_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, usize)> {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 16 * 1024];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end + 4);
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    Some((head.lines().next().unwrap_or_default().to_owned(), length))
}

/// An upstream that answers an upload before its body (401) and then reads the body: the
/// connection goes back to the pool only once the whole body went out, so the next request
/// on it starts after that body, never inside it (the upstream would read body bytes as a
/// request, or the request as body bytes).
#[tokio::test]
async fn an_early_answer_does_not_let_the_next_request_into_the_upload() {
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = lines.clone();
    let upstream = RawUpstream::start(move |mut s: TcpStream| {
        let log = log.clone();
        async move {
            use tokio::io::AsyncReadExt;
            let mut buf = Vec::new();
            while let Some((line, length)) = next_request(&mut s, &mut buf).await {
                log.lock().unwrap().push(line.clone());
                let answer: &[u8] = if line.starts_with("PUT ") {
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                };
                if s.write_all(answer).await.is_err() {
                    return;
                }
                let mut chunk = [0u8; 16 * 1024];
                while buf.len() < length {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                buf.drain(..length);
            }
        }
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let client = HttpClient::http1();
    for n in 0..3 {
        let (status, _, _) = client
            .send(
                "PUT",
                &proxy.url_for(&format!("/up/{n}")),
                &[],
                vec![b'x'; 256 << 10],
            )
            .await;
        assert_eq!(status.as_u16(), 401);
        let (status, _, body) = client.send("GET", &proxy.url_for("/next"), &[], "").await;
        assert_eq!((status.as_u16(), &body[..]), (200, &b"ok"[..]));
    }
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("PUT /up/") || l == "GET /next HTTP/1.1"),
        "{lines:?}"
    );
}
