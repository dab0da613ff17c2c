//! Tested as an attacker would: hostile clients, upstreams and networks, one file per attack
//! class. Each attack is loopback only, bounded in count and time.
//!
//! - `smuggling`: conflicting or obfuscated framing, obs-fold, bare CR/LF, broken chunks.
//! - `slow_clients`: oversized heads (431) and slowloris (half heads, silence, trickles).
//! - `hang_ups`: upstreams hanging up: no replay, stale pooled connections, one safe retry.
//! - `pool`: the upstream pool: unasked responses, `Connection: close` kept open, early answers.
//! - `exposure`: secrets kept out of the logs; loopback defaults.
//! - `resources`: fds and RSS back to baseline after a burst of faults (own process).
//! - `header_trust`: X-Forwarded-Host, Connection-named fields, Host count.
//! - `headers`: forged Forwarded/X-Forwarded-*, user info in targets, CONNECT.
//! - `fragments`: the `#fragment` guard: records pushed out, pipelined look-alikes.
//! - `framing`: a hostile upstream's framing (Content-Length beside chunked).
//! - `cardinality`: an upstream choosing status codes cannot grow the label set.
//! - `idle`: idle h2c connections closed with GOAWAY on both listeners.
//! - `streams`: h2 streams per connection, upstream requests in flight, h2 header list, streams
//!   granted no flow-control window.
//! - `certificates`: certificate chains with stray blocks, at start, reload and check-config.
//! - `descriptors`: a low RLIMIT_NOFILE: soft raised, limits fitted, /healthz answers.
//! - `workers`: a decompression bomb on a worker shared with other connections.
//! - `admin`: /failures bounded in size and readers; Host check on a loopback admin.

mod admin;
mod cardinality;
mod certificates;
mod descriptors;
mod exposure;
mod fragments;
mod framing;
mod hang_ups;
mod header_trust;
mod headers;
mod idle;
mod pool;
mod resources;
mod slow_clients;
mod smuggling;
mod streams;
mod workers;

use crate::support::{FakeUpstream, Reply};

/// An upstream whose answer names the request it answers, so a response that belongs to
/// another request (a desync) shows.
pub(super) async fn echo_upstream() -> FakeUpstream {
    FakeUpstream::start(|r| Reply::ok(format!("{} {}", r.method, r.uri.path()))).await
}
