//! Wiring: the one module that builds every part and connects them. `main` and the
//! integration tests both start davaudit through [`run`].
//!
//! Start-up order: telemetry (metrics and the live view's ring), upstream client, auditor, proxy (and the TLS acceptor); bind both
//! listeners (an error names the address); spawn the listeners and the readiness probe;
//! return [`Running`]. A [`Reloader`] swaps in a new proxy (and acceptor) on SIGHUP.
//! Shutdown order: `/readyz` turns 503, the proxy listener stops accepting and drains
//! (bounded by `shutdown.drain_timeout`), then the admin listener stops, so the last scrape
//! sees the final counters.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::tls::SharedAcceptor;
use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::admin::Admin;
use crate::admin::auth::{Gate, Tokens};
use crate::audit::{Auditor, Hooks};
use crate::config::{self, Config};
use crate::listener::stall::Stall;
use crate::listener::{self, Options};
use crate::proxy::{self, Proxy};
use crate::telemetry::events::UpstreamProbed;
use crate::telemetry::{Metrics, Telemetry};
use crate::upstream::{self, Readiness, Upstream};
use crate::workers::Workers;

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
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    /// An admin token file that cannot be used (`admin.token_file`, `admin.metrics_token_file`).
    #[error("{0}")]
    Token(String),
    /// A connection worker's thread or runtime could not be started.
    #[error("cannot start the connection workers: {0}")]
    Workers(#[source] std::io::Error),
}

/// A started davaudit: its bound addresses and the handles to reload and stop it.
#[derive(Debug)]
pub struct Running {
    proxy_addr: SocketAddr,
    admin_addr: SocketAddr,
    /// `admin.live_listen`'s bound address, when set.
    live_addr: Option<SocketAddr>,
    telemetry: Telemetry,
    reloader: Reloader,
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

    /// The live view's own listener (`admin.live_listen`), when it has one.
    pub fn live_addr(&self) -> Option<SocketAddr> {
        self.live_addr
    }

    /// The metrics registry of this instance.
    pub fn metrics(&self) -> &Arc<Metrics> {
        self.telemetry.metrics()
    }

    /// A handle that applies a new config to the running instance (SIGHUP).
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
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

/// Applies a new config without dropping connections: the next request uses the new
/// upstream, timeouts, forwarding settings and audit rules; in-flight requests finish with
/// the old ones. Settings bound to the sockets (addresses, connection limits, header
/// timeouts, drain timeout, turning TLS on or off) need a restart and are reported.
#[derive(Debug, Clone)]
pub struct Reloader {
    state: Arc<ReloadState>,
}

#[derive(Debug)]
struct ReloadState {
    /// The handler every new request loads.
    proxy: Arc<ArcSwap<Proxy>>,
    /// The TLS acceptor every new connection loads, when TLS is on.
    tls: Option<SharedAcceptor>,
    /// The upstream settings the readiness probe uses (`url`, `connect_timeout`).
    probe: watch::Sender<config::Upstream>,
    /// Created once, so counters and the live view's ring survive reloads (the ring is
    /// resized by them).
    telemetry: Telemetry,
    hooks: Hooks,
    /// Whether the live view was on at start (`admin.ui` needs a restart); off, nothing is
    /// recorded.
    live_view: bool,
    /// `limits.max_upstream_requests`, shared by every proxy a reload builds, so requests
    /// still in flight on an old one keep counting.
    upstream_slots: Arc<Semaphore>,
    /// Upstream pools per proxy: one per connection worker (`workers`).
    pools: usize,
    /// `upstream.idle_timeout` for the proxy listener's write stall (new connections).
    write_stall: Stall,
    /// The config the listeners were started with (never replaced by a reload): a changed
    /// bound key is reported on every reload until a restart, and a key changed back is not.
    bound: Mutex<Config>,
    /// The admin listener's bearer tokens, re-read on every reload.
    gate: Gate,
}

impl Reloader {
    /// Builds everything from `config` first; only if all of it is valid is it swapped in.
    /// Returns the changed keys that only take effect after a restart. Counted in
    /// `davaudit_config_reloads_total{result}` either way.
    pub fn reload(&self, config: Config) -> Result<Vec<&'static str>, Error> {
        let result = self.swap_in(config);
        self.state
            .telemetry
            .metrics()
            .config_loaded(true, result.is_ok());
        result
    }

