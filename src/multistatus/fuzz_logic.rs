//! The check behind the `scan_split` fuzz target (`fuzz/`), kept in the library so a found
//! input becomes a plain unit test: the same bytes fed whole or split anywhere give the same
//! report, and nothing panics.

use super::limits::Limits;
use super::report::AllErrors;
use super::scanner::{BodyEnd, Scanner};

/// Panics if feeding `data` whole and split at `splits` (offsets taken modulo the length,
/// in any order) give different reports, under default and under tight limits.
pub fn check_split_equivalence(data: &[u8], splits: &[usize]) {
    let mut cuts: Vec<usize> = splits
        .iter()
        .map(|&s| s.checked_rem(data.len().saturating_add(1)).unwrap_or(0))
        .collect();
    cuts.sort_unstable();
    let tight = Limits {
        max_depth: 8,
        max_text: 5,
        max_failures: 2,
    };
    for limits in [Limits::default(), tight] {
        for end in [BodyEnd::Complete, BodyEnd::Truncated] {
            let mut whole = Scanner::new(AllErrors, limits);
            whole.feed(data);
            let whole = whole.finish(end);

            let mut split = Scanner::new(AllErrors, limits);
            let mut from = 0;
            for &cut in &cuts {
                split.feed(data.get(from..cut).unwrap_or_default());
                from = cut;
            }
            split.feed(data.get(from..).unwrap_or_default());
            let split = split.finish(end);
            assert_eq!(whole, split, "split at {cuts:?}");
        }
    }
}
