//! The live view's memory: the most recent responses whose audit counted failures, for the
//! admin listener's `/failures` and `/` (see [`crate::admin`]). A telemetry sink beside the
//! metrics: `events::MultistatusScanned` records here; the audit never sees it.
//!
//! # What is kept
//!
//! - A ring of at most `audit.recent_failures` [`Record`]s (default 200; 0 turns recording
//!   off), oldest dropped first. A response is recorded when its audit counted at least one
//!   failure: outcome `partial_failure`, or an audit that stopped early (`malformed`,
//!   `truncated`, `lagging`) after failures had been counted. Clean 207s cost one atomic load.
//! - Per failing code, the failing statuses counted since start (the same numbers as
//!   `davaudit_multistatus_failures_total` summed over method and level), and the number of
//!   recorded responses since start. Both survive the ring's rotation.
//! - Per minute, the recorded responses of the last 60 minutes, kept here rather than computed
//!   by the page from the ring: under heavy traffic the ring covers only the last few seconds,
//!   and the chart must still show the whole hour.
//!
//! # Bounds
//!
//! A record holds at most `audit.max_logged_failures` failing entries whose texts the scanner
//! already capped (`audit.max_text`), the request path and id capped to [`MAX_PATH`] and
//! [`MAX_REQUEST_ID`] bytes, and its counts by (level, code) (at most 901 codes per level). So
//! memory is bounded by the ring size whatever the traffic; a test (`heap_bytes`)
//! measures it.
//!
//! # Locking
//!
//! One `std::sync::Mutex`, held only to push a record that was built before taking it, or to
//! copy the ring's `Arc`s and the counters out; never across an `.await`. Filtering and JSON
//! happen after the lock is released.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

use crate::multistatus::{Code, Failure, Level, Outcome, Report};

/// Minutes covered by the per-minute counts (the page's chart).
pub(crate) const MINUTES: usize = 60;
/// Bytes of the request path kept per record (longer paths end with `…`).
pub(crate) const MAX_PATH: usize = 2048;
/// Bytes of the request id kept per record.
pub(crate) const MAX_REQUEST_ID: usize = 256;
/// The largest ring (the largest accepted `audit.recent_failures`).
pub(crate) const MAX_CAPACITY: usize = crate::config::MAX_RECENT_FAILURES;

const MINUTE_MS: u64 = 60_000;

/// One response whose audit counted failures. Serialized as one element of `/failures`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Record {
    /// Increases by one per recorded response since start (gaps mean rotated out).
    pub seq: u64,
    /// When the audit ended, unix milliseconds.
    pub time_ms: u64,
    pub request_id: String,
    pub method: String,
    /// The request path (never the query), capped to [`MAX_PATH`] bytes.
    pub path: String,
    /// The request's route (`routes`); absent when no routes are configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The top-level status the upstream sent (207, or e.g. 424 for mod_dav's error bodies).
    pub status: u16,
    pub outcome: Outcome,
    /// `DAV:response` elements seen.
    pub entries: u64,
    /// Every failing status counted (also those beyond `failed`).
    pub failure_count: u64,
    /// Failing statuses by code, both levels together (uncapped counts).
    pub failing: Counts,
    /// Every status of the body by code, per level.
    pub response_status: Counts,
    pub propstat_status: Counts,
    /// The first failing entries (root causes before 424s), at most `audit.max_logged_failures`.
    pub failed: Vec<Failure>,
    /// Failing statuses counted but not listed in `failed`.
    pub failed_omitted: u64,
}

/// Counts by code; serialized as a JSON object `{"403": 1, "424": 2}` in code order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counts(Box<[(Code, u64)]>);

impl Counts {
    fn from_map(map: &BTreeMap<Code, u64>) -> Self {
        Counts(map.iter().map(|(&c, &n)| (c, n)).collect())
    }

    /// The counts of `a` and `b` added up, in code order (both are in code order).
    fn merged(a: &BTreeMap<Code, u64>, b: &BTreeMap<Code, u64>) -> Self {
        Counts(merge(a, b).collect())
    }

