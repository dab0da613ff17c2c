//! Everything between "this response is a 207" and "a record exists".
//!
//! # Lifecycle
//!
//! [`Auditor::wrap`] looks at the response head. A 207 (any method), or a 4xx/5xx with an
//! XML body (Apache mod_dav answers some DELETE/COPY/MOVE with 424 and a multistatus body),
//! gets its body wrapped in a [`tee::TeeBody`]; anything else passes through untouched. The
//! tee forwards every frame and queues a clone for the audit task ([`task`]), spawned here
//! and owned by the response: it reads the queue, decodes ([`decode`]), scans
//! ([`crate::multistatus`]), classifies with the method's routine rules ([`policy`]) and emits
//! one telemetry event. When the body ends, is dropped by a departing client, or fails
//! upstream, the tee reports it once and the task finishes with `clean`/`partial_failure`/
//! `malformed`/`truncated`/`lagging`/`not_multistatus`. Nothing outlives its response.
//!
//! A 2xx other than 207 to a WebDAV method with an XML body (or none labelled and `<` first)
//! is read too (#14): only when it counted a failure is it reported, as `failure_in_success`
//! for a complete multistatus (the other outcomes as they are); a clean one says nothing.
//!
//! `wrap` never waits: it returns the wrapped response at once.

pub(crate) mod decode;
pub(crate) mod policy;
pub(crate) mod task;
pub(crate) mod tee;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, Response, StatusCode, header};
use http_body_util::Either;
use tracing::Instrument;

use crate::config::{self, WhenBehind};
use crate::multistatus::{self, Outcome, Report, Scanner};
use crate::telemetry::events::{MultistatusScanned, RequestContext};
use crate::telemetry::{Telemetry, access};
use policy::Policy;
use tee::{TeeBody, WhenFull};

/// A response body as the proxy forwards it: untouched, or through the tee.
pub(crate) type Body<B> = Either<B, TeeBody<B>>;

/// Test hooks; all off in production.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    /// Make the scanner sleep this long per chunk (proves `wait`/`skip`/stall behaviour).
    pub scan_delay: Option<Duration>,
}

/// Decides what to audit and starts the audit tasks. Built once at start.
#[derive(Debug, Clone)]
pub(crate) struct Auditor {
    settings: config::Audit,
    policy: Policy,
    telemetry: Telemetry,
    hooks: Hooks,
}

impl Auditor {
    pub(crate) fn new(settings: config::Audit, telemetry: Telemetry, hooks: Hooks) -> Self {
        Auditor {
            policy: Policy::new(&settings.routine),
            settings,
            telemetry,
            hooks,
        }
    }

