//! davaudit integration tests: ONE test binary (`cargo test --test integration`), every test
//! starting its own servers in-process on 127.0.0.1:0. Fixtures live in `support/` (servers,
//! clients, scrapes, `Proxy::audited` to wait for audits, `process` for tests that need a
//! process of their own).
//!
//! Modules:
//! - `fixtures_selftest`: the fixtures tested on their own (no davaudit involved).
//! - `transparency`: every method round-trips; bodies/statuses byte-identical.
//! - `request_target`: a target's `#fragment` (which hyper drops) is refused, never forwarded.
//! - `forwarding`: hop-by-hop, X-Forwarded-*, Host, request id, Destination/If rewrite.
//! - `upstream_failures`: 502 connect, 504 response timeout, reset; counters by kind.
//! - `limits`: request body size (413), idle clients (408) and upstreams, connection limit.
//! - `hostile/`: one file per attack class (smuggling, slowloris, hang-ups, secrets, fds/RSS,
//!   header trust, forged headers, upstream framing, label cardinality, idle h2, h2 streams,
//!   bounded admin answers).
//! - `soak`: mixed faulty traffic, counters exact, fds/RSS flat (full run: tests/soak/run.sh).
//! - `audit_dav`: real partial failures from the dav server; counters == oracle.
//! - `failure_in_success`: multistatus failures under a 2xx other than 207 (#14).
//! - `audit_edge_cases`: encodings, 1-byte frames, malformed, truncated, lagging, huge.
//! - `content_codings`: zstd frames, raw deflate, coding lists, multi-member gzip.
//! - `access_log`: `log.access` lines against what the client did; `echo_request_id`.
//! - `observability`: connection, in-flight, reload, TLS and audit-wait metrics; WARN summaries.
//! - `admin`: /metrics, /healthz, /readyz; README metrics table matches.
//! - `admin_auth`: bearer tokens on the admin listener; probes open; reload re-reads them.
//! - `log_records`: JSON records typed and structured, text records logfmt, panics as one
//!   record (#16 item 6).
//! - `live_view`: `/failures` and `/` with real partial failures; survives a reload.
//! - `reload`: a new config for the next request, a bad one refused; TLS; SIGHUP.
//! - `routes`: the optional `route` label, the live view's route, routine rules per route.
//! - `shutdown`: in-flight requests finish; new connections refused; deadline.
//! - `cli`: `davaudit scan` / `check-config` via CARGO_BIN_EXE_davaudit.
//! - `demo`: `davaudit demo`'s headline case, a DELETE that leaves a pinned member behind.
//! - `cli_ops`: the operator's side of the binary: `healthcheck`, `--version`, overrides from
//!   flags and the environment, `check-config --quiet`, completions and man page.
//!
//! (Config errors and the corpus are tested in the library: `config::tests`,
//! `multistatus::tests`.)

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test, with its location"
)]

mod support;

mod access_log;
mod admin;
mod admin_auth;
mod audit_dav;
mod audit_edge_cases;
mod content_codings;
mod differential;
mod failure_in_success;
mod fixtures_selftest;
mod forwarding;
mod hostile;
mod limits;
mod live_view;
mod log_records;
mod observability;
mod reload;
mod request_target;
mod routes;
mod soak;
mod transparency;
mod upstream_failures;
// mod config;
mod shutdown;
// mod corpus;
mod cli;
mod cli_ops;
#[cfg(feature = "demo")]
mod demo;
