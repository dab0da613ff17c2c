//! YAML in, a validated [`Config`] out; no I/O beyond reading the one file.
//!
//! Pipeline: text -> raw serde structs (`raw`, `deny_unknown_fields`, every key but
//! `upstream.url` defaulted) -> typed [`Config`]. Values are checked inside small newtype
//! `Deserialize` impls (`value`). The YAML is read into a tree, then into the raw structs
//! through serde_path_to_error (the key path); `locate` knows where each node sits (line,
//! column, from the parser's marks, block or flow style), for serde's errors and for the few
//! cross-field checks that run afterwards.
//! Errors read `FILE:LINE:COL: key.path: message` ([`Error`]).
//!
//! `config/davaudit.yaml` is the annotated reference: every key at its default, and why it
//! exists. [`Config`] serializes back to YAML (durations as `5s`, sizes as `4MiB`): that is
//! what `davaudit check-config` prints.
//!
//! Runtime modules receive their own section (`&config::Upstream`, `&config::Audit`), never
//! the whole `Config`.

#[cfg(test)]
mod design_tests;
mod error;
mod locate;
mod overrides;
mod raw;
mod routes;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_messages;
#[cfg(test)]
mod tests_routes;
mod validate;
mod value;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, Uri};
use serde::{Deserialize, Serialize, Serializer};

use crate::multistatus::Level;

pub use error::Error;
pub use overrides::{Override, OverrideKey};
pub use routes::{MAX_ROUTES, OTHER_ROUTE};
pub(crate) use value::parse_duration;

/// Reads `path` and parses it with [`from_yaml`], naming the file in errors as given.
pub fn load(path: &Path) -> Result<Config, Error> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|io| Error::Read {
        origin: origin.clone(),
        io,
    })?;
    from_yaml(&text, &origin)
}

/// Parses and validates a config document; `origin` names it in errors. No disk I/O.
pub fn from_yaml(text: &str, origin: &str) -> Result<Config, Error> {
    from_yaml_with(text, origin, &[])
}

/// [`load`] with `overrides` applied over the file (flag > environment > file > default);
/// without a file, the overrides apply over the defaults.
pub fn load_with(path: Option<&Path>, overrides: &[Override]) -> Result<Config, Error> {
    match path {
        Some(path) => {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|io| Error::Read {
                origin: origin.clone(),
                io,
            })?;
            from_yaml_with(&text, &origin, overrides)
        }
        None => build(
            raw::RawConfig::default(),
            &locate::Spots::default(),
            None,
            overrides,
        ),
    }
}

/// [`from_yaml`] with `overrides` applied over the document.
pub fn from_yaml_with(text: &str, origin: &str, overrides: &[Override]) -> Result<Config, Error> {
    let spots = locate::Spots::read(text);
    if let Some((key, spot)) = spots.duplicate() {
        return Err(error::duplicate(origin, key, spot));
    }
    // YAML to a tree first, then the tree to our structs: serde_yaml reports syntax errors
    // with a position, and errors from a tree are serde's bare messages, to which
    // serde_path_to_error adds the key path and `spots` the position.
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| error::syntax(origin, text, &spots, &e))?;
    let raw: Option<raw::RawConfig> = serde_path_to_error::deserialize(value)
        .map_err(|e| error::from_serde(origin, text, &spots, &e))?;
    build(raw.unwrap_or_default(), &spots, Some(origin), overrides)
}

fn build(
    mut raw: raw::RawConfig,
    spots: &locate::Spots,
    origin: Option<&str>,
    overrides: &[Override],
) -> Result<Config, Error> {
    for o in overrides {
        raw.apply(o)?;
    }
    raw.into_config(spots, origin, overrides)
}

/// The whole, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    /// Where clients connect (HTTP/1.1 and h2c). Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The WebDAV server requests are forwarded to.
    pub upstream: Upstream,
    /// The admin listener: `/metrics`, `/healthz`, `/readyz`.
    pub admin: Admin,
    /// Request rewrites on the way upstream.
    pub forwarding: Forwarding,
    /// What the 207 audit does and how much it may cost.
    pub audit: Audit,
    /// Log output.
    pub log: Log,
    /// Graceful shutdown.
    pub shutdown: Shutdown,
    /// Protection of the client side.
    pub limits: Limits,
    /// TLS on the client listener (rustls), for deployments without a TLS ingress.
    /// `None` (default): plain HTTP/1.1 and h2c.
    pub tls: Option<ListenTls>,
    /// Named path prefixes: the `route` label of the request and multistatus metrics, the
    /// `route` field of events and the live view. Empty (default): no `route` label at all.
    /// Fixed at start: a reload that changes it is reported as needing a restart.
    pub routes: Vec<Route>,
}

/// One entry of `routes`: requests whose path starts with `prefix` belong to route `name`
/// (the first matching entry wins; no match: `other`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// `[a-z][a-z0-9_-]*`, at most 32 bytes, not `other`; several entries may share a name.
    pub name: String,
    /// Starts with `/`; compared byte for byte with the request path as the client sent it
    /// (no percent-decoding, no normalisation).
    pub prefix: String,
}

