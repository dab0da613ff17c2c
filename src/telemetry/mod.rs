//! The audit sink: the only place that names a metric, logs an audit outcome or records a
//! failure for the live view. The rest of the crate holds one [`Telemetry`] handle and emits
//! typed events to it.
//!
//! - [`access`]: the access log (`log.access`): one line per exchange, at its end.
//! - [`labels`]: closed label sets.
//! - [`metrics`]: the registry and every metric family (the DESIGN.md contract).
//! - [`recent`]: the bounded ring of recent partial failures behind the live view.
//! - [`routes`]: the optional `route` label, from the config's path prefixes.
//! - [`events`]: typed events; `emit()` logs, counts and records.
//! - [`logging`]: tracing-subscriber set-up (text or JSON).
//! - [`throttle`]: repeated WARNs folded into one summary per interval.

pub(crate) mod access;
pub(crate) mod events;
pub(crate) mod labels;
pub(crate) mod logging;
pub(crate) mod metrics;
pub(crate) mod recent;
pub(crate) mod routes;
pub(crate) mod throttle;

#[cfg(test)]
mod bound_tests;
#[cfg(test)]
mod contract_tests;

pub(crate) use metrics::Metrics;
pub(crate) use recent::RecentFailures;

use std::sync::Arc;

/// The one handle events are emitted to: the metrics registry and the live view's ring.
/// Cheap to clone; built once by `app` and shared, across reloads, by the proxy, the audit
/// and the admin listener.
#[derive(Debug, Clone)]
pub(crate) struct Telemetry {
    metrics: Arc<Metrics>,
    recent: Arc<RecentFailures>,
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
}
