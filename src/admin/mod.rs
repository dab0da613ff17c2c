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
mod live;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::telemetry::Telemetry;
use crate::upstream::Readiness;
use crate::{config, plain};
use live::LiveView;

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
        }
    }

    /// Requires the tokens of `gate` (shared with the reloader, which swaps them).
    pub(crate) fn with_gate(mut self, gate: auth::Gate) -> Self {
        self.gate = gate;
        self
    }

    /// Serves the live view of the telemetry's ring at `/` and `/failures` when `admin.ui`
    /// allows it.
    pub(crate) fn with_live_view(mut self, admin: &config::Admin) -> Self {
        self.live = LiveView::new(self.telemetry.recent().clone(), admin);
        self
    }

    pub(crate) async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Ok(plain::response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed\n",
            ));
        }
        if let Some(refused) = self.gate.check(request.uri().path(), request.headers()) {
            return Ok(refused);
        }
        let response = match request.uri().path() {
            "/metrics" => {
                let text = self.telemetry.metrics().encode();
                let (body, gzipped) = match accepts_gzip(request.headers())
                    .then(|| gzip(&text))
                    .flatten()
                {
                    Some(compressed) => (compressed, true),
                    None => (text, false),
                };
                let mut response = Response::new(Full::new(Bytes::from(body)));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
                if gzipped {
                    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                }
                response
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
            "/" | "/failures" => self.live.handle(&request),
            _ if self.live.is_on() => plain::response(
                StatusCode::NOT_FOUND,
                "not found; try / (live view), /failures, /metrics, /healthz or /readyz\n",
            ),
            _ => plain::response(
                StatusCode::NOT_FOUND,
                "not found; try /metrics, /healthz or /readyz\n",
            ),
        };
        Ok(response)
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
