//! The `#fragment` of an HTTP/1 request target, which hyper drops before davaudit sees the
//! request.
//!
//! RFC 9112 §3.2 allows no fragment in a request target (origin-form is `absolute-path
//! [ "?" query ]`), but a raw client can send one, and servers read it differently: lighttpd,
//! WsgiDAV and Radicale take `DELETE /coll/#frag` as a request for a member named `#frag`.
//! hyper (through the `http` crate's `Uri`) keeps the target up to the `#` and gives the
//! handler `/coll/`: forwarded as it stands, the request would delete the collection. The
//! request's meaning would change silently, so the proxy refuses it (400) instead.
//!
//! The handler cannot see a fragment that hyper dropped, so [`Watch`] reads the connection's
//! bytes on their way to hyper: at each line end it looks back for `token SP target SP
//! HTTP/1.x` with a `#` in the target, and records the request it will become (method and
//! target as hyper parses it) in the connection's [`Fragments`]. The listener marks a request
//! that matches a record ([`Fragments::mark`], one atomic load when there is none) and the
//! proxy refuses it.
//!
//! The look-back needs no HTTP framing, so a body line shaped like a request line with a
//! fragment is recorded too: it changes nothing unless a later request on the same
//! connection has the same method and target. h2 connections (their preface seen) are not
//! read: an h2 `:path` is not text on the wire, and the h2 crate drops a fragment there the
//! same way (RFC 9113 §8.3.1 allows none either).
//!
//! Never forgotten while it may still be needed: a record pushed out by [`MAX_KEPT`] newer
//! ones (lines read in the same head or body, before hyper parsed the request) leaves its
//! target in a small fixed-size filter of the connection, and a later request with that
//! target is refused too (a false match refuses, never forwards). And the request a record
//! marks is not necessarily the one whose line it was: pipelined, `DELETE /coll/` sent
//! before `DELETE /coll/#member` matches the later line's record first. The proxy therefore
//! closes the connection with the 400 (`Connection: close`): what was pipelined behind it
//! is never read, so a record can never be used up by the wrong request and let its own go.
//!
//! Bounds: per connection, at most `window` bytes of one unfinished line (the listener
//! passes the largest request head it accepts), [`MAX_KEPT`] records and, once one was
//! pushed out, a filter of [`FILTER_BITS`] bits.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use http::{Request, Uri, Version};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Records kept per connection; the oldest goes first (into the filter).
pub(crate) const MAX_KEPT: usize = 8;

/// Bits of the filter that keeps the targets of records pushed out (two per target).
pub(crate) const FILTER_BITS: usize = 4096;

/// The first bytes of an h2 connection (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// The request-target fragments one connection's bytes showed.
#[derive(Debug, Default)]
pub(crate) struct Fragments {
    /// Records kept, plus one once the filter exists: 0 means nothing to look for, read
    /// without the lock.
    count: AtomicUsize,
    seen: Mutex<Records>,
}

#[derive(Debug, Default)]
struct Records {
    kept: VecDeque<Seen>,
    /// The targets of records pushed out of `kept`, from the first one on.
    pushed_out: Option<Box<Filter>>,
}

impl Records {
    fn count(&self) -> usize {
        self.kept.len() + usize::from(self.pushed_out.is_some())
    }
}

/// A Bloom filter of targets (their path and query, whatever the method): it may say yes
/// for a target never added (a refusal too many), never no for one added.
struct Filter {
    bits: [u64; FILTER_BITS / 64],
    hasher: std::hash::RandomState,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter").finish_non_exhaustive()
    }
}

impl Filter {
    fn new() -> Self {
        Filter {
            bits: [0; FILTER_BITS / 64],
            hasher: std::hash::RandomState::new(),
        }
    }

    /// The two bits of `uri`.
    fn bits(&self, uri: &Uri) -> [usize; 2] {
        use std::hash::BuildHasher as _;
        let key = uri
            .path_and_query()
            .map_or_else(|| uri.to_string(), |p| p.as_str().to_owned());
        let hash = self.hasher.hash_one(key.as_bytes());
        // Truncation intended: two indexes from one 64-bit hash.
        #[allow(clippy::cast_possible_truncation)]
        let (a, b) = (hash as usize, (hash >> 32) as usize);
        [a % FILTER_BITS, b % FILTER_BITS]
    }

