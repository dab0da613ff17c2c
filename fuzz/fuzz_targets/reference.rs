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
    // roxmltree reads the bytes as UTF-8 whatever the declaration says: it judges only
    // bodies that declare no encoding or UTF-8 (found: `encoding="utf-1"`, which both readers
    // rightly refuse as unsupported).
    let utf8_declared = |text: &str| {
        let Some(decl) = text.strip_prefix("<?xml").and_then(|d| d.split("?>").next()) else {
            return true;
        };
        match decl.split("encoding").nth(1) {
            None => true,
            Some(rest) => {
                let label: String = rest
                    .chars()
                    .skip_while(|c| matches!(c, ' ' | '=' | '"' | '\''))
                    .take_while(|c| !matches!(c, '"' | '\''))
                    .collect();
                label.eq_ignore_ascii_case("utf-8") || label.eq_ignore_ascii_case("utf8")
            }
        }
    };
    let well_formed = std::str::from_utf8(data).is_ok_and(|text| {
        if !utf8_declared(text) {
            return false;
        }
        let options = roxmltree::ParsingOptions {
            allow_dtd: false,
            ..roxmltree::ParsingOptions::default()
        };
        // roxmltree's own limits (nodes, depth) are far beyond what a fuzz input reaches.
        roxmltree::Document::parse_with_options(text, options).is_ok()
    });
    davaudit::multistatus::check_reference_agreement(data, &splits, well_formed);
});
