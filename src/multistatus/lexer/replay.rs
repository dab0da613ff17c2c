//! Replay of the repeating entry shape: a multistatus repeats the same tags entry after
//! entry, with only the text between them differing. Each `DAV:response` that opens in the
//! skim is an *anchor*; the tags read after it, up to its end tag, are kept as a trie of the
//! sequences seen (`Trie`): each node holds one tag's bytes and what reading it did (the
//! role it opened, the property or error child it reported, the end tag it matched). At the
//! next anchor, a tag byte-identical to a child of the current node is replayed from the
//! node instead of being read: no name check, no lookup, no resolution.
//!
//! Why that is exact: what a tag does depends only on its bytes and on the lexer state
//! before it (open elements with their names and roles, declarations in scope, elements past
//! the name stack, the captured element), never on the text between tags (text only feeds
//! the captured href, status or description, which stays live here). The trie is kept for
//! one anchor state (`Key`: frames, names, declarations by serial and depth, `shadow`); a
//! new anchor state clears it. So two walks from equal anchor states through the same tag
//! bytes pass through equal states, and a node's effect is the effect. What is replayed is
//! the same code as reading (`Lexer::open`, `Lexer::end_tag`); what a tag reported to the
//! sink while it resolved (a property, an error's first child), the role it got, a flag it
//! set on its parent and an unbound prefix counted are recorded once, as the tag is read
//! the ordinary way, through a `Recorder` sink. Only tags that reading leaves in `Text`,
//! with no attribute, no `<!`/`<?`, are recorded; anything else (a tag that matches no
//! child and cannot be learnt, a reference the skim leaves, the chunk's end) ends the walk
//! and the skim goes on as if it had never started.
//!
//! Bounded: `NODES` nodes, `ARENA` bytes of tags and names, `CHILDREN` children a node,
//! `RESETS` new anchor states a body; past them nothing more is learnt.

use super::bytes::{find_markup, is_ws, same};
use super::roles::Role;
use super::state::State;
use super::{Frame, Lexer, Sink};
use crate::multistatus::report::{Level, Malformed};

/// Nodes in the trie (the root included).
const NODES: usize = 256;
/// Bytes of tags and reported names kept.
const ARENA: usize = 16 * 1024;
/// Children of a node: the tags seen after it.
const CHILDREN: u8 = 4;
/// Longest tag recorded.
const TAG: usize = 128;
/// Times a body may start the trie afresh for a new anchor state.
const RESETS: u32 = 32;
/// Anchor states kept are at most this deep, with this many name bytes and declarations.
const KEY_FRAMES: usize = 8;
const KEY_NAMES: usize = 512;
const KEY_BINDINGS: usize = 16;
/// No node.
const NONE: u32 = u32::MAX;
/// Elements a walk opens above its anchor without writing their names.
const UNNAMED: usize = 16;

/// What a recorded tag reported to the sink while its name was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    None,
    /// With the lexer's token for the name (0: none; see `Sink::prop_token`).
    Prop(u64),
    ErrorChild {
        owner: Level,
        dav: bool,
    },
}

/// What reading a recorded tag did.
#[derive(Debug, Clone, Copy)]
enum Effect {
    /// An end tag: closed the open element.
    End,
    /// A start tag of a `name`-byte qualified name.
    Start {
        role: Role,
        empty: bool,
        name: usize,
        report: Report,
        /// The parent's role afterwards, when reading changed it (an error's first child).
        parent: Option<Role>,
        /// Its prefix was unbound and tolerated (`Lexer::unbound` counted it).
        unbound: bool,
    },
}

type Span = (usize, usize);

#[derive(Debug, Clone, Copy)]
struct Node {
    tag: Span,
    /// The tag's first eight bytes (as a little-endian word, zero past its end) and the
    /// mask of those that are the tag's.
    head: u64,
    mask: u64,
    /// Bytes 8..16 and the last eight bytes of the tag (as little-endian words).
    mid: u64,
    tail: u64,
    /// The reported namespace and local name (`Report::Prop`, `Report::ErrorChild`).
    uri: Span,
    local: Span,
    effect: Effect,
    child: u32,
    sibling: u32,
    children: u8,
}

