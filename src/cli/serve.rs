//! `davaudit [serve] --config FILE`: load and check the config before binding anything, set
//! up logging, run until SIGTERM/SIGINT, drain, exit 0. SIGHUP reads the file again and
//! applies it; a bad file is logged and the running config stays.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::app::Reloader;
use crate::telemetry::logging::LogHandle;
use crate::{app, config, shutdown, telemetry};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config file (YAML).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = match config::load(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let log = telemetry::logging::init(&config.log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("davaudit")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        tracing::info!(
            config = %args.config.display(),
            version = env!("CARGO_PKG_VERSION"),
            "config loaded"
        );
        let running = app::run(config, shutdown::signal()).await?;
        tokio::spawn(reload_on_hangup(
            args.config.clone(),
            running.reloader(),
            log,
        ));
        running.wait().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Applies the config file again on every SIGHUP.
async fn reload_on_hangup(path: PathBuf, reloader: Reloader, log: LogHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: config reload is unavailable");
            return;
        };
        while hangups.recv().await.is_some() {
            reload(&path, &reloader, &log);
        }
    }
    #[cfg(not(unix))]
    let _ = (path, reloader, log);
}

fn reload(path: &Path, reloader: &Reloader, log: &LogHandle) {
    let config = match config::load(path) {
        Ok(config) => config,
        Err(error) => {
            reloader.rejected();
            tracing::error!(%error, "config reload rejected; the running config stays");
            return;
        }
    };
    let level = config.log.level.clone();
    match reloader.reload(config) {
        Ok(restart) => {
            if let Err(error) = log.set_level(&level) {
                tracing::error!(%error, "log level not changed");
            }
            tracing::info!(config = %path.display(), "config reloaded");
            if !restart.is_empty() {
                tracing::warn!(
                    keys = ?restart,
                    "changed settings that only take effect after a restart"
                );
            }
        }
        Err(error) => {
            tracing::error!(%error, "config reload rejected; the running config stays");
        }
    }
}
