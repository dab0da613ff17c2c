//! The memo of names already resolved on the audited path: children of `DAV:multistatus`,
//! `DAV:response`, `DAV:propstat` and `DAV:prop` repeat the same few qualified names entry
//! after entry, so their namespace resolution and role are looked up by (parent, qualified
//! name) instead of resolved afresh.
//!
//! A memo holds while the declaration its prefix resolved to is still in scope (same
//! `serial` at the same index in `Lexer::bindings`) and no declaration since re-bound a
//! prefix already in scope (same `shadow`): then the prefix still resolves to it. A
//! declaration that repeats, at the same index, the prefix and URI of the one there before
//! it (Apache declares `lp1`, `lp2` and `g0` on every `DAV:response`) gets that one's
//! serial back (`Ghost`): the prefix resolves to the same index and the same URI, so the
//! memos made under the old one still hold.

use super::Lexer;
use super::bytes::same;
use super::namespaces::Binding;
use super::roles::Role;

/// Longest qualified name whose role is memoised.
pub(super) const MEMO_NAME: usize = 32;
/// Memo slots (a power of two): sets of two.
pub(super) const MEMO_SLOTS: usize = 64;
/// Declarations (the first ones in scope) whose content is remembered for `Ghost`.
pub(super) const GHOSTS: usize = 8;
/// Longest prefix + URI remembered for `Ghost`.
const GHOST_BYTES: usize = 56;

/// A memoised resolution.
pub(super) struct Resolution {
    pub(super) role: Role,
    /// Index in `Lexer::bindings` of the declaration the prefix resolves to.
    pub(super) binding: usize,
    /// Where the local name starts in the qualified name.
    pub(super) local_at: usize,
    /// The same for every resolution of one name to one namespace in a body, and for no
    /// other (see `known`); 0: none.
    pub(super) token: u64,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Memo {
    /// Index in `Lexer::bindings` of the declaration the prefix resolved to.
    binding: u32,
    /// Its `Binding::serial`; 0 matches no declaration.
    serial: u64,
    /// `Lexer::shadow` when stored.
    shadow: u64,
    parent: u8,
    len: u8,
    /// Where the local name starts in `name`.
    local_at: u8,
    name: [u8; MEMO_NAME],
    role: Role,
}

pub(super) const NO_MEMO: Memo = Memo {
    binding: 0,
    serial: 0,
    shadow: 0,
    parent: 0,
    len: 0,
    local_at: 0,
    name: [0; MEMO_NAME],
    role: Role::Skip,
};

/// The last declaration seen at an index of `Lexer::bindings`: its serial, prefix length
/// and prefix + URI bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ghost {
    serial: u64,
    prefix: u8,
    len: u8,
    bytes: [u8; GHOST_BYTES],
}

pub(super) const NO_GHOST: Ghost = Ghost {
    serial: 0,
    prefix: 0,
    len: 0,
    bytes: [0; GHOST_BYTES],
};

/// The memo key of `DAV:prop` (its children are properties).
pub(super) const PROP_KEY: u8 = 4;
/// The memo key of a `DAV:error` whose first child is still to come (reported).
pub(super) const ERROR_KEY: u8 = 5;
/// Memo keys, 1 to this.
pub(super) const PARENT_KEYS: usize = 5;

/// The memo key of a parent whose children's roles may be memoised.
#[inline(always)]
pub(super) fn memo_parent(parent: Option<Role>) -> Option<u8> {
    match parent {
        Some(Role::Multistatus) => Some(1),
        Some(Role::Response) => Some(2),
        Some(Role::Propstat) => Some(3),
        Some(Role::Prop) => Some(PROP_KEY),
        Some(Role::Error(_)) => Some(ERROR_KEY),
        _ => None,
    }
}

