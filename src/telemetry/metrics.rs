//! Every metric davaudit exports, named in one place (the DESIGN.md contract), in a registry
//! this struct owns (never the process-global one, so in-process tests run in parallel).
//!
//! Families about the audit and the upstream are written through typed events
//! ([`super::events`]); the connection and operations families through the small methods
//! and guards at the end of this file, so that the listener, the tee and the reload code
//! never name a metric.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::core::Collector;
use prometheus::{
    Counter, Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::labels::{self, MethodLabel};
use super::routes::{RouteLabel, Routes};
use crate::multistatus::Outcome;
use crate::upstream::Kind;

/// Buckets for time to response headers: WebDAV spans 1 ms GETs to minutes-long
/// `Depth: infinity` PROPFINDs.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The WARN events folded into per-interval summaries (`event`).
pub(crate) const SUPPRESSED_EVENTS: [&str; 4] = [
    "connection_refused",
    "accept_failed",
    "tls_handshake_failed",
    "partial_failure",
];

/// The results of a config reload (`result`).
pub(crate) const RELOAD_RESULTS: [&str; 2] = ["success", "failure"];

/// The listeners, a closed label set (`listener`).
pub(crate) const LISTENERS: [&str; 2] = ["proxy", "admin"];

/// Why a connection was refused (`reason`): `limit` at `limits.max_connections`,
/// `accept_error` when `accept(2)` failed (out of descriptors and the like).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Limit,
    AcceptError,
}

impl Refused {
    pub const ALL: [Refused; 2] = [Refused::Limit, Refused::AcceptError];

    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Limit => "limit",
            Refused::AcceptError => "accept_error",
        }
    }
}

/// Why a TLS handshake failed (`reason`): `error` (the client or its certificate check
/// refused, or it spoke something else), `timeout` (not done within the header timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    Error,
    Timeout,
}

impl HandshakeFailure {
    pub const ALL: [HandshakeFailure; 2] = [HandshakeFailure::Error, HandshakeFailure::Timeout];

    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeFailure::Error => "error",
            HandshakeFailure::Timeout => "timeout",
        }
    }
}

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
    pub(crate) upstream_retries: IntCounter,
    pub(crate) log_suppressed: IntCounterVec,
    connections_open: IntGaugeVec,
    connections_accepted: IntCounterVec,
    connections_refused: IntCounterVec,
    requests_in_flight: IntGauge,
    tls_handshake_failures: IntCounterVec,
    tls_not_after: Gauge,
    config_reloads: IntCounterVec,
    config_last_reload_success: Gauge,
    config_last_reload_successful: IntGauge,
    audit_wait: Counter,
    request_duration: HistogramVec,
    /// Per (route, method) histograms, created on a pair's first request (no zero histograms
    /// for methods never seen), then a lock-free read: the one metric touched on every
    /// request. Indexed `route * methods + method`; one route slot without routes.
    durations: Vec<OnceLock<Histogram>>,
    /// The `route` label's values; without routes the routed families have no such label.
    routes: Routes,
}

/// The label values of a route-labelled family: the given ones, then the route's name when
/// routes are configured. A fixed buffer: no allocation on the request path.
#[derive(Debug)]
pub(crate) struct Values<'a> {
    buf: [&'a str; 4],
    len: usize,
}

impl<'a> std::ops::Deref for Values<'a> {
    type Target = [&'a str];

    fn deref(&self) -> &[&'a str] {
        &self.buf[..self.len]
    }
}

/// Registers collectors in one registry; a duplicate name is a bug, caught by every test.
struct Families<'a>(&'a Registry);

impl Families<'_> {
    fn add<C: Collector + Clone + 'static>(&self, collector: C) -> C {
        self.0
            .register(Box::new(collector.clone()))
            .expect("metric registered once");
        collector
    }

    fn counters(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.add(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.add(IntCounter::new(name, help).expect("valid metric"))
    }

    fn gauges(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.add(IntGauge::new(name, help).expect("valid metric"))
    }
}

