//! Logging set-up: our [`LogLayer`] in the configured format (JSON or logfmt text) behind a
//! reloadable level filter; `RUST_LOG`, when set, wins over `log.level`. The level can be
//! changed later (SIGHUP) through the returned [`LogHandle`]; the format cannot. A panic is
//! logged as one record in the same format (the panic hook), not as free text.
//!
//! - [`record`]: one event as typed data; [`Structured`] fields.
//! - [`write`]: the JSON and logfmt lines, and the layer writing them.

mod record;
mod write;

pub(crate) use record::Structured;
pub use write::LogLayer;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config;

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

/// Set once [`init`] installed the subscriber: from then on stderr belongs to the records.
static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Reports the error that ends the process: one ERROR record (`fatal error`, `error`) once
/// the logger is installed and lets it through, so a pipeline reading JSON sees why davaudit
/// stopped; else `davaudit: <error>` on stderr as before the logger existed.
pub(crate) fn report_fatal(error: &(dyn std::error::Error + 'static)) {
    let chain = crate::error::ErrorChain(error);
    if INSTALLED.load(std::sync::atomic::Ordering::Relaxed)
        && tracing::enabled!(target: "davaudit::fatal", tracing::Level::ERROR)
    {
        tracing::error!(target: "davaudit::fatal", error = %chain, "fatal error");
    } else {
        eprintln!("davaudit: {chain}");
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
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(LogLayer::new(log.format, std::io::stderr))
        .try_init();
    result.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))?;
    INSTALLED.store(true, std::sync::atomic::Ordering::Relaxed);
    // A filter that turns `davaudit::panic` off (`log.level: off`) gets the default hook's
    // text rather than silence.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if tracing::enabled!(target: "davaudit::panic", tracing::Level::ERROR) {
            log_panic(info);
        } else {
            default_hook(info);
        }
    }));
    Ok(LogHandle {
        filter: handle,
        from_env,
    })
}

/// The panic hook: one ERROR record (`panic`) with the panic's `payload`, `location` and
/// `thread`, and `backtrace` when `RUST_BACKTRACE` asks for one, instead of the default
/// hook's free text, so a log pipeline reading JSON sees the panic too. The process goes on
/// as after any panic (the thread unwinds; `main` exits 101).
fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let payload = info
        .payload()
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)");
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
    let thread = std::thread::current();
    let backtrace = std::backtrace::Backtrace::capture();
    let backtrace = (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
        .then(|| backtrace.to_string());
    tracing::error!(
        target: "davaudit::panic",
        payload,
        location,
        thread = thread.name().unwrap_or("(unnamed)"),
        backtrace,
        "panic"
    );
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
