//! Anchors: the lexer state a trie holds for (`Key`: open elements with their names and
//! roles, declarations by serial and depth, `shadow`), and the check at each
//! `DAV:response` that the state is that one (or, within `RESETS`, starts the trie afresh
//! for a new one).

use super::trie::{KEY_BINDINGS, KEY_FRAMES, KEY_NAMES, RESETS};
use crate::multistatus::lexer::bytes::same;
use crate::multistatus::lexer::namespaces::Binding;
use crate::multistatus::lexer::state::State;
use crate::multistatus::lexer::{Frame, Lexer};

/// The lexer state at an anchor that the trie holds for.
#[derive(Debug, Default)]
pub(super) struct Key {
    pub(super) frames: Vec<Frame>,
    pub(super) names: Vec<u8>,
    /// `(serial, depth)` of each declaration in scope.
    pub(super) bindings: Vec<(u64, usize)>,
    pub(super) shadow: u64,
    /// The anchor's qualified name (the last of `names`) when it has at most 16 bytes,
    /// zero-padded to 16, and its length (0: longer, or no anchor): `open_anchor` writes
    /// it as 16 bytes and cuts them to the name, with no `memcpy` of a length known only
    /// at run time.
    pub(super) name16: [u8; 16],
    pub(super) name16_len: usize,
}

/// The frames are the same (names and roles), compared in a plain loop (no iterator
/// adapters: this runs at every entry).
#[inline(always)]
fn same_frames(a: &[Frame], b: &[Frame]) -> bool {
    let mut i = 0;
    while let (Some(x), Some(y)) = (a.get(i), b.get(i)) {
        if x.name != y.name || x.role != y.role {
            return false;
        }
        i = i.wrapping_add(1);
    }
    a.len() == b.len()
}

/// The bindings in scope are the ones kept (by serial and depth).
#[inline(always)]
fn same_bindings(a: &[(u64, usize)], b: &[Binding]) -> bool {
    let mut i = 0;
    while let (Some(&(serial, depth)), Some(y)) = (a.get(i), b.get(i)) {
        if serial != y.serial || depth != y.depth {
            return false;
        }
        i = i.wrapping_add(1);
    }
    a.len() == b.len()
}

impl Lexer {
    /// The lexer is at an anchor in a state the trie holds for; a new state starts the trie
    /// afresh (within `RESETS`). False: no walk here.
    pub(super) fn anchored(&mut self) -> bool {
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
            && same_frames(&key.frames, &self.frames)
            && same_bindings(&key.bindings, &self.bindings)
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
        let anchor = key
            .frames
            .last()
            .and_then(|f| key.names.get(f.name as usize..))
            .unwrap_or_default();
        key.name16 = [0; 16];
        key.name16_len = 0;
        if let Some(head) = key.name16.get_mut(..anchor.len()) {
            head.copy_from_slice(anchor);
            key.name16_len = anchor.len();
        }
        true
    }

    /// A walk may start here (cheap checks before `walk`; `anchored` does the rest).
    #[inline(always)]
    pub(in crate::multistatus::lexer) fn may_walk(&self) -> bool {
        !self.replay.recording && self.bindings.len() <= KEY_BINDINGS
    }
}
