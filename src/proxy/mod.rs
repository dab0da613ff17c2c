//! The proxy handler: one request in, one response out.
//!
//! [`Proxy::handle`] reads as the steps it takes: prepare the headers ([`headers`]), rewrite
//! `Destination`/`If` ([`destination`]), send upstream with the response-header timeout
//! ([`crate::upstream`]), on error answer 502/504 ([`rescue`]), on success hand the response
//! to the audit ([`crate::audit::Auditor::wrap`]), and count the top-level status. Bodies stream in
//! both directions; nothing here buffers or reads them.

pub(crate) mod destination;
pub(crate) mod headers;
pub(crate) mod rescue;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, Uri, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::audit::{self, Auditor};
use crate::body::watch::Watched;
use crate::body::{self, Failure, OnFailure, RequestBody, ResponseBody};
use crate::telemetry::context::RequestPath;
use crate::telemetry::events::{RequestContext, RequestFinished, UpstreamBodyFailed};
use crate::telemetry::routes::RouteLabel;
use crate::telemetry::{Telemetry, access, labels};
use crate::upstream::{self, Upstream};
use crate::{config, fragment};
use destination::Origin;
use headers::Downstream;

/// The response body davaudit sends: the upstream's (guarded by the idle timeout, maybe
/// tee'd to the audit), or a short synthetic one (502, 504, 413, ...).
/// Counted for the access log on the way out. On h2, watched as a whole (`body::watch`): a
/// stream the client grants no window is given up after the idle timeout, ending the access
/// line and the audit as a client that stops reading does.
pub(crate) type ProxyBody = Watched<CountedBody>;

/// The response body counted for the access log, before the watch.
type CountedBody = access::Body<Either<audit::Body<UpstreamBody>, Full<Bytes>>>;

/// The upstream's response body behind the idle guard, reporting a failure mid-body once.
pub(crate) type UpstreamBody = ResponseBody<upstream::Body, FailureReport>;

/// What the handler needs from the config, copied out once at start.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub forwarding: config::Forwarding,
    /// `limits.max_request_body`.
    pub max_request_body: Option<u64>,
    /// `upstream.idle_timeout`, for both bodies.
    pub idle_timeout: Duration,
    /// `http` or `https`: what the proxy socket speaks (TLS as bound at start, whatever a
    /// reload says: turning TLS on or off needs a restart).
    pub scheme: &'static str,
    /// `limits.max_upstream_requests` permits, shared across reloads.
    pub upstream_slots: Arc<Semaphore>,
    /// `log.access`: one line per exchange.
    pub access_log: bool,
}

/// Everything one request needs, built once at start and shared by every connection.
#[derive(Debug)]
pub(crate) struct Proxy {
    upstream: Upstream,
    upstream_origin: Origin,
    forwarding: config::Forwarding,
    max_request_body: Option<u64>,
    idle_timeout: Duration,
    auditor: Auditor,
    telemetry: Telemetry,
    /// `http` or `https`: how clients reach this listener.
    scheme: &'static str,
    /// The upstream's `Host` value, built once.
    upstream_host: Option<HeaderValue>,
    /// One permit per request in flight upstream, held until its response body ends.
    upstream_slots: Arc<Semaphore>,
    /// `log.access`.
    access_log: bool,
}

impl Proxy {
    pub(crate) fn new(
        upstream: Upstream,
        settings: Settings,
        auditor: Auditor,
        telemetry: Telemetry,
    ) -> Self {
        let upstream_origin = Origin::of(upstream.origin())
            .expect("config validated the upstream URL as http(s) with a host");
        let upstream_host = upstream
            .origin()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
        Proxy {
            upstream_host,
            upstream,
            upstream_origin,
            forwarding: settings.forwarding,
            max_request_body: settings.max_request_body,
            idle_timeout: settings.idle_timeout,
            auditor,
            telemetry,
            scheme: settings.scheme,
            upstream_slots: settings.upstream_slots,
            access_log: settings.access_log,
        }
    }

