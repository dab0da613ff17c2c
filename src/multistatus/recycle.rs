//! Failing entries whose report is done with, kept per thread for the next report: a
//! [`Failure`] holds a few strings (href, hrefs, error, description), and the live view's
//! ring frees a record's failing entries each time a new one pushes it out while the tally
//! of the next body allocates the same kind of strings again. [`recycle`] keeps them;
//! the tally takes one back ([`take`]) and overwrites every field, refilling the strings in
//! place.
//!
//! Bounded: at most [`SPARES`] per thread, none holding more than [`SPARE_BYTES`] of text.

use std::cell::RefCell;

use super::report::{Code, Failure, Level};

/// Failures kept per thread.
const SPARES: usize = 64;
/// A failure holding more string capacity than this is freed, not kept.
const SPARE_BYTES: usize = 4096;

thread_local! {
    static SPARE: RefCell<Vec<Failure>> = const { RefCell::new(Vec::new()) };
}

/// Keeps `failures` (their strings' allocations) for the next reports on this thread.
pub fn recycle(failures: Vec<Failure>) {
    let _ = SPARE.try_with(|spare| {
        let Ok(mut spare) = spare.try_borrow_mut() else {
            return;
        };
        for failure in failures {
            if spare.len() >= SPARES {
                break;
            }
            if held(&failure) <= SPARE_BYTES {
                spare.push(failure);
            }
        }
    });
}

/// A failure to overwrite whole: a recycled one, else a new empty one.
pub(super) fn take() -> Failure {
    SPARE
        .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten()
        .unwrap_or_else(empty)
}

fn empty() -> Failure {
    Failure {
        href: String::new(),
        hrefs: Vec::new(),
        href_count: 0,
        props: Vec::new(),
        prop_count: 0,
        level: Level::Response,
        code: Code::Invalid,
        error: None,
        description: None,
    }
}

/// Bytes of string capacity `failure` holds.
fn held(failure: &Failure) -> usize {
    let list = |v: &Vec<String>| {
        v.iter()
            .map(String::capacity)
            .fold(v.capacity().saturating_mul(24), usize::saturating_add)
    };
    [
        failure.href.capacity(),
        list(&failure.hrefs),
        list(&failure.props),
        failure.error.as_ref().map_or(0, String::capacity),
        failure.description.as_ref().map_or(0, String::capacity),
    ]
    .into_iter()
    .fold(0, usize::saturating_add)
}

/// Drops the failures this thread keeps: the next ones are made new.
pub(super) fn forget() {
    let _ = SPARE.try_with(|spare| {
        if let Ok(mut spare) = spare.try_borrow_mut() {
            spare.clear();
        }
    });
}

/// Failures kept by this thread (tests).
#[cfg(test)]
pub(crate) fn kept() -> usize {
    SPARE.with(|spare| spare.borrow().len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::multistatus::{AllErrors, Limits, Report, scan_slice};

    fn scan(body: &[u8]) -> Report {
        scan_slice(body, AllErrors, Limits::default())
    }

    /// Failures with every detail: several hrefs, an error child, descriptions at both
    /// levels, property names; response and propstat level.
    const RICH: &[u8] = b"<D:multistatus xmlns:D=\"DAV:\" xmlns:p=\"urn:p\">\
        <D:response><D:href>/a/first/href/long</D:href><D:href>/a/second</D:href>\
        <D:href>/a/third</D:href><D:status>HTTP/1.1 423 Locked</D:status>\
        <D:error><D:lock-token-submitted/></D:error>\
        <D:responsedescription>a long description of what went wrong</D:responsedescription>\
        </D:response>\
        <D:response><D:href>/b</D:href><D:propstat><D:prop><p:x/><p:y/></D:prop>\
        <D:status>HTTP/1.1 403 Forbidden</D:status>\
        <D:error><p:no-way/></D:error>\
        <D:responsedescription>prop level</D:responsedescription></D:propstat>\
        <D:propstat><D:prop><D:displayname/></D:prop>\
        <D:status>HTTP/1.1 424 Failed Dependency</D:status></D:propstat></D:response>\
        </D:multistatus>";

    /// Fewer details: one short href each, no error, no description; the other way round
    /// (a propstat failure first, then a response one).
    const PLAIN: &[u8] = b"<D:multistatus xmlns:D=\"DAV:\">\
        <D:response><D:href>/c</D:href><D:propstat><D:prop><D:getetag/></D:prop>\
        <D:status>HTTP/1.1 500 x</D:status></D:propstat></D:response>\
        <D:response><D:href>/d</D:href><D:status>HTTP/1.1 403 x</D:status></D:response>\
        <D:response><D:href>/e</D:href><D:status>HTTP/1.1 409 x</D:status></D:response>\
        </D:multistatus>";

    /// A report made from recycled failures equals one made from new ones: no href, error,
    /// description or property of the failures recycled is left in it.
    #[test]
    fn failures_made_from_recycled_ones_hold_nothing_of_them() {
        let fresh = |body: &'static [u8]| {
            std::thread::spawn(move || {
                assert_eq!(super::kept(), 0);
                scan(body)
            })
            .join()
            .unwrap()
        };
        let (rich, plain) = (fresh(RICH), fresh(PLAIN));
        assert_eq!(rich.failures.len(), 3);
        assert_eq!(plain.failures.len(), 3);
        std::thread::spawn(move || {
            for (first, second, expected) in [(RICH, PLAIN, &plain), (PLAIN, RICH, &rich)] {
                for _ in 0..2 {
                    super::recycle(scan(first).failures);
                    assert!(super::kept() >= 3);
                    assert_eq!(&scan(second), expected);
                }
            }
        })
        .join()
        .unwrap();
    }

    /// The thread keeps a bounded number of failures, and none holding much text.
    #[test]
    fn a_thread_keeps_few_failures_and_none_holding_much() {
        std::thread::spawn(|| {
            let mut failure = super::empty();
            failure.description = Some("d".repeat(2 * super::SPARE_BYTES));
            super::recycle(vec![failure]);
            assert_eq!(super::kept(), 0);
            super::recycle((0..2 * super::SPARES).map(|_| super::empty()).collect());
            assert_eq!(super::kept(), super::SPARES);
        })
        .join()
        .unwrap();
    }
}
