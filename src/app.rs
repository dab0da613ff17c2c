//! Wiring: the one module that builds every part and connects them. `main` and the
//! integration tests both start davaudit through [`run`].
//!
//! Start-up order: metrics, upstream client, auditor, proxy; bind both listeners (an error
//! names the address); spawn the listeners and the readiness probe; return [`Running`].
//! Shutdown order: `/readyz` turns 503, the proxy listener stops accepting and drains
//! (bounded by `shutdown.drain_timeout`), then the admin listener stops, so the last scrape
//! sees the final counters.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::admin::Admin;
use crate::audit::{Auditor, Hooks};
use crate::config::Config;
use crate::listener::{self, Options};
use crate::proxy::{self, Proxy};
use crate::telemetry::Metrics;
use crate::upstream::{self, Readiness, Upstream};

/// Why davaudit could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Upstream(#[from] upstream::BuildError),
}

/// A started davaudit: its bound addresses and the handle to stop it.
#[derive(Debug)]
pub struct Running {
    proxy_addr: SocketAddr,
    admin_addr: SocketAddr,
    metrics: Arc<Metrics>,
    /// Cancelled to begin shutdown (by the signal future or [`Running::shutdown`]).
    shutdown: CancellationToken,
    /// The supervisor: finishes once both listeners have drained.
    done: JoinHandle<()>,
}

impl Running {
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The metrics registry of this instance.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Begins a graceful shutdown and waits until it is over.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.wait().await;
    }

    /// Waits until davaudit has shut down (after the signal future resolved).
    pub async fn wait(self) {
        if let Err(error) = self.done.await {
            tracing::error!(%error, "shutdown supervisor failed");
        }
    }
}

/// Starts davaudit; it runs until `signal` resolves or [`Running::shutdown`] is called.
pub async fn run(
    config: Config,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, Error> {
    run_with_hooks(config, signal, Hooks::default()).await
}

/// [`run`] with test hooks.
pub async fn run_with_hooks(
    config: Config,
    signal: impl Future<Output = ()> + Send + 'static,
    hooks: Hooks,
) -> Result<Running, Error> {
    let metrics = Arc::new(Metrics::new());
    let upstream = Upstream::new(&config.upstream)?;
    let readiness = Readiness::default();
    let draining = Arc::new(AtomicBool::new(false));
    let auditor = Auditor::new(config.audit.clone(), metrics.clone(), hooks);
    let settings = proxy::Settings {
        forwarding: config.forwarding.clone(),
        max_request_body: config.limits.max_request_body,
        idle_timeout: config.upstream.idle_timeout,
    };
    let proxy = Arc::new(Proxy::new(upstream.clone(), settings, auditor, metrics.clone()));
    let admin = Arc::new(Admin::new(
        metrics.clone(),
        readiness.clone(),
        draining.clone(),
    ));

    let proxy_listener = bind("proxy", config.listen).await?;
    let admin_listener = bind("admin", config.admin.listen).await?;
    let proxy_addr = local_addr("proxy", &proxy_listener, config.listen)?;
    let admin_addr = local_addr("admin", &admin_listener, config.admin.listen)?;

    let shutdown = CancellationToken::new();
    let proxy_stop = CancellationToken::new();
    let admin_stop = CancellationToken::new();

    let proxy_options = Options {
        name: "proxy",
        max_connections: config.limits.max_connections,
        // hyper's header-read timer also runs while a keep-alive connection waits for its
        // next request, so it is the keep-alive idle timeout too: the smaller one wins.
        header_read_timeout: config
            .limits
            .header_read_timeout
            .min(config.limits.keepalive_timeout),
        drain_timeout: config.shutdown.drain_timeout,
    };
    let proxy_task = tokio::spawn(
        listener::serve(
            proxy_listener,
            move |request, peer| {
                let proxy = proxy.clone();
                async move { proxy.handle(request, peer).await }
            },
            proxy_options,
            proxy_stop.clone(),
        )
        .instrument(tracing::info_span!("proxy")),
    );
    let admin_options = Options {
        name: "admin",
        max_connections: 256,
        header_read_timeout: Duration::from_secs(10),
        drain_timeout: Duration::from_secs(5),
    };
    let admin_task = tokio::spawn(
        listener::serve(
            admin_listener,
            move |request, _peer| {
                let admin = admin.clone();
                async move { admin.handle(request).await }
            },
            admin_options,
            admin_stop.clone(),
        )
        .instrument(tracing::info_span!("admin")),
    );
    tokio::spawn(
        readiness
            .probe(
                upstream.origin().clone(),
                config.upstream.connect_timeout,
                Duration::from_secs(5),
                admin_stop.clone(),
            )
            .instrument(tracing::info_span!("readiness")),
    );

    tracing::info!(
        proxy = %proxy_addr,
        admin = %admin_addr,
        upstream = %config.upstream.url,
        "listening"
    );

    let token = shutdown.clone();
    let done = tokio::spawn(async move {
        tokio::select! {
            () = signal => {}
            () = token.cancelled() => {}
        }
        draining.store(true, Ordering::Relaxed);
        proxy_stop.cancel();
        if let Err(error) = proxy_task.await {
            tracing::error!(%error, "proxy listener task failed");
        }
        admin_stop.cancel();
        if let Err(error) = admin_task.await {
            tracing::error!(%error, "admin listener task failed");
        }
        tracing::info!("stopped");
    });

    Ok(Running {
        proxy_addr,
        admin_addr,
        metrics,
        shutdown,
        done,
    })
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { what, addr, source })
}

fn local_addr(
    what: &'static str,
    listener: &TcpListener,
    addr: SocketAddr,
) -> Result<SocketAddr, Error> {
    listener
        .local_addr()
        .map_err(|source| Error::Bind { what, addr, source })
}
