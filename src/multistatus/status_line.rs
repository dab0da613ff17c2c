//! `DAV:status` text to [`Code`]: `HTTP/1.1 423 Locked` -> `423`.
//!
//! Accepted: optional XML whitespace around and between the parts, any version written
//! `HTTP/<digits>[.<digits>]`, a three-digit code `100..=999`, an optional reason phrase.
//! Anything else is [`Code::Invalid`] (counted, never dropped).

use super::report::Code;

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The first whitespace-separated token of `s` and what follows it.
#[inline(always)]
fn token(s: &[u8]) -> (&[u8], &[u8]) {
    let start = s.iter().position(|&b| !is_ws(b)).unwrap_or(s.len());
    let s = s.get(start..).unwrap_or_default();
    let end = s.iter().position(|&b| is_ws(b)).unwrap_or(s.len());
    s.split_at_checked(end).unwrap_or((s, &[]))
}

/// Length of `HTTP/1.1 NNN`.
pub(crate) const COMMON_LEN: usize = 12;

/// The code of `HTTP/1.1 NNN` (`NNN` in `100..=999`) at the start of `text`, whatever
/// follows; the version compared as one word.
#[inline(always)]
pub(crate) fn common_code(text: &[u8]) -> Option<u16> {
    let (&[v0, v1, v2, v3, v4, v5, v6, v7, space, a, b, c], _) =
        text.split_first_chunk::<COMMON_LEN>()?;
    let version = u64::from_le_bytes([v0, v1, v2, v3, v4, v5, v6, v7]);
    if version != u64::from_le_bytes(*b"HTTP/1.1")
        || space != b' '
        || !matches!(a, b'1'..=b'9')
        || !b.is_ascii_digit()
        || !c.is_ascii_digit()
    {
        return None;
    }
    let digit = |d: u8| u16::from(d.wrapping_sub(b'0'));
    Some(
        digit(a)
            .wrapping_mul(100)
            .wrapping_add(digit(b).wrapping_mul(10))
            .wrapping_add(digit(c)),
    )
}

/// The common line `HTTP/1.1 NNN` of `code` (`100..=999`; other values give a line that
/// is no status).
pub(crate) fn common_line(code: u16) -> [u8; COMMON_LEN] {
    let mut line = *b"HTTP/1.1 000";
    let digits = [code / 100, code / 10 % 10, code % 10];
    for (slot, d) in line.iter_mut().skip(9).zip(digits) {
        *slot = u8::try_from(d).map_or(b'x', |d| b'0'.saturating_add(d));
    }
    line
}

/// Parses a status line (any whitespace, possibly truncated after the code).
pub(crate) fn parse(text: &[u8]) -> Code {
    // The common line at once: `HTTP/1.1 NNN`, then whitespace or the end.
    if let Some(n) = common_code(text)
        && text.get(COMMON_LEN).is_none_or(|&b| is_ws(b))
    {
        return Code::Status(n);
    }
    let (version, rest) = token(text);
    let (code, _) = token(rest);
    if !is_version(version) {
        return Code::Invalid;
    }
    match code {
        [a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9'] => {
            let digit = |d: &u8| u16::from(d.saturating_sub(b'0'));
            let n = digit(a)
                .saturating_mul(100)
                .saturating_add(digit(b).saturating_mul(10))
                .saturating_add(digit(c));
            Code::Status(n)
        }
        _ => Code::Invalid,
    }
}

/// `HTTP/` DIGIT+ [ `.` DIGIT+ ]
fn is_version(v: &[u8]) -> bool {
    let Some(rest) = v.strip_prefix(b"HTTP/") else {
        return false;
    };
    let digits = |p: &[u8]| !p.is_empty() && p.iter().all(u8::is_ascii_digit);
    match rest.iter().position(|&b| b == b'.') {
        None => digits(rest),
        Some(i) => {
            digits(rest.get(..i).unwrap_or_default())
                && digits(rest.get(i.saturating_add(1)..).unwrap_or_default())
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse_to_codes() {
        let cases: &[(&str, Code)] = &[
            ("HTTP/1.1 200 OK", Code::Status(200)),
            ("HTTP/1.1 423 Locked", Code::Status(423)),
            (
                "  \n\tHTTP/1.1\t424   Failed Dependency \r\n",
                Code::Status(424),
            ),
            ("HTTP/1.0 404", Code::Status(404)),
            ("HTTP/2 507 Insufficient Storage", Code::Status(507)),
            ("HTTP/2.0 999", Code::Status(999)),
            ("HTTP/1.1 100 Continue", Code::Status(100)),
            ("HTTP/1.1 099 x", Code::Invalid),
            ("HTTP/1.1 2000 OK", Code::Invalid),
            ("HTTP/1.1 20 OK", Code::Invalid),
            ("HTTP/1.1 200OK", Code::Invalid),
            ("http/1.1 200 OK", Code::Invalid),
            ("HTTP/ 200 OK", Code::Invalid),
            ("HTTP/1. 200 OK", Code::Invalid),
            ("HTTP/1.1.1 200 OK", Code::Invalid),
            ("200 OK", Code::Invalid),
            ("", Code::Invalid),
            ("   ", Code::Invalid),
            ("HTTP/1.1", Code::Invalid),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text.as_bytes()), *want, "{text:?}");
        }
    }

    /// The line `Sink::status_code` hands on by default reads as its code.
    #[test]
    fn the_common_line_of_a_code_parses_to_it() {
        for n in 100..=999 {
            let line = common_line(n);
            assert_eq!(parse(&line), Code::Status(n), "{line:?}");
            assert_eq!(common_code(&line), Some(n));
        }
    }

    /// The straightforward reading, kept as the reference for the hand-written `parse`.
    fn reference(text: &[u8]) -> Code {
        let mut tokens = text.split(|&b| is_ws(b)).filter(|t| !t.is_empty());
        let (Some(version), Some(code)) = (tokens.next(), tokens.next()) else {
            return Code::Invalid;
        };
        let version_ok = version.strip_prefix(b"HTTP/").is_some_and(|rest| {
            let mut parts = rest.splitn(2, |&b| b == b'.');
            let digits = |p: Option<&[u8]>| {
                p.is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit))
            };
            let major = parts.next();
            match parts.next() {
                None => digits(major),
                minor => digits(major) && digits(minor),
            }
        });
        match (version_ok, code) {
            (true, [a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9']) => Code::Status(
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
            ),
            _ => Code::Invalid,
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_matches_the_reference(text in "[HTP/. 0-9\t\r\nOKx]{0,24}") {
            proptest::prop_assert_eq!(parse(text.as_bytes()), reference(text.as_bytes()));
        }
    }
}
