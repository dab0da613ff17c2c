//! Unit and property tests of the scanner: every edge case of the audit semantics, split
//! equivalence (exhaustive on small bodies, random on generated ones), constant memory on
//! huge bodies generated on the fly, and the `tests/corpus` bodies against their
//! independently counted expectations.
//!
//! Layout: this file holds the helpers; `semantics` (what is counted, namespaces, kept
//! failures), `encodings` (BOMs, declared and transport charsets), `hostile` (bombs,
//! malformed bodies, bounds, huge bodies), `properties` (proptests), `replay` (repeated
//! entries), `reuse` (bodies after bodies on one thread; the replay at its bounds), `corpus`.

#![allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod corpus;
mod encodings;
mod hostile;
mod properties;
mod replay;
mod reuse;
mod semantics;

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn scan(body: &[u8]) -> Report {
    scan_slice(body, AllErrors, Limits::default())
}

/// Scans `body` whole, then checks every single split point and byte-at-a-time feeding give
/// the same report, with the fast paths and without them.
fn scan_checked(body: &[u8]) -> Report {
    let whole = scan(body);
    for cut in 0..=body.len() {
        check_split_equivalence(body, &[cut]);
    }
    let mut s = Scanner::new(AllErrors, Limits::default());
    for b in body {
        s.feed(std::slice::from_ref(b));
    }
    assert_eq!(s.finish(BodyEnd::Complete), whole, "byte at a time");
    let mut plain = Scanner::new(AllErrors, Limits::default()).without_fast_paths();
    for b in body {
        plain.feed(std::slice::from_ref(b));
    }
    assert_eq!(
        plain.finish(BodyEnd::Complete),
        whole,
        "plain, byte at a time"
    );
    check_fast_plain_equivalence(body, &[body.len() / 2]);
    whole
}

fn codes(map: &BTreeMap<Code, u64>) -> Vec<(String, u64)> {
    map.iter().map(|(c, n)| (c.to_string(), *n)).collect()
}

fn pairs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect()
}

fn ms(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:">{inner}</D:multistatus>"#
    )
}

fn resp_status(href: &str, status: &str) -> String {
    format!("<D:response><D:href>{href}</D:href><D:status>{status}</D:status></D:response>")
}

fn resp_propstat(href: &str, statuses: &[&str]) -> String {
    let ps: String = statuses
        .iter()
        .map(|s| {
            format!("<D:propstat><D:prop><D:x/></D:prop><D:status>{s}</D:status></D:propstat>")
        })
        .collect();
    format!("<D:response><D:href>{href}</D:href>{ps}</D:response>")
}

trait HeapHint {
    fn heap_bytes_hint(&self) -> usize;
}
impl HeapHint for Report {
    fn heap_bytes_hint(&self) -> usize {
        self.failures
            .iter()
            .map(|f| f.href.len() + f.error.as_ref().map_or(0, String::len))
            .sum()
    }
}

/// Split equivalence at a few hundred points (bodies too large for every point).
fn scan_checked_large(body: &[u8]) -> Report {
    let whole = scan(body);
    let step = (body.len() / 200).max(1);
    for cut in (0..=body.len()).step_by(step) {
        check_split_equivalence(body, &[cut]);
    }
    whole
}
