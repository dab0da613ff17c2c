//! One tracing event as data: its level, target, message and fields, each field a typed JSON
//! value (numbers stay numbers, booleans booleans), the structured ones (arrays, objects) as
//! structure. `write` turns a [`Record`] into a JSON or a logfmt line.
//!
//! Why this exists: tracing records a field as a number, a bool, a string or `&dyn Debug`,
//! and erases every other type; tracing-subscriber's JSON formatter then writes a structured
//! value (a list of failures) as a string holding JSON. An event that carries structure
//! wraps the value in [`Structured`] (its `Debug` is compact JSON) under a name listed in
//! [`STRUCTURED`], and the visitor here reads it back as JSON. The alternative, tracing's
//! `valuable` support, needs `--cfg tracing_unstable` in every build of the crate and its
//! dependents, and tracing-subscriber's JSON formatter does not nest it anyway.

use std::fmt;

use serde::Serialize;
use serde_json::{Number, Value};
use tracing::field::{Field, Visit};

/// The field names whose values are [`Structured`]: JSON arrays and objects in the log
/// record, never strings holding JSON. One list, so the events and the visitor agree.
pub(crate) const STRUCTURED: &[&str] = &[
    // The audit event (telemetry::events): failing entries, counts by code per level.
    "failed",
    "response_status",
    "propstat_status",
    // Lifecycle: the overrides in effect (`config loaded`), restart-only keys changed.
    "overrides",
    "keys",
];

/// A field value written as JSON structure: record it as `name = ?Structured(&value)` under a
/// name in [`STRUCTURED`]. Its `Debug` is compact JSON, so other subscribers (tests, tools)
/// still get readable JSON text.
pub(crate) struct Structured<T>(pub T);

impl<T: Serialize> fmt::Debug for Structured<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Plain data with string keys: serializing cannot fail; if it did, say so as JSON.
        match serde_json::to_string(&self.0) {
            Ok(json) => f.write_str(&json),
            Err(_) => f.write_str("null"),
        }
    }
}

/// One event, ready to be written.
#[derive(Debug)]
pub(crate) struct Record {
    pub level: tracing::Level,
    pub target: String,
    pub message: String,
    /// In the order the event names them.
    pub fields: Vec<(&'static str, Value)>,
}

impl Record {
    /// Reads `event`'s fields. Events bridged from the `log` crate carry their target in a
    /// `log.target` field; it replaces the bridge's own target and the other `log.*` fields
    /// (module, file, line) are dropped, as tracing-subscriber's formatters do.
    pub(crate) fn of(event: &tracing::Event<'_>) -> Record {
        let metadata = event.metadata();
        let mut record = Record {
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            message: String::new(),
            fields: Vec::with_capacity(metadata.fields().len()),
        };
        event.record(&mut record);
        record
    }

    fn push(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => {
                self.message = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                }
            }
            "log.target" => {
                if let Value::String(s) = value {
                    self.target = s;
                }
            }
            name if name.starts_with("log.") => {}
            name => self.fields.push((name, value)),
        }
    }
}

impl Visit for Record {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities are not JSON numbers: written as text.
        let value =
            Number::from_f64(value).map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.push(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::from(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let value =
            i64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
        self.push(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let value =
            u64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
        self.push(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let text = crate::error::ErrorChain(value).to_string();
        self.push(field, Value::String(text));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        let value = if STRUCTURED.contains(&field.name()) {
            match serde_json::from_str::<Value>(&text) {
                Ok(json @ (Value::Array(_) | Value::Object(_))) => json,
                _ => Value::String(text),
            }
        } else {
            Value::String(text)
        };
        self.push(field, value);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::json;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;
    use crate::config::LogFormat;
    use crate::telemetry::logging::LogLayer;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    /// The JSON record of the one event `emit` logs.
    fn record_of(emit: impl FnOnce()) -> Value {
        let buf = Buf::default();
        let subscriber =
            tracing_subscriber::registry().with(LogLayer::new(LogFormat::Json, buf.clone()));
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buf.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn fields_keep_their_types_and_only_listed_ones_become_structure() {
        let r = record_of(|| {
            tracing::warn!(
                failed = ?Structured(vec![json!({"code": 423})]),
                // Not in STRUCTURED: a Debug value stays text, whatever it looks like.
                other = ?Structured(vec![1, 2]),
                keys = ?Structured(Vec::<&str>::new()),
                ratio = 0.5,
                not_a_number = f64::NAN,
                delta = -3,
                big = u128::MAX,
                ok = true,
                "message {}",
                7
            );
        });
        assert_eq!(r["message"], "message 7");
        assert_eq!(r["level"], "WARN");
        assert_eq!(r["failed"], json!([{"code": 423}]));
        assert_eq!(r["other"], "[1,2]");
        assert_eq!(r["keys"], json!([]));
        assert_eq!(r["ratio"], 0.5);
        assert_eq!(r["not_a_number"], "NaN");
        assert_eq!(r["delta"], -3);
        assert_eq!(r["big"], u128::MAX.to_string());
        assert_eq!(r["ok"], true);
    }

    #[test]
    fn a_structured_field_that_is_not_json_structure_stays_text() {
        let r = record_of(|| tracing::info!(failed = "3", "x"));
        assert_eq!(r["failed"], "3");
        let r = record_of(|| tracing::info!(failed = ?"plain", "x"));
        assert_eq!(r["failed"], "\"plain\"");
    }
}
