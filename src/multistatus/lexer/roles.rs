//! Roles: what an open element is to the audit, given its parent's role and its resolved
//! name; opening an element (`start_tag`) and closing it (`end_tag`), which report the
//! audited ones to the [`Sink`].

use super::memo::{PROP_KEY, Resolution, memo_parent};
use super::namespaces::Resolved;
use super::state::{Root, State};
use super::{Frame, Lexer, Sink, Step};
use crate::multistatus::limits::MAX_STATUS;
use crate::multistatus::report::{Level, Malformed};

/// What an open element is to the audit.
///
/// `repr(u8)`: the variant is its own tag byte, so a `match` on a role (`Tally::start`,
/// `Tally::end`, the replay's ops) is one table jump, not a niche decoded first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
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
    /// `DAV:propstat/DAV:prop`: its children are the property names (reported, skipped).
    Prop,
    /// `DAV:error` of a response or a propstat (its owner), until its first child is
    /// reported (`ErrorSeen` then). Two variants, not a `seen` field: every variant holds
    /// at most one byte, so a role is its tag byte and one byte (see `repr`).
    Error(Level),
    ErrorSeen(Level),
    /// `DAV:responsedescription` of a response or a propstat.
    Description(Level),
    /// Anything else: its subtree is skipped.
    Skip,
}

impl Role {
    /// Children of this element may be audited elements: resolve their namespaces.
    pub(super) fn resolves_children(self) -> bool {
        matches!(
            self,
            Role::Multistatus | Role::Response | Role::Propstat | Role::Prop | Role::Error(_)
        )
    }

    pub(super) fn captures(self) -> Option<bool> {
        match self {
            Role::Status(_) => Some(true),
            Role::Href | Role::Description(_) => Some(false),
            _ => None,
        }
    }
}

