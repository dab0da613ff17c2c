//! Bounds that keep the scanner's memory constant whatever the body: element depth, bytes
//! kept per text field, failures kept with details, and the fixed internal caps (name length,
//! namespace declarations, reference length).
//!
//! Long text runs are never buffered: the lexer skips character data with `memchr` and only
//! copies the text of the few elements it reports (`DAV:href`, `DAV:status`,
//! `DAV:responsedescription`), each capped here. Counts are never capped.

/// Caps a caller can choose. `Limits::default()` suits the proxy and `davaudit scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest element nesting whose names are kept. Deeper content inside a skipped
    /// subtree (a property value) is only counted; a deeper element on the audited path
    /// stops the scan as `over_limit` (`max_depth`).
    pub max_depth: usize,
    /// Bytes kept per text field of a failure (href, error, description), cut on a UTF-8
    /// character boundary.
    pub max_text: usize,
    /// Failures kept with details; `Report::failure_count` still counts every failure.
    pub max_failures: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 256,
            max_text: 1024,
            max_failures: 100,
        }
    }
}

/// Longest attribute name kept on the audited path (only `xmlns:prefix` names matter: a
/// longer declaration is `over_limit`, any other attribute name is never kept whole); also
/// the longest name the lexer's fast path takes (longer ones go the slow way).
pub(crate) const MAX_NAME: usize = 1024;

/// Bytes of the names of the open elements, kept to check end tags. Past it, an element in
/// skipped content (a property value) is only counted, not named (its end tag is checked
/// for syntax, not matched); on the audited path it is `over_limit` (`name_length`).
pub(crate) const NAMES_BUDGET: usize = 256 * 1024;

/// Namespace URIs are kept up to this many bytes (enough to print `{ns}name`).
pub(crate) const MAX_NS_URI: usize = 1024;

/// Namespace declarations in scope at once on the audited path (`DAV:multistatus`,
/// `DAV:response`, `DAV:propstat`, `DAV:error` and their direct children); more is
/// `over_limit` (`namespace_declarations`). Declarations inside skipped subtrees (property
/// values) are not kept at all. Generated clients put thousands on the root.
pub(crate) const MAX_BINDINGS: usize = 4096;

/// Bytes of the prefixes and URIs of the declarations in scope (each URI kept up to
/// `MAX_NS_URI`); more is `over_limit` (`namespace_declarations`).
pub(crate) const NS_BUDGET: usize = 256 * 1024;

/// `DAV:href`s of one entry kept for its failures (their bytes also sum to at most
/// `max_text`); `Failure::href_count` counts them all.
pub const MAX_HREFS: usize = 64;

/// Property names of one failing `DAV:propstat` kept (their bytes also sum to at most
/// `max_text`); `Failure::prop_count` counts them all.
pub const MAX_PROPS: usize = 64;

/// Longest entity or character reference name between `&` and `;` (leading zeros of a
/// character reference are not counted); longer is `over_limit` (`reference_length`).
pub(crate) const MAX_REF: usize = 64;

/// Bytes of a `DAV:status` text kept for parsing, after leading whitespace is dropped and
/// whitespace runs are collapsed; a status line needs far fewer.
pub(crate) const MAX_STATUS: usize = 256;

/// Bytes looked at before the first byte is lexed, to find a BOM or an XML declaration's
/// `encoding`.
pub(crate) const MAX_SNIFF: usize = 512;

/// Longest XML declaration read to find its `encoding` (the head is held until its `?>`);
/// longer is `over_limit` (`xml_declaration`). Only whitespace makes a declaration long.
pub(crate) const MAX_DECL: usize = 64 * 1024;

/// Appends `bytes` to `buf` without letting it grow past `cap`, cutting on a UTF-8 character
/// boundary. `bytes` must start on a character boundary. Returns false once the cap was hit.
#[inline]
pub(crate) fn push_capped(buf: &mut Vec<u8>, bytes: &[u8], cap: usize) -> bool {
    let room = cap.saturating_sub(buf.len());
    if bytes.len() <= room {
        buf.extend_from_slice(bytes);
        return true;
    }
    push_cut(buf, bytes, room);
    false
}

/// The part of `bytes` that fits in `room`, cut on a character boundary.
#[cold]
fn push_cut(buf: &mut Vec<u8>, bytes: &[u8], room: usize) {
    let mut n = room;
    // Back off to a character boundary: never keep half a UTF-8 sequence.
    while n > 0 && bytes.get(n).is_some_and(|b| b & 0xC0 == 0x80) {
        n = n.saturating_sub(1);
    }
    buf.extend_from_slice(bytes.get(..n).unwrap_or_default());
}