    fn add(&mut self, uri: &Uri) {
        for bit in self.bits(uri) {
            if let Some(word) = self.bits.get_mut(bit / 64) {
                *word |= 1 << (bit % 64);
            }
        }
    }

    fn may_hold(&self, uri: &Uri) -> bool {
        self.bits(uri).iter().all(|&bit| {
            self.bits
                .get(bit / 64)
                .is_some_and(|w| w & (1 << (bit % 64)) != 0)
        })
    }
}

/// One request line with a fragment: the token run before the target (a method, maybe after
/// bytes of a body that did not end in a line break) and the target as hyper parses it.
#[derive(Debug)]
struct Seen {
    method: Box<[u8]>,
    uri: Uri,
}

/// Put in a request's extensions by [`Fragments::mark`]: its target had a `#fragment`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dropped;

impl Fragments {
    /// Marks `request` with [`Dropped`] when its target is one recorded with a fragment
    /// (and forgets the record). HTTP/1 requests only.
    pub(crate) fn mark<B>(&self, request: &mut Request<B>) {
        if self.count.load(Ordering::Acquire) == 0
            || !matches!(request.version(), Version::HTTP_10 | Version::HTTP_11)
        {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let method = request.method().as_str().as_bytes();
        let found = seen
            .kept
            .iter()
            .position(|s| s.method.ends_with(method) && s.uri == *request.uri());
        if let Some(i) = found {
            seen.kept.remove(i);
            self.count.store(seen.count(), Ordering::Release);
            request.extensions_mut().insert(Dropped);
        } else if seen
            .pushed_out
            .as_ref()
            .is_some_and(|f| f.may_hold(request.uri()))
        {
            request.extensions_mut().insert(Dropped);
        }
    }

    fn record(&self, method: &[u8], target: &[u8]) {
        // The same parse hyper makes, so the record equals the request's `Uri`.
        let Ok(uri) = Uri::try_from(target) else {
            return; // hyper refuses it (400) on its own
        };
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.kept.len() >= MAX_KEPT
            && let Some(oldest) = seen.kept.pop_front()
        {
            // Its request may not be parsed yet: its target stays in the filter.
            seen.pushed_out
                .get_or_insert_with(|| Box::new(Filter::new()))
                .add(&oldest.uri);
        }
        seen.kept.push_back(Seen {
            method: method.into(),
            uri,
        });
        self.count.store(seen.count(), Ordering::Release);
    }
}

/// Whether `request` carried a fragment hyper dropped (see [`Fragments::mark`]).
pub(crate) fn dropped<B>(request: &Request<B>) -> bool {
    request.extensions().get::<Dropped>().is_some()
}

/// A connection's I/O, read through on its way to hyper; writes pass untouched.
#[derive(Debug)]
pub(crate) struct Watch<IO> {
    io: IO,
    fragments: Arc<Fragments>,
    /// The end of the current line from earlier reads (its last `window` bytes).
    carry: Vec<u8>,
    window: usize,
    /// Nothing read yet.
    first: bool,
    /// An h2 connection: nothing to look for.
    off: bool,
}

impl<IO> Watch<IO> {
    /// Watches `io`; a request line longer than `window` bytes is not looked at (hyper
    /// refuses a head that long anyway).
    pub(crate) fn new(io: IO, fragments: Arc<Fragments>, window: usize) -> Self {
        Watch {
            io,
            fragments,
            carry: Vec::new(),
            window,
            first: true,
            off: false,
        }
    }

