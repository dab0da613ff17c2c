//! The upstream client: pools of HTTP/1.1 connections to the WebDAV server ([`pool`]; http,
//! or https through rustls), one per connection worker (`crate::workers`) so a request and
//! the upstream connection it uses run on one thread, the response-header timeout, and
//! `upstream::Error` with a closed
//! [`Kind`] so that 502/504 and the `kind` label are decided in one place.
//!
//! Also the readiness probe: a background task that checks the upstream accepts TCP
//! connections, read by `/readyz`.

mod pool;

pub(crate) use pool::Body;

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::FutureExt as _;
use http::{Request, Response, Uri};
use std::future::Future;

use crate::body::{self, RequestBody};
use hyper_util::client::legacy::connect::HttpConnector;
use pool::{Pool, SendError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{config, error};

/// What went wrong talking to the upstream. A closed set: it is a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// The TCP (or TLS) connection could not be made.
    Connect,
    /// No connection within `connect_timeout`, or no response headers within
    /// `response_timeout`.
    Timeout,
    /// The connection closed or reset before the response headers arrived.
    Reset,
    /// The upstream answered something that is not HTTP.
    Protocol,
}

impl Kind {
    pub(crate) const ALL: [Kind; 4] = [Kind::Connect, Kind::Timeout, Kind::Reset, Kind::Protocol];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Connect => "connect",
            Kind::Timeout => "timeout",
            Kind::Reset => "reset",
            Kind::Protocol => "protocol",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed upstream exchange: its kind, and the cause for the log.
#[derive(Debug, thiserror::Error)]
#[error("upstream {kind}: {message}")]
pub(crate) struct Error {
    kind: Kind,
    message: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Error {
    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// The request body's own failure (too large, idle, client gone), when that is what
    /// ended the exchange: a downstream fault, not an upstream one.
    pub(crate) fn request_body(&self) -> Option<&body::Error> {
        error::find(self.source.as_deref()?)
    }

    fn timeout(after: Duration, what: &str) -> Self {
        Error {
            kind: Kind::Timeout,
            message: format!("no {what} within {after:?}"),
            source: None,
        }
    }

    /// Classify a failed exchange by asking the errors and walking their causes (never by
    /// matching their text).
    fn from_send(error: SendError) -> Self {
        let (kind, source): (Kind, Box<dyn StdError + Send + Sync>) = match error {
            SendError::Connect(error) => {
                let kind = if io_kind(&*error) == Some(io::ErrorKind::TimedOut) {
                    Kind::Timeout
                } else {
                    Kind::Connect
                };
                (kind, error)
            }
            SendError::Exchange(error) => (classify(&error), Box::new(error)),
        };
        let message = match kind {
            Kind::Connect => "cannot connect",
            Kind::Timeout => "connect timed out",
            Kind::Reset => "connection closed before response headers",
            Kind::Protocol => "invalid HTTP response",
        };
        Error {
            kind,
            message: message.to_owned(),
            source: Some(source),
        }
    }
}

/// What a failed exchange on a connection was: not HTTP, timed out, or (anything else) the
/// connection closing or resetting before the response headers.
fn classify(error: &hyper::Error) -> Kind {
    if io_kind(error) == Some(io::ErrorKind::TimedOut) {
        return Kind::Timeout;
    }
    let hyper_errors = error::causes(error).filter_map(|e| e.downcast_ref::<hyper::Error>());
    for hyper_error in hyper_errors {
        if hyper_error.is_parse() || hyper_error.is_parse_status() {
            return Kind::Protocol;
        }
        if hyper_error.is_incomplete_message() || hyper_error.is_canceled() {
            return Kind::Reset;
        }
    }
    Kind::Reset
}

fn io_kind(error: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    error::find::<io::Error>(error).map(io::Error::kind)
}

/// Why the client could not be built (bad CA file, no root certificates).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Tls(#[from] crate::tls::ClientError),
}

/// The connection pools to the one upstream, one per connection worker.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    /// Never empty; requests on worker `i` use pool `i`, and the pools split
    /// `pool_max_idle_per_host` between them (`workers::share`).
    pools: Arc<[Pool]>,
    /// Scheme and authority every request is sent to.
    origin: Uri,
    response_timeout: Duration,
}

impl Upstream {
    /// `pools`: one pool per connection worker (at least one).
    pub(crate) fn new(settings: &config::Upstream, pools: usize) -> Result<Self, BuildError> {
        let count = pools.max(1);
        let tls = crate::tls::client_config(&settings.tls)?;
        let pools = (0..count)
            .map(|i| {
                let idle = crate::workers::share(settings.pool_max_idle_per_host, count, i);
                pool(settings, tls.clone(), idle)
            })
            .collect();
        Ok(Upstream {
            pools,
            origin: settings.url.clone(),
            response_timeout: settings.response_timeout,
        })
    }

