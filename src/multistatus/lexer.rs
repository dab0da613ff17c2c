//! The XML lexer: a resumable byte-level state machine over UTF-8, fed chunks split anywhere,
//! that checks well-formedness and reports only the elements the audit needs.
//!
//! It owns the element stack (names, to match end tags, and [`Role`]s), the namespace
//! declarations on the audited path, and the text captured for the few elements whose text
//! matters. It resolves namespaces only where an audited element can appear:
//! the root, the children of `DAV:multistatus`, `DAV:response`, `DAV:propstat`, and the first
//! child of `DAV:error`. Everything else (the bulk of a PROPFIND body: property values inside
//! `DAV:prop`) is a *skipped subtree*: its text runs are passed over with `memchr`, its tags
//! are only named and matched, its attributes are only scanned for quotes and `>`.
//!
//! Checked everywhere: tag nesting and end-tag names, comments (`--` inside), CDATA sections
//! (inside the root only), processing instructions (an XML declaration only at the start),
//! one DOCTYPE before the root (skipped, never processed: no entity is ever expanded), text
//! outside the root (whitespace only), reference syntax (`&name;`, `&#N;`, `&#xH;` naming a
//! legal character), `<` inside tags and attribute values, depth and name length.
//! Checked on the audited path only: attribute syntax and namespace prefixes (an unbound
//! prefix is malformed). Not checked: duplicate attributes, control characters, `]]>` in
//! text, Unicode name character classes (any non-ASCII byte is a name byte).
//!
//! References: the five predefined entities and character references are decoded in kept
//! text; any other well-formed `&name;` (declared in a skipped DOCTYPE or not) is kept raw,
//! as written, never expanded and never an error.
//!
//! Errors carry the offset of the `<` or `&` that began the markup in which they were found
//! (or the end of the body), so the same input gives the same error whatever its split.

use memchr::{memchr, memchr2, memchr3};

use super::limits::{
    Limits, MAX_BINDINGS, MAX_NAME, MAX_NS_URI, MAX_REF, MAX_STATUS, NAMES_BUDGET, NS_BUDGET,
    push_capped,
};
use super::report::{Level, Limit, Malformed};

/// What an open element is to the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The root, `DAV:multistatus`.
    Multistatus,
    /// A root element that is not `DAV:multistatus`: the body is `not_multistatus`.
    Foreign,
    /// `DAV:multistatus/DAV:response`: one entry.
    Response,
    /// `DAV:response/DAV:href`.
    Href,
    /// `DAV:response/DAV:status` or `DAV:propstat/DAV:status`.
    Status(Level),
    /// `DAV:response/DAV:propstat`.
    Propstat,
    /// `DAV:error` of a response or a propstat; `seen` once its first child was reported.
    Error { owner: Level, seen: bool },
    /// `DAV:responsedescription` of a response or a propstat.
    Description(Level),
    /// Anything else: its subtree is skipped.
    Skip,
}

impl Role {
    /// Children of this element may be audited elements: resolve their namespaces.
    fn resolves_children(self) -> bool {
        matches!(
            self,
            Role::Multistatus | Role::Response | Role::Propstat | Role::Error { seen: false, .. }
        )
    }

    fn captures(self) -> Option<bool> {
        match self {
            Role::Status(_) => Some(true),
            Role::Href | Role::Description(_) => Some(false),
            _ => None,
        }
    }
}

/// Where the lexer reports audited elements.
pub(crate) trait Sink {
    /// An audited element started (never called for [`Role::Skip`]).
    fn start(&mut self, role: Role);
    /// An audited element ended; `text` is its captured text for href, status and
    /// description (whitespace-trimmed at the start, capped), else empty.
    fn end(&mut self, role: Role, text: &[u8]);
    /// The first child of a `DAV:error`, formatted `DAV:name` or `{ns}name`.
    fn error_child(&mut self, owner: Level, name: &str);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bang {
    Unknown,
    Comment,
    Cdata,
    Doctype,
}

impl Bang {
    fn pattern(self) -> &'static [u8] {
        match self {
            Bang::Unknown => b"",
            Bang::Comment => b"--",
            Bang::Cdata => b"[CDATA[",
            Bang::Doctype => b"DOCTYPE",
        }
    }
}

/// Inside `<!DOCTYPE ...>`: skipped, with enough structure to find its real end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtd {
    Keyword,
    Outer {
        quote: u8,
    },
    Subset {
        quote: u8,
    },
    SubLt,
    SubBang,
    /// After `<!E` in the internal subset: `ENTITY` or `ELEMENT`.
    SubE,
    SubDash,
    SubComment {
        dashes: u8,
    },
    SubPi {
        question: bool,
    },
    After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Character data (or whitespace outside the root).
    Text,
    /// After `&` in text, reading the reference name.
    Ref,
    /// After `<`.
    Lt,
    /// Reading a start-tag name.
    StartName,
    /// In a start tag on the audited path, between attributes; `ws` once whitespace was seen.
    Attrs {
        ws: bool,
    },
    AttrName,
    AttrEq,
    AttrQuote,
    AttrValue {
        quote: u8,
    },
    AttrRef {
        quote: u8,
    },
    /// In a start tag of a skipped subtree: scanning for `>` outside quotes.
    SkipTag {
        quote: u8,
        slash: bool,
    },
    /// After `/` in a start tag.
    EmptyEnd,
    /// Matching an end-tag name against the open element.
    EndName {
        matched: usize,
    },
    EndTail,
    /// An end tag inside content deeper than the name stack: its name is read, not matched.
    EndDeep {
        named: bool,
    },
    Bang {
        kind: Bang,
        matched: u8,
    },
    Comment {
        dashes: u8,
    },
    Cdata {
        brackets: u8,
    },
    Doctype(Dtd),
    PiTarget,
    Pi {
        question: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    NotYet,
    Open,
    Done,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Start of the element's name in `Lexer::names`.
    name: u32,
    role: Role,
}

