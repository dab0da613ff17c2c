//! What the audited elements say: entries, statuses per level and code, and the failures
//! kept with their details. Fed by the lexer through [`Sink`]; turned into a [`Report`] by
//! [`Tally::report`].
//!
//! Statuses are counted as each `DAV:status` of an entry ends, so an entry left open by a
//! truncated or malformed body keeps its counts up to there; the failing counts follow from
//! them and the classifier when the report is made. Every
//! `DAV:status` counts where it stands: each `response/status` at response level, each
//! `response/propstat/status` at propstat level, even where the DTD allows only one of them
//! (a response with both, a propstat with two statuses).
//! Failures are kept in two lists capped at `max_failures` each, root causes and 424 Failed
//! Dependency, so a flood of 424s never pushes out the failure that caused them; the report
//! lists root causes first, `max_failures` in all. Once the root causes fill it, nothing but
//! the counts is read: an entry's hrefs, property names, error and description are no longer
//! kept (nor captured), as no later failure can reach the report.

use std::collections::BTreeMap;

use super::lexer::{Role, Sink};
use super::limits::{Limits, MAX_HREFS, MAX_PROPS, MAX_STATUS, push_capped};
use super::props::PropList;
use super::recycle;
use super::report::{Classify, Code, Failure, Level, Report};
use super::status_line;
use super::texts::{Slot, TextList};

/// Failures with details, capped per kind (root cause vs 424).
#[derive(Debug, Default)]
struct Kept {
    causes: Vec<Failure>,
    dependent: Vec<Failure>,
    /// No failure kept from now on can reach the report, which lists root causes first and
    /// then 424s, `cap` in all: the root causes are at their cap.
    full: bool,
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

    fn push(&mut self, failure: Failure, cap: usize) {
        let list = if failure.code == Code::Status(424) {
            &mut self.dependent
        } else {
            &mut self.causes
        };
        if list.len() < cap {
            list.push(failure);
        }
        self.full = self.causes.len() >= cap;
    }
}

/// Statuses of one level counted by code: a short list in the order first seen (a body holds
/// few distinct codes), then a map for a body with many.
#[derive(Debug, Default)]
struct Counts {
    short: Vec<(Code, u64)>,
    more: BTreeMap<Code, u64>,
}

/// Distinct codes kept in `Counts::short` before the map takes the rest.
const SHORT_CODES: usize = 16;

impl Counts {
    #[inline(always)]
    fn add(&mut self, code: Code) {
        if let Some((_, n)) = self.short.iter_mut().find(|(c, _)| *c == code) {
            *n = n.saturating_add(1);
        } else {
            self.add_new(code);
        }
    }

    /// `add` for a code not in `short`.
    #[inline(never)]
    fn add_new(&mut self, code: Code) {
        if self.short.len() < SHORT_CODES {
            self.short.push((code, 1));
        } else {
            let n = self.more.entry(code).or_insert(0);
            *n = n.saturating_add(1);
        }
    }

    /// Every code with its count.
    fn into_map(self) -> BTreeMap<Code, u64> {
        let mut map = self.more;
        map.extend(self.short);
        map
    }
}

/// The open `DAV:propstat` (reused from one propstat to the next).
#[derive(Debug, Default)]
struct Propstat {
    open: bool,
    /// Failing codes in document order (capped).
    failing: Vec<Code>,
    error: Slot,
    description: Slot,
    /// The property names of its `DAV:prop` (Clark notation).
    props: PropList,
}

/// The open `DAV:response` (reused from one entry to the next: no allocation per entry).
#[derive(Debug, Default)]
struct Entry {
    open: bool,
    /// Every href kept (see `Failure::hrefs`); the first is `Failure::href`.
    hrefs: TextList,
    /// Failing response-level codes in document order (capped).
    response_failing: Vec<Code>,
    /// Propstat-level failures with their propstat's details; href and response-level
    /// error/description are filled in when the entry ends.
    propstat_failing: Kept,
    propstat: Propstat,
    error: Slot,
    description: Slot,
}

/// Accumulates one body's audit.
#[derive(Debug)]
pub(crate) struct Tally<C> {
    classify: C,
    limits: Limits,
    multistatus: bool,
    entries: u64,
    response_status: Counts,
    propstat_status: Counts,
    kept: Kept,
    entry: Entry,
    /// Where an error child's name is spelled out (reused).
    scratch: Vec<u8>,
}

