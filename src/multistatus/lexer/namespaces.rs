//! Namespaces on the audited path: the `xmlns` declarations in scope and prefix resolution
//! (the memo of names already resolved is in `memo`), and the replay of the declarations of
//! a start tag whose attributes repeat the last ones read in the same scope (`DeclReplay`).

use std::collections::BTreeMap;

use super::bytes::same;
use super::roles::UNBOUND;
use super::{Lexer, Step};
use crate::multistatus::limits::{MAX_BINDINGS, MAX_NS_URI, NS_BUDGET};
use crate::multistatus::report::Limit;

/// One `xmlns[:prefix]` declaration in scope; its prefix is `ns[prefix..uri]` and its URI
/// `ns[uri..end]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Binding {
    /// Unique per declaration read, or that of the one it repeats (see `memo`).
    pub(super) serial: u64,
    pub(super) depth: usize,
    pub(super) prefix: u32,
    pub(super) uri: u32,
    pub(super) end: u32,
    pub(super) dav: bool,
}

/// A qualified name resolved against the declarations in scope.
pub(super) struct Resolved<'a> {
    pub(super) dav: bool,
    pub(super) uri: &'a [u8],
    /// Where the local name starts in the qualified name.
    pub(super) local_at: usize,
    /// Index in `Lexer::bindings` of the declaration used, if any.
    pub(super) binding: Option<usize>,
}

/// With this many declarations in scope (and fast paths on), prefixes are looked up in a
/// [`PrefixIndex`] instead of by a scan of every declaration: a hostile body declaring
/// thousands of prefixes on the audited path costs a map lookup per element, not thousands
/// of compares. Bodies seen in the wild declare fewer than ten and never build it.
const INDEX_FROM: usize = 16;

/// Prefix -> the declarations of it in scope, innermost last (indices in `Lexer::bindings`).
/// Live only while `INDEX_FROM` or more declarations are in scope (built then, dropped when
/// they fall below half of it); then it holds every declaration in scope. Bounded by
/// `MAX_BINDINGS` declarations and `NS_BUDGET` bytes of prefixes.
#[derive(Debug, Default)]
pub(super) struct PrefixIndex {
    live: bool,
    map: BTreeMap<Vec<u8>, Vec<u32>>,
}

impl PrefixIndex {
    fn insert(&mut self, prefix: &[u8], binding: usize) {
        let at = u32::try_from(binding).unwrap_or(u32::MAX);
        match self.map.get_mut(prefix) {
            Some(stack) => stack.push(at),
            None => {
                self.map.insert(prefix.to_vec(), vec![at]);
            }
        }
    }

    /// Heap bytes held (an estimate: keys, stacks and one node per entry).
    pub(super) fn heap_bytes(&self) -> usize {
        self.map
            .iter()
            .map(|(k, v)| {
                k.capacity()
                    .saturating_add(v.capacity().saturating_mul(4))
                    .saturating_add(64)
            })
            .fold(0usize, usize::saturating_add)
    }
}

/// The attributes of the last start tag `skim_attrs` read that declared namespaces, and
/// what they did, to replay on a start tag with the same attribute bytes in the same scope
/// (Apache declares the same three prefixes on every `DAV:response`): what reading them
/// again would do, as the declarations take back their ghosts' serials (see `memo`).
#[derive(Debug, Default)]
pub(super) struct DeclReplay {
    /// The attributes through the `>`, as written (empty: nothing recorded).
    bytes: Vec<u8>,
    empty: bool,
    /// The serials of the declarations in scope before them, and `Lexer::ns`'s length.
    before: Vec<u64>,
    ns_len: usize,
    /// What they added to `Lexer::ns`, and the declarations they pushed.
    ns: Vec<u8>,
    bindings: Vec<Binding>,
}

/// Longest attribute section recorded for `DeclReplay`.
const REPLAY_BYTES: usize = 512;

impl DeclReplay {
    pub(super) fn heap_bytes(&self) -> usize {
        self.bytes
            .capacity()
            .saturating_add(self.before.capacity().saturating_mul(8))
            .saturating_add(self.ns.capacity())
            .saturating_add(
                self.bindings
                    .capacity()
                    .saturating_mul(std::mem::size_of::<Binding>()),
            )
    }
}

impl Lexer {
    /// The scope a declaration of `skim_attrs` is read in: declarations in scope and the
    /// length of `ns`, the serials, the shadow (see `replay_record`).
    pub(super) fn declaration_scope(&self) -> (usize, usize, u64) {
        (self.bindings.len(), self.ns.len(), self.shadow)
    }

