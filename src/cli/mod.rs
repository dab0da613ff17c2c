//! The commands users type (clap derive), dispatch, and the exit-code policy:
//! 0 success; 1 a failed check (`check-config` on a bad file, `scan` on a malformed body) or a
//! runtime error; 2 a usage error (clap's own).

pub(crate) mod check_config;
pub(crate) mod demo;
pub(crate) mod scan;
pub(crate) mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A reverse proxy for WebDAV that audits 207 Multi-Status responses.
#[derive(Debug, Parser)]
#[command(name = "davaudit", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Config file (YAML); same as `davaudit serve --config FILE`.
    #[arg(long, short = 'c', global = false)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the proxy.
    Serve(serve::Args),
    /// Validate a config file and print the effective config.
    CheckConfig(check_config::Args),
    /// Audit saved 207 bodies (`-` reads standard input).
    Scan(scan::Args),
    /// Run the proxy in front of an embedded WebDAV server over a temporary folder.
    Demo(demo::Args),
}

/// Parses the command line, runs the command, prints the error chain on failure.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match (cli.command, cli.config) {
        (Some(Command::Serve(args)), _) => serve::run(args),
        (None, Some(config)) => serve::run(serve::Args { config }),
        (None, None) => {
            eprintln!(
                "davaudit: nothing to do. Try `davaudit --config FILE`, `davaudit demo` or \
                 `davaudit --help`."
            );
            return ExitCode::from(2);
        }
        (Some(_), Some(_)) => {
            eprintln!("davaudit: --config goes with `serve` (or alone), not with a subcommand");
            return ExitCode::from(2);
        }
        (Some(Command::CheckConfig(args)), None) => check_config::run(args),
        (Some(Command::Scan(args)), None) => scan::run(args),
        (Some(Command::Demo(args)), None) => demo::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("davaudit: {error:#}");
            ExitCode::FAILURE
        }
    }
}
