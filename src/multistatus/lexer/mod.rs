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
//!
//! Layout, one concern per file: `bytes` (byte classes, name equality, the search for the
//! next `<` or `&`), `state` (the resumable `State`), `text` (character data, references
//! and the `skim` fast path), `tags` (start and end tags, attributes), `markup` (comments,
//! CDATA, the DOCTYPE, processing instructions), `namespaces` (declarations in scope,
//! resolution), `memo` (names already resolved), `known` (names already
//! checked), `roles` (what an element is to the audit; opening and
//! closing elements), `capture` (the kept text of href, status and description), `replay`
//! (the tags of each `DAV:response` kept as a trie and replayed when an entry repeats
//! them byte for byte; a folder: `trie`, `anchor`, `walk`, `learn`), `spare` (lexers
//! kept per thread for the next body). This file
//! holds the [`Lexer`] itself and `lex`, the dispatch from the current state to the file
//! that handles it.

mod bytes;
mod capture;
mod known;
mod markup;
mod memo;
mod namespaces;
mod replay;
mod roles;
mod spare;
mod state;
mod tags;
mod text;

pub(crate) use bytes::{is_ws, same};
pub(crate) use roles::Role;

use capture::Capture;
use known::{KNOWN_SLOTS, Known, NO_HINT, NO_KNOWN};
use memo::{GHOSTS, Ghost, MEMO_SLOTS, Memo, NO_GHOST, NO_MEMO};
use namespaces::{Binding, DeclReplay, PrefixIndex};
use replay::Trie;
use state::{Root, State};

use super::limits::Limits;
use super::report::{Level, Limit, Malformed};

/// Where the lexer reports audited elements.
pub(crate) trait Sink {
    /// An audited element started (never called for [`Role::Skip`]).
    fn start(&mut self, role: Role);
    /// An audited element ended; `text` is its captured text for href, status and
    /// description (whitespace-trimmed at the start, capped), else empty.
    fn end(&mut self, role: Role, text: &[u8]);
    /// The text of hrefs and descriptions is still wanted (asked as one starts; once false,
    /// it stays false and only statuses are captured).
    fn wants_text(&self) -> bool;
    /// The first child of a `DAV:error`: in `DAV:` (`dav`), or in namespace `uri` (empty for
    /// none), named `local`. Reported as `DAV:local`, `{uri}local` or `local`.
    fn error_child(&mut self, owner: Level, dav: bool, uri: &[u8], local: &[u8]);
    /// A child of `DAV:propstat/DAV:prop` (a property name): `uri` its namespace (empty for
    /// none, and for an unbound prefix, then `local` is the name as written).
    fn prop(&mut self, uri: &[u8], local: &[u8]);
    /// Would `prop` and `prop_token` keep a name now (false: they would do nothing)? Asked
    /// by the replay before it looks a recorded name up; the answer only spares that work.
    fn wants_props(&self) -> bool {
        true
    }
    /// `prop` for a name the lexer has met before: `token` (not 0) is the same for every
    /// report of one name (namespace URI and local name) in a body, and never for another.
    fn prop_token(&mut self, token: u64, uri: &[u8], local: &[u8]) {
        let _ = token;
        self.prop(uri, local);
    }
    /// `end` for a `DAV:status` whose text is the common line `HTTP/1.1 NNN` (then
    /// whitespace and anything), read at once to its `code` (`100..=999`); the text is
    /// not kept. The text handed to `end` by default, `HTTP/1.1 NNN`, parses to the same code.
    fn status_code(&mut self, level: Level, code: u16) {
        self.end(Role::Status(level), &super::status_line::common_line(code));
    }
    /// `end` for a captured `DAV:href`: the sink may take the buffer holding its text
    /// (leaving another, whose content the lexer clears).
    fn end_href(&mut self, text: &mut Vec<u8>) {
        self.end(Role::Href, text);
    }
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Start of the element's name in `Lexer::names`.
    name: u32,
    role: Role,
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
    /// Prefix lookup when many declarations are in scope (see `namespaces`).
    index: PrefixIndex,
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
    /// The tables below are boxed (fixed size, built on the heap where they stay): inline,
    /// they made the scanner ~20 KiB, copied whole each time it moved on its way into the
    /// audit task.
    memo: Box<[Memo; MEMO_SLOTS]>,
    /// The last declaration seen at each of the first indices of `bindings` (see `memo`).
    ghosts: Box<[Ghost; GHOSTS]>,
    /// Start-tag names the fast path has read and checked (see `known`).
    known: Box<[Known; KNOWN_SLOTS]>,
    /// The tags seen after each `DAV:response`, replayed when they repeat (see `replay`).
    replay: Trie,
    /// The slot of `known` holding the start tag being read (see `known`).
    known_hint: usize,
    /// The last declarations `skim_attrs` read, to replay (see `namespaces`).
    decl_replay: DeclReplay,
    /// Fast paths on (the default). Off, every byte goes through the state machine one
    /// state at a time and every name is resolved afresh: the plain path the fast ones must
    /// agree with (`Scanner::without_fast_paths`, the `fast_plain` fuzz target).
    fast: bool,
}

/// `[value; N]` built in place on the heap (`Box::new([value; N])` may build it on the
/// stack and copy it).
fn boxed<T: Copy, const N: usize>(value: T) -> Box<[T; N]> {
    match vec![value; N].into_boxed_slice().try_into() {
        Ok(table) => table,
        Err(_) => unreachable!("a vec of N elements is a [T; N]"),
    }
}

