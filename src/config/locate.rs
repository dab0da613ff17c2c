//! Where each key and value of a YAML document sits, read from the parser's marked event
//! stream (saphyr-parser), so a config error names the line and column of the node it is
//! about: block style, flow style (`{listen: ..., upstream: {url: 5}}`) and multi-line values
//! alike, for serde's errors and the cross-field checks. No text is searched.
//!
//! Paths are spelled as [`Path`] renders them: `upstream.tls.ca_file`, `audit.routine[0].code`.
//! Only the first document is read (serde_yaml refuses more than one). A document the event
//! parser cannot read keeps what was read before the error; serde_yaml then reports the syntax
//! error itself.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, Span};

/// Nodes deeper than this are not located (serde_yaml refuses deeper documents anyway); it
/// keeps the index linear in the text (every path holds its ancestors' names).
const MAX_DEPTH: usize = 64;

/// 1-based (line, column), in characters.
pub(super) type Spot = (usize, usize);

/// The located nodes of one document.
#[derive(Debug, Default)]
pub(super) struct Spots {
    /// Path -> (the key's spot, for mapping values; the value's spot).
    nodes: HashMap<String, (Option<Spot>, Spot)>,
    /// The first key that appears twice in one mapping: its path and second spot.
    duplicate: Option<(String, Spot)>,
}

/// A container being read.
enum Frame {
    Map {
        path: String,
        /// The next node is a key (else the value of `pending`).
        at_key: bool,
        pending: String,
        /// `pending` appeared before in this mapping: its first value keeps the spot.
        repeated: bool,
        seen: HashSet<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

impl Spots {
    /// Reads `text`; never fails (see the module docs).
    pub(super) fn read(text: &str) -> Spots {
        let mut spots = Spots::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut documents = 0;
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let spot = start(&span);
            match event {
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        break;
                    }
                }
                Event::Scalar(value, ..) => {
                    spots.node(&mut stack, spot, Some(&value));
                    advance(&mut stack);
                }
                Event::Alias(_) => {
                    spots.node(&mut stack, spot, None);
                    advance(&mut stack);
                }
                Event::MappingStart(..) | Event::SequenceStart(..) if stack.len() >= MAX_DEPTH => {
                    break;
                }
                Event::MappingStart(..) => {
                    let path = spots.node(&mut stack, spot, None);
                    stack.push(Frame::Map {
                        path,
                        at_key: true,
                        pending: String::new(),
                        repeated: false,
                        seen: HashSet::new(),
                    });
                }
                Event::SequenceStart(..) => {
                    let path = spots.node(&mut stack, spot, None);
                    stack.push(Frame::Seq { path, next: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    advance(&mut stack);
                }
                Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            }
        }
        spots
    }

    /// Records a node starting at `spot` and returns its path (`KEY?` for a complex key).
    /// `scalar` is the node's text when it is a scalar.
    fn node(&mut self, stack: &mut [Frame], spot: Spot, scalar: Option<&str>) -> String {
        let path = match stack.last_mut() {
            None => String::new(),
            Some(Frame::Seq { path, next }) => format!("{path}[{next}]"),
            Some(Frame::Map {
                path,
                at_key: true,
                pending,
                repeated,
                seen,
            }) => {
                // A key: scalar keys name their value; a complex key gets `?`.
                let name = scalar.unwrap_or("?");
                let child = if path.is_empty() {
                    name.to_owned()
                } else {
                    format!("{path}.{name}")
                };
                *repeated = scalar.is_some() && !seen.insert(name.to_owned());
                if *repeated && self.duplicate.is_none() {
                    self.duplicate = Some((child.clone(), spot));
                }
                *pending = child.clone();
                if scalar.is_none() {
                    return format!("{child}?");
                }
                self.nodes
                    .entry(child.clone())
                    .or_insert((Some(spot), spot));
                return child;
            }
            Some(Frame::Map {
                pending, repeated, ..
            }) => {
                let path = pending.clone();
                match self.nodes.get_mut(&path) {
                    Some((_, value)) if !*repeated => *value = spot,
                    Some(_) => {}
                    None => {
                        self.nodes.insert(path.clone(), (None, spot));
                    }
                }
                return path;
            }
        };
        self.nodes.entry(path.clone()).or_insert((None, spot));
        path
    }

    /// The spot of the value at `path`.
    pub(super) fn value(&self, path: &str) -> Option<Spot> {
        self.nodes.get(path).map(|(_, value)| *value)
    }

    /// The spot of the key `path` (its last segment), for a mapping entry.
    pub(super) fn key(&self, path: &str) -> Option<Spot> {
        self.nodes.get(path).and_then(|(key, _)| *key)
    }

    /// Where to point for a problem with `path` as a whole: its value when it starts on the
    /// key's line (or has no key), else its key (a block under it); for an absent path, the
    /// same for its nearest present ancestor; 1:1 when none is.
    pub(super) fn nearest(&self, path: &str) -> Spot {
        let mut path = path;
        loop {
            if let Some((key, value)) = self.nodes.get(path) {
                return match key {
                    Some(key) if key.0 != value.0 => *key,
                    _ => *value,
                };
            }
            match parent(path) {
                Some(up) if !up.is_empty() => path = up,
                _ => return (1, 1),
            }
        }
    }

    /// The last key on `line` (1-based), with its spot.
    pub(super) fn keyed_on_line(&self, line: usize) -> Option<(&str, Spot)> {
        self.nodes
            .iter()
            .filter_map(|(path, (key, _))| key.filter(|k| k.0 == line).map(|k| (path.as_str(), k)))
            .max_by_key(|(_, k)| k.1)
    }

    /// The first key that appears twice in one mapping, and where it appears the second time.
    pub(super) fn duplicate(&self) -> Option<(&str, Spot)> {
        self.duplicate.as_ref().map(|(p, s)| (p.as_str(), *s))
    }
}

/// `a.b[0]` -> `a.b`, `a.b` -> `a`, `a` -> ``.
fn parent(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

/// The node that just ended moves its container on: key -> value -> key, or the next index.
fn advance(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Map { at_key, .. }) => *at_key = !*at_key,
        Some(Frame::Seq { next, .. }) => *next += 1,
        None => {}
    }
}

