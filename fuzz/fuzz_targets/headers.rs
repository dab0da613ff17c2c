//! Arbitrary header names and values -> a `HeaderMap` of the valid ones -> the header
//! rewrites of `proxy::headers`: nothing panics; afterwards no hop-by-hop header remains
//! (the fixed list and every name the `Connection` header lists), `X-Forwarded-For` ends
//! with the peer, `X-Forwarded-Proto` / `Forwarded` are davaudit's own, and the request id
//! header holds the id returned.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use davaudit::internals::{
    Downstream, add_forwarded, add_x_forwarded, remove_hop_by_hop, request_id,
};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

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

/// Fields (name, value); peer IP bytes, port, IPv6 or not; the public host; https or not;
/// and, when set, bytes appended to a `Connection` field that lists every fuzzed name (so
/// the nomination rule gets exercised, not only found by chance).
type Input<'a> = (
    Vec<(&'a [u8], &'a [u8])>,
    [u8; 16],
    u16,
    bool,
    Option<&'a str>,
    bool,
    Option<&'a [u8]>,
);

fuzz_target!(|input: Input<'_>| {
    let (fields, ip, port, v6, host, https, connection_extra) = input;
    let mut headers = HeaderMap::new();
    let mut names: Vec<u8> = Vec::new();
    for (name, value) in fields {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            names.extend_from_slice(name.as_str().as_bytes());
            names.extend_from_slice(b", ");
            headers.append(name, value);
        }
    }
    if let Some(extra) = connection_extra {
        names.extend_from_slice(extra);
        if let Ok(value) = HeaderValue::from_bytes(&names) {
            headers.append(http::header::CONNECTION, value);
        }
    }

    // Every name the Connection header lists, read from the raw bytes (RFC 9110 §7.6.1:
    // each connection-option names a field to remove).
    let nominated: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .filter_map(|token| HeaderName::from_bytes(token.trim_ascii()).ok())
        .collect();
    remove_hop_by_hop(&mut headers);
    for name in HOP_BY_HOP {
        assert!(!headers.contains_key(*name), "{name} left");
    }
    for name in &nominated {
        assert!(
            !headers.contains_key(name),
            "{name} (listed in Connection) left"
        );
    }

    let peer = if v6 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])), port)
    };
    // The proxy's host comes from a Host header (`to_str`: visible ASCII) or the URI
    // authority (ASCII): text that is a valid, visible-ASCII header value.
    let host = host.filter(|h| {
        HeaderValue::from_str(h)
            .ok()
            .is_some_and(|v| v.to_str().is_ok())
    });
    let scheme = if https { "https" } else { "http" };
    let downstream = Downstream { peer, scheme, host };

    add_x_forwarded(&mut headers, &downstream);
    let xff = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .expect("X-Forwarded-For set");
    assert!(
        xff.ends_with(&peer.ip().to_string()),
        "X-Forwarded-For {xff:?} does not end with {}",
        peer.ip()
    );
    assert_eq!(headers.get_all("x-forwarded-proto").iter().count(), 1);
    assert_eq!(headers["x-forwarded-proto"], scheme);
    if let Some(host) = host {
        assert_eq!(headers["x-forwarded-host"], host);
    }

    add_forwarded(&mut headers, &downstream);
    let forwarded = headers
        .get(http::header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .expect("Forwarded set");
    assert!(
        forwarded.ends_with(&format!(";proto={scheme}")),
        "Forwarded {forwarded:?}"
    );

    let name = HeaderName::from_static("x-request-id");
    let id = request_id(&mut headers, &name);
    assert!(!id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_graphic()));
    assert_eq!(
        headers.get(&name).map(|v| v.as_bytes()),
        Some(id.as_bytes())
    );
});