    /// A reload whose file did not load (it never reached [`Reloader::reload`]): counted as
    /// a failed reload.
    pub fn rejected(&self) {
        self.state.telemetry.metrics().config_loaded(true, false);
    }

    fn swap_in(&self, config: Config) -> Result<Vec<&'static str>, Error> {
        let state = &self.state;
        let proxy = build_proxy(
            &config,
            state.tls.is_some(),
            &state.telemetry,
            &state.hooks,
            &state.upstream_slots,
            state.pools,
        )?;
        let acceptor = match (&state.tls, &config.tls) {
            (Some(_), Some(settings)) => Some(crate::tls::acceptor(settings)?),
            _ => None,
        };
        let tokens = Tokens::load(&config.admin).map_err(|e| Error::Token(e.to_string()))?;
        // Held to the end: reloads apply one at a time.
        let bound = state
            .bound
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let restart = restart_needed(&bound, &config);
        state.proxy.store(Arc::new(proxy));
        state.write_stall.set(config.upstream.idle_timeout);
        // Only a change the probe would notice wakes it (it probes again at once).
        state.probe.send_if_modified(|probed| {
            let changed = probed.url != config.upstream.url
                || probed.connect_timeout != config.upstream.connect_timeout;
            if changed {
                *probed = config.upstream.clone();
            }
            changed
        });
        if let (Some(swap), Some(acceptor)) = (&state.tls, acceptor) {
            swap.replace(acceptor);
            state
                .telemetry
                .metrics()
                .set_certificate_not_after(config.tls.as_ref().and_then(crate::tls::not_after));
        }
        state.gate.replace(tokens);
        state
            .telemetry
            .recent()
            .set_capacity(ring_size(&config, state.live_view));
        drop(bound);
        Ok(restart)
    }
}

/// Keys whose change needs a restart, because they are bound to the listeners.
fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let mut check = |key, changed: bool| {
        if changed {
            keys.push(key);
        }
    };
    check("listen", old.listen != new.listen);
    check("admin.listen", old.admin.listen != new.admin.listen);
    check("admin.ui", old.admin.ui != new.admin.ui);
    check(
        "admin.live_listen",
        old.admin.live_listen != new.admin.live_listen,
    );
    check(
        "admin.max_connections",
        old.admin.max_connections != new.admin.max_connections,
    );
    check(
        "limits",
        old.limits.max_connections != new.limits.max_connections
            || old.limits.header_read_timeout != new.limits.header_read_timeout
            || old.limits.keepalive_timeout != new.limits.keepalive_timeout
            || old.limits.max_header_bytes != new.limits.max_header_bytes
            || old.limits.max_streams_per_connection != new.limits.max_streams_per_connection
            || old.limits.max_upstream_requests != new.limits.max_upstream_requests,
    );
    check("shutdown.drain_timeout", old.shutdown != new.shutdown);
    check("tls", old.tls.is_some() != new.tls.is_some());
    check("log.format", old.log.format != new.log.format);
    // The registry's families got their label names at start: a new route set would be a
    // new set of series. The running routes stay until a restart.
    check("routes", old.routes != new.routes);
    keys
}

/// `audit.recent_failures`, or 0 when the live view is off (nobody could read the ring).
fn ring_size(config: &Config, live_view: bool) -> usize {
    if live_view {
        config.audit.recent_failures
    } else {
        0
    }
}

/// `listener_tls`: whether the proxy socket terminates TLS, as bound at start. A reload that
/// turns `tls` on or off needs a restart, so the scheme clients use (`X-Forwarded-Proto`,
/// `Forwarded`, the Destination rewrite) follows the socket, never the new file.
fn build_proxy(
    config: &Config,
    listener_tls: bool,
    telemetry: &Telemetry,
    hooks: &Hooks,
    upstream_slots: &Arc<Semaphore>,
    pools: usize,
) -> Result<Proxy, Error> {
    let upstream = Upstream::new(&config.upstream, pools)?;
    let auditor = Auditor::new(config.audit.clone(), telemetry.clone(), hooks.clone());
    let settings = proxy::Settings {
        forwarding: config.forwarding.clone(),
        max_request_body: config.limits.max_request_body,
        idle_timeout: config.upstream.idle_timeout,
        upstream_slots: upstream_slots.clone(),
        access_log: config.log.access,
        scheme: if listener_tls { "https" } else { "http" },
    };
    Ok(Proxy::new(upstream, settings, auditor, telemetry.clone()))
}