/// `tls`: serve clients over TLS (HTTP/1.1 and h2 by ALPN). Reloaded on SIGHUP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenTls {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// `upstream`: the one WebDAV server davaudit forwards to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upstream {
    /// Origin only: scheme `http` or `https`, host, optional port; path empty or `/`.
    #[serde(serialize_with = "ser::uri")]
    pub url: Uri,
    /// TCP (and TLS) connect. Default 5s.
    #[serde(serialize_with = "ser::duration")]
    pub connect_timeout: Duration,
    /// From request sent to response headers received; 504 after it. Default 60s.
    #[serde(serialize_with = "ser::duration")]
    pub response_timeout: Duration,
    /// No body bytes in either direction for this long ends the exchange. Default 300s.
    #[serde(serialize_with = "ser::duration")]
    pub idle_timeout: Duration,
    /// An unused pooled connection is closed after this. Default 90s.
    #[serde(serialize_with = "ser::duration")]
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per upstream host. Default 32.
    pub pool_max_idle_per_host: usize,
    /// TLS to an `https` upstream.
    pub tls: UpstreamTls,
}

/// `upstream.tls`: only used with an `https` upstream URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamTls {
    /// PEM file of CA certificates trusted in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (testing only). Default false.
    pub insecure_skip_verify: bool,
}

/// `admin`: the metrics and health listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Admin {
    /// Default `127.0.0.1:9207` (loopback: metrics are not for the public).
    pub listen: SocketAddr,
    /// The live view (`/` and `/failures`): `None` (default) = on only when the address that
    /// serves it (`live_listen`, else `listen`) is a loopback address; `Some(true)` forces it
    /// on, `Some(false)` off. Hrefs can be sensitive.
    pub ui: Option<bool>,
    /// A listener of its own for the live view: `/` and `/failures` are served there only, and
    /// `listen` keeps `/metrics` and the probes. `None` (default): both on `listen`.
    pub live_listen: Option<SocketAddr>,
    /// A file holding the bearer token every admin path but `/healthz` and `/readyz` needs
    /// (re-read on reload). `None` (default): no authentication.
    pub token_file: Option<PathBuf>,
    /// A second token, accepted on `/metrics` only (for Prometheus). Needs `token_file`.
    pub metrics_token_file: Option<PathBuf>,
    /// Concurrent admin connections; more are refused. Default 256. Idle ones are closed
    /// after `min(limits.keepalive_timeout, 10s)`.
    pub max_connections: usize,
}

impl Admin {
    /// Whether the live view is served (see [`Admin::ui`]).
    pub fn ui_enabled(&self) -> bool {
        self.ui
            .unwrap_or_else(|| self.live_address().ip().is_loopback())
    }

    /// Where the live view is served: `live_listen`, else `listen`.
    pub fn live_address(&self) -> SocketAddr {
        self.live_listen.unwrap_or(self.listen)
    }
}

/// The largest `audit.recent_failures`: the ring is a live view, not a history.
pub const MAX_RECENT_FAILURES: usize = 10_000;

/// `forwarding`: what the proxy changes on the way upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forwarding {
    /// Rewrite COPY/MOVE `Destination` and `If` tagged URIs to the upstream origin. Default true.
    pub rewrite_destination: bool,
    /// Add `X-Forwarded-For`, `-Proto`, `-Host`. Default true.
    pub x_forwarded: bool,
    /// Add an RFC 7239 `Forwarded` header. Default false.
    pub forwarded: bool,
    /// Send the client's `Host` upstream instead of the upstream's. Default false.
    pub preserve_host: bool,
    /// Request id header: taken from the request or generated. Default `x-request-id`.
    #[serde(serialize_with = "ser::header_name")]
    pub request_id_header: HeaderName,
    /// Return the request id to the client in `request_id_header`, unless the upstream's
    /// response already has that header. Default false (transparency first).
    pub echo_request_id: bool,
}

/// `audit`: the 207 audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// Off: 207 bodies are forwarded and counted as outcome `skipped`. Default true.
    pub enabled: bool,
    /// Failing entries listed in a response's log event and live-view record; counts are never
    /// capped. Default 10.
    pub max_logged_failures: usize,
    /// Bytes in flight between the tee and the scanner. Default 4MiB, at least 64KiB.
    #[serde(serialize_with = "ser::size_usize")]
    pub queue_bytes: usize,
    /// What the forward stream does when the queue is full. Default `wait`.
    pub when_behind: WhenBehind,
    /// With `wait`: longest wait without scanner progress before the audit gives up. Default 1s.
    #[serde(serialize_with = "ser::duration")]
    pub stall_timeout: Duration,
    /// With `wait`: the audit of a body longer than this moves, once, to a worker with fewer
    /// connections, so one long stream's scanning and forwarding use two cores (faster alone
    /// on an idle machine, at a cross-thread wake-up per batch). `None` (default): every
    /// audit stays on its connection's worker.
    #[serde(serialize_with = "ser::size_opt")]
    pub offload_after: Option<u64>,
    /// `(method, level, code)` statuses that are not failures.
    pub routine: Vec<RoutineRule>,
    /// Bytes of text kept per field (href, description). Default 1KiB.
    #[serde(serialize_with = "ser::size_usize")]
    pub max_text: usize,
    /// Failure details kept per response. Default 100.
    pub max_failures_kept: usize,
    /// Deepest XML nesting whose names are kept: deeper skipped content (property values)
    /// is only counted, a deeper audited element ends the audit as `over_limit`. Default 256.
    pub max_depth: usize,
    /// Responses with failures kept for the live view (`/failures`); 0 keeps none. Default 200.
    pub recent_failures: usize,
}

