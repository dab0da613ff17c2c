//! Header rewrites on both legs: hop-by-hop removal (RFC 9110 §7.6.1), `X-Forwarded-*` and
//! `Forwarded` (RFC 7239), `Host`, and the request id. Pure functions over a `HeaderMap`.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::telemetry::context::RequestId;

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1, plus the
/// non-standard `Proxy-Connection` and `Keep-Alive` that old clients still send).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "trailer",
];

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

fn is_hop_by_hop(name: &HeaderName) -> bool {
    *name == header::CONNECTION
        || *name == KEEP_ALIVE
        || *name == PROXY_CONNECTION
        || *name == header::TE
        || *name == header::TRANSFER_ENCODING
        || *name == header::UPGRADE
        || *name == header::PROXY_AUTHORIZATION
        || *name == header::PROXY_AUTHENTICATE
        || *name == header::TRAILER
}

/// Removes the hop-by-hop headers and every header the `Connection` header names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    // Bytes, not `to_str`: a value with one non-ASCII byte must still have its valid tokens
    // honoured, or the fields it names would be forwarded.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .filter_map(|token| HeaderName::from_bytes(token.trim_ascii()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// Prepares an upstream response's head for the client: RFC 9112 §6.3 says that when a
/// response carries both `Transfer-Encoding` and `Content-Length`, the transfer coding
/// frames the body (hyper's client reads it that way) and an intermediary removes the
/// received `Content-Length` before forwarding. Kept, a stale length would cut the client's
/// copy short while the audit read the whole body. Then the hop-by-hop fields go.
pub(crate) fn prepare_response(headers: &mut HeaderMap) {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        headers.remove(header::CONTENT_LENGTH);
    }
    remove_hop_by_hop(headers);
}

/// What the proxy knows about the downstream side of one request.
#[derive(Debug, Clone)]
pub struct Downstream<'a> {
    pub peer: SocketAddr,
    /// `http` or `https`: how the client reached davaudit.
    pub scheme: &'a str,
    /// The public authority the client used (Host header, or the HTTP/2 `:authority`).
    pub host: Option<&'a str>,
}

/// Appends the client to `X-Forwarded-For` and sets `X-Forwarded-Proto` / `X-Forwarded-Host`.
pub fn add_x_forwarded(headers: &mut HeaderMap, downstream: &Downstream<'_>) {
    add_x_forwarded_for(headers, downstream.peer.ip(), downstream.scheme);
    match downstream.host {
        Some(host) => insert_str(headers, X_FORWARDED_HOST, host),
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
}

/// `X-Forwarded-For` and `X-Forwarded-Proto` of [`add_x_forwarded`]; the proxy sets
/// `X-Forwarded-Host` itself with [`set_x_forwarded_host`], from the request's own value.
pub(crate) fn add_x_forwarded_for(headers: &mut HeaderMap, peer: IpAddr, scheme: &str) {
    let value = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(previous) if !previous.trim().is_empty() => {
            HeaderValue::from_str(&format!("{previous}, {peer}")).ok()
        }
        _ => peer_value(peer),
    };
    if let Some(value) = value {
        headers.insert(X_FORWARDED_FOR, value);
    }
    headers.insert(
        X_FORWARDED_PROTO,
        if scheme == "https" {
            HeaderValue::from_static("https")
        } else {
            HeaderValue::from_static("http")
        },
    );
}

/// Sets `X-Forwarded-Host` to the public host, or removes it when there is none: a client's
/// own claim about the public host is never passed on.
pub(crate) fn set_x_forwarded_host(headers: &mut HeaderMap, host: Option<HeaderValue>) {
    match host {
        Some(host) => {
            headers.insert(X_FORWARDED_HOST, host);
        }
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
}

/// Up to `N` bytes of text held inline: made into a `HeaderValue` with one allocation, whose
/// clones (the upstream map, the safe-resend copy, the context) share it.
struct Inline<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> AsRef<[u8]> for Inline<N> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl<const N: usize> Inline<N> {
    /// Appends `byte` (callers stay within `N`).
    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    fn value(self) -> Option<HeaderValue> {
        HeaderValue::from_maybe_shared(Bytes::from_owner(self)).ok()
    }
}

/// [`ip_value`] for the client's address, shared with the previous request from the same
/// address on this thread (a connection's requests all come from one peer, and a worker
/// thread serves its connections in turn): a reference count, not an allocation, per request.
/// One value per thread.
fn peer_value(ip: IpAddr) -> Option<HeaderValue> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(IpAddr, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((cached, value)) = last.as_ref()
            && *cached == ip
        {
            return Some(value.clone());
        }
        let value = ip_value(ip)?;
        *last = Some((ip, value.clone()));
        Some(value)
    })
}

