//! The audit sink: the only place that names a metric, logs an audit outcome or records a
//! failure for the live view. The rest of the crate holds one [`Telemetry`] handle and emits
//! typed events to it.
//!
//! - [`access`]: the access log (`log.access`): one line per exchange, at its end.
//! - [`context`]: the request id and path the events carry, shared with the request.
//! - [`labels`]: closed label sets.
//! - [`metrics`]: the registry and every metric family (the DESIGN.md contract).
//! - [`path`]: the request path as every log event writes it (capped, escaped).
//! - [`recent`]: the bounded ring of recent partial failures behind the live view.
//! - [`routes`]: the optional `route` label, from the config's path prefixes.
//! - [`events`]: typed events; `emit()` logs, counts and records.
//! - [`logging`]: tracing-subscriber set-up (text or JSON).
//! - [`throttle`]: repeated WARNs folded into one summary per interval.
//! - [`fold`]: identical partial failures from one client folded likewise.

pub(crate) mod access;
pub(crate) mod context;
pub(crate) mod events;
pub(crate) mod fold;
pub(crate) mod labels;
pub(crate) mod logging;
pub(crate) mod metrics;
pub(crate) mod path;
pub(crate) mod recent;
pub(crate) mod routes;
pub(crate) mod throttle;

#[cfg(test)]
mod bound_tests;
#[cfg(test)]
mod contract_tests;

pub(crate) use metrics::Metrics;
pub(crate) use recent::RecentFailures;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use fold::Folds;

/// The one handle events are emitted to: the metrics registry and the live view's ring.
/// Cheap to clone; built once by `app` and shared, across reloads, by the proxy, the audit
/// and the admin listener.
#[derive(Debug, Clone)]
pub(crate) struct Telemetry {
    metrics: Arc<Metrics>,
    recent: Arc<RecentFailures>,
    folds: Arc<Mutex<Folds>>,
}

impl Telemetry {
    /// A new registry, and a ring of `recent_failures` records (0: the live view records
    /// nothing).
    #[cfg(test)]
    pub(crate) fn new(recent_failures: usize) -> Self {
        Self::with_routes(recent_failures, routes::Routes::default())
    }

    /// [`Telemetry::new`] with the `route` label of `routes` (fixed for the process's life).
    pub(crate) fn with_routes(recent_failures: usize, routes: routes::Routes) -> Self {
        Telemetry {
            metrics: Arc::new(Metrics::with_routes(routes)),
            recent: Arc::new(RecentFailures::new(recent_failures)),
            folds: Arc::new(Mutex::new(Folds::new(fold::INTERVAL))),
        }
    }

    /// The `route` label's prefixes and values.
    pub(crate) fn routes(&self) -> &routes::Routes {
        self.metrics.routes()
    }

    /// The metrics registry (`/metrics`).
    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The live view's ring (`/failures`).
    pub(crate) fn recent(&self) -> &Arc<RecentFailures> {
        &self.recent
    }

    /// Whether this partial failure is logged in full: false when an identical one from the
    /// same client was logged in this interval ([`fold`]). Ended intervals are summarised
    /// first.
    pub(crate) fn admit_failure(&self, sighting: &fold::Sighting<'_>) -> bool {
        let now = Instant::now();
        let (admit, due) = {
            let mut folds = self.folds.lock().unwrap_or_else(|e| e.into_inner());
            let due = folds.take_due(now);
            (folds.admit(sighting, now), due)
        };
        for summary in due {
            summary.emit(&self.metrics);
        }
        admit
    }

    /// Logs the summaries of the intervals that ended (called periodically by `app`).
    pub(crate) fn flush_folds(&self) {
        let due = {
            let mut folds = self.folds.lock().unwrap_or_else(|e| e.into_inner());
            folds.take_due(Instant::now())
        };
        for summary in due {
            summary.emit(&self.metrics);
        }
    }
}
