//! What the audited elements say: entries, statuses per level and code, and the failures
//! kept with their details. Fed by the lexer through [`Sink`]; turned into a [`Report`] by
//! [`Tally::report`].
//!
//! Statuses are counted per entry when its `DAV:response` ends, or at the end of the body for
//! an entry left open by a truncated or malformed body (counts up to there are kept). Every
//! `DAV:status` counts where it stands: each `response/status` at response level, each
//! `response/propstat/status` at propstat level, even where the DTD allows only one of them
//! (a response with both, a propstat with two statuses).
//! Failures are kept in two lists capped at `max_failures` each, root causes and 424 Failed
//! Dependency, so a flood of 424s never pushes out the failure that caused them; the report
//! lists root causes first.

use std::collections::BTreeMap;

use super::lexer::{Role, Sink};
use super::limits::{Limits, MAX_HREFS, MAX_PROPS, MAX_STATUS, push_capped};
use super::report::{Classify, Code, Failure, Level, Report};
use super::status_line;

/// Failures with details, capped per kind (root cause vs 424).
#[derive(Debug, Default)]
struct Kept {
    causes: Vec<Failure>,
    dependent: Vec<Failure>,
}

impl Kept {
    /// A failure with `code` would still be kept (checked before building one).
    fn room(&self, code: Code, cap: usize) -> bool {
        let list = if code == Code::Status(424) {
            &self.dependent
        } else {
            &self.causes
        };
        list.len() < cap
    }

    fn clear(&mut self) {
        self.causes.clear();
        self.dependent.clear();
    }

    fn push(&mut self, failure: Failure, cap: usize) {
        let list = if failure.code == Code::Status(424) {
            &mut self.dependent
        } else {
            &mut self.causes
        };
        if list.len() < cap {
            list.push(failure);
        }
    }
}

/// Counts by code, few distinct codes per entry: a short list beats a map.
#[derive(Debug, Default)]
struct CodeCounts(Vec<(Code, u64)>);

impl CodeCounts {
    fn add(&mut self, code: Code) {
        match self.0.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n = n.saturating_add(1),
            None => self.0.push((code, 1)),
        }
    }
}

/// A list of short texts kept for a failure (hrefs, property names): the first ones whose
/// bytes sum to at most `max_text` (the first always, itself capped), at most `max` of them;
/// `count` counts them all. One buffer, reused: no allocation per text.
#[derive(Debug, Default)]
struct TextList {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// No more are kept (one did not fit).
    full: bool,
    count: u64,
}

impl TextList {
    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.full = false;
        self.count = 0;
    }

    /// Keeps `text` (trimmed by the caller) if it fits.
    fn push(&mut self, text: &[u8], max_text: usize, max: usize) {
        self.push_parts(&[text], max_text, max);
    }

    /// Keeps the concatenation of `parts` (each a whole UTF-8 sequence) if it fits; the first
    /// one is cut at `max_text` on a character boundary.
    fn push_parts(&mut self, parts: &[&[u8]], max_text: usize, max: usize) {
        self.count = self.count.saturating_add(1);
        let len = parts.iter().fold(0usize, |n, p| n.saturating_add(p.len()));
        let first = self.ends.is_empty();
        let fits = self.bytes.len().saturating_add(len) <= max_text && self.ends.len() < max;
        if !self.full && (first || fits) {
            let start = self.bytes.len();
            for part in parts {
                let cap = start.saturating_add(max_text);
                if !push_capped(&mut self.bytes, part, cap) {
                    break;
                }
            }
            self.ends.push(self.bytes.len());
        } else {
            self.full = true;
        }
    }

    fn to_vec(&self) -> Vec<String> {
        let mut start = 0;
        let mut out = Vec::with_capacity(self.ends.len());
        for &end in &self.ends {
            out.push(lossy(self.bytes.get(start..end).unwrap_or_default()));
            start = end;
        }
        out
    }
}

/// The open `DAV:propstat` (reused from one propstat to the next).
#[derive(Debug, Default)]
struct Propstat {
    open: bool,
    /// Failing codes in document order (capped).
    failing: Vec<Code>,
    error: Option<String>,
    description: Option<String>,
    /// The property names of its `DAV:prop` (Clark notation).
    props: TextList,
}

/// The open `DAV:response` (reused from one entry to the next: no allocation per entry).
#[derive(Debug, Default)]
struct Entry {
    open: bool,
    /// The first `DAV:href`, trimmed and capped; kept as bytes until a failure needs it.
    href: Vec<u8>,
    has_href: bool,
    /// Every href kept (see `Failure::hrefs`).
    hrefs: TextList,
    response_codes: CodeCounts,
    response_failing: Vec<Code>,
    propstat_codes: CodeCounts,
    /// Propstat-level failures with their propstat's details; href and response-level
    /// error/description are filled in when the entry ends.
    propstat_failing: Kept,
    propstat: Propstat,
    error: Option<String>,
    description: Option<String>,
}