    /// Proxies one request. Never fails: upstream errors become 502/504 responses, request
    /// body errors 413/408/400.
    pub(crate) async fn handle(
        &self,
        mut request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let started = Instant::now();
        let _in_flight = self.telemetry.metrics().request_started();
        // The path as the client sent it, before anything else: refused requests count by
        // route too.
        let route = self.telemetry.routes().resolve(request.uri().path());
        let refused = if let Some(reason) = invalid_host(&request) {
            Err(rescue::bad_request(reason))
        } else if fragment::dropped(&request) {
            // hyper gave the target without its `#fragment`: forwarded, it would name another
            // resource (`DELETE /coll/#x` would delete `/coll/`). The connection closes with
            // the answer: a request pipelined behind it is never matched against a record
            // that was not its own (`fragment`).
            Err(rescue::fragment())
        } else if request.method() == http::Method::CONNECT {
            // A tunnel request: davaudit is a reverse proxy and has no tunnel to give. Sent
            // upstream, it would get the client no answer (or open a tunnel to who knows what).
            Err(rescue::not_implemented(
                "davaudit does not tunnel CONNECT requests",
            ))
        } else {
            // Bounds upstream work (and sockets) whatever the clients do: h2 multiplies each
            // connection by its streams. Refused at once, never queued.
            self.upstream_slots
                .clone()
                .try_acquire_owned()
                .map_err(|_| {
                    self.telemetry.metrics().upstream_busy.inc();
                    rescue::upstream_busy()
                })
        };
        let slot = match refused {
            Ok(slot) => slot,
            Err(response) => return Ok(self.refuse(request, peer, started, route, response)),
        };
        // Before `prepare` rewrites the version for the upstream.
        let h2 = request.version() == Version::HTTP_2;
        let context = Arc::new(self.prepare(&mut request, peer, started, route));
        // The access line's first part: dropped here if the client leaves before the headers.
        let open = access::Open::new(&context);
        let method = context.method_label;
        let response = match self.send(request, &context).await {
            Ok(mut response) => {
                headers::prepare_response(response.headers_mut());
                let response = self.guard(response, &context, slot);
                self.auditor
                    .wrap(response, context.clone(), started)
                    .map(Either::Left)
            }
            Err(Rejected::TooLarge(limit)) => rescue::too_large(limit, &context).map(Either::Right),
            Err(Rejected::Upstream(error)) => match error.request_body() {
                Some(body_error) => {
                    rescue::respond_request_body(body_error, &context).map(Either::Right)
                }
                None => rescue::respond(&error, &context, started.elapsed(), &self.telemetry)
                    .map(Either::Right),
            },
        };
        RequestFinished {
            method,
            route,
            status: response.status().as_u16(),
            duration: started.elapsed(),
        }
        .emit(&self.telemetry);
        let response = self.finish(response, &context, open);
        Ok(response.map(|body| {
            if h2 {
                Watched::watch(body, self.idle_timeout)
            } else {
                Watched::plain(body)
            }
        }))
    }

    /// A request answered by davaudit itself before anything went upstream (400, 501, 503):
    /// counted, and with `log.access` or `forwarding.echo_request_id` on, given a request id.
    /// Never watched: it holds no upstream slot.
    fn refuse(
        &self,
        mut request: Request<Incoming>,
        peer: SocketAddr,
        started: Instant,
        route: Option<RouteLabel>,
        response: Response<Full<Bytes>>,
    ) -> Response<ProxyBody> {
        RequestFinished {
            method: labels::method(request.method().as_str()),
            route,
            status: response.status().as_u16(),
            duration: started.elapsed(),
        }
        .emit(&self.telemetry);
        let response = response.map(Either::Right);
        if !self.access_log && !self.forwarding.echo_request_id {
            return access::Open::none().respond(response).map(Watched::plain);
        }
        let request_id =
            headers::take_request_id(request.headers_mut(), &self.forwarding.request_id_header);
        let context = Arc::new(RequestContext {
            method: request.method().clone(),
            method_label: labels::method(request.method().as_str()),
            route,
            path: RequestPath::of(request.uri()),
            request_id,
            client: peer.ip(),
            access: self.access_log.then(|| {
                let route = route.map(|r| self.telemetry.routes().name(r));
                Box::new(access::Exchange::new(
                    started,
                    peer,
                    request.headers(),
                    route,
                ))
            }),
        });
        let open = access::Open::new(&context);
        self.finish(response, &context, open).map(Watched::plain)
    }

    /// The response as the client gets it: the request id echoed when configured, the body
    /// counted for the access log.
    fn finish(
        &self,
        mut response: Response<Either<audit::Body<UpstreamBody>, Full<Bytes>>>,
        context: &RequestContext,
        open: access::Open,
    ) -> Response<CountedBody> {
        if self.forwarding.echo_request_id {
            headers::echo_request_id(
                response.headers_mut(),
                &self.forwarding.request_id_header,
                &context.request_id,
            );
        }
        open.respond(response)
    }

