//! The reference counter: a second, independent reading of a multistatus body, built on
//! quick-xml's `NsReader` instead of the hand-written lexer. It shares only the vocabulary
//! ([`Report`], [`Limits`], [`Classify`]) with the fast scanner, never its code: no charset
//! front, no lexer, no tally, no status-line parser of the scanner's.
//!
//! It exists for a second opinion: `davaudit scan --reference FILE...` prints the same JSON
//! as `davaudit scan --json`, and the differential tests (`tests/integration/differential.rs`,
//! `fuzz/fuzz_targets/reference.rs`) require both readings to agree on every well-formed
//! body. It is slower than the scanner and not used by the proxy.
//!
//! Streaming: the body is read through a fixed decode buffer and quick-xml's event buffer
//! (which grows with the longest single tag or text run, so one huge text run costs its
//! size: fine for a support tool, which is why the proxy uses the scanner). Captured text is
//! kept up to [`MAX_CAPTURE`] bytes.
//!
//! Audit semantics (those of DESIGN.md / the README, as the scanner implements them):
//! an entry is a `DAV:response` child of the `DAV:multistatus` root; its `DAV:status`
//! children are response-level statuses, the `DAV:status` children of its `DAV:propstat`s
//! are propstat-level statuses, and every one counts where it stands (also where the RFC 4918
//! DTD allows only one). Failure details: the entry's first `DAV:href` (trimmed), the first child of
//! `DAV:error` and the `DAV:responsedescription` (the propstat's, else the entry's). The
//! five predefined entities and character references are decoded; any other entity
//! reference is kept raw (`&name;`), never expanded. A DOCTYPE is skipped, never applied; one
//! whose internal subset declares entities or attribute lists (or references a parameter
//! entity) makes a well-formed body `dtd_declarations` (#14).
//!
//! Well-formedness: what quick-xml checks (tag syntax, end-tag names, comments, namespace
//! declarations, references), plus what a document needs and quick-xml leaves to its
//! caller: one root element, only whitespace, comments and PIs outside it, an XML
//! declaration only at the very start, a DOCTYPE only before the root, PI targets (a name,
//! then whitespace or `?>`, never `xml`), the body's bytes valid in its encoding, and the
//! scanner's depth bound (`Limits::max_depth`, reason "too deep") on audited elements only:
//! property values may nest deeper. At most 4096 namespace declarations in scope, as the
//! scanner.
//!
//! Where DESIGN.md §2.7 says what the audit checks, the reference checks the same, read
//! from the design rather than from the scanner's code: namespace prefixes and attribute
//! syntax are looked at on the audited path only (the root, the children of
//! `DAV:multistatus`, `DAV:response`, `DAV:propstat` and the first child of `DAV:error`);
//! an unbound element prefix is malformed on the root and where a counted element may
//! stand, read as no namespace (named as written, `Report::unbound_prefixes` counted)
//! elsewhere on that path; attribute prefixes are never resolved (no attribute is audited).
//! Duplicate attributes are not checked (§2.7: "not checked").
//!
//! The encoding follows DESIGN.md §2.6 (BOM, declaration, the `Content-Type` charset given
//! with [`Reference::with_charset`], UTF-8); see `decode`.
//!
//! Layout: `mod.rs` (the API, byte counting) -> `decode` (bytes to UTF-8) -> `walk`
//! (quick-xml events, roles, entries, the report) with `text` (status lines, references,
//! kept text, DOCTYPE subsets, PI targets).

use std::io::Read;

use super::limits::Limits;
use super::report::{Classify, Malformed, Outcome, Report};

mod decode;
#[cfg(test)]
mod tests;
mod text;
mod walk;

use walk::Walk;

/// Bytes of text kept per captured element (href, status, description) before trimming and
/// cutting to `Limits::max_text`; longer text is cut here (a documented limit).
pub(super) const MAX_CAPTURE: usize = 64 * 1024;

const DAV: &str = "DAV:";

/// The reference counter for one body: [`Reference::new`], optionally
/// [`Reference::with_charset`], then [`Reference::read`].
#[derive(Debug)]
pub struct Reference<C: Classify> {
    classify: C,
    limits: Limits,
    charset: Option<String>,
}

impl<C: Classify> Reference<C> {
    /// A reference counter. `classify` decides which statuses are failures.
    pub fn new(classify: C, limits: Limits) -> Self {
        Reference {
            classify,
            limits,
            charset: None,
        }
    }

    /// The `charset` parameter of the response's `Content-Type` (DESIGN.md §2.6): used when
    /// the body has no BOM and names no encoding in its XML declaration.
    pub fn with_charset(mut self, charset: Option<&str>) -> Self {
        self.charset = charset.map(str::to_owned);
        self
    }

    /// Counts the statuses of a body read from `reader`. I/O errors of the reader are
    /// returned; a body that is not well formed is a report with outcome `Malformed`.
    pub fn read<R: Read>(self, reader: R) -> std::io::Result<Report> {
        let mut counted = Counted {
            inner: reader,
            bytes: 0,
            failed: None,
        };
        let mut walk = Walk::new(self.classify, self.limits);
        let result = walk.run(&mut counted, self.charset.as_deref());
        if let Some(e) = counted.failed.take() {
            return Err(e);
        }
        // The rest of the body still counts as fed (the scanner reads every byte).
        let mut sink = [0u8; 8192];
        loop {
            match counted.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(walk.report(result.err(), counted.bytes))
    }

    /// Counts the statuses of a body held in memory.
    pub fn read_slice(self, body: &[u8]) -> Report {
        match self.read(body) {
            Ok(report) => report,
            // Reading a slice cannot fail: every error is a report.
            Err(e) => {
                let mut report = Report::empty(Outcome::Malformed);
                report.bytes = body.len() as u64;
                report.malformed = Some(Malformed::at(0, e.to_string()));
                report
            }
        }
    }
}

/// Counts the statuses of a body held in memory (no `Content-Type` charset).
pub fn reference_slice<C: Classify>(body: &[u8], classify: C, limits: Limits) -> Report {
    Reference::new(classify, limits).read_slice(body)
}

/// Counts the statuses of a body read from `reader` (no `Content-Type` charset). I/O errors
/// of the reader are returned; a body that is not well formed is a report with outcome
/// `Malformed`.
pub fn reference_reader<C: Classify, R: Read>(
    reader: R,
    classify: C,
    limits: Limits,
) -> std::io::Result<Report> {
    Reference::new(classify, limits).read(reader)
}

/// The reader's bytes, counted; its errors kept aside so they are not taken for bad XML.
struct Counted<R> {
    inner: R,
    bytes: u64,
    failed: Option<std::io::Error>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    self.bytes = self.bytes.saturating_add(n as u64);
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let kind = e.kind();
                    self.failed = Some(e);
                    return Err(std::io::Error::new(kind, "read failed"));
                }
            }
        }
    }
}
