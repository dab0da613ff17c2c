//! The reference counter: a second, independent reading of a multistatus body, built on
//! quick-xml's [`NsReader`] instead of the hand-written lexer. It shares only the vocabulary
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
//! Well-formedness: what quick-xml checks (tag syntax, end-tag names, comments, attribute
//! syntax and duplicates, namespace declarations, references), plus what a document needs
//! and quick-xml leaves to its caller: one root element, only whitespace, comments and PIs
//! outside it, an XML declaration only at the very start, a DOCTYPE only before the root, no
//! unbound element or attribute prefix, the body's bytes valid in its encoding (UTF-32 decoded
//! here: `encoding_rs` has none), and the scanner's depth bound (`Limits::max_depth`, reason
//! "too deep") on audited elements only: property values may nest deeper. At most 4096
//! namespace declarations in scope, as the scanner.

use std::io::{BufReader, Read};

use encoding_rs::{DecoderResult, Encoding, UTF_8};
use quick_xml::encoding::detect_encoding;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::limits::Limits;
use super::report::{Classify, Code, Failure, Level, Malformed, Outcome, Report};

/// Bytes of text kept per captured element (href, status, description) before trimming and
/// cutting to `Limits::max_text`; longer text is cut here (a documented limit).
pub(super) const MAX_CAPTURE: usize = 64 * 1024;

const DAV: &str = "DAV:";

/// Bytes of a status text read, after whitespace runs are collapsed (DESIGN.md).
const STATUS_READ: usize = 256;

/// Counts the statuses of a body held in memory.
pub fn reference_slice<C: Classify>(body: &[u8], classify: C, limits: Limits) -> Report {
    match reference_reader(body, classify, limits) {
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

/// Counts the statuses of a body read from `reader`. I/O errors of the reader are returned;
/// a body that is not well formed is a report with outcome `Malformed`.
pub fn reference_reader<C: Classify, R: Read>(
    reader: R,
    classify: C,
    limits: Limits,
) -> std::io::Result<Report> {
    let mut counted = Counted {
        inner: reader,
        bytes: 0,
        failed: None,
    };
    let mut walk = Walk::new(classify, limits);
    let result = walk.run(&mut counted);
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

// ---------------------------------------------------------------------------------------------
// Bytes to UTF-8

/// Transcodes the body to UTF-8 for quick-xml: the encoding comes from the BOM (or the
/// UTF-16 shape of `<?`), else from the XML declaration's `encoding`, else UTF-8.
struct Decode<R> {
    inner: R,
    /// The first bytes, read to choose the encoding, not yet decoded.
    head: Vec<u8>,
    head_at: usize,
    decoder: encoding_rs::Decoder,
    eof: bool,
    done: bool,
    /// UTF-32 (which `encoding_rs` lacks): the body's bytes become UTF-8 here first.
    utf32: Option<Utf32>,
}

/// UTF-32 units to UTF-8, a cut unit carried to the next read.
struct Utf32 {
    big_endian: bool,
    carry: Vec<u8>,
}

impl Utf32 {
    fn convert(&mut self, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        self.carry.extend_from_slice(bytes);
        let whole = self.carry.len().saturating_sub(self.carry.len() % 4);
        let mut out = String::with_capacity(whole);
        for unit in self.carry.get(..whole).unwrap_or_default().chunks_exact(4) {
            let b: [u8; 4] = unit.try_into().unwrap_or_default();
            let n = if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            };
            out.push(char::from_u32(n).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "invalid byte sequence for UTF-32",
                )
            })?);
        }
        self.carry.drain(..whole);
        Ok(out.into_bytes())
    }
}

/// Bytes read before choosing the encoding: enough for any reasonable declaration.
const HEAD: usize = 1024;

