//! Namespaces on the audited path: the `xmlns` declarations in scope and prefix resolution
//! (the memo of names already resolved is in `memo`).

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

impl Lexer {
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
