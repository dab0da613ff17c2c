//! Arbitrary bytes, arbitrary split points: the scanner must not panic, and the report must
//! not depend on how the body was split. The check lives in the library
//! (`davaudit::multistatus::check_split_equivalence`) so a finding becomes a unit test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u16>, &[u8])| {
    let (splits, data) = input;
    let splits: Vec<usize> = splits.into_iter().map(usize::from).take(16).collect();
    davaudit::multistatus::check_split_equivalence(data, &splits);
});
