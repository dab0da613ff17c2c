//! The proxy handler: one request in, one response out.
//!
//! [`Proxy::handle`] reads as the steps it takes: prepare the headers ([`headers`]), rewrite
//! `Destination`/`If` ([`destination`]), send upstream with the response-header timeout
//! ([`crate::upstream`]), on error answer 502/504 ([`rescue`]), on success hand the response
//! to the audit ([`crate::audit::wrap`]), and count the top-level status. Bodies stream in
//! both directions; nothing here buffers or reads them.

pub mod destination;
pub mod headers;
pub mod rescue;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, Uri, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use crate::audit::{self, Auditor};
use crate::config;
use crate::telemetry::events::{RequestContext, RequestFinished};
use crate::telemetry::{Metrics, labels};
use crate::upstream::Upstream;
use destination::Origin;
use headers::Downstream;

/// The response body davaudit sends: the upstream's (maybe tee'd to the audit), or a short
/// synthetic one for 502/504.
pub type ProxyBody = Either<audit::Body<Incoming>, Full<Bytes>>;

/// Everything one request needs, built once at start and shared by every connection.
#[derive(Debug)]
pub struct Proxy {
    upstream: Upstream,
    upstream_origin: Origin,
    forwarding: config::Forwarding,
    auditor: Auditor,
    metrics: Arc<Metrics>,
    /// `http` or `https`: how clients reach this listener.
    scheme: &'static str,
}

impl Proxy {
    pub fn new(
        upstream: Upstream,
        forwarding: config::Forwarding,
        auditor: Auditor,
        metrics: Arc<Metrics>,
    ) -> Self {
        let upstream_origin = Origin::of(upstream.origin())
            .expect("config validated the upstream URL as http(s) with a host");
        Proxy {
            upstream,
            upstream_origin,
            forwarding,
            auditor,
            metrics,
            scheme: "http",
        }
    }

    /// Proxies one request. Never fails: upstream errors become 502/504 responses.
    pub async fn handle(
        &self,
        mut request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let started = Instant::now();
        let context = self.prepare(&mut request, peer);
        let method = context.method_label;
        let response = match self.upstream.send(request).await {
            Ok(response) => {
                let mut response = response;
                headers::remove_hop_by_hop(response.headers_mut());
                let response = self.auditor.wrap(response, context, started);
                response.map(Either::Left)
            }
            Err(error) => rescue::respond(&error, &context, started.elapsed(), &self.metrics)
                .map(Either::Right),
        };
        RequestFinished {
            method,
            status: response.status().as_u16(),
            duration: started.elapsed(),
        }
        .emit(&self.metrics);
        Ok(response)
    }

    /// Turns the client's request into the upstream request, in place, and returns the
    /// context the audit and the logs carry.
    fn prepare(&self, request: &mut Request<Incoming>, peer: SocketAddr) -> RequestContext {
        let public_host = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| {
                request
                    .headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            });
        let forwarding = &self.forwarding;
        let headers = request.headers_mut();
        headers::remove_hop_by_hop(headers);
        let downstream = Downstream {
            peer,
            scheme: self.scheme,
            host: public_host.as_deref(),
        };
        if forwarding.x_forwarded {
            headers::add_x_forwarded(headers, &downstream);
        }
        if forwarding.forwarded {
            headers::add_forwarded(headers, &downstream);
        }
        let request_id = headers::request_id(headers, &forwarding.request_id_header);
        if forwarding.rewrite_destination {
            self.rewrite_destination(headers, public_host.as_deref());
        }
        if !forwarding.preserve_host || public_host.is_none() {
            if let Ok(value) = HeaderValue::from_str(&self.upstream_origin_authority()) {
                headers.insert(header::HOST, value);
            }
        } else if let Some(host) = public_host.as_deref()
            && let Ok(value) = HeaderValue::from_str(host)
        {
            // HTTP/2 clients send `:authority`, not Host; the HTTP/1.1 upstream needs Host.
            headers.insert(header::HOST, value);
        }

        let path_and_query = request
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let path = request.uri().path().to_owned();
        *request.uri_mut() = upstream_uri(self.upstream.origin(), &path_and_query);
        *request.version_mut() = Version::HTTP_11;

        RequestContext {
            method: request.method().clone(),
            method_label: labels::method(request.method().as_str()),
            path,
            request_id,
        }
    }

    fn upstream_origin_authority(&self) -> String {
        self.upstream
            .origin()
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default()
    }

    fn rewrite_destination(&self, headers: &mut http::HeaderMap, public_host: Option<&str>) {
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

const DESTINATION: header::HeaderName = header::HeaderName::from_static("destination");
const IF: header::HeaderName = header::HeaderName::from_static("if");

/// The upstream's scheme and authority with the client's path and query.
fn upstream_uri(origin: &Uri, path_and_query: &str) -> Uri {
    let mut parts = origin.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    Uri::from_parts(parts).unwrap_or_else(|_| origin.clone())
}