/// Accumulates one body's audit.
#[derive(Debug)]
pub(crate) struct Tally<C> {
    classify: C,
    limits: Limits,
    multistatus: bool,
    entries: u64,
    response_status: BTreeMap<Code, u64>,
    propstat_status: BTreeMap<Code, u64>,
    response_failing: BTreeMap<Code, u64>,
    propstat_failing: BTreeMap<Code, u64>,
    failure_count: u64,
    kept: Kept,
    entry: Entry,
}

fn text(bytes: &[u8], cap: usize) -> String {
    let mut kept = Vec::with_capacity(bytes.len().min(cap));
    push_capped(&mut kept, bytes.trim_ascii(), cap);
    match String::from_utf8(kept) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

impl<C: Classify> Tally<C> {
    pub(crate) fn new(classify: C, limits: Limits) -> Self {
        Tally {
            classify,
            limits,
            multistatus: false,
            entries: 0,
            response_status: BTreeMap::new(),
            propstat_status: BTreeMap::new(),
            response_failing: BTreeMap::new(),
            propstat_failing: BTreeMap::new(),
            failure_count: 0,
            kept: Kept::default(),
            entry: Entry::default(),
        }
    }

    /// True once the root element was `DAV:multistatus`, or a bare `DAV:response` (read as a
    /// multistatus holding that one entry).
    pub(crate) fn is_multistatus(&self) -> bool {
        self.multistatus
    }

    fn end_propstat(&mut self) {
        let cap = self.limits.max_failures;
        let entry = &mut self.entry;
        let ps = &mut entry.propstat;
        if !std::mem::take(&mut ps.open) {
            return;
        }
        for &code in &ps.failing {
            // A failure the body's list has no room for is never kept: do not build it
            // (the list only grows, and `end_entry` pushes these into it).
            if !entry.propstat_failing.room(code, cap) || !self.kept.room(code, cap) {
                continue;
            }
            let failure = Failure {
                href: String::new(),
                hrefs: Vec::new(),
                href_count: 0,
                props: ps.props.to_vec(),
                prop_count: ps.props.count,
                level: Level::Propstat,
                code,
                error: ps.error.clone(),
                description: ps.description.clone(),
            };
            entry.propstat_failing.push(failure, cap);
        }
    }

    /// Counts the open entry (at its end tag, or at the end of the body).
    fn end_entry(&mut self) {
        if !self.entry.open {
            return;
        }
        self.end_propstat();
        let cap = self.limits.max_failures;
        let entry = &mut self.entry;
        entry.open = false;
        let href = || lossy(&entry.href);
        let hrefs = || entry.hrefs.to_vec();
        let href_count = entry.hrefs.count;
        // Every `DAV:status` counts where it stands: a response-level one never hides the
        // propstat-level ones of the same entry (the DTD forbids both, servers send both).
        for &(code, n) in &entry.response_codes.0 {
            let slot = self.response_status.entry(code).or_insert(0);
            *slot = slot.saturating_add(n);
            if self.classify.is_failure(Level::Response, code) {
                self.failure_count = self.failure_count.saturating_add(n);
                let failing = self.response_failing.entry(code).or_insert(0);
                *failing = failing.saturating_add(n);
            }
        }
        for &code in &entry.response_failing {
            if !self.kept.room(code, cap) {
                continue;
            }
            let failure = Failure {
                href: href(),
                hrefs: hrefs(),
                href_count,
                props: Vec::new(),
                prop_count: 0,
                level: Level::Response,
                code,
                error: entry.error.clone(),
                description: entry.description.clone(),
            };
            self.kept.push(failure, cap);
        }
        for &(code, n) in &entry.propstat_codes.0 {
            let slot = self.propstat_status.entry(code).or_insert(0);
            *slot = slot.saturating_add(n);
            if self.classify.is_failure(Level::Propstat, code) {
                self.failure_count = self.failure_count.saturating_add(n);
                let failing = self.propstat_failing.entry(code).or_insert(0);
                *failing = failing.saturating_add(n);
            }
        }
        let Kept { causes, dependent } = &mut entry.propstat_failing;
        for mut failure in causes.drain(..).chain(dependent.drain(..)) {
            failure.href = href();
            failure.hrefs = hrefs();
            failure.href_count = href_count;
            if failure.error.is_none() {
                failure.error.clone_from(&entry.error);
            }
            if failure.description.is_none() {
                failure.description.clone_from(&entry.description);
            }
            self.kept.push(failure, cap);
        }
    }

    /// Opens a new entry, reusing the buffers of the last one.
    fn start_entry(&mut self) {
        self.end_entry();
        let e = &mut self.entry;
        e.open = true;
        e.href.clear();
        e.has_href = false;
        e.hrefs.clear();
        e.response_codes.0.clear();
        e.response_failing.clear();
        e.propstat_codes.0.clear();
        e.propstat_failing.clear();
        e.propstat.open = false;
        e.error = None;
        e.description = None;
    }

    /// Closes whatever is open and fills `report` with the counts and kept failures.
    pub(crate) fn report(mut self, report: &mut Report) {
        self.end_entry();
        report.entries = self.entries;
        report.response_status = self.response_status;
        report.propstat_status = self.propstat_status;
        report.response_failing = self.response_failing;
        report.propstat_failing = self.propstat_failing;
        report.failure_count = self.failure_count;
        let Kept {
            mut causes,
            dependent,
        } = self.kept;
        causes.extend(dependent);
        causes.truncate(self.limits.max_failures);
        report.failures = causes;
    }
}

impl<C: Classify> Sink for Tally<C> {
    fn start(&mut self, role: Role) {
        match role {
            Role::Multistatus => self.multistatus = true,
            Role::Response => {
                // A `DAV:response` before any multistatus is the root (lighttpd's bare
                // fragment, DESIGN.md §2.7): read as a multistatus holding that one entry.
                if !self.multistatus && self.entries == 0 {
                    self.multistatus = true;
                }
                self.start_entry();
                self.entries = self.entries.saturating_add(1);
            }
            Role::Propstat if self.entry.open => {
                let ps = &mut self.entry.propstat;
                ps.open = true;
                ps.failing.clear();
                ps.error = None;
                ps.description = None;
                ps.props.clear();
            }
            _ => {}
        }
    }

    fn end(&mut self, role: Role, captured: &[u8]) {
        let max_text = self.limits.max_text;
        let cap = self.limits.max_failures;
        match role {
            Role::Response => self.end_entry(),
            Role::Propstat => self.end_propstat(),
            Role::Href => {
                let entry = &mut self.entry;
                if !entry.open {
                    return;
                }
                let href = captured.trim_ascii();
                if !entry.has_href {
                    entry.has_href = true;
                    push_capped(&mut entry.href, href, max_text);
                }
                entry.hrefs.push(href, max_text, MAX_HREFS);
            }
            Role::Status(level) => {
                let code = status_line::parse(captured.get(..MAX_STATUS).unwrap_or(captured));
                let failing = self.classify.is_failure(level, code);
                let entry = &mut self.entry;
                if !entry.open {
                    return;
                }
                match level {
                    Level::Response => {
                        entry.response_codes.add(code);
                        if failing && entry.response_failing.len() < cap.saturating_mul(2) {
                            entry.response_failing.push(code);
                        }
                    }
                    Level::Propstat => {
                        entry.propstat_codes.add(code);
                        let ps = &mut entry.propstat;
                        if ps.open && failing && ps.failing.len() < cap.saturating_mul(2) {
                            ps.failing.push(code);
                        }
                    }
                }
            }
            Role::Description(level) => {
                let entry = &mut self.entry;
                if !entry.open {
                    return;
                }
                let slot = match level {
                    Level::Response => &mut entry.description,
                    Level::Propstat if entry.propstat.open => &mut entry.propstat.description,
                    Level::Propstat => return,
                };
                if slot.is_none() {
                    *slot = Some(text(captured, max_text));
                }
            }
            _ => {}
        }
    }

    fn error_child(&mut self, owner: Level, name: &str) {
        let entry = &mut self.entry;
        if !entry.open {
            return;
        }
        let slot = match owner {
            Level::Response => &mut entry.error,
            Level::Propstat if entry.propstat.open => &mut entry.propstat.error,
            Level::Propstat => return,
        };
        if slot.is_none() {
            *slot = Some(text(name.as_bytes(), self.limits.max_text));
        }
    }

    fn prop(&mut self, uri: &[u8], local: &[u8]) {
        let ps = &mut self.entry.propstat;
        if !(self.entry.open && ps.open) {
            return;
        }
        let max_text = self.limits.max_text;
        if local.is_empty() {
            // A name past the lexer's bounds: counted, and no later one is kept (the list
            // keeps a prefix of the names, in order).
            ps.props.count = ps.props.count.saturating_add(1);
            ps.props.full = true;
        } else if uri.is_empty() {
            ps.props.push_parts(&[local], max_text, MAX_PROPS);
        } else {
            ps.props
                .push_parts(&[b"{", uri, b"}", local], max_text, MAX_PROPS);
        }
    }
}