    /// Wraps the response body in a tee when it should be audited. Returns at once.
    pub(crate) fn wrap<B>(
        &self,
        response: Response<B>,
        context: Arc<RequestContext>,
        started: Instant,
    ) -> Response<Body<B>>
    where
        B: http_body::Body<Data = bytes::Bytes> + Unpin + Send + 'static,
    {
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let xml = is_xml(content_type);
        // #14: a 2xx other than 207 to a WebDAV method may still carry a multistatus with
        // failures (Radicale's DELETE 200, Xandikos's MKCOL 201, lighttpd's COPY 200). Only
        // such a body with a failure is reported (`failure_in_success`); the rest is silent.
        let in_success =
            is_success_with_body(status) && may_answer_multistatus(context.method.as_str()) && xml;
        let unlabelled = content_type.is_none();
        let candidate = status == StatusCode::MULTI_STATUS
            || (status.as_u16() >= 400 && content_type.is_some() && xml)
            || in_success;
        if !candidate {
            return response.map(Either::Left);
        }
        let codings = decode::parse(
            response
                .headers()
                .get_all(header::CONTENT_ENCODING)
                .iter()
                .map(|v| v.as_bytes()),
        );
        // WebDAV client libraries parse a 207 whatever its label: a 207 sent as text/plain,
        // text/html or application/octet-stream is sniffed (read, and called `skipped` when
        // it shows no `DAV:response`).
        let sniffed = !xml && status == StatusCode::MULTI_STATUS && is_sniffable(content_type);
        let skip = !self.settings.enabled || !(xml || sniffed) || context.method == Method::HEAD;
        let Some(codings) = codings.filter(|_| !skip) else {
            if in_success {
                // Not a 207: nothing to say about a success the audit did not read.
                return response.map(Either::Left);
            }
            MultistatusScanned {
                request: &context,
                status: status.as_u16(),
                report: &mut Report::empty(Outcome::Skipped),
                max_logged_failures: 0,
                duration: started.elapsed(),
            }
            .emit(&self.telemetry);
            return response.map(Either::Left);
        };

        let when_full = match self.settings.when_behind {
            WhenBehind::Wait => WhenFull::Wait(self.settings.stall_timeout),
            WhenBehind::Skip => WhenFull::Skip,
        };
        let limits = scanner_limits(&self.settings);
        // Built before the head is taken apart: the charset is read in place, not copied.
        let scanner = Box::new(
            Scanner::new(
                self.policy
                    .classifier(context.method.as_str(), context.route_name(&self.telemetry)),
                limits,
            )
            .with_charset(charset_param(content_type)),
        );
        let (parts, body) = response.into_parts();
        let (tee, rx) = TeeBody::new(body, self.settings.queue_bytes, when_full);
        let tee = tee.metered(self.telemetry.metrics().audit_wait());
        let span = tracing::info_span!("audit", request_id = %context.request_id);
        // The access line waits for this audit's report (empty with `log.access` off).
        let access_part = access::Part::of(&context);
        let audit = task::AuditTask {
            rx,
            codings,
            scanner,
            context,
            status: status.as_u16(),
            started,
            telemetry: self.telemetry.clone(),
            max_logged_failures: self.settings.max_logged_failures,
            delay: self.hooks.scan_delay,
            sniffed,
            in_success: in_success.then_some(InSuccess {
                sniff_first_bytes: unlabelled,
            }),
            placing: task::Placing {
                // `skip` keeps the audit beside the forwarding: on another core it could fall
                // behind a faster stream and stop as `lagging` where it used to finish (the
                // config refuses the pair; a test config can still build it).
                offload_after: self
                    .settings
                    .offload_after
                    .filter(|_| matches!(when_full, WhenFull::Wait(_))),
                lump: u32::try_from(self.settings.queue_bytes / 4 * 3).unwrap_or(u32::MAX),
                turn: match when_full {
                    WhenFull::Skip => self.settings.queue_bytes.max(crate::workers::TURN_BYTES),
                    WhenFull::Wait(_) => crate::workers::TURN_BYTES,
                },
            },
        };
        tokio::spawn(
            async move {
                audit.run().await;
                drop(access_part);
            }
            .instrument(span),
        );
        Response::from_parts(parts, Either::Right(tee))
    }
}

/// The scanner's bounds for a proxied body. Failure details are built only for the failing
/// entries something shows: the log event and the live view list the first
/// `max_logged_failures` (the scanner's first `k` are the first `k` of an uncapped report), so
/// no more than that is ever materialised, whatever `max_failures_kept` allows
/// (`davaudit scan`, which prints the report, keeps `max_failures_kept`).
fn scanner_limits(settings: &config::Audit) -> multistatus::Limits {
    multistatus::Limits {
        max_depth: settings.max_depth,
        max_text: settings.max_text,
        max_failures: settings.max_failures_kept.min(settings.max_logged_failures),
    }
}

/// How a 2xx other than 207 is audited (#14, "failures behind a success").
#[derive(Debug, Clone, Copy)]
pub(crate) struct InSuccess {
    /// No `Content-Type`: read only when the first decoded bytes (after an optional UTF-8
    /// BOM and whitespace) are `<`.
    pub(crate) sniff_first_bytes: bool,
}

/// A 2xx other than 207 that may carry a body (not 204/205).
fn is_success_with_body(status: StatusCode) -> bool {
    status.is_success()
        && !matches!(
            status,
            StatusCode::MULTI_STATUS | StatusCode::NO_CONTENT | StatusCode::RESET_CONTENT
        )
}

/// Methods whose 2xx answer may hold a multistatus: DELETE and the WebDAV family of
/// `telemetry::labels` (RFC 4918, DeltaV, ordered collections, redirect references, ACL,
/// CalDAV, SEARCH, BIND, Exchange's B* methods). Never GET, HEAD, POST, PUT, OPTIONS, PATCH,
/// CONNECT, TRACE, an Exchange notification method or an unknown one: those cost nothing.
fn may_answer_multistatus(method: &str) -> bool {
    matches!(
        method,
        "DELETE"
            | "PROPFIND"
            | "PROPPATCH"
            | "MKCOL"
            | "COPY"
            | "MOVE"
            | "LOCK"
            | "UNLOCK"
            | "VERSION-CONTROL"
            | "REPORT"
            | "CHECKOUT"
            | "CHECKIN"
            | "UNCHECKOUT"
            | "MKWORKSPACE"
            | "UPDATE"
            | "LABEL"
            | "MERGE"
            | "MKACTIVITY"
            | "BASELINE-CONTROL"
            | "ORDERPATCH"
            | "MKREDIRECTREF"
            | "UPDATEREDIRECTREF"
            | "ACL"
            | "MKCALENDAR"
            | "SEARCH"
            | "BIND"
            | "UNBIND"
            | "REBIND"
            | "BCOPY"
            | "BDELETE"
            | "BMOVE"
            | "BPROPFIND"
            | "BPROPPATCH"
    )
}

