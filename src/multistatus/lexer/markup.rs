//! Markup declarations: `<!` (comments, CDATA sections, the DOCTYPE, skipped and never
//! processed) and processing instructions.

use memchr::memchr;

use super::bytes::{advance, is_name_byte, is_name_start, is_ws};
use super::state::{Bang, Dtd, Root, State};
use super::{Lexer, Rest};
use crate::multistatus::report::Malformed;

impl Lexer {
    /// `State::Bang`: after `<!`, telling a comment, CDATA and a DOCTYPE apart.
    pub(super) fn bang<'a>(
        &mut self,
        kind: Bang,
        matched: u8,
        b: u8,
        mut rest: &'a [u8],
    ) -> Rest<'a> {
        let kind = match kind {
            Bang::Unknown => match b {
                b'-' => Bang::Comment,
                b'[' => Bang::Cdata,
                b'D' => Bang::Doctype,
                _ => return Err(self.fail(self.mark, "invalid markup after '<!'")),
            },
            known => known,
        };
        let pattern = kind.pattern();
        if pattern.get(usize::from(matched)) != Some(&b) {
            return Err(self.fail(self.mark, "invalid markup after '<!'"));
        }
        rest = advance(rest, 1);
        let matched = matched.saturating_add(1);
        if usize::from(matched) < pattern.len() {
            self.state = State::Bang { kind, matched };
            return Ok(rest);
        }
        self.state = match kind {
            Bang::Comment | Bang::Unknown => State::Comment { dashes: 0 },
            Bang::Cdata => {
                if self.frames.is_empty() {
                    return Err(self.fail(self.mark, "CDATA outside the root element"));
                }
                State::Cdata { brackets: 0 }
            }
            Bang::Doctype => {
                if self.root != Root::NotYet || self.doctype_seen {
                    return Err(self.fail(self.mark, "DOCTYPE not allowed here"));
                }
                self.doctype_seen = true;
                State::Doctype(Dtd::Keyword)
            }
        };
        Ok(rest)
    }

    /// `State::Comment`: up to `-->`; `--` inside is an error.
    pub(super) fn comment<'a>(&mut self, dashes: u8, b: u8, mut rest: &'a [u8]) -> Rest<'a> {
        if dashes == 0 {
            match memchr(b'-', rest) {
                None => rest = &[],
                Some(i) => {
                    rest = advance(rest, i.saturating_add(1));
                    self.state = State::Comment { dashes: 1 };
                }
            }
            return Ok(rest);
        }
        rest = advance(rest, 1);
        self.state = match (dashes, b) {
            (1, b'-') => State::Comment { dashes: 2 },
            (1, _) => State::Comment { dashes: 0 },
            (_, b'>') => State::Text,
            _ => return Err(self.fail(self.mark, "'--' inside a comment")),
        };
        Ok(rest)
    }

    /// `State::Cdata`: up to `]]>`, its text captured.
    pub(super) fn cdata<'a>(&mut self, brackets: u8, b: u8, mut rest: &'a [u8]) -> Rest<'a> {
        if brackets == 0 {
            let found = memchr(b']', rest);
            let (text, tail) = rest
                .split_at_checked(found.unwrap_or(rest.len()))
                .unwrap_or((rest, &[]));
            self.capture.push(text);
            if !tail.is_empty() {
                self.state = State::Cdata { brackets: 1 };
            }
            rest = advance(tail, 1);
            return Ok(rest);
        }
        match b {
            b']' => {
                rest = advance(rest, 1);
                if brackets >= 2 {
                    self.capture.push(b"]");
                }
                self.state = State::Cdata { brackets: 2 };
            }
            b'>' if brackets >= 2 => {
                rest = advance(rest, 1);
                self.state = State::Text;
            }
            _ => {
                // Not the end: the brackets were text; `b` is looked at again.
                let held: &[u8] = if brackets >= 2 { b"]]" } else { b"]" };
                self.capture.push(held);
                self.state = State::Cdata { brackets: 0 };
            }
        }
        Ok(rest)
    }

    /// Skips a DOCTYPE byte by byte (they are short; a long one costs time, not memory).
    pub(super) fn doctype<'a>(
        &mut self,
        mut dtd: Dtd,
        mut rest: &'a [u8],
    ) -> Result<&'a [u8], Malformed> {
        while let Some(&b) = rest.first() {
            let mut consume = true;
            dtd = match dtd {
                Dtd::Keyword if is_ws(b) => Dtd::Outer { quote: 0 },
                Dtd::Keyword => return Err(self.fail(self.mark, "invalid DOCTYPE")),
                Dtd::Outer { quote } if quote != 0 => Dtd::Outer {
                    quote: if b == quote { 0 } else { quote },
                },
                Dtd::Outer { .. } => match b {
                    b'"' | b'\'' => Dtd::Outer { quote: b },
                    b'[' => Dtd::Subset { quote: 0 },
                    b'>' => {
                        self.state = State::Text;
                        return Ok(advance(rest, 1));
                    }
                    b'<' => return Err(self.fail(self.mark, "invalid DOCTYPE")),
                    _ => Dtd::Outer { quote: 0 },
                },
                Dtd::Subset { quote } if quote != 0 => Dtd::Subset {
                    quote: if b == quote { 0 } else { quote },
                },
                Dtd::Subset { .. } => match b {
                    b'"' | b'\'' => Dtd::Subset { quote: b },
                    b'%' => {
                        // A parameter-entity reference may pull in any declaration.
                        self.dtd_declares = true;
                        Dtd::Subset { quote: 0 }
                    }
                    b'<' => Dtd::SubLt,
                    b']' => Dtd::After,
                    _ => Dtd::Subset { quote: 0 },
                },
                Dtd::SubLt => match b {
                    b'!' => Dtd::SubBang,
                    b'?' => Dtd::SubPi { question: false },
                    _ => {
                        consume = false;
                        Dtd::Subset { quote: 0 }
                    }
                },
                Dtd::SubBang if b == b'-' => Dtd::SubDash,
                Dtd::SubBang if b == b'E' => Dtd::SubE,
                Dtd::SubBang if b == b'A' => {
                    // `<!ATTLIST`: attribute defaults (`xmlns` among them) change elements.
                    self.dtd_declares = true;
                    Dtd::Subset { quote: 0 }
                }
                Dtd::SubE => {
                    // `<!EN`TITY: an entity can hold a whole `<response>`; `<!EL`EMENT is
                    // harmless.
                    if b == b'N' {
                        self.dtd_declares = true;
                    }
                    consume = false;
                    Dtd::Subset { quote: 0 }
                }
                Dtd::SubDash if b == b'-' => Dtd::SubComment { dashes: 0 },
                Dtd::SubBang | Dtd::SubDash => {
                    consume = false;
                    Dtd::Subset { quote: 0 }
                }
                Dtd::SubComment { dashes } => match (dashes, b) {
                    (0, b'-') => Dtd::SubComment { dashes: 1 },
                    (0, _) => Dtd::SubComment { dashes: 0 },
                    (1, b'-') => Dtd::SubComment { dashes: 2 },
                    (1, _) => Dtd::SubComment { dashes: 0 },
                    (_, b'>') => Dtd::Subset { quote: 0 },
                    _ => return Err(self.fail(self.mark, "'--' inside a comment")),
                },
                Dtd::SubPi { question } => match b {
                    b'>' if question => Dtd::Subset { quote: 0 },
                    b'?' => Dtd::SubPi { question: true },
                    _ => Dtd::SubPi { question: false },
                },
                Dtd::After if is_ws(b) => Dtd::After,
                Dtd::After if b == b'>' => {
                    self.state = State::Text;
                    return Ok(advance(rest, 1));
                }
                Dtd::After => return Err(self.fail(self.mark, "invalid DOCTYPE")),
            };
            if consume {
                rest = advance(rest, 1);
            }
        }
        self.state = State::Doctype(dtd);
        Ok(rest)
    }

    /// `State::PiTarget`: a processing-instruction target (`xml` only at the start), a Name
    /// followed by whitespace or `?>`.
    pub(super) fn pi_target<'a>(&mut self, b: u8, mut rest: &'a [u8]) -> Rest<'a> {
        if self.pi_len == 0 && !is_name_start(b) {
            return Err(self.fail(self.mark, "invalid processing instruction target"));
        }
        let n = rest
            .iter()
            .position(|&b| !is_name_byte(b))
            .unwrap_or(rest.len());
        let (name, tail) = rest.split_at_checked(n).unwrap_or((rest, &[]));
        for &c in name {
            if let Some(slot) = self.pi.get_mut(self.pi_len) {
                *slot = c.to_ascii_lowercase();
            }
            self.pi_len = self.pi_len.saturating_add(1);
        }
        rest = tail;
        let Some(&t) = rest.first() else {
            return Ok(rest);
        };
        if !is_ws(t) && t != b'?' {
            return Err(self.fail(self.mark, "invalid processing instruction target"));
        }
        if self.pi_len == 3 && &self.pi == b"xml" && self.mark != 0 {
            return Err(self.fail(self.mark, "XML declaration not at the start"));
        }
        rest = advance(rest, 1);
        self.state = if t == b'?' {
            State::PiTargetEnd
        } else {
            State::Pi { question: false }
        };
        Ok(rest)
    }

    /// `State::PiTargetEnd`: a target followed by `?` must end there (`?>`, XML 1.0 §2.6):
    /// `<?a?x?>` is not a PI with target `a`.
    pub(super) fn pi_target_end<'a>(&mut self, b: u8, rest: &'a [u8]) -> Rest<'a> {
        if b != b'>' {
            return Err(self.fail(self.mark, "invalid processing instruction target"));
        }
        self.state = State::Text;
        Ok(advance(rest, 1))
    }

    /// `State::Pi`: up to `?>`.
    pub(super) fn pi<'a>(&mut self, question: bool, b: u8, mut rest: &'a [u8]) -> Rest<'a> {
        if question {
            rest = advance(rest, 1);
            self.state = match b {
                b'>' => State::Text,
                b'?' => State::Pi { question: true },
                _ => State::Pi { question: false },
            };
            return Ok(rest);
        }
        match memchr(b'?', rest) {
            None => rest = &[],
            Some(i) => {
                rest = advance(rest, i.saturating_add(1));
                self.state = State::Pi { question: true };
            }
        }
        Ok(rest)
    }
}
