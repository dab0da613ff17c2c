//! Start-tag names the fast path has already read and checked: a body repeats a few dozen
//! names, so `skim` first looks the next start tag up here (a compare of whole words and
//! one look at the byte after it) before checking its bytes class by class (`name_len`).
//! A name found here is exact: it equals a checked name and the byte after it ends a name.
//!
//! Each known name also keeps, per parent key (see `memo`), the resolution of an element of
//! that name under such a parent: the start tag `skim` just found here (`Lexer::known_hint`)
//! gets its role by index, with no hash and no compare of its name. A resolution kept here
//! holds under the same conditions as a memo (see `memo`); it goes with its name when the
//! slot is taken by another.

use super::Lexer;
use super::bytes::{is_ws, same};
use super::memo::{PARENT_KEYS, Resolution};
use super::roles::Role;

/// Slots (a power of two), in sets of two.
pub(super) const KNOWN_SLOTS: usize = 64;
/// Longest name kept.
const KNOWN_NAME: usize = 32;
/// Bits of a slot index (`KNOWN_SLOTS` is `1 << SLOT_BITS`).
const SLOT_BITS: u32 = 6;
const _: () = assert!(KNOWN_SLOTS == 1 << SLOT_BITS);

/// The resolution of a known name under one parent key.
#[derive(Debug, Clone, Copy)]
struct KnownRole {
    /// `Binding::serial` of the declaration the prefix resolved to; 0: none kept.
    serial: u64,
    /// `Lexer::shadow` when kept.
    shadow: u64,
    /// Index in `Lexer::bindings` of that declaration.
    binding: u32,
    local_at: u8,
    role: Role,
}

const NO_ROLE: KnownRole = KnownRole {
    serial: 0,
    shadow: 0,
    binding: 0,
    local_at: 0,
    role: Role::Skip,
};

/// A name read and checked before.
#[derive(Debug, Clone, Copy)]
pub(super) struct Known {
    len: u8,
    bytes: [u8; KNOWN_NAME],
    /// Bumped whenever the name or one of its resolutions changes: with the slot's index,
    /// the token of its resolutions (`Resolution::token`), unique in the body.
    generation: u64,
    /// Per parent key less one.
    roles: [KnownRole; PARENT_KEYS],
}

pub(super) const NO_KNOWN: Known = Known {
    len: 0,
    bytes: [0; KNOWN_NAME],
    generation: 0,
    roles: [NO_ROLE; PARENT_KEYS],
};

/// `Lexer::known_hint` when the start tag being read was not found among the known names.
pub(super) const NO_HINT: usize = usize::MAX;

/// The first of the two slots for a name starting `s`, from its first eight bytes (what
/// follows a shorter name is hashed too: the same name then lands in another set).
#[inline(always)]
fn set_of(s: &[u8]) -> Option<usize> {
    let word = s.get(..8)?.try_into().ok().map(u64::from_le_bytes)?;
    let mix = word.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_shr(26);
    Some((mix ^ mix.wrapping_shr(32)) as usize & KNOWN_SLOTS.wrapping_sub(2))
}

/// Empties every slot (a lexer reused for another body, see `spare`): no name is known.
/// The generations go on, so a token stays unique in the body; the resolutions kept hold
/// no more (their serials are of declarations of the body before).
pub(super) fn forget_names(known: &mut [Known; KNOWN_SLOTS]) {
    for slot in known.iter_mut() {
        slot.len = 0;
    }
}

impl Lexer {
    /// The length of the name at the start of `s` (just past a `<`) if it is a known name
    /// followed by `>`, `/` or whitespace.
    /// Also notes the slot found as the hint for the start tag being read.
    #[inline]
    pub(super) fn known_name(&mut self, s: &[u8]) -> Option<usize> {
        self.known_hint = NO_HINT;
        let set = set_of(s)?;
        for slot in [set, set | 1] {
            let Some(known) = self.known.get(slot) else {
                continue;
            };
            let len = usize::from(known.len);
            if len != 0
                && s.get(len)
                    .is_some_and(|&t| t == b'>' || t == b'/' || is_ws(t))
                && s.get(..len)
                    .zip(known.bytes.get(..len))
                    .is_some_and(|(a, b)| same(a, b))
            {
                self.known_hint = slot;
                return Some(len);
            }
        }
        None
    }