impl<R: Read> Decode<R> {
    fn new(mut inner: R) -> Result<Self, String> {
        let mut head = Vec::with_capacity(HEAD);
        let mut eof = false;
        // A whole XML declaration, however much whitespace it holds (up to 64 KiB).
        let want_more = |head: &[u8]| {
            let open = head.starts_with(b"<?xml") && !head.windows(2).any(|w| w == b"?>");
            head.len() < HEAD || (open && head.len() < 64 * 1024)
        };
        while want_more(&head) {
            let mut chunk = [0u8; 256];
            let want = chunk.len();
            let n = inner
                .read(chunk.get_mut(..want).unwrap_or_default())
                .map_err(|e| e.to_string())?;
            if n == 0 {
                eof = true;
                break;
            }
            head.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
        let utf32 = if head.starts_with(&[0, 0, 0xFE, 0xFF]) || head.starts_with(&[0, 0, 0, b'<']) {
            Some(true)
        } else if head.starts_with(&[0xFF, 0xFE, 0, 0]) || head.starts_with(&[b'<', 0, 0, 0]) {
            Some(false)
        } else {
            None
        };
        if let Some(big_endian) = utf32 {
            let mut state = Utf32 {
                big_endian,
                carry: Vec::new(),
            };
            let mut text = state.convert(&head).map_err(|e| e.to_string())?;
            if text.starts_with("\u{FEFF}".as_bytes()) {
                text.drain(..3);
            }
            return Ok(Decode {
                inner,
                head: text,
                head_at: 0,
                decoder: UTF_8.new_decoder_without_bom_handling(),
                eof,
                done: false,
                utf32: Some(state),
            });
        }
        let detected = detect_encoding(&head);
        let bom = detected.as_ref().map_or(0, |d| d.bom_len());
        let mut encoding = detected.as_ref().map_or(UTF_8, |d| d.encoding());
        if bom == 0
            && encoding.is_ascii_compatible()
            && let Some(declared) = declared_encoding(&head)?
        {
            encoding = declared;
        }
        Ok(Decode {
            inner,
            head,
            head_at: bom,
            decoder: encoding.new_decoder_without_bom_handling(),
            eof,
            done: false,
            utf32: None,
        })
    }
}

/// The encoding named by an XML declaration at the start of `head`, read by quick-xml.
fn declared_encoding(head: &[u8]) -> Result<Option<&'static Encoding>, String> {
    if !head.starts_with(b"<?xml") {
        return Ok(None);
    }
    let Some(end) = head.windows(2).position(|w| w == b"?>") else {
        return Ok(None); // quick-xml will report the unclosed declaration
    };
    let decl = String::from_utf8_lossy(head.get(..end.saturating_add(2)).unwrap_or_default());
    let mut reader = quick_xml::Reader::from_str(&decl);
    match reader.read_event() {
        Ok(Event::Decl(d)) => match d.encoding() {
            None => Ok(None),
            Some(Ok(label)) => match Encoding::for_label(label.as_bytes()) {
                Some(enc) if enc.is_ascii_compatible() || enc == encoding_rs::REPLACEMENT => {
                    if enc == encoding_rs::REPLACEMENT {
                        Err(format!("unsupported encoding {label:?}"))
                    } else {
                        Ok(Some(enc))
                    }
                }
                // UTF-16 declared in an ASCII-shaped body: the bytes say otherwise.
                Some(_) => Err(format!(
                    "declared encoding {label:?} does not match the bytes"
                )),
                None => Err(format!("unsupported encoding {label:?}")),
            },
            Some(Err(e)) => Err(e.to_string()),
        },
        _ => Ok(None),
    }
}