    fn scan(&mut self, data: &[u8]) {
        if std::mem::take(&mut self.first) && data.starts_with(H2_PREFACE) {
            self.off = true;
        }
        if self.off || data.is_empty() {
            return;
        }
        let start = if memchr::memchr(b'#', data).is_none()
            && memchr::memchr(b'#', &self.carry).is_none()
        {
            // No line ending in these bytes holds a `#` (nearly every read): none is looked
            // at, only the unfinished line after the last line break is kept.
            match memchr::memrchr(b'\n', data) {
                Some(end) => {
                    self.carry.clear();
                    end + 1
                }
                None => 0,
            }
        } else {
            self.scan_lines(data)
        };
        let rest = &data[start..];
        if start > 0 && self.carry.capacity() > 4096 {
            // A long line ended: do not keep its buffer for the connection's life.
            self.carry = Vec::new();
        }
        if rest.len() >= self.window {
            self.carry.clear();
            self.carry
                .extend_from_slice(&rest[rest.len() - self.window..]);
        } else {
            let over = (self.carry.len() + rest.len()).saturating_sub(self.window);
            self.carry.drain(..over);
            self.carry.extend_from_slice(rest);
        }
    }

    /// Each line ending in `data`, with the unfinished one before it, to `line_end`;
    /// returns where the bytes after the last line break start (0: none).
    fn scan_lines(&mut self, data: &[u8]) -> usize {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', data) {
            let line = &data[start..end];
            if self.carry.is_empty() {
                self.line_end(line);
            } else {
                let mut whole = std::mem::take(&mut self.carry);
                whole.extend_from_slice(line);
                self.line_end(&whole);
                whole.clear();
                self.carry = whole;
            }
            start = end + 1;
        }
        start
    }

    /// One line (without its `\n`): a request line with a fragment is recorded.
    fn line_end(&self, line: &[u8]) {
        if let Some((method, target)) = request_line_with_fragment(line) {
            self.fragments.record(method, target);
        }
    }
}