impl<C: Classify> Tally<C> {
    pub(crate) fn new(classify: C, limits: Limits) -> Self {
        Tally {
            classify,
            limits,
            multistatus: false,
            entries: 0,
            response_status: Counts::default(),
            propstat_status: Counts::default(),
            kept: Kept {
                full: limits.max_failures == 0,
                ..Kept::default()
            },
            entry: Entry::default(),
            scratch: Vec::new(),
        }
    }

    /// True once the root element was `DAV:multistatus`, or a bare `DAV:response` (read as a
    /// multistatus holding that one entry).
    pub(crate) fn is_multistatus(&self) -> bool {
        self.multistatus
    }

    #[inline]
    fn end_propstat(&mut self) {
        let ps = &mut self.entry.propstat;
        if std::mem::take(&mut ps.open) && !ps.failing.is_empty() {
            self.keep_propstat_failures();
        }
    }

    /// The propstat that just ended failed: keeps its failures with their details.
    #[inline(never)]
    fn keep_propstat_failures(&mut self) {
        let cap = self.limits.max_failures;
        let entry = &mut self.entry;
        let ps = &mut entry.propstat;
        for &code in &ps.failing {
            // A failure the body's list has no room for is never kept: do not build it
            // (the list only grows, and `end_entry` pushes these into it).
            if !entry.propstat_failing.room(code, cap) || !self.kept.room(code, cap) {
                continue;
            }
            // A recycled failure's strings are refilled in place (`recycle`); its href and
            // hrefs are the entry's, written by `keep_entry_failures` (the only way out).
            let mut failure = recycle::take();
            failure.href_count = 0;
            failure.props = ps.props.to_vec();
            failure.prop_count = ps.props.count;
            failure.level = Level::Propstat;
            failure.code = code;
            ps.error.fill(&mut failure.error);
            ps.description.fill(&mut failure.description);
            entry.propstat_failing.push(failure, cap);
        }
    }

    /// Closes the open entry (at its end tag, or at the end of the body): keeps its
    /// failures with their details.
    #[inline]
    fn end_entry(&mut self) {
        if !self.entry.open {
            return;
        }
        self.end_propstat();
        let entry = &mut self.entry;
        entry.open = false;
        let failing = !entry.response_failing.is_empty()
            || !entry.propstat_failing.causes.is_empty()
            || !entry.propstat_failing.dependent.is_empty();
        if failing {
            self.keep_entry_failures();
        }
    }

    /// The entry that just ended failed: keeps its failures with their details.
    #[inline(never)]
    fn keep_entry_failures(&mut self) {
        let cap = self.limits.max_failures;
        let entry = &mut self.entry;
        let href_count = entry.hrefs.count;
        // The entry's hrefs, into a failure's strings (a recycled one's refilled in place).
        let hrefs = |failure: &mut Failure| {
            entry.hrefs.fill(&mut failure.hrefs);
            failure.href.clear();
            failure
                .href
                .push_str(failure.hrefs.first().map_or("", String::as_str));
            failure.href_count = href_count;
        };
        for &code in &entry.response_failing {
            if !self.kept.room(code, cap) {
                continue;
            }
            let mut failure = recycle::take();
            hrefs(&mut failure);
            failure.props.clear();
            failure.prop_count = 0;
            failure.level = Level::Response;
            failure.code = code;
            entry.error.fill(&mut failure.error);
            entry.description.fill(&mut failure.description);
            self.kept.push(failure, cap);
        }
        let Kept {
            causes, dependent, ..
        } = &mut entry.propstat_failing;
        if causes.is_empty() && dependent.is_empty() {
            return;
        }
        for mut failure in causes.drain(..).chain(dependent.drain(..)) {
            hrefs(&mut failure);
            if failure.error.is_none() {
                failure.error = entry.error.to_option();
            }
            if failure.description.is_none() {
                failure.description = entry.description.to_option();
            }
            self.kept.push(failure, cap);
        }
    }

    /// Opens a new entry, reusing the buffers of the last one.
    fn start_entry(&mut self) {
        self.end_entry();
        let e = &mut self.entry;
        e.open = true;
        e.hrefs.clear();
        e.response_failing.clear();
        // Empty already (`end_entry` moved its failures to `kept`): nothing to clear.
        e.propstat.open = false;
        e.error.clear();
        e.description.clear();
    }

