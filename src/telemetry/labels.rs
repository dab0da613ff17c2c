//! Closed label sets. Every metric label value comes from here, as a `&'static str`: a method
//! name from a fixed list (or `OTHER`), a registered status code (else its class such as `4xx`,
//! or `invalid`), a level, an outcome, an upstream error kind. Never a path, an href, a host
//! or error text.

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
pub(crate) struct MethodLabel {
    /// Index into `KNOWN_METHODS`; `KNOWN_METHODS.len()` means `OTHER`.
    index: usize,
}

impl MethodLabel {
    pub(crate) fn as_str(self) -> &'static str {
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
pub(crate) fn method(name: &str) -> MethodLabel {
    let index = KNOWN_METHODS
        .iter()
        .position(|known| *known == name)
        .unwrap_or(KNOWN_METHODS.len());
    MethodLabel { index }
}

/// Every method label value, `OTHER` last (the order of the label index). Public through
/// `internals` for the integration tests: the one list of methods davaudit labels by name.
pub fn all_methods() -> impl Iterator<Item = &'static str> {
    KNOWN_METHODS
        .iter()
        .copied()
        .chain(std::iter::once(OTHER_METHOD))
}

/// The status codes of the IANA HTTP Status Code Registry (RFC 9110 and the RFCs it names,
/// WebDAV's 102/207/208/422/423/424/507/508 among them; 306 and 418 are listed there as
/// "(Unused)"), labelled as themselves. Every other code is labelled by its class.
const REGISTERED: &[u16] = &[
    100, 101, 102, 103, //
    200, 201, 202, 203, 204, 205, 206, 207, 208, 226, //
    300, 301, 302, 303, 304, 305, 306, 307, 308, //
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418,
    421, 422, 423, 424, 425, 426, 428, 429, 431, 451, //
    500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
];

/// The label of an unregistered code, by class; `other` for 600..=999.
const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// The label of a status line that is not `HTTP/x.y NNN` (and of a number outside 100..=999).
pub(crate) const INVALID_CODE: &str = "invalid";

static CODE_LABELS: LazyLock<Vec<String>> =
    LazyLock::new(|| (0..1000u16).map(|n| format!("{n:03}")).collect());

/// The `code` label of an HTTP status code: a registered code as itself (`423`), any other
/// code in `100..=999` by its class (`1xx` .. `5xx`, `other` for `600..=999`), `invalid`
/// outside that range. The upstream chooses the codes; this keeps their label set closed
/// (see `all_codes`).
pub(crate) fn status(code: u16) -> &'static str {
    if REGISTERED.binary_search(&code).is_ok() {
        return CODE_LABELS
            .get(usize::from(code))
            .map_or(INVALID_CODE, String::as_str);
    }
    match code {
        100..=599 => CLASSES[usize::from(code / 100 - 1)],
        600..=999 => CLASSES[5],
        _ => INVALID_CODE,
    }
}

/// The `code` label of a status found inside a multistatus body.
pub(crate) fn code(code: Code) -> &'static str {
    match code {
        Code::Status(n) => status(n),
        Code::Invalid => INVALID_CODE,
    }
}

/// Every value a `code` label can take: the registered codes, the class buckets and
/// `invalid` (70 values).
#[cfg(test)]
pub(crate) fn all_codes() -> impl Iterator<Item = &'static str> {
    REGISTERED
        .iter()
        .map(|&n| status(n))
        .chain(CLASSES)
        .chain(std::iter::once(INVALID_CODE))
}

/// Every value the `code` label of a failure can take (codes >= 400, their buckets,
/// `invalid`): a routine rule can only excuse a failure, never make one.
#[cfg(test)]
pub(crate) fn all_failure_codes() -> impl Iterator<Item = &'static str> {
    REGISTERED
        .iter()
        .filter(|&&n| n >= 400)
        .map(|&n| status(n))
        .chain(CLASSES[3..].iter().copied())
        .chain(std::iter::once(INVALID_CODE))
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
        assert_eq!(status(42), "invalid");
        assert_eq!(status(1000), "invalid");
        assert_eq!(code(Code::Invalid), "invalid");
        assert_eq!(code(Code::Status(424)), "424");
    }

    #[test]
    fn unregistered_codes_fold_into_their_class_so_the_label_set_stays_closed() {
        assert_eq!(status(299), "2xx");
        assert_eq!(status(460), "4xx");
        assert_eq!(status(599), "5xx");
        assert_eq!(status(600), "other");
        assert_eq!(status(999), "other");
        assert_eq!(status(199), "1xx");
        assert_eq!(status(507), "507");
        let all: std::collections::BTreeSet<_> = all_codes().collect();
        assert_eq!(all.len(), 70, "{all:?}");
        let seen: std::collections::BTreeSet<_> = (0..=1100u16).map(status).collect();
        assert!(seen.is_subset(&all), "{:?}", seen.difference(&all));
        let failing: std::collections::BTreeSet<_> = all_failure_codes().collect();
        let seen_failing: std::collections::BTreeSet<_> = (400..=999u16)
            .map(status)
            .chain(std::iter::once(code(Code::Invalid)))
            .collect();
        assert_eq!(failing, seen_failing);
        assert_eq!(failing.len(), 44);
        assert!(
            REGISTERED.is_sorted(),
            "binary search needs the table sorted"
        );
    }
}
