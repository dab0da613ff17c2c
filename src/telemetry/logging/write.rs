//! The log line: a [`Record`] written as one JSON object or one logfmt line, and the layer
//! that writes one line per event.
//!
//! JSON (`log.format: json`): `timestamp`, `level`, `target`, `message`, then the event's
//! fields at the top level, typed (numbers as numbers), the structured ones as arrays and
//! objects. logfmt (`text`): the same keys in the same order, `key=value` separated by one
//! space; arrays and objects are flattened into dotted keys (`failed.0.code=423`,
//! `propstat_status.424=2`), as Go's `slog` writes groups. A value is quoted, with JSON's
//! escapes, when it is empty or holds a space, `=`, `"`, `\` or a control character (the
//! rules of go-logfmt and Loki's `| logfmt`), so a value never splits and an href cannot
//! inject a line or a terminal escape. No colour codes, on a terminal or not.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::layer::Context;

use super::record::Record;
use crate::config::LogFormat;

/// Writes each event as one line in `format` to `writer` (stderr in production, a buffer in
/// tests). Spans are not written: the events carry what they need (`request_id`, ...).
pub struct LogLayer<W> {
    format: LogFormat,
    writer: W,
}

impl<W> LogLayer<W> {
    /// A layer writing `format` lines to `writer`.
    pub fn new(format: LogFormat, writer: W) -> Self {
        LogLayer { format, writer }
    }
}

impl<W> std::fmt::Debug for LogLayer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogLayer")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl<S, W> tracing_subscriber::Layer<S> for LogLayer<W>
where
    S: tracing::Subscriber,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let record = Record::of(event);
        let mut line = line(self.format, &record);
        line.push('\n');
        // One write per line; a log write that fails has nowhere to be reported.
        let _ = self
            .writer
            .make_writer_for(event.metadata())
            .write_all(line.as_bytes());
    }
}

/// `record` as one line in `format`, without the newline.
pub(crate) fn line(format: LogFormat, record: &Record) -> String {
    let mut timestamp = String::with_capacity(32);
    // RFC 3339 in UTC with microseconds: `2026-12-06T01:06:07.123456Z`.
    let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
    match format {
        LogFormat::Json => json(&timestamp, record),
        LogFormat::Text => logfmt(&timestamp, record),
    }
}

fn json(timestamp: &str, record: &Record) -> String {
    let mut out = String::with_capacity(256);
    out.push('{');
    let head = [
        ("timestamp", timestamp),
        ("level", record.level.as_str()),
        ("target", &record.target),
        ("message", &record.message),
    ];
    for (i, (key, value)) in head.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_pair(&mut out, key, &Value::String(value.to_owned()));
    }
    for (key, value) in &record.fields {
        out.push(',');
        json_pair(&mut out, key, value);
    }
    out.push('}');
    out
}

fn json_pair(out: &mut String, key: &str, value: &Value) {
    // Strings and `Value`s always serialize.
    out.push_str(&serde_json::to_string(key).unwrap_or_default());
    out.push(':');
    out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()));
}

fn logfmt(timestamp: &str, record: &Record) -> String {
    let mut out = String::with_capacity(256);
    logfmt_pair(&mut out, "timestamp", timestamp);
    logfmt_pair(&mut out, "level", record.level.as_str());
    logfmt_pair(&mut out, "target", &record.target);
    logfmt_pair(&mut out, "message", &record.message);
    for (key, value) in &record.fields {
        logfmt_value(&mut out, key, value);
    }
    out
}

/// Flattens arrays and objects into dotted keys; an empty one writes nothing (no empty
/// fields). `null` (a status line that is not a status, in `failed`) is written `null`.
fn logfmt_value(out: &mut String, key: &str, value: &Value) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                logfmt_value(out, &format!("{key}.{i}"), item);
            }
        }
        Value::Object(map) => {
            for (name, item) in map {
                logfmt_value(out, &format!("{key}.{}", logfmt_key(name)), item);
            }
        }
        Value::String(s) => logfmt_pair(out, key, s),
        Value::Null => logfmt_pair(out, key, "null"),
        Value::Bool(_) | Value::Number(_) => logfmt_pair(out, key, &value.to_string()),
    }
}

fn logfmt_pair(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(key);
    out.push('=');
    if needs_quotes(value) {
        // A JSON string literal is a logfmt quoted value (go-logfmt unquotes with JSON's
        // rules).
        out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned()));
    } else {
        out.push_str(value);
    }
}

fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value
            .chars()
            .any(|c| c == '=' || c == '"' || c == '\\' || c.is_whitespace() || c.is_control())
}

/// An object key from a structured value, safe as part of a logfmt key: characters a key
/// cannot hold become `_`.
fn logfmt_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for c in name.chars() {
        let unsafe_char = c == '=' || c == '"' || c == '\\' || c.is_whitespace() || c.is_control();
        let _ = key.write_char(if unsafe_char { '_' } else { c });
    }
    if key.is_empty() {
        key.push('_');
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: Vec<(&'static str, Value)>) -> Record {
        Record {
            level: tracing::Level::WARN,
            target: "davaudit::telemetry::events".to_owned(),
            message: "multistatus partial failure".to_owned(),
            fields,
        }
    }

    #[test]
    fn json_keeps_types_and_structure() {
        let r = record(vec![
            ("status", Value::from(207)),
            ("failed", serde_json::json!([{"href": "/a b", "code": 423}])),
        ]);
        let v: Value = serde_json::from_str(&json("T", &r)).unwrap();
        assert_eq!(v["timestamp"], "T");
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["message"], "multistatus partial failure");
        assert_eq!(v["status"], 207);
        assert_eq!(v["failed"][0]["code"], 423);
        assert_eq!(v["failed"][0]["href"], "/a b");
    }

    #[test]
    fn logfmt_quotes_what_would_split_and_flattens_structure() {
        let r = record(vec![
            ("path", Value::from("/a b=c\"d\\\n\u{1b}[31m")),
            ("plain", Value::from("/dav/x.txt")),
            ("empty", Value::from("")),
            ("none", serde_json::json!({})),
            (
                "failed",
                serde_json::json!([{"code": 423, "hrefs": ["/a"]}, {"code": null}]),
            ),
            ("propstat_status", serde_json::json!({"403": 1, "424": 2})),
        ]);
        let line = logfmt("2026-12-06T01:06:07.123456Z", &r);
        assert_eq!(
            line,
            "timestamp=2026-12-06T01:06:07.123456Z level=WARN target=davaudit::telemetry::events \
             message=\"multistatus partial failure\" path=\"/a b=c\\\"d\\\\\\n\\u001b[31m\" \
             plain=/dav/x.txt empty=\"\" failed.0.code=423 failed.0.hrefs.0=/a \
             failed.1.code=null propstat_status.403=1 propstat_status.424=2"
        );
    }

    #[test]
    fn logfmt_keys_never_split() {
        assert_eq!(logfmt_key("a b=c"), "a_b_c");
        assert_eq!(logfmt_key(""), "_");
    }
}
