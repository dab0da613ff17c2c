//! The commands users type (clap derive), dispatch, and the exit-code policy:
//! 0 success; 1 a failed check (`check-config` on a bad file, `scan` on a malformed body) or a
//! runtime error; 2 a usage error (clap's own).

pub(crate) mod check_config;
#[cfg(feature = "demo")]
pub(crate) mod demo;
pub(crate) mod generate;
pub(crate) mod healthcheck;
pub(crate) mod scan;
pub(crate) mod serve;
pub(crate) mod source;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `davaudit --version`: the crate version, the source revision and the compiler (build.rs).
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("DAVAUDIT_REVISION"),
    ", rust ",
    env!("DAVAUDIT_RUST_VERSION"),
    ")"
);

/// A reverse proxy for WebDAV that audits 207 Multi-Status responses.
///
/// Without a subcommand, `davaudit --config FILE` (or only `DAVAUDIT_*` variables) is
/// `davaudit serve`.
#[derive(Debug, Parser)]
#[command(
    name = "davaudit",
    version,
    long_version = LONG_VERSION,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    /// Same as `davaudit serve` with these arguments.
    #[command(flatten)]
    pub source: source::ConfigArgs,
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
    /// Probe the admin listener's /healthz once (for Docker HEALTHCHECK): exit 0 when healthy.
    Healthcheck(healthcheck::Args),
    /// Run the proxy in front of an embedded WebDAV server over a temporary folder.
    #[cfg(feature = "demo")]
    Demo(demo::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(generate::CompletionsArgs),
    /// Print the davaudit(1) man page (or write every page into a directory with --dir).
    Man(generate::ManArgs),
}

/// Parses the command line, runs the command, prints the error chain on failure.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Serve(args)) => serve::run(args),
        None => {
            let source = cli.source.resolve(None);
            if source.is_empty() {
                eprintln!(
                    "davaudit: nothing to do. Try `davaudit --config FILE`, `davaudit demo` or \
                     `davaudit --help`."
                );
                return ExitCode::from(2);
            }
            serve::run_source(source)
        }
        Some(Command::CheckConfig(args)) => check_config::run(args),
        Some(Command::Scan(args)) => scan::run(args),
        Some(Command::Healthcheck(args)) => healthcheck::run(args),
        #[cfg(feature = "demo")]
        Some(Command::Demo(args)) => demo::run(args),
        Some(Command::Completions(args)) => generate::run_completions(args),
        Some(Command::Man(args)) => generate::run_man(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            crate::telemetry::logging::report_fatal(error.as_ref());
            ExitCode::FAILURE
        }
    }
}
