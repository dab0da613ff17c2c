//! Upstream failures become responses here, and only here: 502 when the upstream cannot be
//! reached or answers garbage, 504 when it is too slow. A short plain-text body says which;
//! the event is logged and counted once, with the error kind as the label.

use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use crate::telemetry::Telemetry;
use crate::telemetry::events::{RequestBodyFailed, RequestContext, UpstreamRequestFailed};
use crate::upstream::{self, Kind};
use crate::{body, plain};

/// The status a client gets for an upstream failure of this kind.
pub(crate) fn status_for(kind: Kind) -> StatusCode {
    match kind {
        Kind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        Kind::Connect | Kind::Reset | Kind::Protocol => StatusCode::BAD_GATEWAY,
    }
}

/// Logs and counts the failure, and returns the synthetic response.
pub(crate) fn respond(
    error: &upstream::Error,
    request: &RequestContext,
    duration: Duration,
    telemetry: &Telemetry,
) -> Response<Full<Bytes>> {
    let status = status_for(error.kind());
    UpstreamRequestFailed {
        request,
        error,
        status: status.as_u16(),
        duration,
    }
    .emit(telemetry);
    let reason = match error.kind() {
        Kind::Connect => "davaudit could not connect to the upstream WebDAV server",
        Kind::Timeout => "the upstream WebDAV server did not answer in time",
        Kind::Reset => "the upstream WebDAV server closed the connection",
        Kind::Protocol => "the upstream WebDAV server sent an invalid response",
    };
    text(status, reason, request)
}

/// The client's own request body ended the exchange: 413 (over `limits.max_request_body`),
/// 408 (idle), 400 (broken upload). Logged, not counted as an upstream error.
pub(crate) fn respond_request_body(
    error: &body::Error,
    request: &RequestContext,
) -> Response<Full<Bytes>> {
    let (status, reason) = match error {
        body::Error::TooLarge { .. } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is larger than this proxy accepts",
        ),
        body::Error::Idle(_) => (
            StatusCode::REQUEST_TIMEOUT,
            "the request body stopped arriving",
        ),
        body::Error::Inner(_) => (StatusCode::BAD_REQUEST, "the request body was cut off"),
    };
    RequestBodyFailed {
        request,
        status: status.as_u16(),
        error,
    }
    .emit();
    text(status, reason, request)
}

/// 413 before anything is sent upstream: the declared Content-Length is over the limit.
pub(crate) fn too_large(limit: u64, request: &RequestContext) -> Response<Full<Bytes>> {
    respond_request_body(&body::Error::TooLarge { limit }, request)
}

/// 400 for a request davaudit refuses to forward as it is (not logged: a client error).
pub(crate) fn bad_request(reason: &str) -> Response<Full<Bytes>> {
    plain::response(
        StatusCode::BAD_REQUEST,
        format!("400 Bad Request: {reason}\n"),
    )
}

/// 400 for a request target with a `#fragment` (`crate::fragment`), closing the connection.
pub(crate) fn fragment() -> Response<Full<Bytes>> {
    let mut response =
        bad_request("a request target cannot carry a #fragment (RFC 9112 section 3.2)");
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

/// 503 when `limits.max_upstream_requests` are in flight; nothing is sent upstream.
pub(crate) fn upstream_busy() -> Response<Full<Bytes>> {
    let mut response = plain::response(
        StatusCode::SERVICE_UNAVAILABLE,
        "503 Service Unavailable: too many requests in flight to the upstream; retry\n".to_owned(),
    );
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    response
}

/// 501 for a method davaudit does not forward (`CONNECT`); nothing is sent upstream.
pub(crate) fn not_implemented(reason: &str) -> Response<Full<Bytes>> {
    plain::response(
        StatusCode::NOT_IMPLEMENTED,
        format!("501 Not Implemented: {reason}\n"),
    )
}

fn text(status: StatusCode, reason: &str, request: &RequestContext) -> Response<Full<Bytes>> {
    let body = format!(
        "{} {}: {reason} (request id {})\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        request.request_id
    );
    plain::response(status, body)
}
