//! The trie of entry tags and its bounds: each node holds one tag's bytes (with the words
//! `find` compares), what reading it did (`Effect`: the role it opened, what it reported,
//! the end tag it matched) and how to replay that (`Op`, see `ops`); `find` picks the child
//! of a node whose tag starts the input. Spans in the arena are `u32` offsets.
//! A node may also hold *runs* (`Node::run`, `Run`): tags that followed its own with no
//! text between, and their nodes (see `runs`).
//! The bounds (`NODES`, `ARENA`, `CHILDREN`, `TAG`, `RUN`, `RUNS`, `NODE_RUNS`,
//! `RESETS`, `KEY_*`, `UNNAMED`) are those
//! DESIGN.md §2.8 states, checked by the test below.

use super::anchor::Key;
use super::learn::Recorded;
use super::ops::Op;
use super::runs::Track;
use crate::multistatus::lexer::Frame;
use crate::multistatus::lexer::bytes::same;
use crate::multistatus::lexer::roles::Role;
use crate::multistatus::report::Level;

/// Nodes in the trie (the root included).
pub(super) const NODES: usize = 256;
/// Bytes of tags and reported names kept.
pub(super) const ARENA: usize = 16 * 1024;
/// Children of a node: the tags seen after it.
pub(super) const CHILDREN: u8 = 4;
/// Longest tag recorded.
pub(super) const TAG: usize = 128;
/// Times a body may start the trie afresh for a new anchor state.
pub(super) const RESETS: u32 = 32;
/// Anchor states kept are at most this deep, with this many name bytes and declarations.
pub(super) const KEY_FRAMES: usize = 8;
pub(super) const KEY_NAMES: usize = 512;
pub(super) const KEY_BINDINGS: usize = 16;
/// No node.
pub(super) const NONE: u32 = u32::MAX;
/// Elements a walk opens above its anchor without writing their names.
pub(super) const UNNAMED: usize = 16;
/// Tags in a run (`Node::run`).
pub(super) const RUN: usize = 8;
/// Runs kept in a trie, and after one node.
pub(super) const RUNS: usize = 256;
pub(super) const NODE_RUNS: u8 = 4;

/// What a recorded tag reported to the sink while its name was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Report {
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
pub(super) enum Effect {
    /// An end tag: closed the open element, of role `role`.
    End { role: Role },
    /// A start tag of a `name`-byte qualified name.
    Start {
        role: Role,
        empty: bool,
        name: u32,
        report: Report,
        /// The parent's role afterwards, when reading changed it (an error's first child).
        parent: Option<Role>,
        /// Its prefix was unbound and tolerated (`Lexer::unbound` counted it).
        unbound: bool,
    },
    /// An empty element with attributes, read the ordinary way at every walk (`Kind::Read`).
    Read,
}

/// Offsets `start..end` in the arena (`ARENA` bytes: they fit).
pub(super) type Span = (u32, u32);

#[derive(Debug, Clone, Copy)]
pub(super) struct Node {
    pub(super) tag: Span,
    /// The tag's first eight bytes (as a little-endian word, zero past its end) and the
    /// mask of those that are the tag's.
    pub(super) head: u64,
    pub(super) mask: u64,
    /// Bytes 8..16 and the last eight bytes of the tag (as little-endian words).
    pub(super) mid: u64,
    pub(super) tail: u64,
    /// The reported namespace and local name (`Report::Prop`, `Report::ErrorChild`).
    pub(super) uri: Span,
    pub(super) local: Span,
    pub(super) effect: Effect,
    pub(super) child: u32,
    pub(super) sibling: u32,
    pub(super) children: u8,
    /// The first of the runs after this node (`Trie::runs`, `NONE`: none) and their count.
    pub(super) run: u32,
    pub(super) runs: u8,
    /// Runs learnt after this node that were too short to keep (see `runs`).
    pub(super) short: u8,
    /// What replaying it does, by shape (see `ops`).
    pub(super) op: Op,
}

/// Tags that followed a node's with no text between (see `runs`): their bytes (with the
/// whitespace between them) in the arena, the ops of their nodes (the first `count`; held
/// here so that a replay reads them from a copy, with no lookup of the nodes), and the
/// node's next run (`NONE`: none).
#[derive(Debug, Clone, Copy)]
pub(super) struct Run {
    pub(super) bytes: Span,
    pub(super) ops: [Op; RUN],
    pub(super) count: u8,
    pub(super) next: u32,
}

/// The trie of tag sequences after an anchor (see the module docs).
#[derive(Debug)]
pub(in crate::multistatus::lexer) struct Trie {
    pub(super) nodes: Vec<Node>,
    pub(super) arena: Vec<u8>,
    /// Every run.
    pub(super) runs: Vec<Run>,
    pub(super) key: Key,
    pub(super) keyed: bool,
    pub(super) resets: u32,
    /// A tag is being read for recording: no walk starts inside it.
    pub(super) recording: bool,
    /// During a walk: the depth of the anchor (`Lexer::frames` below it are never
    /// replayed), the open elements written in `Lexer::frames` and `Lexer::names` (those
    /// below `named`), and the node and role of each element opened by the replay above
    /// them, written only when the walk ends or reads a tag (`Lexer::materialize`).
    pub(super) floor: usize,
    pub(super) named: usize,
    pub(super) unnamed: [u32; UNNAMED],
    pub(super) roles: [Role; UNNAMED],
    /// The run being read one tag at a time during a walk (see `runs`).
    pub(super) track: Track,
}

