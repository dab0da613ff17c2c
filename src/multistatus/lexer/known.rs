//! Start-tag names the fast path has already read and checked: a body repeats a few dozen
//! names, so `skim` first looks the next start tag up here (a compare of whole words and
//! one look at the byte after it) before checking its bytes class by class (`name_len`).
//! A name found here is exact: it equals a checked name and the byte after it ends a name.

use super::Lexer;
use super::bytes::{is_ws, same};

/// Slots (a power of two), in sets of two.
pub(super) const KNOWN_SLOTS: usize = 64;
/// Longest name kept.
const KNOWN_NAME: usize = 32;

/// A name read and checked before.
#[derive(Debug, Clone, Copy)]
pub(super) struct Known {
    len: u8,
    bytes: [u8; KNOWN_NAME],
}

pub(super) const NO_KNOWN: Known = Known {
    len: 0,
    bytes: [0; KNOWN_NAME],
};

/// The first of the two slots for a name starting `s`, from its first eight bytes (what
/// follows a shorter name is hashed too: the same name then lands in another set).
#[inline(always)]
fn set_of(s: &[u8]) -> Option<usize> {
    let word = s.get(..8)?.try_into().ok().map(u64::from_le_bytes)?;
    let mix = word.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_shr(26);
    Some((mix ^ mix.wrapping_shr(32)) as usize & KNOWN_SLOTS.wrapping_sub(2))
}

impl Lexer {
    /// The length of the name at the start of `s` (just past a `<`) if it is a known name
    /// followed by `>`, `/` or whitespace.
    #[inline]
    pub(super) fn known_name(&self, s: &[u8]) -> Option<usize> {
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
            *known = Known { len: short, bytes };
        }
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
