//! The connection pool to the one upstream: HTTP/1.1 connections (plain or TLS, made by the
//! connector), kept open between requests.
//!
//! Why not hyper-util's pool: it serves any number of hosts, so every request hashes its
//! (scheme, authority) key, races a checkout against a connect through oneshot channels, and
//! spawns a task per response to put the connection back once it is ready again. davaudit
//! has one upstream: a `Mutex<Vec<_>>` of idle connections does, and a connection goes back
//! from its response body when that ends ([`Body`]), without a task.
//!
//! What it keeps of hyper-util's behaviour:
//! - the newest idle connection is used first; one that is closed, or idle for longer than
//!   `upstream.pool_idle_timeout`, is dropped instead (dropping the sender closes it);
//! - at most `upstream.pool_max_idle_per_host` idle connections (0: none kept); idle ones
//!   are also closed in the background once their idle time is over ([`reap`]), so a quiet
//!   proxy holds no upstream sockets;
//! - a request that a pooled connection did not take (it closed before the request was
//!   written: hyper hands the request back) is sent again on another connection, whatever
//!   the method; a request on a fresh connection is never sent twice here;
//! - a connection goes back only once its response body has ended (or was empty) and its
//!   sender is ready for the next request; one whose body was abandoned or failed is closed.
//!   What the caller asks the body to hold ([`Body::hold_until_free`]: the request's
//!   `limits.max_upstream_requests` slot) is dropped only then: an upstream that answers
//!   an upload before reading it keeps its connection busy after the answer ended.

use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::time::Instant;
use tower_service::Service as _;

use crate::body::RequestBody;

type Sender = SendRequest<RequestBody>;

/// Why no response came back.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection: the connector's error (TCP, TLS, connect timeout).
    Connect(Box<dyn StdError + Send + Sync>),
    /// The exchange on a connection failed (hyper's error: closed, reset, not HTTP, the
    /// request body's own failure).
    Exchange(hyper::Error),
}

/// The pool: shared by every clone of the upstream client.
#[derive(Clone)]
pub(crate) struct Pool {
    connector: HttpsConnector<HttpConnector>,
    origin: Uri,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("origin", &self.origin)
            .field("idle_timeout", &self.shared.idle_timeout)
            .field("max_idle", &self.shared.max_idle)
            .finish_non_exhaustive()
    }
}

struct Shared {
    idle_timeout: Duration,
    max_idle: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Oldest first: the last one is the one to use next.
    idle: Vec<Idle>,
    /// The background task that closes idle connections past their time is running.
    reaping: bool,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest idle connection that is still usable; the others met on the way are
    /// dropped (closed).
    fn take(&self) -> Option<Sender> {
        let now = Instant::now();
        let mut state = self.lock();
        while let Some(idle) = state.idle.pop() {
            if idle.sender.is_ready() && now.duration_since(idle.since) < self.idle_timeout {
                return Some(idle.sender);
            }
        }
        None
    }

    /// Keeps `sender` for the next request, if there is room.
    fn put(self: &Arc<Self>, sender: Sender) {
        let mut state = self.lock();
        if state.idle.len() >= self.max_idle {
            return;
        }
        state.idle.push(Idle {
            sender,
            since: Instant::now(),
        });
        if !state.reaping
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            state.reaping = true;
            runtime.spawn(reap(Arc::downgrade(self)));
        }
    }

    /// Puts `sender` back once it is ready for another request: at once when it is, else
    /// from a task that waits for it (a response that ended before its request's body did).
    /// `hold` is dropped then (or when the connection closes instead).
    fn give_back(self: &Arc<Self>, mut sender: Sender, hold: Option<Hold>) {
        if sender.is_ready() {
            self.put(sender);
        } else if !sender.is_closed()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let shared = self.clone();
            runtime.spawn(async move {
                if sender.ready().await.is_ok() {
                    shared.put(sender);
                }
                drop(hold);
            });
        }
    }
}

/// Closes idle connections past `upstream.pool_idle_timeout`, checking every timeout (at
/// least every 90 ms, as hyper-util does); ends when no connection is idle (the next one put
/// back starts it again) or the pool is gone.
async fn reap(shared: Weak<Shared>) {
    const MIN_CHECK: Duration = Duration::from_millis(90);
    loop {
        let every = match shared.upgrade() {
            Some(shared) => shared.idle_timeout.max(MIN_CHECK),
            None => return,
        };
        tokio::time::sleep(every).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        let mut state = shared.lock();
        state.idle.retain(|idle| {
            !idle.sender.is_closed() && now.duration_since(idle.since) < shared.idle_timeout
        });
        if state.idle.is_empty() {
            state.reaping = false;
            return;
        }
    }
}

impl Pool {
    pub(crate) fn new(
        connector: HttpsConnector<HttpConnector>,
        origin: Uri,
        idle_timeout: Duration,
        max_idle: usize,
    ) -> Self {
        Pool {
            connector,
            origin,
            shared: Arc::new(Shared {
                idle_timeout,
                max_idle,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Sends `request` (its target in origin form) on an idle connection or a new one, and
    /// returns the response once its headers are in.
    pub(crate) async fn send(
        &self,
        mut request: Request<RequestBody>,
    ) -> Result<Response<Body>, SendError> {
        loop {
            let (mut sender, reused) = match self.shared.take() {
                Some(sender) => (sender, true),
                // Boxed: the connect and handshake futures (a TLS stream among them) are
                // large, and the request's future would carry their room on every request.
                None => (Box::pin(self.connect()).await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let back = Back {
                        sender,
                        shared: self.shared.clone(),
                        hold: None,
                    };
                    return Ok(response.map(|inner| Body {
                        inner,
                        back: Some(back),
                    }));
                }
                Err(mut error) => match error.take_message() {
                    // Not written: the pooled connection closed first. Another one.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(SendError::Exchange(error.into_error())),
                },
            }
        }
    }

    /// A new connection, its task spawned, ready for a request.
    async fn connect(&self) -> Result<Sender, SendError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(SendError::Connect)?;
        let io = connector
            .call(self.origin.clone())
            .await
            .map_err(SendError::Connect)?;
        let (mut sender, connection) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(SendError::Exchange)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream connection ended with an error");
            }
        });
        sender.ready().await.map_err(SendError::Exchange)?;
        Ok(sender)
    }
}

/// What a response body keeps until its connection is free (the request's upstream slot).
type Hold = tokio::sync::OwnedSemaphorePermit;

/// The connection an exchange used, to be put back when its response body ends.
struct Back {
    sender: Sender,
    shared: Arc<Shared>,
    hold: Option<Hold>,
}

/// The upstream's response body. Its connection goes back to the pool once the body has
/// ended; a body dropped before its end (or failed) closes the connection.
pub(crate) struct Body {
    inner: Incoming,
    back: Option<Back>,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body").finish_non_exhaustive()
    }
}

impl Body {
    /// Keeps `hold` until the connection is free for another request (module docs), or
    /// closed; dropped at once when the body has no connection left.
    pub(crate) fn hold_until_free(&mut self, hold: Hold) {
        if let Some(back) = self.back.as_mut() {
            back.hold = Some(hold);
        }
    }

    fn release(&mut self) {
        if let Some(back) = self.back.take() {
            back.shared.give_back(back.sender, back.hold);
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            None => self.release(),
            Some(Err(_)) => self.back = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        // hyper stops polling a body whose length says it is complete (and never polls the
        // empty body of a HEAD, 204 or 304): ended all the same.
        if http_body::Body::is_end_stream(&self.inner) {
            self.release();
        }
    }
}
