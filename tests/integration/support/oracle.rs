//! Independent multistatus counter: a namespace-aware DOM (roxmltree), never the project's
//! scanner, following DESIGN.md "Audit semantics":
//!
//! - entry = each `DAV:response` child of the `DAV:multistatus` root (a `DAV:response`
//!   nested elsewhere, e.g. inside a dead property value, is not an entry);
//! - every `DAV:status` child of an entry is a response-level status and every
//!   `DAV:propstat/DAV:status` a propstat-level one: each counts where it stands, even where
//!   the DTD allows only one (a response with both, a propstat with two statuses);
//! - code = the 3 digits of `HTTP/<version> NNN [reason]` (surrounding XML whitespace allowed,
//!   100..=999), else `invalid`;
//! - failure = code >= 400 or `invalid`, unless a routine rule `(method, level, code)`
//!   matches; 424s are listed after the other failures.
//!
//! Limits (use handwritten expectations for these): a body that is not well-formed gives
//! `Root::Malformed` with no counts (a DOM cannot count "up to the error"); a DTD is
//! rejected as malformed (roxmltree default), whereas the scanner skips it.
//!
//! Content codings: call [`decode`] first with the response's `Content-Encoding`.

use std::collections::BTreeMap;
use std::io::{Read, Write};

const DAV: &str = "DAV:";

/// What the root element was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Root {
    Multistatus,
    /// Well-formed, other root: `{ns}local` (or `local` without namespace).
    Other(String),
    /// Not well-formed (or not decodable text), with roxmltree's reason.
    Malformed(String),
}

/// One status found in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OracleStatus {
    /// First `DAV:href` of the entry, text as written (trimmed).
    pub(crate) href: String,
    /// `response` or `propstat`.
    pub(crate) level: &'static str,
    /// 3 digits or `invalid`.
    pub(crate) code: String,
    /// First child of `DAV:error` (propstat's, else the response's): `DAV:name` in the DAV:
    /// namespace, else `{ns}name`.
    pub(crate) error: Option<String>,
    /// `DAV:responsedescription` (propstat's, else the response's), trimmed.
    pub(crate) description: Option<String>,
}

/// Counts of one body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OracleCounts {
    pub(crate) root: Root,
    pub(crate) entries: u64,
    /// Response-level statuses by code.
    pub(crate) response_status: BTreeMap<String, u64>,
    /// Propstat-level statuses by code.
    pub(crate) propstat_status: BTreeMap<String, u64>,
    /// Every status, in document order.
    pub(crate) statuses: Vec<OracleStatus>,
    /// Statuses that are errors (>= 400 or invalid) with no routine rule applied; 424s last.
    pub(crate) failures: Vec<OracleStatus>,
}

/// A routine rule: (methods, level, code).
pub(crate) type Rule = (&'static [&'static str], &'static str, &'static str);

/// DESIGN.md's default routine rules.
pub(crate) const DEFAULT_RULES: &[Rule] = &[
    (&["PROPFIND", "REPORT", "SEARCH"], "propstat", "404"),
    (&["REPORT"], "response", "404"),
    (&["REPORT", "SEARCH"], "response", "507"),
];

impl OracleCounts {
    /// Failures for a request `method` under DESIGN's default routine rules.
    pub(crate) fn failures_with_default_rules(&self, method: &str) -> Vec<OracleStatus> {
        self.failures_with_rules(method, DEFAULT_RULES)
    }

    /// Failures for `method` under `rules`.
    pub(crate) fn failures_with_rules(&self, method: &str, rules: &[Rule]) -> Vec<OracleStatus> {
        self.failures
            .iter()
            .filter(|f| {
                !rules.iter().any(|(methods, level, code)| {
                    methods.contains(&method) && *level == f.level && *code == f.code
                })
            })
            .cloned()
            .collect()
    }

    /// Failure counts by (level, code) under the default rules: compare with
    /// `davaudit_multistatus_failures_total` deltas.
    pub(crate) fn failure_counts(&self, method: &str) -> BTreeMap<(&'static str, String), u64> {
        let mut out = BTreeMap::new();
        for f in self.failures_with_default_rules(method) {
            *out.entry((f.level, f.code)).or_insert(0) += 1;
        }
        out
    }

