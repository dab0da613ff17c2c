//! The accept loop, shared by the proxy and admin listeners: HTTP/1.1 and h2c (hyper-util
//! auto; or HTTP/1.1 and h2 over TLS), a connection limit, a request-head size limit (the h2
//! header list limit too), a bound on concurrent h2 streams per connection, idle connections
//! closed ([`crate::activity`]), accept-error backoff, and a graceful drain bounded by a
//! deadline once the shutdown token is cancelled. Each connection's bytes are read through
//! [`crate::fragment::Watch`] (the request target's `#fragment`, which hyper drops).
//! Response bodies are written in few large writes (`coalesce`); a connection whose writes
//! make no progress for the stall time is ended (`stall`: a client that stops reading).
//! HTTP/1's header read timer keeps one sleep per connection (`head_timer`).

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

mod coalesce;
mod head_timer;
pub(crate) mod stall;

use crate::activity::{self, Activity, Deadlines, Tracked};
use crate::fragment::{Fragments, Watch};
use crate::telemetry::Metrics;
use crate::telemetry::metrics::{HandshakeFailure, Refused};
use crate::telemetry::throttle::{self, Throttle};
use crate::tls::SharedAcceptor;
use crate::workers::{Placement, Workers};
use coalesce::Coalesce;
use head_timer::HeadTimer;
use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use stall::{Stall, WriteStall};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Per-listener settings.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// `"proxy"` or `"admin"`, for logs.
    pub name: &'static str,
    /// Connections beyond this are closed at once.
    pub max_connections: usize,
    /// Time a client has to send its request headers (slowloris), and its first request.
    pub header_read_timeout: Duration,
    /// A connection without a request in flight for this long is closed (GOAWAY on h2).
    pub keepalive_timeout: Duration,
    /// Concurrent h2 streams per connection (advertised; more are refused).
    pub max_streams_per_connection: u32,
    /// How long in-flight requests may take to finish after shutdown.
    pub drain_timeout: Duration,
    /// Largest request head; hyper answers 431 beyond it (at least 8 KiB).
    pub max_header_bytes: usize,
    /// TLS: the current acceptor (swapped on reload), or `None` for plain HTTP and h2c.
    pub tls: Option<SharedAcceptor>,
    /// Connections open, accepted and refused; TLS handshake failures.
    pub metrics: Arc<Metrics>,
    /// Serve each connection on one of these (`None`: on this runtime).
    pub workers: Option<Workers>,
    /// Write HTTP/1 response bodies in few large writes (`coalesce`); off for the admin
    /// listener, whose large answers are paced by the client, frame by frame.
    pub gather_writes: bool,
    /// A connection whose writes make no progress this long is ended (`stall`; the proxy:
    /// `upstream.idle_timeout`, as reloaded).
    pub write_stall: Stall,
}

