//! Arbitrary bytes, arbitrary split points: the fast scanner and the reference counter
//! (quick-xml) read the same body. When roxmltree, an outside judge, finds the body
//! well-formed (UTF-8, no DTD: roxmltree refuses DTDs while both readers skip them), neither
//! reader may call it malformed; whenever both accept it, their reports must be equal. The
//! check lives in the library (`davaudit::multistatus::check_reference_agreement`) so a
//! finding becomes a unit test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u16>, &[u8])| {
    let (splits, data) = input;
    let splits: Vec<usize> = splits.into_iter().map(usize::from).take(16).collect();
    let well_formed = std::str::from_utf8(data).is_ok_and(|text| {
        let options = roxmltree::ParsingOptions {
            allow_dtd: false,
            ..roxmltree::ParsingOptions::default()
        };
        // roxmltree's own limits (nodes, depth) are far beyond what a fuzz input reaches.
        roxmltree::Document::parse_with_options(text, options).is_ok()
    });
    davaudit::multistatus::check_reference_agreement(data, &splits, well_formed);
});