/// An IP address as a header value, formatted without a `String` (at most 45 bytes: an
/// IPv4-mapped IPv6 address); an IPv4 address by hand (`core::fmt` costs ten times more, on
/// every request).
fn ip_value(ip: IpAddr) -> Option<HeaderValue> {
    let mut text = Inline {
        bytes: [0; 48],
        len: 0,
    };
    match ip {
        IpAddr::V4(ip) => {
            for (i, octet) in ip.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push(b'.');
                }
                if octet >= 100 {
                    text.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    text.push(b'0' + octet / 10 % 10);
                }
                text.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(_) => {
            let mut cursor = std::io::Cursor::new(&mut text.bytes[..]);
            write!(cursor, "{ip}").ok()?;
            text.len = usize::try_from(cursor.position()).ok()?;
        }
    }
    text.value()
}

/// Removes the client's `X-Forwarded-For`, `-Proto` and `-Host` (davaudit sets `Forwarded`
/// instead, and an upstream that reads these must not find the client's own claims).
pub(crate) fn remove_x_forwarded(headers: &mut HeaderMap) {
    headers.remove(X_FORWARDED_FOR);
    headers.remove(X_FORWARDED_PROTO);
    headers.remove(X_FORWARDED_HOST);
}

/// `host[:port]` of an authority: any user info (`user:pw@`) removed. User info cannot
/// contain an unescaped `@`, so everything up to the last one goes.
pub(crate) fn without_user_info(authority: &str) -> &str {
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

/// Appends one `Forwarded` element (RFC 7239): `for=...;host=...;proto=...`.
pub fn add_forwarded(headers: &mut HeaderMap, downstream: &Downstream<'_>) {
    let node = match downstream.peer.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("\"[{ip}]\""),
    };
    let mut element = format!("for={node}");
    if let Some(host) = downstream.host {
        element.push_str(";host=");
        element.push_str(&quote_if_needed(host));
    }
    element.push_str(";proto=");
    element.push_str(downstream.scheme);
    let value = match headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(previous) if !previous.trim().is_empty() => format!("{previous}, {element}"),
        _ => element,
    };
    insert_str(headers, header::FORWARDED, &value);
}