/// The lexer state at an anchor that the trie holds for.
#[derive(Debug, Default)]
struct Key {
    frames: Vec<Frame>,
    names: Vec<u8>,
    /// `(serial, depth)` of each declaration in scope.
    bindings: Vec<(u64, usize)>,
    shadow: u64,
}

/// The trie of tag sequences after an anchor (see the module docs).
#[derive(Debug)]
pub(super) struct Trie {
    nodes: Vec<Node>,
    arena: Vec<u8>,
    key: Key,
    keyed: bool,
    resets: u32,
    /// A tag is being read for recording: no walk starts inside it.
    recording: bool,
    /// During a walk: the depth of the anchor (`Lexer::frames` below it are never
    /// replayed), the open elements whose names are in `Lexer::names` (those below
    /// `named`), and the node of each element opened by the replay above it, whose name is
    /// written only when the walk ends (`Lexer::name_replayed`).
    floor: usize,
    named: usize,
    unnamed: [u32; UNNAMED],
}

impl Default for Trie {
    fn default() -> Self {
        Trie {
            nodes: Vec::new(),
            arena: Vec::new(),
            key: Key::default(),
            keyed: false,
            resets: 0,
            recording: false,
            floor: 0,
            named: 0,
            unnamed: [NONE; UNNAMED],
        }
    }
}

impl Trie {
    /// The qualified name a start-tag node opens.
    fn qname(&self, node: u32) -> &[u8] {
        match self.nodes.get(node as usize) {
            Some(Node {
                tag,
                effect: Effect::Start { name, .. },
                ..
            }) => {
                let at = tag.0.wrapping_add(1);
                self.arena
                    .get(at..at.wrapping_add(*name))
                    .unwrap_or_default()
            }
            _ => b"",
        }
    }

