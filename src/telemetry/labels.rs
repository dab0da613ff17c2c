//! Closed label sets. Every metric label value comes from here, as a `&'static str`: a method
//! name from a fixed list (or `OTHER`), a 3-digit code (or `invalid`), a level, an outcome, an
//! upstream error kind. Never a path, an href, a host or error text.

use std::sync::LazyLock;

use crate::multistatus::Code;

/// Method names davaudit labels by name: HTTP (RFC 9110, PATCH), WebDAV (RFC 4918), DeltaV
/// (RFC 3253), ordered collections (RFC 3648), redirect refs (RFC 4437), ACL (RFC 3744),
/// CalDAV (RFC 4791), SEARCH (RFC 5323), BIND (RFC 5842), and Exchange's WebDAV extensions.
/// Traefik and Caddy fold these into one value; an auditing proxy must not.
const KNOWN_METHODS: &[&str] = &[
    // HTTP
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    // WebDAV
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    // DeltaV
    "VERSION-CONTROL",
    "REPORT",
    "CHECKOUT",
    "CHECKIN",
    "UNCHECKOUT",
    "MKWORKSPACE",
    "UPDATE",
    "LABEL",
    "MERGE",
    "MKACTIVITY",
    "BASELINE-CONTROL",
    // ordered collections, redirect references, ACL, CalDAV, SEARCH, BIND
    "ORDERPATCH",
    "MKREDIRECTREF",
    "UPDATEREDIRECTREF",
    "ACL",
    "MKCALENDAR",
    "SEARCH",
    "BIND",
    "UNBIND",
    "REBIND",
    // Exchange
    "BCOPY",
    "BDELETE",
    "BMOVE",
    "BPROPFIND",
    "BPROPPATCH",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "POLL",
    "NOTIFY",
];

/// The label for an unknown method.
pub const OTHER_METHOD: &str = "OTHER";

/// A `method` label value: a known method's name, or `OTHER`. Resolved once per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodLabel {
    /// Index into `KNOWN_METHODS`; `KNOWN_METHODS.len()` means `OTHER`.
    index: usize,
}

impl MethodLabel {
    pub fn as_str(self) -> &'static str {
        KNOWN_METHODS
            .get(self.index)
            .copied()
            .unwrap_or(OTHER_METHOD)
    }

    /// Position in [`all_methods`], for pre-resolved metric handles.
    pub(crate) fn index(self) -> usize {
        self.index
    }
}

/// The `method` label of a request method: its name when known, else `OTHER`.
pub fn method(name: &str) -> MethodLabel {
    let index = KNOWN_METHODS
        .iter()
        .position(|known| *known == name)
        .unwrap_or(KNOWN_METHODS.len());
    MethodLabel { index }
}

/// Every method label value, `OTHER` last (the order of the label index).
pub fn all_methods() -> impl Iterator<Item = &'static str> {
    KNOWN_METHODS
        .iter()
        .copied()
        .chain(std::iter::once(OTHER_METHOD))
}

static CODE_LABELS: LazyLock<Vec<String>> =
    LazyLock::new(|| (0..1000u16).map(|n| format!("{n:03}")).collect());

/// The `code` label of an HTTP status code (`100..=999`), `invalid` outside that range.
pub fn status(code: u16) -> &'static str {
    match code {
        100..=999 => CODE_LABELS
            .get(usize::from(code))
            .map_or("invalid", String::as_str),
        _ => "invalid",
    }
}

/// The `code` label of a status found inside a multistatus body.
pub fn code(code: Code) -> &'static str {
    match code {
        Code::Status(n) => status(n),
        Code::Invalid => "invalid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webdav_methods_keep_their_names_and_unknown_ones_fold_into_other() {
        assert_eq!(method("PROPFIND").as_str(), "PROPFIND");
        assert_eq!(method("MKCALENDAR").as_str(), "MKCALENDAR");
        assert_eq!(method("BPROPPATCH").as_str(), "BPROPPATCH");
        assert_eq!(method("propfind").as_str(), "OTHER");
        assert_eq!(method("FROBNICATE").as_str(), "OTHER");
        let names: Vec<_> = all_methods().collect();
        assert_eq!(names[method("LOCK").index()], "LOCK");
        assert_eq!(names[method("X").index()], "OTHER");
    }

    #[test]
    fn codes_are_three_digits_or_invalid() {
        assert_eq!(status(207), "207");
        assert_eq!(status(999), "999");
        assert_eq!(status(42), "invalid");
        assert_eq!(code(Code::Invalid), "invalid");
        assert_eq!(code(Code::Status(424)), "424");
    }
}
