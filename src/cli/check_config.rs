//! `davaudit check-config [FILE | --config FILE] [--quiet] [overrides]`: validate a config
//! exactly as `serve` would load it (the same file, flags and `DAVAUDIT_*` variables) and
//! print what would run.
//!
//! Every file the config names (TLS certificate chain and key, upstream CA, admin token
//! files) is loaded and checked as `serve` would. Valid: the effective config (every default filled in) as YAML
//! on stdout, exit 0; nothing with `--quiet`. Invalid: one `FILE:LINE:COL: key: message` line (or `FLAG: key: message`
//! for an override) on stderr, exit 1. Nothing to check at all: exit 2. Meant for CI and for
//! `ExecStartPre=`/`ExecReload=` in the systemd unit.

use std::path::PathBuf;
use std::process::ExitCode;

use super::source::ConfigArgs;

/// Arguments of `davaudit check-config`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The YAML config file to check; the same as --config FILE.
    #[arg(value_name = "FILE", conflicts_with = "config")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub source: ConfigArgs,
    /// Print nothing when the config is valid (errors still go to stderr).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Check the config text only, not the files it names (TLS chain and key, upstream CA,
    /// admin token files):
    /// for example configs checked on a machine without those files.
    #[arg(long)]
    pub syntax_only: bool,
}

/// Runs the command; a bad config is an exit code, not an `Err`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = args.source.resolve(args.file.as_deref());
    if source.is_empty() {
        eprintln!(
            "davaudit check-config: give a FILE, --config FILE or DAVAUDIT_CONFIG (or the \
             overrides serve would run with)"
        );
        return Ok(ExitCode::from(2));
    }
    // The files the config names are loaded too: a certificate chain with a stray block, a
    // key that does not match it or an unreadable CA file fails here as it would in serve.
    let syntax_only = args.syntax_only;
    let loaded = source.load().map_err(|e| e.to_string()).and_then(|config| {
        if syntax_only {
            return Ok(config);
        }
        crate::app::check_files(&config)
            .map(|()| config)
            .map_err(|e| format!("{}: {e}", source.describe()))
    });
    match loaded {
        Ok(config) => {
            if !args.quiet {
                let mut header = format!("# {}: valid", source.describe());
                for o in &source.overrides {
                    header.push_str(&format!("; {} from {}", o.key.key(), o.origin));
                }
                print!("{header}; effective configuration:\n{}", config.to_yaml());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}