/// Labels a 207 is sniffed under: generic types servers put on any body.
fn is_sniffable(content_type: Option<&str>) -> bool {
    let essence = essence(content_type.unwrap_or_default());
    ["text/plain", "text/html", "application/octet-stream"]
        .iter()
        .any(|label| essence.eq_ignore_ascii_case(label.as_bytes()))
}

/// The media type of a `Content-Type` value: the bytes before the first `;`, trimmed.
/// Header values read as `str` are ASCII (`HeaderValue::to_str`), so ASCII trimming is the
/// whole of it; bytes, not `str` patterns: this runs for every response.
fn essence(value: &str) -> &[u8] {
    let bytes = value.as_bytes();
    let end = bytes.iter().position(|&b| b == b';').unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or_default().trim_ascii()
}

/// The `charset` parameter of a `Content-Type` value, unquoted.
fn charset_param(content_type: Option<&str>) -> Option<&str> {
    let value = content_type?;
    let mut rest = value;
    // Each parameter follows a `;`; the first segment is the media type.
    while let Some(at) = rest.bytes().position(|b| b == b';') {
        rest = rest.get(at + 1..).unwrap_or_default();
        let param = rest
            .bytes()
            .position(|b| b == b';')
            .map_or(rest, |end| rest.get(..end).unwrap_or_default());
        let Some(eq) = param.bytes().position(|b| b == b'=') else {
            continue;
        };
        let name = param.get(..eq).unwrap_or_default();
        if name.trim_ascii().eq_ignore_ascii_case("charset") {
            let value = param.get(eq + 1..).unwrap_or_default();
            return Some(value.trim_ascii().trim_matches('"'));
        }
    }
    None
}

/// `application/xml`, `text/xml`, any `+xml` type, with any parameters; or no content type
/// at all (some servers omit it on 207s).
fn is_xml(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else {
        return true;
    };
    // Compared in place, case-insensitively: no lowercase copy per response.
    let essence = essence(value);
    essence.eq_ignore_ascii_case(b"application/xml")
        || essence.eq_ignore_ascii_case(b"text/xml")
        || essence
            .len()
            .checked_sub(4)
            .and_then(|at| essence.get(at..))
            .is_some_and(|suffix| suffix.eq_ignore_ascii_case(b"+xml"))
}

#[cfg(test)]
mod tests {
    use super::{
        charset_param, is_sniffable, is_success_with_body, is_xml, may_answer_multistatus,
    };
    use http::StatusCode;

    /// Whether `wrap` tees a response (deterministic: no audit needs to finish).
    async fn teed(method: &str, status: u16, content_type: Option<&str>) -> bool {
        use std::sync::Arc;

        use bytes::Bytes;
        use http_body_util::{Either, Full};

        use crate::telemetry::{Telemetry, events::RequestContext, labels};

        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        let config = crate::config::Config::demo(addr, addr, "http://127.0.0.1:1".parse().unwrap());
        let auditor = super::Auditor::new(config.audit, Telemetry::new(0), super::Hooks::default());
        let mut response = http::Response::builder().status(status);
        if let Some(ct) = content_type {
            response = response.header("content-type", ct);
        }
        let response = response
            .body(Full::new(Bytes::from_static(b"<multistatus/>")))
            .unwrap();
        let context = Arc::new(RequestContext {
            method: http::Method::from_bytes(method.as_bytes()).unwrap(),
            method_label: labels::method(method),
            route: None,
            path: crate::telemetry::context::RequestPath::from_static("/"),
            request_id: crate::telemetry::context::RequestId::from_static("r"),
            client: std::net::Ipv4Addr::LOCALHOST.into(),
            access: None,
        });
        let wrapped = auditor.wrap(response, context, std::time::Instant::now());
        matches!(wrapped.body(), Either::Right(_))
    }