    /// `skim_attrs` read the attributes `section` (through the `>`) of a start tag, in the
    /// scope `scope` (`declaration_scope` before them): records what they declared for
    /// `replay_attrs`, when they declared something, re-bound no prefix in scope, and
    /// every declaration's serial is its ghost's (else no replay could equal a reading).
    pub(super) fn replay_record(
        &mut self,
        section: &[u8],
        empty: bool,
        scope: (usize, usize, u64),
    ) {
        let (before, ns_len, shadow) = scope;
        let added = self.bindings.get(before..).unwrap_or_default();
        if added.is_empty()
            || self.shadow != shadow
            || section.len() > REPLAY_BYTES
            || self.index.live
            || self.bindings.len() >= INDEX_FROM
            || !added
                .iter()
                .enumerate()
                .all(|(j, b)| self.ghost_serial(before.saturating_add(j)) == Some(b.serial))
        {
            return;
        }
        let r = &mut self.decl_replay;
        r.bytes.clear();
        r.bytes.extend_from_slice(section);
        r.empty = empty;
        r.before.clear();
        r.before.extend(
            self.bindings
                .get(..before)
                .unwrap_or_default()
                .iter()
                .map(|b| b.serial),
        );
        r.ns_len = ns_len;
        r.ns.clear();
        r.ns.extend_from_slice(self.ns.get(ns_len..).unwrap_or_default());
        r.bindings.clear();
        r.bindings.extend_from_slice(added);
    }

    /// Replays the recorded declarations (`replay_record`) if the attributes starting
    /// `tail` are the recorded ones, the scope is the same declaration for declaration,
    /// and each recorded serial is still its ghost's: what reading them would do. Returns
    /// the length through the `>` and whether the tag is empty.
    #[inline(always)]
    pub(super) fn replay_attrs(&mut self, tail: &[u8]) -> Option<(usize, bool)> {
        let r = &self.decl_replay;
        let len = r.bytes.len();
        if len == 0
            || !tail.get(..len).is_some_and(|t| same(t, &r.bytes))
            || self.bindings.len() != r.before.len()
            || self.ns.len() != r.ns_len
            || self.index.live
            || !self
                .bindings
                .iter()
                .zip(&r.before)
                .all(|(b, &serial)| b.serial == serial)
        {
            return None;
        }
        let base = self.bindings.len();
        if !r
            .bindings
            .iter()
            .enumerate()
            .all(|(j, b)| self.ghost_serial(base.saturating_add(j)) == Some(b.serial))
        {
            return None;
        }
        let depth = self.frames.len().saturating_add(1);
        self.ns.extend_from_slice(&r.ns);
        for b in &r.bindings {
            self.bindings.push(Binding { depth, ..*b });
        }
        self.serial = self.serial.wrapping_add(r.bindings.len() as u64);
        Some((len, r.empty))
    }

    /// The recorded declarations (`replay_record`) are those of serials `declared`, on a
    /// start tag that is not empty: `replay_attrs`, if it replays them, declares those.
    pub(super) fn replays_declarations(&self, declared: &[(u64, usize)]) -> bool {
        let r = &self.decl_replay;
        !r.empty
            && r.bindings.len() == declared.len()
            && r.bindings
                .iter()
                .zip(declared)
                .all(|(b, &(serial, _))| b.serial == serial)
    }

    /// `replay_attrs` out of line, for a caller other than `skim_attrs` (which keeps its
    /// inlined copy).
    #[inline(never)]
    pub(super) fn replay_attrs_outlined(&mut self, tail: &[u8]) -> Option<(usize, bool)> {
        self.replay_attrs(tail)
    }

    pub(super) fn uri_cap(&self) -> usize {
        self.bindings
            .last()
            .map_or(0, |b| (b.uri as usize).saturating_add(MAX_NS_URI))
    }

    /// An attribute name was read on the audited path: is it a namespace declaration?
    pub(super) fn attribute_named(&mut self) -> Step {
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
        let shadows = self.find_binding(prefix).is_some();
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
        self.index_pushed();
        self.declaring = true;
        Ok(())
    }

    /// The prefix of declaration `b`.
    fn prefix_of(&self, b: &Binding) -> &[u8] {
        self.ns
            .get(b.prefix as usize..b.uri as usize)
            .unwrap_or_default()
    }

    /// The innermost declaration of `prefix` in scope (index in `bindings`).
    fn find_binding(&self, prefix: &[u8]) -> Option<usize> {
        if self.index.live {
            return self
                .index
                .map
                .get(prefix)
                .and_then(|stack| stack.last())
                .map(|&i| i as usize);
        }
        self.bindings
            .iter()
            .rposition(|b| same(self.prefix_of(b), prefix))
    }

    /// A declaration was pushed: index it, or build the index once there are enough.
    fn index_pushed(&mut self) {
        let last = self.bindings.len().saturating_sub(1);
        if self.index.live {
            if let Some(b) = self.bindings.get(last) {
                let prefix = self.prefix_of(b).to_vec();
                self.index.insert(&prefix, last);
            }
        } else if self.fast && self.bindings.len() >= INDEX_FROM {
            let mut index = PrefixIndex {
                live: true,
                map: std::mem::take(&mut self.index.map),
            };
            index.map.clear();
            for (i, b) in self.bindings.iter().enumerate() {
                index.insert(self.prefix_of(b), i);
            }
            self.index = index;
        }
    }

