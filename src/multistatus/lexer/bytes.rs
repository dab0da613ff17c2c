//! Byte classes and small byte helpers shared by every state: whitespace, name bytes,
//! short-name equality and the search for the next `<` or `&` (16-byte SSE2 blocks through
//! `safe_arch` on x86_64, whole words elsewhere).

use memchr::memchr2;

/// Byte equality without a `memcmp` call: names are short. Whole words, the last one
/// overlapping the one before (or two overlapping halves of a short name): no byte loop.
#[inline(always)]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let w8 = |s: &[u8], i: usize| {
        s.get(i..i.wrapping_add(8))
            .and_then(|c| c.try_into().ok())
            .map_or(0, u64::from_ne_bytes)
    };
    let w4 = |s: &[u8], i: usize| {
        s.get(i..i.wrapping_add(4))
            .and_then(|c| c.try_into().ok())
            .map_or(0, u32::from_ne_bytes)
    };
    let w2 = |s: &[u8], i: usize| {
        s.get(i..i.wrapping_add(2))
            .and_then(|c| c.try_into().ok())
            .map_or(0, u16::from_ne_bytes)
    };
    if n >= 16 {
        return same_blocks(a, b);
    }
    if n >= 8 {
        let last = n.wrapping_sub(8);
        let mut i = 0;
        while i < last {
            if w8(a, i) != w8(b, i) {
                return false;
            }
            i = i.wrapping_add(8);
        }
        w8(a, last) == w8(b, last)
    } else if n >= 4 {
        let last = n.wrapping_sub(4);
        w4(a, 0) == w4(b, 0) && w4(a, last) == w4(b, last)
    } else if n >= 2 {
        let last = n.wrapping_sub(2);
        w2(a, 0) == w2(b, 0) && w2(a, last) == w2(b, last)
    } else {
        a.first() == b.first()
    }
}

/// The 16 bytes of `s` at `at`, if there are as many.
#[inline(always)]
pub(super) fn block16(s: &[u8], at: usize) -> Option<&[u8; 16]> {
    s.get(at..at.wrapping_add(16))?.try_into().ok()
}

/// `same` for 16 bytes or more: 16-byte blocks, the last one overlapping the one before.
#[inline(always)]
fn same_blocks(a: &[u8], b: &[u8]) -> bool {
    let eq = |i: usize| match (block16(a, i), block16(b, i)) {
        (Some(x), Some(y)) => eq_mask16(x, y) == 0xFFFF,
        _ => false,
    };
    let last = a.len().wrapping_sub(16);
    let mut i = 0;
    while i < last {
        if !eq(i) {
            return false;
        }
        i = i.wrapping_add(16);
    }
    eq(last)
}

/// The first `<` or `&`, without SSE2.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
pub(super) fn find_markup(s: &[u8]) -> Option<usize> {
    find_markup_words(s)
}

/// The first `<` or `&`. Most text runs between tags are empty, a newline or a short
/// value (an href, a status line, a description): the first byte, then four 16-byte SSE2
/// blocks, then `memchr2` (AVX2 where the CPU has it: long text such as CalDAV's
/// `calendar-data`; a call costs about as much as four blocks).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub(super) fn find_markup(s: &[u8]) -> Option<usize> {
    // Tags often follow one another (`</D:href><D:status>`).
    if let [b'<' | b'&', ..] = s {
        return Some(0);
    }
    let mut at = 0usize;
    while at < 64 {
        let Some(block) = s
            .get(at..at.wrapping_add(16))
            .and_then(|b| b.try_into().ok())
        else {
            // Fewer than 16 bytes left.
            return s
                .get(at..)
                .unwrap_or_default()
                .iter()
                .position(|&b| b == b'<' || b == b'&')
                .map(|i| i.wrapping_add(at));
        };
        let hit = markup_mask(block);
        if hit != 0 {
            return Some(at.wrapping_add(hit.trailing_zeros() as usize));
        }
        at = at.wrapping_add(16);
    }
    memchr2(b'<', b'&', s.get(at..).unwrap_or_default()).map(|i| i.wrapping_add(at))
}

