//! `davaudit [serve] --config FILE`: load and check the config before binding anything, set
//! up logging, run until SIGTERM/SIGINT, drain, exit 0.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

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
    telemetry::logging::init(&config.log)?;
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
        running.wait().await;
        Ok(ExitCode::SUCCESS)
    })
}
