//! Every metric davaudit exports, named in one place (the DESIGN.md contract), in a registry
//! this struct owns (never the process-global one, so in-process tests run in parallel).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::labels::{self, MethodLabel};
use crate::multistatus::Outcome;
use crate::upstream::Kind;

/// Buckets for time to response headers: WebDAV spans 1 ms GETs to minutes-long
/// `Depth: infinity` PROPFINDs.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The metric families and the registry holding them.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub(crate) requests: IntCounterVec,
    pub(crate) multistatus: IntCounterVec,
    pub(crate) entries: IntCounterVec,
    pub(crate) failures: IntCounterVec,
    pub(crate) audit_bytes: IntCounter,
    pub(crate) over_limit: IntCounterVec,
    pub(crate) unbound_prefix: IntCounterVec,
    pub(crate) upstream_errors: IntCounterVec,
    /// Requests answered 503 because `limits.max_upstream_requests` were in flight.
    pub(crate) upstream_busy: IntCounter,
    pub(crate) upstream_up: IntGauge,
    pub(crate) upstream_probe_error: IntGaugeVec,
    /// Pre-resolved per-method histograms: the one metric touched on every request.
    durations: Vec<Histogram>,
}

impl Metrics {
    /// Builds every family in a new registry, with the process collector and build info.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("metric registered once");
            c
        };
        let requests = counter(
            "davaudit_requests_total",
            "Proxied responses by method and top-level status (502/504 for upstream failures).",
            &["method", "code"],
        );
        let multistatus = counter(
            "davaudit_multistatus_total",
            "Audited 207 (and XML error) responses by outcome.",
            &["method", "outcome"],
        );
        let entries = counter(
            "davaudit_multistatus_entries_total",
            "Statuses found inside 207 bodies, by level and code.",
            &["method", "level", "code"],
        );
        let failures = counter(
            "davaudit_multistatus_failures_total",
            "Statuses inside 207 bodies counted as failures (routine rules excluded).",
            &["method", "level", "code"],
        );
        let over_limit = counter(
            "davaudit_audit_over_limit_total",
            "Audits a bound of the scanner stopped (outcome over_limit), by which bound.",
            &["limit"],
        );
        let unbound_prefix = counter(
            "davaudit_multistatus_unbound_prefix_total",
            "Audited bodies that are not namespace-well-formed: an element prefix no declaration binds (read as no namespace).",
            &["method"],
        );
        let upstream_errors = counter(
            "davaudit_upstream_errors_total",
            "Upstream faults by kind.",
            &["kind"],
        );
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("metric registered once");
            g
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("metric registered once");
            g
        };
        let upstream_up = gauge(
            "davaudit_upstream_up",
            "1 when the upstream accepted a TCP connection at the last readiness probe (every 5s), else 0.",
        );
        let upstream_probe_error = gauge_vec(
            "davaudit_upstream_probe_error",
            "1 for the kind of the last failed upstream probe (connect, timeout); all 0 while the upstream is up.",
            &["kind"],
        );
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "davaudit_request_duration_seconds",
                "Time from request received to upstream response headers.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["method"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(request_duration.clone()))
            .expect("metric registered once");
        let upstream_busy = IntCounter::new(
            "davaudit_upstream_busy_total",
            "Requests answered 503 without contacting the upstream because limits.max_upstream_requests were in flight.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(upstream_busy.clone()))
            .expect("metric registered once");
        let audit_bytes = IntCounter::new(
            "davaudit_audit_bytes_total",
            "Bytes of multistatus bodies scanned (after decoding).",
        )
        .expect("valid metric");
        registry
            .register(Box::new(audit_bytes.clone()))
            .expect("metric registered once");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "davaudit_build_info",
                "Build information (crate version, source revision, Rust version); always 1.",
            ),
            &["version", "revision", "rust_version"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(build_info.clone()))
            .expect("metric registered once");
        let info: IntGauge = build_info.with_label_values(&[
            env!("CARGO_PKG_VERSION"),
            env!("DAVAUDIT_REVISION"),
            env!("DAVAUDIT_RUST_VERSION"),
        ]);
        info.set(1);
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registered once");

        // Error kinds are a closed set: export them at zero so alerts see a series at once.
        for kind in Kind::ALL {
            upstream_errors.with_label_values(&[kind.as_str()]);
        }
        for limit in crate::multistatus::Limit::ALL {
            over_limit.with_label_values(&[limit.as_str()]);
        }
        // The first half-failed destructive request must be an increase from 0, not a new
        // series that `increase()` cannot see (DavauditDestructivePartialFailures).
        for method in ["DELETE", "MOVE", "COPY", "PROPPATCH"] {
            multistatus.with_label_values(&[method, Outcome::PartialFailure.as_str()]);
        }
        for kind in crate::upstream::PROBE_KINDS {
            upstream_probe_error.with_label_values(&[kind.as_str()]);
        }
        let durations = labels::all_methods()
            .map(|m| request_duration.with_label_values(&[m]))
            .collect();

        Metrics {
            registry,
            requests,
            multistatus,
            entries,
            failures,
            audit_bytes,
            over_limit,
            unbound_prefix,
            upstream_errors,
            upstream_busy,
            upstream_up,
            upstream_probe_error,
            durations,
        }
    }

    /// The histogram of one method label (pre-resolved).
    pub(crate) fn duration(&self, method: MethodLabel) -> &Histogram {
        self.durations
            .get(method.index())
            .expect("one histogram per method label")
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail on I/O; a failure would be a bug in a collector.
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(%error, "cannot encode metrics");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