    /// A `DAV:response` starts.
    #[inline(never)]
    fn start_response(&mut self) {
        // A `DAV:response` before any multistatus is the root (lighttpd's bare fragment,
        // DESIGN.md §2.7): read as a multistatus holding that one entry.
        if !self.multistatus && self.entries == 0 {
            self.multistatus = true;
        }
        self.start_entry();
        self.entries = self.entries.saturating_add(1);
    }

    /// A `DAV:propstat` of an open entry starts.
    #[inline(never)]
    fn start_propstat(&mut self) {
        let ps = &mut self.entry.propstat;
        ps.open = true;
        ps.failing.clear();
        ps.error.clear();
        ps.description.clear();
        ps.props.clear();
    }

    #[inline(never)]
    fn end_response(&mut self) {
        self.end_entry();
    }

    #[inline(never)]
    fn end_propstat_tag(&mut self) {
        self.end_propstat();
    }

    /// A property name of the open propstat, to keep.
    #[inline(never)]
    fn keep_prop(&mut self, token: u64, uri: &[u8], local: &[u8]) {
        let props = &mut self.entry.propstat.props;
        if local.is_empty() {
            props.push_unnamed();
        } else {
            props.push_token(token, uri, local, self.limits.max_text, MAX_PROPS);
        }
    }

    #[inline(never)]
    fn end_href(&mut self, captured: &[u8]) {
        let entry = &mut self.entry;
        if entry.open && !self.kept.full {
            entry
                .hrefs
                .push(captured.trim_ascii(), self.limits.max_text, MAX_HREFS);
        }
    }

    /// `end_href` that may take the buffer holding the text.
    #[inline(never)]
    fn end_href_owned(&mut self, captured: &mut Vec<u8>) {
        let entry = &mut self.entry;
        if entry.open && !self.kept.full {
            entry
                .hrefs
                .push_owned(captured, self.limits.max_text, MAX_HREFS);
        }
    }

    /// A `DAV:status` ended: counted at its level, kept when it fails.
    #[inline(never)]
    fn end_status(&mut self, level: Level, captured: &[u8]) {
        if !self.entry.open {
            return;
        }
        let code = status_line::parse(captured.get(..MAX_STATUS).unwrap_or(captured));
        self.count_status(level, code);
    }

    /// A `DAV:status` of the open entry with `code`: counted at its level, kept when it
    /// fails.
    #[inline(always)]
    fn count_status(&mut self, level: Level, code: Code) {
        match level {
            Level::Response => self.response_status.add(code),
            Level::Propstat => self.propstat_status.add(code),
        }
        if !self.kept.full && self.classify.is_failure(level, code) {
            self.keep_failing(level, code);
        }
    }

    /// A failing status just counted, while failures are still kept: noted for its entry
    /// or propstat.
    #[inline(never)]
    fn keep_failing(&mut self, level: Level, code: Code) {
        let cap = self.limits.max_failures;
        let entry = &mut self.entry;
        let failing = match level {
            Level::Response => &mut entry.response_failing,
            Level::Propstat if entry.propstat.open => &mut entry.propstat.failing,
            Level::Propstat => return,
        };
        if failing.len() < cap.saturating_mul(2) {
            failing.push(code);
        }
    }

    #[inline(never)]
    fn end_description(&mut self, level: Level, captured: &[u8]) {
        let entry = &mut self.entry;
        if !entry.open || self.kept.full {
            return;
        }
        let slot = match level {
            Level::Response => &mut entry.description,
            Level::Propstat if entry.propstat.open => &mut entry.propstat.description,
            Level::Propstat => return,
        };
        slot.set_once(captured, self.limits.max_text);
    }

    /// Closes whatever is open and fills `report` with the counts and kept failures.
    pub(crate) fn report(mut self, report: &mut Report) {
        self.end_entry();
        report.entries = self.entries;
        report.failure_count = 0;
        for (level, counts) in [
            (Level::Response, self.response_status),
            (Level::Propstat, self.propstat_status),
        ] {
            let all = counts.into_map();
            let mut failing = BTreeMap::new();
            for (&code, &n) in &all {
                if self.classify.is_failure(level, code) {
                    failing.insert(code, n);
                    report.failure_count = report.failure_count.saturating_add(n);
                }
            }
            match level {
                Level::Response => {
                    report.response_status = all;
                    report.response_failing = failing;
                }
                Level::Propstat => {
                    report.propstat_status = all;
                    report.propstat_failing = failing;
                }
            }
        }
        let Kept {
            mut causes,
            dependent,
            ..
        } = self.kept;
        causes.extend(dependent);
        causes.truncate(self.limits.max_failures);
        report.failures = causes;
    }
}

