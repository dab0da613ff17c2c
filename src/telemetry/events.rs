//! Typed events: each `emit()` is the one place that writes its log line and its counters
//! (vector's instrumentation pattern). Other modules build an event and emit it; they never
//! call `tracing::warn!` for audit outcomes nor touch a metric.

use std::time::Duration;

use serde::Serialize;

use super::Telemetry;
use super::access;
use super::context::{RequestId, RequestPath};
use super::labels::{self, MethodLabel};
use super::logging::Structured;
use super::path::{self, SafePath};
use super::recent::Sighting;
use super::routes::RouteLabel;
use crate::error::ErrorChain;
use crate::multistatus::{Code, Failure, Level, Outcome, Report};
use crate::{body, upstream};

/// What every event about one request carries: set once by the proxy, shared with the audit.
#[derive(Debug)]
pub(crate) struct RequestContext {
    pub method: http::Method,
    pub method_label: MethodLabel,
    /// The request's `route` (the first configured prefix its path starts with, else
    /// `other`); `None` when no routes are configured.
    pub route: Option<RouteLabel>,
    /// The request path (never the query: it may carry tokens).
    pub path: RequestPath,
    pub request_id: RequestId,
    /// The client's address (the TCP peer), for folding its repeated failures.
    pub client: std::net::IpAddr,
    /// The access log's record of this exchange; `None` with `log.access` off.
    pub access: Option<Box<access::Exchange>>,
}

impl RequestContext {
    /// The route's name for log fields and the live view; `None` without routes.
    pub(crate) fn route_name<'a>(&self, telemetry: &'a Telemetry) -> Option<&'a str> {
        self.route.map(|route| telemetry.routes().name(route))
    }
}

/// A response went back to the client (any status, synthetic ones included).
#[derive(Debug)]
pub(crate) struct RequestFinished {
    pub method: MethodLabel,
    /// `None` without routes (and for a request refused before its path was read: `other`).
    pub route: Option<RouteLabel>,
    pub status: u16,
    /// Time from the request arriving to the response headers being ready.
    pub duration: Duration,
}

impl RequestFinished {
    pub(crate) fn emit(&self, telemetry: &Telemetry) {
        let metrics = telemetry.metrics();
        let values = metrics.values(
            &[self.method.as_str(), labels::status(self.status)],
            self.route,
        );
        metrics.requests.with_label_values(&values).inc();
        metrics
            .duration(self.method, self.route)
            .observe(self.duration.as_secs_f64());
    }
}

/// The upstream could not give a response; the client got `status` (502 or 504).
#[derive(Debug)]
pub(crate) struct UpstreamRequestFailed<'a> {
    pub request: &'a RequestContext,
    pub error: &'a upstream::Error,
    pub status: u16,
    pub duration: Duration,
}

impl UpstreamRequestFailed<'_> {
    pub(crate) fn emit(&self, telemetry: &Telemetry) {
        let metrics = telemetry.metrics();
        let kind = self.error.kind();
        metrics
            .upstream_errors
            .with_label_values(&[kind.as_str()])
            .inc();
        tracing::warn!(
            request_id = %self.request.request_id,
            method = %self.request.method,
            path = %SafePath(&self.request.path),
            path_truncated = path::truncated(&self.request.path),
            route = self.request.route_name(telemetry),
            kind = kind.as_str(),
            status = self.status,
            duration_ms = self.duration.as_millis() as u64,
            error = %ErrorChain(self.error),
            "upstream request failed",
        );
    }
}

/// The upstream's response body failed after the headers were sent: the client sees a
/// broken body. Counted as an upstream error (`timeout` when idle, `reset` when broken).
#[derive(Debug)]
pub(crate) struct UpstreamBodyFailed<'a> {
    pub request: &'a RequestContext,
    pub status: u16,
    pub failure: body::Failure,
    pub error: &'a body::Error,
}

impl UpstreamBodyFailed<'_> {
    pub(crate) fn emit(&self, telemetry: &Telemetry) {
        let metrics = telemetry.metrics();
        let kind = match self.failure {
            body::Failure::Idle => upstream::Kind::Timeout,
            body::Failure::Broken => upstream::Kind::Reset,
        };
        metrics
            .upstream_errors
            .with_label_values(&[kind.as_str()])
            .inc();
        tracing::warn!(
            request_id = %self.request.request_id,
            method = %self.request.method,
            path = %SafePath(&self.request.path),
            path_truncated = path::truncated(&self.request.path),
            route = self.request.route_name(telemetry),
            kind = kind.as_str(),
            status = self.status,
            error = %ErrorChain(self.error),
            "upstream response body failed",
        );
    }
}