/// Loads every file the config names as `serve` would (the listener's certificate chain and
/// key, the upstream CA file, the admin token files), binding nothing: `check-config` fails
/// where `serve` would.
pub(crate) fn check_files(config: &Config) -> Result<(), Error> {
    if let Some(settings) = &config.tls {
        crate::tls::acceptor(settings)?;
    }
    Tokens::load(&config.admin).map_err(|e| Error::Token(e.to_string()))?;
    Upstream::new(&config.upstream, 1)?;
    Ok(())
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
    run_with_workers(config, signal, hooks, 0).await
}

/// [`run_with_hooks`], serving proxy connections on `workers` threads of their own, one
/// current-thread runtime each, as the binary does (`crate::workers`); with 0, on the
/// caller's runtime. Everything else runs on the caller's runtime.
pub async fn run_with_workers(
    config: Config,
    signal: impl Future<Output = ()> + Send + 'static,
    hooks: Hooks,
    workers: usize,
) -> Result<Running, Error> {
    let workers = match workers {
        0 => None,
        n => Some(Workers::start(n).map_err(Error::Workers)?),
    };
    let pools = workers.as_ref().map_or(1, Workers::count);
    let live_view = config.admin.ui_enabled();
    // The route label's values are fixed for the process's life (a reload reports `routes`).
    let telemetry = Telemetry::with_routes(
        ring_size(&config, live_view),
        crate::telemetry::routes::Routes::new(&config.routes),
    );
    let upstream_slots = Arc::new(Semaphore::new(config.limits.max_upstream_requests));
    let proxy = Arc::new(ArcSwap::from_pointee(build_proxy(
        &config,
        config.tls.is_some(),
        &telemetry,
        &hooks,
        &upstream_slots,
        pools,
    )?));
    let tls = match &config.tls {
        Some(settings) => Some(SharedAcceptor::new(crate::tls::acceptor(settings)?)),
        None => None,
    };
    telemetry
        .metrics()
        .set_certificate_not_after(config.tls.as_ref().and_then(crate::tls::not_after));
    telemetry.metrics().config_loaded(false, true);
    let (probe, probe_settings) = watch::channel(config.upstream.clone());
    let readiness = Readiness::default();
    let draining = Arc::new(AtomicBool::new(false));
    let gate = Gate::new(Tokens::load(&config.admin).map_err(|e| Error::Token(e.to_string()))?);
    let admin = Arc::new(
        Admin::new(telemetry.clone(), readiness.clone(), draining.clone())
            .with_live_view(&config.admin)
            .with_gate(gate.clone()),
    );

    let live = config
        .admin
        .live_listen
        .map(|_| Arc::new(admin.live(&config.admin)));

    let proxy_listener = bind("proxy", config.listen).await?;
    let admin_listener = bind("admin", config.admin.listen).await?;
    let live_listener = match config.admin.live_listen {
        Some(addr) => Some((bind("live view", addr).await?, addr)),
        None => None,
    };
    let proxy_addr = local_addr("proxy", &proxy_listener, config.listen)?;
    let admin_addr = local_addr("admin", &admin_listener, config.admin.listen)?;
    let live_addr = match &live_listener {
        Some((listener, addr)) => Some(local_addr("live view", listener, *addr)?),
        None => None,
    };

    let shutdown = CancellationToken::new();
    let proxy_stop = CancellationToken::new();
    let admin_stop = CancellationToken::new();

    let write_stall = Stall::new(config.upstream.idle_timeout);
    let proxy_options = Options {
        name: "proxy",
        max_connections: config.limits.max_connections,
        // hyper's header-read timer also runs while a keep-alive connection waits for its
        // next request, so it is the keep-alive idle timeout too: the smaller one wins.
        header_read_timeout: config
            .limits
            .header_read_timeout
            .min(config.limits.keepalive_timeout),
        keepalive_timeout: config.limits.keepalive_timeout,
        max_streams_per_connection: config.limits.max_streams_per_connection,
        drain_timeout: config.shutdown.drain_timeout,
        max_header_bytes: config.limits.max_header_bytes,
        metrics: telemetry.metrics().clone(),
        tls: tls.clone(),
        workers: workers.clone(),
        gather_writes: true,
        write_stall: write_stall.clone(),
    };
    let current = proxy.clone();
    let proxy_task = tokio::spawn(
        listener::serve(
            proxy_listener,
            move |request, peer| {
                let proxy = current.load_full();
                // Boxed: the handler's future is ~3 KiB (the upstream exchange's state), and
                // on its way into hyper's in-flight slot it was copied whole at each layer
                // (this block, the listener's, hyper's): one allocation costs less.
                Box::pin(async move { proxy.handle(request, peer).await })
            },
            proxy_options,
            proxy_stop.clone(),
        )
        .instrument(tracing::info_span!("proxy")),
    );
    let admin_options = Options {
        name: "admin",
        max_connections: config.admin.max_connections,
        header_read_timeout: ADMIN_IDLE.min(config.limits.keepalive_timeout),
        keepalive_timeout: ADMIN_IDLE.min(config.limits.keepalive_timeout),
        max_streams_per_connection: 8,
        drain_timeout: Duration::from_secs(5),
        max_header_bytes: 16 * 1024,
        tls: None,
        metrics: telemetry.metrics().clone(),
        workers: None,
        gather_writes: false,
        // Admin answers are bounded by their own reader slots (§3.5).
        write_stall: Stall::default(),
    };
    // The live view's listener, when it has its own: same limits as the admin listener,
    // stopped with it, and counted as `listener="admin"` (a closed label set).
    let live_task = match (live_listener, live) {
        (Some((listener, _)), Some(live)) => Some(tokio::spawn(
            listener::serve(
                listener,
                move |request, _peer| {
                    let live = live.clone();
                    async move { live.handle(request).await }
                },
                admin_options.clone(),
                admin_stop.clone(),
            )
            .instrument(tracing::info_span!("live")),
        )),
        _ => None,
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
    let probed = telemetry.clone();
    tokio::spawn(
        readiness
            .probe(
                probe_settings,
                Duration::from_secs(5),
                move |answer| {
                    UpstreamProbed {
                        upstream: answer.upstream,
                        error: answer.error,
                        changed: answer.changed,
                    }
                    .emit(&probed);
                },
                admin_stop.clone(),
            )
            .instrument(tracing::info_span!("readiness")),
    );

    // Identical partial failures folded by telemetry: their summaries, when an interval ends.
    let folds = telemetry.clone();
    let folds_stop = admin_stop.clone();
    tokio::spawn(
        async move {
            let mut tick = tokio::time::interval(crate::telemetry::throttle::INTERVAL);
            loop {
                tokio::select! {
                    () = folds_stop.cancelled() => return,
                    _ = tick.tick() => folds.flush_folds(),
                }
            }
        }
        .instrument(tracing::info_span!("log_summaries")),
    );

    tracing::info!(
        proxy = %proxy_addr,
        admin = %admin_addr,
        live_view = live_addr.map(|a| a.to_string()),
        upstream = %config.upstream.url,
        tls = config.tls.is_some(),
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
        if let Some(live_task) = live_task
            && let Err(error) = live_task.await
        {
            tracing::error!(%error, "live view listener task failed");
        }
        tracing::info!("stopped");
        // The worker threads end with their runtimes once everything has stopped.
        drop(workers);
    });

    let reloader = Reloader {
        state: Arc::new(ReloadState {
            proxy,
            tls,
            probe,
            telemetry: telemetry.clone(),
            hooks,
            live_view,
            upstream_slots,
            pools,
            write_stall,
            bound: Mutex::new(config),
            gate,
        }),
    };
    Ok(Running {
        proxy_addr,
        admin_addr,
        live_addr,
        telemetry,
        reloader,
        shutdown,
        done,
    })
}

/// Longest an admin connection may stay without a request in flight (and longest it gets
/// for its request head): scrapers and probes reconnect cheaply.
const ADMIN_IDLE: Duration = Duration::from_secs(10);

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