impl<C: Classify> Sink for Tally<C> {
    #[inline(always)]
    fn start(&mut self, role: Role) {
        match role {
            Role::Multistatus => self.multistatus = true,
            Role::Response => self.start_response(),
            Role::Propstat if self.entry.open => self.start_propstat(),
            _ => {}
        }
    }

    #[inline(always)]
    fn end(&mut self, role: Role, captured: &[u8]) {
        match role {
            Role::Response => self.end_response(),
            Role::Propstat => self.end_propstat_tag(),
            // Both do nothing once no failure can be kept: tested here, no call.
            Role::Href if !self.kept.full => self.end_href(captured),
            Role::Status(level) => self.end_status(level, captured),
            Role::Description(level) if !self.kept.full => {
                self.end_description(level, captured);
            }
            _ => {}
        }
    }

    #[inline(always)]
    fn end_href(&mut self, text: &mut Vec<u8>) {
        self.end_href_owned(text);
    }

    #[inline(never)]
    fn status_code(&mut self, level: Level, code: u16) {
        if self.entry.open {
            self.count_status(level, Code::Status(code));
        }
    }

    /// Once no failure can be kept any more, an entry's texts are never needed.
    #[inline(always)]
    fn wants_text(&self) -> bool {
        !self.kept.full
    }

    fn error_child(&mut self, owner: Level, dav: bool, uri: &[u8], local: &[u8]) {
        let entry = &mut self.entry;
        if !entry.open || self.kept.full {
            return;
        }
        let slot = match owner {
            Level::Response => &mut entry.error,
            Level::Propstat if entry.propstat.open => &mut entry.propstat.error,
            Level::Propstat => return,
        };
        if slot.is_set() {
            return;
        }
        // Each part capped on its own, as `max_text` allows, then the whole trimmed.
        let cap = self.limits.max_text;
        let name = &mut self.scratch;
        name.clear();
        let parts: [&[u8]; 4] = if dav {
            [b"DAV:", local, b"", b""]
        } else if uri.is_empty() {
            [local, b"", b"", b""]
        } else {
            [b"{", uri, b"}", local]
        };
        for part in parts {
            push_capped(name, part, cap);
        }
        slot.set_once(name, cap);
    }

    fn prop(&mut self, uri: &[u8], local: &[u8]) {
        self.prop_token(0, uri, local);
    }

    /// `kept.full` first: once no failure can be kept (most of a failing body), one test.
    #[inline(always)]
    fn wants_props(&self) -> bool {
        !self.kept.full && self.entry.open && self.entry.propstat.open
    }