/// One `xmlns[:prefix]` declaration in scope; its prefix is `ns[prefix..uri]` and its URI
/// `ns[uri..end]`.
#[derive(Debug, Clone, Copy)]
struct Binding {
    /// Unique per declaration read (see `Memo`).
    serial: u64,
    depth: usize,
    prefix: u32,
    uri: u32,
    end: u32,
    dav: bool,
}

/// Longest qualified name whose role is memoised.
const MEMO_NAME: usize = 24;
/// Memo slots (a power of two).
const MEMO_SLOTS: usize = 32;

/// A role resolved before: children of `DAV:multistatus`, `DAV:response` and
/// `DAV:propstat` repeat the same few names, so their namespace resolution and role are
/// looked up by (parent, qualified name). A memo holds while the declaration its prefix
/// resolved to is still in scope (same `serial` at the same index) and no declaration since
/// re-bound a prefix already in scope (same `shadow`): then the prefix still resolves to it.
#[derive(Debug, Clone, Copy)]
struct Memo {
    /// Index in `Lexer::bindings` of the declaration the prefix resolved to.
    binding: u32,
    /// Its `Binding::serial`; 0 matches no declaration.
    serial: u64,
    /// `Lexer::shadow` when stored.
    shadow: u64,
    parent: u8,
    len: u8,
    name: [u8; MEMO_NAME],
    role: Role,
}

const NO_MEMO: Memo = Memo {
    binding: 0,
    serial: 0,
    shadow: 0,
    parent: 0,
    len: 0,
    name: [0; MEMO_NAME],
    role: Role::Skip,
};

/// The memo key of a parent whose children's roles may be memoised.
fn memo_parent(parent: Option<Role>) -> Option<u8> {
    match parent {
        Some(Role::Multistatus) => Some(1),
        Some(Role::Response) => Some(2),
        Some(Role::Propstat) => Some(3),
        _ => None,
    }
}

fn memo_slot(parent: u8, qname: &[u8]) -> usize {
    // Collision-free on the audited names under the usual prefixes (`d:`, `D:`, `lp1:`,
    // none, ...).
    let last = usize::from(qname.last().copied().unwrap_or(0));
    last.wrapping_add(qname.len())
        .wrapping_add(usize::from(parent).wrapping_mul(4))
        & MEMO_SLOTS.wrapping_sub(1)
}

/// A qualified name resolved against the declarations in scope.
struct Resolved<'a> {
    dav: bool,
    uri: &'a [u8],
    /// Where the local name starts in the qualified name.
    local_at: usize,
    /// Index in `Lexer::bindings` of the declaration used, if any.
    binding: Option<usize>,
}

/// The text of the href, status or description being read.
#[derive(Debug, Default)]
struct Capture {
    /// Depth of the captured element; 0 when nothing is captured.
    depth: usize,
    /// Status mode: whitespace runs collapse to one space, capped at `MAX_STATUS`.
    status: bool,
    /// A whitespace run is pending (status mode).
    space: bool,
    cap: usize,
    buf: Vec<u8>,
}

impl Capture {
    #[inline]
    fn push(&mut self, bytes: &[u8]) {
        if self.depth != 0 && !bytes.is_empty() {
            self.push_kept(bytes);
        }
    }

    fn push_kept(&mut self, bytes: &[u8]) {
        if self.status {
            // Byte by byte this is: stop once `cap` bytes are kept; whitespace sets `space`
            // when something was kept; any other byte is kept after a pending space. Here
            // whole runs at a time.
            let mut rest = bytes;
            while let Some(&b) = rest.first() {
                if self.buf.len() >= self.cap {
                    return;
                }
                if is_ws(b) {
                    let n = rest.iter().position(|&b| !is_ws(b)).unwrap_or(rest.len());
                    self.space = !self.buf.is_empty();
                    rest = advance(rest, n);
                    continue;
                }
                if self.space {
                    self.buf.push(b' ');
                    self.buf.push(b);
                    self.space = false;
                    rest = advance(rest, 1);
                }
                let n = rest.iter().position(|&b| is_ws(b)).unwrap_or(rest.len());
                let n = n.min(self.cap.saturating_sub(self.buf.len()));
                let (run, tail) = rest.split_at_checked(n).unwrap_or((rest, &[]));
                self.buf.extend_from_slice(run);
                rest = tail;
            }
        } else {
            let bytes = if self.buf.is_empty() {
                bytes.trim_ascii_start()
            } else {
                bytes
            };
            push_capped(&mut self.buf, bytes, self.cap);
        }
    }
}

