//! Upstream failures become responses here, and only here: 502 when the upstream cannot be
//! reached or answers garbage, 504 when it is too slow. A short plain-text body says which;
//! the event is logged and counted once, with the error kind as the label.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::telemetry::Metrics;
use crate::telemetry::events::{RequestContext, UpstreamRequestFailed};
use crate::upstream::{self, Kind};

/// The status a client gets for an upstream failure of this kind.
pub fn status_for(kind: Kind) -> StatusCode {
    match kind {
        Kind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        Kind::Connect | Kind::Reset | Kind::Protocol => StatusCode::BAD_GATEWAY,
    }
}

/// Logs and counts the failure, and returns the synthetic response.
pub fn respond(
    error: &upstream::Error,
    request: &RequestContext,
    duration: Duration,
    metrics: &Metrics,
) -> Response<Full<Bytes>> {
    let status = status_for(error.kind());
    UpstreamRequestFailed {
        request,
        error,
        status: status.as_u16(),
        duration,
    }
    .emit(metrics);
    let reason = match error.kind() {
        Kind::Connect => "davaudit could not connect to the upstream WebDAV server",
        Kind::Timeout => "the upstream WebDAV server did not answer in time",
        Kind::Reset => "the upstream WebDAV server closed the connection",
        Kind::Protocol => "the upstream WebDAV server sent an invalid response",
    };
    let body = format!(
        "{} {}: {reason} (request id {})\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        request.request_id
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