    /// Holds `counts` from now on: in place when there are as many as it holds (a record
    /// reused for a response of the same shape), else in a new list of the exact length.
    fn refill(&mut self, counts: impl Iterator<Item = (Code, u64)> + Clone) {
        if counts.clone().count() == self.0.len() {
            for (slot, count) in self.0.iter_mut().zip(counts) {
                *slot = count;
            }
        } else {
            self.0 = counts.collect();
        }
    }

    /// The count for `code` (0 when absent).
    pub(crate) fn get(&self, code: Code) -> u64 {
        self.0
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0, |&(_, n)| n)
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Code, u64)> + '_ {
        self.0.iter().copied()
    }
}

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(c, n)| (c, n)))
    }
}

/// The counts of `a` and `b` added up, in code order (both are in code order).
fn merge<'a>(
    a: &'a BTreeMap<Code, u64>,
    b: &'a BTreeMap<Code, u64>,
) -> impl Iterator<Item = (Code, u64)> + Clone + 'a {
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(&(&ca, &na)), Some(&(&cb, &nb))) => match ca.cmp(&cb) {
            std::cmp::Ordering::Less => {
                a.next();
                Some((ca, na))
            }
            std::cmp::Ordering::Greater => {
                b.next();
                Some((cb, nb))
            }
            std::cmp::Ordering::Equal => {
                a.next();
                b.next();
                Some((ca, na + nb))
            }
        },
        (Some(&(&c, &n)), None) => {
            a.next();
            Some((c, n))
        }
        (None, Some(&(&c, &n))) => {
            b.next();
            Some((c, n))
        }
        (None, None) => None,
    })
}

/// What the audit task knows about a response when its audit ends.
#[derive(Debug)]
pub(crate) struct Sighting<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// The route's name; `None` without routes.
    pub route: Option<&'a str>,
    pub status: u16,
    pub report: &'a Report,
    /// `audit.max_logged_failures`: failing entries kept per record.
    pub max_failures: usize,
}

/// The first `max_failures` failing entries of the sighting's report, copied.
#[cfg(test)]
fn kept(sighting: &Sighting<'_>) -> Vec<Failure> {
    sighting
        .report
        .failures
        .iter()
        .take(sighting.max_failures)
        .cloned()
        .collect()
}

/// Which records `/failures` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    /// At most this many records (further capped by the ring size).
    pub limit: usize,
    /// Only records with a failing status of this code.
    pub code: Option<Code>,
    /// Only records at or after this time (unix milliseconds).
    pub since_ms: Option<u64>,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            limit: 50,
            code: None,
            since_ms: None,
        }
    }
}

/// A consistent copy of the ring and counters, filtered; serialized as the `/failures` body.
#[derive(Debug, Serialize)]
pub(crate) struct Snapshot {
    /// The ring size (`audit.recent_failures`); 0 means recording is off.
    pub capacity: usize,
    /// Responses recorded since start (including those rotated out of the ring).
    pub recorded: u64,
    /// When the snapshot was taken, unix milliseconds.
    pub now_ms: u64,
    /// Failing statuses by code since start.
    pub totals: Counts,
    /// Start of the first minute of `per_minute`, unix milliseconds.
    pub per_minute_start_ms: u64,
    /// Recorded responses per minute, oldest first; the last one is the current minute.
    pub per_minute: Vec<u64>,
    /// The matching records, newest first.
    #[serde(serialize_with = "records")]
    pub failures: Vec<Arc<Record>>,
}