/// Bit `i` set where byte `i` of `block` is `<` or `&`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn markup_mask(block: &[u8; 16]) -> u32 {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let v = load_unaligned_m128i(block);
    let lt = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'<' as i8));
    let amp = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'&' as i8));
    move_mask_i8_m128i(bitor_m128i(lt, amp)) as u32
}

/// Bit `i` set where `a[i] == b[i]`: one SSE2 compare where the target has it (the
/// replay's tag compare: `eq_mask16(input, tag) & mask == mask`).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub(super) fn eq_mask16(a: &[u8; 16], b: &[u8; 16]) -> u32 {
    use safe_arch::{cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i};
    move_mask_i8_m128i(cmp_eq_mask_i8_m128i(
        load_unaligned_m128i(a),
        load_unaligned_m128i(b),
    )) as u32
}

/// Bit `i` set where `a[i] == b[i]`, without SSE2: two words, each byte of `a ^ b` tested
/// for zero without a carry across bytes, then the high bits gathered.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn eq_mask16_words(a: &[u8; 16], b: &[u8; 16]) -> u32 {
    const LOW7: u64 = splat(0x7F);
    let half = |i: usize| {
        let w = |s: &[u8; 16]| {
            s.get(i..i.wrapping_add(8))
                .and_then(|c| c.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        let x = w(a) ^ w(b);
        // The high bit of each byte of `x` that is not zero.
        let differs = ((x & LOW7).wrapping_add(LOW7) | x) & !LOW7;
        // The high bit of byte `j` to bit `j` (no two partial products meet).
        let equal = !differs & !LOW7;
        ((equal >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
    };
    half(0) | half(8) << 8
}

/// Bit `i` set where `a[i] == b[i]`, without SSE2.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
pub(super) fn eq_mask16(a: &[u8; 16], b: &[u8; 16]) -> u32 {
    eq_mask16_words(a, b)
}

/// `find_markup` without SSE2: the first two bytes, a word-at-a-time look at the first
/// 32 bytes, then `memchr2`.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn find_markup_words(s: &[u8]) -> Option<usize> {
    // Tags often follow one another (`</D:href><D:status>`) or a newline.
    match s {
        [b'<' | b'&', ..] => return Some(0),
        [_, b'<' | b'&', ..] => return Some(1),
        _ => {}
    }
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

/// Every byte of a word set to `b`.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The high bit of each byte of `w` that is not a name byte (see `CLASS`), computed on
/// the whole word: no carry crosses a byte, so the lowest set bit is exact.
#[inline(always)]
fn not_name(w: u64) -> u64 {
    const HI: u64 = splat(0x80);
    // Any non-ASCII byte is a name byte; the rest is tested on its low 7 bits.
    let a = w & !HI;
    let v = a | splat(0x20);
    // `v` in 0x61..=0x7A: an ASCII letter of either case.
    let letter = v.wrapping_add(splat(0x1F)) & !v.wrapping_add(splat(0x05));
    // 0x2D..=0x3A: `-`, `.`, `/`, digits, `:`; `/` is taken out below.
    let punct = a.wrapping_add(splat(0x53)) & !a.wrapping_add(splat(0x45));
    let slash = !(a ^ splat(0x2F)).wrapping_add(splat(0x7F));
    let under = !(a ^ splat(0x5F)).wrapping_add(splat(0x7F));
    let name = w | letter | (punct & !slash) | under;
    !name & HI
}

/// How many bytes at the start of `s` are name bytes: a word at a time (the fast paths'
/// `is_name_byte` loop).
#[inline(always)]
pub(super) fn name_len(s: &[u8]) -> usize {
    let mut at = 0usize;
    let mut words = s.chunks_exact(8);
    for chunk in &mut words {
        let w = chunk.try_into().map_or(0, u64::from_le_bytes);
        let stop = not_name(w);
        if stop != 0 {
            return at.wrapping_add((stop.trailing_zeros() >> 3) as usize);
        }
        at = at.wrapping_add(8);
    }
    let tail = words.remainder();
    at.wrapping_add(
        tail.iter()
            .position(|&b| !is_name_byte(b))
            .unwrap_or(tail.len()),
    )
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

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn name_len_is_the_byte_loop_on_every_byte() {
        for b in 0..=255u8 {
            for at in 0..12 {
                let mut s = vec![b'a'; 12];
                if let Some(slot) = s.get_mut(at) {
                    *slot = b;
                }
                let plain = s.iter().position(|&c| !is_name_byte(c)).unwrap_or(s.len());
                assert_eq!(name_len(&s), plain, "byte {b:#x} at {at}");
            }
        }
    }

    /// Every length up to past the `memchr2` tail, a `<` or `&` at every offset of it,
    /// over a filler of every other byte.
    #[test]
    fn find_markup_is_the_byte_loop() {
        let plain = |s: &[u8]| s.iter().position(|&b| b == b'<' || b == b'&');
        for fill in 0..=255u8 {
            if fill == b'<' || fill == b'&' {
                continue;
            }
            for len in 0..100usize {
                let mut s = vec![fill; len];
                assert_eq!(find_markup(&s), None, "fill {fill:#x} len {len}");
                assert_eq!(find_markup_words(&s), None, "fill {fill:#x} len {len}");
                for at in 0..len {
                    for mark in [b'<', b'&'] {
                        s[at] = mark;
                        // A second mark after the first must not win.
                        if let Some(later) = s.get_mut(at + 3) {
                            *later = b'&';
                        }
                        let want = plain(&s);
                        assert_eq!(find_markup(&s), want, "fill {fill:#x} len {len} at {at}");
                        assert_eq!(find_markup_words(&s), want, "words: len {len} at {at}");
                        s.fill(fill);
                    }
                }
            }
        }
    }

    #[test]
    fn eq_mask16_marks_the_equal_bytes() {
        let a: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(37));
        for i in 0..16 {
            for flip in [0x01u8, 0x80, 0xFF, 0x7F, 0x40] {
                let mut b = a;
                b[i] ^= flip;
                let want = 0xFFFF & !(1u32 << i);
                assert_eq!(eq_mask16(&a, &b), want, "{i} {flip:#x}");
                assert_eq!(eq_mask16_words(&a, &b), want, "words {i} {flip:#x}");
            }
        }
        assert_eq!(eq_mask16(&a, &a), 0xFFFF);
        assert_eq!(eq_mask16_words(&a, &a), 0xFFFF);
    }

    #[test]
    fn same_is_equality() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|i| i as u8).collect();
            assert!(same(&a, &a.clone()));
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x40;
                assert!(!same(&a, &b), "{n} {i}");
            }
            assert!(!same(&a, &[a.as_slice(), b"x"].concat()));
        }
    }

    proptest::proptest! {
        #[test]
        fn find_markup_is_the_byte_loop_on_any_bytes(s in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100)) {
            let plain = s.iter().position(|&b| b == b'<' || b == b'&');
            proptest::prop_assert_eq!(find_markup(&s), plain);
            proptest::prop_assert_eq!(find_markup_words(&s), plain);
        }

        #[test]
        fn eq_mask16_is_the_byte_loop(a in proptest::prelude::any::<[u8; 16]>(), b in proptest::prelude::any::<[u8; 16]>(), same_at in proptest::prelude::any::<u16>()) {
            // Many equal bytes, not just the few two random arrays share.
            let b: [u8; 16] = core::array::from_fn(|i| if same_at >> i & 1 == 1 { a[i] } else { b[i] });
            let plain = (0..16).filter(|&i| a[i] == b[i]).fold(0u32, |m, i| m | 1 << i);
            proptest::prop_assert_eq!(eq_mask16(&a, &b), plain);
            proptest::prop_assert_eq!(eq_mask16_words(&a, &b), plain);
        }

        #[test]
        fn name_len_is_the_byte_loop(s in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let plain = s.iter().position(|&c| !is_name_byte(c)).unwrap_or(s.len());
            proptest::prop_assert_eq!(name_len(&s), plain);
        }
    }
}
