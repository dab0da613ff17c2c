//! The element walk: quick-xml's [`NsReader`] events in, a [`Report`] out. Owns what a
//! document needs beyond what quick-xml checks (one root, nothing but whitespace, comments
//! and PIs outside it, the declaration first, the DOCTYPE before the root, PI targets), the
//! namespace rules of DESIGN.md §2.7 (an unbound prefix is malformed on the root and where a
//! counted element may stand, read as no namespace elsewhere on the audited path), each
//! element's role for the audit, and the entries' statuses and failure details (§2.2–§2.5).

use std::io::{BufReader, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::decode::Decode;
use super::text::{cut, dtd_declares, kept, pi_target_ok, resolve, status_code};
use super::{DAV, MAX_CAPTURE};
use crate::multistatus::limits::{Limits, MAX_HREFS, MAX_PROPS};
use crate::multistatus::report::{Classify, Code, Failure, Level, Malformed, Outcome, Report};

/// What an open element is to the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Multistatus,
    Foreign,
    Response,
    Href,
    Status(Level),
    Propstat,
    /// `DAV:propstat/DAV:prop`: its children name the properties.
    Prop,
    Error(Level),
    Description(Level),
    Other,
}

/// A propstat-level status: its code, its propstat's error and description, the property
/// names kept and how many there were.
type PropstatStatus = (Code, Option<String>, Option<String>, Vec<String>, u64);

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
    /// Propstat-level statuses with their propstat's error, description and properties
    /// (kept names, how many in all).
    propstat: Vec<PropstatStatus>,
    error: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Default)]
struct OpenPropstat {
    codes: Vec<Code>,
    error: Option<String>,
    description: Option<String>,
    /// The names of its `DAV:prop`'s children in Clark notation, kept as hrefs are.
    props: Vec<String>,
    props_bytes: usize,
    props_full: bool,
    prop_count: u64,
}

pub(super) struct Walk<C> {
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
    /// The prefix a root that binds no namespace reads as `DAV:` (DESIGN.md §2.7).
    implied: Option<String>,
    report: Report,
    causes: Vec<Failure>,
    dependent: Vec<Failure>,
}

