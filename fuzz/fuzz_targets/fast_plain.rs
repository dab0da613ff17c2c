//! Arbitrary bytes, arbitrary split points: the scanner with its fast paths and the scanner
//! with every fast path off (`Scanner::without_fast_paths`) must give the same report. The
//! check lives in the library (`davaudit::multistatus::check_fast_plain_equivalence`) so a
//! finding becomes a unit test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u16>, &[u8])| {
    let (splits, data) = input;
    let splits: Vec<usize> = splits.into_iter().map(usize::from).take(16).collect();
    davaudit::multistatus::check_fast_plain_equivalence(data, &splits);
});
