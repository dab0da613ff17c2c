//! The checks behind the scanner's fuzz targets (`fuzz/`), kept in the library so a found
//! input becomes a plain unit test: the same bytes fed whole or split anywhere give the same
//! report (`scan_split`), the fast paths and the plain state machine give the same report
//! (`fast_plain`), the scanner and the reference counter agree (`reference`), and nothing
//! panics.

use super::limits::Limits;
use super::report::{AllErrors, Classify, Outcome};
use super::scanner::{BodyEnd, Scanner};

/// Every check runs under the default limits and under these tight ones (depth 8, texts of
/// 5 bytes, 2 failures kept), so the caps are fuzzed too.
const TIGHT: Limits = Limits {
    max_depth: 8,
    max_text: 5,
    max_failures: 2,
};

/// The split offsets: `splits` taken modulo the length (+1), in order.
fn cuts(data: &[u8], splits: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = splits
        .iter()
        .map(|&s| s.checked_rem(data.len().saturating_add(1)).unwrap_or(0))
        .collect();
    cuts.sort_unstable();
    cuts
}

/// Feeds `data` to `scanner` in the pieces `cuts` make.
fn feed_split<C: Classify>(scanner: &mut Scanner<C>, data: &[u8], cuts: &[usize]) {
    let mut from = 0;
    for &cut in cuts {
        scanner.feed(data.get(from..cut).unwrap_or_default());
        from = cut;
    }
    scanner.feed(data.get(from..).unwrap_or_default());
}

/// Panics if feeding `data` whole and split at `splits` (offsets taken modulo the length,
/// in any order) give different reports, under default and under tight limits.
pub fn check_split_equivalence(data: &[u8], splits: &[usize]) {
    let cuts = cuts(data, splits);
    for limits in [Limits::default(), TIGHT] {
        for end in [BodyEnd::Complete, BodyEnd::Truncated] {
            let mut whole = Scanner::new(AllErrors, limits);
            whole.feed(data);
            let whole = whole.finish(end);

            let mut split = Scanner::new(AllErrors, limits);
            feed_split(&mut split, data, &cuts);
            let split = split.finish(end);
            assert_eq!(whole, split, "split at {cuts:?}");
        }
    }
}

/// The check behind the `fast_plain` fuzz target: the scanner with its fast paths, fed
/// `data` whole, and the scanner with every fast path off
/// ([`Scanner::without_fast_paths`]), fed it split at `splits` (offsets taken modulo the
/// length, in any order), give the same report, under default and under tight limits,
/// complete or truncated. Panics if they differ.
pub fn check_fast_plain_equivalence(data: &[u8], splits: &[usize]) {
    let cuts = cuts(data, splits);
    for limits in [Limits::default(), TIGHT] {
        for end in [BodyEnd::Complete, BodyEnd::Truncated] {
            let mut fast = Scanner::new(AllErrors, limits);
            fast.feed(data);
            let fast = fast.finish(end);

            let mut plain = Scanner::new(AllErrors, limits).without_fast_paths();
            feed_split(&mut plain, data, &cuts);
            let plain = plain.finish(end);
            assert_eq!(fast, plain, "fast vs plain, plain split at {cuts:?}");
        }
    }
}

/// The check behind the `reference` fuzz target: the scanner (fed split at `splits`) and
/// the reference counter (`reference`, quick-xml) read the same bytes, both given the same
/// `Content-Type` `charset` (or none).
///
/// - When both accept the body (neither says `Malformed`), their reports are equal: outcome,
///   entries, counts per level and code, failures with their details, bytes. A scanner
///   stopped by a bound the reference does not apply (outcome `OverLimit`, any limit but the
///   depth) has not accepted it: those reports are not compared.
/// - When `well_formed` (an outside judge, e.g. roxmltree, parsed the body and it has no
///   DTD), neither may call it `Malformed`.
///
/// Checked under default limits and under [`TIGHT`] ones. Panics on a disagreement.
pub fn check_reference_agreement(
    data: &[u8],
    splits: &[usize],
    charset: Option<&str>,
    well_formed: bool,
) {
    let cuts = cuts(data, splits);
    for limits in [Limits::default(), TIGHT] {
        let mut scanner = Scanner::new(AllErrors, limits).with_charset(charset);
        feed_split(&mut scanner, data, &cuts);
        let fast = scanner.finish(BodyEnd::Complete);
        let reference = super::reference::Reference::new(AllErrors, limits)
            .with_charset(charset)
            .read_slice(data);
        let too_deep = |r: &super::report::Report| {
            r.malformed.as_ref().is_some_and(|m| m.reason == "too deep")
        };
        // A bound only the scanner applies (a reference or attribute name, open names'
        // bytes, an XML declaration past its length) stops it with outcome `over_limit`
        // where the reference reads on: nothing to compare. A well-formed body may still
        // not be called malformed by the reference (below, `too_deep` aside).
        let scanner_bound = fast.outcome == Outcome::OverLimit && !too_deep(&fast);
        if scanner_bound {
            assert!(
                !well_formed || reference.outcome != Outcome::Malformed || too_deep(&reference),
                "well-formed body called malformed by the reference: {reference:?}"
            );
        } else if fast.outcome != Outcome::Malformed && reference.outcome != Outcome::Malformed {
            assert_eq!(fast, reference, "scanner vs reference");
        } else if well_formed {
            // Only the depth limit may stop a well-formed body, and it stops both.
            assert!(
                too_deep(&fast) && too_deep(&reference),
                "well-formed body called malformed: {fast:?} vs {reference:?}"
            );
        }
    }
}