/// `audit.when_behind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenBehind {
    /// Pace the forward stream to the scanner, up to `stall_timeout` without progress.
    Wait,
    /// Never slow the client: a full queue ends the audit as `lagging` at once.
    Skip,
}

/// One entry of `audit.routine`: statuses that are expected, not failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutineRule {
    /// Uppercase method names (yaml key `method`: one name or a list).
    #[serde(rename = "method")]
    pub methods: Vec<String>,
    /// Where the status sits: `response` or `propstat`.
    pub level: Level,
    /// The status code, `100..=999`.
    pub code: u16,
    /// Only for requests of this route (a name of `routes`, or `other`); `None`: every route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

impl RoutineRule {
    /// The one definition of the rules that apply when `audit.routine` is absent (DESIGN.md, "Audit semantics"); `crate::audit::policy` is the one matcher.
    pub fn defaults() -> Vec<RoutineRule> {
        let rule = |methods: &[&str], level, code| RoutineRule {
            methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            level,
            code,
            route: None,
        };
        vec![
            rule(&["PROPFIND", "REPORT", "SEARCH"], Level::Propstat, 404),
            rule(&["REPORT"], Level::Response, 404),
            rule(&["REPORT", "SEARCH"], Level::Response, 507),
        ]
    }
}

/// `log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Log {
    /// Default `json`.
    pub format: LogFormat,
    /// A tracing filter directive (`info`, `info,davaudit=debug`). Default `info`.
    pub level: String,
    /// One INFO line per exchange (target `davaudit::access`), whatever `level` says (unless
    /// `RUST_LOG` is set). Default false.
    pub access: bool,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// `shutdown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shutdown {
    /// After SIGTERM, in-flight requests get this long to finish. Default 30s.
    #[serde(serialize_with = "ser::duration")]
    pub drain_timeout: Duration,
}

/// `limits`: protection of the client side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Concurrent client connections; more are refused. Default 10000.
    pub max_connections: usize,
    /// Time a client gets to send the request headers (slowloris). Default 30s.
    #[serde(serialize_with = "ser::duration")]
    pub header_read_timeout: Duration,
    /// An idle keep-alive connection is closed after this. Default 75s.
    #[serde(serialize_with = "ser::duration")]
    pub keepalive_timeout: Duration,
    /// Larger request bodies get 413. `None` (default): unlimited.
    #[serde(serialize_with = "ser::size_opt")]
    pub max_request_body: Option<u64>,
    /// Largest request head (request line and headers); larger ones get 431. Default 64KiB.
    /// Also the h2 header list limit.
    #[serde(serialize_with = "ser::size_usize")]
    pub max_header_bytes: usize,
    /// Concurrent h2 streams per client connection (advertised; more are refused). Default 100.
    pub max_streams_per_connection: u32,
    /// Requests in flight to the upstream at once, over all connections; more get 503.
    /// Default 1024.
    pub max_upstream_requests: usize,
}

impl Config {
    /// All defaults, the given addresses and upstream, text logs: for `davaudit demo` and tests.
    pub fn demo(listen: SocketAddr, admin: SocketAddr, upstream: Uri) -> Config {
        let mut config = raw::RawConfig::default().into_parts(upstream);
        config.listen = listen;
        config.admin.listen = admin;
        config.log.format = LogFormat::Text;
        config
    }

    /// The effective config as YAML (what `check-config` prints).
    pub fn to_yaml(&self) -> String {
        // Plain structs, string keys, no nested enums: serialization cannot fail.
        serde_yaml::to_string(self).unwrap_or_else(|e| format!("# cannot serialize: {e}\n"))
    }
}

/// `serialize_with` helpers: the same spellings the parser accepts.
mod ser {
    use super::*;

    pub(super) fn duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::value::format_duration(*d))
    }

    pub(super) fn size_usize<S: Serializer>(n: &usize, s: S) -> Result<S::Ok, S::Error> {
        super::value::serialize_size(*n as u64, s)
    }

    pub(super) fn size_opt<S: Serializer>(n: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match n {
            Some(n) => super::value::serialize_size(*n, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn uri<S: Serializer>(u: &Uri, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(u)
    }

    pub(super) fn header_name<S: Serializer>(h: &HeaderName, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(h.as_str())
    }
}
