//! Scalar values of the config file, checked while serde_yaml still knows where they are.
//!
//! Every newtype here validates inside its `Visitor`. serde_yaml pins an error raised there on
//! the value itself (key path, line and column of the scalar). An error raised after
//! `String::deserialize` has returned would be pinned on the enclosing mapping instead, with
//! the parent's key path: that is why none of these parse "after the fact".

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderName, Uri};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serializer};

use crate::multistatus::Level;

/// Parses a scalar (string or number) with `parse`; the error text becomes the message.
struct ParseVisitor<T> {
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
}

impl<T> Visitor<'_> for ParseVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        self.visit_str(if v { "true" } else { "false" })
    }
}

pub(super) fn parse_scalar<'de, D, T>(
    d: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    // `any`: the config is read from a YAML tree, where `5` is a number and `true` a bool;
    // each is parsed from its text, as the value would be in a string.
    d.deserialize_any(ParseVisitor { expecting, parse })
}

/// Implements `Deserialize` for a newtype through `parse_scalar`.
macro_rules! scalar_newtype {
    ($name:ident, $expecting:literal, $parse:expr) => {
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                parse_scalar(d, $expecting, |s| $parse(s).map($name))
            }
        }
    };
}

/// A duration written `250ms`, `5s`, `2m`, `1h` or `1h30m`; never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HumanDuration(pub(super) Duration);
scalar_newtype!(HumanDuration, "a duration such as 5s", parse_duration);

/// A byte count: `4MiB`, `512KiB`, `1GB` or a plain integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ByteSize(pub(super) u64);
scalar_newtype!(ByteSize, "a size such as 4MiB", parse_size);

/// A socket address to listen on: `IP:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ListenAddr(pub(super) SocketAddr);
scalar_newtype!(
    ListenAddr,
    "an address such as 127.0.0.1:8080",
    parse_listen
);

/// The upstream origin: `http://` or `https://`, an authority, no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UpstreamUrl(pub(super) Uri);
scalar_newtype!(
    UpstreamUrl,
    "a URL such as http://127.0.0.1:8081",
    parse_upstream_url
);

/// A header name such as `x-request-id` (stored lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HeaderNameValue(pub(super) HeaderName);
scalar_newtype!(
    HeaderNameValue,
    "a header name such as x-request-id",
    parse_header_name
);

/// A tracing filter directive such as `info` or `info,davaudit=debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LogLevel(pub(super) String);
scalar_newtype!(LogLevel, "a log level such as info", parse_log_level);

/// One HTTP method name, uppercased.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Method(String);
scalar_newtype!(Method, "a method name such as PROPFIND", parse_method);

/// `method:` of a routine rule: one method name or a non-empty list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Methods(pub(super) Vec<String>);

impl<'de> Deserialize<'de> for Methods {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Methods;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a method name or a list of method names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Methods, E> {
                parse_method(v).map(|m| Methods(vec![m])).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Methods, A::Error> {
                let mut methods = Vec::new();
                while let Some(Method(m)) = seq.next_element()? {
                    if !methods.contains(&m) {
                        methods.push(m);
                    }
                }
                if methods.is_empty() {
                    return Err(de::Error::custom(
                        "empty list: name at least one method (e.g. [PROPFIND, REPORT])",
                    ));
                }
                Ok(Methods(methods))
            }
        }
        d.deserialize_any(V)
    }
}

/// A status code of a routine rule, `100..=999`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StatusCode(pub(super) u16);

impl<'de> Deserialize<'de> for StatusCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StatusCode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status code from 100 to 999")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusCode, E> {
                match u16::try_from(v) {
                    Ok(code @ 100..=999) => Ok(StatusCode(code)),
                    _ => Err(E::custom(format!(
                        "invalid status code {v}: expected a number from 100 to 999"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusCode, E> {
                Err(E::custom(format!(
                    "invalid status code {v}: expected a number from 100 to 999"
                )))
            }
        }
        d.deserialize_u64(V)
    }
}

/// `response` or `propstat` (kept out of `multistatus::report`, which only serializes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LevelName(pub(super) Level);
scalar_newtype!(LevelName, "response or propstat", |s: &str| match s {
    "response" => Ok(Level::Response),
    "propstat" => Ok(Level::Propstat),
    _ => Err(format!(
        "invalid level {s:?}: expected response or propstat"
    )),
});

const DURATION_UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// `250ms`, `5s`, `2m`, `1h`, `1h30m`: number+unit groups, largest unit first, each once.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {s:?}: expected a number followed by ms, s, m or h \
             (e.g. 250ms, 5s, 2m, 1h30m)"
        )
    };
    let mut rest = s;
    let mut millis: u64 = 0;
    let mut next_unit = 0; // index into DURATION_UNITS: units must come in that order
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, tail) = rest.split_at(digits);
        let number: u64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let index = DURATION_UNITS
            .iter()
            .position(|(name, _)| *name == unit)
            .filter(|i| *i >= next_unit)
            .ok_or_else(bad)?;
        let (_, scale) = DURATION_UNITS[index];
        millis = number
            .checked_mul(scale)
            .and_then(|n| millis.checked_add(n))
            .ok_or_else(|| format!("invalid duration {s:?}: too large"))?;
        next_unit = index + 1;
        rest = tail;
    }
    if millis == 0 {
        return Err(format!("invalid duration {s:?}: must be greater than zero"));
    }
    Ok(Duration::from_millis(millis))
}