type Step = Result<(), Malformed>;

/// What a state handler returns: the bytes of the chunk it left unread.
type Rest<'a> = Result<&'a [u8], Malformed>;

/// Where the chunk being lexed starts in the body, to turn a position in it into an offset.
#[derive(Debug, Clone, Copy)]
struct Origin {
    base: u64,
    len: usize,
}

impl Origin {
    /// The body offset of `rest`, a tail of the chunk.
    fn at(self, rest: &[u8]) -> u64 {
        self.base
            .wrapping_add(self.len.wrapping_sub(rest.len()) as u64)
    }
}

/// The allocations a lexer may take over from one whose body is done (`spare`), or new.
struct Parts {
    names: Vec<u8>,
    frames: Vec<Frame>,
    bindings: Vec<Binding>,
    ns: Vec<u8>,
    attr: Vec<u8>,
    refname: Vec<u8>,
    capture: Capture,
    /// Where the declaration serials go on from (see `spare`).
    serial: u64,
    memo: Box<[Memo; MEMO_SLOTS]>,
    ghosts: Box<[Ghost; GHOSTS]>,
    known: Box<[Known; KNOWN_SLOTS]>,
    replay: Trie,
}

impl Parts {
    fn new() -> Self {
        Parts {
            names: Vec::new(),
            frames: Vec::new(),
            bindings: Vec::new(),
            ns: Vec::new(),
            attr: Vec::new(),
            refname: Vec::new(),
            capture: Capture::default(),
            serial: 0,
            memo: boxed(NO_MEMO),
            ghosts: boxed(NO_GHOST),
            known: boxed(NO_KNOWN),
            replay: Trie::default(),
        }
    }
}

impl Lexer {
    /// A lexer for one body: one this thread kept from a body before (`spare`), emptied,
    /// else a new one.
    pub(crate) fn new(limits: &Limits) -> Self {
        Lexer::with_parts(limits, spare::take().unwrap_or_else(Parts::new))
    }

    /// The body is done: keeps the lexer for the next [`Lexer::new`] on this thread.
    pub(crate) fn recycle(self) {
        spare::keep(self);
    }

    /// Drops the lexers this thread keeps for the next bodies (`spare`).
    pub(crate) fn forget_spares() {
        spare::forget();
    }

    /// Every field as a new lexer has it, on `parts`' allocations.
    fn with_parts(limits: &Limits, parts: Parts) -> Self {
        let Parts {
            names,
            frames,
            bindings,
            ns,
            attr,
            refname,
            capture,
            serial,
            memo,
            ghosts,
            known,
            replay,
        } = parts;
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
            names,
            pending: 0,
            resolve: false,
            frames,
            bindings,
            index: PrefixIndex::default(),
            ns,
            declaring: false,
            attr,
            refname,
            pi: [0; 3],
            pi_len: 0,
            capture,
            serial,
            shadow: 0,
            memo,
            ghosts,
            known,
            replay,
            known_hint: NO_HINT,
            decl_replay: DeclReplay::default(),
            fast: true,
        }
    }

    /// Turns every fast path off (or on again): see `fast`.
    pub(crate) fn set_fast(&mut self, fast: bool) {
        self.fast = fast;
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
            self.index.heap_bytes(),
            self.replay.heap_bytes(),
            self.decl_replay.heap_bytes(),
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

    /// The state machine: hands the rest of the chunk to the handler of the current state
    /// until the chunk is used up.
    fn lex<S: Sink>(&mut self, chunk: &[u8], base: u64, sink: &mut S) -> Step {
        let origin = Origin {
            base,
            len: chunk.len(),
        };
        let mut rest = chunk;
        while let Some(&b) = rest.first() {
            rest = match self.state {
                State::Text => self.text(origin, rest, sink)?,
                State::Ref | State::AttrRef { .. } => self.reference(b, rest)?,
                State::Lt => self.lt(b, rest)?,
                State::StartName => self.start_name(rest, sink)?,
                State::SkipTag { quote, slash } => self.skip_tag(quote, slash, rest, sink)?,
                State::Attrs { ws } => self.attrs(ws, b, rest, sink)?,
                State::AttrName => self.attr_name(rest)?,
                State::AttrEq => self.attr_eq(b, rest)?,
                State::AttrQuote => self.attr_quote(b, rest)?,
                State::AttrValue { quote } => self.attr_value(quote, rest)?,
                State::EmptyEnd => self.empty_end(b, rest, sink)?,
                State::EndName { matched } => self.end_name(matched, rest, sink)?,
                State::EndDeep { named } => self.end_deep(named, b, rest, sink)?,
                State::EndTail => self.end_tail(b, rest, sink)?,
                State::Bang { kind, matched } => self.bang(kind, matched, b, rest)?,
                State::Comment { dashes } => self.comment(dashes, b, rest)?,
                State::Cdata { brackets } => self.cdata(brackets, b, rest)?,
                State::Doctype(dtd) => self.doctype(dtd, rest)?,
                State::PiTarget => self.pi_target(b, rest)?,
                State::PiTargetEnd => self.pi_target_end(b, rest)?,
                State::Pi { question } => self.pi(question, b, rest)?,
            };
        }
        Ok(())
    }
}