/// An unbound prefix is tolerated (issue 14 item 2) on an element the audit never counts:
/// anything but the root and the local names the audit counts at that position
/// (`response` in a multistatus; `href`, `status`, `propstat`, `error`,
/// `responsedescription` in a response; `status`, `error`, `responsedescription` in a
/// propstat). There it stays an error: the audit cannot tell whether it is a DAV: element.
pub(super) fn unbound_is_tolerated(reason: &str, parent: Option<Role>, qname: &[u8]) -> bool {
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

pub(super) const UNBOUND: &str = "unbound namespace prefix";

/// Reports a property name, with its token when the lexer has one (see `Sink::prop_token`).
#[inline(always)]
fn report_prop<S: Sink>(sink: &mut S, token: u64, uri: &[u8], local: &[u8]) {
    if token == 0 {
        sink.prop(uri, local);
    } else {
        sink.prop_token(token, uri, local);
    }
}

/// The role of an element from its parent's role, whether its namespace is `DAV:`, and its
/// local name. `None` is the root.
pub(super) fn role_of(parent: Option<Role>, dav: bool, local: &[u8]) -> Role {
    match (parent, dav, local) {
        (None, true, b"multistatus") => Role::Multistatus,
        // A bare `DAV:response` root (lighttpd's COPY fragment): one entry, read as a
        // multistatus holding it (DESIGN.md §2.7).
        (None, true, b"response") => Role::Response,
        (None, _, _) => Role::Foreign,
        (Some(Role::Multistatus), true, b"response") => Role::Response,
        (Some(Role::Response), true, b"href") => Role::Href,
        (Some(Role::Response), true, b"status") => Role::Status(Level::Response),
        (Some(Role::Response), true, b"propstat") => Role::Propstat,
        (Some(Role::Response), true, b"error") => Role::Error(Level::Response),
        (Some(Role::Response), true, b"responsedescription") => Role::Description(Level::Response),
        (Some(Role::Propstat), true, b"status") => Role::Status(Level::Propstat),
        (Some(Role::Propstat), true, b"prop") => Role::Prop,
        (Some(Role::Propstat), true, b"error") => Role::Error(Level::Propstat),
        (Some(Role::Propstat), true, b"responsedescription") => Role::Description(Level::Propstat),
        _ => Role::Skip,
    }
}

impl Lexer {
    /// A start tag is complete: give the element its role and open it.
    pub(super) fn start_tag<S: Sink>(&mut self, empty: bool, sink: &mut S) -> Step {
        self.state = State::Text;
        // The common case first: a child of a `DAV:multistatus`, `DAV:response` or
        // `DAV:propstat` whose role is kept with its known name (fast paths on).
        if !self.unnamed
            && !self.declaring
            && self.resolve
            && self.fast
            && let Some(key) = self.frames.last().and_then(|f| memo_parent(Some(f.role)))
            && key < PROP_KEY
            && let Some(hit) =
                self.known_role(key, self.names.get(self.pending..).unwrap_or_default())
        {
            self.open(hit.role, empty, sink);
            return Ok(());
        }
        self.start_tag_slow(empty, sink)
    }

    /// `start_tag` for all but its common case.
    #[inline(never)]
    fn start_tag_slow<S: Sink>(&mut self, empty: bool, sink: &mut S) -> Step {
        if self.unnamed {
            self.start_unnamed(empty, sink);
            return Ok(());
        }
        if self.declaring {
            // Cannot happen (a value always ends with its quote), kept for safety.
            self.attribute_done();
        }
        let parent = self.frames.last().map(|f| f.role);
        let role = if !self.resolve {
            Role::Skip
        } else if let Some(role) = self.memo_hit(parent, sink) {
            role
        } else {
            self.resolve_role(parent, sink)?
        };
        self.open(role, empty, sink);
        Ok(())
    }

    /// Opens the start tag just read as an element of role `role` (also what `replay`
    /// does for a tag it replays).
    #[inline(always)]
    pub(super) fn open<S: Sink>(&mut self, role: Role, empty: bool, sink: &mut S) {
        self.frames.push(Frame {
            name: u32::try_from(self.pending).unwrap_or(u32::MAX),
            role,
        });
        self.root = Root::Open;
        if !matches!(role, Role::Skip) {
            sink.start(role);
            if let Some(status) = role.captures()
                && (status || sink.wants_text())
            {
                let cap = if status { MAX_STATUS } else { self.max_text };
                self.capture.begin(self.frames.len(), status, cap);
            }
        }
        if empty {
            self.end_tag(sink);
        }
    }

    /// A start tag past the name stack's bounds: counted, not named.
    #[cold]
    fn start_unnamed<S: Sink>(&mut self, empty: bool, sink: &mut S) {
        self.unnamed = false;
        if self.deep == 0
            && self
                .frames
                .last()
                .is_some_and(|f| matches!(f.role, Role::Prop))
        {
            // A property whose name is past the bounds: counted, not named.
            sink.prop(b"", b"");
        }
        if !empty {
            self.deep = self.deep.saturating_add(1);
        }
    }

    /// The role of the start tag being read from the memo (fast paths on), reporting it as
    /// a property or as the first child of a `DAV:error` when it is one.
    #[inline]
    fn memo_hit<S: Sink>(&mut self, parent: Option<Role>, sink: &mut S) -> Option<Role> {
        if !self.fast {
            return None;
        }
        let key = memo_parent(parent)?;
        let qname = self.names.get(self.pending..).unwrap_or_default();
        let hit = match self.known_role(key, qname) {
            Some(hit) => hit,
            None => {
                let mut hit = self.memo_find(key, qname)?;
                let len = qname.len();
                hit.token = self.known_keep(key, len, &hit);
                hit
            }
        };
        if key >= PROP_KEY {
            self.report_child(key, parent, &hit, sink);
        }
        Some(hit.role)
    }

    /// A memoised child of `DAV:prop` (`key` is `PROP_KEY`) or first child of a
    /// `DAV:error` (`ERROR_KEY`): reported as `resolve_role` reports it.
    fn report_child<S: Sink>(
        &mut self,
        key: u8,
        parent: Option<Role>,
        hit: &Resolution,
        sink: &mut S,
    ) {
        let qname = self.names.get(self.pending..).unwrap_or_default();
        let local = qname.get(hit.local_at..).unwrap_or_default();
        let binding = self.bindings.get(hit.binding);
        let uri = binding
            .and_then(|b| self.ns.get(b.uri as usize..b.end as usize))
            .unwrap_or_default();
        if key == PROP_KEY {
            report_prop(sink, hit.token, uri, local);
        } else if let Some(Role::Error(owner)) = parent {
            sink.error_child(owner, binding.is_some_and(|b| b.dav), uri, local);
            if let Some(f) = self.frames.last_mut() {
                f.role = Role::ErrorSeen(owner);
            }
        }
    }

    /// A start tag without attributes named `qname` inside a `DAV:prop` whose resolution
    /// is memoised: reports it as a property and returns true; the caller then skips it as
    /// it skips any element of a skipped subtree (its role is `Skip`). False (anything else)
    /// leaves it to `start_tag`.
    #[inline(always)]
    pub(super) fn known_prop<S: Sink>(&mut self, qname: &[u8], sink: &mut S) -> bool {
        self.frames
            .last()
            .is_some_and(|f| matches!(f.role, Role::Prop))
            && self.known_prop_in_prop(qname, sink)
    }

    /// `known_prop` inside a `DAV:prop`.
    fn known_prop_in_prop<S: Sink>(&mut self, qname: &[u8], sink: &mut S) -> bool {
        let hit = match self.known_role(PROP_KEY, qname) {
            Some(hit) => hit,
            None => {
                let Some(mut hit) = self.memo_find(PROP_KEY, qname) else {
                    return false;
                };
                hit.token = self.known_keep(PROP_KEY, qname.len(), &hit);
                hit
            }
        };
        if !matches!(hit.role, Role::Skip) {
            return false;
        }
        let uri = self
            .bindings
            .get(hit.binding)
            .and_then(|b| self.ns.get(b.uri as usize..b.end as usize))
            .unwrap_or_default();
        let local = qname.get(hit.local_at..).unwrap_or_default();
        report_prop(sink, hit.token, uri, local);
        true
    }

    /// The role of the start tag being read, its name resolved against the declarations in
    /// scope (and memoised, fast paths on); reports it as a property or as the first child
    /// of a `DAV:error` when it is one.
    #[inline(never)]
    fn resolve_role<S: Sink>(
        &mut self,
        parent: Option<Role>,
        sink: &mut S,
    ) -> Result<Role, Malformed> {
        let key = memo_parent(parent);
        if parent.is_none() && self.bindings.is_empty() {
            self.imply_dav_prefix();
        }
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
        let role = role_of(parent, dav, local);
        // Only names bound by a declaration are memoised (an unbound default namespace
        // could be declared later without re-binding anything); a property memoised is
        // reported with its token, once kept.
        let memoised = key.is_some() && used.is_some() && self.fast;
        if parent == Some(Role::Prop) && !memoised {
            sink.prop(uri, local);
        }
        if let Some(Role::Error(owner)) = parent {
            sink.error_child(owner, dav, uri, local);
            if let Some(f) = self.frames.last_mut() {
                f.role = Role::ErrorSeen(owner);
            }
        }
        if let (Some(key), Some(binding), true) = (key, used, self.fast) {
            let qname = std::mem::take(&mut self.names);
            let name = qname.get(self.pending..).unwrap_or_default();
            self.memo_store(key, name, binding, local_at, role);
            let len = name.len();
            self.names = qname;
            let mut kept = Resolution {
                role,
                binding,
                local_at,
                token: 0,
            };
            kept.token = self.known_keep(key, len, &kept);
            if parent == Some(Role::Prop) {
                let qname = self.names.get(self.pending..).unwrap_or_default();
                let uri = self
                    .bindings
                    .get(binding)
                    .and_then(|b| self.ns.get(b.uri as usize..b.end as usize))
                    .unwrap_or_default();
                report_prop(
                    sink,
                    kept.token,
                    uri,
                    qname.get(local_at..).unwrap_or_default(),
                );
            }
        }
        Ok(role)
    }

    /// Closes the innermost element (its end tag matched).
    pub(super) fn end_tag<S: Sink>(&mut self, sink: &mut S) {
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
            let prefix = b.prefix as usize;
            self.index_popping();
            self.ns.truncate(prefix);
            self.bindings.pop();
        }
        if !matches!(frame.role, Role::Skip) {
            self.capture.end(depth, frame.role, sink);
        }
        if self.frames.is_empty() {
            self.root = Root::Done;
        }
    }
}
