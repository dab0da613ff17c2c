//! Identical partial failures from one client folded into a per-interval summary. A sync
//! client that retries the same refused MOVE, or polls a folder with the same locked member,
//! gets the same 207 again and again: the first of an interval is logged in full, the
//! identical ones after it are only counted (every counter and the live view still see
//! each), and one summary per interval says how many there were
//! (`davaudit_log_events_suppressed_total{event="partial_failure"}`).
//!
//! *Identical*: same client address, method, path, outcome, failure count, and the same
//! failing entries the event lists (level, code, href, in order; the first
//! `audit.max_logged_failures`, the only ones the audit builds). Bounded: at most [`MAX_TRACKED`] kinds are tracked at once;
//! beyond that, a new kind is logged in full and not tracked.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::path::{self, SafePath};
use crate::multistatus::{Code, Level, Report};

/// How long one interval lasts: long enough to fold a client that polls every 30 s.
pub(crate) const INTERVAL: Duration = Duration::from_secs(60);

/// Kinds of identical failures tracked at once.
pub(crate) const MAX_TRACKED: usize = 256;

/// One partial failure as the fold tells it from another.
#[derive(Debug)]
pub(crate) struct Sighting<'a> {
    pub client: IpAddr,
    pub method: &'a str,
    pub path: &'a str,
    pub outcome: &'static str,
    pub request_id: &'a str,
    pub report: &'a Report,
}

/// The identical failures counted but not logged in one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub client: IpAddr,
    pub method: String,
    /// What the log keeps of the path ([`path::capped`]).
    pub path: String,
    pub path_truncated: Option<bool>,
    pub outcome: &'static str,
    /// The request id of the one logged in full.
    pub first_request_id: String,
    /// How many identical ones followed it and were not logged.
    pub repeated: u64,
}

impl Summary {
    /// Logs the summary and counts what it folded.
    pub(crate) fn emit(&self, metrics: &super::Metrics) {
        metrics
            .log_suppressed
            .with_label_values(&["partial_failure"])
            .inc_by(self.repeated);
        tracing::warn!(
            client = %self.client,
            method = %self.method,
            path = %SafePath(&self.path),
            path_truncated = self.path_truncated,
            outcome = self.outcome,
            first_request_id = %self.first_request_id,
            repeated = self.repeated,
            interval_s = INTERVAL.as_secs(),
            "more identical partial failures from one client"
        );
    }
}

#[derive(Debug)]
struct Tracked {
    since: Instant,
    summary: Summary,
}

/// The fold's state. One per process (behind a lock in `Telemetry`).
#[derive(Debug)]
pub(crate) struct Folds {
    interval: Duration,
    tracked: HashMap<u64, Tracked>,
    /// When the first tracked interval ends (`None`: nothing tracked): `take_due` has
    /// nothing to do before then.
    next_due: Option<Instant>,
    /// Random keys: a client cannot aim two different failures at one fingerprint.
    keys: std::collections::hash_map::RandomState,
}

impl Folds {
    pub(crate) fn new(interval: Duration) -> Self {
        Folds {
            interval,
            tracked: HashMap::new(),
            next_due: None,
            keys: std::collections::hash_map::RandomState::new(),
        }
    }

    /// True when this failure should be logged in full (the first of its kind in its
    /// interval); false when it is only counted.
    pub(crate) fn admit(&mut self, sighting: &Sighting<'_>, now: Instant) -> bool {
        let key = self.fingerprint(sighting);
        if let Some(tracked) = self.tracked.get_mut(&key)
            && now.duration_since(tracked.since) < self.interval
        {
            tracked.summary.repeated = tracked.summary.repeated.saturating_add(1);
            return false;
        }
        if self.tracked.len() >= MAX_TRACKED && !self.tracked.contains_key(&key) {
            // Full of live kinds (`take_due` drops the ended ones): log, do not track.
            return true;
        }
        // A new kind, or one whose interval ended and was summarised by `take_due`.
        let due = now.checked_add(self.interval).unwrap_or(now);
        self.next_due = Some(self.next_due.map_or(due, |next| next.min(due)));
        self.tracked.insert(
            key,
            Tracked {
                since: now,
                summary: Summary {
                    client: sighting.client,
                    method: sighting.method.to_owned(),
                    path: path::capped(sighting.path).to_owned(),
                    path_truncated: path::truncated(sighting.path),
                    outcome: sighting.outcome,
                    first_request_id: sighting.request_id.to_owned(),
                    repeated: 0,
                },
            },
        );
        true
    }