/// A decoded reference.
enum Reference<'a> {
    Char(char),
    /// An entity other than the five predefined ones: kept as written.
    Unknown(&'a [u8]),
}

fn decode_reference(name: &[u8]) -> Result<Reference<'_>, &'static str> {
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

/// An unbound prefix is tolerated (issue 14 item 2) on an element the audit never counts:
/// anything but the root and the local names the audit counts at that position
/// (`response` in a multistatus; `href`, `status`, `propstat`, `error`,
/// `responsedescription` in a response; `status`, `error`, `responsedescription` in a
/// propstat). There it stays an error: the audit cannot tell whether it is a DAV: element.
fn unbound_is_tolerated(reason: &str, parent: Option<Role>, qname: &[u8]) -> bool {
    if reason != UNBOUND {
        return false;
    }
    let local = qname
        .iter()
        .position(|&b| b == b':')
        .and_then(|i| qname.get(i.saturating_add(1)..))
        .unwrap_or(qname);
    let counted: &[&[u8]] = match parent {
        None => return false,
        Some(Role::Multistatus) => &[b"response"],
        Some(Role::Response) => &[
            b"href",
            b"status",
            b"propstat",
            b"error",
            b"responsedescription",
        ],
        Some(Role::Propstat) => &[b"status", b"error", b"responsedescription"],
        Some(_) => &[],
    };
    !counted.contains(&local)
}

const UNBOUND: &str = "unbound namespace prefix";

/// Byte equality without a `memcmp` call: names are short.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ca).zip(&mut cb) {
        let word = |c: &[u8]| c.try_into().map_or(0, u64::from_ne_bytes);
        if word(x) != word(y) {
            return false;
        }
    }
    ca.remainder()
        .iter()
        .zip(cb.remainder())
        .all(|(x, y)| x == y)
}

/// The first `<` or `&`: a word-at-a-time look at the first 32 bytes first, as most text
/// runs between tags are a newline or a short value, then `memchr2`.
#[inline(always)]
fn find_markup(s: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const LT: u64 = 0x3C3C_3C3C_3C3C_3C3C;
    const AMP: u64 = 0x2626_2626_2626_2626;
    let mut at = 0usize;
    let mut words = s.chunks_exact(8);
    for chunk in (&mut words).take(4) {
        let w = chunk.try_into().map_or(0, u64::from_le_bytes);
        let lt = w ^ LT;
        let amp = w ^ AMP;
        // A zero byte in `lt` or `amp` marks a match (exact for the lowest match).
        let hit = (lt.wrapping_sub(LO) & !lt | amp.wrapping_sub(LO) & !amp) & HI;
        if hit != 0 {
            return Some(at.wrapping_add((hit.trailing_zeros() >> 3) as usize));
        }
        at = at.wrapping_add(8);
    }
    let rest = s.get(at..).unwrap_or_default();
    if at < 32 {
        // Fewer than 8 bytes left.
        return rest
            .iter()
            .position(|&b| b == b'<' || b == b'&')
            .map(|i| i.wrapping_add(at));
    }
    memchr2(b'<', b'&', rest).map(|i| i.wrapping_add(at))
}

pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

const NAME: u8 = 1;
const START: u8 = 2;

/// Byte classes for names: ASCII letters, `_`, `:` and any non-ASCII byte start a name;
/// digits, `-` and `.` may follow.
// Evaluated at compile time: an out-of-bounds index would fail the build, not panic at run time.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80 {
            NAME | START
        } else if b.is_ascii_digit() || b == b'-' || b == b'.' {
            NAME
        } else {
            0
        };
        i += 1;
    }
    t
};

#[inline(always)]
fn class(b: u8) -> u8 {
    CLASS.get(usize::from(b)).copied().unwrap_or(0)
}

#[inline(always)]
fn is_name_start(b: u8) -> bool {
    class(b) & START != 0
}

#[inline(always)]
fn is_name_byte(b: u8) -> bool {
    class(b) & NAME != 0
}

fn advance(rest: &[u8], n: usize) -> &[u8] {
    rest.get(n..).unwrap_or_default()
}