impl Metrics {
    /// Builds every family in a new registry, with the process collector and build info;
    /// no `route` label.
    pub fn new() -> Self {
        Self::with_routes(Routes::default())
    }

    /// [`Metrics::new`] with a `route` label on the request and multistatus families when
    /// `routes` has any (its values: the route names and `other`).
    pub(crate) fn with_routes(routes: Routes) -> Self {
        let registry = Registry::new();
        let f = Families(&registry);
        let routed = |names: &[&'static str]| -> Vec<&'static str> {
            let mut names = names.to_vec();
            if routes.enabled() {
                names.push("route");
            }
            names
        };
        let requests = f.counters(
            "davaudit_requests_total",
            "Proxied responses by method and top-level status (502/504 for upstream failures).",
            &routed(&["method", "code"]),
        );
        let multistatus = f.counters(
            "davaudit_multistatus_total",
            "Audited 207 (and XML error) responses by outcome.",
            &routed(&["method", "outcome"]),
        );
        let entries = f.counters(
            "davaudit_multistatus_entries_total",
            "Statuses found inside 207 bodies, by level and code.",
            &routed(&["method", "level", "code"]),
        );
        let failures = f.counters(
            "davaudit_multistatus_failures_total",
            "Statuses inside 207 bodies counted as failures (routine rules excluded).",
            &routed(&["method", "level", "code"]),
        );
        let over_limit = f.counters(
            "davaudit_audit_over_limit_total",
            "Audits a bound of the scanner stopped (outcome over_limit), by which bound.",
            &["limit"],
        );
        let unbound_prefix = f.counters(
            "davaudit_multistatus_unbound_prefix_total",
            "Audited bodies that are not namespace-well-formed: an element prefix no declaration binds (read as no namespace).",
            &["method"],
        );
        let upstream_errors = f.counters(
            "davaudit_upstream_errors_total",
            "Upstream faults by kind.",
            &["kind"],
        );
        let upstream_up = f.gauge(
            "davaudit_upstream_up",
            "1 when the upstream accepted a TCP connection at the last readiness probe (every 5s), else 0.",
        );
        let upstream_probe_error = f.gauges(
            "davaudit_upstream_probe_error",
            "1 for the kind of the last failed upstream probe (connect, timeout); all 0 while the upstream is up.",
            &["kind"],
        );
        let upstream_retries = f.counter(
            "davaudit_upstream_retries_total",
            "Safe body-less requests sent once more because the upstream dropped them unanswered.",
        );
        let connections_open = f.gauges(
            "davaudit_connections_open",
            "Client connections open now, by listener.",
            &["listener"],
        );
        let connections_accepted = f.counters(
            "davaudit_connections_accepted_total",
            "Client connections accepted, by listener.",
            &["listener"],
        );
        let connections_refused = f.counters(
            "davaudit_connections_refused_total",
            "Client connections refused, by listener and reason (limit, accept_error).",
            &["listener", "reason"],
        );
        let requests_in_flight = f.gauge(
            "davaudit_requests_in_flight",
            "Proxied requests received and not yet answered with response headers.",
        );
        let tls_handshake_failures = f.counters(
            "davaudit_tls_handshake_failures_total",
            "TLS handshakes on the client listener that failed, by reason (error, timeout).",
            &["reason"],
        );
        let tls_not_after = f.add(
            Gauge::new(
                "davaudit_tls_certificate_not_after_timestamp_seconds",
                "Expiry (notAfter, unix seconds) of the listener's TLS leaf certificate in use; 0 without TLS.",
            )
            .expect("valid metric"),
        );
        let config_reloads = f.counters(
            "davaudit_config_reloads_total",
            "SIGHUP config reloads by result (success, failure).",
            &["result"],
        );
        let config_last_reload_success = f.add(
            Gauge::new(
                "davaudit_config_last_reload_success_timestamp_seconds",
                "Unix time of the last config load that took effect (the start, or a reload).",
            )
            .expect("valid metric"),
        );
        let config_last_reload_successful = f.gauge(
            "davaudit_config_last_reload_successful",
            "1 when the last config load or reload took effect, 0 when the last reload was rejected.",
        );
        let audit_wait = f.add(
            Counter::new(
                "davaudit_audit_wait_seconds_total",
                "Time responses were held back for the audit to catch up (audit.when_behind: wait).",
            )
            .expect("valid metric"),
        );
        let log_suppressed = f.counters(
            "davaudit_log_events_suppressed_total",
            "Repeated WARN events folded into a per-interval summary, by event (connection_refused, accept_failed, tls_handshake_failed, partial_failure).",
            &["event"],
        );
        let request_duration = f.add(
            HistogramVec::new(
                HistogramOpts::new(
                    "davaudit_request_duration_seconds",
                    "Time from request received to upstream response headers.",
                )
                .buckets(DURATION_BUCKETS.to_vec()),
                &routed(&["method"]),
            )
            .expect("valid metric"),
        );
        let upstream_busy = f.counter(
            "davaudit_upstream_busy_total",
            "Requests answered 503 without contacting the upstream because limits.max_upstream_requests were in flight.",
        );
        let audit_bytes = f.counter(
            "davaudit_audit_bytes_total",
            "Bytes of multistatus bodies scanned (after decoding).",
        );
        let build_info = f.gauges(
            "davaudit_build_info",
            "Build information (crate version, source revision, Rust version); always 1.",
            &["version", "revision", "rust_version"],
        );
        build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                env!("DAVAUDIT_REVISION"),
                env!("DAVAUDIT_RUST_VERSION"),
            ])
            .set(1);
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registered once");

