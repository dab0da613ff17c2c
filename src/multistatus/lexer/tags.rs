//! Tags: start-tag names and attributes (checked on the audited path, only scanned for
//! quotes and `>` in skipped subtrees) and end tags matched against the open element.

use memchr::{memchr, memchr3};

use super::bytes::{advance, is_name_byte, is_name_start, is_ws, name_len};
use super::roles::Role;
use super::state::{Bang, Root, State};
use super::{Lexer, Rest, Sink};
use crate::multistatus::limits::{MAX_NAME, NAMES_BUDGET, push_capped};
use crate::multistatus::report::{Limit, Malformed};

impl Lexer {
    /// `State::Lt`: the byte after `<` says what markup begins.
    pub(super) fn lt<'a>(&mut self, b: u8, mut rest: &'a [u8]) -> Rest<'a> {
        match b {
            b'/' => {
                if self.frames.is_empty() {
                    return Err(self.fail(self.mark, "end tag without a start tag"));
                }
                rest = advance(rest, 1);
                self.state = if self.deep > 0 {
                    State::EndDeep { named: false }
                } else {
                    State::EndName { matched: 0 }
                };
            }
            b'!' => {
                rest = advance(rest, 1);
                self.state = State::Bang {
                    kind: Bang::Unknown,
                    matched: 0,
                };
            }
            b'?' => {
                rest = advance(rest, 1);
                self.pi_len = 0;
                self.state = State::PiTarget;
            }
            _ if is_name_start(b) => {
                if self.root == Root::Done {
                    return Err(self.fail(self.mark, "content after the root element"));
                }
                self.forget_hint();
                self.pending = self.names.len();
                self.resolve = self
                    .frames
                    .last()
                    .is_none_or(|f| f.role.resolves_children());
                // A child of `DAV:prop` is resolved only to name the property: past the
                // bounds it is skipped like any property value, never `over_limit`.
                let soft = self
                    .frames
                    .last()
                    .is_some_and(|f| matches!(f.role, Role::Prop));
                if self.deep > 0 || (self.frames.len() >= self.max_depth && (!self.resolve || soft))
                {
                    // Skipped content past the name stack: count it, do not name it.
                    self.unnamed = true;
                    self.resolve = false;
                } else if self.frames.len() >= self.max_depth {
                    return Err(self.over(self.mark, Limit::MaxDepth, "too deep"));
                }
                self.state = State::StartName;
            }
            _ => return Err(self.fail(self.mark, "invalid character after '<'")),
        }
        Ok(rest)
    }

    /// `State::StartName`: reading a start-tag name.
    pub(super) fn start_name<'a, S: Sink>(&mut self, mut rest: &'a [u8], sink: &mut S) -> Rest<'a> {
        let n = rest
            .iter()
            .position(|&b| !is_name_byte(b))
            .unwrap_or(rest.len());
        let (name, tail) = rest.split_at_checked(n).unwrap_or((rest, &[]));
        if !self.unnamed {
            if self.names.len().saturating_add(n) <= NAMES_BUDGET {
                self.names.extend_from_slice(name);
            } else if !self.resolve
                || self
                    .frames
                    .last()
                    .is_some_and(|f| matches!(f.role, Role::Prop))
            {
                // A skipped element (or a property name): count it instead of naming it.
                self.names.truncate(self.pending);
                self.unnamed = true;
                self.resolve = false;
            } else {
                return Err(self.over(self.mark, Limit::NameLength, "name too long"));
            }
        }
        rest = tail;
        let Some(&t) = rest.first() else {
            return Ok(rest);
        };
        rest = advance(rest, 1);
        match t {
            b'>' => self.start_tag(false, sink)?,
            b'/' => self.state = State::EmptyEnd,
            _ if is_ws(t) => {
                self.state = if self.resolve {
                    State::Attrs { ws: true }
                } else {
                    State::SkipTag {
                        quote: 0,
                        slash: false,
                    }
                };
            }
            _ => return Err(self.fail(self.mark, "invalid character in element name")),
        }
        Ok(rest)
    }

    /// `State::SkipTag`: a start tag in a skipped subtree, scanned for `>` outside quotes.
    pub(super) fn skip_tag<'a, S: Sink>(
        &mut self,
        quote: u8,
        slash: bool,
        mut rest: &'a [u8],
        sink: &mut S,
    ) -> Rest<'a> {
        if quote != 0 {
            let found = memchr(quote, rest);
            let scanned = rest.get(..found.unwrap_or(rest.len())).unwrap_or_default();
            if memchr(b'<', scanned).is_some() {
                return Err(self.fail(self.mark, "'<' in attribute value"));
            }
            match found {
                None => rest = &[],
                Some(i) => {
                    rest = advance(rest, i.saturating_add(1));
                    self.state = State::SkipTag {
                        quote: 0,
                        slash: false,
                    };
                }
            }
            return Ok(rest);
        }
        let found = memchr3(b'>', b'"', b'\'', rest);
        let scanned = rest.get(..found.unwrap_or(rest.len())).unwrap_or_default();
        if memchr(b'<', scanned).is_some() {
            return Err(self.fail(self.mark, "'<' inside a tag"));
        }
        let slash = match scanned.last() {
            Some(&last) => last == b'/',
            None => slash,
        };
        match found {
            None => {
                rest = &[];
                self.state = State::SkipTag { quote: 0, slash };
            }
            Some(i) => {
                let t = rest.get(i).copied().unwrap_or(b'>');
                rest = advance(rest, i.saturating_add(1));
                if t == b'>' {
                    self.start_tag(slash, sink)?;
                } else {
                    self.state = State::SkipTag {
                        quote: t,
                        slash: false,
                    };
                }
            }
        }
        Ok(rest)
    }

    /// `State::Attrs`: between attributes of a start tag on the audited path.
    pub(super) fn attrs<'a, S: Sink>(
        &mut self,
        ws: bool,
        b: u8,
        mut rest: &'a [u8],
        sink: &mut S,
    ) -> Rest<'a> {
        if is_ws(b) {
            rest = advance(rest, 1);
            self.state = State::Attrs { ws: true };
        } else if b == b'>' {
            rest = advance(rest, 1);
            self.start_tag(false, sink)?;
        } else if b == b'/' {
            rest = advance(rest, 1);
            self.state = State::EmptyEnd;
        } else if is_name_start(b) {
            if !ws {
                return Err(self.fail(self.mark, "missing whitespace before attribute"));
            }
            self.attr.clear();
            self.attr_long = false;
            self.state = State::AttrName;
        } else {
            return Err(self.fail(self.mark, "invalid character in tag"));
        }
        Ok(rest)
    }

    /// `State::AttrName`: reading an attribute name.
    pub(super) fn attr_name<'a>(&mut self, mut rest: &'a [u8]) -> Rest<'a> {
        let n = rest
            .iter()
            .position(|&b| !is_name_byte(b))
            .unwrap_or(rest.len());
        let (name, tail) = rest.split_at_checked(n).unwrap_or((rest, &[]));
        if !push_capped(&mut self.attr, name, MAX_NAME) {
            self.attr_long = true;
        }
        rest = tail;
        let Some(&t) = rest.first() else {
            return Ok(rest);
        };
        rest = advance(rest, 1);
        if t == b'=' {
            self.attribute_named()?;
            self.state = State::AttrQuote;
        } else if is_ws(t) {
            self.attribute_named()?;
            self.state = State::AttrEq;
        } else {
            return Err(self.fail(self.mark, "invalid character in attribute name"));
        }
        Ok(rest)
    }

    /// `State::AttrEq`: whitespace before `=`.
    pub(super) fn attr_eq<'a>(&mut self, b: u8, mut rest: &'a [u8]) -> Rest<'a> {
        rest = advance(rest, 1);
        if b == b'=' {
            self.state = State::AttrQuote;
        } else if !is_ws(b) {
            return Err(self.fail(self.mark, "expected '=' after attribute name"));
        }
        Ok(rest)
    }

    /// `State::AttrQuote`: whitespace before the opening quote.
    pub(super) fn attr_quote<'a>(&mut self, b: u8, mut rest: &'a [u8]) -> Rest<'a> {
        rest = advance(rest, 1);
        if b == b'"' || b == b'\'' {
            self.state = State::AttrValue { quote: b };
        } else if !is_ws(b) {
            return Err(self.fail(self.mark, "expected a quoted attribute value"));
        }
        Ok(rest)
    }

    /// `State::AttrValue`: an attribute value up to its closing quote.
    pub(super) fn attr_value<'a>(&mut self, quote: u8, mut rest: &'a [u8]) -> Rest<'a> {
        let found = memchr3(quote, b'&', b'<', rest);
        let (value, tail) = rest
            .split_at_checked(found.unwrap_or(rest.len()))
            .unwrap_or((rest, &[]));
        if self.declaring {
            let cap = self.uri_cap();
            push_capped(&mut self.ns, value, cap);
        }
        rest = advance(tail, 1);
        match tail.first() {
            None => {}
            Some(b'&') => {
                self.refname.clear();
                self.state = State::AttrRef { quote };
            }
            Some(b'<') => return Err(self.fail(self.mark, "'<' in attribute value")),
            Some(_) => {
                self.attribute_done();
                self.state = State::Attrs { ws: false };
            }
        }
        Ok(rest)
    }

    /// `State::EmptyEnd`: the `>` after `/` in a start tag.
    pub(super) fn empty_end<'a, S: Sink>(
        &mut self,
        b: u8,
        mut rest: &'a [u8],
        sink: &mut S,
    ) -> Rest<'a> {
        if b != b'>' {
            return Err(self.fail(self.mark, "expected '>' after '/'"));
        }
        rest = advance(rest, 1);
        self.start_tag(true, sink)?;
        Ok(rest)
    }

    /// `State::EndName`: an end-tag name matched against the open element.
    pub(super) fn end_name<'a, S: Sink>(
        &mut self,
        matched: usize,
        mut rest: &'a [u8],
        sink: &mut S,
    ) -> Rest<'a> {
        let start = self.frames.last().map_or(0, |f| f.name as usize);
        let expected = self.names.get(start..).unwrap_or_default();
        // Fast path: the whole name and the '>' are in this chunk.
        if self.fast
            && matched == 0
            && let Some(after) = rest.strip_prefix(expected)
            && after.first() == Some(&b'>')
        {
            rest = advance(after, 1);
            self.end_tag(sink);
            return Ok(rest);
        }
        let mut matched = matched;
        loop {
            let Some(&c) = rest.first() else {
                self.state = State::EndName { matched };
                break;
            };
            if let Some(&e) = expected.get(matched) {
                if c != e {
                    return Err(self.fail(self.mark, "end tag does not match the open element"));
                }
                matched = matched.saturating_add(1);
                rest = advance(rest, 1);
            } else if c == b'>' {
                rest = advance(rest, 1);
                self.end_tag(sink);
                break;
            } else if is_ws(c) {
                rest = advance(rest, 1);
                self.state = State::EndTail;
                break;
            } else {
                return Err(self.fail(self.mark, "end tag does not match the open element"));
            }
        }
        Ok(rest)
    }

    /// `State::EndDeep`: an end tag past the name stack, read and not matched.
    pub(super) fn end_deep<'a, S: Sink>(
        &mut self,
        named: bool,
        b: u8,
        mut rest: &'a [u8],
        sink: &mut S,
    ) -> Rest<'a> {
        if !named && !is_name_start(b) {
            return Err(self.fail(self.mark, "invalid end tag"));
        }
        let n = rest
            .iter()
            .position(|&b| !is_name_byte(b))
            .unwrap_or(rest.len());
        rest = advance(rest, n);
        let Some(&t) = rest.first() else {
            self.state = State::EndDeep { named: true };
            return Ok(rest);
        };
        rest = advance(rest, 1);
        if t == b'>' {
            self.end_tag(sink);
        } else if is_ws(t) {
            self.state = State::EndTail;
        } else {
            return Err(self.fail(self.mark, "invalid end tag"));
        }
        Ok(rest)
    }

    /// `State::EndTail`: whitespace before the `>` of an end tag.
    pub(super) fn end_tail<'a, S: Sink>(
        &mut self,
        b: u8,
        mut rest: &'a [u8],
        sink: &mut S,
    ) -> Rest<'a> {
        rest = advance(rest, 1);
        if b == b'>' {
            self.end_tag(sink);
        } else if !is_ws(b) {
            return Err(self.fail(self.mark, "invalid end tag"));
        }
        Ok(rest)
    }

    /// The fast path's read of a start tag's attributes on the audited path, all in `tail`
    /// (from the whitespace after the name): what `Attrs` .. `AttrValue` would do, in one
    /// go. Returns the bytes read through the `>` and whether the tag is empty; `None`
    /// leaves the tag to the state machine (anything unusual: a reference in a value,
    /// whitespace around `=`, a tag cut by the chunk's end), with nothing done. Errors
    /// (a bad declaration) are those the state machine gives, at `mark`.
    pub(super) fn skim_attrs(&mut self, tail: &[u8]) -> Option<Result<(usize, bool), Malformed>> {
        if let Some(read) = self.replay_attrs(tail) {
            return Some(Ok(read));
        }
        let (spans, count, end, empty) = scan_attrs(tail)?;
        let scope = self.declaration_scope();
        for &(name, value) in spans.get(..count).unwrap_or_default() {
            let name = tail.get(name.0..name.1).unwrap_or_default();
            let value = tail.get(value.0..value.1).unwrap_or_default();
            self.attr.clear();
            self.attr.extend_from_slice(name);
            self.attr_long = false;
            if let Err(e) = self.attribute_named() {
                return Some(Err(e));
            }
            if self.declaring {
                let cap = self.uri_cap();
                push_capped(&mut self.ns, value, cap);
            }
            self.attribute_done();
        }
        self.replay_record(tail.get(..end).unwrap_or_default(), empty, scope);
        Some(Ok((end, empty)))
    }
}

