//! The walk: from an anchor, each tag byte-identical to a child of the current node is
//! replayed from the node (`ops`: what `Lexer::open` and `Lexer::end_tag` do for it, the
//! recorded reports made again); a skipped leaf whose text and end tag follow is
//! passed over whole; anything else is learnt (`learn`) or ends the walk. Past the
//! entry's end tag, when the next entry opens with the anchor's start tag from the anchor
//! state, the walk goes on into it from the trie's root (`next_anchor`) instead of handing
//! back to the skim, which would read that tag and compare the state again.
//!
//! The open elements are kept lazily: the elements the walk opens above its anchor are
//! only counted (`depth`), with the node that opened each and its role (`Trie::unnamed`,
//! `Trie::roles`, written by `ops`); their frames and names are written (`materialize`)
//! only when the walk ends or before a tag is read the ordinary way. An end tag replayed
//! above the written frames closes the role its node recorded (the role the open element
//! has there: the walk from one anchor state through the same tags passes through the same
//! states).

use super::learn::{Recorded, readable, recordable};
use super::ops::{Kind, Op};
use super::trie::Effect;
use super::trie::{NONE, TAG};
use crate::multistatus::lexer::bytes::{find_markup, is_ws, same};
use crate::multistatus::lexer::roles::Role;
use crate::multistatus::lexer::state::State;
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
        let mut depth = self.frames.len();
        let walked = self.walk_entry(chunk, pos, base, &mut depth, sink);
        // A run cut by the chunk's end is not one to keep.
        let cut = walked
            .as_ref()
            .is_ok_and(|&at| at.saturating_add(TAG) > chunk.len());
        if depth < self.replay.floor || !cut {
            self.end_track(chunk);
        } else {
            self.drop_track();
        }
        self.materialize(depth);
        walked
    }

    /// Writes the frames and names of the elements the replay opened above the written
    /// frames (see `Trie::unnamed`), up to `depth`: the state is then the one reading
    /// their tags leaves.
    pub(super) fn materialize(&mut self, depth: usize) {
        let from = self.replay.named;
        for i in from..depth {
            let at = i.wrapping_sub(self.replay.floor);
            let node = self.replay.unnamed.get(at).copied().unwrap_or(NONE);
            let role = self.replay.roles.get(at).copied().unwrap_or(Role::Skip);
            let start = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
            self.names.extend_from_slice(self.replay.qname(node));
            self.frames.push(Frame { name: start, role });
        }
        self.replay.named = self.frames.len();
    }

    #[inline(always)]
    fn walk_entry<S: Sink>(
        &mut self,
        chunk: &[u8],
        mut pos: usize,
        base: u64,
        depth: &mut usize,
        sink: &mut S,
    ) -> Result<usize, Malformed> {
        let floor = self.replay.floor;
        let mut node = 0u32;
        loop {
            // Positions stay within `chunk`: no sum below overflows, and the `else`s of
            // the two slicings below are never taken (a branch, where an empty default
            // would be selected at every tag).
            let Some(rest) = chunk.get(pos..) else {
                return Ok(chunk.len());
            };
            let Some(i) = find_markup(rest) else {
                self.capture.push(rest);
                return Ok(chunk.len());
            };
            let Some((text, tag)) = rest.split_at_checked(i) else {
                return Ok(chunk.len());
            };
            if i != 0 {
                self.track_text(chunk, text);
                if self.capture.depth != 0 {
                    self.capture.push(text);
                }
            }
            pos = pos.wrapping_add(i);
            // A reference first: a run starts with `<`, so none would match here.
            if let [b'&', after @ ..] = tag {
                self.end_track(chunk);
                match self.skim_reference(after) {
                    Some(n) => {
                        pos = pos.wrapping_add(n).wrapping_add(2);
                        continue;
                    }
                    None => return Ok(pos),
                }
            }
            if let Some((len, last)) = self.replay_run(node, tag, depth, sink) {
                self.end_track(chunk);
                pos = pos.wrapping_add(len);
                node = last;
                if *depth < floor {
                    match self.next_anchor(chunk, pos, depth, sink) {
                        Some(at) => {
                            (pos, node) = (at, 0);
                        }
                        None => return Ok(pos),
                    }
                }
                continue;
            }
            if let Some((child, len)) = self.replay.find(node, tag) {
                let op = self
                    .replay
                    .nodes
                    .get(child as usize)
                    .map_or(Op::NONE, |n| n.op);
                if op.kind == Kind::Read {
                    let at = base.wrapping_add(pos as u64);
                    let read = tag.get(..len).unwrap_or_default();
                    pos = pos.wrapping_add(len);
                    if !self.read_whole(chunk, read, at, depth, sink)? {
                        return Ok(pos);
                    }
                    node = child;
                    continue;
                }
                self.track(chunk, node, child, pos, pos.wrapping_add(len));
                pos = pos.wrapping_add(len);
                node = child;
                if let Some(end) = self.replay_op(&op, depth, sink) {
                    // A skipped leaf: its text and end tag, if that is what follows.
                    let body = chunk.get(pos..).unwrap_or_default();
                    if let Some(j) = find_markup(body)
                        && let Some(close) = body.get(j..)
                        && let Some((e, n)) = self.replay.find_end(end, close)
                    {
                        if self.capture.depth != 0 {
                            self.capture.push(body.get(..j).unwrap_or_default());
                        }
                        self.end_track(chunk);
                        pos = pos.wrapping_add(j).wrapping_add(n);
                        node = e;
                        continue;
                    }
                    self.open_lazy(end, Role::Skip, depth);
                }
            } else {
                let Some(len) = recordable(tag) else {
                    // An empty element with attributes: read whole, then kept as a node
                    // read again at every walk (`Kind::Read`).
                    let Some(len) = readable(tag) else {
                        return Ok(pos);
                    };
                    let at = base.wrapping_add(pos as u64);
                    let read = tag.get(..len).unwrap_or_default();
                    pos = pos.wrapping_add(len);
                    if !self.read_whole(chunk, read, at, depth, sink)?
                        || !self.replay.room(node, len)
                    {
                        return Ok(pos);
                    }
                    node = self
                        .replay
                        .add(node, read, &Recorded::default(), Effect::Read);
                    continue;
                };
                let tag = tag.get(..len).unwrap_or_default();
                let at = base.wrapping_add(pos as u64);
                let from = pos;
                pos = pos.wrapping_add(len);
                self.materialize(*depth);
                let learnt = self.learn(node, tag, at, sink);
                *depth = self.frames.len();
                self.replay.named = *depth;
                match learnt? {
                    Some(child) => {
                        self.track(chunk, node, child, from, pos);
                        node = child;
                    }
                    None => return Ok(pos),
                }
            }
            if *depth < floor {
                match self.next_anchor(chunk, pos, depth, sink) {
                    Some(at) => {
                        (pos, node) = (at, 0);
                    }
                    None => return Ok(pos),
                }
            }
        }
    }

    /// The entry's end tag was just replayed (`depth` is one below the anchor's): when the
    /// next markup is the anchor's start tag again, opens it as reading it would and
    /// returns where the next entry's tags start; the walk goes on from the trie's root.
    ///
    /// Why the state is then the anchor state (`Key`) with only the declarations checked:
    /// the walk writes nothing below the anchor's frame (replayed and learnt tags open and
    /// close elements above it; a learnt tag that declares, or leaves `Text` or `deep` 0,
    /// ends the walk; text is captured only inside the entry's elements), so closing the
    /// anchor's element leaves the frames, names, `shadow` and bindings the key holds under
    /// it, less the declarations of the anchor's start tag (`end_tag` popped them). With
    /// none, the tag must be the name alone (`<D:response>`; a root anchor stops the walk);
    /// with some, the name then attributes that
    /// `replay_attrs` replays, recorded as declaring those the key holds (by serial: Apache
    /// declares the same three prefixes on every entry). Reading the tag from that state
    /// gives the role it gave then (a function of the parent's role and the declarations
    /// in scope) and the frame the key holds. The rest is checked in debug builds.
    ///
    /// A run being learnt goes on through the anchor when only whitespace is between the
    /// entries (`track_anchor`): replayed, it opens the anchor as this does (`Kind::Anchor`).
    #[inline(never)]
    fn next_anchor<S: Sink>(
        &mut self,
        chunk: &[u8],
        pos: usize,
        depth: &mut usize,
        sink: &mut S,
    ) -> Option<usize> {
        // An anchor at the root (`<D:response>` as the document element, its prefix unbound
        // and read as `DAV:`) has no next entry to walk into: only the document's end may
        // follow, which the ordinary reading checks.
        if *depth == 0 {
            return None;
        }
        let key = &self.replay.key;
        if self.bindings.len() != key.bindings.len() {
            self.end_track(chunk);
            return self.next_declaring_anchor(chunk, pos, depth, sink);
        }
        debug_assert!(self.same_below_anchor(*depth));
        let &Frame { name: start, role } = key.frames.last()?;
        let qname = key.names.get(start as usize..)?;
        let rest = chunk.get(pos..)?;
        let i = find_markup(rest)?;
        let after = i.wrapping_add(qname.len()).wrapping_add(1);
        let tag = rest.get(i..=after)?;
        if tag.first() != Some(&b'<')
            || tag.last() != Some(&b'>')
            || !tag
                .get(1..tag.len().wrapping_sub(1))
                .is_some_and(|n| same(n, qname))
        {
            return None;
        }
        let spaced = rest.get(..i).is_some_and(|t| t.iter().all(|&b| is_ws(b)));
        // What `open_anchor` does.
        self.push_anchor(start, role);
        *depth = self.frames.len();
        self.replay.named = *depth;
        debug_assert!(self.same_bindings_as_key());
        self.start_lazy(role, *depth, sink);
        let end = pos.wrapping_add(after).wrapping_add(1);
        // Whitespace between the entries stays in the run being learnt; text ends it.
        if spaced {
            self.track_anchor(chunk, end);
        } else {
            self.end_track(chunk);
        }
        Some(end)
    }

    /// `next_anchor` for an anchor whose start tag declared prefixes: the name, then the
    /// attributes `replay_attrs` replays, recorded as declaring those the key holds.
    #[cold]
    #[inline(never)]
    fn next_declaring_anchor<S: Sink>(
        &mut self,
        chunk: &[u8],
        pos: usize,
        depth: &mut usize,
        sink: &mut S,
    ) -> Option<usize> {
        let key = &self.replay.key;
        let declared = key.bindings.get(self.bindings.len()..)?;
        debug_assert!(self.same_below_anchor(*depth));
        if !self.replays_declarations(declared) {
            return None;
        }
        let &Frame { name: start, .. } = key.frames.last()?;
        let qname = key.names.get(start as usize..)?;
        let rest = chunk.get(pos..)?;
        let i = find_markup(rest)?;
        let [b'<', after @ ..] = rest.get(i..)? else {
            return None;
        };
        let (name, tail) = after.split_at_checked(qname.len())?;
        if !same(name, qname) {
            return None;
        }
        let (read, empty) = self.replay_attrs_outlined(tail)?;
        debug_assert!(!empty);
        self.open_anchor(depth, sink);
        Some(
            pos.wrapping_add(i)
                .wrapping_add(1)
                .wrapping_add(name.len())
                .wrapping_add(read),
        )
    }

    /// Opens the anchor's element as reading its start tag did (`next_anchor`), its
    /// declarations made (`next_declaring_anchor`), or none to make (a run that crossed
    /// into the next entry, `Kind::Anchor`: once an entry, so inlined).
    #[inline(always)]
    pub(super) fn open_anchor<S: Sink>(&mut self, depth: &mut usize, sink: &mut S) {
        let Some(&Frame { name: start, role }) = self.replay.key.frames.last() else {
            return;
        };
        self.push_anchor(start, role);
        *depth = self.frames.len();
        self.replay.named = *depth;
        debug_assert!(self.same_bindings_as_key());
        self.start_lazy(role, *depth, sink);
    }

    /// Writes the anchor's frame (its name at `start` of `names`, as the key holds it).
    #[inline(always)]
    fn push_anchor(&mut self, start: u32, role: Role) {
        let key = &self.replay.key;
        if key.name16_len != 0 {
            // 16 bytes stored at once, then cut to the name (see `Key::name16`).
            self.names.extend_from_slice(&key.name16);
            self.names
                .truncate((start as usize).wrapping_add(key.name16_len));
        } else {
            let qname = key.names.get(start as usize..).unwrap_or_default();
            self.names.extend_from_slice(qname);
        }
        self.frames.push(Frame { name: start, role });
    }

    /// The bindings are the key's (after `next_anchor` opened the anchor).
    fn same_bindings_as_key(&self) -> bool {
        let key = &self.replay.key;
        key.bindings.len() == self.bindings.len()
            && key
                .bindings
                .iter()
                .zip(&self.bindings)
                .all(|(&(serial, depth), b)| serial == b.serial && depth == b.depth)
    }

    /// The state is the key's below the anchor's frame (see `next_anchor`).
    fn same_below_anchor(&self, depth: usize) -> bool {
        let key = &self.replay.key;
        let n = self.frames.len();
        depth == n
            && n != 0
            && key.frames.len() == n.wrapping_add(1)
            && key
                .frames
                .iter()
                .zip(&self.frames)
                .all(|(a, b)| a.name == b.name && a.role == b.role)
            && key.frames.last().map(|f| f.name as usize) == Some(self.names.len())
            && key.names.get(..self.names.len()) == Some(self.names.as_slice())
            && key.shadow == self.shadow
            && key.bindings.len() >= self.bindings.len()
            && key
                .bindings
                .iter()
                .zip(&self.bindings)
                .all(|(&(serial, depth), b)| serial == b.serial && depth == b.depth)
            && key
                .bindings
                .get(self.bindings.len()..)
                .is_some_and(|d| d.iter().all(|&(_, depth)| depth == n.wrapping_add(1)))
            && self.capture.depth == 0
            && self.deep == 0
            && !self.unnamed
            && self.state == State::Text
    }
}
