//! Logging set-up: tracing-subscriber with the configured format (JSON or text) and level;
//! `RUST_LOG`, when set, wins over `log.level`. The level can be changed later (SIGHUP)
//! through the returned [`LogHandle`]; the format cannot.

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config::{self, LogFormat};

/// Changes the log filter of the installed subscriber.
#[derive(Debug, Clone)]
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    /// Set when `RUST_LOG` chose the filter: config reloads then leave it alone.
    from_env: bool,
}

impl LogHandle {
    /// Applies `log.level` (and `log.access`) from a reloaded config (unless `RUST_LOG` is
    /// in charge).
    pub(crate) fn set_level(&self, log: &config::Log) -> anyhow::Result<()> {
        if self.from_env {
            return Ok(());
        }
        let filter = EnvFilter::try_new(filter_directives(log))?;
        self.filter
            .reload(filter)
            .map_err(|e| anyhow::anyhow!("cannot change the log level: {e}"))
    }
}

/// The filter for `log`: `log.level`, plus `davaudit::access=info` when `log.access` is on
/// (so `level: warn` with `access: true` still writes the access lines), unless the level
/// already names that target.
fn filter_directives(log: &config::Log) -> String {
    if log.access && !log.level.contains(super::access::TARGET) {
        format!("{},{}=info", log.level, super::access::TARGET)
    } else {
        log.level.clone()
    }
}

/// Installs the global subscriber. Fails if one is already installed or the level directive
/// does not parse.
pub fn init(log: &config::Log) -> anyhow::Result<LogHandle> {
    let (directives, from_env) = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => (directives, true),
        _ => (filter_directives(log), false),
    };
    let (filter, handle) = reload::Layer::new(EnvFilter::try_new(directives)?);
    let registry = tracing_subscriber::registry().with(filter);
    let result = match log.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    // No colour codes in journald or a file: only on a terminal.
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))?;
    Ok(LogHandle {
        filter: handle,
        from_env,
    })
}

#[cfg(test)]
mod tests {
    use super::filter_directives;
    use crate::config::{Log, LogFormat};

    fn log(level: &str, access: bool) -> Log {
        Log {
            format: LogFormat::Json,
            level: level.to_owned(),
            access,
        }
    }

    #[test]
    fn the_access_log_is_written_whatever_the_level() {
        assert_eq!(filter_directives(&log("warn", false)), "warn");
        assert_eq!(
            filter_directives(&log("warn", true)),
            "warn,davaudit::access=info"
        );
        // An explicit directive for the target is the operator's choice.
        assert_eq!(
            filter_directives(&log("info,davaudit::access=off", true)),
            "info,davaudit::access=off"
        );
    }
}