/// `(method, target)` when `line` ends in `token SP target SP HTTP/1.x [CR]` and the target
/// has a `#`. The method is the longest token run before the target (it may start with
/// bytes of a body that did not end with a line break).
fn request_line_with_fragment(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (rest, version) = line.split_at_checked(line.len().checked_sub(9)?)?;
    if !(version.starts_with(b" HTTP/1.") && version[8].is_ascii_digit()) {
        return None;
    }
    let space = memchr::memrchr(b' ', rest)?;
    let (before, target) = (&rest[..space], &rest[space + 1..]);
    if target.is_empty()
        || memchr::memchr(b'#', target).is_none()
        || !target.iter().all(|&b| b > b' ' && b != 0x7f)
    {
        return None;
    }
    let from = before
        .iter()
        .rposition(|&b| !is_token(b))
        .map_or(0, |i| i + 1);
    let method = &before[from..];
    (!method.is_empty()).then_some((method, target))
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watch<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if !this.off {
            let data = &buf.filled()[before..];
            this.scan(data);
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watch<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` to a watch and returns what it recorded, as (method, uri) strings.
    fn watched(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let fragments = Arc::new(Fragments::default());
        let mut watch = Watch::new((), fragments.clone(), 64 << 10);
        for chunk in chunks {
            watch.scan(chunk);
        }
        let seen = fragments.seen.lock().unwrap();
        seen.kept
            .iter()
            .map(|s| {
                (
                    String::from_utf8_lossy(&s.method).into_owned(),
                    s.uri.to_string(),
                )
            })
            .collect()
    }

    fn request(method: &str, target: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .uri(target)
            .body(())
            .unwrap()
    }

    #[test]
    fn a_fragment_is_recorded_as_hyper_parses_the_target() {
        let head = b"DELETE /coll/#frag HTTP/1.1\r\nHost: t\r\n\r\n";
        assert_eq!(watched(&[head]), [("DELETE".into(), "/coll/".into())]);
        let query = b"GET /a?b=c#d HTTP/1.0\n\n";
        assert_eq!(watched(&[query]), [("GET".into(), "/a?b=c".into())]);
    }

    #[test]
    fn targets_without_a_fragment_and_other_lines_are_not_recorded() {
        for line in [
            &b"DELETE /coll/ HTTP/1.1\r\n"[..],
            b"DELETE /coll/%23frag HTTP/1.1\r\n",
            b"X-Note: /a#b HTTP/1.1x\r\n",
            b"GET /a#b HTTP/2.0\r\n",
            b"GET /a#b\tx HTTP/1.1\r\n",
            b" /a#b HTTP/1.1\r\n",
            b"GET /a#b HTTP/1.1 trailing\r\n",
        ] {
            assert_eq!(watched(&[line]), [], "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn a_request_line_split_anywhere_is_recorded_once() {
        let head = b"PUT /x HTTP/1.1\r\nContent-Length: 0\r\n\r\nMOVE /d/#f?x HTTP/1.1\r\n\r\n";
        for cut in 0..head.len() {
            for cut2 in cut..head.len() {
                let got = watched(&[&head[..cut], &head[cut..cut2], &head[cut2..]]);
                assert_eq!(got, [("MOVE".into(), "/d/".into())], "cuts {cut} {cut2}");
            }
        }
    }

    #[test]
    fn a_body_without_a_final_line_break_does_not_hide_the_next_request_line() {
        let got = watched(&[b"\x00\x01abc", b"DELETE /coll/#x HTTP/1.1\r\n"]);
        assert_eq!(got, [("abcDELETE".into(), "/coll/".into())]);
        let fragments = Fragments::default();
        fragments.record(b"abcDELETE", b"/coll/#x");
        let mut delete = request("DELETE", "/coll/");
        fragments.mark(&mut delete);
        assert!(dropped(&delete), "the method is the run's end");
    }

    #[test]
    fn an_h2_connection_is_not_read() {
        let mut bytes = H2_PREFACE.to_vec();
        bytes.extend_from_slice(b"\r\nSM\r\n\r\nGET /a#b HTTP/1.1\r\n");
        assert_eq!(watched(&[&bytes]), []);
    }

    #[test]
    fn only_the_matching_request_is_marked_and_the_record_is_used_once() {
        let fragments = Fragments::default();
        fragments.record(b"DELETE", b"/coll/#frag");
        let mut other_method = request("GET", "/coll/");
        let mut other_path = request("DELETE", "/coll/a");
        fragments.mark(&mut other_method);
        fragments.mark(&mut other_path);
        assert!(!dropped(&other_method) && !dropped(&other_path));
        let mut delete = request("DELETE", "/coll/");
        fragments.mark(&mut delete);
        assert!(dropped(&delete));
        let mut again = request("DELETE", "/coll/");
        fragments.mark(&mut again);
        assert!(!dropped(&again), "one record marks one request");
    }

    #[test]
    fn records_and_the_unfinished_line_are_bounded() {
        let fragments = Arc::new(Fragments::default());
        let mut watch = Watch::new((), fragments.clone(), 100);
        for i in 0..3 * MAX_KEPT {
            watch.scan(format!("GET /{i}#f HTTP/1.1\r\n").as_bytes());
        }
        assert_eq!(fragments.seen.lock().unwrap().kept.len(), MAX_KEPT);
        watch.scan(&[b'a'; 10_000]);
        assert!(watch.carry.len() <= 100);
        // The window keeps the line's end: a request line after long junk is still seen.
        watch.scan(b" GET /late#f HTTP/1.1\r\n");
        let last = fragments
            .seen
            .lock()
            .unwrap()
            .kept
            .back()
            .unwrap()
            .uri
            .to_string();
        assert_eq!(last, "/late");
    }

    #[test]
    fn a_record_pushed_out_still_marks_its_request_and_nothing_else() {
        let fragments = Arc::new(Fragments::default());
        let mut watch = Watch::new((), fragments.clone(), 8192);
        watch.scan(b"DELETE /coll/#member HTTP/1.1\r\n");
        for i in 0..=MAX_KEPT {
            watch.scan(format!("X-Pad: GET /pad{i}#f HTTP/1.1\r\n").as_bytes());
        }
        let mut delete = request("DELETE", "/coll/");
        fragments.mark(&mut delete);
        assert!(dropped(&delete), "pushed out, not forgotten");
    }
}
