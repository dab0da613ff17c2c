//! `config::Error`: what is wrong with a config file, and where.
//!
//! Displayed as `FILE:LINE:COL: KEY.PATH: message` (the format editors and CI annotators
//! understand), `FILE: cannot read: <io error>`, `--flag: KEY: message` or
//! `DAVAUDIT_VAR: KEY: message` for a value given outside the file. Lines and columns are
//! 1-based.

use std::fmt;

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

/// An error found after deserialization, at `key`; located by searching the text.
pub(super) fn at_key(origin: &str, text: &str, key: &str, message: String) -> Error {
    let (line, column) = locate(text, key);
    Error::Invalid {
        origin: origin.to_owned(),
        line,
        column,
        key: key.to_owned(),
        message,
    }
}

/// Turns a serde_yaml error into `FILE:LINE:COL: key.path: message`.
///
/// serde_yaml 0.9 renders `{path}: {message} at line L column C` and offers no accessor for
/// the path or the bare message, so both are taken apart from the text here.
pub(super) fn from_yaml(origin: &str, text: &str, err: &serde_yaml::Error) -> Error {
    let mut rendered = err.to_string();
    let (line, column) = match err.location() {
        Some(loc) => {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            rendered = rendered.replacen(&suffix, "", 1);
            (loc.line(), loc.column())
        }
        None => (1, 1),
    };
    let (path, message) = split_path(&rendered);
    let duplicate = message.starts_with("duplicate field `");
    let (key, message) = refine(path, message);
    // A deeper-indented `key:` on the next line is folded into this plain scalar by YAML:
    // say so instead of calling the joined text a bad value.
    let message = match over_indented_key(text, line) {
        Some(word) if !duplicate && message.contains(&format!(" {word}")) => format!(
            "the next line, `{word}:`, is indented deeper than `{name}:`, so YAML reads it as \
             more of this value; indent `{word}:` like the keys beside it",
            name = key.rsplit('.').next().unwrap_or(&key),
        ),
        _ => message,
    };
    let (line, column) = if duplicate {
        // serde_yaml points at the start of the mapping; point at the second occurrence.
        let name = key.rsplit('.').next().unwrap_or(&key);
        second_occurrence(text, line, column, name).unwrap_or((line, column))
    } else {
        (line, column)
    };
    Error::Invalid {
        origin: origin.to_owned(),
        line,
        column,
        key,
        message,
    }
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

/// The second `name:` key at the indentation of the block mapping starting at (line, column).
fn second_occurrence(text: &str, line: usize, column: usize, name: &str) -> Option<(usize, usize)> {
    let indent = column.checked_sub(1)?;
    text.lines()
        .enumerate()
        .skip(line.checked_sub(1)?)
        .filter(|(_, l)| {
            l.len() > indent
                && l.bytes().take(indent).all(|b| b == b' ')
                && l[indent..]
                    .strip_prefix(name)
                    .is_some_and(|r| r.starts_with(':'))
        })
        .nth(1)
        .map(|(i, _)| (i + 1, column))
}

/// Splits serde_yaml's `a.b[0].c: ` prefix off a message.
fn split_path(text: &str) -> (&str, &str) {
    let is_path = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.[]?".contains(&b))
    };
    match text.split_once(": ") {
        Some((path, message)) if is_path(path) => (path, message),
        _ => ("", text),
    }
}

/// Moves the field named in serde's "unknown/missing/duplicate field" messages into the key.
fn refine(path: &str, message: &str) -> (String, String) {
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    for (prefix, replacement) in [
        ("unknown field `", "unknown key"),
        ("missing field `", "required key is missing"),
        ("duplicate field `", "key appears more than once"),
    ] {
        if let Some((name, rest)) = message.strip_prefix(prefix).and_then(|m| m.split_once('`')) {
            return (join(name), format!("{replacement}{rest}"));
        }
    }
    let message = message.replace("invalid type: unit value", "empty value");
    (path.to_owned(), message)
}

/// Finds `a.b.c` (or `a.list[2].c`) in block-style YAML: 1-based (line, column) of its value,
/// or of the key when the value is on the next lines. Falls back to the deepest ancestor
/// found, then to 1:1. A `[N]` index picks the N-th `- ` item of a block sequence; a flow
/// sequence (`[...]` on one line) stays at its key.
pub(super) fn locate(text: &str, key: &str) -> (usize, usize) {
    // Owned lines: a sequence item's `- ` is blanked once found, so that the keys of its
    // mapping all sit at one indentation.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut found = (1, 1);
    let mut start = 0;
    let mut parent_indent: Option<usize> = None;
    'segments: for segment in key.split('.') {
        let (name, indexes) = match segment.split_once('[') {
            Some((name, rest)) => (name, Some(rest)),
            None => (segment, None),
        };
        let mut child_indent = parent_indent.map_or(Some(0), |_| None);
        let mut matched = false;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start_matches(' ');
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if parent_indent.is_some_and(|parent| indent <= parent) {
                break 'segments;
            }
            if *child_indent.get_or_insert(indent) != indent {
                continue;
            }
            let Some(after) = trimmed.strip_prefix(name).and_then(|r| r.strip_prefix(':')) else {
                continue;
            };
            let value = after.trim_start_matches(' ');
            let column = if value.is_empty() || value.starts_with('#') {
                indent + 1
            } else {
                line.chars().count() - value.chars().count() + 1
            };
            found = (i + 1, column);
            start = i + 1;
            parent_indent = Some(indent);
            matched = true;
            break;
        }
        if !matched {
            break;
        }
        let Some(indexes) = indexes else { continue };
        for index in indexes.split('[') {
            let Some(n) = index.trim_end_matches(']').parse::<usize>().ok() else {
                break 'segments;
            };
            let key_indent = parent_indent.unwrap_or(0);
            // The items of a block sequence: `-` lines at one indentation, at or right of
            // the key's (YAML allows `- ` under a key at the key's own indentation).
            let mut item_indent = None;
            let mut seen = 0;
            let mut item = None;
            for (i, line) in lines.iter().enumerate().skip(start) {
                let trimmed = line.trim_start_matches(' ');
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                let indent = line.len() - trimmed.len();
                let dash = trimmed == "-" || trimmed.starts_with("- ");
                match item_indent {
                    None if dash && indent >= key_indent => item_indent = Some(indent),
                    None => break,
                    Some(at) if indent < at || (indent == at && !dash) => break,
                    Some(_) => {}
                }
                if dash && Some(indent) == item_indent {
                    if seen == n {
                        item = Some((i, indent));
                        break;
                    }
                    seen += 1;
                }
            }
            let Some((i, indent)) = item else {
                break 'segments;
            };
            let content = lines[i][indent + 1..].trim_start_matches(' ').len();
            let column = lines[i].len() - content + 1;
            found = (i + 1, column);
            lines[i].replace_range(indent..indent + 1, " ");
            // The item's mapping keys (its first one on this very line) are children of
            // an imaginary parent at the dash's indentation.
            start = i;
            parent_indent = Some(indent);
        }
    }
    found
}
