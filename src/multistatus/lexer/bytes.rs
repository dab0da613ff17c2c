//! Byte classes and small byte helpers shared by every state: whitespace, name bytes,
//! short-name equality and the word-at-a-time search for the next `<` or `&`.

use memchr::memchr2;

/// Byte equality without a `memcmp` call: names are short.
#[inline(always)]
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ca).zip(&mut cb) {
        let word = |c: &[u8]| c.try_into().map_or(0, u64::from_ne_bytes);
        if word(x) != word(y) {
            return false;
        }
    }
    ca.remainder()
        .iter()
        .zip(cb.remainder())
        .all(|(x, y)| x == y)
}

/// The first `<` or `&`: a word-at-a-time look at the first 32 bytes first, as most text
/// runs between tags are a newline or a short value, then `memchr2`.
#[inline(always)]
pub(super) fn find_markup(s: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const LT: u64 = 0x3C3C_3C3C_3C3C_3C3C;
    const AMP: u64 = 0x2626_2626_2626_2626;
    let mut at = 0usize;
    let mut words = s.chunks_exact(8);
    for chunk in (&mut words).take(4) {
        let w = chunk.try_into().map_or(0, u64::from_le_bytes);
        let lt = w ^ LT;
        let amp = w ^ AMP;
        // A zero byte in `lt` or `amp` marks a match (exact for the lowest match).
        let hit = (lt.wrapping_sub(LO) & !lt | amp.wrapping_sub(LO) & !amp) & HI;
        if hit != 0 {
            return Some(at.wrapping_add((hit.trailing_zeros() >> 3) as usize));
        }
        at = at.wrapping_add(8);
    }
    let rest = s.get(at..).unwrap_or_default();
    if at < 32 {
        // Fewer than 8 bytes left.
        return rest
            .iter()
            .position(|&b| b == b'<' || b == b'&')
            .map(|i| i.wrapping_add(at));
    }
    memchr2(b'<', b'&', rest).map(|i| i.wrapping_add(at))
}

pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(super) const NAME: u8 = 1;
pub(super) const START: u8 = 2;

/// Byte classes for names: ASCII letters, `_`, `:` and any non-ASCII byte start a name;
/// digits, `-` and `.` may follow.
// Evaluated at compile time: an out-of-bounds index would fail the build, not panic at run time.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80 {
            NAME | START
        } else if b.is_ascii_digit() || b == b'-' || b == b'.' {
            NAME
        } else {
            0
        };
        i += 1;
    }
    t
};

#[inline(always)]
pub(super) fn class(b: u8) -> u8 {
    CLASS.get(usize::from(b)).copied().unwrap_or(0)
}

#[inline(always)]
pub(super) fn is_name_start(b: u8) -> bool {
    class(b) & START != 0
}

#[inline(always)]
pub(super) fn is_name_byte(b: u8) -> bool {
    class(b) & NAME != 0
}

pub(super) fn advance(rest: &[u8], n: usize) -> &[u8] {
    rest.get(n..).unwrap_or_default()
}
