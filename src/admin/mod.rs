//! The admin listener's service: `/metrics` (Prometheus text format), `/healthz` (the
//! process is alive) and `/readyz` (listening and not draining). It stays up while the proxy
//! drains, so the last scrape sees the final counters.
//!
//! Readiness does not follow the upstream, on purpose: every replica shares the one
//! upstream, so an outage would turn every pod unready at once, traffic would stop, and the
//! traffic-guarded alerts would fall silent with it. Serving on, clients get a prompt 502 and
//! the outage shows in `davaudit_upstream_up`, `davaudit_upstream_errors_total` and the
//! `DavauditUpstreamDown` alert. `/readyz` says in its body whether the upstream answered
//! the last probe.
//!
//! The live view (`live.rs`): `/` (a static HTML page, `ui.html`) and `/failures` (JSON of
//! the recent partial failures), on or off per `admin.ui`.
//!
//! Authentication (`auth.rs`): with `admin.token_file`, a bearer token on every path but the
//! probes; `admin.metrics_token_file` adds a token that opens `/metrics` only.

pub(crate) mod auth;
mod body;
mod live;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;

use crate::telemetry::Telemetry;
use crate::upstream::Readiness;
use crate::{config, plain};
pub(crate) use body::AdminBody;
use body::Renders;
use live::LiveView;

/// `/metrics` answers in flight at once (each at most the metric set's worst case, about
/// 2 MiB); more get 503.
const METRICS_IN_FLIGHT: usize = 8;
/// `/failures` answers in flight at once (each at most about 1 MiB); more get 503.
const FAILURES_IN_FLIGHT: usize = 4;

/// Which admin paths one listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `admin.listen` without `admin.live_listen`: every path.
    All,
    /// `admin.listen` with `admin.live_listen` set: `/metrics` and the probes, no live view.
    Metrics,
    /// `admin.live_listen`: the live view (`/`, `/failures`) only.
    Live,
}

/// What the admin endpoints read.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    telemetry: Telemetry,
    readiness: Readiness,
    /// Set when shutdown begins: `/readyz` turns 503 before the proxy stops accepting.
    draining: Arc<AtomicBool>,
    /// `/` and `/failures`; off unless [`Admin::with_live_view`] turned it on.
    live: LiveView,
    /// The bearer-token check (open until [`Admin::with_gate`] installs tokens).
    gate: auth::Gate,
    /// On a loopback admin address every path answers only to `localhost` or an IP-literal
    /// Host (DNS rebinding could otherwise let a web page read `/metrics`).
    local_hosts_only: bool,
    /// The paths this listener serves.
    role: Role,
    metrics_renders: Renders,
    failures_renders: Renders,
}

impl Admin {
    pub(crate) fn new(
        telemetry: Telemetry,
        readiness: Readiness,
        draining: Arc<AtomicBool>,
    ) -> Self {
        Admin {
            telemetry,
            readiness,
            draining,
            live: LiveView::Off("not configured"),
            gate: auth::Gate::default(),
            local_hosts_only: false,
            role: Role::All,
            metrics_renders: Renders::new(METRICS_IN_FLIGHT),
            failures_renders: Renders::new(FAILURES_IN_FLIGHT),
        }
    }

    /// Requires the tokens of `gate` (shared with the reloader, which swaps them).
    pub(crate) fn with_gate(mut self, gate: auth::Gate) -> Self {
        self.gate = gate;
        self
    }

    /// Serves the live view of the telemetry's ring at `/` and `/failures` when `admin.ui`
    /// allows it; on a loopback `admin.listen`, checks the Host of every request. With
    /// `admin.live_listen`, this is the `admin.listen` side: no live view (see [`Admin::live`]).
    pub(crate) fn with_live_view(mut self, admin: &config::Admin) -> Self {
        self.live = LiveView::new(self.telemetry.recent().clone(), admin);
        self.local_hosts_only = admin.listen.ip().is_loopback();
        if admin.live_listen.is_some() {
            self.role = Role::Metrics;
        }
        self
    }

    /// The service of `admin.live_listen`: the live view only, with the same tokens, and the
    /// Host check on a loopback `live_listen`.
    pub(crate) fn live(&self, admin: &config::Admin) -> Self {
        let mut live = self.clone();
        live.role = Role::Live;
        live.local_hosts_only = admin.live_address().ip().is_loopback();
        live
    }

    pub(crate) async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<AdminBody>, Infallible> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Ok(
                plain::response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
                    .map(AdminBody::from),
            );
        }
        if self.local_hosts_only && !live::local_host(&request) {
            return Ok(plain::response(
                StatusCode::FORBIDDEN,
                "this admin listener is on a loopback address and answers only to localhost \
                 or an IP address (DNS rebinding protection)\n",
            )
            .map(AdminBody::from));
        }
        if let Some(refused) = self.gate.check(request.uri().path(), request.headers()) {
            return Ok(refused.map(AdminBody::from));
        }
        let path = request.uri().path();
        let live_path = path == "/" || path == "/failures";
        match self.role {
            Role::Live if !live_path => {
                return Ok(plain::response(
                    StatusCode::NOT_FOUND,
                    "not found; this is admin.live_listen, the live view only: try / or \
                     /failures (/metrics and the probes are on admin.listen)\n",
                )
                .map(AdminBody::from));
            }
            Role::Metrics if live_path => {
                return Ok(plain::response(
                    StatusCode::NOT_FOUND,
                    "not found: the live view (/ and /failures) is served on \
                     admin.live_listen, not here\n",
                )
                .map(AdminBody::from));
            }
            Role::All | Role::Metrics | Role::Live => {}
        }
        let response = match path {
            "/metrics" => {
                let Some(permit) = self.metrics_renders.try_acquire() else {
                    return Ok(body::busy());
                };
                let text = self.telemetry.metrics().encode();
                let (body, gzipped) = match accepts_gzip(request.headers())
                    .then(|| gzip(&text))
                    .flatten()
                {
                    Some(compressed) => (compressed, true),
                    None => (text, false),
                };
                let mut response =
                    body::large(body, "text/plain; version=0.0.4; charset=utf-8", permit);
                let headers = response.headers_mut();
                headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
                if gzipped {
                    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                }
                return Ok(response);
            }
            "/healthz" => plain::response(StatusCode::OK, "ok\n"),
            "/readyz" => {
                if self.draining.load(Ordering::Relaxed) {
                    plain::response(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
                } else if !self.readiness.is_reachable() {
                    plain::response(
                        StatusCode::OK,
                        "ready; upstream unreachable at the last probe\n",
                    )
                } else {
                    plain::response(StatusCode::OK, "ready\n")
                }
            }
            "/" | "/failures" => return Ok(self.live.handle(&request, &self.failures_renders)),
            _ if self.live.is_on() && self.role == Role::All => plain::response(
                StatusCode::NOT_FOUND,
                "not found; try / (live view), /failures, /metrics, /healthz or /readyz\n",
            ),
            _ => plain::response(
                StatusCode::NOT_FOUND,
                "not found; try /metrics, /healthz or /readyz\n",
            ),
        };
        Ok(response.map(AdminBody::from))
    }
}

/// True when `Accept-Encoding` lists `gzip` (or `*`) with a non-zero weight.
fn accepts_gzip(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q == 0.0))
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// The exposition gzip-compressed (the text is ~10x smaller); `None` if compression fails.
fn gzip(text: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(text).ok()?;
    encoder.finish().ok()
}
