//! Replaying a node: what reading its tag did, done again. Each node keeps, beside its
//! `Effect`, an `Op` decided once as it is learnt (`Op::of`): the few shapes entries are
//! made of (an end tag, a skipped element or leaf, a property name reported, an audited
//! element opened) each replayed by one arm with no decoding; anything else (an empty
//! audited element, an error's first child, an unbound prefix, `Report::Prop(0)`) goes the
//! general way (`replay_node`), which decodes the `Effect`. Runs hold copies of their
//! nodes' ops (see `runs`), so a run's tags replay without a lookup of their nodes.
//!
//! The open elements are kept lazily (see `walk`): `open_lazy` counts an element the walk
//! opens and remembers its node and role; `close_lazy` closes one; `close_written` one
//! whose frame is written.

use super::trie::{Effect, Report, UNNAMED};
use crate::multistatus::lexer::roles::Role;
use crate::multistatus::lexer::{Frame, Lexer, Sink};
use crate::multistatus::limits::MAX_STATUS;

/// The shape of what replaying a node does (`Op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// An end tag (of an element of role `Op::role`).
    End,
    /// A skipped element's start tag, not empty, reporting nothing: opened by the caller.
    Skip,
    /// A skipped empty element reporting nothing: nothing to do.
    Leaf,
    /// A property name (`Report::Prop` with a token) on a skipped element, not empty
    /// (`Prop`) or empty (`PropLeaf`).
    Prop,
    PropLeaf,
    /// An audited element (`Op::role`), not empty, reporting nothing.
    Open,
    /// Anything else: `replay_node`.
    General,
    /// An empty element with attributes (`Effect::Read`): the walk reads its tag the
    /// ordinary way (`Lexer::read_whole`); never in a run.
    Read,
    /// The next entry's start tag, in a run that crossed into it from the entry's end tag
    /// (see `runs`): opens the anchor again (`Lexer::open_anchor`); the walk goes on from
    /// the trie's root (`Op::node` 0).
    Anchor,
}

/// What replaying node `node` does (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(super) struct Op {
    pub(super) kind: Kind,
    pub(super) role: Role,
    pub(super) node: u16,
}

impl Op {
    /// The op of node `node`, whose tag did `effect`.
    pub(super) fn of(effect: Effect, node: u32) -> Op {
        let node = u16::try_from(node).unwrap_or(u16::MAX);
        let (kind, role) = match effect {
            Effect::End { role } => (Kind::End, role),
            Effect::Start {
                role,
                empty,
                report,
                parent: None,
                unbound: false,
                ..
            } => match (role, report, empty) {
                (Role::Skip, Report::None, false) => (Kind::Skip, role),
                (Role::Skip, Report::None, true) => (Kind::Leaf, role),
                (Role::Skip, Report::Prop(t), false) if t != 0 => (Kind::Prop, role),
                (Role::Skip, Report::Prop(t), true) if t != 0 => (Kind::PropLeaf, role),
                (_, Report::None, false) if role != Role::Skip => (Kind::Open, role),
                _ => (Kind::General, role),
            },
            Effect::Start { role, .. } => (Kind::General, role),
            Effect::Read => (Kind::Read, Role::Skip),
        };
        Op { kind, role, node }
    }

    /// No node (past the ops of a run).
    pub(super) const NONE: Op = Op {
        kind: Kind::General,
        role: Role::Skip,
        node: u16::MAX,
    };

    /// The anchor's start tag in a run (`Kind::Anchor`).
    pub(super) const ANCHOR: Op = Op {
        kind: Kind::Anchor,
        role: Role::Skip,
        node: 0,
    };
}

impl Lexer {
    /// Does what `replay_node` does for the node of `op`, by its shape.
    #[inline(always)]
    pub(super) fn replay_op<S: Sink>(
        &mut self,
        op: &Op,
        depth: &mut usize,
        sink: &mut S,
    ) -> Option<u32> {
        match op.kind {
            Kind::End if *depth > self.replay.named => {
                // An element the walk opened and has not written.
                debug_assert_eq!(
                    self.replay
                        .roles
                        .get(depth.wrapping_sub(1).wrapping_sub(self.replay.floor))
                        .copied(),
                    Some(op.role)
                );
                self.close_lazy(op.role, *depth, sink);
                *depth = depth.wrapping_sub(1);
                None
            }
            Kind::Skip => Some(u32::from(op.node)),
            Kind::Leaf => None,
            Kind::Open => {
                self.start_lazy(op.role, depth.wrapping_add(1), sink);
                self.open_lazy(u32::from(op.node), op.role, depth);
                None
            }
            Kind::Prop | Kind::PropLeaf => {
                if sink.wants_props() {
                    self.replay_prop(op.node, sink);
                }
                (op.kind == Kind::Prop).then_some(u32::from(op.node))
            }
            Kind::Anchor => {
                debug_assert_eq!(self.bindings.len(), self.replay.key.bindings.len());
                self.open_anchor(depth, sink);
                None
            }
            Kind::End | Kind::General | Kind::Read => {
                self.replay_node(u32::from(op.node), depth, sink)
            }
        }
    }

