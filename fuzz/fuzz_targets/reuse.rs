//! Arbitrary bytes cut in two (or taken twice), arbitrary split points, limits, ends and
//! paths picked by a flags byte: bodies read one after another on one thread, on the lexer
//! the body before left and failures made from its report's (`recycle`), give the report a
//! new lexer with new failures gives. The check starts by dropping what the thread kept, so
//! a found input reproduces alone. It lives in the library
//! (`davaudit::multistatus::check_reuse_equivalence`) so a finding becomes a unit test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, u16, Vec<u16>, &[u8])| {
    let (flags, at, splits, data) = input;
    let splits: Vec<usize> = splits.into_iter().map(usize::from).take(16).collect();
    davaudit::multistatus::check_reuse_equivalence(data, usize::from(at), &splits, flags);
});