impl Default for Trie {
    fn default() -> Self {
        Trie {
            nodes: Vec::new(),
            arena: Vec::new(),
            runs: Vec::new(),
            key: Key::default(),
            keyed: false,
            resets: 0,
            recording: false,
            floor: 0,
            named: 0,
            unnamed: [NONE; UNNAMED],
            roles: [Role::Skip; UNNAMED],
            track: Track::default(),
        }
    }
}

impl Trie {
    /// An empty trie that keeps this one's buffers (`Lexer::new` reusing a lexer): what
    /// `Trie::default` is, without growing them again entry by entry.
    pub(in crate::multistatus::lexer) fn emptied(self) -> Trie {
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

    /// The qualified name a start-tag node opens.
    pub(super) fn qname(&self, node: u32) -> &[u8] {
        match self.nodes.get(node as usize) {
            Some(Node {
                tag,
                effect: Effect::Start { name, .. },
                ..
            }) => {
                let at = (tag.0 as usize).wrapping_add(1);
                self.arena
                    .get(at..at.wrapping_add(*name as usize))
                    .unwrap_or_default()
            }
            _ => b"",
        }
    }

    pub(in crate::multistatus::lexer) fn heap_bytes(&self) -> usize {
        self.nodes
            .capacity()
            .saturating_mul(std::mem::size_of::<Node>())
            .saturating_add(self.arena.capacity())
            .saturating_add(
                self.runs
                    .capacity()
                    .saturating_mul(std::mem::size_of::<Run>()),
            )
            .saturating_add(
                self.key
                    .frames
                    .capacity()
                    .saturating_mul(std::mem::size_of::<Frame>()),
            )
            .saturating_add(self.key.names.capacity())
            .saturating_add(self.key.bindings.capacity().saturating_mul(16))
    }

    pub(super) fn bytes(&self, span: Span) -> &[u8] {
        self.arena
            .get(span.0 as usize..span.1 as usize)
            .unwrap_or_default()
    }

    /// The child of `node` whose tag starts `input`, and that tag's length.
    #[inline(always)]
    pub(super) fn find(&self, node: u32, input: &[u8]) -> Option<(u32, usize)> {
        let mut c = self.nodes.get(node as usize)?.child;
        let first = word(input, 0);
        let long = input.len() >= 8;
        while let Some(n) = self.nodes.get(c as usize) {
            let (start, end) = (n.tag.0 as usize, n.tag.1 as usize);
            let len = end.wrapping_sub(start);
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
                                        self.arena.get(start.wrapping_add(16)..end),
                                    ) {
                                        (Some(a), Some(b)) => same(a, b),
                                        _ => false,
                                    })));
            let hit = hit
                || !long
                    && match (input.get(..len), self.arena.get(start..end)) {
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
    pub(super) fn find_end(&self, node: u32, input: &[u8]) -> Option<(u32, usize)> {
        self.find(node, input).filter(|&(c, _)| {
            matches!(
                self.nodes.get(c as usize).map(|n| n.effect),
                Some(Effect::End { .. })
            )
        })
    }

    /// Room for a child of `node` with `bytes` more bytes.
    pub(super) fn room(&self, node: u32, bytes: usize) -> bool {
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
        (offset(start), offset(self.arena.len()))
    }

    /// Adds a child of `parent`; returns it.
    pub(super) fn add(&mut self, parent: u32, tag: &[u8], rec: &Recorded, effect: Effect) -> u32 {
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
            run: NONE,
            runs: 0,
            short: 0,
            op: Op::of(effect, at),
        });
        if let Some(p) = self.nodes.get_mut(parent as usize) {
            p.child = at;
            p.children = p.children.saturating_add(1);
        }
        at
    }

    pub(super) fn clear(&mut self) {
        self.nodes.clear();
        self.arena.clear();
        self.runs.clear();
        self.nodes.push(Node {
            tag: (0, 0),
            head: 0,
            mask: 0,
            mid: 0,
            tail: 0,
            uri: (0, 0),
            local: (0, 0),
            effect: Effect::End { role: Role::Skip },
            child: NONE,
            sibling: NONE,
            children: 0,
            run: NONE,
            runs: 0,
            short: 0,
            op: Op::NONE,
        });
    }
}

/// An arena offset as kept in a `Span` (`ARENA` bytes: it fits; past `u32` it names no
/// bytes).
pub(super) fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// The eight bytes of `s` at `at` as a little-endian word (0 past the end).
#[inline(always)]
fn word(s: &[u8], at: usize) -> u64 {
    s.get(at..at.wrapping_add(8))
        .and_then(|w| w.try_into().ok())
        .map_or(0, u64::from_le_bytes)
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
            .saturating_add(RUNS.saturating_mul(std::mem::size_of::<Run>()))
            .saturating_add(KEY_NAMES)
            .saturating_add(KEY_FRAMES.saturating_mul(std::mem::size_of::<Frame>()))
            .saturating_add(KEY_BINDINGS.saturating_mul(16));
        assert!(most <= 64 * 1024, "{most}");
    }
}
