//! Lexers kept for the next body on the same thread: a new lexer needs its three tables
//! (the memo, the ghosts, the known names: ~15 KiB) and grows its buffers (names, frames,
//! declarations, captured text, the replay trie) entry by entry; a lexer whose body is done
//! ([`Lexer::recycle`]) is kept, and [`Lexer::new`] takes it back emptied: its buffers
//! cleared (capacity kept), every other field as a new lexer has it.
//!
//! The tables are not refilled. What keeps an entry of a previous body from ever holding
//! again is the declaration serial (`Lexer::serial`), which goes on from where that body
//! left it instead of restarting at 0: a memo or a known name's resolution holds only while
//! the declaration it names has the serial it was kept with, and no declaration of a later
//! body gets a serial an earlier one had (the ghosts, which could hand one back, are
//! emptied). The known names themselves are forgotten (a length of 0 per slot).
//!
//! Bounded: at most [`SPARES`] lexers per thread, none holding more than [`SPARE_HEAP`]
//! bytes of buffers (a hostile body's grown buffers are freed with it).

use std::cell::RefCell;

use super::capture::Capture;
use super::known::forget_names;
use super::memo::NO_GHOST;
use super::{Lexer, Parts};

/// Lexers kept per thread (a worker thread audits a few bodies at a time).
pub(super) const SPARES: usize = 4;
/// A lexer holding more heap than this once its body is done is freed, not kept.
pub(super) const SPARE_HEAP: usize = 256 * 1024;

thread_local! {
    static SPARE: RefCell<Vec<Lexer>> = const { RefCell::new(Vec::new()) };
}

/// A kept lexer's allocations, emptied, if this thread has one.
pub(super) fn take() -> Option<Parts> {
    let lexer = SPARE
        .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten()?;
    Some(lexer.into_parts())
}

/// Keeps `lexer` for the next body on this thread, unless the thread keeps enough already.
pub(super) fn keep(lexer: Lexer) {
    if lexer.heap_bytes() > SPARE_HEAP {
        return;
    }
    let _ = SPARE.try_with(move |spare| {
        if let Ok(mut spare) = spare.try_borrow_mut()
            && spare.len() < SPARES
        {
            spare.push(lexer);
        }
    });
}

/// Drops the lexers this thread keeps: the next body gets a new one, whatever bodies this
/// thread read before (the fuzz checks start each input so, to be reproducible).
pub(super) fn forget() {
    let _ = SPARE.try_with(|spare| {
        if let Ok(mut spare) = spare.try_borrow_mut() {
            spare.clear();
        }
    });
}

/// Lexers kept by this thread (tests).
#[cfg(test)]
pub(crate) fn kept() -> usize {
    SPARE.with(|spare| spare.borrow().len())
}