    /// Keeps the name of `len` bytes at the start of `s` (checked by the caller).
    pub(super) fn learn_name(&mut self, s: &[u8], len: usize) {
        let (Some(set), Some(name), Ok(short)) = (set_of(s), s.get(..len), u8::try_from(len))
        else {
            return;
        };
        if len > KNOWN_NAME || len == 0 {
            return;
        }
        // The first slot of the set unless it is taken.
        let slot = if self.known.get(set).is_some_and(|k| k.len != 0) {
            set | 1
        } else {
            set
        };
        let mut bytes = [0u8; KNOWN_NAME];
        if let Some(dst) = bytes.get_mut(..len) {
            dst.copy_from_slice(name);
        }
        if let Some(known) = self.known.get_mut(slot) {
            known.len = short;
            known.bytes = bytes;
            known.generation = known.generation.wrapping_add(1);
            for r in &mut known.roles {
                r.serial = 0;
            }
            self.known_hint = slot;
        }
    }

    /// The resolution kept for the start tag being read (`qname`, found by `skim` among the
    /// known names) under parent key `key`, if one holds.
    #[inline(always)]
    pub(super) fn known_role(&self, key: u8, qname: &[u8]) -> Option<Resolution> {
        let known = self.known.get(self.known_hint)?;
        debug_assert!(
            usize::from(known.len) != qname.len() || known.bytes.get(..qname.len()) == Some(qname),
            "the hint names the tag being read"
        );
        if usize::from(known.len) != qname.len() {
            return None;
        }
        let r = known.roles.get(usize::from(key).wrapping_sub(1))?;
        let b = self.bindings.get(r.binding as usize)?;
        (b.serial == r.serial && r.shadow == self.shadow).then_some(Resolution {
            role: r.role,
            binding: r.binding as usize,
            local_at: usize::from(r.local_at),
            token: known.generation.wrapping_shl(SLOT_BITS) | self.known_hint as u64,
        })
    }

    /// Keeps `res` as the resolution of the start tag being read (a qualified name of
    /// `len` bytes) under parent key `key`, when it is a known name; returns its token
    /// (`Resolution::token`; 0 when not kept).
    pub(super) fn known_keep(&mut self, key: u8, len: usize, res: &Resolution) -> u64 {
        let serial = match self.bindings.get(res.binding) {
            Some(b) => b.serial,
            None => return 0,
        };
        let (Ok(binding), Ok(local_at)) = (u32::try_from(res.binding), u8::try_from(res.local_at))
        else {
            return 0;
        };
        let shadow = self.shadow;
        let hint = self.known_hint;
        let Some(known) = self.known.get_mut(hint) else {
            return 0;
        };
        if usize::from(known.len) != len {
            return 0;
        }
        let Some(r) = known.roles.get_mut(usize::from(key).wrapping_sub(1)) else {
            return 0;
        };
        known.generation = known.generation.wrapping_add(1);
        *r = KnownRole {
            serial,
            shadow,
            binding,
            local_at,
            role: res.role,
        };
        known.generation.wrapping_shl(SLOT_BITS) | hint as u64
    }

    /// The state machine reads a start tag from its `<`: no hint holds for it.
    #[inline(always)]
    pub(super) fn forget_hint(&mut self) {
        self.known_hint = NO_HINT;
    }
}

#[cfg(test)]
mod tests {
    use crate::multistatus::{check_fast_plain_equivalence, check_split_equivalence};

    /// Names that extend a known one, are cut short of it, or run into a byte that is no
    /// name byte: read as the state machine reads them.
    #[test]
    fn a_known_name_is_only_taken_whole() {
        let bodies = [
            "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:propstat><D:prop><D:propx/>\
             <D:prop/></D:prop></D:propstat><D:propstat><D:prop></D:prop></D:propstat>\
             </D:response></D:multistatus>",
            "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/a</D:href></D:response>\
             <D:response><D:href\"x>/b</D:href></D:response></D:multistatus>",
            "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/a</D:href></D:response>\
             <D:response><D:href\t>/b</D:href></D:response><D:response><D:hre>/c</D:hre>\
             </D:response></D:multistatus>",
        ];
        for body in bodies {
            check_fast_plain_equivalence(body.as_bytes(), &[]);
            check_split_equivalence(body.as_bytes(), &[31, 90]);
        }
    }
}