    /// Sends the request upstream with its body guarded (size limit, idle timeout). A declared
    /// `Content-Length` over the limit is refused before anything is sent.
    async fn send(
        &self,
        request: Request<Incoming>,
        context: &RequestContext,
    ) -> Result<Response<upstream::Body>, Rejected> {
        if let Some(limit) = self.max_request_body {
            let declared = request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|len| len > limit) {
                return Err(Rejected::TooLarge(limit));
            }
        }
        // A safe request without a body can be sent again if the upstream drops it unanswered
        // (a pooled connection closing just as the request was written). Nothing else is
        // ever replayed: not a PUT, DELETE, MOVE, COPY, PROPPATCH or LOCK, nor a request
        // whose body bytes went out.
        let replay = (is_safe(request.method()) && http_body::Body::is_end_stream(request.body()))
            .then(|| {
                let mut again = Request::new(());
                *again.method_mut() = request.method().clone();
                *again.uri_mut() = request.uri().clone();
                *again.version_mut() = request.version();
                *again.headers_mut() = request.headers().clone();
                again
            });
        let tally = context.access.as_ref().map(|x| x.request_bytes());
        let request = request.map(|body| {
            RequestBody::new(body, self.max_request_body, self.idle_timeout).with_tally(tally)
        });
        match self.upstream.send(request).await {
            Err(error) if error.kind() == upstream::Kind::Reset && replay.is_some() => {
                tracing::debug!(%error, "upstream dropped a safe request unanswered; sending it once more");
                self.telemetry.metrics().upstream_retries.inc();
                let again = replay
                    .map(|r| r.map(|()| RequestBody::empty(self.idle_timeout)))
                    .expect("checked is_some");
                self.upstream.send(again).await.map_err(Rejected::Upstream)
            }
            result => result.map_err(Rejected::Upstream),
        }
    }

    /// Wraps the upstream's body in the idle guard, which reports a failure mid-body once.
    /// The body also holds the request's upstream slot until its upstream connection is free
    /// again: the body ended and the request was all sent (an upstream may answer an upload
    /// before reading it), or the body failed or was abandoned by the client.
    fn guard(
        &self,
        mut response: Response<upstream::Body>,
        context: &Arc<RequestContext>,
        slot: OwnedSemaphorePermit,
    ) -> Response<UpstreamBody> {
        response.body_mut().hold_until_free(slot);
        let report = FailureReport {
            status: response.status().as_u16(),
            telemetry: self.telemetry.clone(),
            context: context.clone(),
        };
        let idle = self.idle_timeout;
        response.map(move |body| ResponseBody::new(body, idle, report))
    }

    /// Turns the client's request into the upstream request, in place, and returns the
    /// context the audit and the logs carry.
    fn prepare(
        &self,
        request: &mut Request<Incoming>,
        peer: SocketAddr,
        started: Instant,
        route: Option<RouteLabel>,
    ) -> RequestContext {
        let public = PublicHost::of(&*request);
        let public_host = public.as_ref().map(PublicHost::as_str);
        let forwarding = &self.forwarding;
        // The path before the target becomes the upstream's (shares the request's bytes).
        let path = RequestPath::of(request.uri());
        let headers = request.headers_mut();
        headers::remove_hop_by_hop(headers);
        let downstream = Downstream {
            peer,
            scheme: self.scheme,
            host: public_host,
        };
        // Both families say the same thing, and an upstream may read either: once davaudit
        // speaks for the client in one, the client's own claims in the other are dropped.
        // With both off davaudit leaves both alone (it sits behind a proxy that sets them).
        if forwarding.x_forwarded {
            headers::add_x_forwarded_for(headers, peer.ip(), self.scheme);
            headers::set_x_forwarded_host(headers, public.as_ref().and_then(PublicHost::value));
        } else if forwarding.forwarded {
            headers::remove_x_forwarded(headers);
        }
        if forwarding.forwarded {
            headers::add_forwarded(headers, &downstream);
        } else if forwarding.x_forwarded {
            headers.remove(header::FORWARDED);
        }
        let request_id = headers::take_request_id(headers, &forwarding.request_id_header);
        if forwarding.rewrite_destination {
            self.rewrite_destination(headers, public_host);
        }
        if !forwarding.preserve_host || public.is_none() {
            if let Some(value) = self.upstream_host.clone() {
                headers.insert(header::HOST, value);
            }
        } else if let Some(value) = public.as_ref().and_then(PublicHost::value) {
            // HTTP/2 clients send `:authority`, not Host; the HTTP/1.1 upstream needs Host.
            headers.insert(header::HOST, value);
        }

        // `PathAndQuery` shares the request's bytes: no copy, no re-parse.
        let path_and_query = request.uri().path_and_query().cloned();
        *request.uri_mut() = upstream_uri(path_and_query);
        *request.version_mut() = Version::HTTP_11;

        RequestContext {
            method: request.method().clone(),
            method_label: labels::method(request.method().as_str()),
            route,
            path,
            request_id,
            client: peer.ip(),
            access: self.access_log.then(|| {
                let route = route.map(|r| self.telemetry.routes().name(r));
                Box::new(access::Exchange::new(
                    started,
                    peer,
                    request.headers(),
                    route,
                ))
            }),
        }
    }

    fn rewrite_destination(&self, headers: &mut http::HeaderMap, public_host: Option<&str>) {
        if !headers.contains_key(DESTINATION) && !headers.contains_key(IF) {
            return;
        }
        let Some(public) = public_host.and_then(|host| Origin::new(self.scheme, host)) else {
            return;
        };
        // With preserve_host the upstream sees the public host, so it expects that host in
        // Destination too; only the scheme has to become the upstream's.
        let target = if self.forwarding.preserve_host {
            Origin::new(
                self.upstream.origin().scheme_str().unwrap_or("http"),
                public_host.unwrap_or_default(),
            )
            .unwrap_or_else(|| self.upstream_origin.clone())
        } else {
            self.upstream_origin.clone()
        };
        if let Some(value) = headers.get(DESTINATION).and_then(|v| v.to_str().ok())
            && let Some(new) = destination::rewrite_destination(value, &public, &target)
            && let Ok(new) = HeaderValue::from_str(&new)
        {
            headers.insert(DESTINATION, new);
        }
        if let Some(value) = headers.get(IF).and_then(|v| v.to_str().ok())
            && let Some(new) = destination::rewrite_if(value, &public, &target)
            && let Ok(new) = HeaderValue::from_str(&new)
        {
            headers.insert(IF, new);
        }
    }
}

