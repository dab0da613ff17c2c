//! Logging set-up: tracing-subscriber with the configured format (JSON or text) and level;
//! `RUST_LOG`, when set, wins over `log.level`.

use tracing_subscriber::EnvFilter;

use crate::config::{self, LogFormat};

/// Installs the global subscriber. Returns an error if one is already installed or the level
/// directive does not parse.
pub fn init(log: &config::Log) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::try_new(directives)?,
        _ => EnvFilter::try_new(&log.level)?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}