/// Serves connections until `shutdown` is cancelled, then drains them (at most
/// `drain_timeout`). `handler` is called once per request with the peer address.
pub(crate) async fn serve<H, F, B>(
    listener: TcpListener,
    handler: H,
    options: Options,
    shutdown: CancellationToken,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body<Data = bytes::Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>> + Send,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(options.max_header_bytes.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(options.max_streams_per_connection)
        .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX));
    let drain = CancellationToken::new();
    let deadlines = Deadlines {
        first: options.header_read_timeout,
        idle: options.keepalive_timeout,
    };
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let mut backoff = Duration::from_millis(5);
    let metrics = options.metrics.clone();
    // Refusals and accept errors come in bursts: one WARN each per interval, then a count.
    let mut refused_log = Throttle::new(throttle::INTERVAL);
    let mut accept_log = Throttle::new(throttle::INTERVAL);
    // Handshakes fail in the connections' tasks: their throttle is shared with them.
    let handshake_log = Arc::new(Mutex::new(Throttle::new(throttle::INTERVAL)));
    let mut flush = tokio::time::interval(throttle::INTERVAL);

    // Connection tasks live here, so the ones still open at the drain deadline are cut.
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = flush.tick() => {
                let now = std::time::Instant::now();
                if let Some(n) = refused_log.take_due(now) {
                    metrics.log_suppressed.with_label_values(&["connection_refused"]).inc_by(n);
                    tracing::warn!(
                        listener = options.name,
                        refused = n,
                        max_connections = options.max_connections,
                        "more connections refused: limit reached"
                    );
                }
                if let Some(n) = accept_log.take_due(now) {
                    metrics.log_suppressed.with_label_values(&["accept_failed"]).inc_by(n);
                    tracing::warn!(listener = options.name, failed = n, "more accepts failed");
                }
                if let Some(n) = lock(&handshake_log).take_due(now) {
                    metrics.log_suppressed.with_label_values(&["tls_handshake_failed"]).inc_by(n);
                    tracing::warn!(listener = options.name, failed = n, "more TLS handshakes failed");
                }
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    backoff = Duration::from_millis(5);
                    pair
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait and try again, never exit.
                    metrics.connection_refused(options.name, Refused::AcceptError);
                    if accept_log.admit(std::time::Instant::now()) {
                        tracing::warn!(listener = options.name, %error, "accept failed");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.connection_refused(options.name, Refused::Limit);
            if refused_log.admit(std::time::Instant::now()) {
                tracing::warn!(
                    listener = options.name,
                    %peer,
                    max_connections = options.max_connections,
                    "connection refused: limit reached"
                );
            }
            drop(stream);
            continue;
        };
        let open = metrics.connection_opened(options.name);
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let activity = Arc::new(Activity::default());
        let requests = activity.clone();
        // hyper drops a request target's `#fragment`: the connection's bytes show it.
        let fragments = Arc::new(Fragments::default());
        let marks = fragments.clone();
        let window = options.max_header_bytes.max(8192);
        let gather = options.gather_writes;
        let write_stall = options.write_stall.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            marks.mark(&mut request);
            let busy = requests.busy();
            // HTTP/1 only: h2 frames and flow-controls its streams itself, and would let the
            // body be pulled ahead of the client's window.
            let gather = gather && request.version() <= http::Version::HTTP_11;
            let response = handler(request, peer);
            async move {
                let response = response.await?;
                // A streamed body goes out in a few large writes (`coalesce`).
                Ok::<_, Infallible>(
                    response.map(|body| Tracked::new(Coalesce::new(body, gather), busy)),
                )
            }
        });
        let span = tracing::debug_span!("conn", listener = options.name, %peer);
        let drain = drain.clone();
        // On a worker, the socket moves to that worker's reactor (`workers`).
        let placement = options.workers.as_ref().map(Workers::place);
        let stream = match &placement {
            None => Accepted::Here(stream),
            Some(_) => match stream.into_std() {
                Ok(stream) => Accepted::Moved(stream),
                Err(error) => {
                    tracing::debug!(%error, "cannot hand the connection to a worker");
                    continue;
                }
            },
        };
        let mut builder = builder.clone();
        // The header read timer keeps one sleep per connection instead of one per request
        // (`head_timer`).
        builder.http1().timer(HeadTimer::default());
        let Some(tls) = &options.tls else {
            let connection = async move {
                let Some(stream) = stream.open() else {
                    return;
                };
                let stream = WriteStall::new(Watch::new(stream, fragments, window), &write_stall);
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                let connection = connection.into_owned();
                if let Err(error) = activity::drive(connection, &activity, deadlines, &drain).await
                {
                    tracing::debug!(error = %error, "connection ended with an error");
                }
                drop(slot);
                drop(open);
            };
            spawn(&mut connections, connection.instrument(span), placement);
            continue;
        };
        // The handshake runs in the connection's task, bounded like a header read, so a
        // silent client cannot hold the accept loop. Drain covers connections past it.
        let acceptor = tls.current();
        let handshake_timeout = options.header_read_timeout;
        let metrics = metrics.clone();
        let handshake_log = handshake_log.clone();
        let name = options.name;
        let connection = async move {
            let Some(stream) = stream.open() else {
                return;
            };
            let accepted = tokio::time::timeout(handshake_timeout, acceptor.accept(stream));
            let stream = match accepted.await {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(error)) => Err((HandshakeFailure::Error, error.to_string())),
                Err(_) => Err((
                    HandshakeFailure::Timeout,
                    format!("no handshake within {handshake_timeout:?}"),
                )),
            };
            let stream = match stream {
                Ok(stream) => stream,
                Err((reason, error)) => {
                    metrics.tls_handshake_failed(reason);
                    // Scanners and misconfigured clients fail in bursts: one WARN per
                    // interval, then a counted summary from the accept loop.
                    if lock(&handshake_log).admit(std::time::Instant::now()) {
                        tracing::warn!(
                            listener = name,
                            %peer,
                            reason = reason.as_str(),
                            %error,
                            "TLS handshake failed"
                        );
                    }
                    return;
                }
            };
            let stream = WriteStall::new(Watch::new(stream, fragments, window), &write_stall);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let connection = connection.into_owned();
            if let Err(error) = activity::drive(connection, &activity, deadlines, &drain).await {
                tracing::debug!(error = %error, "connection ended with an error");
            }
            drop(slot);
            drop(open);
        };
        spawn(&mut connections, connection.instrument(span), placement);
    }

    drop(listener);
    drain.cancel();
    let drained = tokio::time::timeout(options.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    match drained {
        Ok(()) => tracing::info!(listener = options.name, "drain finished"),
        Err(_) => {
            tracing::warn!(
                listener = options.name,
                connections_left = connections.len(),
                drain_timeout = ?options.drain_timeout,
                "drain timed out; closing the connections left"
            );
            connections.shutdown().await;
        }
    }
}

/// An accepted socket: on this runtime's reactor, or moved out of it for a worker's.
enum Accepted {
    Here(TcpStream),
    Moved(std::net::TcpStream),
}

impl Accepted {
    /// The socket on the reactor of the runtime this runs on (`None`: it could not be
    /// registered there; the connection is dropped).
    fn open(self) -> Option<TcpStream> {
        match self {
            Accepted::Here(stream) => Some(stream),
            Accepted::Moved(stream) => match TcpStream::from_std(stream) {
                Ok(stream) => Some(stream),
                Err(error) => {
                    tracing::debug!(%error, "a worker cannot take the connection");
                    None
                }
            },
        }
    }
}

/// Runs a connection's task here, or on its worker (counted there until it ends).
fn spawn<F>(connections: &mut JoinSet<()>, connection: F, placement: Option<Placement>)
where
    F: Future<Output = ()> + Send + 'static,
{
    match placement {
        None => {
            connections.spawn(connection);
        }
        Some(placement) => {
            let handle = placement.handle().clone();
            connections.spawn_on(
                async move {
                    connection.await;
                    drop(placement);
                },
                &handle,
            );
        }
    }
}

/// The throttle, even if a task panicked while holding it (it only counts).
fn lock(throttle: &Mutex<Throttle>) -> MutexGuard<'_, Throttle> {
    throttle
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