/// One readiness probe of the upstream ended: `error` is `None` when it accepted a TCP
/// connection. Sets `davaudit_upstream_up` and `davaudit_upstream_probe_error{kind}` (1 for
/// the kind of the last failed probe); logs only a change (`changed`).
#[derive(Debug)]
pub(crate) struct UpstreamProbed<'a> {
    pub upstream: &'a http::Uri,
    pub error: Option<upstream::Kind>,
    pub changed: bool,
}

impl UpstreamProbed<'_> {
    pub(crate) fn emit(&self, telemetry: &Telemetry) {
        let metrics = telemetry.metrics();
        metrics.upstream_up.set(i64::from(self.error.is_none()));
        for kind in upstream::PROBE_KINDS {
            metrics
                .upstream_probe_error
                .with_label_values(&[kind.as_str()])
                .set(i64::from(self.error == Some(kind)));
        }
        if !self.changed {
            return;
        }
        match self.error {
            None => tracing::info!(upstream = %self.upstream, "upstream reachable"),
            Some(kind) => tracing::warn!(
                upstream = %self.upstream,
                kind = kind.as_str(),
                "upstream unreachable"
            ),
        }
    }
}

/// The client's request body failed (too large, idle, connection gone): a downstream fault,
/// answered with `status` (413, 408 or 400) and not counted as an upstream error.
#[derive(Debug)]
pub(crate) struct RequestBodyFailed<'a> {
    pub request: &'a RequestContext,
    pub status: u16,
    pub error: &'a body::Error,
}

impl RequestBodyFailed<'_> {
    pub(crate) fn emit(&self) {
        tracing::info!(
            request_id = %self.request.request_id,
            method = %self.request.method,
            path = %SafePath(&self.request.path),
            path_truncated = path::truncated(&self.request.path),
            status = self.status,
            error = %ErrorChain(self.error),
            "request body failed",
        );
    }
}

/// The audit of one multistatus body ended.
#[derive(Debug)]
pub(crate) struct MultistatusScanned<'a> {
    pub request: &'a RequestContext,
    /// The top-level status the upstream sent (207, e.g. 424 for mod_dav's error bodies, or a
    /// 2xx for a failure behind a success).
    pub status: u16,
    /// The audit's report. Its failing entries move into the live view's ring (no copy per
    /// response): `failures` is empty after [`MultistatusScanned::emit`].
    pub report: &'a mut Report,
    /// How many failing entries to list in the log event.
    pub max_logged_failures: usize,
    /// Time from the request arriving to the end of the audit.
    pub duration: Duration,
}

