//! Character data and references: the `Text` and `Ref` states, and the fast path over the
//! bulk of a body (`skim`: text, attribute-less start tags, empty elements and end tags
//! in one loop) that the state machine falls back from.

use memchr::memchr2;

use super::bytes::{advance, find_markup, is_name_byte, is_name_start, is_ws, name_len, same};
use super::roles::Role;
use super::state::State;
use super::{Frame, Lexer, Origin, Rest, Sink};
use crate::multistatus::limits::{MAX_NAME, MAX_REF, NAMES_BUDGET, push_capped};
use crate::multistatus::report::{Limit, Malformed};

/// A decoded reference.
pub(super) enum Reference<'a> {
    Char(char),
    /// An entity other than the five predefined ones: kept as written.
    Unknown(&'a [u8]),
}

pub(super) fn decode_reference(name: &[u8]) -> Result<Reference<'_>, &'static str> {
    const BAD: &str = "invalid character reference";
    let number = |digits: &[u8], radix: u32| -> Result<char, &'static str> {
        // Leading zeros are valid XML, however many (`&#x000000041;` is `A`); all zeros is
        // the character 0, which is not legal.
        let digits = match digits.iter().position(|&d| d != b'0') {
            Some(i) => digits.get(i..).unwrap_or_default(),
            None => b"",
        };
        if digits.is_empty() || digits.len() > 8 {
            return Err(BAD);
        }
        let s = std::str::from_utf8(digits).map_err(|_| BAD)?;
        let n = u32::from_str_radix(s, radix).map_err(|_| BAD)?;
        let legal =
            matches!(n, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x1_0000..=0x10_FFFF);
        if !legal || s.starts_with('+') {
            return Err(BAD);
        }
        char::from_u32(n).ok_or(BAD)
    };
    match name {
        [b'#', b'x', hex @ ..] => number(hex, 16).map(Reference::Char),
        [b'#', dec @ ..] => number(dec, 10).map(Reference::Char),
        b"lt" => Ok(Reference::Char('<')),
        b"gt" => Ok(Reference::Char('>')),
        b"amp" => Ok(Reference::Char('&')),
        b"apos" => Ok(Reference::Char('\'')),
        b"quot" => Ok(Reference::Char('"')),
        [first, rest @ ..] if is_name_start(*first) && !rest.contains(&b'#') => {
            Ok(Reference::Unknown(name))
        }
        _ => Err("invalid entity reference"),
    }
}

/// The length of the name of a predefined entity (`quot`, `apos`, `amp`, `lt`, `gt`)
/// followed by its `;` at the start of `after`: one word compare each.
#[inline(always)]
fn predefined(after: &[u8]) -> Option<usize> {
    const fn word(s: &[u8; 4]) -> u32 {
        u32::from_le_bytes(*s)
    }
    let w = after.get(..4)?.try_into().map_or(0, u32::from_le_bytes);
    if w == word(b"quot") || w == word(b"apos") {
        return (after.get(4) == Some(&b';')).then_some(4);
    }
    if w == word(b"amp;") {
        return Some(3);
    }
    let three = w & 0x00FF_FFFF;
    (three == word(b"lt;\0") || three == word(b"gt;\0")).then_some(2)
}

