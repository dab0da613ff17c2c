//! Small pure readings of text for the reference counter: status lines, references, kept
//! (trimmed, capped) text, DOCTYPE internal subsets, processing-instruction targets.

use quick_xml::events::BytesRef;

use crate::multistatus::report::Code;

/// Bytes of a status text read, after whitespace runs are collapsed (DESIGN.md).
const STATUS_READ: usize = 256;

/// True when a DOCTYPE (its text after `<!DOCTYPE`) has an internal subset that declares an
/// entity or an attribute list, or references a parameter entity: quoted literals and
/// comments removed first, then a plain search.
pub(super) fn dtd_declares(doctype: &[u8]) -> bool {
    let Some(open) = doctype.iter().position(|&b| b == b'[') else {
        return false;
    };
    let subset = doctype.get(open..).unwrap_or_default();
    let mut plain = Vec::with_capacity(subset.len());
    let mut i = 0;
    while let Some(&b) = subset.get(i) {
        let rest = subset.get(i..).unwrap_or_default();
        if rest.starts_with(b"<!--") {
            let end = rest
                .windows(3)
                .position(|w| w == b"-->")
                .map_or(rest.len(), |e| e.saturating_add(3));
            i = i.saturating_add(end);
        } else if b == b'"' || b == b'\'' {
            let end = rest
                .iter()
                .skip(1)
                .position(|&c| c == b)
                .map_or(rest.len(), |e| e.saturating_add(2));
            i = i.saturating_add(end);
        } else {
            plain.push(b);
            i = i.saturating_add(1);
        }
    }
    let has = |needle: &[u8]| plain.windows(needle.len()).any(|w| w == needle);
    has(b"<!ENTITY") || has(b"<!ATTLIST") || plain.contains(&b'%')
}

pub(super) fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// A reference's text: predefined entities and character references decoded, any other
/// entity kept as written.
pub(super) fn resolve(r: &BytesRef<'_>) -> Result<String, String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(c.to_string());
    }
    Ok(match &**r {
        "lt" => "<".to_owned(),
        "gt" => ">".to_owned(),
        "amp" => "&".to_owned(),
        "apos" => "'".to_owned(),
        "quot" => "\"".to_owned(),
        other => format!("&{other};"),
    })
}

/// Kept text: leading whitespace dropped, cut to `max` bytes, trailing whitespace dropped
/// (DESIGN.md: texts are trimmed and capped).
pub(super) fn kept(s: &str, max: usize) -> String {
    cut(s.trim_start_matches(is_ws), max)
        .trim_end_matches(is_ws)
        .to_owned()
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(super) fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut n = max;
    while n > 0 && !s.is_char_boundary(n) {
        n = n.saturating_sub(1);
    }
    s.get(..n).unwrap_or_default().to_owned()
}

/// `HTTP/<digits>[.<digits>] NNN [reason]`, whitespace anywhere between: the three digits
/// (100..=999), else `Invalid`.
pub(super) fn status_code(text: &str) -> Code {
    // DESIGN.md: the first 256 bytes of the text, whitespace runs collapsed, are read.
    let collapsed = text
        .split(is_ws)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let collapsed = cut(&collapsed, STATUS_READ);
    let mut words = collapsed.split(' ');
    let (Some(version), Some(code)) = (words.next(), words.next()) else {
        return Code::Invalid;
    };
    let version_ok = version.strip_prefix("HTTP/").is_some_and(|v| {
        let mut parts = v.split('.');
        let ok = |p: Option<&str>| {
            p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        match (parts.next(), parts.next(), parts.next()) {
            (major, None, None) => ok(major),
            (major, minor @ Some(_), None) => ok(major) && ok(minor),
            _ => false,
        }
    });
    let code_ok = code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit());
    match code.parse::<u16>() {
        Ok(n) if version_ok && code_ok && (100..=999).contains(&n) => Code::Status(n),
        _ => Code::Invalid,
    }
}

/// A processing instruction's target, as quick-xml cuts it (up to the first whitespace), is
/// well-formed (XML 1.0 §2.6): a whole Name, so whitespace or `?>` follows it, and not
/// `xml` in any case (the declaration is read apart).
pub(super) fn pi_target_ok(target: &str) -> bool {
    let mut chars = target.chars();
    chars.next().is_some_and(is_name_start)
        && chars.all(is_name_char)
        && !target.eq_ignore_ascii_case("xml")
}

/// XML 1.0 (fifth edition) `NameStartChar`.
fn is_name_start(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 (fifth edition) `NameChar`.
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c,
            '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}