fn records<S: Serializer>(records: &[Arc<Record>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(records.iter().map(|r| &**r))
}

/// The ring and its counters. Shared (`Arc`) by the auditors, which survive reloads, and the
/// admin listener.
#[derive(Debug)]
pub(crate) struct RecentFailures {
    /// Mirrors `Ring::capacity`, so that recording can be skipped without the lock.
    capacity: AtomicUsize,
    ring: Mutex<Ring>,
}

#[derive(Debug)]
struct Ring {
    capacity: usize,
    /// Oldest at the front.
    records: VecDeque<Arc<Record>>,
    recorded: u64,
    totals: BTreeMap<Code, u64>,
    /// Indexed by minute number modulo [`MINUTES`].
    minutes: [Minute; MINUTES],
}

#[derive(Debug, Clone, Copy, Default)]
struct Minute {
    /// Minutes since the unix epoch.
    minute: u64,
    count: u64,
}

impl RecentFailures {
    /// A ring of `capacity` records (capped to [`MAX_CAPACITY`]); 0 records nothing.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.min(MAX_CAPACITY);
        RecentFailures {
            capacity: AtomicUsize::new(capacity),
            ring: Mutex::new(Ring {
                capacity,
                records: VecDeque::with_capacity(capacity.min(1024)),
                recorded: 0,
                totals: BTreeMap::new(),
                minutes: [Minute::default(); MINUTES],
            }),
        }
    }

    /// The ring size.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Changes the ring size (config reload); extra records are dropped, oldest first.
    pub(crate) fn set_capacity(&self, capacity: usize) {
        let capacity = capacity.min(MAX_CAPACITY);
        let mut ring = self.lock();
        ring.capacity = capacity;
        while ring.records.len() > capacity {
            ring.records.pop_front();
        }
        if capacity == 0 {
            ring.records = VecDeque::new();
        }
        self.capacity.store(capacity, Ordering::Relaxed);
    }

    /// Records `sighting` when its audit counted a failure; otherwise does nothing.
    #[cfg(test)]
    pub(crate) fn record(&self, sighting: &Sighting<'_>) {
        if sighting.report.failure_count == 0 || self.capacity() == 0 {
            return;
        }
        self.push_kept(sighting, now_ms(), kept(sighting));
    }

    /// [`RecentFailures::record`], keeping `failures` (the report's failing entries, taken
    /// out of it by the caller) instead of a copy of `sighting.report.failures`.
    pub(crate) fn record_taking(&self, sighting: &Sighting<'_>, mut failures: Vec<Failure>) {
        if sighting.report.failure_count == 0 || self.capacity() == 0 {
            return;
        }
        failures.truncate(sighting.max_failures);
        self.push_kept(sighting, now_ms(), failures);
    }

    /// [`RecentFailures::record`] at a given time (tests).
    #[cfg(test)]
    fn push(&self, sighting: &Sighting<'_>, time_ms: u64) {
        self.push_kept(sighting, time_ms, kept(sighting));
    }

    /// Records `sighting` at `time_ms` with `failed`, its first failing entries.
    ///
    /// A full ring's oldest record makes room: when nothing else holds it (no `/failures`
    /// answer being built), its allocation and those of its strings and counts take the new
    /// record instead of being freed while new ones are made.
    fn push_kept(&self, sighting: &Sighting<'_>, time_ms: u64, failed: Vec<Failure>) {
        let report = sighting.report;
        let failing = || {
            merge(
                report.failing(Level::Response),
                report.failing(Level::Propstat),
            )
        };
        let mut ring = self.lock();
        if ring.capacity == 0 {
            return;
        }
        ring.recorded += 1;
        let seq = ring.recorded;
        for (code, n) in failing() {
            *ring.totals.entry(code).or_insert(0) += n;
        }
        let minute = time_ms / MINUTE_MS;
        let slot = &mut ring.minutes[(minute % MINUTES as u64) as usize];
        if slot.minute < minute {
            *slot = Minute { minute, count: 0 };
        }
        if slot.minute == minute {
            slot.count += 1;
        }
        let mut oldest = if ring.records.len() >= ring.capacity {
            ring.records.pop_front()
        } else {
            None
        };
        let failed_omitted = report.failure_count.saturating_sub(failed.len() as u64);
        // The oldest record's failing entries, recycled once the lock is released.
        let mut freed = Vec::new();
        match oldest.as_mut().and_then(Arc::get_mut) {
            Some(record) => {
                record.seq = seq;
                record.time_ms = time_ms;
                capped_into(&mut record.request_id, sighting.request_id, MAX_REQUEST_ID);
                capped_into(&mut record.method, sighting.method, 32);
                capped_into(&mut record.path, sighting.path, MAX_PATH);
                match (&mut record.route, sighting.route) {
                    (Some(kept), Some(route)) => capped_into(kept, route, usize::MAX),
                    (kept, route) => *kept = route.map(str::to_owned),
                }
                record.status = sighting.status;
                record.outcome = report.outcome;
                record.entries = report.entries;
                record.failure_count = report.failure_count;
                record.failing.refill(failing());
                record
                    .response_status
                    .refill(report.response_status.iter().map(|(&c, &n)| (c, n)));
                record
                    .propstat_status
                    .refill(report.propstat_status.iter().map(|(&c, &n)| (c, n)));
                record.failed_omitted = failed_omitted;
                freed = std::mem::replace(&mut record.failed, failed);
            }
            None => {
                oldest = Some(Arc::new(Record {
                    seq,
                    time_ms,
                    request_id: capped(sighting.request_id, MAX_REQUEST_ID),
                    method: capped(sighting.method, 32),
                    path: capped(sighting.path, MAX_PATH),
                    route: sighting.route.map(str::to_owned),
                    status: sighting.status,
                    outcome: report.outcome,
                    entries: report.entries,
                    failure_count: report.failure_count,
                    failing: Counts::merged(
                        report.failing(Level::Response),
                        report.failing(Level::Propstat),
                    ),
                    response_status: Counts::from_map(&report.response_status),
                    propstat_status: Counts::from_map(&report.propstat_status),
                    failed_omitted,
                    failed,
                }));
            }
        }
        ring.records.extend(oldest);
        drop(ring);
        // The next bodies' failures are made in these strings (`multistatus::recycle`).
        crate::multistatus::recycle(freed);
    }

    /// The records matching `query`, newest first, with the counters.
    pub(crate) fn snapshot(&self, query: &Query) -> Snapshot {
        self.snapshot_at(query, now_ms())
    }

    fn snapshot_at(&self, query: &Query, now_ms: u64) -> Snapshot {
        let (capacity, recorded, totals, minutes, all) = {
            let ring = self.lock();
            (
                ring.capacity,
                ring.recorded,
                Counts::from_map(&ring.totals),
                ring.minutes,
                ring.records.iter().cloned().collect::<Vec<_>>(),
            )
        };
        let now_minute = now_ms / MINUTE_MS;
        let first = now_minute.saturating_sub(MINUTES as u64 - 1);
        let mut per_minute = vec![0; MINUTES];
        for (i, count) in per_minute.iter_mut().enumerate() {
            let minute = first + i as u64;
            let slot = minutes[(minute % MINUTES as u64) as usize];
            if slot.minute == minute {
                *count = slot.count;
            }
        }
        let failures = all
            .into_iter()
            .rev()
            .filter(|r| query.code.is_none_or(|code| r.failing.get(code) > 0))
            .filter(|r| query.since_ms.is_none_or(|since| r.time_ms >= since))
            .take(query.limit.min(capacity))
            .collect();
        Snapshot {
            capacity,
            recorded,
            now_ms,
            totals,
            per_minute_start_ms: first * MINUTE_MS,
            per_minute,
            failures,
        }
    }

    /// Heap bytes held by the records (strings, lists and counts; allocator overhead aside).
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        let ring = self.lock();
        let counts = |c: &Counts| c.0.len() * size_of::<(Code, u64)>();
        let records: usize = ring
            .records
            .iter()
            .map(|r| {
                size_of::<Record>()
                    + r.request_id.capacity()
                    + r.method.capacity()
                    + r.path.capacity()
                    + r.route.as_ref().map_or(0, String::capacity)
                    + counts(&r.failing)
                    + counts(&r.response_status)
                    + counts(&r.propstat_status)
                    + r.failed.capacity() * size_of::<Failure>()
                    + r.failed
                        .iter()
                        .map(|f| {
                            let list = |v: &Vec<String>| {
                                v.capacity() * size_of::<String>()
                                    + v.iter().map(String::capacity).sum::<usize>()
                            };
                            f.href.capacity()
                                + list(&f.hrefs)
                                + list(&f.props)
                                + f.error.as_ref().map_or(0, String::capacity)
                                + f.description.as_ref().map_or(0, String::capacity)
                        })
                        .sum::<usize>()
            })
            .sum();
        records
            + ring.records.capacity() * size_of::<Arc<Record>>()
            + ring.totals.len() * size_of::<(Code, u64)>()
    }

    /// Records in the ring.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().records.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // Nothing panics while the lock is held; if it ever did, the data is still usable.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// [`capped`] into `out`, which keeps its allocation when it is large enough (else a new
