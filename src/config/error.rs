//! `config::Error`: what is wrong with a config file, and where.
//!
//! Displayed as `FILE:LINE:COL: KEY.PATH: message` (the format editors and CI annotators
//! understand), `FILE: cannot read: <io error>`, `--flag: KEY: message` or
//! `DAVAUDIT_VAR: KEY: message` for a value given outside the file. Lines and columns are
//! 1-based.

use std::fmt;

use super::locate::{Spot, Spots};

/// A config file that could not be read or is not a valid davaudit config.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{origin}: cannot read: {io}")]
    Read {
        /// The path as given.
        origin: String,
        /// Why reading failed (shown in the message, so not also a `source`).
        io: std::io::Error,
    },
    /// The file was read but is not a valid config.
    #[error("{origin}:{line}:{column}: {}", KeyMessage(.key, .message))]
    Invalid {
        /// The path as given, or the origin passed to `from_yaml`.
        origin: String,
        /// 1-based line of the offending value or key.
        line: usize,
        /// 1-based column of the offending value or key.
        column: usize,
        /// Dotted key path (`audit.routine[0].code`); empty for the document itself.
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A value given by a flag or an environment variable is not valid.
    #[error("{origin}: {key}: {message}")]
    Override {
        /// The flag or variable, as the user wrote it (`--listen`, `DAVAUDIT_LISTEN`).
        origin: String,
        /// The dotted config key it sets.
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// Without a config file: a required key that nothing set.
    #[error("{key}: {message}")]
    Unset {
        /// The dotted config key.
        key: String,
        /// What is missing and how to set it.
        message: String,
    },
}

impl Error {
    /// 1-based `(line, column)` of an `Invalid` error.
    pub fn location(&self) -> Option<(usize, usize)> {
        match self {
            Error::Invalid { line, column, .. } => Some((*line, *column)),
            Error::Read { .. } | Error::Override { .. } | Error::Unset { .. } => None,
        }
    }

    /// The dotted key path of an `Invalid` error (empty for the whole document).
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::Invalid { key, .. } | Error::Override { key, .. } | Error::Unset { key, .. } => {
                Some(key)
            }
            Error::Read { .. } => None,
        }
    }
}

struct KeyMessage<'a>(&'a str, &'a str);

impl fmt::Display for KeyMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyMessage("", message) => f.write_str(message),
            KeyMessage(key, message) => write!(f, "{key}: {message}"),
        }
    }
}

/// An error found after deserialization (a cross-field check), about `key` as a whole.
pub(super) fn at_key(origin: &str, spots: &Spots, key: &str, message: String) -> Error {
    let (line, column) = spots.nearest(key);
    Error::Invalid {
        origin: origin.to_owned(),
        line,
        column,
        key: key.to_owned(),
        message,
    }
}

/// A key that appears twice in one mapping, at its second occurrence.
pub(super) fn duplicate(origin: &str, key: &str, (line, column): Spot) -> Error {
    Error::Invalid {
        origin: origin.to_owned(),
        line,
        column,
        key: key.to_owned(),
        message: "key appears more than once".to_owned(),
    }
}

/// A document serde_yaml cannot read as YAML: it has a location but no key, except for an
/// over-indented key, which YAML reads as a `key: value` inside the value above it.
pub(super) fn syntax(origin: &str, text: &str, spots: &Spots, err: &serde_yaml::Error) -> Error {
    let mut message = err.to_string();
    let (line, column) = match err.location() {
        Some(loc) => {
            // libyaml's message names the position it also returns; keep the message bare.
            let at = format!(" at line {} column {}", loc.line(), loc.column());
            message = message.replacen(&at, "", 1);
            (loc.line(), loc.column())
        }
        None => (1, 1),
    };
    let above = line.saturating_sub(1);
    if let (Some(word), Some((key, spot))) =
        (over_indented_key(text, above), spots.keyed_on_line(above))
    {
        let column = value_column(text, spot).unwrap_or(spot.1);
        return Error::Invalid {
            origin: origin.to_owned(),
            line: above,
            column,
            message: over_indented(word, key),
            key: key.to_owned(),
        };
    }
    Error::Invalid {
        origin: origin.to_owned(),
        line,
        column,
        key: String::new(),
        message,
    }
}

