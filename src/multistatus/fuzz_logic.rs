//! The checks behind the scanner's fuzz targets (`fuzz/`), kept in the library so a found
//! input becomes a plain unit test: the same bytes fed whole or split anywhere give the same
//! report (`scan_split`), the fast paths and the plain state machine give the same report
//! (`fast_plain`), the scanner and the reference counter agree (`reference`), a body read
//! on a lexer and failures kept from bodies before reads as on new ones (`reuse`), and
//! nothing panics.
//!
//! Each check starts afresh ([`forget_spares`]): the lexers and failures a thread keeps for
//! its next bodies (`lexer::spare`, `recycle`) would otherwise carry one fuzz input's state
//! into the next, and a crash found so might not reproduce from its saved input alone.

use super::lexer::Lexer;
use super::limits::Limits;
use super::recycle;
use super::report::{AllErrors, Classify, Outcome, Report};
use super::scanner::{BodyEnd, Scanner};

/// Every check runs under the default limits and under these tight ones (depth 8, texts of
/// 5 bytes, 2 failures kept), so the caps are fuzzed too.
const TIGHT: Limits = Limits {
    max_depth: 8,
    max_text: 5,
    max_failures: 2,
};

/// Drops what this thread keeps for its next bodies: lexers (`lexer::spare`) and failures
/// (`recycle`). The next body reads on a new lexer with new failures, as on a new thread.
pub fn forget_spares() {
    Lexer::forget_spares();
    recycle::forget();
}

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
    forget_spares();
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
    forget_spares();
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
    forget_spares();
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

/// How [`check_reuse_equivalence`] reads its two bodies: bits of its `flags`.
pub mod reuse_flags {
    /// The first body under the tight limits (else the default ones).
    pub const FIRST_TIGHT: u8 = 1;
    /// The second body under the tight limits.
    pub const SECOND_TIGHT: u8 = 1 << 1;
    /// The first body ends truncated (else complete).
    pub const FIRST_TRUNCATED: u8 = 1 << 2;
    /// The second body ends truncated.
    pub const SECOND_TRUNCATED: u8 = 1 << 3;
    /// The second body read with every fast path off.
    pub const SECOND_PLAIN: u8 = 1 << 4;
    /// Both bodies are the whole data (else the data cut in two at `at`).
    pub const SAME: u8 = 1 << 5;
    /// The second reading of both bodies on two scanners open at once, fed in turns (a
    /// worker thread auditing two responses): each takes kept lexers and failures while
    /// the other holds some.
    pub const INTERLEAVED: u8 = 1 << 6;
}

/// One body read by `scanner` in the pieces `cuts` make, or fed in turns with another.
struct Reading<'a> {
    scanner: Scanner<AllErrors>,
    data: &'a [u8],
    cuts: &'a [usize],
    end: BodyEnd,
}

impl<'a> Reading<'a> {
    fn new(data: &'a [u8], cuts: &'a [usize], limits: Limits, end: BodyEnd, fast: bool) -> Self {
        let mut scanner = Scanner::new(AllErrors, limits);
        if !fast {
            scanner = scanner.without_fast_paths();
        }
        Reading {
            scanner,
            data,
            cuts,
            end,
        }
    }

    /// Feeds the next piece; false once every piece is fed.
    fn step(&mut self) -> bool {
        let Some((&cut, rest)) = self.cuts.split_first() else {
            if self.data.is_empty() {
                return false;
            }
            self.scanner.feed(std::mem::take(&mut self.data));
            return true;
        };
        let (piece, after) = self.data.split_at(cut.min(self.data.len()));
        self.scanner.feed(piece);
        self.data = after;
        // The next cuts, relative to what is left.
        self.cuts = rest;
        true
    }

    fn finish(mut self) -> Report {
        while self.step() {}
        self.scanner.finish(self.end)
    }
}

/// The check behind the `reuse` fuzz target: bodies read one after another on this thread,
/// the lexer each leaves (`lexer::spare`) and the failures of each report (handed back with
/// [`recycle`](super::recycle::recycle), as the live view does) serving the next, read as
/// each does on a new lexer with new failures (after [`forget_spares`]).
///
/// The bodies: `data` cut in two at `at` (modulo the length + 1), or `data` twice
/// ([`reuse_flags::SAME`]). The first is fed whole; the second split at `splits` (offsets
/// modulo its length + 1, in any order). Read afresh each, then: the first, its failures
/// recycled; the second, its failures recycled; the first again. With
/// [`reuse_flags::INTERLEAVED`], the second reading of both is on two scanners fed in turns.
/// `flags` (bits of [`reuse_flags`]) also pick the limits, the ends and the plain path for
/// the second. Panics if a report differs from the fresh one.
pub fn check_reuse_equivalence(data: &[u8], at: usize, splits: &[usize], flags: u8) {
    use reuse_flags::*;
    let on = |bit: u8| flags & bit != 0;
    let (first, second) = if on(SAME) {
        (data, data)
    } else {
        data.split_at(at.checked_rem(data.len().saturating_add(1)).unwrap_or(0))
    };
    // The second body's pieces, as lengths (a `Reading` takes them one after another).
    let mut pieces = cuts(second, splits);
    let mut from = 0;
    for cut in &mut pieces {
        (*cut, from) = (cut.saturating_sub(from), *cut);
    }
    let limits = |tight: bool| if tight { TIGHT } else { Limits::default() };
    let end = |truncated: bool| {
        if truncated {
            BodyEnd::Truncated
        } else {
            BodyEnd::Complete
        }
    };
    let first_reading = || {
        Reading::new(
            first,
            &[],
            limits(on(FIRST_TIGHT)),
            end(on(FIRST_TRUNCATED)),
            true,
        )
    };
    let second_reading = || {
        Reading::new(
            second,
            &pieces,
            limits(on(SECOND_TIGHT)),
            end(on(SECOND_TRUNCATED)),
            !on(SECOND_PLAIN),
        )
    };
    let show = |body: &[u8]| String::from_utf8_lossy(body).into_owned();

    forget_spares();
    let second_fresh = second_reading().finish();
    forget_spares();
    let first_fresh = first_reading().finish();

    recycle::recycle(first_fresh.failures.clone());
    if on(INTERLEAVED) {
        let (mut a, mut b) = (second_reading(), first_reading());
        // In turns while both have pieces left; then the rest of each.
        while a.step() && b.step() {}
        let (second_again, first_again) = (a.finish(), b.finish());
        assert_eq!(
            second_again,
            second_fresh,
            "second body, read in turns with the first, vs fresh: {:?}",
            show(second)
        );
        assert_eq!(
            first_again,
            first_fresh,
            "first body, read in turns with the second, vs fresh: {:?}",
            show(first)
        );
    } else {
        let second_again = second_reading().finish();
        assert_eq!(
            second_again,
            second_fresh,
            "second body, after the first, vs fresh: {:?} after {:?}",
            show(second),
            show(first)
        );
        recycle::recycle(second_again.failures);
        let first_again = first_reading().finish();
        assert_eq!(
            first_again,
            first_fresh,
            "first body, after the second, vs fresh: {:?} after {:?}",
            show(first),
            show(second)
        );
    }
}
