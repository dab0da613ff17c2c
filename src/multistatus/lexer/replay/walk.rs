//! The walk: from an anchor, each tag byte-identical to a child of the current node is
//! replayed from the node (`replay_node`: what `Lexer::open` and `Lexer::end_tag` do for
//! it, the recorded reports made again); a skipped leaf whose text and end tag follow is
//! passed over whole; anything else is learnt (`learn`) or ends the walk. The names of the
//! elements the walk opens are written only when it ends (`name_replayed`).

use super::learn::recordable;
use super::trie::{Effect, NONE, Report};
use crate::multistatus::lexer::bytes::find_markup;
use crate::multistatus::lexer::roles::Role;
use crate::multistatus::lexer::{Frame, Lexer, Sink};
use crate::multistatus::report::Malformed;

impl Lexer {
    /// From an anchor (a `DAV:response` just opened, `pos` just past its start tag), replays
    /// or learns the tags of the entry up to its end tag. Returns where it stopped: at a
    /// markup it leaves to the skim, past the entry's end tag, or the chunk's end.
    pub(in crate::multistatus::lexer) fn walk<S: Sink>(
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
    pub(super) fn name_replayed(&mut self) {
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
}