fn over_indented(word: &str, key: &str) -> String {
    format!(
        "the next line, `{word}:`, is indented deeper than `{name}:`, so YAML reads it as \
         more of this value; indent `{word}:` like the keys beside it",
        name = key.rsplit('.').next().unwrap_or(key),
    )
}

/// The 1-based column of the value after the key at `spot` (`key: value`), on its line.
fn value_column(text: &str, (line, column): Spot) -> Option<usize> {
    let line = text.lines().nth(line.checked_sub(1)?)?;
    let rest: String = line.chars().skip(column.checked_sub(1)?).collect();
    let (key, after) = rest.split_once(':')?;
    let value = after.trim_start_matches(' ');
    (!value.is_empty()).then(|| column + key.chars().count() + 1 + (after.len() - value.len()))
}

/// A value serde refused: the key path comes from serde_path_to_error, the line and column
/// from the document's structure ([`Spots`]). The message is serde's (from a `Value`, so
/// serde_yaml adds neither path nor position to it).
pub(super) fn from_serde(
    origin: &str,
    text: &str,
    spots: &Spots,
    err: &serde_path_to_error::Error<serde_yaml::Error>,
) -> Error {
    let path = dotted(err.path());
    let (key, message, field) = refine(&path, &err.inner().to_string());
    let (line, column) = match field {
        // An unknown key: point at it.
        Field::Unknown => spots.key(&key).unwrap_or_else(|| spots.nearest(&key)),
        // A missing key: point at the mapping that lacks it.
        Field::Missing => spots.nearest(&key),
        Field::Value => spots.value(&key).unwrap_or_else(|| spots.nearest(&key)),
    };
    // A deeper-indented `key:` on the next line is folded into this plain scalar by YAML:
    // say so instead of calling the joined text a bad value.
    let message = match over_indented_key(text, line) {
        Some(word) if field == Field::Value && message.contains(&format!(" {word}")) => {
            over_indented(word, &key)
        }
        _ => message,
    };
    Error::Invalid {
        origin: origin.to_owned(),
        line,
        column,
        key,
        message,
    }
}

/// A serde_path_to_error path in our spelling: `audit.routine[0].code` (`` for the root).
fn dotted(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut out, key),
            Segment::Enum { variant } => push_key(&mut out, variant),
            Segment::Unknown => push_key(&mut out, "?"),
        }
    }
    out
}

fn push_key(out: &mut String, key: &str) {
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(key);
}

/// `word` when the line after `line` (1-based) is indented deeper than it and starts with
/// `word:`, as an over-indented key does.
fn over_indented_key(text: &str, line: usize) -> Option<&str> {
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let mut lines = text.lines().skip(line.checked_sub(1)?);
    let here = lines.next()?;
    let next = lines.find(|l| !l.trim().is_empty())?;
    if indent(next) <= indent(here) {
        return None;
    }
    let (word, _) = next.trim_start().split_once(':')?;
    let is_key = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    is_key.then_some(word)
}

/// What serde's message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Unknown,
    Missing,
    Value,
}

/// Moves the field named in serde's own "unknown/missing field" messages (serde's
/// `de::Error` defaults, not serde_yaml's rendering) into the key, in our words.
fn refine(path: &str, message: &str) -> (String, String, Field) {
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    for (prefix, replacement, field) in [
        ("unknown field `", "unknown key", Field::Unknown),
        ("missing field `", "required key is missing", Field::Missing),
    ] {
        if let Some((name, rest)) = message.strip_prefix(prefix).and_then(|m| m.split_once('`')) {
            // serde_path_to_error may already end the path with the unknown key.
            let key = if path.rsplit('.').next() == Some(name) {
                path.to_owned()
            } else {
                join(name)
            };
            return (key, format!("{replacement}{rest}"), field);
        }
    }
    let message = message.replace("invalid type: unit value", "empty value");
    (path.to_owned(), message, Field::Value)
}
