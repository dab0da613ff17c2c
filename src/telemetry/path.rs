//! The request path as every log event writes it (the access line, the audit's and the
//! upstream's events, the fold's summary): at most [`MAX_PATH`] bytes of it, escaped by
//! [`SafePath`], and `path_truncated: true` ([`truncated`]) when it was cut. One request
//! cannot make each of its log records as long as its path.

use std::fmt::{self, Write as _};

/// Longest path written, in bytes of the request path; a longer one is cut there (at a
/// character boundary) and the event says `path_truncated=true`.
pub(crate) const MAX_PATH: usize = 1024;

/// The first [`MAX_PATH`] bytes of `path`, cut at a character boundary: what a log event
/// keeps of it (for an event written later, such as the fold's summary).
pub(crate) fn capped(path: &str) -> &str {
    let mut end = path.len().min(MAX_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

/// The `path_truncated` field: `Some(true)` when `path` is over [`MAX_PATH`] bytes, else
/// absent.
pub(crate) fn truncated(path: &str) -> Option<bool> {
    (path.len() > MAX_PATH).then_some(true)
}

/// A request path as written in a log event: as the client sent it (percent-encoded as it
/// was), at most [`MAX_PATH`] bytes of it ([`capped`]), with every byte outside visible
/// ASCII and `"` and `\` percent-encoded (`%0A`, `%22`, `%5C`), so no path can break the
/// line or forge a field or a second line, whatever the log format.
pub(crate) struct SafePath<'a>(pub(crate) &'a str);

impl fmt::Display for SafePath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in capped(self.0).as_bytes() {
            if b.is_ascii_graphic() && b != b'"' && b != b'\\' {
                f.write_char(char::from(b))?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_cannot_break_the_line() {
        let path = "/a b\"c\\d\ne\u{7f}é%0A";
        assert_eq!(SafePath(path).to_string(), "/a%20b%22c%5Cd%0Ae%7F%C3%A9%0A");
        assert_eq!(truncated(path), None);
    }

    #[test]
    fn a_long_path_is_cut_at_the_cap_on_a_character_boundary() {
        let long = format!("/{}", "p".repeat(10 * 1024));
        assert_eq!(SafePath(&long).to_string().len(), MAX_PATH);
        assert_eq!(truncated(&long), Some(true));
        assert_eq!(truncated(&long[..MAX_PATH]), None);
        let wide = format!("/{}", "é".repeat(MAX_PATH));
        let kept = capped(&wide);
        assert!(
            kept.len() <= MAX_PATH && kept.len() > MAX_PATH - 2,
            "{}",
            kept.len()
        );
        assert!(wide.starts_with(kept));
        // What a later event keeps writes as the path itself does.
        assert_eq!(SafePath(kept).to_string(), SafePath(&wide).to_string());
    }
}