    /// Entry counts by (level, code): compare with `davaudit_multistatus_entries_total`.
    pub(crate) fn status_counts(&self) -> BTreeMap<(&'static str, String), u64> {
        let mut out = BTreeMap::new();
        for (code, n) in &self.response_status {
            out.insert(("response", code.clone()), *n);
        }
        for (code, n) in &self.propstat_status {
            out.insert(("propstat", code.clone()), *n);
        }
        out
    }

    /// The outcome the audit should report for `method` (default rules), for well-formed,
    /// complete bodies: `clean`, `partial_failure`, `not_multistatus` or `malformed`.
    pub(crate) fn outcome(&self, method: &str) -> &'static str {
        match self.root {
            Root::Malformed(_) => "malformed",
            Root::Other(_) => "not_multistatus",
            Root::Multistatus if self.failures_with_default_rules(method).is_empty() => "clean",
            Root::Multistatus => "partial_failure",
        }
    }
}

/// Counts the statuses in a (decoded) multistatus body.
pub(crate) fn count(body: &[u8]) -> OracleCounts {
    let mut counts = OracleCounts {
        root: Root::Multistatus,
        entries: 0,
        response_status: BTreeMap::new(),
        propstat_status: BTreeMap::new(),
        statuses: Vec::new(),
        failures: Vec::new(),
    };
    let text = match to_text(body) {
        Ok(t) => t,
        Err(why) => {
            counts.root = Root::Malformed(why);
            return counts;
        }
    };
    let doc = match roxmltree::Document::parse(&text) {
        Ok(d) => d,
        Err(e) => {
            counts.root = Root::Malformed(e.to_string());
            return counts;
        }
    };
    let root = doc.root_element();
    if !is_dav(root, "multistatus") {
        counts.root = Root::Other(clark(root));
        return counts;
    }
    for response in root.children().filter(|n| is_dav(*n, "response")) {
        counts.entries += 1;
        let href = child(response, "href").map(text_of).unwrap_or_default();
        let resp_error = child(response, "error").and_then(first_element_name);
        let resp_desc = child(response, "responsedescription").map(text_of);
        // Every status counts where it stands: response-level ones first (the scanner keeps
        // an entry's failures in that order), then each propstat's, all of them.
        for status in response.children().filter(|n| is_dav(*n, "status")) {
            counts.statuses.push(OracleStatus {
                href: href.clone(),
                level: "response",
                code: code_of(&text_of(status)),
                error: resp_error.clone(),
                description: resp_desc.clone(),
            });
        }
        for propstat in response.children().filter(|n| is_dav(*n, "propstat")) {
            for status in propstat.children().filter(|n| is_dav(*n, "status")) {
                counts.statuses.push(OracleStatus {
                    href: href.clone(),
                    level: "propstat",
                    code: code_of(&text_of(status)),
                    error: child(propstat, "error")
                        .and_then(first_element_name)
                        .or_else(|| resp_error.clone()),
                    description: child(propstat, "responsedescription")
                        .map(text_of)
                        .or_else(|| resp_desc.clone()),
                });
            }
        }
    }
    for s in &counts.statuses {
        let map = if s.level == "response" {
            &mut counts.response_status
        } else {
            &mut counts.propstat_status
        };
        *map.entry(s.code.clone()).or_insert(0) += 1;
    }
    let errors = counts.statuses.iter().filter(|s| is_error(&s.code));
    let (dependent, causes): (Vec<_>, Vec<_>) = errors.cloned().partition(|s| s.code == "424");
    counts.failures = causes.into_iter().chain(dependent).collect();
    counts
}

fn is_error(code: &str) -> bool {
    code.parse::<u16>().map_or(true, |n| n >= 400)
}

/// The code of a status line, per DESIGN: `HTTP/<version> NNN [reason]`.
pub(crate) fn code_of(line: &str) -> String {
    let invalid = || "invalid".to_owned();
    let line = line.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
    let Some(rest) = line.strip_prefix("HTTP/") else {
        return invalid();
    };
    // XML whitespace anywhere between the parts (DESIGN.md), newlines included.
    let Some(sp) = rest.find([' ', '\t', '\r', '\n']) else {
        return invalid();
    };
    let (version, rest) = rest.split_at(sp);
    let version_ok = !version.is_empty()
        && version.chars().all(|c| c.is_ascii_digit() || c == '.')
        && version.starts_with(|c: char| c.is_ascii_digit());
    let rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
    let digits: String = rest.chars().take(3).collect();
    let after = rest.get(3..).unwrap_or("");
    let code_ok = digits.len() == 3
        && digits.chars().all(|c| c.is_ascii_digit())
        && (after.is_empty() || after.starts_with([' ', '\t', '\r', '\n']));
    match digits.parse::<u16>() {
        Ok(n) if version_ok && code_ok && (100..=999).contains(&n) => digits,
        _ => invalid(),
    }
}