/// The resumable lexer. See the module docs.
#[derive(Debug)]
pub(crate) struct Lexer {
    state: State,
    /// Bytes lexed before the current chunk.
    consumed: u64,
    /// Offset of the `<` or `&` that began the current markup.
    mark: u64,
    max_depth: usize,
    max_text: usize,
    root: Root,
    doctype_seen: bool,
    /// The DTD's internal subset declares entities or attributes (or references a parameter
    /// entity): a parser applying it may read the body differently.
    dtd_declares: bool,
    /// Elements open inside skipped content beyond the name stack (`max_depth` or
    /// `NAMES_BUDGET` reached): counted, not named.
    deep: u64,
    /// The start tag being read is one of those (its name is not kept).
    unnamed: bool,
    /// The attribute name being read was longer than `MAX_NAME` (only its start is kept).
    attr_long: bool,
    /// Elements with an unbound prefix read as in no namespace (see `unbound_is_tolerated`).
    unbound: u64,
    /// Names of the open elements, then the start-tag name being read.
    names: Vec<u8>,
    /// Where the start-tag name being read begins in `names`.
    pending: usize,
    /// The start tag being read is on the audited path (resolve its namespace).
    resolve: bool,
    frames: Vec<Frame>,
    bindings: Vec<Binding>,
    ns: Vec<u8>,
    /// The attribute value being read is a namespace declaration (the last binding).
    declaring: bool,
    /// Attribute name being read (audited path only).
    attr: Vec<u8>,
    /// Reference name being read.
    refname: Vec<u8>,
    /// First bytes of a processing-instruction target, lowercased, and its length.
    pi: [u8; 3],
    pi_len: usize,
    capture: Capture,
    /// Serial of the last namespace declaration pushed (each gets a new one).
    serial: u64,
    /// Bumped by a declaration of a prefix that was already bound (invalidates `memo`).
    shadow: u64,
    memo: [Memo; MEMO_SLOTS],
}

type Step = Result<(), Malformed>;

impl Lexer {
    pub(crate) fn new(limits: &Limits) -> Self {
        Lexer {
            state: State::Text,
            consumed: 0,
            mark: 0,
            max_depth: limits.max_depth,
            max_text: limits.max_text,
            root: Root::NotYet,
            doctype_seen: false,
            dtd_declares: false,
            deep: 0,
            unnamed: false,
            attr_long: false,
            unbound: 0,
            names: Vec::new(),
            pending: 0,
            resolve: false,
            frames: Vec::new(),
            bindings: Vec::new(),
            ns: Vec::new(),
            declaring: false,
            attr: Vec::new(),
            refname: Vec::new(),
            pi: [0; 3],
            pi_len: 0,
            capture: Capture::default(),
            serial: 0,
            shadow: 0,
            memo: [NO_MEMO; MEMO_SLOTS],
        }
    }

    /// Bytes of heap held (for tests of the constant-memory claim).
    pub(crate) fn heap_bytes(&self) -> usize {
        [
            self.names.capacity(),
            self.frames
                .capacity()
                .saturating_mul(std::mem::size_of::<Frame>()),
            self.bindings
                .capacity()
                .saturating_mul(std::mem::size_of::<Binding>()),
            self.ns.capacity(),
            self.attr.capacity(),
            self.refname.capacity(),
            self.capture.buf.capacity(),
        ]
        .iter()
        .fold(0usize, |a, &b| a.saturating_add(b))
    }

    /// Bytes lexed so far.
    pub(crate) fn consumed(&self) -> u64 {
        self.consumed
    }

    fn fail(&self, offset: u64, reason: &str) -> Malformed {
        Malformed::at(offset, reason)
    }

    /// A bound stopped the scan (outcome `over_limit`), not malformed XML.
    fn over(&self, offset: u64, limit: Limit, reason: &str) -> Malformed {
        Malformed {
            limit: Some(limit),
            ..Malformed::at(offset, reason)
        }
    }

    /// Elements whose prefix was bound by no declaration, read as in no namespace.
    pub(crate) fn unbound_prefixes(&self) -> u64 {
        self.unbound
    }

    /// True when the DTD's internal subset declares entities or attributes.
    pub(crate) fn declares_dtd(&self) -> bool {
        self.dtd_declares
    }

    /// Checks that the body ended where a document may end.
    pub(crate) fn finish(&self) -> Step {
        if self.state == State::Text && self.frames.is_empty() && self.root == Root::Done {
            return Ok(());
        }
        let reason = if self.consumed == 0 {
            "empty body"
        } else if self.root == Root::NotYet {
            "no root element"
        } else {
            "unexpected end of body"
        };
        Err(self.fail(self.consumed, reason))
    }

    /// Lexes one chunk (valid UTF-8, split on a character boundary).
    pub(crate) fn run<S: Sink>(&mut self, chunk: &[u8], sink: &mut S) -> Step {
        let base = self.consumed;
        let result = self.lex(chunk, base, sink);
        self.consumed = base.wrapping_add(chunk.len() as u64);
        result
    }