impl<R: Read> Read for Decode<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        // encoding_rs needs room for one whole character.
        if out.len() < 4 || self.done {
            return Ok(0);
        }
        loop {
            let mut chunk = [0u8; 4096];
            let (src, from_head): (&[u8], bool) = if self.head_at < self.head.len() {
                (self.head.get(self.head_at..).unwrap_or_default(), true)
            } else if self.eof {
                (&[], false)
            } else {
                let n = self.inner.read(&mut chunk)?;
                if n == 0 {
                    self.eof = true;
                }
                match &mut self.utf32 {
                    Some(state) => {
                        if n == 0 && !state.carry.is_empty() {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                "invalid byte sequence for UTF-32",
                            ));
                        }
                        // Kept as the head: the decoder reads UTF-8 from there.
                        self.head = state.convert(chunk.get(..n).unwrap_or_default())?;
                        self.head_at = 0;
                        continue;
                    }
                    None => (chunk.get(..n).unwrap_or_default(), false),
                }
            };
            let last = self.eof && src.is_empty();
            let (result, read, written) = self
                .decoder
                .decode_to_utf8_without_replacement(src, out, last);
            if from_head {
                self.head_at = self.head_at.saturating_add(read);
            } else if read < src.len() {
                // Output full: keep the rest of this chunk for the next call.
                let rest = src.get(read..).unwrap_or_default().to_vec();
                self.head = rest;
                self.head_at = 0;
            }
            if let DecoderResult::Malformed(_, _) = result {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "invalid byte sequence for {}",
                        self.decoder.encoding().name()
                    ),
                ));
            }
            if last && result == DecoderResult::InputEmpty {
                self.done = true;
            }
            if written > 0 || self.done {
                return Ok(written);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The element walk

/// What an open element is to the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Multistatus,
    Foreign,
    Response,
    Href,
    Status(Level),
    Propstat,
    Error(Level),
    Description(Level),
    Other,
}

/// The statuses and details of the open `DAV:response`.
#[derive(Debug, Default)]
struct Entry {
    href: Option<String>,
    /// Every href kept (see `Failure::hrefs`), their bytes, and whether one did not fit.
    hrefs: Vec<String>,
    hrefs_bytes: usize,
    hrefs_full: bool,
    href_count: u64,
    response: Vec<Code>,
    /// Propstat-level statuses with their propstat's error and description.
    propstat: Vec<(Code, Option<String>, Option<String>)>,
    error: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Default)]
struct OpenPropstat {
    codes: Vec<Code>,
    error: Option<String>,
    description: Option<String>,
}

struct Walk<C> {
    classify: C,
    limits: Limits,
    stack: Vec<Role>,
    /// Where the document is: before the root, inside it, after it.
    root_seen: bool,
    root_done: bool,
    multistatus: bool,
    /// Any event yet (an XML declaration must be the first thing).
    started: bool,
    /// The DOCTYPE's internal subset declares entities or attribute lists.
    dtd_declares: bool,
    entry: Option<Entry>,
    propstat: Option<OpenPropstat>,
    /// The text of the open captured element.
    text: String,
    /// `DAV:error` elements whose first child was already seen (by stack depth).
    error_seen: bool,
    entries: u64,
    report: Report,
    causes: Vec<Failure>,
    dependent: Vec<Failure>,
}

impl<C: Classify> Walk<C> {
    fn new(classify: C, limits: Limits) -> Self {
        Walk {
            classify,
            limits,
            stack: Vec::new(),
            root_seen: false,
            root_done: false,
            multistatus: false,
            started: false,
            dtd_declares: false,
            entry: None,
            propstat: None,
            text: String::new(),
            error_seen: false,
            entries: 0,
            report: Report::empty(Outcome::Clean),
            causes: Vec::new(),
            dependent: Vec::new(),
        }
    }