/// Attributes a start tag may have for `Lexer::skim_attrs`.
const FAST_ATTRS: usize = 8;

type Span = (usize, usize);

/// The attributes of a start tag in `tail` (from the whitespace after its name): name and
/// value spans, their count, the length through the `>` and whether the tag is empty.
/// `None` for anything but `name="value"` pairs (no reference, no `<`) separated by
/// whitespace, up to `FAST_ATTRS` of them, then `>` or `/>`, all in `tail`.
#[allow(clippy::type_complexity)]
fn scan_attrs(tail: &[u8]) -> Option<([(Span, Span); FAST_ATTRS], usize, usize, bool)> {
    let mut spans = [((0, 0), (0, 0)); FAST_ATTRS];
    let mut count = 0usize;
    let mut p = 0usize;
    loop {
        let ws = tail.get(p..)?.iter().position(|&b| !is_ws(b))?;
        p = p.checked_add(ws)?;
        match *tail.get(p)? {
            b'>' => return Some((spans, count, p.checked_add(1)?, false)),
            b'/' => {
                return (*tail.get(p.checked_add(1)?)? == b'>').then_some((
                    spans,
                    count,
                    p.checked_add(2)?,
                    true,
                ));
            }
            c if is_name_start(c) && ws > 0 => {
                let n = name_len(tail.get(p..)?);
                if n >= MAX_NAME {
                    return None;
                }
                let eq = p.checked_add(n)?;
                if *tail.get(eq)? != b'=' {
                    return None;
                }
                let quote = *tail.get(eq.checked_add(1)?)?;
                if quote != b'"' && quote != b'\'' {
                    return None;
                }
                let start = eq.checked_add(2)?;
                let len = memchr3(quote, b'&', b'<', tail.get(start..)?)?;
                let close = start.checked_add(len)?;
                if *tail.get(close)? != quote {
                    return None;
                }
                *spans.get_mut(count)? = ((p, eq), (start, close));
                count = count.checked_add(1)?;
                p = close.checked_add(1)?;
            }
            _ => return None,
        }
    }
}