    /// Ends every interval that is over at `now`: their kinds are forgotten, and those that
    /// folded anything are returned, to be logged.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Summary> {
        let mut due = Vec::new();
        if self.next_due.is_none_or(|next| now < next) {
            return due;
        }
        let mut next_due: Option<Instant> = None;
        self.tracked.retain(|_, tracked| {
            if now.duration_since(tracked.since) < self.interval {
                let end = tracked.since.checked_add(self.interval).unwrap_or(now);
                next_due = Some(next_due.map_or(end, |next| next.min(end)));
                return true;
            }
            if tracked.summary.repeated > 0 {
                due.push(tracked.summary.clone());
            }
            false
        });
        self.next_due = next_due;
        due
    }

    fn fingerprint(&self, sighting: &Sighting<'_>) -> u64 {
        let mut h = self.keys.build_hasher();
        let report = sighting.report;
        // The sighting as one byte stream, each part fixed-size or length-prefixed (so two
        // different sightings never give the same bytes), written in blocks: a hasher call
        // per field cost more than the hashing itself.
        let mut stream = Blocks::new(&mut h);
        match sighting.client {
            IpAddr::V4(ip) => {
                stream.put(&[4]);
                stream.put(&ip.octets());
            }
            IpAddr::V6(ip) => {
                stream.put(&[6]);
                stream.put(&ip.octets());
            }
        }
        for text in [sighting.method, sighting.path, sighting.outcome] {
            stream.put(&(text.len() as u64).to_le_bytes());
            stream.put(text.as_bytes());
        }
        stream.put(&report.failure_count.to_le_bytes());
        for failure in &report.failures {
            let (tag, code) = match failure.code {
                Code::Status(code) => (1, code),
                Code::Invalid => (0, 0),
            };
            let level = match failure.level {
                Level::Response => 0,
                Level::Propstat => 1,
            };
            let [c0, c1] = code.to_le_bytes();
            stream.put(&[level, tag, c0, c1]);
            stream.put(&failure.href_count.to_le_bytes());
            stream.put(&(failure.href.len() as u64).to_le_bytes());
            stream.put(failure.href.as_bytes());
        }
        stream.flush();
        h.finish()
    }
}

/// Bytes of one [`Blocks`] write.
const BLOCK: usize = 256;

/// Bytes for a hasher, handed over in blocks of up to [`BLOCK`] bytes (a streaming hasher
/// such as SipHash gives the same result however the stream is split).
struct Blocks<'h, H: Hasher> {
    hasher: &'h mut H,
    buf: [u8; BLOCK],
    len: usize,
}

impl<'h, H: Hasher> Blocks<'h, H> {
    fn new(hasher: &'h mut H) -> Self {
        Blocks {
            hasher,
            buf: [0; BLOCK],
            len: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > BLOCK {
            self.flush();
        }
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(room) => {
                room.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            // Longer than a block: straight through.
            None => self.hasher.write(bytes),
        }
    }

    fn flush(&mut self) {
        self.hasher.write(&self.buf[..self.len]);
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multistatus::{Code, Failure, Level, Outcome};

    /// A DELETE-like report: one failing member `href` with `code`.
    fn report(href: &str, code: u16) -> Report {
        let mut report = Report::empty(Outcome::PartialFailure);
        report.entries = 1;
        report.failures.push(Failure {
            href: href.to_owned(),
            hrefs: vec![href.to_owned()],
            href_count: 1,
            props: Vec::new(),
            prop_count: 0,
            level: Level::Response,
            code: Code::Status(code),
            error: None,
            description: None,
        });
        report.failure_count = 1;
        report
    }

    fn sighting<'a>(client: &str, path: &'a str, report: &'a Report) -> Sighting<'a> {
        Sighting {
            client: client.parse().unwrap(),
            method: "DELETE",
            path,
            outcome: "partial_failure",
            request_id: "r1",
            report,
        }
    }

    #[test]
    fn a_retrying_client_gives_one_full_event_and_one_counted_summary() {
        let locked = report("/a/locked", 423);
        let mut folds = Folds::new(Duration::from_secs(60));
        let start = Instant::now();
        let same = sighting("192.0.2.1", "/a/", &locked);
        assert!(folds.admit(&same, start));
        for i in 1..50u64 {
            assert!(!folds.admit(&same, start + Duration::from_millis(i * 100)));
        }
        assert!(
            folds.take_due(start + Duration::from_secs(30)).is_empty(),
            "not yet"
        );
        let due = folds.take_due(start + Duration::from_secs(60));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].repeated, 49);
        assert_eq!(due[0].first_request_id, "r1");
        assert_eq!(due[0].path, "/a/");
        // The next one starts a new interval, logged in full; nothing folded: no summary.
        assert!(folds.admit(&same, start + Duration::from_secs(61)));
        assert!(folds.take_due(start + Duration::from_secs(200)).is_empty());
    }