    /// The pool of the worker this runs on.
    fn pool(&self) -> &Pool {
        let index = crate::workers::current() % self.pools.len().max(1);
        match self.pools.get(index).or_else(|| self.pools.first()) {
            Some(pool) => pool,
            None => unreachable!("Upstream::new builds at least one pool"),
        }
    }

    /// The upstream's scheme and authority, e.g. `http://127.0.0.1:8081`.
    pub(crate) fn origin(&self) -> &Uri {
        &self.origin
    }

    /// Sends one request (its target in origin form) and waits for the response headers, at
    /// most `response_timeout`. A request a pooled connection did not take (it had closed) is
    /// sent on another one ([`pool`]); nothing else is sent twice here.
    ///
    /// A combinator, not an `async fn`: one state machine less between the proxy and the
    /// pool, each built and then copied into its caller's on every request.
    pub(crate) fn send(
        &self,
        request: Request<RequestBody>,
    ) -> impl Future<Output = Result<Response<Body>, Error>> + '_ {
        let after = self.response_timeout;
        tokio::time::timeout(after, self.pool().send(request)).map(move |result| match result {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(Error::from_send(error)),
            Err(_elapsed) => Err(Error::timeout(after, "response headers")),
        })
    }
}

/// One pool keeping at most `max_idle` idle connections.
fn pool(settings: &config::Upstream, tls: rustls::ClientConfig, max_idle: usize) -> Pool {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(settings.connect_timeout));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Pool::new(
        connector,
        settings.url.clone(),
        settings.pool_idle_timeout,
        max_idle,
    )
}

// === readiness ===

/// `host:port` to connect to for an origin URI.
fn target(origin: &Uri) -> Option<String> {
    let authority = origin.authority()?;
    let port = authority.port_u16().unwrap_or(match origin.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    Some(format!(
        "{}:{port}",
        authority.host().trim_matches(['[', ']'])
    ))
}

/// Whether the upstream accepted a TCP connection at the last probe. Exported as
/// `davaudit_upstream_up`; `/readyz` does not follow it (see `admin`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Readiness {
    reachable: Arc<AtomicBool>,
}

/// The kinds a failed probe can have (a TCP connect: refused/unresolvable, or too slow).
pub(crate) const PROBE_KINDS: [Kind; 2] = [Kind::Connect, Kind::Timeout];

/// One probe's answer, handed to the caller's report (telemetry's `UpstreamProbed` event,
/// emitted by `app`: this module does not know telemetry).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probed<'a> {
    /// The origin probed.
    pub upstream: &'a Uri,
    /// `None` when it accepted a TCP connection.
    pub error: Option<Kind>,
    /// The answer differs from the previous one (log it).
    pub changed: bool,
}

impl Readiness {
    /// The upstream accepted a TCP connection at the last probe.
    pub(crate) fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// Probes the upstream every `interval` until `shutdown` is cancelled: a TCP connect to
    /// `upstream.url`, bounded by `upstream.connect_timeout`, both as `settings` holds them
    /// now. A reload that changes them (a new value in `settings`) cuts the probe in progress
    /// and probes again at once, with the new ones. Each answer goes to `report`.
    pub(crate) async fn probe(
        self,
        mut settings: watch::Receiver<config::Upstream>,
        interval: Duration,
        mut report: impl FnMut(Probed<'_>),
        shutdown: CancellationToken,
    ) {
        loop {
            let current = settings.borrow_and_update().clone();
            let error = tokio::select! {
                () = shutdown.cancelled() => return,
                Ok(()) = settings.changed() => continue,
                error = connect(&current.url, current.connect_timeout) => error,
            };
            let ok = error.is_none();
            let changed = ok != self.reachable.swap(ok, Ordering::Relaxed);
            report(Probed {
                upstream: &current.url,
                error,
                changed,
            });
            tokio::select! {
                () = shutdown.cancelled() => return,
                Ok(()) = settings.changed() => {}
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// One probe: a TCP connect to `origin` within `timeout`; the kind of failure, if any.
async fn connect(origin: &Uri, timeout: Duration) -> Option<Kind> {
    let Some(target) = target(origin) else {
        return Some(Kind::Connect);
    };
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&target)).await {
        Ok(Ok(_)) => None,
        Ok(Err(_)) => Some(Kind::Connect),
        Err(_) => Some(Kind::Timeout),
    }
}