fn is_dav(n: roxmltree::Node<'_, '_>, local: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(DAV) && n.tag_name().name() == local
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, local: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| is_dav(*c, local))
}

fn text_of(n: roxmltree::Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

fn clark(n: roxmltree::Node<'_, '_>) -> String {
    match n.tag_name().namespace() {
        Some(ns) => format!("{{{ns}}}{}", n.tag_name().name()),
        None => n.tag_name().name().to_owned(),
    }
}

fn first_element_name(error: roxmltree::Node<'_, '_>) -> Option<String> {
    let first = error.children().find(|c| c.is_element())?;
    Some(match first.tag_name().namespace() {
        Some(DAV) => format!("DAV:{}", first.tag_name().name()),
        _ => clark(first),
    })
}

/// Bytes to text: BOM first, else the XML declaration's `encoding`, else UTF-8.
fn to_text(body: &[u8]) -> Result<String, String> {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(body) {
        let (text, had_errors) = enc.decode_without_bom_handling(&body[bom_len..]);
        return if had_errors {
            Err(format!("invalid {} text", enc.name()))
        } else {
            Ok(text.into_owned())
        };
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned();
    let label = head
        .strip_prefix("<?xml")
        .and_then(|d| d.split("?>").next())
        .and_then(|d| d.split("encoding").nth(1))
        .and_then(|rest| {
            let rest = rest.trim_start().strip_prefix('=')?.trim_start();
            let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
            rest[1..].split(quote).next().map(str::to_owned)
        });
    match label.and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes())) {
        Some(enc) if enc != encoding_rs::UTF_8 => {
            let (text, _, had_errors) = enc.decode(body);
            if had_errors {
                Err(format!("invalid {} text", enc.name()))
            } else {
                Ok(text.into_owned())
            }
        }
        _ => String::from_utf8(body.to_vec()).map_err(|e| format!("invalid UTF-8: {e}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Content codings (test side; independent of src/audit/decode.rs)

/// Undoes `Content-Encoding` (`gzip`/`x-gzip`, `deflate` (zlib, raw fallback), `br`, `zstd`,
/// `identity`; a list is undone right to left). Panics on an unknown coding or bad data.
pub(crate) fn decode(content_encoding: Option<&str>, bytes: &[u8]) -> Vec<u8> {
    let mut data = bytes.to_vec();
    let Some(list) = content_encoding else {
        return data;
    };
    for coding in list.split(',').rev() {
        let coding = coding.trim().to_ascii_lowercase();
        data = match coding.as_str() {
            "" | "identity" => data,
            "gzip" | "x-gzip" => read_all(flate2::read::MultiGzDecoder::new(&data[..])),
            "deflate" => {
                let mut out = Vec::new();
                match flate2::read::ZlibDecoder::new(&data[..]).read_to_end(&mut out) {
                    Ok(_) => out,
                    Err(_) => read_all(flate2::read::DeflateDecoder::new(&data[..])),
                }
            }
            "br" => read_all(brotli::Decompressor::new(&data[..], 4096)),
            "zstd" => zstd(&data, false),
            other => panic!("unsupported content coding {other:?}"),
        };
    }
    data
}

/// Applies one content coding (for canned upstream bodies).
pub(crate) fn encode(coding: &str, plain: &[u8]) -> Vec<u8> {
    match coding.to_ascii_lowercase().as_str() {
        "gzip" | "x-gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(plain).expect("gzip");
            e.finish().expect("gzip")
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(plain).expect("deflate");
            e.finish().expect("deflate")
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                w.write_all(plain).expect("br");
            }
            out
        }
        "zstd" => zstd(plain, true),
        other => panic!("unsupported content coding {other:?}"),
    }
}

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    r.read_to_end(&mut out).expect("decode content coding");
    out
}

/// zstd through the zstd crate (every frame when decoding).
fn zstd(data: &[u8], compress: bool) -> Vec<u8> {
    if compress {
        zstd::stream::encode_all(data, 3).expect("zstd")
    } else {
        zstd::stream::decode_all(data).expect("zstd")
    }
}