    /// Reports the property name node `node` reported (`Kind::Prop`).
    #[inline(never)]
    fn replay_prop<S: Sink>(&mut self, node: u16, sink: &mut S) {
        if let Some(n) = self.replay.nodes.get(usize::from(node))
            && let Effect::Start {
                report: Report::Prop(token),
                ..
            } = n.effect
        {
            sink.prop_token(token, self.replay.bytes(n.uri), self.replay.bytes(n.local));
        }
    }

    /// Does what reading the tag of `node` did, `depth` elements open; for a skipped
    /// element that is not empty, does not open it yet and returns `node`: the caller
    /// either passes over it whole (text and end tag) or opens it (`open_lazy`).
    #[inline(always)]
    pub(super) fn replay_node<S: Sink>(
        &mut self,
        node: u32,
        depth: &mut usize,
        sink: &mut S,
    ) -> Option<u32> {
        let n = self.replay.nodes.get(node as usize)?;
        let Effect::Start {
            role,
            empty,
            report,
            parent,
            unbound,
            ..
        } = n.effect
        else {
            if let Effect::Read = n.effect {
                // Read by the walk (`read_whole`), never replayed.
                debug_assert!(false, "a read node replayed");
                return None;
            }
            if let Effect::End { role } = n.effect
                && *depth > self.replay.named
            {
                // An element the walk opened and has not written.
                debug_assert_eq!(
                    self.replay
                        .roles
                        .get(depth.wrapping_sub(1).wrapping_sub(self.replay.floor))
                        .copied(),
                    Some(role)
                );
                self.close_lazy(role, *depth, sink);
                *depth = depth.wrapping_sub(1);
                return None;
            }
            self.close_written(sink);
            *depth = self.frames.len();
            self.replay.named = *depth;
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
        if let Some(role) = parent {
            if *depth > self.replay.named {
                let at = depth.wrapping_sub(1).wrapping_sub(self.replay.floor);
                if let Some(slot) = self.replay.roles.get_mut(at) {
                    *slot = role;
                }
            } else if let Some(f) = self.frames.last_mut() {
                f.role = role;
            }
        }
        if matches!(role, Role::Skip) {
            return (!empty).then_some(node);
        }
        if empty {
            // Opened and closed at once: `open`, then `end_tag`.
            let inner = depth.wrapping_add(1);
            self.start_lazy(role, inner, sink);
            self.close_lazy(role, inner, sink);
            return None;
        }
        self.start_lazy(role, depth.wrapping_add(1), sink);
        self.open_lazy(node, role, depth);
        None
    }

    /// What `open` reports for an audited element that will be the `depth`th open one.
    #[inline(always)]
    pub(super) fn start_lazy<S: Sink>(&mut self, role: Role, depth: usize, sink: &mut S) {
        sink.start(role);
        if let Some(status) = role.captures()
            && (status || sink.wants_text())
        {
            let cap = if status { MAX_STATUS } else { self.max_text };
            self.capture.begin(depth, status, cap);
        }
    }

    /// What `end_tag` reports closing the `depth`th open element, of role `role`, when
    /// it holds no declaration.
    #[inline(always)]
    fn close_lazy<S: Sink>(&mut self, role: Role, depth: usize, sink: &mut S) {
        if !matches!(role, Role::Skip) {
            self.capture.end(depth, role, sink);
        }
    }

    /// Closes the innermost written frame: what `end_tag` does (`deep` is 0 in a walk),
    /// without the parts that cannot apply to an element with no declarations that is not
    /// the root.
    #[inline(always)]
    fn close_written<S: Sink>(&mut self, sink: &mut S) {
        let depth = self.frames.len();
        if depth > 1
            && let Some(&Frame { name, role }) = self.frames.last()
            && self.bindings.last().is_none_or(|b| b.depth < depth)
        {
            self.frames.pop();
            self.names.truncate(name as usize);
            self.close_lazy(role, depth, sink);
            return;
        }
        self.end_tag(sink);
    }

    /// Opens the element whose start tag is `node`, of role `role` (its reports made): kept
    /// lazily when there is room to remember it, else written at once.
    #[inline(always)]
    pub(super) fn open_lazy(&mut self, node: u32, role: Role, depth: &mut usize) {
        let at = depth.wrapping_sub(self.replay.floor);
        if at < UNNAMED
            && let (Some(n), Some(r)) = (
                self.replay.unnamed.get_mut(at),
                self.replay.roles.get_mut(at),
            )
        {
            *n = node;
            *r = role;
            *depth = depth.wrapping_add(1);
            return;
        }
        self.materialize(*depth);
        let start = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        let q = self.replay.qname(node);
        self.names.extend_from_slice(q);
        self.frames.push(Frame { name: start, role });
        *depth = self.frames.len();
        self.replay.named = *depth;
    }
}