        // Closed sets that alerts and rates need from the start: exported at zero.
        for kind in Kind::ALL {
            upstream_errors.with_label_values(&[kind.as_str()]);
        }
        for limit in crate::multistatus::Limit::ALL {
            over_limit.with_label_values(&[limit.as_str()]);
        }
        // The first half-failed destructive request must be an increase from 0, not a new
        // series that `increase()` cannot see (DavauditDestructivePartialFailures).
        for method in ["DELETE", "MOVE", "COPY", "PROPPATCH"] {
            for outcome in [Outcome::PartialFailure, Outcome::FailureInSuccess] {
                let values = [method, outcome.as_str()];
                if routes.enabled() {
                    for route in routes.values() {
                        multistatus.with_label_values(&[values[0], values[1], route]);
                    }
                } else {
                    multistatus.with_label_values(&values);
                }
            }
        }
        for kind in crate::upstream::PROBE_KINDS {
            upstream_probe_error.with_label_values(&[kind.as_str()]);
        }
        for listener in LISTENERS {
            connections_open.with_label_values(&[listener]);
            connections_accepted.with_label_values(&[listener]);
            for reason in Refused::ALL {
                connections_refused.with_label_values(&[listener, reason.as_str()]);
            }
        }
        for result in RELOAD_RESULTS {
            config_reloads.with_label_values(&[result]);
        }
        for why in HandshakeFailure::ALL {
            tls_handshake_failures.with_label_values(&[why.as_str()]);
        }
        for event in SUPPRESSED_EVENTS {
            log_suppressed.with_label_values(&[event]);
        }
        let durations = (0..labels::all_methods().count() * routes.cardinality())
            .map(|_| OnceLock::new())
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
            upstream_retries,
            log_suppressed,
            connections_open,
            connections_accepted,
            connections_refused,
            requests_in_flight,
            tls_handshake_failures,
            tls_not_after,
            config_reloads,
            config_last_reload_success,
            config_last_reload_successful,
            audit_wait,
            request_duration,
            durations,
            routes,
        }
    }

    /// The `route` label's values (none without routes).
    pub(crate) fn routes(&self) -> &Routes {
        &self.routes
    }

    /// `values` plus the route's name when routes are configured (`other` when `route` is
    /// `None` then); just `values` without routes. At most 3 given values.
    pub(crate) fn values<'a>(
        &'a self,
        values: &[&'a str],
        route: Option<RouteLabel>,
    ) -> Values<'a> {
        let mut buf = [""; 4];
        let len = values.len().min(3);
        buf[..len].copy_from_slice(&values[..len]);
        if !self.routes.enabled() {
            return Values { buf, len };
        }
        buf[len] = match route {
            Some(route) => self.routes.name(route),
            None => crate::config::OTHER_ROUTE,
        };
        Values { buf, len: len + 1 }
    }

    /// The histogram of one (method, route) pair, created on its first use.
    pub(crate) fn duration(&self, method: MethodLabel, route: Option<RouteLabel>) -> &Histogram {
        // `None` with routes configured is `other`, the last slot, as `values` labels it.
        let slot = route
            .filter(|_| self.routes.enabled())
            .map_or(self.routes.cardinality() - 1, RouteLabel::index);
        let methods = self.durations.len() / self.routes.cardinality();
        self.durations
            .get(slot * methods + method.index())
            .expect("one slot per method and route label")
            .get_or_init(|| {
                self.request_duration
                    .with_label_values(&self.values(&[method.as_str()], route))
            })
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

    // === connections, requests in flight, TLS, reloads, audit pacing ===

    /// A connection was accepted on `listener`: counted, and open until the guard drops.
    pub fn connection_opened(&self, listener: &'static str) -> OpenConnection {
        self.connections_accepted
            .with_label_values(&[listener])
            .inc();
        let open = self.connections_open.with_label_values(&[listener]);
        open.inc();
        OpenConnection(open)
    }

    /// A connection on `listener` was refused (or `accept` failed).
    pub fn connection_refused(&self, listener: &'static str, reason: Refused) {
        self.connections_refused
            .with_label_values(&[listener, reason.as_str()])
            .inc();
    }

    /// A proxied request arrived: in flight until the guard drops (response headers ready).
    pub fn request_started(&self) -> InFlight {
        self.requests_in_flight.inc();
        InFlight(self.requests_in_flight.clone())
    }

    /// A TLS handshake on the client listener failed.
    pub fn tls_handshake_failed(&self, why: HandshakeFailure) {
        self.tls_handshake_failures
            .with_label_values(&[why.as_str()])
            .inc();
    }

    /// The listener's certificate in use expires at `not_after` (unix seconds); `None`
    /// without TLS or when it cannot be read.
    pub fn set_certificate_not_after(&self, not_after: Option<i64>) {
        self.tls_not_after.set(not_after.unwrap_or(0) as f64);
    }

    /// A config took effect (`true`: the start or a reload) or a reload was rejected.
    pub fn config_loaded(&self, reload: bool, ok: bool) {
        if reload {
            let result = RELOAD_RESULTS[usize::from(!ok)];
            self.config_reloads.with_label_values(&[result]).inc();
        }
        self.config_last_reload_successful.set(i64::from(ok));
        if ok {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            self.config_last_reload_success.set(now.as_secs_f64());
        }
    }

    /// A handle the tee adds the time it held a response back to.
    pub fn audit_wait(&self) -> AuditWait {
        AuditWait(self.audit_wait.clone())
    }
}

/// Decrements `davaudit_connections_open` when the connection ends.
#[derive(Debug)]
#[must_use = "the connection counts as open until this guard drops"]
pub struct OpenConnection(IntGauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Decrements `davaudit_requests_in_flight` when the request has its response headers.
#[derive(Debug)]
#[must_use = "the request counts as in flight until this guard drops"]
pub struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Adds to `davaudit_audit_wait_seconds_total`.
#[derive(Debug, Clone)]
pub struct AuditWait(Counter);

impl AuditWait {
    pub fn add(&self, waited: Duration) {
        self.0.inc_by(waited.as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
