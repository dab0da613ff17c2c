//! Runs: the tags an entry has one right after the other, with no text between
//! (`</d:href><d:propstat><d:prop><d:displayname>`), replayed as one. A node keeps the runs
//! that followed it (`Node::run`, `Run`: the bytes of those tags, and their nodes' ops); at
//! the next walk through the node, when the input starts with a run's bytes, one compare
//! stands for the tags' lookups, then each node's op is replayed in order, as reading the
//! tags one at a time would (the walk through equal bytes from an equal state is through
//! the same nodes). Text is only ever between runs, so what it feeds (the captured href,
//! status or description) is untouched.
//!
//! A run may cross from an entry's end tag into the next entry (`</d:response>`,
//! whitespace, `<d:response>`, `<d:href>`): where the walk went on into the next entry
//! (`next_anchor`, an anchor that declares nothing), the run being learnt goes on through
//! its start tag (`track_anchor`), kept as `Kind::Anchor`, then the tags from the trie's
//! root. Replayed, it opens the anchor as `next_anchor` did: the state after an entry's end
//! tag replayed from the anchor state is the one `next_anchor` found there (see there).
//!
//! Whitespace between two tags where no text is captured (`capture.depth` 0: nothing to
//! feed, and where it was 0 as the run was learnt it is 0 at every replay, as an href or
//! description is captured only while the sink `wants_text`, which once false stays
//! false) is part of a run, compared with its tags: servers indent their entries the same.
//!
//! A run is learnt (`Track`) while tags are read one at a time: from the node the walk
//! stood on before the first, up to the next text that is not such whitespace, reference,
//! skipped leaf passed over whole, run replayed, `RUN` tags, or the end of the walk (one
//! cut by the chunk's end is forgotten). A node
//! keeps up to `NODE_RUNS` runs of at least two tags, tried in the order learnt: entries of
//! different kinds part after the same tag; within `RUNS` runs and `ARENA` bytes for all
//! runs. After `SHORT` runs of one tag, nothing more is learnt after a node.

use super::ops::Op;
use super::trie::{ARENA, NODE_RUNS, NONE, RUN, RUNS, Run, offset};
use crate::multistatus::lexer::bytes::{is_ws, same};
use crate::multistatus::lexer::roles::Role;
use crate::multistatus::lexer::{Lexer, Sink};

/// Runs of one tag learnt after a node before no more are learnt after it: a run stands
/// for at least two lookups.
const SHORT: u8 = 2;

/// In `Track::nodes`: the next entry's start tag (`track_anchor`), not a node.
const ANCHOR: u32 = NONE - 1;

/// The run being read one tag at a time: from node `owner` (`NONE`: no run), the tags and
/// whitespace at `from..end` of the chunk, which led to the first `count` of `nodes`.
#[derive(Debug, Clone, Copy)]
pub(in crate::multistatus::lexer) struct Track {
    owner: u32,
    from: usize,
    end: usize,
    count: u8,
    nodes: [u32; RUN],
}

impl Default for Track {
    fn default() -> Self {
        Track {
            owner: NONE,
            from: 0,
            end: 0,
            count: 0,
            nodes: [NONE; RUN],
        }
    }
}

impl Lexer {
    /// The tag at `at..end` of `chunk` was read one at a time, from node `before` to
    /// `after`: it joins the run being learnt, or starts one if `before` has none.
    #[inline(always)]
    pub(super) fn track(&mut self, chunk: &[u8], before: u32, after: u32, at: usize, end: usize) {
        if self.replay.track.count as usize >= RUN {
            self.end_track(chunk);
        }
        let r = &mut self.replay;
        if r.track.owner == NONE {
            if r.runs.len() >= RUNS
                || r.nodes
                    .get(before as usize)
                    .is_none_or(|n| n.runs >= NODE_RUNS || n.short >= SHORT)
            {
                return;
            }
            r.track = Track {
                owner: before,
                from: at,
                end,
                ..Track::default()
            };
        }
        if let Some(slot) = r.track.nodes.get_mut(r.track.count as usize) {
            *slot = after;
            r.track.count = r.track.count.wrapping_add(1);
            r.track.end = end;
        }
    }