impl<C: Classify> Walk<C> {
    pub(super) fn new(classify: C, limits: Limits) -> Self {
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
            implied: None,
            report: Report::empty(Outcome::Clean),
            causes: Vec::new(),
            dependent: Vec::new(),
        }
    }

    /// Reads the whole body; `Err` is the first well-formedness error.
    pub(super) fn run<R: Read>(&mut self, body: R, charset: Option<&str>) -> Result<(), Malformed> {
        let decode = Decode::new(body, charset).map_err(|reason| Malformed::at(0, reason))?;
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
                Event::PI(pi) => {
                    if !pi_target_ok(pi.target()) {
                        return Err(fail("invalid processing instruction target".into()));
                    }
                }
                Event::Comment(_) => {}
                Event::Start(e) => self.element(&reader, &e).map_err(fail)?,
                Event::Empty(e) => {
                    self.element(&reader, &e).map_err(fail)?;
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

    /// The open element's children are on the audited path (DESIGN.md §2.7): the root, and
    /// the children of `DAV:multistatus`, `DAV:response`, `DAV:propstat` and the first
    /// child of `DAV:error`. Only there are names resolved and attributes read.
    fn audits_children(&self) -> bool {
        match self.stack.last() {
            None => true,
            Some(Role::Multistatus | Role::Response | Role::Propstat | Role::Prop) => true,
            Some(Role::Error(_)) => !self.error_seen,
            Some(_) => false,
        }
    }

    /// A start tag: its namespace (on the audited path), its attributes' syntax, its role.
    fn element<R>(&mut self, reader: &NsReader<R>, e: &BytesStart<'_>) -> Result<(), String> {
        if !self.audits_children() {
            // Skipped content (a property value): named and matched only.
            return self.start(None, "");
        }
        let mut declares = false;
        for attr in e.attributes().with_checks(false) {
            let attr = attr.map_err(|e| e.to_string())?;
            let key = attr.key.into_inner();
            declares |= key == "xmlns" || key.starts_with("xmlns:");
        }
        let local = e.local_name().into_inner().to_owned();
        let (resolved, _) = reader.resolver().resolve_element(e.name());
        match resolved {
            ResolveResult::Bound(ns) => {
                let ns = ns.into_inner().to_owned();
                self.start(Some(&ns), &local)
            }
            ResolveResult::Unbound => self.start(None, &local),
            ResolveResult::Unknown(p) if self.implied.as_deref() == Some(p.as_str()) => {
                self.start(Some(DAV), &local)
            }
            // A root that binds no namespace but is named in WebDAV's words (lighttpd's bare
            // `<D:response>` fragment): its prefix is `DAV:` in the whole body, the body marked.
            ResolveResult::Unknown(p)
                if self.stack.is_empty()
                    && !declares
                    && p != "xml"
                    && matches!(local.as_str(), "multistatus" | "response") =>
            {
                self.implied = Some(p);
                self.report.unbound_prefixes = self.report.unbound_prefixes.saturating_add(1);
                self.start(Some(DAV), &local)
            }
            ResolveResult::Unknown(p) => {
                if self.counted_here(&local) {
                    return Err(format!("unbound namespace prefix {p:?}"));
                }
                // Namespace-ill-formed but well-formed (lighttpd's `<DAV:getetag/>`): read as
                // in no namespace, named as written, the body marked.
                self.report.unbound_prefixes = self.report.unbound_prefixes.saturating_add(1);
                let written = e.name().into_inner().to_owned();
                self.start(None, &written)
            }
        }
    }

    /// An element named `local` here could be a counted one: the root, `response` in a
    /// multistatus, `href`, `status`, `propstat`, `error`, `responsedescription` in a
    /// response, `status`, `error`, `responsedescription` in a propstat.
    fn counted_here(&self, local: &str) -> bool {
        match self.stack.last() {
            None => true,
            Some(Role::Multistatus) => local == "response",
            Some(Role::Response) => matches!(
                local,
                "href" | "status" | "propstat" | "error" | "responsedescription"
            ),
            Some(Role::Propstat) => matches!(local, "status" | "error" | "responsedescription"),
            Some(_) => false,
        }
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
        // Each child of a propstat's DAV:prop names a property.
        if parent == Some(Role::Prop)
            && let Some(ps) = self.propstat.as_mut()
        {
            let name = match ns {
                Some(uri) if !uri.is_empty() => format!("{{{uri}}}{local}"),
                _ => local.to_owned(),
            };
            let name = kept(&name, self.limits.max_text);
            ps.prop_count = ps.prop_count.saturating_add(1);
            let first = ps.props.is_empty();
            let fits = ps.props_bytes.saturating_add(name.len()) <= self.limits.max_text
                && ps.props.len() < MAX_PROPS;
            if !ps.props_full && (first || fits) {
                ps.props_bytes = ps.props_bytes.saturating_add(name.len());
                ps.props.push(name);
            } else {
                ps.props_full = true;
            }
        }
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
            // A bare DAV:response root: a multistatus of that one entry (DESIGN.md §2.7).
            (None, true, "response") => Role::Response,
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
            (Some(Role::Propstat), true, "prop") => Role::Prop,
            (Some(Role::Propstat), true, "error") => Role::Error(Level::Propstat),
            (Some(Role::Propstat), true, "responsedescription") => {
                Role::Description(Level::Propstat)
            }
            _ => Role::Other,
        };
        match role {
            Role::Multistatus => self.multistatus = true,
            Role::Response => {
                // At the root: read as a multistatus holding this entry.
                self.multistatus |= parent.is_none();
                self.entries = self.entries.saturating_add(1);
                self.entry = Some(Entry::default());
            }
            Role::Propstat => self.propstat = Some(OpenPropstat::default()),
            Role::Href | Role::Status(_) | Role::Description(_) => self.text.clear(),
            Role::Error(_) => self.error_seen = false,
            Role::Foreign | Role::Other | Role::Prop => {}
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
                        && entry.hrefs.len() < MAX_HREFS;
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
            Role::Multistatus | Role::Foreign | Role::Other | Role::Prop => {}
        }
    }

    fn end_propstat(&mut self) {
        let (Some(ps), Some(entry)) = (self.propstat.take(), self.entry.as_mut()) else {
            return;
        };
        for code in ps.codes {
            entry.propstat.push((
                code,
                ps.error.clone(),
                ps.description.clone(),
                ps.props.clone(),
                ps.prop_count,
            ));
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
        for (code, error, description, props, prop_count) in entry.propstat {
            self.count(Level::Propstat, code);
            if self.classify.is_failure(Level::Propstat, code) {
                self.keep(Failure {
                    href: href.clone(),
                    hrefs: entry.hrefs.clone(),
                    href_count: entry.href_count,
                    props,
                    prop_count,
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

    pub(super) fn report(mut self, error: Option<Malformed>, bytes: u64) -> Report {
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