/// The inverse of [`parse_duration`], in the largest unit that is exact: `90s`, `5m`, `250ms`.
pub(super) fn format_duration(d: Duration) -> String {
    let millis = d.as_millis();
    for (name, scale) in DURATION_UNITS {
        let scale = u128::from(scale);
        if millis != 0 && millis.is_multiple_of(scale) {
            return format!("{}{name}", millis / scale);
        }
    }
    format!("{millis}ms")
}

const SIZE_UNITS: [(&str, u64); 9] = [
    ("", 1),
    ("b", 1),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

/// `4MiB`, `512KiB`, `1GB`, `4096`: digits, optional space, optional unit (any case).
pub(super) fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid size {s:?}: expected a number of bytes, optionally followed by \
             KiB, MiB, GiB, KB, MB or GB (e.g. 4MiB)"
        )
    };
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = s.split_at(digits);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    let (_, scale) = SIZE_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or_else(bad)?;
    number
        .checked_mul(*scale)
        .ok_or_else(|| format!("invalid size {s:?}: too large"))
}

/// Serializes a size as `4MiB`-style text when it is a whole number of KiB, else as a number.
pub(super) fn serialize_size<S: Serializer>(n: u64, s: S) -> Result<S::Ok, S::Error> {
    for (unit, scale) in [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ] {
        if n != 0 && n.is_multiple_of(scale) {
            return s.collect_str(&format_args!("{}{unit}", n / scale));
        }
    }
    s.serialize_u64(n)
}

pub(super) fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let expected = "expected IP:PORT such as 127.0.0.1:8080 or [::]:8080";
    // Say which half is wrong: the port (missing, not a number, out of range) or the host.
    let (host, port) = match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.contains(']') => (host, port),
        _ if s.parse::<std::net::IpAddr>().is_ok()
            || s.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok() =>
        {
            return Err(format!(
                "invalid address {s:?}: the port is missing; {expected}"
            ));
        }
        _ => return Err(format!("invalid address {s:?}: {expected}")),
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "invalid address {s:?}: port {port:?} is not a number; {expected}"
        ));
    }
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "invalid address {s:?}: port {port} is out of range (0 to 65535)"
        ));
    }
    if host
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_err()
    {
        return Err(format!(
            "invalid address {s:?}: {host:?} is not an IP address (host names are not \
             resolved; use 0.0.0.0 or [::] for every interface, 127.0.0.1 for loopback)"
        ));
    }
    Err(format!("invalid address {s:?}: {expected}"))
}

pub(super) fn parse_upstream_url(s: &str) -> Result<Uri, String> {
    let uri: Uri = s
        .parse()
        .map_err(|e| format!("invalid URL {s:?}: {e}; expected e.g. http://127.0.0.1:8081"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "invalid URL {s:?}: scheme {other:?} is not http or https"
            ));
        }
        None => {
            return Err(format!(
                "invalid URL {s:?}: expected http://HOST[:PORT] or https://HOST[:PORT]"
            ));
        }
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("invalid URL {s:?}: a host is required"));
    };
    if authority.as_str().contains('@') {
        return Err(format!(
            "invalid URL {s:?}: credentials in the URL are not supported (clients send their own)"
        ));
    }
    if authority.host().is_empty() {
        return Err(format!("invalid URL {s:?}: a host is required"));
    }
    if let Some(pq) = uri.path_and_query()
        && pq.as_str() != "/"
        && !pq.as_str().is_empty()
    {
        return Err(format!(
            "invalid URL {s:?}: a path or query ({pq}) is not supported; davaudit forwards \
                 request paths unchanged, so give only the origin (scheme, host, port)"
        ));
    }
    Ok(uri)
}

fn parse_header_name(s: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(s.as_bytes()).map_err(|_| {
        format!("invalid header name {s:?}: expected an HTTP token such as x-request-id")
    })
}

pub(super) fn parse_log_level(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("empty log level: expected e.g. info, debug or info,davaudit=debug".to_owned());
    }
    // The logging set-up hands the same string to EnvFilter: check it with the same parser.
    tracing_subscriber::EnvFilter::builder()
        .parse(s)
        .map_err(|e| {
            format!("invalid log level {s:?}: {e}; expected e.g. info or info,davaudit=debug")
        })?;
    Ok(s.to_owned())
}

/// RFC 9110 `token`: the characters a method name may use.
fn parse_method(s: &str) -> Result<String, String> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if s.is_empty() || !s.bytes().all(is_tchar) {
        return Err(format!(
            "invalid method {s:?}: expected an HTTP method name such as PROPFIND"
        ));
    }
    Ok(s.to_ascii_uppercase())
}
