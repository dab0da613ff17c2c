//! davaudit: a reverse proxy for WebDAV that audits `207 Multi-Status` responses.
//!
//! A 207 says "look inside": its XML body carries one status per resource. Load balancers
//! count it as a success, so a DELETE that left a locked file behind, or a PROPPATCH that was
//! refused, stays hidden. davaudit forwards every request and response unchanged and
//! streaming, reads each 207 body on the side, and turns the statuses inside into metrics and
//! one log event per partial failure.
//!
//! # Data path
//!
//! ```text
//! client ─► listener ─► proxy ─► upstream ─► response
//!                        │                     │ 207 or XML error body?
//!                        │ 400/413/502/504     ▼
//!                        │ (proxy::rescue)  audit: TeeBody ──frames──► client (unchanged)
//!                        │                     │ Bytes clones, bounded queue
//!                        │                     ▼
//!                        │                  audit task: decode ─► multistatus::Scanner
//!                        │                     │ Report (counts, failing counts, failures)
//!                        ▼                     ▼
//!                  telemetry::Telemetry: typed events ─► metrics (/metrics), one log event,
//!                                        the live view's ring (/failures)
//! ```
//!
//! Every module reports to one [`telemetry::Telemetry`] handle; the audit knows events, not
//! where they go. The scanner and the tee depend on nothing else in the crate.
//!
//! # Modules, in flow order
//!
//! - [`cli`]: the commands users type (`serve`, `check-config`, `scan`, `demo`,
//!   `healthcheck`; `completions` and `man` generated from the same definition).
//! - [`config`]: YAML in, a validated [`config::Config`] out; the default routine rules.
//! - [`app`]: wiring: builds every part, binds both listeners, returns [`Running`].
//! - [`descriptors`]: the soft `RLIMIT_NOFILE` raised at start; connection limits fitted to it.
//! - [`listener`]: accept loop (HTTP/1.1 + h2c, or TLS via [`tls`]), graceful drain; each
//!   proxy connection handed to a [`workers`] thread; response bodies written in few writes.
//! - [`workers`]: one current-thread runtime per core; a connection and all it starts live
//!   on one (a long body's audit may move once to a less busy one).
//! - [`activity`]: requests in flight per connection; idle connections closed (GOAWAY).
//! - [`fragment`]: the request target's `#fragment` hyper drops, seen on the connection's
//!   bytes so the proxy can refuse the request (400) rather than forward another one.
//! - [`shutdown`]: the shutdown signal and token.
//! - [`proxy`]: one request in, one response out; headers, Destination rewrite, 502/504.
//! - [`upstream`]: pooled client to the WebDAV server, timeouts, error kinds, readiness.
//! - [`tls`]: rustls on both legs: the listener's acceptor, the upstream client config.
//! - [`body`]: idle timeouts and the request size limit on both legs' bodies.
//! - [`audit`]: tee, decode, audit task; `audit::policy`, the one routine-rule matcher.
//! - [`multistatus`]: the sans-io scanner; no HTTP, no logging, no metrics.
//! - [`telemetry`]: the sink behind one handle: metrics registry, the live view's ring of
//!   recent failures (`telemetry::recent`), typed events, logging set-up, the access log
//!   (`telemetry::access`: one line per exchange, written when its body and audit end).
//! - [`admin`]: `/metrics`, `/healthz`, `/readyz`; the live view `/` and `/failures`.
//! - [`error`] (walking an error's causes) and [`plain`] (plain-text responses): helpers.
//!
//! # Public surface
//!
//! Modules are crate-private except [`config`] and [`multistatus`]. The binary calls
//! [`main`]; the integration tests start davaudit with [`run`] / [`run_with_hooks`] and get a
//! [`Running`]; the benches and fuzz targets reach the pure pieces through `internals`.
//!
//! # Lexicon
//!
//! *downstream*: the client side. *upstream*: the WebDAV server davaudit forwards to.
//! *entry*: one `DAV:response`. *level*: `response` or `propstat`. *code*: a 3-digit status
//! or `invalid`. *failure*: a code >= 400 that no *routine* rule excuses. *outcome*: how the
//! audit of one body ended. *tee*: the body wrapper that copies frames to the audit.
//! *drain*: letting in-flight requests finish on shutdown.
//!
//! # Invariants
//!
//! - Transparent: the client gets the upstream's status, headers (minus hop-by-hop) and body
//!   bytes unchanged.
//! - Bounded: memory per connection does not grow with the body size.
//! - The audit never breaks forwarding: it may pace the stream for at most
//!   `audit.stall_timeout` without progress, then it gives up as `lagging`.
//!
//! `DESIGN.md` at the repository root is the design and contract document: audit semantics,
//! and the CLI, config keys, metrics, log events, admin paths and exit codes operators rely on.

// The map above links private modules: it is for contributors, who read it with
// `cargo doc --document-private-items`; in the public docs the links are plain names.
#![allow(rustdoc::private_intra_doc_links)]

// Every module is crate-private but the two library surfaces, `config` (the config contract:
// YAML in, a checked `Config` out) and `multistatus` (the sans-io scanner), so the compiler
// flags dead code. What else leaves the crate is re-exported below, on purpose.
pub(crate) mod activity;
pub(crate) mod admin;
pub(crate) mod app;
pub(crate) mod audit;
pub(crate) mod body;
pub(crate) mod cli;
pub mod config;
pub(crate) mod descriptors;
pub(crate) mod error;
pub(crate) mod fragment;
pub(crate) mod listener;
pub mod multistatus;
pub(crate) mod plain;
pub(crate) mod proxy;
pub(crate) mod shutdown;
pub(crate) mod telemetry;
pub(crate) mod tls;
pub(crate) mod upstream;
pub(crate) mod workers;

#[cfg(test)]
mod dependency_tests;

// The binary's entry point.
pub use cli::main;
// Starting davaudit as `main` does: the integration tests.
pub use app::{Error, Reloader, Running, run, run_with_hooks, run_with_workers};
pub use audit::Hooks;

/// The pure pieces the benchmarks measure and the fuzz targets drive; not an API.
#[doc(hidden)]
pub mod internals {
    pub use crate::audit::decode::{Decoder, parse as parse_content_codings};
    pub use crate::audit::tee::{Message, TeeBody, WhenFull};
    pub use crate::proxy::destination::{Origin, rewrite_destination, rewrite_if};
    pub use crate::proxy::headers::{
        Downstream, add_forwarded, add_x_forwarded, remove_hop_by_hop, request_id,
    };
    pub use crate::telemetry::labels::{OTHER_METHOD, all_methods as method_labels};
    pub use crate::telemetry::logging::{LogLayer, init as init_logging};
}