    /// Reads the whole body; `Err` is the first well-formedness error.
    fn run<R: Read>(&mut self, body: R) -> Result<(), Malformed> {
        let decode = Decode::new(body).map_err(|reason| Malformed::at(0, reason))?;
        let mut reader = NsReader::from_reader(BufReader::with_capacity(8192, decode));
        // The scanner's bound on declarations in scope (limits::MAX_BINDINGS).
        reader.resolver_mut().set_max_namespace_bindings(4096);
        let config = reader.config_mut();
        config.check_comments = true;
        config.check_end_names = true;
        config.trim_markup_names_in_closing_tags = true;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let at = reader.buffer_position();
            let fail = |reason: String| Malformed::at(at, reason);
            let event = match reader.read_event_into(&mut buf) {
                Ok(event) => event,
                Err(e) => {
                    return Err(Malformed::at(reader.error_position(), e.to_string()));
                }
            };
            let first = !std::mem::replace(&mut self.started, true);
            match event {
                Event::Decl(_) if first => {}
                Event::Decl(_) => return Err(fail("XML declaration not at the start".into())),
                Event::DocType(_) if self.root_seen => {
                    return Err(fail("DOCTYPE after the root element".into()));
                }
                // Skipped, never applied: no entity is ever expanded.
                Event::DocType(text) => {
                    self.dtd_declares = dtd_declares(text.into_inner().as_bytes())
                }
                Event::PI(_) | Event::Comment(_) => {}
                Event::Start(e) => {
                    let (resolved, _) = reader.resolver().resolve_element(e.name());
                    let ns = namespace(&resolved).map_err(fail)?;
                    self.check_attributes(&reader, &e).map_err(fail)?;
                    self.start(ns, e.local_name().as_ref()).map_err(fail)?;
                }
                Event::Empty(e) => {
                    let (resolved, _) = reader.resolver().resolve_element(e.name());
                    let ns = namespace(&resolved).map_err(fail)?;
                    self.check_attributes(&reader, &e).map_err(fail)?;
                    self.start(ns, e.local_name().as_ref()).map_err(fail)?;
                    self.end();
                }
                Event::End(_) => self.end(),
                Event::Text(t) => {
                    let text = t.xml10_content();
                    if self.stack.is_empty() {
                        if !text.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
                            return Err(fail("text outside the root element".into()));
                        }
                    } else {
                        self.push_text(&text);
                    }
                }
                Event::CData(c) => {
                    if self.stack.is_empty() {
                        return Err(fail("CDATA outside the root element".into()));
                    }
                    let text = c.into_inner();
                    self.push_text(&text);
                }
                Event::GeneralRef(r) => {
                    if self.stack.is_empty() {
                        return Err(fail("reference outside the root element".into()));
                    }
                    let text = resolve(&r).map_err(fail)?;
                    self.push_text(&text);
                }
                Event::Eof => {
                    if !self.stack.is_empty() {
                        return Err(fail("the body ends inside an element".into()));
                    }
                    if !self.root_seen {
                        return Err(fail("no root element".into()));
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Attribute syntax, duplicates and prefixes (quick-xml checks them when asked).
    fn check_attributes<R>(&self, reader: &NsReader<R>, e: &BytesStart<'_>) -> Result<(), String> {
        for attr in e.attributes().with_checks(true) {
            let attr = attr.map_err(|e| e.to_string())?;
            let (res, _) = reader.resolver().resolve_attribute(attr.key);
            if let ResolveResult::Unknown(p) = res {
                return Err(format!("unbound namespace prefix {p:?}"));
            }
        }
        Ok(())
    }

    fn start(&mut self, ns: Option<&str>, local: &str) -> Result<(), String> {
        if self.root_done {
            return Err("content after the root element".into());
        }
        // Content of a skipped element (a property value) needs no bound: only audited
        // elements deeper than `max_depth` stop the scanner.
        let skipped = matches!(
            self.stack.last(),
            Some(Role::Foreign | Role::Href | Role::Status(_) | Role::Description(_) | Role::Other)
        );
        if self.stack.len() >= self.limits.max_depth && !skipped {
            return Err("too deep".into());
        }
        let dav = ns == Some(DAV);
        let parent = self.stack.last().copied();
        // The first child of a DAV:error names the error.
        if let Some(Role::Error(owner)) = parent
            && !self.error_seen
        {
            self.error_seen = true;
            let name = match ns {
                Some(DAV) => format!("DAV:{local}"),
                Some(uri) if !uri.is_empty() => format!("{{{uri}}}{local}"),
                _ => local.to_owned(),
            };
            let name = kept(&name, self.limits.max_text);
            match owner {
                Level::Response => {
                    if let Some(entry) = self.entry.as_mut() {
                        entry.error.get_or_insert(name);
                    }
                }
                Level::Propstat => {
                    if let Some(ps) = self.propstat.as_mut() {
                        ps.error.get_or_insert(name);
                    }
                }
            }
        }
        let role = match (parent, dav, local) {
            (None, true, "multistatus") => Role::Multistatus,
            (None, _, _) => Role::Foreign,
            (Some(Role::Multistatus), true, "response") => Role::Response,
            (Some(Role::Response), true, "href") => Role::Href,
            (Some(Role::Response), true, "status") => Role::Status(Level::Response),
            (Some(Role::Response), true, "propstat") => Role::Propstat,
            (Some(Role::Response), true, "error") => Role::Error(Level::Response),
            (Some(Role::Response), true, "responsedescription") => {
                Role::Description(Level::Response)
            }
            (Some(Role::Propstat), true, "status") => Role::Status(Level::Propstat),
            (Some(Role::Propstat), true, "error") => Role::Error(Level::Propstat),
            (Some(Role::Propstat), true, "responsedescription") => {
                Role::Description(Level::Propstat)
            }
            _ => Role::Other,
        };
        match role {
            Role::Multistatus => self.multistatus = true,
            Role::Response => {
                self.entries = self.entries.saturating_add(1);
                self.entry = Some(Entry::default());
            }
            Role::Propstat => self.propstat = Some(OpenPropstat::default()),
            Role::Href | Role::Status(_) | Role::Description(_) => self.text.clear(),
            Role::Error(_) => self.error_seen = false,
            Role::Foreign | Role::Other => {}
        }
        self.root_seen = true;
        self.stack.push(role);
        Ok(())
    }

    fn end(&mut self) {
        let Some(role) = self.stack.pop() else {
            return;
        };
        if self.stack.is_empty() {
            self.root_done = true;
        }
        match role {
            Role::Href => {
                let href = kept(&self.text, self.limits.max_text);
                if let Some(entry) = self.entry.as_mut() {
                    entry.href_count = entry.href_count.saturating_add(1);
                    let first = entry.hrefs.is_empty();
                    let fits = entry.hrefs_bytes.saturating_add(href.len()) <= self.limits.max_text
                        && entry.hrefs.len() < super::limits::MAX_HREFS;
                    if !entry.hrefs_full && (first || fits) {
                        entry.hrefs_bytes = entry.hrefs_bytes.saturating_add(href.len());
                        entry.hrefs.push(href.clone());
                    } else {
                        entry.hrefs_full = true;
                    }
                    entry.href.get_or_insert(href);
                }
            }
            Role::Status(level) => {
                let code = status_code(&self.text);
                match level {
                    Level::Response => {
                        if let Some(entry) = self.entry.as_mut() {
                            entry.response.push(code);
                        }
                    }
                    Level::Propstat => {
                        if let Some(ps) = self.propstat.as_mut() {
                            ps.codes.push(code);
                        }
                    }
                }
            }
            Role::Description(level) => {
                let text = kept(&self.text, self.limits.max_text);
                let slot = match level {
                    Level::Response => self.entry.as_mut().map(|e| &mut e.description),
                    Level::Propstat => self.propstat.as_mut().map(|p| &mut p.description),
                };
                if let Some(slot) = slot {
                    slot.get_or_insert(text);
                }
            }
            Role::Error(_) => self.error_seen = true,
            Role::Propstat => self.end_propstat(),
            Role::Response => self.end_entry(),
            Role::Multistatus | Role::Foreign | Role::Other => {}
        }
    }

    fn end_propstat(&mut self) {
        let (Some(ps), Some(entry)) = (self.propstat.take(), self.entry.as_mut()) else {
            return;
        };
        for code in ps.codes {
            entry
                .propstat
                .push((code, ps.error.clone(), ps.description.clone()));
        }
    }

    /// Counts the entry: every status where it stands, response-level ones first (their
    /// failures listed first), then each propstat's.
    fn end_entry(&mut self) {
        self.end_propstat();
        let Some(entry) = self.entry.take() else {
            return;
        };
        let href = entry.href.clone().unwrap_or_default();
        for code in entry.response {
            self.count(Level::Response, code);
            if self.classify.is_failure(Level::Response, code) {
                self.keep(Failure {
                    href: href.clone(),
                    hrefs: entry.hrefs.clone(),
                    href_count: entry.href_count,
                    props: Vec::new(),
                    prop_count: 0,
                    level: Level::Response,
                    code,
                    error: entry.error.clone(),
                    description: entry.description.clone(),
                });
            }
        }
        for (code, error, description) in entry.propstat {
            self.count(Level::Propstat, code);
            if self.classify.is_failure(Level::Propstat, code) {
                self.keep(Failure {
                    href: href.clone(),
                    hrefs: entry.hrefs.clone(),
                    href_count: entry.href_count,
                    props: Vec::new(),
                    prop_count: 0,
                    level: Level::Propstat,
                    code,
                    error: error.or_else(|| entry.error.clone()),
                    description: description.or_else(|| entry.description.clone()),
                });
            }
        }
    }

    fn count(&mut self, level: Level, code: Code) {
        let map = match level {
            Level::Response => &mut self.report.response_status,
            Level::Propstat => &mut self.report.propstat_status,
        };
        let n = map.entry(code).or_insert(0);
        *n = n.saturating_add(1);
    }

    fn keep(&mut self, failure: Failure) {
        self.report.failure_count = self.report.failure_count.saturating_add(1);
        let failing = match failure.level {
            Level::Response => &mut self.report.response_failing,
            Level::Propstat => &mut self.report.propstat_failing,
        };
        let n = failing.entry(failure.code).or_insert(0);
        *n = n.saturating_add(1);
        let list = if failure.code == Code::Status(424) {
            &mut self.dependent
        } else {
            &mut self.causes
        };
        if list.len() < self.limits.max_failures {
            list.push(failure);
        }
    }

    fn push_text(&mut self, text: &str) {
        let capturing = self
            .stack
            .iter()
            .any(|r| matches!(r, Role::Href | Role::Status(_) | Role::Description(_)));
        if !capturing {
            return;
        }
        let room = MAX_CAPTURE.saturating_sub(self.text.len());
        self.text.push_str(&cut(text, room));
    }

    fn report(mut self, error: Option<Malformed>, bytes: u64) -> Report {
        // An entry left open by a malformed body still counts, as far as it went.
        if error.is_some() {
            while let Some(role) = self.stack.last().copied() {
                if matches!(role, Role::Response) {
                    self.end_entry();
                }
                if matches!(role, Role::Propstat) {
                    self.end_propstat();
                }
                self.stack.pop();
            }
        }
        let mut report = self.report;
        report.entries = self.entries;
        report.bytes = bytes;
        let mut failures = self.causes;
        failures.extend(self.dependent);
        failures.truncate(self.limits.max_failures);
        report.failures = failures;
        report.outcome = if error.is_some() {
            Outcome::Malformed
        } else if self.dtd_declares {
            Outcome::DtdDeclarations
        } else if !self.multistatus {
            Outcome::NotMultistatus
        } else if report.failure_count > 0 {
            Outcome::PartialFailure
        } else {
            Outcome::Clean
        };
        report.malformed = error;
        report
    }
}

/// True when a DOCTYPE (its text after `<!DOCTYPE`) has an internal subset that declares an
/// entity or an attribute list, or references a parameter entity: quoted literals and
/// comments removed first, then a plain search.
fn dtd_declares(doctype: &[u8]) -> bool {
    let Some(open) = doctype.iter().position(|&b| b == b'[') else {
        return false;
    };
    let subset = doctype.get(open..).unwrap_or_default();
    let mut plain = Vec::with_capacity(subset.len());
    let mut i = 0;
    while let Some(&b) = subset.get(i) {
        let rest = subset.get(i..).unwrap_or_default();
        if rest.starts_with(b"<!--") {
            let end = rest
                .windows(3)
                .position(|w| w == b"-->")
                .map_or(rest.len(), |e| e.saturating_add(3));
            i = i.saturating_add(end);
        } else if b == b'"' || b == b'\'' {
            let end = rest
                .iter()
                .skip(1)
                .position(|&c| c == b)
                .map_or(rest.len(), |e| e.saturating_add(2));
            i = i.saturating_add(end);
        } else {
            plain.push(b);
            i = i.saturating_add(1);
        }
    }
    let has = |needle: &[u8]| plain.windows(needle.len()).any(|w| w == needle);
    has(b"<!ENTITY") || has(b"<!ATTLIST") || plain.contains(&b'%')
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The namespace of a resolved element name; an unknown prefix is an error.
fn namespace<'a>(resolved: &'a ResolveResult<'_>) -> Result<Option<&'a str>, String> {
    match resolved {
        ResolveResult::Bound(ns) => Ok(Some(ns.0)),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(p) => Err(format!("unbound namespace prefix {p:?}")),
    }
}

/// A reference's text: predefined entities and character references decoded, any other
/// entity kept as written.
fn resolve(r: &BytesRef<'_>) -> Result<String, String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(c.to_string());
    }
    Ok(match &**r {
        "lt" => "<".to_owned(),
        "gt" => ">".to_owned(),
        "amp" => "&".to_owned(),
        "apos" => "'".to_owned(),
        "quot" => "\"".to_owned(),
        other => format!("&{other};"),
    })
}

/// Kept text: leading whitespace dropped, cut to `max` bytes, trailing whitespace dropped
/// (DESIGN.md: texts are trimmed and capped).
fn kept(s: &str, max: usize) -> String {
    cut(s.trim_start_matches(is_ws), max)
        .trim_end_matches(is_ws)
        .to_owned()
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut n = max;
    while n > 0 && !s.is_char_boundary(n) {
        n = n.saturating_sub(1);
    }
    s.get(..n).unwrap_or_default().to_owned()
}

/// `HTTP/<digits>[.<digits>] NNN [reason]`, whitespace anywhere between: the three digits
/// (100..=999), else `Invalid`.
fn status_code(text: &str) -> Code {
    // DESIGN.md: the first 256 bytes of the text, whitespace runs collapsed, are read.
    let collapsed = text
        .split(is_ws)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let collapsed = cut(&collapsed, STATUS_READ);
    let mut words = collapsed.split(' ');
    let (Some(version), Some(code)) = (words.next(), words.next()) else {
        return Code::Invalid;
    };
    let version_ok = version.strip_prefix("HTTP/").is_some_and(|v| {
        let mut parts = v.split('.');
        let ok = |p: Option<&str>| {
            p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        match (parts.next(), parts.next(), parts.next()) {
            (major, None, None) => ok(major),
            (major, minor @ Some(_), None) => ok(major) && ok(minor),
            _ => false,
        }
    });
    let code_ok = code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit());
    match code.parse::<u16>() {
        Ok(n) if version_ok && code_ok && (100..=999).contains(&n) => Code::Status(n),
        _ => Code::Invalid,
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::multistatus::AllErrors;

    fn scan(body: &[u8]) -> Report {
        reference_slice(body, AllErrors, Limits::default())
    }

    #[test]
    fn counts_a_partial_failure_with_its_details() {
        let body = br#"<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">
          <d:response><d:href> /a </d:href><d:status>HTTP/1.1 423 Locked</d:status>
            <d:error><d:lock-token-submitted/></d:error></d:response>
          <d:response><d:href>/b</d:href><d:propstat><d:prop/><d:status>HTTP/1.1 424 x</d:status>
            </d:propstat><d:propstat><d:status>HTTP/1.1 403 x</d:status>
            <d:responsedescription> no </d:responsedescription></d:propstat></d:response>
        </d:multistatus>"#;
        let r = scan(body);
        assert_eq!(r.outcome, Outcome::PartialFailure);
        assert_eq!(r.entries, 2);
        assert_eq!(r.failure_count, 3);
        assert_eq!(r.failures[0].href, "/a");
        assert_eq!(
            r.failures[0].error.as_deref(),
            Some("DAV:lock-token-submitted")
        );
        assert_eq!(r.failures[1].code, Code::Status(403));
        assert_eq!(r.failures[1].description.as_deref(), Some("no"));
        assert_eq!(r.failures[2].code, Code::Status(424));
        assert_eq!(r.bytes, body.len() as u64);
    }

    #[test]
    fn malformed_and_foreign_bodies() {
        let cases: &[(&[u8], Outcome)] = &[
            (b"", Outcome::Malformed),
            (b"<a></b>", Outcome::Malformed),
            (b"<a/><b/>", Outcome::Malformed),
            (b"<a/>x", Outcome::Malformed),
            (b"<p:a/>", Outcome::Malformed),
            (b"<a><!-- a -- b --></a>", Outcome::Malformed),
            (b"<a x='1' x='2'/>", Outcome::Malformed),
            (b"<a>", Outcome::Malformed),
            (b" <?xml version='1.0'?><a/>", Outcome::Malformed),
            (b"<a/><!DOCTYPE a>", Outcome::Malformed),
            (
                b"<?xml version='1.0' encoding='nope'?><a/>",
                Outcome::Malformed,
            ),
            (b"<a>\xff</a>", Outcome::Malformed),
            (b"<a/>", Outcome::NotMultistatus),
            (
                b"<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>",
                Outcome::DtdDeclarations,
            ),
            (
                b"<!DOCTYPE a [<!ELEMENT a ANY><!-- <!ENTITY --> ]><a/>",
                Outcome::NotMultistatus,
            ),
        ];
        for (body, want) in cases {
            assert_eq!(
                scan(body).outcome,
                *want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn encodings_are_read() {
        let text = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><multistatus xmlns=\"DAV:\"><response><href>/é</href><status>HTTP/1.1 500 x</status></response></multistatus>";
        let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(text);
        let r = scan(&latin1);
        assert_eq!(r.failures[0].href, "/é");
        let mut utf16 = vec![0xFF, 0xFE];
        for u in text.replace("ISO-8859-1", "UTF-16").encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        let r = scan(&utf16);
        assert_eq!(r.failures[0].href, "/é", "{r:?}");
    }

    #[test]
    fn references_decoded_others_kept_raw() {
        let body = b"<multistatus xmlns='DAV:'><response><href>/a&amp;b&#x41;&ent;</href>\
            <status>HTTP/1.1&#32;500 x</status></response></multistatus>";
        let r = scan(body);
        assert_eq!(r.failures[0].href, "/a&bA&ent;");
        assert_eq!(r.failures[0].code, Code::Status(500));
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_code(" HTTP/1.1\n423  Locked "), Code::Status(423));
        assert_eq!(status_code("HTTP/2 200"), Code::Status(200));
        for bad in [
            "HTTP/1.1 99",
            "HTTP/1.1 0999",
            "http/1.1 200",
            "HTTP/1.1.1 200",
            "HTTP/ 200",
            "200",
        ] {
            assert_eq!(status_code(bad), Code::Invalid, "{bad}");
        }
    }
}