    /// The innermost declaration is about to be popped: unindex it; drop the index when
    /// few declarations remain.
    pub(super) fn index_popping(&mut self) {
        if !self.index.live {
            return;
        }
        let Some(b) = self.bindings.last() else {
            return;
        };
        let prefix = self
            .ns
            .get(b.prefix as usize..b.uri as usize)
            .unwrap_or_default();
        if let Some(stack) = self.index.map.get_mut(prefix) {
            stack.pop();
            if stack.is_empty() {
                self.index.map.remove(prefix);
            }
        }
        if self.bindings.len() <= INDEX_FROM / 2 {
            self.index.live = false;
            self.index.map.clear();
        }
    }

    /// The value of the attribute being read is complete.
    pub(super) fn attribute_done(&mut self) {
        if !std::mem::take(&mut self.declaring) {
            return;
        }
        let end = self.ns.len();
        if let Some(b) = self.bindings.last_mut() {
            b.end = u32::try_from(end).unwrap_or(u32::MAX);
            b.dav = self.ns.get(b.uri as usize..end) == Some(b"DAV:");
        }
        self.ghost_declared();
    }

    /// The root start tag declares no namespace at all (no binding is in scope) and is named
    /// `P:multistatus` or `P:response` with `P` bound nowhere: the body binds no namespace but
    /// speaks WebDAV's words (lighttpd 1.4's bare `<D:response>` fragment). `P` is read as
    /// `DAV:` in the whole body, as if the root declared it, and the body is marked as for
    /// an unbound prefix (DESIGN.md §2.7).
    pub(super) fn imply_dav_prefix(&mut self) {
        let qname = self.names.get(self.pending..).unwrap_or_default();
        let Some(colon) = qname.iter().position(|&b| b == b':') else {
            return;
        };
        let (prefix, local) = (
            qname.get(..colon).unwrap_or_default(),
            qname.get(colon.saturating_add(1)..).unwrap_or_default(),
        );
        if prefix.is_empty() || prefix == b"xml" || !matches!(local, b"multistatus" | b"response") {
            return;
        }
        let start = self.ns.len();
        self.ns.extend_from_slice(prefix);
        let uri = self.ns.len();
        self.ns.extend_from_slice(b"DAV:");
        self.serial = self.serial.wrapping_add(1);
        self.bindings.push(Binding {
            serial: self.serial,
            depth: self.frames.len().saturating_add(1),
            prefix: u32::try_from(start).unwrap_or(u32::MAX),
            uri: u32::try_from(uri).unwrap_or(u32::MAX),
            end: u32::try_from(self.ns.len()).unwrap_or(u32::MAX),
            dav: true,
        });
        self.unbound = self.unbound.saturating_add(1);
    }

    /// Resolves `qname` against the bindings in scope: `(is DAV:, namespace URI, local name)`.
    /// Also the index of the declaration used, if any.
    pub(super) fn resolve(&self, qname: &[u8]) -> Result<Resolved<'_>, &'static str> {
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
        if let Some(i) = self.find_binding(prefix)
            && let Some(b) = self.bindings.get(i)
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
}

#[cfg(test)]
mod tests {
    use crate::multistatus::{
        AllErrors, Code, Limits, check_fast_plain_equivalence, check_split_equivalence, scan_slice,
    };

    /// Declarations replayed from the last start tag with the same attributes read what a
    /// reading gives, whatever came between: the same declarations again, a prefix
    /// re-bound in scope, other URIs for the same prefixes, and back.
    #[test]
    fn replayed_declarations_bind_what_reading_them_binds() {
        let entry = |attrs: &str, n: u32| {
            format!(
                "<D:response{attrs}><D:href>/{n}</D:href><D:propstat><D:prop><b:x/></D:prop>\
                 <a:status>HTTP/1.1 404 Not Found</a:status></D:propstat></D:response>"
            )
        };
        let dav = r#" xmlns:a="DAV:" xmlns:b="urn:b""#;
        let other = r#" xmlns:a="urn:z" xmlns:b="urn:b""#;
        let body = format!(
            "<D:multistatus xmlns:D=\"DAV:\">{}{}{}{}{}{}</D:multistatus>",
            entry(dav, 1),
            entry(dav, 2),
            entry(r#" xmlns:D="urn:x" xmlns:a="DAV:" xmlns:b="urn:b""#, 3),
            entry(other, 4),
            entry(dav, 5),
            entry(dav, 6),
        );
        let report = scan_slice(body.as_bytes(), AllErrors, Limits::default());
        // Entry 3 is no `DAV:response` (its `D` is `urn:x`); entry 4's status is no
        // `DAV:status`.
        assert_eq!(report.entries, 5);
        assert_eq!(report.propstat_status.get(&Code::Status(404)), Some(&4));
        let props: Vec<&str> = report
            .failures
            .iter()
            .flat_map(|f| f.props.iter().map(String::as_str))
            .collect();
        assert_eq!(props, ["{urn:b}x"; 4]);
        check_fast_plain_equivalence(body.as_bytes(), &[]);
        check_split_equivalence(body.as_bytes(), &[40, 200, 333, 500]);
    }
}