impl Lexer {
    /// The allocations of this lexer, emptied, for the next body (see the module docs).
    fn into_parts(self) -> Parts {
        let Lexer {
            mut names,
            mut frames,
            mut bindings,
            mut ns,
            mut attr,
            mut refname,
            capture,
            serial,
            memo,
            mut ghosts,
            mut known,
            replay,
            ..
        } = self;
        names.clear();
        frames.clear();
        bindings.clear();
        ns.clear();
        attr.clear();
        refname.clear();
        let mut buf = capture.buf;
        buf.clear();
        ghosts.fill(NO_GHOST);
        forget_names(&mut known);
        Parts {
            names,
            frames,
            bindings,
            ns,
            attr,
            refname,
            capture: Capture {
                buf,
                ..Capture::default()
            },
            serial,
            memo,
            ghosts,
            known,
            replay: replay.emptied(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crate::multistatus::{AllErrors, BodyEnd, Limits, Outcome, Report, Scanner};

    fn scan(body: &[u8], end: BodyEnd) -> Report {
        let mut scanner = Scanner::new(AllErrors, Limits::default());
        for piece in body.chunks(7) {
            scanner.feed(piece);
        }
        scanner.finish(end)
    }

    /// `body` scanned by a lexer no body used before: on a thread of its own.
    fn fresh(body: &'static [u8]) -> Report {
        std::thread::spawn(move || {
            assert_eq!(super::kept(), 0);
            scan(body, BodyEnd::Complete)
        })
        .join()
        .unwrap()
    }

    /// Entries in `DAV:` under prefix `D`, declared second (as `CLEAN_OTHER` declares
    /// `D` for another namespace), repeated so the memo, the known names, the ghosts and
    /// the replay all hold something; cut short or broken.
    const HOSTILE: [(&[u8], BodyEnd); 4] = [
        (
            b"<a:multistatus xmlns:a=\"DAV:\" xmlns:D=\"DAV:\">\
              <D:response><D:href>/x</D:href><D:status>HTTP/1.1 500 x</D:status></D:response>\
              <D:response><D:href>/y</D:href><D:status>HTTP/1.1 500 x</D:status></D:response>\
              <D:response><D:href>/z</D:href><D:status>HTTP/1.1 500 x</D:status></D:response>\
              <D:response><D:href>/w</D:href><D:sta",
            BodyEnd::Truncated,
        ),
        (
            b"<a:multistatus xmlns:a=\"DAV:\" xmlns:D=\"DAV:\">\
              <D:response xmlns:p=\"urn:p\"><D:href>/x</D:href><D:propstat><D:prop><p:q/></D:prop>\
              <D:status>HTTP/1.1 403 x</D:status></D:propstat></D:response>\
              <D:response xmlns:p=\"urn:p\"><D:href>/y</D:href><D:propstat><D:prop><p:q/></D:prop>\
              <D:status>HTTP/1.1 403 x</D:status></D:propstat></D:response><D:response><",
            BodyEnd::Complete,
        ),
        (
            b"<a:multistatus xmlns:a=\"DAV:\" xmlns:D=\"DAV:\"><D:response><D:href>/x</D:href>\
              <D:status>HTTP/1.1 424 x</D:status></D:response></a:multistatus><junk/>",
            BodyEnd::Complete,
        ),
        (
            b"<a:multistatus xmlns:a=\"DAV:\" xmlns:D=\"DAV:\"><D:response><D:href>/x</D:href>\
              <D:status>HTTP/1.1 424 x</D:status></D:response><D:response><D:href>\xff",
            BodyEnd::Complete,
        ),
    ];

    /// The same names, `D` bound to another namespace at the same place: no entry, no
    /// failure.
    const CLEAN_OTHER: &[u8] = b"<a:multistatus xmlns:a=\"DAV:\" xmlns:D=\"urn:x\">\
        <D:response><D:href>/x</D:href><D:status>HTTP/1.1 500 x</D:status></D:response>\
        <D:response><D:href>/y</D:href><D:status>HTTP/1.1 500 x</D:status></D:response>\
        </a:multistatus>";

    /// The same names, `D` in `DAV:` again, with a property in another namespace under `p`.
    const CLEAN_SAME: &[u8] = b"<a:multistatus xmlns:a=\"DAV:\" xmlns:D=\"DAV:\">\
        <D:response xmlns:p=\"urn:other\"><D:href>/x</D:href><D:propstat><D:prop><p:q/>\
        </D:prop><D:status>HTTP/1.1 403 x</D:status></D:propstat></D:response>\
        <D:response><D:href>/y</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>\
        </a:multistatus>";

    /// A lexer kept from any body, however it ended, reads the next body as a new one does:
    /// nothing it resolved, learned or recorded holds for another body.
    #[test]
    fn a_body_after_a_hostile_one_on_the_same_thread_reads_as_on_a_new_lexer() {
        let other = fresh(CLEAN_OTHER);
        let same = fresh(CLEAN_SAME);
        assert_eq!(other.outcome, Outcome::Clean);
        assert_eq!(other.entries, 0);
        assert_eq!(same.outcome, Outcome::PartialFailure);
        assert_eq!(same.entries, 2);
        std::thread::spawn(move || {
            for (hostile, end) in HOSTILE {
                for clean in [CLEAN_OTHER, CLEAN_SAME] {
                    let first = scan(hostile, end);
                    assert_ne!(first.outcome, Outcome::Clean);
                    assert!(super::kept() > 0, "the lexer is kept for the next body");
                    let expected = if clean == CLEAN_OTHER { &other } else { &same };
                    assert_eq!(&scan(clean, BodyEnd::Complete), expected);
                    // And the other way round: the hostile body reads as it did.
                    assert_eq!(scan(hostile, end), first);
                }
            }
        })
        .join()
        .unwrap();
    }

    /// The thread keeps a bounded number of lexers, and none with grown buffers.
    #[test]
    fn a_thread_keeps_few_lexers_and_none_holding_much() {
        std::thread::spawn(|| {
            let scanners: Vec<_> = (0..super::SPARES + 3)
                .map(|_| Scanner::new(AllErrors, Limits::default()))
                .collect();
            for scanner in scanners {
                scanner.finish(BodyEnd::Truncated);
            }
            assert_eq!(super::kept(), super::SPARES);
        })
        .join()
        .unwrap();
        std::thread::spawn(|| {
            // Long text kept in a description: the capture buffer grows past the bound.
            let mut body = b"<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/x</D:href>\
                <D:status>HTTP/1.1 500 x</D:status><D:responsedescription>"
                .to_vec();
            body.extend(std::iter::repeat_n(b'x', 2 * super::SPARE_HEAP));
            let limits = Limits {
                max_text: 4 * super::SPARE_HEAP,
                ..Limits::default()
            };
            let mut scanner = Scanner::new(AllErrors, limits);
            scanner.feed(&body);
            scanner.finish(BodyEnd::Truncated);
            assert_eq!(super::kept(), 0);
        })
        .join()
        .unwrap();
    }
}