/// one of the exact size: a reused record holds no more than a new one would).
fn capped_into(out: &mut String, text: &str, max: usize) {
    if text.len() <= max {
        if out.capacity() < text.len() {
            *out = text.to_owned();
        } else {
            out.clear();
            out.push_str(text);
        }
    } else {
        *out = capped(text, max);
    }
}

/// `text`, cut to at most `max` bytes on a character boundary, with `…` when cut.
fn capped(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut kept = String::with_capacity(end + '…'.len_utf8());
    kept.push_str(&text[..end]);
    kept.push('…');
    kept
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn failure(href: &str, level: Level, code: u16) -> Failure {
        // A propstat failure names its properties (at the cap, as the href).
        let props = match level {
            Level::Propstat => vec![format!("{{DAV:}}{}", &href[..href.len().min(1000)])],
            Level::Response => Vec::new(),
        };
        Failure {
            href: href.to_owned(),
            hrefs: vec![href.to_owned()],
            href_count: 1,
            prop_count: props.len() as u64,
            props,
            level,
            code: Code::Status(code),
            error: Some("DAV:cannot-modify-protected-property".to_owned()),
            description: Some("x".repeat(1024)),
        }
    }

    /// A PROPPATCH-like report: one 403 and `n424` 424s at propstat level, all listed.
    fn report(href: &str, n424: u64) -> Report {
        let mut report = Report::empty(Outcome::PartialFailure);
        report.entries = 1;
        report.propstat_status = BTreeMap::from([
            (Code::Status(200), 3),
            (Code::Status(403), 1),
            (Code::Status(424), n424),
        ]);
        report.propstat_failing =
            BTreeMap::from([(Code::Status(403), 1), (Code::Status(424), n424)]);
        report.failures.push(failure(href, Level::Propstat, 403));
        for _ in 0..n424 {
            report.failures.push(failure(href, Level::Propstat, 424));
        }
        report.failure_count = 1 + n424;
        report
    }

    fn sighting<'a>(path: &'a str, report: &'a Report) -> Sighting<'a> {
        Sighting {
            request_id: "req-1",
            method: "PROPPATCH",
            path,
            route: None,
            status: 207,
            report,
            max_failures: 10,
        }
    }

    const T0: u64 = 1_700_000_000_000;

    /// A full ring reuses its oldest record for the newest: every field is the new
    /// response's (counts of another length, a route gained or lost, shorter strings), and a
    /// record a `/failures` answer still holds is left as it was.
    #[test]
    fn the_record_pushed_out_leaves_nothing_of_itself_in_the_newest() {
        let recent = RecentFailures::new(2);
        let long = report(&"h".repeat(300), 3);
        let mut first = sighting("/a/long/path/first", &long);
        first.route = Some("files");
        recent.push(&first, T0);
        recent.push(&sighting("/b", &long), T0 + 1);
        let held = recent.snapshot(&Query::default());
        // Held by `held`: not reused.
        let mut short = report("/c", 0);
        short.outcome = Outcome::FailureInSuccess;
        short.response_status = BTreeMap::from([(Code::Status(423), 1)]);
        short.response_failing = BTreeMap::from([(Code::Status(423), 1)]);
        let mut c = sighting("/c", &short);
        c.route = Some("shared");
        recent.push(&c, T0 + 2);
        let b = &held.failures[0];
        assert_eq!((b.seq, b.path.as_str()), (2, "/b"));
        assert_eq!(held.failures[1].route.as_deref(), Some("files"));
        drop(held);
        // Not held: reused, twice (the route gained, then lost; the other report's shape).
        let mut routed = sighting("/d", &short);
        routed.route = Some("cal");
        routed.request_id = "r-4";
        recent.push(&routed, T0 + 3);
        recent.push(&sighting("/e", &long), T0 + 4);
        let s = recent.snapshot(&Query::default());
        let (e, d) = (&s.failures[0], &s.failures[1]);
        assert_eq!((d.seq, d.time_ms, d.path.as_str()), (4, T0 + 3, "/d"));
        assert_eq!(
            (d.route.as_deref(), d.request_id.as_str()),
            (Some("cal"), "r-4")
        );
        assert_eq!(d.outcome, Outcome::FailureInSuccess);
        assert_eq!((d.failed.len(), d.failed[0].href.as_str()), (1, "/c"));
        assert_eq!((d.failed_omitted, d.failure_count), (0, 1));
        assert_eq!(d.response_status, Counts::from_map(&short.response_status));
        assert_eq!(d.propstat_status, Counts::from_map(&short.propstat_status));
        let merged = Counts::merged(&short.response_failing, &short.propstat_failing);
        assert_eq!(d.failing, merged);
        assert_eq!(
            (e.seq, e.path.as_str(), e.route.as_deref()),
            (5, "/e", None)
        );
        assert_eq!(e.request_id, "req-1");
        assert_eq!(e.outcome, Outcome::PartialFailure);
        assert_eq!(
            (e.failed.len(), e.failed_omitted, e.failure_count),
            (4, 0, 4)
        );
        assert_eq!(e.response_status, Counts::default());
        assert_eq!(e.propstat_status, Counts::from_map(&long.propstat_status));
        assert_eq!(e.failing.get(Code::Status(424)), 3);
        assert_eq!(e.failing.get(Code::Status(423)), 0);
        assert_eq!(s.totals.get(Code::Status(424)), 9);
    }

    #[test]
    fn clean_reports_are_not_recorded() {
        let recent = RecentFailures::new(10);
        let clean = Report::empty(Outcome::Clean);
        recent.record(&sighting("/a", &clean));
        assert!(recent.is_empty());
        assert_eq!(recent.snapshot(&Query::default()).recorded, 0);
    }

    #[test]
    fn a_zero_ring_records_nothing() {
        let recent = RecentFailures::new(0);
        let r = report("/a", 1);
        recent.record(&sighting("/a", &r));
        let snapshot = recent.snapshot(&Query::default());
        assert_eq!((snapshot.capacity, snapshot.recorded), (0, 0));
        assert!(snapshot.failures.is_empty());
    }

    #[test]
    fn newest_first_with_counts_and_details() {
        let recent = RecentFailures::new(10);
        for i in 0..3u64 {
            let r = report(&format!("/f{i}"), i);
            recent.push(&sighting(&format!("/p{i}"), &r), T0 + i * 1000);
        }
        let s = recent.snapshot_at(&Query::default(), T0 + 5000);
        let paths: Vec<_> = s.failures.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/p2", "/p1", "/p0"]);
        let seqs: Vec<_> = s.failures.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [3, 2, 1]);
        let newest = &s.failures[0];
        assert_eq!(newest.failed.len(), 3);
        assert_eq!(newest.failed[0].href, "/f2");
        assert_eq!(newest.failing.get(Code::Status(424)), 2);
        // 200 is counted per level but is not failing.
        assert_eq!(newest.propstat_status.get(Code::Status(200)), 3);
        assert_eq!(newest.failing.get(Code::Status(200)), 0);
        assert_eq!(s.totals.get(Code::Status(403)), 3);
        assert_eq!(s.totals.get(Code::Status(424)), 3);
        assert_eq!(s.per_minute.iter().sum::<u64>(), 3);
    }

    #[test]
    fn only_max_failures_entries_are_kept_but_counts_are_whole() {
        let recent = RecentFailures::new(10);
        let r = report("/f", 30);
        let mut s = sighting("/p", &r);
        s.max_failures = 4;
        recent.record(&s);
        let snap = recent.snapshot(&Query::default());
        let rec = &snap.failures[0];
        assert_eq!(rec.failed.len(), 4);
        assert_eq!(rec.failure_count, 31);
        assert_eq!(rec.failed_omitted, 27);
        assert_eq!(rec.failing.get(Code::Status(424)), 30);
    }

    #[test]
    fn filters_by_code_limit_and_since() {
        let recent = RecentFailures::new(100);
        for i in 0..20u64 {
            // Even ones have 424s, odd ones only the 403.
            let r = report("/f", if i % 2 == 0 { 1 } else { 0 });
            recent.push(&sighting(&format!("/p{i}"), &r), T0 + i * 1000);
        }
        let q = |limit, code, since_ms| Query {
            limit,
            code,
            since_ms,
        };
        let at = |q: &Query| recent.snapshot_at(q, T0 + 60_000).failures;

        assert_eq!(at(&q(50, None, None)).len(), 20);
        assert_eq!(at(&q(5, None, None)).len(), 5);
        assert_eq!(at(&q(5, None, None))[0].path, "/p19");
        assert_eq!(at(&q(0, None, None)).len(), 0);
        let with_424 = at(&q(50, Some(Code::Status(424)), None));
        assert_eq!(with_424.len(), 10);
        assert!(
            with_424
                .iter()
                .all(|r| r.failing.get(Code::Status(424)) == 1)
        );
        assert_eq!(with_424[0].path, "/p18");
        assert_eq!(at(&q(50, Some(Code::Status(403)), None)).len(), 20);
        // 200 is present in every body, but it is not a failure.
        assert!(at(&q(50, Some(Code::Status(200)), None)).is_empty());
        assert!(at(&q(50, Some(Code::Invalid), None)).is_empty());
        let since = at(&q(50, None, Some(T0 + 15_000)));
        let paths: Vec<_> = since.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/p19", "/p18", "/p17", "/p16", "/p15"]);
        let both = at(&q(2, Some(Code::Status(424)), Some(T0 + 10_000)));
        let paths: Vec<_> = both.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/p18", "/p16"]);
    }

    #[test]
    fn limit_is_capped_by_the_ring_size() {
        let recent = RecentFailures::new(3);
        let r = report("/f", 0);
        for _ in 0..10 {
            recent.record(&sighting("/p", &r));
        }
        let s = recent.snapshot(&Query {
            limit: usize::MAX,
            ..Query::default()
        });
        assert_eq!(s.failures.len(), 3);
        assert_eq!(s.recorded, 10);
        assert_eq!(s.failures[0].seq, 10);
    }

    #[test]
    fn per_minute_counts_cover_the_last_hour_only() {
        let recent = RecentFailures::new(5);
        let r = report("/f", 0);
        let base = (T0 / MINUTE_MS) * MINUTE_MS;
        // 2 h ago (gone), 59 min ago (first bucket), 3 in the current minute.
        for (t, n) in [
            (base - 120 * MINUTE_MS, 1),
            (base - 59 * MINUTE_MS, 2),
            (base + 10, 3),
        ] {
            for _ in 0..n {
                recent.push(&sighting("/p", &r), t);
            }
        }
        let s = recent.snapshot_at(&Query::default(), base + 30_000);
        assert_eq!(s.per_minute_start_ms, base - 59 * MINUTE_MS);
        assert_eq!(s.per_minute[0], 2);
        assert_eq!(s.per_minute[MINUTES - 1], 3);
        assert_eq!(s.per_minute.iter().sum::<u64>(), 5);
        // A minute slot reused an hour later starts from zero.
        recent.push(&sighting("/p", &r), base + MINUTE_MS);
        let s = recent.snapshot_at(&Query::default(), base + MINUTE_MS);
        assert_eq!(s.per_minute[MINUTES - 1], 1);
        assert_eq!(s.per_minute[MINUTES - 2], 3);
        assert_eq!(s.per_minute.iter().sum::<u64>(), 4);
        // Totals since start never forget.
        assert_eq!(s.totals.get(Code::Status(403)), 7);
        assert_eq!(s.recorded, 7);
    }

    #[test]
    fn the_bound_holds_under_100_000_failures() {
        const CAPACITY: usize = 200;
        const MAX_FAILURES: usize = 10;
        const MAX_TEXT: usize = 1024;
        // What one record may hold at most: strings capped here or by the scanner (lossy
        // UTF-8 can triple max_text): href, error, description, and the lists hrefs and
        // props (each summing to at most max_text, at most 64 entries); counts of at most
        // 901 codes per level.
        const PER_RECORD: usize = size_of::<Record>()
            + MAX_REQUEST_ID
            + MAX_PATH
            + 32
            + 3 * 902 * size_of::<(Code, u64)>()
            + MAX_FAILURES
                * (size_of::<Failure>() + 5 * 3 * MAX_TEXT + 2 * 64 * size_of::<String>());
        const BOUND: usize =
            CAPACITY * PER_RECORD + 1024 * size_of::<usize>() + 902 * size_of::<(Code, u64)>();
        let recent = RecentFailures::new(CAPACITY);
        let long_path = "/p".repeat(10_000);
        let long_id = "i".repeat(10_000);
        let sighting = |report| Sighting {
            request_id: &long_id,
            method: "PROPPATCH",
            path: &long_path,
            route: None,
            status: 207,
            report,
            max_failures: MAX_FAILURES,
        };
        // 100,000 responses with 51 failures each, texts at the cap.
        let typical = report(&"h".repeat(MAX_TEXT), 50);
        for i in 0..100_000u64 {
            recent.push(&sighting(&typical), T0 + i);
        }
        assert_eq!(recent.len(), CAPACITY);
        let heap = recent.heap_bytes();
        assert!(
            heap <= BOUND,
            "{heap} bytes for {CAPACITY} records (bound {BOUND})"
        );
        // Then a full ring of the worst case for the counts: every code at both levels.
        let mut worst = typical.clone();
        worst.response_status = (100..=999).map(|c| (Code::Status(c), 1)).collect();
        worst.response_status.insert(Code::Invalid, 1);
        worst.propstat_status = worst.response_status.clone();
        worst.response_failing = worst
            .response_status
            .iter()
            .filter(|(code, _)| code.is_error())
            .map(|(&code, &n)| (code, n))
            .collect();
        worst.propstat_failing = worst.response_failing.clone();
        for i in 0..2 * CAPACITY as u64 {
            recent.push(&sighting(&worst), T0 + 100_000 + i);
        }
        assert_eq!(recent.len(), CAPACITY);
        let heap = recent.heap_bytes();
        assert!(
            heap <= BOUND,
            "{heap} bytes for {CAPACITY} records (bound {BOUND})"
        );

        let s = recent.snapshot(&Query {
            limit: usize::MAX,
            ..Query::default()
        });
        let recorded = 100_000 + 2 * CAPACITY as u64;
        assert_eq!(s.recorded, recorded);
        assert_eq!(s.failures.len(), CAPACITY);
        assert_eq!(s.failures[0].seq, recorded);
        assert_eq!(s.failures[CAPACITY - 1].seq, recorded - CAPACITY as u64 + 1);
        let rec = &s.failures[0];
        assert!(rec.path.len() <= MAX_PATH && rec.path.ends_with('…'));
        assert!(rec.request_id.len() <= MAX_REQUEST_ID);
        assert_eq!(rec.failed.len(), MAX_FAILURES);
        assert_eq!(rec.failed_omitted, 41);
        // Totals since start are bounded by the number of codes, not by the traffic.
        assert!(s.totals.iter().count() <= 901);
        // One 403 per typical response, two (both levels) per worst-case one.
        assert_eq!(
            s.totals.get(Code::Status(403)),
            100_000 + 2 * 2 * CAPACITY as u64
        );
    }

    #[test]
    fn shrinking_the_ring_keeps_the_newest() {
        let recent = RecentFailures::new(10);
        let r = report("/f", 0);
        for i in 0..10 {
            recent.push(&sighting(&format!("/p{i}"), &r), T0);
        }
        recent.set_capacity(2);
        let s = recent.snapshot(&Query::default());
        let paths: Vec<_> = s.failures.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/p9", "/p8"]);
        recent.set_capacity(0);
        recent.record(&sighting("/x", &r));
        assert!(recent.is_empty());
        recent.set_capacity(5);
        recent.record(&sighting("/y", &r));
        assert_eq!(recent.len(), 1);
    }

    #[test]
    fn snapshot_serializes_codes_as_object_keys() {
        let recent = RecentFailures::new(4);
        let r = report("/a<b>\"c\"", 1);
        recent.push(&sighting("/p", &r), T0);
        let json = serde_json::to_value(recent.snapshot_at(&Query::default(), T0)).unwrap();
        assert_eq!(json["totals"]["403"], 1);
        assert_eq!(json["failures"][0]["failing"]["424"], 1);
        assert_eq!(json["failures"][0]["outcome"], "partial_failure");
        assert_eq!(json["failures"][0]["failed"][0]["href"], "/a<b>\"c\"");
        assert_eq!(json["failures"][0]["failed"][0]["code"], "403");
        assert_eq!(json["per_minute"].as_array().unwrap().len(), MINUTES);
    }

    #[test]
    fn capped_cuts_on_char_boundaries() {
        assert_eq!(capped("abc", 3), "abc");
        assert_eq!(capped("abcdef", 5), "ab…");
        let cut = capped(&"é".repeat(10), 8);
        assert!(cut.len() <= 8 && cut.ends_with('…'), "{cut}");
    }
}