    #[inline(always)]
    fn prop_token(&mut self, token: u64, uri: &[u8], local: &[u8]) {
        if self.wants_props() {
            self.keep_prop(token, uri, local);
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use crate::multistatus::{
        AllErrors, BodyEnd, Code, Level, Limits, Report, Scanner, scan_slice,
    };

    /// A common status line is read to its code as it is met, the text not kept: each
    /// status counts its own code, never the one read before it, whether the line is
    /// read at once or the general way (same length, other whitespace, glued reason, cut
    /// by the end tag, a reference, CDATA, a chunk boundary), on the replayed entries too.
    #[test]
    fn each_status_counts_its_own_line_never_the_one_before() {
        let lines = [
            ("HTTP/1.1 200 OK", Code::Status(200)),
            ("HTTP/1.1 423 OK", Code::Status(423)),
            ("HTTP/1.1 200 OK", Code::Status(200)),
            ("HTTP/1.1\t424 OK", Code::Status(424)),
            ("HTTP/1.1 200OK", Code::Invalid),
            ("HTTP/1.1 507", Code::Status(507)),
            (" \n HTTP/1.1 403 Forbidden", Code::Status(403)),
            ("HTTP/1.1 200 a&amp;b", Code::Status(200)),
            ("HTTP/1.1 4&#x30;4 Not Found", Code::Status(404)),
            ("<![CDATA[HTTP/1.1 500 ]]>", Code::Status(500)),
            ("HTTP/1.0 200 OK", Code::Status(200)),
            ("HTTP/1.1 423 Locked", Code::Status(423)),
        ];
        let entry = |(line, _): &(&str, Code)| {
            format!(
                "<D:response><D:href>/a</D:href><D:status>{line}</D:status></D:response>\
                 <D:response><D:href>/b</D:href><D:propstat><D:prop><D:x/></D:prop>\
                 <D:status>{line}</D:status></D:propstat></D:response>"
            )
        };
        let entries: String = lines.iter().map(entry).collect();
        let body =
            format!(r#"<D:multistatus xmlns:D="DAV:">{entries}{entries}{entries}</D:multistatus>"#);
        let body = body.as_bytes();
        let mut want = std::collections::BTreeMap::new();
        for &(_, code) in &lines {
            *want.entry(code).or_insert(0u64) += 3;
        }
        let failing: Vec<(Level, Code)> = lines
            .iter()
            .filter(|(_, code)| code.is_error())
            .flat_map(|&(_, code)| [(Level::Response, code), (Level::Propstat, code)])
            .collect();
        let check = |report: &Report, how: &str| {
            assert_eq!(report.response_status, want, "{how}");
            assert_eq!(report.propstat_status, want, "{how}");
            let kept: Vec<(Level, Code)> =
                report.failures.iter().map(|f| (f.level, f.code)).collect();
            let mut expected: Vec<(Level, Code)> = failing.repeat(3);
            // Root causes first, 424s last.
            expected.sort_by_key(|&(_, code)| code == Code::Status(424));
            assert_eq!(kept, expected, "{how}");
        };
        check(&scan_slice(body, AllErrors, Limits::default()), "whole");
        for cut in 0..=body.len() {
            for fast in [true, false] {
                let mut s = Scanner::new(AllErrors, Limits::default());
                if !fast {
                    s = s.without_fast_paths();
                }
                s.feed(&body[..cut]);
                s.feed(&body[cut..]);
                check(
                    &s.finish(BodyEnd::Complete),
                    &format!("cut at {cut}, fast {fast}"),
                );
            }
        }
    }

    /// Once no later failure can reach the report the tally reads only statuses: with a cap
    /// of `k` failures, the report is the first `k` failures of the uncapped one, and the
    /// counts are the same.
    #[test]
    fn details_stop_once_no_failure_can_be_kept_and_nothing_else_changes() {
        let entry = |href: &str, status: &str, more: &str| {
            format!(
                "<D:response><D:href>{href}</D:href><D:status>{status}</D:status>{more}\
                 <D:responsedescription>about {href}</D:responsedescription></D:response>"
            )
        };
        let body = format!(
            r#"<D:multistatus xmlns:D="DAV:">{}{}{}{}{}</D:multistatus>"#,
            entry(
                "/a",
                "HTTP/1.1 423 Locked",
                "<D:error><D:lock-token-submitted/></D:error>"
            ),
            entry("/b", "HTTP/1.1 424 Failed Dependency", ""),
            entry(
                "/c",
                "HTTP/1.1 500 Oops",
                "<D:error><D:no-conflicting-lock/></D:error>"
            ),
            "<D:response><D:href>/d</D:href><D:propstat><D:prop><D:displayname/></D:prop>\
             <D:status>HTTP/1.1 403 Forbidden</D:status></D:propstat></D:response>",
            entry("/e", "HTTP/1.1 424 Failed Dependency", ""),
        );
        let all = scan_slice(body.as_bytes(), AllErrors, Limits::default());
        assert_eq!(all.failures.len(), 5);
        assert_eq!(all.failures[0].description.as_deref(), Some("about /a"));
        assert_eq!(all.failures[2].props, ["{DAV:}displayname"]);
        for k in 0..=5 {
            let capped = scan_slice(
                body.as_bytes(),
                AllErrors,
                Limits {
                    max_failures: k,
                    ..Limits::default()
                },
            );
            assert_eq!(capped.failures, all.failures[..k], "max_failures {k}");
            assert_eq!(capped.failure_count, 5);
            assert_eq!(capped.response_status, all.response_status);
            assert_eq!(capped.propstat_status, all.propstat_status);
            assert_eq!(capped.response_failing, all.response_failing);
            assert_eq!(capped.propstat_failing, all.propstat_failing);
        }
    }
}