impl Lexer {
    /// `State::Text`: character data, through the fast path (`skim`) where it applies.
    pub(super) fn text<'a, S: Sink>(
        &mut self,
        origin: Origin,
        mut rest: &'a [u8],
        sink: &mut S,
    ) -> Rest<'a> {
        let at = |rest: &[u8]| origin.at(rest);
        if self.frames.is_empty() {
            // Prolog or epilog: whitespace, comments, PIs, DOCTYPE only.
            let n = rest.iter().position(|&b| !is_ws(b)).unwrap_or(rest.len());
            rest = advance(rest, n);
            match rest.first() {
                None => {}
                Some(b'<') => {
                    self.mark = at(rest);
                    rest = advance(rest, 1);
                    self.state = State::Lt;
                }
                Some(_) => {
                    return Err(self.fail(at(rest), "text outside the root element"));
                }
            }
            return Ok(rest);
        }
        if self.fast {
            rest = advance(rest, self.skim(rest, at(rest), sink)?);
            if rest.is_empty() || self.frames.is_empty() || self.state != State::Text {
                return Ok(rest);
            }
        }
        if self.fast
            && let [b'&', after @ ..] = rest
            && let Some(n) = self.skim_reference(after)
        {
            rest = advance(after, n.saturating_add(1));
            return Ok(rest);
        }
        match memchr2(b'<', b'&', rest) {
            None => {
                self.capture.push(rest);
                rest = &[];
            }
            Some(i) => {
                let (text, tail) = rest.split_at_checked(i).unwrap_or((rest, &[]));
                self.capture.push(text);
                self.mark = at(tail);
                if tail.first() == Some(&b'&') {
                    self.refname.clear();
                    self.state = State::Ref;
                } else {
                    self.state = State::Lt;
                }
                rest = advance(tail, 1);
            }
        }
        Ok(rest)
    }

    /// `State::Ref` and `State::AttrRef`: reading a reference name up to its `;`.
    pub(super) fn reference<'a>(&mut self, b: u8, mut rest: &'a [u8]) -> Rest<'a> {
        rest = advance(rest, 1);
        if b != b';' {
            // Leading zeros of a character reference are kept once: any number
            // of them is valid XML (`&#x000000041;`).
            if b == b'0' && matches!(self.refname.as_slice(), b"#0" | b"#x0") {
                return Ok(rest);
            }
            if self.refname.len() >= MAX_REF {
                return Err(self.over(self.mark, Limit::ReferenceLength, "reference too long"));
            }
            if !is_name_byte(b) && b != b'#' {
                return Err(self.fail(self.mark, "invalid reference (no ';')"));
            }
            self.refname.push(b);
            return Ok(rest);
        }
        let decoded = match decode_reference(&self.refname) {
            Ok(d) => d,
            Err(reason) => return Err(self.fail(self.mark, reason)),
        };
        let mut utf8 = [0u8; 4];
        let (head, name, tail): (&[u8], &[u8], &[u8]) = match decoded {
            Reference::Char(c) => (c.encode_utf8(&mut utf8).as_bytes(), b"", b""),
            Reference::Unknown(name) => (b"&", name, b";"),
        };
        if let State::AttrRef { quote } = self.state {
            if self.declaring {
                let cap = self.uri_cap();
                for piece in [head, name, tail] {
                    push_capped(&mut self.ns, piece, cap);
                }
            }
            self.state = State::AttrValue { quote };
        } else {
            for piece in [head, name, tail] {
                self.capture.push(piece);
            }
            self.state = State::Text;
        }
        Ok(rest)
    }

    /// The fast path for the bulk of a body: text, attribute-less start tags, empty
    /// elements and end tags. `base` is the offset of `chunk`. Returns the bytes consumed;
    /// stops before anything else (a reference, a tag with attributes, comments, CDATA, PIs,
    /// a tag cut by the end of the chunk, the end of the root), which the state machine then
    /// handles from `Text` exactly as if this path did not exist.
    pub(super) fn skim<S: Sink>(
        &mut self,
        chunk: &[u8],
        base: u64,
        sink: &mut S,
    ) -> Result<usize, Malformed> {
        let mut pos = 0usize;
        loop {
            let rest = chunk.get(pos..).unwrap_or_default();
            let Some(i) = find_markup(rest) else {
                self.capture.push(rest);
                return Ok(chunk.len());
            };
            if self.capture.depth != 0 {
                self.capture.push(rest.get(..i).unwrap_or_default());
            }
            let lt = pos.saturating_add(i);
            let tag = rest.get(i..).unwrap_or_default();
            match tag {
                [b'<', b'/', ..] if self.deep > 0 => return Ok(lt),
                [b'<', b'/', name @ ..] => {
                    let start = self.frames.last().map_or(0, |f| f.name as usize);
                    let expected = self.names.get(start..).unwrap_or_default();
                    let len = expected.len();
                    if name.get(len) != Some(&b'>')
                        || !name.get(..len).is_some_and(|n| same(n, expected))
                    {
                        return Ok(lt);
                    }
                    pos = lt.saturating_add(len).saturating_add(3);
                    // A skipped element with no declarations, not the root: just pop it
                    // (what `end_tag` does for it).
                    let depth = self.frames.len();
                    if depth > 1
                        && let Some(&Frame {
                            name,
                            role: Role::Skip,
                        }) = self.frames.last()
                        && self.bindings.last().is_none_or(|b| b.depth < depth)
                    {
                        self.frames.pop();
                        self.names.truncate(name as usize);
                        continue;
                    }
                    self.end_tag(sink);
                    if self.frames.is_empty() {
                        return Ok(pos);
                    }
                }
                [b'<', first, after @ ..] if is_name_start(*first) => {
                    if self.frames.len() >= self.max_depth || self.deep > 0 {
                        return Ok(lt);
                    }
                    let n = match self.known_name(tag.get(1..).unwrap_or_default()) {
                        Some(len) => len.saturating_sub(1),
                        None => {
                            let n = name_len(after);
                            if n < after.len() {
                                self.learn_name(
                                    tag.get(1..).unwrap_or_default(),
                                    n.saturating_add(1),
                                );
                            }
                            n
                        }
                    };
                    if n >= after.len()
                        || n >= MAX_NAME
                        || self.names.len().saturating_add(n) >= NAMES_BUDGET
                    {
                        return Ok(lt);
                    }
                    let name = tag.get(1..n.saturating_add(2)).unwrap_or_default();
                    let resolving = self
                        .frames
                        .last()
                        .is_none_or(|f| f.role.resolves_children());
                    let (read, empty) = match after.get(n..) {
                        Some([b'>', ..]) => (1, false),
                        Some([b'/', b'>', ..]) => (2, true),
                        Some([b, ..]) if resolving && is_ws(*b) => {
                            // Attributes on the audited path: read here when simple.
                            self.mark = base.wrapping_add(lt as u64);
                            let tail = after.get(n..).unwrap_or_default();
                            let (read, empty) = match self.skim_attrs(tail) {
                                Some(read) => read?,
                                None => return Ok(lt),
                            };
                            pos = lt
                                .saturating_add(name.len())
                                .saturating_add(1)
                                .saturating_add(read);
                            self.pending = self.names.len();
                            self.resolve = true;
                            self.names.extend_from_slice(name);
                            self.start_tag(empty, sink)?;
                            if self.at_anchor() {
                                pos = self.walk(chunk, pos, base, sink)?;
                                if self.frames.is_empty() || self.state != State::Text {
                                    return Ok(pos);
                                }
                            }
                            continue;
                        }
                        _ => return Ok(lt),
                    };
                    pos = lt
                        .saturating_add(name.len())
                        .saturating_add(1)
                        .saturating_add(read);
                    if resolving && !self.known_prop(name, sink) {
                        self.mark = base.wrapping_add(lt as u64);
                        self.pending = self.names.len();
                        self.resolve = true;
                        self.names.extend_from_slice(name);
                        self.start_tag(empty, sink)?;
                        if self.at_anchor() {
                            pos = self.walk(chunk, pos, base, sink)?;
                            if self.frames.is_empty() || self.state != State::Text {
                                return Ok(pos);
                            }
                        }
                    } else if !empty {
                        // A leaf whose text (no reference) and end tag are in this chunk
                        // (in a skipped subtree, or a property already reported): what
                        // opening and closing it would do, without opening it.
                        let body = chunk.get(pos..).unwrap_or_default();
                        let next = find_markup(body);
                        if let Some(j) = next
                            && let Some([b'<', b'/', close @ ..]) = body.get(j..)
                            && close.get(name.len()) == Some(&b'>')
                            && close.get(..name.len()).is_some_and(|c| same(c, name))
                        {
                            if self.capture.depth != 0 {
                                self.capture.push(body.get(..j).unwrap_or_default());
                            }
                            pos = pos
                                .saturating_add(j)
                                .saturating_add(name.len())
                                .saturating_add(3);
                            continue;
                        }
                        let start = self.names.len();
                        self.names.extend_from_slice(name);
                        self.frames.push(Frame {
                            name: u32::try_from(start).unwrap_or(u32::MAX),
                            role: Role::Skip,
                        });
                        // Its text up to the next markup is already scanned: what the
                        // loop would do with it, without scanning it again.
                        let Some(j) = next else {
                            self.capture.push(body);
                            return Ok(chunk.len());
                        };
                        if self.capture.depth != 0 {
                            self.capture.push(body.get(..j).unwrap_or_default());
                        }
                        pos = pos.saturating_add(j);
                    }
                }
                _ => return Ok(lt),
            }
        }
    }

    /// A `DAV:response` just opened: where `walk` replays the entry's tags.
    #[inline(always)]
    fn at_anchor(&self) -> bool {
        self.frames.last().is_some_and(|f| f.role == Role::Response) && self.may_walk()
    }

    /// A whole, well-formed reference at the start of `after` (just past the `&`): what the
    /// `Ref` state does, at once; returns the length of its name. `None` leaves it (and its
    /// errors) to the state machine.
    pub(super) fn skim_reference(&mut self, after: &[u8]) -> Option<usize> {
        if self.capture.depth == 0
            && let Some(n) = predefined(after)
        {
            // Outside kept text: nothing to decode or keep.
            return Some(n);
        }
        self.skim_other_reference(after)
    }

    /// `skim_reference` for all but a predefined entity outside kept text.
    fn skim_other_reference(&mut self, after: &[u8]) -> Option<usize> {
        let window = after.get(..=MAX_REF).unwrap_or(after);
        let n = window.iter().position(|&b| b == b';')?;
        let name = after.get(..n).unwrap_or_default();
        if !name.iter().all(|&b| is_name_byte(b) || b == b'#') {
            return None;
        }
        let decoded = decode_reference(name).ok()?;
        if self.capture.depth != 0 {
            let mut utf8 = [0u8; 4];
            let (head, name, tail): (&[u8], &[u8], &[u8]) = match decoded {
                Reference::Char(c) => (c.encode_utf8(&mut utf8).as_bytes(), b"", b""),
                Reference::Unknown(name) => (b"&", name, b";"),
            };
            for piece in [head, name, tail] {
                self.capture.push(piece);
            }
        }
        Some(n)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::predefined;

    /// `predefined` is the byte patterns it replaced: each entity with its `;`, nothing
    /// else (a byte changed anywhere, or cut short).
    #[test]
    fn predefined_is_each_entity_with_its_semicolon() {
        let plain = |s: &[u8]| match s {
            [b'q', b'u', b'o', b't', b';', ..] | [b'a', b'p', b'o', b's', b';', ..] => Some(4),
            [b'a', b'm', b'p', b';', ..] => Some(3),
            [b'l' | b'g', b't', b';', ..] => Some(2),
            _ => None,
        };
        for entity in [
            &b"quot;x"[..],
            b"apos;",
            b"amp;<",
            b"lt;ab",
            b"gt;  ",
            b"ltx;a",
        ] {
            assert_eq!(predefined(entity), plain(entity), "{entity:?}");
            for at in 0..entity.len() {
                for b in [0u8, b';', b'q', b'x', 0x80, 0xFF] {
                    let mut s = entity.to_vec();
                    s[at] = b;
                    assert_eq!(predefined(&s), plain(&s), "{s:?}");
                }
            }
        }
        // Cut short: `lt;` alone is left to the full path (which decodes it the same).
        for s in [&b"quot"[..], b"amp", b"gt", b""] {
            assert_eq!(predefined(s), None, "{s:?}");
        }
    }
}
