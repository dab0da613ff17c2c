//! Captured tracing events for asserting on log output: the lines davaudit's own log layer
//! writes (`davaudit::internals::LogLayer`), JSON by default, logfmt with `start_text`, so the
//! tests read what operators read.
//!
//! Design: a per-test subscriber (level filter + that layer) installed with
//! `tracing::subscriber::set_default` (thread-local). That captures everything the test's
//! thread runs, so a test that asserts on logs must run the app on ONE thread:
//!
//! ```ignore
//! #[tokio::test] // the default flavor IS current_thread: every spawned task (listener,
//! async fn warns_once() {   // connections, audit task) runs on this thread and is captured
//!     let logs = LogCapture::start();
//!     let proxy = Proxy::start(&upstream.url()).await;
//!     /* ... */
//!     let ev = logs.wait_for("the partial-failure WARN", |e| e.level() == "WARN").await;
//! }
//! ```
//!
//! Not captured: `#[tokio::test(flavor = "multi_thread")]` tasks on worker threads,
//! `spawn_blocking`, `std::thread::spawn`. That is also what keeps parallel tests apart:
//! each test sees only its own events. (A global subscriber routing by a span field was the
//! alternative; it breaks as soon as a task is spawned without `.instrument()`.)
//!
//! The default filter is `debug`, with `h2`, `hyper`, `hyper_util` and `rustls` at `warn`;
//! `start_with` takes an `EnvFilter` directive string.

use std::io;
use std::sync::{Arc, Mutex};

use davaudit::config::LogFormat;
use davaudit::internals::LogLayer;
use serde_json::Value;
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

use super::wait_until;

/// Default `EnvFilter` directives.
pub(crate) const DEFAULT_FILTER: &str = "debug,h2=warn,hyper=warn,hyper_util=warn,rustls=warn";

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buf {
    type Writer = Buf;

    fn make_writer(&'a self) -> Buf {
        self.clone()
    }
}

/// The capture; stops capturing when dropped. Not `Send` (it holds the thread's default
/// subscriber guard): keep it in the test's own future.
pub(crate) struct LogCapture {
    buf: Buf,
    _guard: DefaultGuard,
}

impl std::fmt::Debug for LogCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogCapture").finish_non_exhaustive()
    }
}

/// One captured event: the JSON object davaudit writes in `log.format: json` (`timestamp`,
/// `level`, `target`, `message`, then the event's fields at the top level; no spans).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event(pub(crate) Value);

impl Event {
    /// `TRACE` .. `ERROR`.
    pub(crate) fn level(&self) -> &str {
        self.0["level"].as_str().unwrap_or_default()
    }

    pub(crate) fn target(&self) -> &str {
        self.0["target"].as_str().unwrap_or_default()
    }

    pub(crate) fn message(&self) -> &str {
        self.0["message"].as_str().unwrap_or_default()
    }

    /// An event field (not the message), e.g. `field("href")`.
    pub(crate) fn field(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// The event's own field names (not `timestamp`, `level`, `target`, `message`), sorted.
    pub(crate) fn field_names(&self) -> Vec<String> {
        let mut names: Vec<String> = (self.0.as_object().into_iter().flatten())
            .map(|(k, _)| k.clone())
            .filter(|k| !["timestamp", "level", "target", "message"].contains(&k.as_str()))
            .collect();
        names.sort();
        names
    }
}

impl LogCapture {
    /// Captures with [`DEFAULT_FILTER`].
    pub(crate) fn start() -> LogCapture {
        LogCapture::start_with(DEFAULT_FILTER)
    }

    /// Captures with `EnvFilter` directives (e.g. `"davaudit=debug"`).
    pub(crate) fn start_with(filter: &str) -> LogCapture {
        LogCapture::start_in(LogFormat::Json, filter)
    }

    /// Captures logfmt lines (`log.format: text`) with [`DEFAULT_FILTER`]: read them with
    /// [`LogCapture::lines`] (`events` parses JSON only).
    pub(crate) fn start_text() -> LogCapture {
        LogCapture::start_in(LogFormat::Text, DEFAULT_FILTER)
    }

    fn start_in(format: LogFormat, filter: &str) -> LogCapture {
        keep_two_dispatchers_registered();
        let buf = Buf::default();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(filter))
            .with(LogLayer::new(format, buf.clone()));
        let guard = tracing::subscriber::set_default(subscriber);
        LogCapture { buf, _guard: guard }
    }

    /// Raw lines so far.
    pub(crate) fn lines(&self) -> Vec<String> {
        let bytes = self.buf.0.lock().expect("log buffer").clone();
        String::from_utf8(bytes)
            .expect("logs are UTF-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Parsed events so far.
    pub(crate) fn events(&self) -> Vec<Event> {
        self.lines()
            .iter()
            .map(|l| Event(serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))))
            .collect()
    }

    /// Events matching `pred`.
    pub(crate) fn find(&self, pred: impl Fn(&Event) -> bool) -> Vec<Event> {
        self.events().into_iter().filter(|e| pred(e)).collect()
    }

    /// Events at `level` (`"WARN"`, ...).
    pub(crate) fn at_level(&self, level: &str) -> Vec<Event> {
        self.find(|e| e.level() == level)
    }

    /// Waits (bounded) for the first event matching `pred`: audit events are emitted by the
    /// audit task after the response body ended, so they may trail the client's read.
    pub(crate) async fn wait_for(&self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let pred = &pred;
        wait_until(&format!("log event: {what}"), || async move {
            self.events().into_iter().find(|e| pred(e))
        })
        .await
    }
}

/// Keeps one extra dispatcher (a `NoSubscriber`, default of no thread) registered for the
/// whole test run.
///
/// Why: tracing-core caches each callsite's interest the first time the callsite is hit.
/// While at most one dispatcher is registered (`has_just_one`), it asks only the *hitting
/// thread's* default: a test without a capture hitting `multistatus partial failure` first
/// then caches `never`, and a capture running at that moment on another thread never sees
/// that event (seen: `audit_dav`'s WARN missing when the whole binary runs). With this one
/// always registered, every capture makes two, and new callsites ask every live dispatcher.
fn keep_two_dispatchers_registered() {
    static KEEP: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    KEEP.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::new()));
}

/// The field names in the first column of the tables of README.md's `## {section}` section
/// (a cell may list several: `` `a`, `b` ``), sorted: the documented fields of a log record.
pub(crate) fn readme_fields(section: &str) -> Vec<String> {
    let readme = include_str!("../../../README.md");
    let body = readme
        .split(&format!("\n## {section}\n"))
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap_or_else(|| panic!("README.md has a ## {section} section"));
    let mut fields: Vec<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .flat_map(|l| {
            let cell = l.split(" |").next().unwrap_or_default();
            cell.split(", ")
                .map(|f| f.trim_matches('`').to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    fields.sort();
    fields
}