    /// The walk went on into the next entry (`next_anchor`), whose start tag ends at `end`,
    /// with only whitespace since the last tag: the run being learnt goes on through it.
    /// A run does not start there (it would stand for no lookup), nor goes on past `RUN`.
    #[inline(always)]
    pub(super) fn track_anchor(&mut self, chunk: &[u8], end: usize) {
        if self.replay.track.owner == NONE {
            return;
        }
        if self.replay.track.count as usize >= RUN {
            self.end_track(chunk);
            return;
        }
        let t = &mut self.replay.track;
        if let Some(slot) = t.nodes.get_mut(t.count as usize) {
            *slot = ANCHOR;
            t.count = t.count.wrapping_add(1);
            t.end = end;
        }
    }

    /// Text (`text`, not captured) between two tags of the run being learnt: whitespace
    /// stays in the run; anything else ends it.
    #[inline(always)]
    pub(super) fn track_text(&mut self, chunk: &[u8], text: &[u8]) {
        if self.replay.track.owner != NONE
            && (self.capture.depth != 0 || !text.iter().all(|&b| is_ws(b)))
        {
            self.keep_track(chunk);
        }
    }

    /// Ends the run being learnt; its owner keeps it if it has none and there is room.
    #[inline(always)]
    pub(super) fn end_track(&mut self, chunk: &[u8]) {
        if self.replay.track.owner != NONE {
            self.keep_track(chunk);
        }
    }

    /// Forgets the run being learnt (the walk stopped in it at the chunk's end).
    pub(super) fn drop_track(&mut self) {
        self.replay.track = Track::default();
    }

    /// `end_track` with a run being learnt.
    #[inline(never)]
    fn keep_track(&mut self, chunk: &[u8]) {
        let r = &mut self.replay;
        let t = std::mem::take(&mut r.track);
        let keep = t.count >= 2
            && chunk.get(t.from..t.end).is_some_and(|bytes| {
                if r.arena.len().saturating_add(bytes.len()) > ARENA {
                    return false;
                }
                let Some(n) = r.nodes.get_mut(t.owner as usize) else {
                    return false;
                };
                let start = r.arena.len();
                r.arena.extend_from_slice(bytes);
                let at = u32::try_from(r.runs.len()).unwrap_or(NONE);
                // Last in the node's list: the runs learnt first are tried first.
                let mut last = n.run;
                n.runs = n.runs.saturating_add(1);
                if last == NONE {
                    n.run = at;
                }
                let mut ops = [Op::NONE; RUN];
                for (op, &node) in ops.iter_mut().zip(&t.nodes).take(usize::from(t.count)) {
                    *op = match node {
                        ANCHOR => Op::ANCHOR,
                        _ => r.nodes.get(node as usize).map_or(Op::NONE, |n| n.op),
                    };
                }
                r.runs.push(Run {
                    bytes: (offset(start), offset(r.arena.len())),
                    ops,
                    count: t.count,
                    next: NONE,
                });
                while let Some(run) = r.runs.get_mut(last as usize) {
                    if run.next == NONE {
                        run.next = at;
                        break;
                    }
                    last = run.next;
                }
                true
            });
        if !keep
            && t.count < 2
            && let Some(n) = r.nodes.get_mut(t.owner as usize)
        {
            n.short = n.short.saturating_add(1);
        }
    }

    /// Replays the run after `node` if `input` starts with it, `depth` elements open:
    /// returns its length and the node it leads to.
    #[inline(always)]
    pub(super) fn replay_run<S: Sink>(
        &mut self,
        node: u32,
        input: &[u8],
        depth: &mut usize,
        sink: &mut S,
    ) -> Option<(usize, u32)> {
        let mut at = self.replay.nodes.get(node as usize)?.run;
        let (len, ops, count) = loop {
            let run = self.replay.runs.get(at as usize)?;
            let (a, b) = (run.bytes.0 as usize, run.bytes.1 as usize);
            let len = b.wrapping_sub(a);
            if let (Some(x), Some(y)) = (input.get(..len), self.replay.arena.get(a..b))
                && same(x, y)
            {
                break (len, run.ops, run.count);
            }
            at = run.next;
        };
        // `count` is at most `RUN`: never `None` (a branch, not an empty default selected).
        let ops = ops.get(..usize::from(count))?;
        for op in ops {
            if let Some(end) = self.replay_op(op, depth, sink) {
                self.open_lazy(end, Role::Skip, depth);
            }
        }
        Some((len, ops.last().map_or(node, |op| u32::from(op.node))))
    }
}
