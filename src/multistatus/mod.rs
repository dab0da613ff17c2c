//! The multistatus scanner: reads a `207 Multi-Status` body as it arrives and returns what it
//! says, as a [`Report`]. Sans-io: no tokio, no hyper, no tracing, no metrics; the audit task,
//! `davaudit scan`, the property tests, the fuzz target and the benchmark all run this code.
//!
//! ```
//! use davaudit::multistatus::{scan_slice, AllErrors, Limits, Outcome};
//! let body = br#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/a</d:href>
//!     <d:status>HTTP/1.1 423 Locked</d:status></d:response></d:multistatus>"#;
//! let report = scan_slice(body, AllErrors, Limits::default());
//! assert_eq!(report.outcome, Outcome::PartialFailure);
//! assert_eq!(report.failures[0].href, "/a");
//! ```
//!
//! Layout, in data order: [`scanner`] (the [`Scanner`] API) -> `charset` (BOM, declared
//! encoding, UTF-8 validation or transcoding) -> `lexer` (resumable XML state machine:
//! well-formedness, element stack, `DAV:` namespace matching on the audited path, `memchr`
//! skipping of everything else) -> `tally` (entries, counts, kept failures; `texts` holds
//! an entry's hrefs and details, `props` its property names, until a failure needs them;
//! `recycle` the failures of reports done with, refilled for the next) -> [`report`].
//! `limits` holds every bound, `status_line` parses `HTTP/1.1 423 Locked`.
//!
//! Memory is constant whatever the body: text is never buffered except the capped text of
//! `DAV:href`, `DAV:status` and `DAV:responsedescription`; names are kept per open element
//! (depth and name length bounded); DTDs are skipped, never processed.
//!
//! Documented choices: deeper than `Limits::max_depth` is `Malformed` ("too deep"); an entity
//! reference other than the five predefined ones is kept raw in kept text, never expanded and
//! never an error; text kept in captured elements is the concatenation of all character data
//! inside them (CDATA included, comments excluded); only direct children are audited
//! (`multistatus/response/{href,status,propstat/status,error/*,responsedescription}`).

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod charset;
mod fuzz_logic;
mod lexer;
mod limits;
mod props;
mod recycle;
mod reference;
mod report;
mod scanner;
mod status_line;
mod tally;
#[cfg(test)]
mod tests;
mod texts;

pub use fuzz_logic::{
    check_fast_plain_equivalence, check_reference_agreement, check_reuse_equivalence,
    check_split_equivalence, forget_spares, reuse_flags,
};
pub use limits::{Limits, MAX_HREFS, MAX_PROPS};
pub use recycle::recycle;
pub use reference::{Reference, reference_reader, reference_slice};
pub use report::{AllErrors, Classify, Code, Failure, Level, Limit, Malformed, Outcome, Report};
pub use scanner::{BodyEnd, Scanner};

/// Scans a whole body held in memory.
pub fn scan_slice<C: Classify>(body: &[u8], classify: C, limits: Limits) -> Report {
    let mut scanner = Scanner::new(classify, limits);
    scanner.feed(body);
    scanner.finish(BodyEnd::Complete)
}

/// Scans a body from a reader in 64 KiB reads. I/O errors are returned; a body that is not
/// well formed is a report with outcome `Malformed`, not an error.
pub fn scan_reader<C: Classify, R: std::io::Read>(
    mut reader: R,
    classify: C,
    limits: Limits,
) -> std::io::Result<Report> {
    let mut scanner = Scanner::new(classify, limits);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => scanner.feed(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(scanner.finish(BodyEnd::Complete))
}