fn start(span: &Span) -> Spot {
    (span.start.line(), span.start.col() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_and_flow_nodes_are_located() {
        let text = "# c\nupstream:\n  tls:\n    url: no\n  url: http://h # here\naudit:\n  queue_bytes:\n    1KiB\nadmin: {listen: 1, x: {y: [a, 'b']}}\n";
        let spots = Spots::read(text);
        assert_eq!(spots.value("upstream.url"), Some((5, 8)));
        assert_eq!(spots.key("upstream.url"), Some((5, 3)));
        assert_eq!(spots.value("upstream.tls.url"), Some((4, 10)));
        assert_eq!(spots.value("audit.queue_bytes"), Some((8, 5)));
        assert_eq!(spots.nearest("audit.queue_bytes"), (7, 3));
        assert_eq!(spots.nearest("audit.max_depth"), (6, 1));
        assert_eq!(spots.nearest("log.level"), (1, 1));
        assert_eq!(spots.value("admin.listen"), Some((9, 17)));
        assert_eq!(spots.key("admin.x"), Some((9, 20)));
        assert_eq!(spots.value("admin.x.y[1]"), Some((9, 31)));
        assert_eq!(spots.nearest("admin.x.y[1].z"), (9, 31));
        assert_eq!(spots.duplicate(), None);
    }

    #[test]
    fn sequences_of_mappings_and_duplicates() {
        let text = "audit:\n  routine:\n    - {method: GET, code: 1}\n    - method: PUT\n      method: X\n";
        let spots = Spots::read(text);
        assert_eq!(spots.value("audit.routine[0]"), Some((3, 7)));
        assert_eq!(spots.value("audit.routine[0].code"), Some((3, 27)));
        assert_eq!(spots.value("audit.routine[1].method"), Some((4, 15)));
        assert_eq!(spots.duplicate(), Some(("audit.routine[1].method", (5, 7))));
    }

    #[test]
    fn a_broken_document_keeps_what_was_read() {
        let spots = Spots::read("listen: 1\nupstream: [\n");
        assert_eq!(spots.value("listen"), Some((1, 9)));
        // Deep nesting is not indexed past MAX_DEPTH (each path would hold every ancestor).
        let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let spots = Spots::read(&deep);
        assert!(spots.nodes.len() <= MAX_DEPTH + 2, "{}", spots.nodes.len());
    }
}