/// What an upstream body that fails mid-way reports (`UpstreamBodyFailed`), held by the body.
pub(crate) struct FailureReport {
    status: u16,
    telemetry: Telemetry,
    context: Arc<RequestContext>,
}

impl OnFailure for FailureReport {
    fn report(self, failure: Failure, error: &body::Error) {
        UpstreamBodyFailed {
            request: &self.context,
            status: self.status,
            failure,
            error,
        }
        .emit(&self.telemetry);
    }
}

/// The public authority the client used: the absolute-form target's, which wins over Host
/// (RFC 9112 §3.2.2; HTTP/2's `:authority`), else the Host header's. Held as the request's
/// own value (a reference count, not a copy).
enum PublicHost {
    Target(http::uri::Authority),
    /// A Host value that is visible ASCII.
    Header(HeaderValue),
}

impl PublicHost {
    fn of<B>(request: &Request<B>) -> Option<Self> {
        if let Some(authority) = request.uri().authority() {
            return Some(PublicHost::Target(authority.clone()));
        }
        request
            .headers()
            .get(header::HOST)
            .filter(|h| h.to_str().is_ok())
            .map(|h| PublicHost::Header(h.clone()))
    }

    /// `host[:port]`: either may carry user info (`user:pw@host`), which is never part of
    /// the public host.
    fn as_str(&self) -> &str {
        headers::without_user_info(match self {
            PublicHost::Target(authority) => authority.as_str(),
            PublicHost::Header(value) => value.to_str().unwrap_or_default(),
        })
    }

    /// [`Self::as_str`] as a header value: the Host value itself when it has no user info.
    fn value(&self) -> Option<HeaderValue> {
        match self {
            PublicHost::Header(value) if !value.as_bytes().contains(&b'@') => Some(value.clone()),
            _ => HeaderValue::from_str(self.as_str()).ok(),
        }
    }
}

/// Methods that change nothing on the server (RFC 9110 §9.2.1, RFC 4918, RFC 3253, RFC 5323).
fn is_safe(method: &http::Method) -> bool {
    matches!(
        method.as_str(),
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PROPFIND" | "REPORT" | "SEARCH"
    )
}

/// RFC 9112 §3.2: an HTTP/1.1 request needs exactly one Host line. hyper leaves the check to
/// the application; forwarding such a request would let a client make davaudit and a
/// Host-checking upstream disagree about the public host.
fn invalid_host<B>(request: &Request<B>) -> Option<&'static str> {
    if request.version() != Version::HTTP_11 {
        return None;
    }
    match request.headers().get_all(header::HOST).iter().count() {
        1 => None,
        0 => Some("an HTTP/1.1 request needs a Host header"),
        _ => Some("more than one Host header"),
    }
}

/// Why a request got no upstream response.
enum Rejected {
    /// The declared body is over `limits.max_request_body`.
    TooLarge(u64),
    Upstream(upstream::Error),
}

const DESTINATION: header::HeaderName = header::HeaderName::from_static("destination");
const IF: header::HeaderName = header::HeaderName::from_static("if");

/// The upstream request's target: the client's path and query in origin form (`/` when it
/// has none: an h2 `OPTIONS *` or an authority-form target). The upstream client connects to
/// `upstream.url` itself.
fn upstream_uri(path_and_query: Option<http::uri::PathAndQuery>) -> Uri {
    let mut parts = http::uri::Parts::default();
    parts.path_and_query =
        Some(path_and_query.unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")));
    Uri::from_parts(parts).unwrap_or_default()
}