    /// An empty trie that keeps this one's buffers (`Lexer::new` reusing a lexer): what
    /// `Trie::default` is, without growing them again entry by entry.
    pub(super) fn emptied(self) -> Trie {
        let Trie {
            mut nodes,
            mut arena,
            key:
                Key {
                    mut frames,
                    mut names,
                    mut bindings,
                    ..
                },
            ..
        } = self;
        nodes.clear();
        arena.clear();
        frames.clear();
        names.clear();
        bindings.clear();
        Trie {
            nodes,
            arena,
            key: Key {
                frames,
                names,
                bindings,
                ..Key::default()
            },
            ..Trie::default()
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.nodes
            .capacity()
            .saturating_mul(std::mem::size_of::<Node>())
            .saturating_add(self.arena.capacity())
            .saturating_add(
                self.key
                    .frames
                    .capacity()
                    .saturating_mul(std::mem::size_of::<Frame>()),
            )
            .saturating_add(self.key.names.capacity())
            .saturating_add(self.key.bindings.capacity().saturating_mul(16))
    }

    fn bytes(&self, span: Span) -> &[u8] {
        self.arena.get(span.0..span.1).unwrap_or_default()
    }

    /// The child of `node` whose tag starts `input`, and that tag's length.
    #[inline(always)]
    fn find(&self, node: u32, input: &[u8]) -> Option<(u32, usize)> {
        let mut c = self.nodes.get(node as usize)?.child;
        let first = word(input, 0);
        let long = input.len() >= 8;
        while let Some(n) = self.nodes.get(c as usize) {
            let len = n.tag.1.wrapping_sub(n.tag.0);
            // Word compares cover tags of up to 24 bytes; the middle of longer ones is
            // compared byte for byte.
            let hit = long
                && first & n.mask == n.head
                && (len <= 8
                    || input.len() >= len
                        && word(input, len.wrapping_sub(8)) == n.tail
                        && (len <= 16
                            || word(input, 8) == n.mid
                                && (len <= 24
                                    || match (
                                        input.get(16..len),
                                        self.arena.get(n.tag.0.wrapping_add(16)..n.tag.1),
                                    ) {
                                        (Some(a), Some(b)) => same(a, b),
                                        _ => false,
                                    })));
            let hit = hit
                || !long
                    && match (input.get(..len), self.arena.get(n.tag.0..n.tag.1)) {
                        (Some(a), Some(b)) => same(a, b),
                        _ => false,
                    };
            if hit {
                return Some((c, len));
            }
            c = n.sibling;
        }
        None
    }

    /// The child of `node` that is an end tag starting `input`, and its length.
    #[inline(always)]
    fn find_end(&self, node: u32, input: &[u8]) -> Option<(u32, usize)> {
        self.find(node, input).filter(|&(c, _)| {
            matches!(
                self.nodes.get(c as usize).map(|n| n.effect),
                Some(Effect::End)
            )
        })
    }

    /// Room for a child of `node` with `bytes` more bytes.
    fn room(&self, node: u32, bytes: usize) -> bool {
        self.nodes.len() < NODES
            && self.arena.len().saturating_add(bytes) <= ARENA
            && self
                .nodes
                .get(node as usize)
                .is_some_and(|n| n.children < CHILDREN)
    }

    fn keep(&mut self, bytes: &[u8]) -> Span {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        (start, self.arena.len())
    }

    /// Adds a child of `parent`; returns it.
    fn add(&mut self, parent: u32, tag: &[u8], rec: &Recorded, effect: Effect) -> u32 {
        let tag = self.keep(tag);
        let uri = self.keep(&rec.uri);
        let local = self.keep(&rec.local);
        let at = u32::try_from(self.nodes.len()).unwrap_or(NONE);
        let bytes = self.bytes(tag);
        let (mid, tail) = (word(bytes, 8), word(bytes, bytes.len().saturating_sub(8)));
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        if let (Some(dst), Some(src)) = (first.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        // `n` is 3..=8 (a tag is at least `<a>`): shifts by 0..=40 bits.
        let mask = u64::MAX
            .checked_shr(64u32.saturating_sub(8u32.saturating_mul(n as u32)))
            .unwrap_or(0);
        let sibling = self.nodes.get(parent as usize).map_or(NONE, |p| p.child);
        self.nodes.push(Node {
            tag,
            head: u64::from_le_bytes(first),
            mask,
            mid,
            tail,
            uri,
            local,
            effect,
            child: NONE,
            sibling,
            children: 0,
        });
        if let Some(p) = self.nodes.get_mut(parent as usize) {
            p.child = at;
            p.children = p.children.saturating_add(1);
        }
        at
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.arena.clear();
        self.nodes.push(Node {
            tag: (0, 0),
            head: 0,
            mask: 0,
            mid: 0,
            tail: 0,
            uri: (0, 0),
            local: (0, 0),
            effect: Effect::End,
            child: NONE,
            sibling: NONE,
            children: 0,
        });
    }
}

/// The sink calls made while one tag was read for recording.
#[derive(Debug, Default)]
struct Recorded {
    /// Calls in order; more than four is no shape a recorded tag has.
    calls: [Option<Call>; 4],
    count: usize,
    uri: Vec<u8>,
    local: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Start(Role),
    End(Role),
    Report(Report),
}

impl Recorded {
    fn push(&mut self, call: Call) {
        if let Some(slot) = self.calls.get_mut(self.count) {
            *slot = Some(call);
        }
        self.count = self.count.saturating_add(1);
    }
}

/// Passes every call on to the real sink and records it.
struct Recorder<'s> {
    sink: &'s mut dyn Sink,
    log: Recorded,
}

impl Sink for Recorder<'_> {
    fn start(&mut self, role: Role) {
        self.log.push(Call::Start(role));
        self.sink.start(role);
    }

    fn end(&mut self, role: Role, text: &[u8]) {
        self.log.push(Call::End(role));
        self.sink.end(role, text);
    }

    fn wants_text(&self) -> bool {
        self.sink.wants_text()
    }

    fn error_child(&mut self, owner: Level, dav: bool, uri: &[u8], local: &[u8]) {
        self.log
            .push(Call::Report(Report::ErrorChild { owner, dav }));
        self.log.uri = uri.to_vec();
        self.log.local = local.to_vec();
        self.sink.error_child(owner, dav, uri, local);
    }

    fn prop(&mut self, uri: &[u8], local: &[u8]) {
        self.log.push(Call::Report(Report::Prop(0)));
        self.log.uri = uri.to_vec();
        self.log.local = local.to_vec();
        self.sink.prop(uri, local);
    }

    fn prop_token(&mut self, token: u64, uri: &[u8], local: &[u8]) {
        self.log.push(Call::Report(Report::Prop(token)));
        self.log.uri = uri.to_vec();
        self.log.local = local.to_vec();
        self.sink.prop_token(token, uri, local);
    }
}