    fn lex<S: Sink>(&mut self, chunk: &[u8], base: u64, sink: &mut S) -> Step {
        let len = chunk.len();
        let at = |rest: &[u8]| base.wrapping_add(len.wrapping_sub(rest.len()) as u64);
        let mut rest = chunk;
        while let Some(&b) = rest.first() {
            match self.state {
                State::Text => {
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
                        continue;
                    }
                    rest = advance(rest, self.skim(rest, at(rest), sink)?);
                    if rest.is_empty() || self.frames.is_empty() {
                        continue;
                    }
                    if let [b'&', after @ ..] = rest
                        && let Some(n) = self.skim_reference(after)
                    {
                        rest = advance(after, n.saturating_add(1));
                        continue;
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
                }
                State::Ref | State::AttrRef { .. } => {
                    rest = advance(rest, 1);
                    if b != b';' {
                        // Leading zeros of a character reference are kept once: any number
                        // of them is valid XML (`&#x000000041;`).
                        if b == b'0' && matches!(self.refname.as_slice(), b"#0" | b"#x0") {
                            continue;
                        }
                        if self.refname.len() >= MAX_REF {
                            return Err(self.over(
                                self.mark,
                                Limit::ReferenceLength,
                                "reference too long",
                            ));
                        }
                        if !is_name_byte(b) && b != b'#' {
                            return Err(self.fail(self.mark, "invalid reference (no ';')"));
                        }
                        self.refname.push(b);
                        continue;
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
                }
                State::Lt => match b {
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
                        self.pending = self.names.len();
                        self.resolve = self
                            .frames
                            .last()
                            .is_none_or(|f| f.role.resolves_children());
                        if self.deep > 0 || (self.frames.len() >= self.max_depth && !self.resolve) {
                            // Skipped content past the name stack: count it, do not name it.
                            self.unnamed = true;
                        } else if self.frames.len() >= self.max_depth {
                            return Err(self.over(self.mark, Limit::MaxDepth, "too deep"));
                        }
                        self.state = State::StartName;
                    }
                    _ => return Err(self.fail(self.mark, "invalid character after '<'")),
                },
                State::StartName => {
                    let n = rest
                        .iter()
                        .position(|&b| !is_name_byte(b))
                        .unwrap_or(rest.len());
                    let (name, tail) = rest.split_at_checked(n).unwrap_or((rest, &[]));
                    if !self.unnamed {
                        if self.names.len().saturating_add(n) <= NAMES_BUDGET {
                            self.names.extend_from_slice(name);
                        } else if !self.resolve {
                            // A skipped element: count it instead of naming it.
                            self.names.truncate(self.pending);
                            self.unnamed = true;
                        } else {
                            return Err(self.over(self.mark, Limit::NameLength, "name too long"));
                        }
                    }
                    rest = tail;
                    let Some(&t) = rest.first() else { continue };
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
                }
                State::SkipTag { quote, slash } => {
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
                        continue;
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
                }
                State::Attrs { ws } => {
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
                }
                State::AttrName => {
                    let n = rest
                        .iter()
                        .position(|&b| !is_name_byte(b))
                        .unwrap_or(rest.len());
                    let (name, tail) = rest.split_at_checked(n).unwrap_or((rest, &[]));
                    if !push_capped(&mut self.attr, name, MAX_NAME) {
                        self.attr_long = true;
                    }
                    rest = tail;
                    let Some(&t) = rest.first() else { continue };
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
                }
                State::AttrEq => {
                    rest = advance(rest, 1);
                    if b == b'=' {
                        self.state = State::AttrQuote;
                    } else if !is_ws(b) {
                        return Err(self.fail(self.mark, "expected '=' after attribute name"));
                    }
                }
                State::AttrQuote => {
                    rest = advance(rest, 1);
                    if b == b'"' || b == b'\'' {
                        self.state = State::AttrValue { quote: b };
                    } else if !is_ws(b) {
                        return Err(self.fail(self.mark, "expected a quoted attribute value"));
                    }
                }
                State::AttrValue { quote } => {
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
                }
                State::EmptyEnd => {
                    if b != b'>' {
                        return Err(self.fail(self.mark, "expected '>' after '/'"));
                    }
                    rest = advance(rest, 1);
                    self.start_tag(true, sink)?;
                }
                State::EndName { matched } => {
                    let start = self.frames.last().map_or(0, |f| f.name as usize);
                    let expected = self.names.get(start..).unwrap_or_default();
                    // Fast path: the whole name and the '>' are in this chunk.
                    if matched == 0
                        && let Some(after) = rest.strip_prefix(expected)
                        && after.first() == Some(&b'>')
                    {
                        rest = advance(after, 1);
                        self.end_tag(sink);
                        continue;
                    }
                    let mut matched = matched;
                    loop {
                        let Some(&c) = rest.first() else {
                            self.state = State::EndName { matched };
                            break;
                        };
                        if let Some(&e) = expected.get(matched) {
                            if c != e {
                                return Err(
                                    self.fail(self.mark, "end tag does not match the open element")
                                );
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
                            return Err(
                                self.fail(self.mark, "end tag does not match the open element")
                            );
                        }
                    }
                }
                State::EndDeep { named } => {
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
                        continue;
                    };
                    rest = advance(rest, 1);
                    if t == b'>' {
                        self.end_tag(sink);
                    } else if is_ws(t) {
                        self.state = State::EndTail;
                    } else {
                        return Err(self.fail(self.mark, "invalid end tag"));
                    }
                }
                State::EndTail => {
                    rest = advance(rest, 1);
                    if b == b'>' {
                        self.end_tag(sink);
                    } else if !is_ws(b) {
                        return Err(self.fail(self.mark, "invalid end tag"));
                    }
                }
                State::Bang { kind, matched } => {
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
                        continue;
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
                }
                State::Comment { dashes } => {
                    if dashes == 0 {
                        match memchr(b'-', rest) {
                            None => rest = &[],
                            Some(i) => {
                                rest = advance(rest, i.saturating_add(1));
                                self.state = State::Comment { dashes: 1 };
                            }
                        }
                        continue;
                    }
                    rest = advance(rest, 1);
                    self.state = match (dashes, b) {
                        (1, b'-') => State::Comment { dashes: 2 },
                        (1, _) => State::Comment { dashes: 0 },
                        (_, b'>') => State::Text,
                        _ => return Err(self.fail(self.mark, "'--' inside a comment")),
                    };
                }
                State::Cdata { brackets } => {
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
                        continue;
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
                }
                State::Doctype(dtd) => {
                    rest = self.doctype(dtd, rest)?;
                }
                State::PiTarget => {
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
                    let Some(&t) = rest.first() else { continue };
                    if !is_ws(t) && t != b'?' {
                        return Err(self.fail(self.mark, "invalid processing instruction target"));
                    }
                    if self.pi_len == 3 && &self.pi == b"xml" && self.mark != 0 {
                        return Err(self.fail(self.mark, "XML declaration not at the start"));
                    }
                    rest = advance(rest, 1);
                    self.state = State::Pi {
                        question: t == b'?',
                    };
                }
                State::Pi { question } => {
                    if question {
                        rest = advance(rest, 1);
                        self.state = match b {
                            b'>' => State::Text,
                            b'?' => State::Pi { question: true },
                            _ => State::Pi { question: false },
                        };
                        continue;
                    }
                    match memchr(b'?', rest) {
                        None => rest = &[],
                        Some(i) => {
                            rest = advance(rest, i.saturating_add(1));
                            self.state = State::Pi { question: true };
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The fast path for the bulk of a body: text, attribute-less start tags, empty
    /// elements and end tags. `base` is the offset of `chunk`. Returns the bytes consumed;
    /// stops before anything else (a reference, a tag with attributes, comments, CDATA, PIs,
    /// a tag cut by the end of the chunk, the end of the root), which the state machine then
    /// handles from `Text` exactly as if this path did not exist.
    fn skim<S: Sink>(&mut self, chunk: &[u8], base: u64, sink: &mut S) -> Result<usize, Malformed> {
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
                    let n = after.iter().position(|&b| !is_name_byte(b));
                    let Some(n) = n.filter(|&n| {
                        n < MAX_NAME && self.names.len().saturating_add(n) < NAMES_BUDGET
                    }) else {
                        return Ok(lt);
                    };
                    let name = tag.get(1..n.saturating_add(2)).unwrap_or_default();
                    let empty = match after.get(n..) {
                        Some([b'>', ..]) => false,
                        Some([b'/', b'>', ..]) => true,
                        _ => return Ok(lt),
                    };
                    pos = lt
                        .saturating_add(name.len())
                        .saturating_add(if empty { 3 } else { 2 });
                    let resolving = self
                        .frames
                        .last()
                        .is_none_or(|f| f.role.resolves_children());
                    if resolving {
                        self.mark = base.wrapping_add(lt as u64);
                        self.pending = self.names.len();
                        self.resolve = true;
                        self.names.extend_from_slice(name);
                        self.start_tag(empty, sink)?;
                    } else if !empty {
                        let start = self.names.len();
                        self.names.extend_from_slice(name);
                        self.frames.push(Frame {
                            name: u32::try_from(start).unwrap_or(u32::MAX),
                            role: Role::Skip,
                        });
                    }
                }
                _ => return Ok(lt),
            }
        }
    }

    /// A whole, well-formed reference at the start of `after` (just past the `&`): what the
    /// `Ref` state does, at once; returns the length of its name. `None` leaves it (and its
    /// errors) to the state machine.
    fn skim_reference(&mut self, after: &[u8]) -> Option<usize> {
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

    /// Skips a DOCTYPE byte by byte (they are short; a long one costs time, not memory).
    fn doctype<'a>(&mut self, mut dtd: Dtd, mut rest: &'a [u8]) -> Result<&'a [u8], Malformed> {
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

    fn uri_cap(&self) -> usize {
        self.bindings
            .last()
            .map_or(0, |b| (b.uri as usize).saturating_add(MAX_NS_URI))
    }

    /// An attribute name was read on the audited path: is it a namespace declaration?
    fn attribute_named(&mut self) -> Step {
        let prefix: &[u8] = match self.attr.as_slice() {
            b"xmlns" => b"",
            [b'x', b'm', b'l', b'n', b's', b':', prefix @ ..] => {
                if self.attr_long {
                    return Err(self.over(self.mark, Limit::NameLength, "name too long"));
                }
                if prefix.is_empty() || prefix.contains(&b':') {
                    return Err(self.fail(self.mark, "invalid namespace declaration"));
                }
                prefix
            }
            _ => {
                self.declaring = false;
                return Ok(());
            }
        };
        if self.bindings.len() >= MAX_BINDINGS
            || self
                .ns
                .len()
                .saturating_add(prefix.len())
                .saturating_add(MAX_NS_URI)
                > NS_BUDGET
        {
            return Err(self.over(
                self.mark,
                Limit::NamespaceDeclarations,
                "too many namespace declarations",
            ));
        }
        let start = self.ns.len();
        self.ns.extend_from_slice(prefix);
        let uri = u32::try_from(self.ns.len()).unwrap_or(u32::MAX);
        let shadows = self.bindings.iter().any(|b| {
            self.ns
                .get(b.prefix as usize..b.uri as usize)
                .is_some_and(|p| same(p, prefix))
        });
        if shadows {
            self.shadow = self.shadow.wrapping_add(1);
        }
        self.serial = self.serial.wrapping_add(1);
        let serial = self.serial;
        self.bindings.push(Binding {
            serial,
            depth: self.frames.len().saturating_add(1),
            prefix: u32::try_from(start).unwrap_or(u32::MAX),
            uri,
            end: uri,
            dav: false,
        });
        self.declaring = true;
        Ok(())
    }

    /// The value of the attribute being read is complete.
    fn attribute_done(&mut self) {
        if !std::mem::take(&mut self.declaring) {
            return;
        }
        let end = self.ns.len();
        if let Some(b) = self.bindings.last_mut() {
            b.end = u32::try_from(end).unwrap_or(u32::MAX);
            b.dav = self.ns.get(b.uri as usize..end) == Some(b"DAV:");
        }
    }

    /// Resolves `qname` against the bindings in scope: `(is DAV:, namespace URI, local name)`.
    /// Also the index of the declaration used, if any.
    fn resolve(&self, qname: &[u8]) -> Result<Resolved<'_>, &'static str> {
        // Names are short: a plain loop beats a `memchr` call.
        let (prefix, local_at) = match qname.iter().position(|&b| b == b':') {
            None => (&b""[..], 0),
            Some(i) => {
                let prefix = qname.get(..i).unwrap_or_default();
                let local = qname.get(i.saturating_add(1)..).unwrap_or_default();
                if prefix.is_empty() || local.is_empty() || local.contains(&b':') {
                    return Err("invalid qualified name");
                }
                (prefix, i.saturating_add(1))
            }
        };
        for (i, b) in self.bindings.iter().enumerate().rev() {
            if self
                .ns
                .get(b.prefix as usize..b.uri as usize)
                .is_some_and(|p| same(p, prefix))
            {
                let uri = self
                    .ns
                    .get(b.uri as usize..b.end as usize)
                    .unwrap_or_default();
                return Ok(Resolved {
                    dav: b.dav,
                    uri,
                    local_at,
                    binding: Some(i),
                });
            }
        }
        match prefix {
            b"" => Ok(Resolved {
                dav: false,
                uri: b"",
                local_at,
                binding: None,
            }),
            b"xml" => Ok(Resolved {
                dav: false,
                uri: b"http://www.w3.org/XML/1998/namespace",
                local_at,
                binding: None,
            }),
            _ => Err(UNBOUND),
        }
    }

    /// A start tag is complete: give the element its role and open it.
    fn start_tag<S: Sink>(&mut self, empty: bool, sink: &mut S) -> Step {
        self.state = State::Text;
        if std::mem::take(&mut self.unnamed) {
            if !empty {
                self.deep = self.deep.saturating_add(1);
            }
            return Ok(());
        }
        if self.declaring {
            // Cannot happen (a value always ends with its quote), kept for safety.
            self.attribute_done();
        }
        let parent = self.frames.last().map(|f| f.role);
        let mut role = Role::Skip;
        let memo = memo_parent(parent).map(|key| {
            let qname = self.names.get(self.pending..).unwrap_or_default();
            (key, memo_slot(key, qname))
        });
        let hit = self.resolve
            && memo.is_some_and(|(key, slot)| {
                let qname = self.names.get(self.pending..).unwrap_or_default();
                self.memo.get(slot).is_some_and(|m| {
                    m.shadow == self.shadow
                        && m.parent == key
                        && self
                            .bindings
                            .get(m.binding as usize)
                            .is_some_and(|b| b.serial == m.serial)
                        && m.name
                            .get(..usize::from(m.len))
                            .is_some_and(|n| same(n, qname))
                })
            });
        if hit {
            if let Some(m) = memo.and_then(|(_, slot)| self.memo.get(slot)) {
                role = m.role;
            }
        } else if self.resolve {
            let qname = self.names.get(self.pending..).unwrap_or_default();
            let Resolved {
                dav,
                uri,
                local_at,
                binding: used,
            } = match self.resolve(qname) {
                Ok(r) => r,
                Err(reason) if unbound_is_tolerated(reason, parent, qname) => {
                    // Namespace-ill-formed but well-formed (lighttpd's `<DAV:getetag/>`): an
                    // element that is never counted is read as in no namespace, named as
                    // written, and the body is marked.
                    self.unbound = self.unbound.saturating_add(1);
                    Resolved {
                        dav: false,
                        uri: b"",
                        local_at: 0,
                        binding: None,
                    }
                }
                Err(reason) => return Err(self.fail(self.mark, reason)),
            };
            let local = qname.get(local_at..).unwrap_or_default();
            role = match (parent, dav, local) {
                (None, true, b"multistatus") => Role::Multistatus,
                (None, _, _) => Role::Foreign,
                (Some(Role::Multistatus), true, b"response") => Role::Response,
                (Some(Role::Response), true, b"href") => Role::Href,
                (Some(Role::Response), true, b"status") => Role::Status(Level::Response),
                (Some(Role::Response), true, b"propstat") => Role::Propstat,
                (Some(Role::Response), true, b"error") => Role::Error {
                    owner: Level::Response,
                    seen: false,
                },
                (Some(Role::Response), true, b"responsedescription") => {
                    Role::Description(Level::Response)
                }
                (Some(Role::Propstat), true, b"status") => Role::Status(Level::Propstat),
                (Some(Role::Propstat), true, b"error") => Role::Error {
                    owner: Level::Propstat,
                    seen: false,
                },
                (Some(Role::Propstat), true, b"responsedescription") => {
                    Role::Description(Level::Propstat)
                }
                _ => Role::Skip,
            };
            if let Some(Role::Error { owner, seen: false }) = parent {
                let mut scratch = Vec::new();
                let cap = self.max_text;
                if dav {
                    push_capped(&mut scratch, b"DAV:", cap);
                } else if !uri.is_empty() {
                    push_capped(&mut scratch, b"{", cap);
                    push_capped(&mut scratch, uri, cap);
                    push_capped(&mut scratch, b"}", cap);
                }
                push_capped(&mut scratch, local, cap);
                sink.error_child(owner, &String::from_utf8_lossy(&scratch));
                if let Some(f) = self.frames.last_mut() {
                    f.role = Role::Error { owner, seen: true };
                }
            }
            // Only names bound by a declaration are memoised (an unbound default namespace
            // could be declared later without re-binding anything).
            if let Some((key, slot)) = memo
                && let Some(binding) = used
                && let Some(serial) = self.bindings.get(binding).map(|b| b.serial)
                && let Ok(binding) = u32::try_from(binding)
                && let Some(m) = self.memo.get_mut(slot)
                && qname.len() <= MEMO_NAME
            {
                let mut name = [0u8; MEMO_NAME];
                if let Some(dst) = name.get_mut(..qname.len()) {
                    dst.copy_from_slice(qname);
                }
                *m = Memo {
                    binding,
                    serial,
                    shadow: self.shadow,
                    parent: key,
                    len: u8::try_from(qname.len()).unwrap_or(0),
                    name,
                    role,
                };
            }
        }
        self.frames.push(Frame {
            name: u32::try_from(self.pending).unwrap_or(u32::MAX),
            role,
        });
        self.root = Root::Open;
        if role != Role::Skip {
            sink.start(role);
            if let Some(status) = role.captures() {
                self.capture.depth = self.frames.len();
                self.capture.status = status;
                self.capture.space = false;
                self.capture.cap = if status { MAX_STATUS } else { self.max_text };
                self.capture.buf.clear();
            }
        }
        if empty {
            self.end_tag(sink);
        }
        Ok(())
    }

    /// Closes the innermost element (its end tag matched).
    fn end_tag<S: Sink>(&mut self, sink: &mut S) {
        self.state = State::Text;
        if self.deep > 0 {
            self.deep = self.deep.saturating_sub(1);
            return;
        }
        let depth = self.frames.len();
        let Some(frame) = self.frames.pop() else {
            return;
        };
        self.names.truncate(frame.name as usize);
        while let Some(b) = self.bindings.last() {
            if b.depth < depth {
                break;
            }
            self.ns.truncate(b.prefix as usize);
            self.bindings.pop();
        }
        if frame.role != Role::Skip {
            if self.capture.depth == depth {
                sink.end(frame.role, &self.capture.buf);
                self.capture.depth = 0;
                self.capture.buf.clear();
            } else {
                sink.end(frame.role, &[]);
            }
        }
        if self.frames.is_empty() {
            self.root = Root::Done;
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// Status-mode capture byte by byte: the reference for `Capture::push_kept`.
    fn status_reference(pieces: &[Vec<u8>], cap: usize) -> Vec<u8> {
        let (mut buf, mut space) = (Vec::new(), false);
        for &b in pieces.iter().flatten() {
            if buf.len() >= cap {
                break;
            }
            if is_ws(b) {
                space = !buf.is_empty();
            } else {
                if space {
                    buf.push(b' ');
                    space = false;
                }
                buf.push(b);
            }
        }
        buf
    }

    proptest::proptest! {
        #[test]
        fn status_capture_matches_byte_by_byte(
            pieces in proptest::collection::vec(proptest::collection::vec(
                proptest::sample::select(b" \t\nHTP/1.2x".to_vec()), 0..12), 0..6),
            cap in 0usize..20,
        ) {
            let mut c = Capture { depth: 1, status: true, space: false, cap, buf: Vec::new() };
            for p in &pieces {
                c.push(p);
            }
            proptest::prop_assert_eq!(c.buf, status_reference(&pieces, cap));
        }
    }
}