    #[tokio::test]
    async fn get_put_post_options_answers_are_never_teed_webdav_successes_with_xml_are() {
        for method in ["GET", "PUT", "POST", "OPTIONS", "HEAD", "PATCH", "FOO"] {
            assert!(
                !teed(method, 200, Some("application/xml")).await,
                "{method}"
            );
            assert!(!teed(method, 200, None).await, "{method}");
        }
        assert!(teed("DELETE", 200, Some("text/xml; charset=utf-8")).await);
        assert!(teed("MKCOL", 201, None).await);
        assert!(teed("COPY", 200, None).await);
        assert!(!teed("COPY", 200, Some("text/plain")).await);
        assert!(!teed("DELETE", 204, None).await);
        assert!(!teed("MOVE", 301, Some("application/xml")).await);
        // A 207 stays audited whatever the method.
        assert!(teed("GET", 207, Some("application/xml")).await);
    }

    #[test]
    fn only_webdav_methods_answering_a_2xx_with_a_body_are_read_for_hidden_failures() {
        for method in [
            "DELETE",
            "COPY",
            "MOVE",
            "PROPPATCH",
            "MKCOL",
            "LOCK",
            "UNLOCK",
        ] {
            assert!(may_answer_multistatus(method), "{method}");
        }
        for method in ["REPORT", "MKCALENDAR", "BIND", "UNBIND", "REBIND", "ACL"] {
            assert!(may_answer_multistatus(method), "{method}");
        }
        for method in [
            "GET", "HEAD", "PUT", "POST", "OPTIONS", "PATCH", "delete", "FOO",
        ] {
            assert!(!may_answer_multistatus(method), "{method}");
        }
        assert!(is_success_with_body(StatusCode::OK));
        assert!(is_success_with_body(StatusCode::CREATED));
        assert!(!is_success_with_body(StatusCode::MULTI_STATUS));
        assert!(!is_success_with_body(StatusCode::NO_CONTENT));
        assert!(!is_success_with_body(StatusCode::MOVED_PERMANENTLY));
        assert!(!is_success_with_body(StatusCode::LOCKED));
    }

    #[test]
    fn failure_details_past_what_the_log_and_live_view_list_are_never_built() {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        let mut audit =
            crate::config::Config::demo(addr, addr, "http://127.0.0.1:1".parse().unwrap()).audit;
        audit.max_failures_kept = 100;
        audit.max_logged_failures = 10;
        assert_eq!(super::scanner_limits(&audit).max_failures, 10);
        audit.max_logged_failures = 0;
        assert_eq!(super::scanner_limits(&audit).max_failures, 0);
        audit.max_logged_failures = 500;
        assert_eq!(super::scanner_limits(&audit).max_failures, 100);
        assert_eq!(super::scanner_limits(&audit).max_text, audit.max_text);
        assert_eq!(super::scanner_limits(&audit).max_depth, audit.max_depth);
    }

    #[test]
    fn generic_labels_are_sniffed_others_are_not() {
        assert!(is_sniffable(Some("text/plain; charset=utf-8")));
        assert!(is_sniffable(Some("Text/HTML")));
        assert!(is_sniffable(Some("application/octet-stream")));
        assert!(!is_sniffable(Some("application/json")));
        assert!(!is_sniffable(None));
    }

    #[test]
    fn the_charset_parameter_is_read_unquoted_in_any_case() {
        assert_eq!(
            charset_param(Some("application/xml; Charset=\"UTF-16LE\"")),
            Some("UTF-16LE")
        );
        assert_eq!(charset_param(Some("text/xml;charset=utf-8")), Some("utf-8"));
        assert_eq!(charset_param(Some("text/xml")), None);
        assert_eq!(charset_param(None), None);
        assert_eq!(
            charset_param(Some("text/xml; q=1;  CHARSET = 'x' ;charset=no")),
            Some("'x'")
        );
        assert_eq!(charset_param(Some("text/xml; charset")), None);
        assert_eq!(charset_param(Some("text/xml;;charset=\"\"")), Some(""));
        assert_eq!(charset_param(Some("charset=utf-8")), None);
    }

    #[test]
    fn xml_content_types_are_recognised_with_parameters() {
        assert!(is_xml(None));
        assert!(is_xml(Some("application/xml; charset=\"utf-8\"")));
        assert!(is_xml(Some("Text/XML")));
        assert!(is_xml(Some("application/vnd.example+xml")));
        assert!(!is_xml(Some("text/html")));
        assert!(!is_xml(Some("application/json")));
        assert!(is_xml(Some(" Application/Atom+XML ; q=1")));
        assert!(!is_xml(Some("+xm")));
        assert!(!is_xml(Some("text/é+xm")));
        assert!(is_sniffable(Some("TEXT/Plain; charset=utf-8")));
        assert!(!is_sniffable(Some("text/plainer")));
        assert!(!is_sniffable(None));
    }
}