/// The eight bytes of `s` at `at` as a little-endian word (0 past the end).
#[inline(always)]
fn word(s: &[u8], at: usize) -> u64 {
    s.get(at..at.wrapping_add(8))
        .and_then(|w| w.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// The length of the tag at the start of `s` (at a `<`) if it may be recorded: through its
/// `>`, at most `TAG` bytes, no `<!`/`<?`, no quote or `<` inside.
fn recordable(s: &[u8]) -> Option<usize> {
    if matches!(s.get(1), Some(b'!' | b'?') | None) {
        return None;
    }
    let window = s.get(1..TAG.min(s.len()))?;
    let end = window.iter().position(|&b| b == b'>')?;
    let inner = window.get(..end)?;
    if inner.iter().any(|&b| matches!(b, b'"' | b'\'' | b'<')) {
        return None;
    }
    end.checked_add(2)
}

impl Lexer {
    /// The lexer is at an anchor in a state the trie holds for; a new state starts the trie
    /// afresh (within `RESETS`). False: no walk here.
    fn anchored(&mut self) -> bool {
        if self.deep != 0
            || self.unnamed
            || self.declaring
            || self.capture.depth != 0
            || self.state != State::Text
        {
            return false;
        }
        let key = &self.replay.key;
        if self.replay.keyed
            && key.shadow == self.shadow
            && key.frames.len() == self.frames.len()
            && key.bindings.len() == self.bindings.len()
            && same(&key.names, &self.names)
            && key
                .frames
                .iter()
                .zip(&self.frames)
                .all(|(a, b)| a.name == b.name && a.role == b.role)
            && key
                .bindings
                .iter()
                .zip(&self.bindings)
                .all(|(&(serial, depth), b)| serial == b.serial && depth == b.depth)
        {
            return true;
        }
        if self.replay.resets >= RESETS
            || self.frames.len() > KEY_FRAMES
            || self.names.len() > KEY_NAMES
            || self.bindings.len() > KEY_BINDINGS
        {
            return false;
        }
        self.replay.resets = self.replay.resets.saturating_add(1);
        self.replay.keyed = true;
        self.replay.clear();
        let key = &mut self.replay.key;
        key.shadow = self.shadow;
        key.frames.clear();
        key.frames.extend_from_slice(&self.frames);
        key.names.clear();
        key.names.extend_from_slice(&self.names);
        key.bindings.clear();
        key.bindings
            .extend(self.bindings.iter().map(|b| (b.serial, b.depth)));
        true
    }

    /// A walk may start here (cheap checks before `walk`; `anchored` does the rest).
    #[inline(always)]
    pub(super) fn may_walk(&self) -> bool {
        !self.replay.recording && self.bindings.len() <= KEY_BINDINGS
    }

    /// From an anchor (a `DAV:response` just opened, `pos` just past its start tag), replays
    /// or learns the tags of the entry up to its end tag. Returns where it stopped: at a
    /// markup it leaves to the skim, past the entry's end tag, or the chunk's end.
    pub(super) fn walk<S: Sink>(
        &mut self,
        chunk: &[u8],
        pos: usize,
        base: u64,
        sink: &mut S,
    ) -> Result<usize, Malformed> {
        if self.replay.recording || !self.anchored() {
            return Ok(pos);
        }
        self.replay.floor = self.frames.len();
        self.replay.named = self.frames.len();
        let walked = self.walk_entry(chunk, pos, base, sink);
        self.name_replayed();
        walked
    }

    /// Writes the names of the elements the replay opened (see `Trie::unnamed`): the
    /// state is then the one reading their tags leaves.
    fn name_replayed(&mut self) {
        let from = self.replay.named;
        for i in from..self.frames.len() {
            let node = self
                .replay
                .unnamed
                .get(i.wrapping_sub(self.replay.floor))
                .copied()
                .unwrap_or(NONE);
            let start = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
            self.names.extend_from_slice(self.replay.qname(node));
            if let Some(f) = self.frames.get_mut(i) {
                f.name = start;
            }
        }
        self.replay.named = self.frames.len();
    }

    fn walk_entry<S: Sink>(
        &mut self,
        chunk: &[u8],
        mut pos: usize,
        base: u64,
        sink: &mut S,
    ) -> Result<usize, Malformed> {
        let floor = self.replay.floor;
        let mut node = 0u32;
        loop {
            // Positions stay within `chunk`: no sum below overflows.
            let rest = chunk.get(pos..).unwrap_or_default();
            let Some(i) = find_markup(rest) else {
                self.capture.push(rest);
                return Ok(chunk.len());
            };
            if self.capture.depth != 0 {
                self.capture.push(rest.get(..i).unwrap_or_default());
            }
            pos = pos.wrapping_add(i);
            let tag = rest.get(i..).unwrap_or_default();
            if let [b'&', after @ ..] = tag {
                match self.skim_reference(after) {
                    Some(n) => {
                        pos = pos.wrapping_add(n).wrapping_add(2);
                        continue;
                    }
                    None => return Ok(pos),
                }
            }
            if let Some((child, len)) = self.replay.find(node, tag) {
                pos = pos.wrapping_add(len);
                node = child;
                if let Some(end) = self.replay_node(child, sink) {
                    // A skipped leaf: its text and end tag, if that is what follows.
                    let body = chunk.get(pos..).unwrap_or_default();
                    if let Some(j) = find_markup(body)
                        && let Some(close) = body.get(j..)
                        && let Some((e, n)) = self.replay.find_end(end, close)
                    {
                        if self.capture.depth != 0 {
                            self.capture.push(body.get(..j).unwrap_or_default());
                        }
                        pos = pos.wrapping_add(j).wrapping_add(n);
                        node = e;
                        continue;
                    }
                    self.open_skipped(end);
                }
            } else {
                let Some(len) = recordable(tag) else {
                    return Ok(pos);
                };
                let tag = tag.get(..len).unwrap_or_default();
                let at = base.wrapping_add(pos as u64);
                pos = pos.wrapping_add(len);
                match self.learn(node, tag, at, sink)? {
                    Some(child) => node = child,
                    None => return Ok(pos),
                }
            }
            if self.frames.len() < floor {
                return Ok(pos);
            }
        }
    }

    /// Does what reading the tag of `node` did; for a skipped element that is not empty,
    /// does not open it yet and returns `node`: the caller either passes over it whole
    /// (text and end tag) or opens it (`open_skipped`).
    #[inline]
    fn replay_node<S: Sink>(&mut self, node: u32, sink: &mut S) -> Option<u32> {
        let n = self.replay.nodes.get(node as usize)?;
        let Effect::Start {
            role,
            empty,
            name,
            report,
            parent,
            unbound,
        } = n.effect
        else {
            // An element with no declarations, not the root: what `end_tag` does for it
            // (`deep` is 0 in a walk), without the parts that cannot apply.
            let depth = self.frames.len();
            if depth > 1
                && let Some(&Frame { name, role }) = self.frames.last()
                && self.bindings.last().is_none_or(|b| b.depth < depth)
            {
                self.frames.pop();
                self.names.truncate(name as usize);
                self.replay.named = self.replay.named.min(self.frames.len());
                if role != Role::Skip {
                    if self.capture.depth == depth {
                        sink.end(role, &self.capture.buf);
                        self.capture.depth = 0;
                        self.capture.buf.clear();
                    } else {
                        sink.end(role, &[]);
                    }
                }
                return None;
            }
            self.end_tag(sink);
            self.replay.named = self.replay.named.min(self.frames.len());
            return None;
        };
        if unbound {
            self.unbound = self.unbound.saturating_add(1);
        }
        match report {
            Report::None => {}
            Report::Prop(0) => sink.prop(self.replay.bytes(n.uri), self.replay.bytes(n.local)),
            Report::Prop(token) => {
                sink.prop_token(token, self.replay.bytes(n.uri), self.replay.bytes(n.local));
            }
            Report::ErrorChild { owner, dav } => sink.error_child(
                owner,
                dav,
                self.replay.bytes(n.uri),
                self.replay.bytes(n.local),
            ),
        }
        if let (Some(role), Some(f)) = (parent, self.frames.last_mut()) {
            f.role = role;
        }
        if role == Role::Skip && !empty {
            return Some(node);
        }
        let qname = n.tag.0.wrapping_add(1);
        if !empty && !self.unnamed_at(node) {
            self.name_replayed();
            self.pending = self.names.len();
            if let Some(q) = self.replay.arena.get(qname..qname.wrapping_add(name)) {
                self.names.extend_from_slice(q);
            }
            self.open(role, empty, sink);
            self.replay.named = self.frames.len();
            return None;
        }
        self.pending = self.names.len();
        self.open(role, empty, sink);
        None
    }

    /// The element about to open (from `node`) will have its name written when the walk
    /// ends, if there is room to remember it: true.
    #[inline(always)]
    fn unnamed_at(&mut self, node: u32) -> bool {
        let at = self.frames.len().wrapping_sub(self.replay.floor);
        match self.replay.unnamed.get_mut(at) {
            Some(slot) => {
                *slot = node;
                true
            }
            None => false,
        }
    }

    /// Opens the skipped element whose start tag is `node` (what `open` does for it).
    fn open_skipped(&mut self, node: u32) {
        let named = !self.unnamed_at(node);
        if named {
            self.name_replayed();
        }
        let start = self.names.len();
        if named {
            let q = self.replay.qname(node);
            self.names.extend_from_slice(q);
        }
        self.frames.push(Frame {
            name: u32::try_from(start).unwrap_or(u32::MAX),
            role: Role::Skip,
        });
        if named {
            self.replay.named = self.frames.len();
        }
    }

    /// Reads `tag` (at body offset `at`) the ordinary way, recording what it does; adds it
    /// as a child of `node` when it has a shape the trie replays and there is room. Errors
    /// are those reading it gives.
    fn learn<S: Sink>(
        &mut self,
        node: u32,
        tag: &[u8],
        at: u64,
        sink: &mut S,
    ) -> Result<Option<u32>, Malformed> {
        let depth = self.frames.len();
        let bindings = self.bindings.len();
        let unbound = self.unbound;
        let parent = self.frames.last().map(|f| f.role);
        let mut rec = Recorder {
            sink,
            log: Recorded::default(),
        };
        self.name_replayed();
        self.replay.recording = true;
        let read = self.lex(tag, at, &mut rec);
        self.replay.recording = false;
        self.replay.named = self.frames.len();
        read?;
        let log = rec.log;
        if self.state != State::Text
            || self.deep != 0
            || self.unnamed
            || log.count > log.calls.len()
            || !self.replay.room(
                node,
                tag.len()
                    .saturating_add(log.uri.len())
                    .saturating_add(log.local.len()),
            )
        {
            return Ok(None);
        }
        let effect = if tag.get(1) == Some(&b'/') {
            if self.frames.len().wrapping_add(1) != depth {
                return Ok(None);
            }
            Effect::End
        } else {
            let empty = tag.ends_with(b"/>");
            let name = tag
                .iter()
                .skip(1)
                .position(|&b| b == b'>' || b == b'/' || is_ws(b))
                .unwrap_or(0);
            let calls = log.calls.get(..log.count).unwrap_or_default();
            let (report, calls) = match calls {
                [Some(Call::Report(r)), rest @ ..] => (*r, rest),
                _ => (Report::None, calls),
            };
            let role = match (calls, empty) {
                ([], _) => Role::Skip,
                ([Some(Call::Start(r))], false) => *r,
                ([Some(Call::Start(r)), Some(Call::End(e))], true) if r == e => *r,
                _ => return Ok(None),
            };
            let opened = if empty { depth } else { depth.wrapping_add(1) };
            let after = self.frames.get(depth.wrapping_sub(1)).map(|f| f.role);
            if self.frames.len() != opened
                || self.bindings.len() != bindings
                || (!empty && self.frames.last().map(|f| f.role) != Some(role))
                || self.unbound.wrapping_sub(unbound) > 1
            {
                return Ok(None);
            }
            Effect::Start {
                role,
                empty,
                name,
                report,
                parent: (after != parent).then_some(after).flatten(),
                unbound: self.unbound != unbound,
            }
        };
        Ok(Some(self.replay.add(node, tag, &log, effect)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound DESIGN.md §2.8 states for the trie.
    #[test]
    fn the_trie_stays_within_its_stated_bound() {
        let most = NODES
            .saturating_mul(std::mem::size_of::<Node>())
            .saturating_add(ARENA)
            .saturating_add(KEY_NAMES)
            .saturating_add(KEY_FRAMES.saturating_mul(std::mem::size_of::<Frame>()))
            .saturating_add(KEY_BINDINGS.saturating_mul(16));
        assert!(most <= 64 * 1024, "{most}");
    }
}