fn quote_if_needed(value: &str) -> String {
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        value.to_owned()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn insert_str(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// The request id: the client's, when it sent a sane one (visible ASCII, at most 200 bytes),
/// else a new one. It is set on the upstream request so both logs can be joined.
pub fn request_id(headers: &mut HeaderMap, name: &HeaderName) -> String {
    take_request_id(headers, name).to_string()
}

/// [`request_id`] without a copy: the id shares the header value's bytes (the client's, or
/// the one made here: one allocation per request, however often it is cloned).
pub(crate) fn take_request_id(headers: &mut HeaderMap, name: &HeaderName) -> RequestId {
    if let Some(id) = headers.get(name).filter(|v| {
        // `is_ascii_graphic` implies what `to_str` requires.
        !v.is_empty() && v.len() <= 200 && v.as_bytes().iter().all(u8::is_ascii_graphic)
    }) {
        return RequestId::new(id.clone());
    }
    let id = Inline {
        bytes: new_request_id(),
        len: 24,
    }
    .value()
    .unwrap_or_else(|| HeaderValue::from_static("000000000000000000000000"));
    headers.insert(name.clone(), id.clone());
    RequestId::new(id)
}

/// Returns the request id to the client (`forwarding.echo_request_id`) in `name`, unless the
/// upstream's response already carries that header: the upstream's own value is left as it is.
pub(crate) fn echo_request_id(headers: &mut HeaderMap, name: &HeaderName, id: &RequestId) {
    if !headers.contains_key(name) {
        headers.insert(name.clone(), id.value().clone());
    }
}

/// Unique within a process and unlikely to collide across replicas: a random per-process
/// prefix and a counter, 24 hex digits in all.
fn new_request_id() -> [u8; 24] {
    static PREFIX: LazyLock<u32> = LazyLock::new(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        hasher.write_u32(std::process::id());
        hasher.finish() as u32
    });
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut out = [0u8; 24];
    let (prefix, counter) = out.split_at_mut(8);
    hex(u64::from(*PREFIX), prefix);
    hex(n, counter);
    out
}

/// `value`'s low `out.len()` nibbles as lowercase hex digits, most significant first (u64
/// arithmetic: the u128 this replaced cost twice as much per digit).
fn hex(value: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut value = value;
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut headers = map(&[
            ("connection", "keep-alive, X-Secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic x"),
            ("depth", "1"),
            ("destination", "http://a/b"),
            ("overwrite", "F"),
            ("if", "(<urn:uuid:1>)"),
            ("lock-token", "<urn:uuid:1>"),
            ("timeout", "Second-60"),
        ]);
        remove_hop_by_hop(&mut headers);
        let mut names: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "depth",
                "destination",
                "if",
                "lock-token",
                "overwrite",
                "timeout"
            ]
        );
    }

    #[test]
    fn a_response_framed_by_chunks_loses_its_content_length() {
        let mut headers = map(&[
            ("content-length", "10"),
            ("transfer-encoding", "chunked"),
            ("content-type", "application/xml"),
        ]);
        prepare_response(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("content-type"));
        let mut headers = map(&[("content-length", "10")]);
        prepare_response(&mut headers);
        assert_eq!(headers["content-length"], "10");
    }

    #[test]
    fn x_forwarded_for_appends_the_peer() {
        let mut headers = map(&[("x-forwarded-for", "10.0.0.1")]);
        let downstream = Downstream {
            peer: "192.0.2.7:5555".parse().unwrap(),
            scheme: "http",
            host: Some("dav.example"),
        };
        add_x_forwarded(&mut headers, &downstream);
        assert_eq!(headers["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-forwarded-host"], "dav.example");
    }

    #[test]
    fn user_info_is_not_part_of_a_host() {
        assert_eq!(
            without_user_info("user:pw@evil.example:80"),
            "evil.example:80"
        );
        assert_eq!(without_user_info("a@b@[::1]:8080"), "[::1]:8080");
        assert_eq!(without_user_info("dav.example"), "dav.example");
    }

    #[test]
    fn forwarded_quotes_ipv6_and_ports() {
        let mut headers = HeaderMap::new();
        let downstream = Downstream {
            peer: "[::1]:5555".parse().unwrap(),
            scheme: "https",
            host: Some("dav.example:8443"),
        };
        add_forwarded(&mut headers, &downstream);
        assert_eq!(
            headers["forwarded"],
            "for=\"[::1]\";host=\"dav.example:8443\";proto=https"
        );
    }

    #[test]
    fn request_id_is_kept_when_sane_and_made_otherwise() {
        let name = HeaderName::from_static("x-request-id");
        let mut headers = map(&[("x-request-id", "abc-123")]);
        assert_eq!(request_id(&mut headers, &name), "abc-123");
        let mut headers = map(&[("x-request-id", "has space")]);
        let id = request_id(&mut headers, &name);
        assert_eq!(id.len(), 24);
        assert_eq!(headers["x-request-id"], id.as_str());
        assert_ne!(request_id(&mut HeaderMap::new(), &name), id);
    }

    #[test]
    fn x_forwarded_for_is_the_peer_in_any_address_family() {
        for (peer, text) in [
            ("2001:db8::1", "2001:db8::1"),
            ("::ffff:192.168.100.200", "::ffff:192.168.100.200"),
            (
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            ),
            ("255.255.255.255", "255.255.255.255"),
            ("0.0.0.0", "0.0.0.0"),
            ("10.0.99.100", "10.0.99.100"),
        ] {
            let mut headers = map(&[("x-forwarded-for", " ")]);
            add_x_forwarded_for(&mut headers, peer.parse().unwrap(), "https");
            assert_eq!(headers["x-forwarded-for"], text);
            assert_eq!(headers["x-forwarded-proto"], "https");
        }
    }

    #[test]
    fn the_peer_value_follows_the_peer_from_request_to_request() {
        for peer in [
            "192.0.2.1",
            "192.0.2.1",
            "2001:db8::7",
            "192.0.2.1",
            "192.0.2.10",
        ] {
            let ip: IpAddr = peer.parse().unwrap();
            assert_eq!(peer_value(ip).unwrap(), peer);
        }
    }

    #[test]
    fn every_ipv4_octet_is_written_as_std_writes_it() {
        for octet in 0..=255u8 {
            let ip = std::net::Ipv4Addr::new(octet, 255 - octet, octet / 3, 7);
            let value = ip_value(IpAddr::V4(ip)).unwrap();
            assert_eq!(value, ip.to_string().as_str());
        }
    }

    #[test]
    fn made_request_ids_are_a_fixed_prefix_and_a_counter_in_lowercase_hex() {
        let mut out = [0u8; 8];
        hex(0xdead_beef, &mut out);
        assert_eq!(&out, b"deadbeef");
        let mut out = [0u8; 16];
        hex(0x0123_4567_89ab_cdef, &mut out);
        assert_eq!(&out, b"0123456789abcdef");
        let (a, b) = (new_request_id(), new_request_id());
        assert_eq!(a[..8], b[..8], "one prefix per process");
        let counter =
            |id: &[u8; 24]| u64::from_str_radix(std::str::from_utf8(&id[8..]).unwrap(), 16);
        assert!(counter(&b).unwrap() > counter(&a).unwrap());
        assert!(
            a.iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        );
    }

    #[test]
    fn a_made_request_id_is_the_one_sent_upstream() {
        let name = HeaderName::from_static("x-request-id");
        let mut headers = map(&[("x-request-id", "a b"), ("x-request-id", "c")]);
        let id = take_request_id(&mut headers, &name);
        assert_eq!(id.len(), 24);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        let sent: Vec<_> = headers.get_all(&name).iter().collect();
        assert_eq!(sent, [id.value()]);
        let mut echoed = HeaderMap::new();
        echo_request_id(&mut echoed, &name, &id);
        assert_eq!(echoed[&name], &*id);
    }
}