impl MultistatusScanned<'_> {
    /// Counts, logs, and records the response in the live view's ring when its audit counted
    /// a failure.
    pub(crate) fn emit(self, telemetry: &Telemetry) {
        let metrics = telemetry.metrics();
        let method = self.request.method_label.as_str();
        let report: &Report = self.report;
        metrics.audit_bytes.inc_by(report.bytes);
        if report.unbound_prefixes > 0 {
            metrics.unbound_prefix.with_label_values(&[method]).inc();
        }
        if let Some(limit) = report.malformed.as_ref().and_then(|m| m.limit) {
            metrics
                .over_limit
                .with_label_values(&[limit.as_str()])
                .inc();
        }
        let route = self.request.route;
        for level in [Level::Response, Level::Propstat] {
            for (&code, &n) in report.statuses(level) {
                let values = metrics.values(&[method, level.as_str(), labels::code(code)], route);
                metrics.entries.with_label_values(&values).inc_by(n);
            }
            for (&code, &n) in report.failing(level) {
                let values = metrics.values(&[method, level.as_str(), labels::code(code)], route);
                metrics.failures.with_label_values(&values).inc_by(n);
            }
        }
        let route_name = self.request.route_name(telemetry);
        if self.logged_in_full(telemetry) {
            self.log(route_name);
        }
        if let Some(exchange) = &self.request.access {
            exchange.audited(report);
        }
        let outcome = report.outcome;
        // Returns at once (no lock) unless the audit counted a failure and the ring is on.
        let failures = std::mem::take(&mut self.report.failures);
        telemetry.recent().record_taking(
            &Sighting {
                request_id: &self.request.request_id,
                method: self.request.method.as_str(),
                path: &self.request.path,
                route: route_name,
                status: self.status,
                report: self.report,
                max_failures: self.max_logged_failures,
            },
            failures,
        );
        // The outcome last: whoever saw this audit's outcome (a test waiting for it) sees its
        // entries, failures, bytes, log event and live-view record from then on. A scrape
        // running at the same time on another thread reads the entries first (name order)
        // and may see the outcome without them; the next one sees both.
        metrics
            .multistatus
            .with_label_values(&metrics.values(&[method, outcome.as_str()], route))
            .inc();
    }

    /// Partial failures identical to one logged in this interval are folded (`fold`).
    fn logged_in_full(&self, telemetry: &Telemetry) -> bool {
        let outcome = self.report.outcome;
        if !matches!(outcome, Outcome::PartialFailure | Outcome::FailureInSuccess) {
            return true;
        }
        telemetry.admit_failure(&super::fold::Sighting {
            client: self.request.client,
            method: self.request.method.as_str(),
            path: &self.request.path,
            outcome: outcome.as_str(),
            request_id: &self.request.request_id,
            report: self.report,
        })
    }

    fn log(&self, route: Option<&str>) {
        let report: &Report = self.report;
        let request = self.request;
        let failed: Vec<LoggedFailure<'_>> = report
            .failures
            .iter()
            .take(self.max_logged_failures)
            .map(LoggedFailure::from)
            .collect();
        macro_rules! event {
            ($level:expr, $message:literal) => {
                tracing::event!(
                    $level,
                    request_id = %request.request_id,
                    method = %request.method,
                    path = %SafePath(&request.path),
                    path_truncated = path::truncated(&request.path),
                    route,
                    status = self.status,
                    outcome = report.outcome.as_str(),
                    entries = report.entries,
                    failures = report.failure_count,
                    response_status = ?Structured(Counts(report, Level::Response)),
                    propstat_status = ?Structured(Counts(report, Level::Propstat)),
                    failed = ?Structured(&failed),
                    malformed_offset = report.malformed.as_ref().map(|m| m.offset),
                    malformed_reason = report.malformed.as_ref().map(|m| m.reason.as_str()),
                    limit = report.malformed.as_ref().and_then(|m| m.limit).map(|l| l.as_str()),
                    bytes = report.bytes,
                    unbound_prefixes = report.unbound_prefixes,
                    duration_ms = self.duration.as_millis() as u64,
                    $message,
                )
            };
        }
        match report.outcome {
            Outcome::PartialFailure => event!(tracing::Level::WARN, "multistatus partial failure"),
            Outcome::FailureInSuccess => event!(
                tracing::Level::WARN,
                "multistatus failure behind a success status"
            ),
            Outcome::Malformed => event!(tracing::Level::WARN, "multistatus body malformed"),
            Outcome::Lagging => event!(tracing::Level::WARN, "audit fell behind and stopped"),
            Outcome::Truncated => event!(tracing::Level::INFO, "multistatus body truncated"),
            Outcome::OverLimit => event!(tracing::Level::WARN, "audit stopped at a limit"),
            Outcome::DtdDeclarations => event!(
                tracing::Level::WARN,
                "multistatus body declares DTD entities or attributes the audit does not apply"
            ),
            Outcome::Clean | Outcome::NotMultistatus | Outcome::Skipped => {
                event!(tracing::Level::DEBUG, "multistatus audited")
            }
        }
    }
}

/// The counts of one level by code, a JSON object in the log record: `{"423": 1, "424": 2}`
/// (the keys are the codes as the metrics spell them, `invalid` included).
struct Counts<'a>(&'a Report, Level);

impl Serialize for Counts<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.statuses(self.1))
    }
}

/// One failing entry as the log record lists it (root causes before 424s: the scanner's
/// order). `code` is a number, `null` for a status line that is not a status (the metrics'
/// `invalid`); `error` and `description` only when the body has them.
#[derive(Serialize)]
struct LoggedFailure<'a> {
    href: &'a str,
    hrefs: &'a [String],
    href_count: u64,
    /// The property names of a failing propstat, Clark notation (`[]` at response level).
    props: &'a [String],
    prop_count: u64,
    level: Level,
    code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}

impl<'a> From<&'a Failure> for LoggedFailure<'a> {
    fn from(f: &'a Failure) -> Self {
        LoggedFailure {
            href: &f.href,
            hrefs: &f.hrefs,
            href_count: f.href_count,
            props: &f.props,
            prop_count: f.prop_count,
            level: f.level,
            code: match f.code {
                Code::Status(n) => Some(n),
                Code::Invalid => None,
            },
            error: f.error.as_deref(),
            description: f.description.as_deref(),
        }
    }
}
