//! `davaudit [serve] [FILE | --config FILE] [overrides]`: load and check the config before
//! binding anything, set up logging, run until SIGTERM/SIGINT, drain, exit 0. SIGHUP reads
//! the file again and applies it with the same overrides (flags, and the environment as it
//! was at start); a bad file is logged and the running config stays.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::source::{ConfigArgs, Source};
use crate::app::Reloader;
use crate::descriptors::{Budget, Fitted};
use crate::telemetry::logging::LogHandle;
use crate::{app, shutdown, telemetry};

/// Arguments of `davaudit serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Config file (YAML); the same as --config FILE.
    #[arg(value_name = "FILE", conflicts_with = "config")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub source: ConfigArgs,
}

/// Runs `davaudit serve`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    run_source(args.source.resolve(args.file.as_deref()))
}

/// Serves the config `source` describes until a shutdown signal.
pub(crate) fn run_source(source: Source) -> anyhow::Result<ExitCode> {
    let mut config = match source.load() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let log = telemetry::logging::init(&config.log)?;
    // Before anything binds: the limits the listeners get must fit the descriptors.
    let (budget, before) = Budget::raise();
    log_budget(budget, before, budget.fit(&mut config));
    // This thread runs the accept loops, admin, signals and reloads; proxy connections run
    // on the connection workers, one current-thread runtime per core (`workers`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let workers = crate::workers::default_count();
    runtime.block_on(async {
        let overrides: Vec<&str> = source.overrides.iter().map(|o| o.origin.as_str()).collect();
        tracing::info!(
            config = %source.describe(),
            overrides = ?telemetry::logging::Structured(&overrides),
            version = env!("CARGO_PKG_VERSION"),
            revision = env!("DAVAUDIT_REVISION"),
            "config loaded"
        );
        // Every handler is installed before `listening` is logged: a signal sent right after
        // it must not meet the default action (termination).
        let shutdown = shutdown::signal();
        let hangups = hangups();
        let source = Fit { source, budget };
        let running =
            app::run_with_workers(config, shutdown, crate::audit::Hooks::default(), workers)
                .await?;
        tokio::spawn(reload_on_hangup(hangups, source, running.reloader(), log));
        running.wait().await;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

/// The SIGHUP stream, installed now (signals that arrive before the reloader exists wait).
fn hangups() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let hangups = signal(SignalKind::hangup()).ok();
        if hangups.is_none() {
            tracing::warn!("cannot listen for SIGHUP: config reload is unavailable");
        }
        hangups
    }
}

/// Logs the descriptor limit and the connection limits it allows: WARN when a configured
/// limit had to be lowered.
fn log_budget(budget: Budget, before: Option<(u64, u64)>, fitted: Fitted) {
    let (soft_before, hard) = before.unzip();
    if fitted.lowered() {
        tracing::warn!(
            nofile = budget.nofile,
            soft_before,
            hard,
            reserve = crate::descriptors::FIXED_RESERVE,
            max_connections = fitted.proxy.0,
            effective_max_connections = fitted.proxy.1,
            admin_max_connections = fitted.admin.0,
            effective_admin_max_connections = fitted.admin.1,
            max_upstream_requests = fitted.upstream.0,
            effective_max_upstream_requests = fitted.upstream.1,
            "connection limits lowered to fit the file descriptor limit; raise the hard limit (ulimit -Hn, LimitNOFILE=) to use the configured ones"
        );
    } else {
        tracing::info!(
            nofile = budget.nofile,
            soft_before,
            hard,
            max_connections = fitted.proxy.1,
            "file descriptor limit"
        );
    }
}

/// The config source, and the descriptor budget every reloaded config is fitted to.
struct Fit {
    source: Source,
    budget: Budget,
}

impl Fit {
    fn load(&self) -> Result<crate::config::Config, crate::config::Error> {
        let mut config = self.source.load()?;
        self.budget.fit(&mut config);
        Ok(config)
    }

    fn describe(&self) -> String {
        self.source.describe()
    }
}

/// Applies the config file again on every SIGHUP.
async fn reload_on_hangup(hangups: Hangups, source: Fit, reloader: Reloader, log: LogHandle) {
    #[cfg(unix)]
    if let Some(mut hangups) = hangups {
        while hangups.recv().await.is_some() {
            reload(&source, &reloader, &log);
        }
    }
    #[cfg(not(unix))]
    let _ = (hangups, source, reloader, log);
}

fn reload(source: &Fit, reloader: &Reloader, log: &LogHandle) {
    let config = match source.load() {
        Ok(config) => config,
        Err(error) => {
            reloader.rejected();
            tracing::error!(%error, "config reload rejected; the running config stays");
            return;
        }
    };
    let log_settings = config.log.clone();
    match reloader.reload(config) {
        Ok(restart) => {
            if let Err(error) = log.set_level(&log_settings) {
                tracing::error!(%error, "log level not changed");
            }
            tracing::info!(config = %source.describe(), "config reloaded");
            if !restart.is_empty() {
                tracing::warn!(
                    keys = ?telemetry::logging::Structured(&restart),
                    "changed settings that only take effect after a restart"
                );
            }
        }
        Err(error) => {
            tracing::error!(%error, "config reload rejected; the running config stays");
        }
    }
}
