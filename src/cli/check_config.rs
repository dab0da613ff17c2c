//! `davaudit check-config FILE`: validate a config file and print what would run.
//!
//! Valid: the effective config (every default filled in) as YAML on stdout, exit 0.
//! Invalid: one `FILE:LINE:COL: key: message` line on stderr, exit 1. Meant for CI and for
//! `ExecStartPre=` in the systemd unit.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config;

/// Arguments of `davaudit check-config`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The YAML config file to check.
    pub file: PathBuf,
}

/// Runs the command; a bad config is an exit code, not an `Err`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match config::load(&args.file) {
        Ok(config) => {
            print!(
                "# {}: valid; effective configuration:\n{}",
                args.file.display(),
                config.to_yaml()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}