/// The first of the two slots where (`parent`, `qname`) may be memoised: a few bytes of
/// the name, its length and the parent, mixed (cheap, and spreads the usual names).
#[inline(always)]
fn memo_set(parent: u8, qname: &[u8]) -> usize {
    let n = qname.len();
    let at = |i: usize| usize::from(qname.get(i).copied().unwrap_or(0));
    at(n.wrapping_sub(1))
        .wrapping_mul(7)
        .wrapping_add(n.wrapping_mul(3))
        .wrapping_add(at(n / 2).wrapping_mul(5))
        .wrapping_add(at(n.wrapping_sub(2)).wrapping_mul(11))
        .wrapping_add(usize::from(parent).wrapping_mul(13))
        & MEMO_SLOTS.wrapping_sub(2)
}

impl Lexer {
    /// The memoised resolution of `qname` under parent key `key`, if one holds.
    #[inline]
    pub(super) fn memo_find(&self, key: u8, qname: &[u8]) -> Option<Resolution> {
        let set = memo_set(key, qname);
        for slot in [set, set | 1] {
            let Some(m) = self.memo.get(slot) else {
                continue;
            };
            if usize::from(m.len) == qname.len()
                && m.parent == key
                && m.shadow == self.shadow
                && m.name
                    .get(..usize::from(m.len))
                    .is_some_and(|n| same(n, qname))
                && let Some(b) = self.bindings.get(m.binding as usize)
                && b.serial == m.serial
            {
                return Some(Resolution {
                    role: m.role,
                    binding: m.binding as usize,
                    local_at: usize::from(m.local_at),
                    token: 0,
                });
            }
        }
        None
    }

    /// Memoises the resolution of `qname` (to declaration `binding`, local name at
    /// `local_at`) under parent key `key`.
    pub(super) fn memo_store(
        &mut self,
        key: u8,
        qname: &[u8],
        binding: usize,
        local_at: usize,
        role: Role,
    ) {
        let Some(serial) = self.bindings.get(binding).map(|b| b.serial) else {
            return;
        };
        let (Ok(len), Ok(index), Ok(local_at)) = (
            u8::try_from(qname.len()),
            u32::try_from(binding),
            u8::try_from(local_at),
        ) else {
            return;
        };
        if qname.len() > MEMO_NAME {
            return;
        }
        let set = memo_set(key, qname);
        // The first slot unless it holds a memo that is still good.
        let live = |m: &Memo| {
            m.shadow == self.shadow
                && self
                    .bindings
                    .get(m.binding as usize)
                    .is_some_and(|b| b.serial == m.serial)
        };
        let slot = if self.memo.get(set).is_some_and(live) {
            set | 1
        } else {
            set
        };
        let mut name = [0u8; MEMO_NAME];
        if let Some(dst) = name.get_mut(..qname.len()) {
            dst.copy_from_slice(qname);
        }
        if let Some(m) = self.memo.get_mut(slot) {
            *m = Memo {
                binding: index,
                serial,
                shadow: self.shadow,
                parent: key,
                len,
                local_at,
                name,
                role,
            };
        }
    }

    /// The serial of the ghost at index `index` of `Lexer::bindings`, if one is kept.
    pub(super) fn ghost_serial(&self, index: usize) -> Option<u64> {
        self.ghosts
            .get(index)
            .map(|g| g.serial)
            .filter(|&serial| serial != 0)
    }

