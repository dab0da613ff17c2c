//! Repeated WARNs folded into one summary per interval: the first event of an interval is
//! logged in full, the rest are only counted, and the count is logged (and added to
//! `davaudit_log_events_suppressed_total{event}`) when the interval ends. 200 refused
//! connections in a burst give 1 WARN plus 1 summary, not 200 lines.

use std::time::{Duration, Instant};

/// How long one interval lasts.
pub(crate) const INTERVAL: Duration = Duration::from_secs(10);

/// One throttled event kind. Not shared between tasks: each owner keeps its own.
#[derive(Debug)]
pub(crate) struct Throttle {
    interval: Duration,
    /// Start of the current interval, when an event was logged in it.
    since: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub(crate) fn new(interval: Duration) -> Self {
        Throttle {
            interval,
            since: None,
            suppressed: 0,
        }
    }

    /// True when this event should be logged in full (the first of its interval); false
    /// when it is only counted.
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        match self.since {
            Some(since) if now.duration_since(since) < self.interval => {
                self.suppressed = self.suppressed.saturating_add(1);
                false
            }
            _ => {
                self.since = Some(now);
                true
            }
        }
    }

    /// At or after the end of an interval: the number of events counted but not logged in
    /// it (`None` when there were none), and a fresh interval.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<u64> {
        let since = self.since?;
        if now.duration_since(since) < self.interval {
            return None;
        }
        self.since = None;
        let n = std::mem::take(&mut self.suppressed);
        (n > 0).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_gives_one_full_event_and_one_count() {
        let mut t = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        assert!(t.admit(start));
        for i in 1..200u64 {
            assert!(!t.admit(start + Duration::from_millis(i)));
        }
        assert_eq!(t.take_due(start + Duration::from_secs(5)), None, "not yet");
        assert_eq!(t.take_due(start + Duration::from_secs(10)), Some(199));
        assert_eq!(t.take_due(start + Duration::from_secs(30)), None);
        // The next event after the interval is logged in full again.
        assert!(t.admit(start + Duration::from_secs(31)));
        assert_eq!(
            t.take_due(start + Duration::from_secs(41)),
            None,
            "nothing folded"
        );
    }
}