    #[test]
    fn other_clients_paths_or_failures_are_not_folded_together() {
        let locked = report("/a/locked", 423);
        let denied = report("/a/other", 403);
        let mut folds = Folds::new(Duration::from_secs(60));
        let now = Instant::now();
        assert!(folds.admit(&sighting("192.0.2.1", "/a/", &locked), now));
        assert!(
            folds.admit(&sighting("192.0.2.2", "/a/", &locked), now),
            "client"
        );
        assert!(
            folds.admit(&sighting("192.0.2.1", "/b/", &locked), now),
            "path"
        );
        assert!(
            folds.admit(&sighting("192.0.2.1", "/a/", &denied), now),
            "failure"
        );
        let mut move_ = sighting("192.0.2.1", "/a/", &locked);
        move_.method = "MOVE";
        assert!(folds.admit(&move_, now), "method");
        assert!(
            !folds.admit(&sighting("192.0.2.1", "/a/", &locked), now),
            "same"
        );
    }

    #[test]
    fn entries_that_differ_anywhere_are_not_folded_together() {
        let mut folds = Folds::new(Duration::from_secs(60));
        let now = Instant::now();
        let mut two = |first: &str, second: &str, level: Level, code: Code| {
            let mut r = report(first, 423);
            let mut other = r.failures[0].clone();
            other.href = second.to_owned();
            other.level = level;
            other.code = code;
            r.failures.push(other);
            r.failure_count = 2;
            folds.admit(&sighting("192.0.2.1", "/a/", &r), now)
        };
        let long = "x".repeat(3 * BLOCK + 7);
        let longer = format!("{long}y");
        let cases = [
            ("ab", "c", Level::Response, Code::Status(423)),
            ("a", "bc", Level::Response, Code::Status(423)),
            ("a", "bc", Level::Propstat, Code::Status(423)),
            ("a", "bc", Level::Propstat, Code::Invalid),
            ("a", "bc", Level::Propstat, Code::Status(0)),
            (long.as_str(), "c", Level::Response, Code::Status(423)),
            (longer.as_str(), "c", Level::Response, Code::Status(423)),
        ];
        for (first, second, level, code) in cases {
            assert!(
                two(first, second, level, code),
                "{first:.8} {second} {level:?} {code:?}"
            );
        }
        for (first, second, level, code) in cases {
            assert!(!two(first, second, level, code), "the same again is folded");
        }
    }

    #[test]
    fn each_kind_is_summarised_when_its_own_interval_ends() {
        let locked = report("/a/locked", 423);
        let mut folds = Folds::new(Duration::from_secs(60));
        let start = Instant::now();
        let first = sighting("192.0.2.1", "/a/", &locked);
        let later = sighting("192.0.2.1", "/b/", &locked);
        assert!(folds.admit(&first, start));
        assert!(!folds.admit(&first, start));
        let at = |s: u64| start + Duration::from_secs(s);
        assert!(folds.admit(&later, at(30)));
        assert!(!folds.admit(&later, at(31)));
        assert!(!folds.admit(&later, at(32)));
        assert!(folds.take_due(at(59)).is_empty());
        let due = folds.take_due(at(60));
        assert_eq!(
            (due.len(), due[0].path.as_str(), due[0].repeated),
            (1, "/a/", 1)
        );
        assert!(folds.take_due(at(89)).is_empty());
        let due = folds.take_due(at(90));
        assert_eq!(
            (due.len(), due[0].path.as_str(), due[0].repeated),
            (1, "/b/", 2)
        );
        assert!(folds.tracked.is_empty());
        // An IPv4 client and its IPv4-mapped IPv6 form are two clients.
        assert!(folds.admit(&sighting("192.0.2.1", "/a/", &locked), at(100)));
        assert!(folds.admit(&sighting("::ffff:192.0.2.1", "/a/", &locked), at(100)));
    }

    #[test]
    fn tracking_is_bounded_and_a_full_table_logs_in_full() {
        let locked = report("/a/locked", 423);
        let mut folds = Folds::new(Duration::from_secs(60));
        let now = Instant::now();
        let paths: Vec<String> = (0..MAX_TRACKED + 10).map(|i| format!("/p{i}")).collect();
        for path in &paths {
            assert!(folds.admit(&sighting("192.0.2.1", path, &locked), now));
        }
        assert_eq!(folds.tracked.len(), MAX_TRACKED);
        // An untracked kind is never folded: its repeats are logged in full too.
        let last = paths.last().unwrap();
        assert!(folds.admit(&sighting("192.0.2.1", last, &locked), now));
        // Once the interval ends, the table empties and tracks again.
        assert!(folds.take_due(now + Duration::from_secs(60)).is_empty());
        assert!(folds.tracked.is_empty());
    }

    #[test]
    fn the_summary_keeps_the_path_as_every_log_event_does() {
        let locked = report("/a/locked", 423);
        let mut folds = Folds::new(Duration::from_secs(60));
        let start = Instant::now();
        let long = format!("/{}", "p".repeat(10 * 1024));
        let same = sighting("192.0.2.1", &long, &locked);
        assert!(folds.admit(&same, start));
        assert!(!folds.admit(&same, start));
        let due = folds.take_due(start + Duration::from_secs(60));
        assert_eq!(due[0].path, long[..path::MAX_PATH]);
        assert_eq!(due[0].path_truncated, Some(true));
    }
}