    /// The innermost declaration's URI is complete: if it repeats, at the same index, the
    /// prefix and URI of the last declaration seen there, it takes that one's serial back;
    /// else it is remembered there.
    pub(super) fn ghost_declared(&mut self) {
        if !self.fast {
            return;
        }
        let index = self.bindings.len().saturating_sub(1);
        let Some(&Binding {
            prefix, uri, end, ..
        }) = self.bindings.get(index)
        else {
            return;
        };
        let bytes = self
            .ns
            .get(prefix as usize..end as usize)
            .unwrap_or_default();
        let prefix_len = uri.saturating_sub(prefix);
        let (Ok(len), Ok(prefix_len)) = (u8::try_from(bytes.len()), u8::try_from(prefix_len))
        else {
            return;
        };
        let Some(ghost) = self.ghosts.get_mut(index) else {
            return;
        };
        if bytes.len() > GHOST_BYTES {
            return;
        }
        if ghost.serial != 0
            && ghost.prefix == prefix_len
            && ghost
                .bytes
                .get(..usize::from(ghost.len))
                .is_some_and(|g| same(g, bytes))
        {
            if let Some(b) = self.bindings.get_mut(index) {
                b.serial = ghost.serial;
            }
            return;
        }
        let serial = self.bindings.get(index).map_or(0, |b| b.serial);
        let mut kept = [0u8; GHOST_BYTES];
        if let Some(dst) = kept.get_mut(..bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        *ghost = Ghost {
            serial,
            prefix: prefix_len,
            len,
            bytes: kept,
        };
    }
}

#[cfg(test)]
mod tests {
    use crate::multistatus::{
        AllErrors, Code, Limits, check_fast_plain_equivalence, check_split_equivalence, scan_slice,
    };

    /// A prefix declared on every entry, once with another URI at the same place: the memo
    /// follows what the prefix binds, entry by entry (`Ghost`), for statuses and property
    /// names alike.
    #[test]
    fn a_prefix_redeclared_on_each_entry_is_read_by_what_it_binds() {
        let entry = |uri: &str, n: u32| {
            format!(
                "<D:response xmlns:a=\"{uri}\"><D:href>/{n}</D:href><D:propstat><D:prop>\
                 <a:x/></D:prop><a:status>HTTP/1.1 404 Not Found</a:status></D:propstat>\
                 </D:response>"
            )
        };
        let body = format!(
            "<D:multistatus xmlns:D=\"DAV:\">{}{}{}{}</D:multistatus>",
            entry("DAV:", 1),
            entry("urn:x", 2),
            entry("DAV:", 3),
            entry("DAV:", 4),
        );
        let report = scan_slice(body.as_bytes(), AllErrors, Limits::default());
        assert_eq!(report.entries, 4);
        // The status of entry 2 is `urn:x` status, not `DAV:`: not counted.
        assert_eq!(report.propstat_status.get(&Code::Status(404)), Some(&3));
        let props: Vec<&str> = report
            .failures
            .iter()
            .flat_map(|f| f.props.iter().map(String::as_str))
            .collect();
        assert_eq!(props, ["{DAV:}x", "{DAV:}x", "{DAV:}x"]);
        check_fast_plain_equivalence(body.as_bytes(), &[]);
        check_split_equivalence(body.as_bytes(), &[40, 200, 333]);
    }

    /// The first child of a `DAV:error` is memoised too: each entry still reports it, by
    /// what its prefix binds there, and only the first child.
    #[test]
    fn an_error_child_memoised_is_reported_by_what_it_binds() {
        let entry = |uri: &str, n: u32| {
            format!(
                "<D:response xmlns:a=\"{uri}\"><D:href>/{n}</D:href>\
                 <D:status>HTTP/1.1 423 Locked</D:status><D:error><a:locked/><a:second/>\
                 </D:error></D:response>"
            )
        };
        let body = format!(
            "<D:multistatus xmlns:D=\"DAV:\">{}{}{}{}</D:multistatus>",
            entry("DAV:", 1),
            entry("urn:x", 2),
            entry("DAV:", 3),
            entry("urn:x", 4),
        );
        let report = scan_slice(body.as_bytes(), AllErrors, Limits::default());
        let errors: Vec<Option<&str>> =
            report.failures.iter().map(|f| f.error.as_deref()).collect();
        assert_eq!(
            errors,
            [
                Some("DAV:locked"),
                Some("{urn:x}locked"),
                Some("DAV:locked"),
                Some("{urn:x}locked")
            ]
        );
        check_fast_plain_equivalence(body.as_bytes(), &[]);
        check_split_equivalence(body.as_bytes(), &[40, 200, 333]);
    }
}
