//! Checks of the effective config that involve more than one value, or a bound on a plain
//! number: each failure names the key to fix and says why.

use std::net::SocketAddr;

use super::{Config, MAX_RECENT_FAILURES, WhenBehind};

/// Smallest `audit.queue_bytes`: below it, ordinary frames would not fit and every 207 lags.
const MIN_QUEUE_BYTES: u64 = 64 << 10;
/// Smallest `audit.max_depth`: a multistatus needs 4 levels to reach a `DAV:status`.
const MIN_DEPTH: usize = 8;

/// Two listeners that cannot both bind: the same fixed port on the same (or any) address.
fn collides(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Checks that involve more than one value, or a bound on a plain number.
pub(super) fn validate(c: &Config) -> Result<(), (&'static str, String)> {
    let (a, b) = (c.listen, c.admin.listen);
    if collides(a, b) {
        return Err((
            "admin.listen",
            format!("{b} collides with listen ({a}): the admin listener needs its own port"),
        ));
    }
    if let Some(live) = c.admin.live_listen {
        for (other, addr) in [("listen", a), ("admin.listen", b)] {
            if collides(live, addr) {
                return Err((
                    "admin.live_listen",
                    format!(
                        "{live} collides with {other} ({addr}): the live view needs its own port"
                    ),
                ));
            }
        }
        if c.admin.ui == Some(false) {
            return Err((
                "admin.live_listen",
                "admin.ui is false, so there is no live view to serve here; remove one or the \
                 other"
                    .to_owned(),
            ));
        }
    }
    if c.admin.metrics_token_file.is_some() && c.admin.token_file.is_none() {
        return Err((
            "admin.metrics_token_file",
            "needs admin.token_file: without it the admin listener has no authentication, \
             so a metrics-only token would lock nothing"
                .to_owned(),
        ));
    }
    let https = c.upstream.url.scheme_str() == Some("https");
    let tls = &c.upstream.tls;
    if !https && tls.ca_file.is_some() {
        return Err((
            "upstream.tls.ca_file",
            "only used with an https upstream URL; remove it or use https://".to_owned(),
        ));
    }
    if !https && tls.insecure_skip_verify {
        return Err((
            "upstream.tls.insecure_skip_verify",
            "only used with an https upstream URL; remove it or use https://".to_owned(),
        ));
    }
    if tls.insecure_skip_verify && tls.ca_file.is_some() {
        return Err((
            "upstream.tls.insecure_skip_verify",
            "true makes upstream.tls.ca_file pointless: certificates are not verified; \
             set one or the other"
                .to_owned(),
        ));
    }
    if (c.audit.queue_bytes as u64) < MIN_QUEUE_BYTES {
        return Err((
            "audit.queue_bytes",
            "must be at least 64KiB (smaller queues make every large 207 lag)".to_owned(),
        ));
    }
    if c.audit.offload_after.is_some() && c.audit.when_behind == WhenBehind::Skip {
        return Err((
            "audit.offload_after",
            "only with audit.when_behind: wait (a moved audit with skip could fall behind the \
             stream and stop as lagging); remove it or set when_behind: wait"
                .to_owned(),
        ));
    }
    if c.audit.max_depth < MIN_DEPTH {
        return Err((
            "audit.max_depth",
            format!("must be at least {MIN_DEPTH} (a DAV:status sits 4 levels deep)"),
        ));
    }
    if c.audit.recent_failures > MAX_RECENT_FAILURES {
        return Err((
            "audit.recent_failures",
            format!("at most {MAX_RECENT_FAILURES} (the live view's ring; logs are the history)"),
        ));
    }
    for (key, n) in [
        ("limits.max_connections", c.limits.max_connections),
        (
            "limits.max_streams_per_connection",
            c.limits.max_streams_per_connection as usize,
        ),
        (
            "limits.max_upstream_requests",
            c.limits.max_upstream_requests,
        ),
        ("admin.max_connections", c.admin.max_connections),
    ] {
        if n == 0 {
            return Err((key, "must be at least 1".to_owned()));
        }
    }
    if c.limits.max_header_bytes > u32::MAX as usize {
        return Err((
            "limits.max_header_bytes",
            "at most 4GiB (it is also the h2 header list limit)".to_owned(),
        ));
    }
    if c.limits.max_header_bytes < 8192 {
        return Err((
            "limits.max_header_bytes",
            "must be at least 8KiB (ordinary WebDAV requests carry long If and Lock-Token headers)"
                .to_owned(),
        ));
    }
    if c.limits.max_request_body == Some(0) {
        return Err((
            "limits.max_request_body",
            "0 would refuse every request body; use null for no limit".to_owned(),
        ));
    }
    Ok(())
}
