//! `davaudit scan [--json] [--method M] [--config FILE] FILE...`: audits saved 207 bodies with
//! the same scanner the proxy uses and prints, per file, the outcome and counts (text, or one
//! JSON object per line with `--json`). `-` reads standard input.
//!
//! `--config FILE` classifies with that config's `audit.routine` rules and scanner limits
//! (`max_depth`, `max_text`, `max_failures_kept`) instead of the defaults. `--method` must be
//! a method davaudit knows (the `method` label's set; anything else is a usage error).
//!
//! Exit status: 0 when every file was read and audited to the end (`clean`,
//! `partial_failure`, `not_multistatus`: the failures are in the output, not in the status);
//! 4 when the audit could not be sure of a body (`over_limit`: a bound stopped it;
//! `dtd_declarations`: a parser applying its DTD may read other statuses), so such a body is
//! never reported as if it were read; 1 when any body is malformed, which wins over 4; 3 when
//! any file could not be read (missing, unreadable, or compressed: a gzip or zstd file is
//! named as such, not scanned as text), which wins over both. Every file is tried: one
//! unreadable file does not stop the others. A malformed body's position is given as a byte
//! offset and, for a file, as `line:column` (1-based, columns in bytes).
//!
//! `--reference` reads the bodies with the reference counter instead
//! ([`crate::multistatus::Reference`], quick-xml's namespace-aware reader, independent of
//! the scanner) and prints the same JSON as `--json`: a second opinion for a support case.
//! `--charset LABEL` gives both the `charset` of the response's `Content-Type` (DESIGN.md
//! §2.6: used when a body has no BOM and declares no encoding).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::audit::policy::Policy;
use crate::multistatus::{BodyEnd, Classify, Code, Limits, Outcome, Reference, Report, Scanner};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// One JSON object per file and line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Read with the independent reference counter (quick-xml) instead of the scanner;
    /// prints the same JSON as `--json`.
    #[arg(long)]
    pub reference: bool,
    /// The request method that produced the bodies (the routine rules depend on it).
    #[arg(long, default_value = "PROPFIND", value_parser = known_method)]
    pub method: String,
    /// The `charset` parameter of the response's `Content-Type` (used when a body has no
    /// BOM and declares no encoding, as the proxy does).
    #[arg(long, value_name = "LABEL")]
    pub charset: Option<String>,
    /// Classify with this config's routine rules and scanner limits.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Files holding response bodies; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Scans a body from a reader in 64 KiB reads, as `multistatus::scan_reader`, with the
/// `Content-Type` charset.
fn scan_with_charset<C: Classify>(
    reader: &mut dyn std::io::Read,
    classify: C,
    limits: Limits,
    charset: Option<&str>,
) -> std::io::Result<Report> {
    let mut scanner = Scanner::new(classify, limits).with_charset(charset);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => scanner.feed(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(scanner.finish(BodyEnd::Complete))
}

/// Exit status when any file could not be read (see the module docs).
pub(crate) const EXIT_UNREADABLE: u8 = 3;

/// Exit status when the audit of a body stopped at a bound or met DTD declarations it does
/// not apply: not malformed, not clean either (see the module docs).
pub(crate) const EXIT_UNSURE: u8 = 4;

/// The exit status one body's outcome asks for (the highest of all files wins, ranked by
/// [`rank`]).
fn exit_for(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Malformed => 1,
        Outcome::OverLimit | Outcome::DtdDeclarations => EXIT_UNSURE,
        _ => 0,
    }
}

/// Which exit status wins when files disagree: unreadable, then malformed, then unsure.
fn rank(code: u8) -> u8 {
    match code {
        EXIT_UNREADABLE => 3,
        1 => 2,
        EXIT_UNSURE => 1,
        _ => 0,
    }
}

/// `--method`: a method of the `method` label's closed set, upper-cased.
fn known_method(s: &str) -> Result<String, String> {
    let upper = s.to_ascii_uppercase();
    if crate::telemetry::labels::all_methods().any(|m| m == upper && m != "OTHER") {
        Ok(upper)
    } else {
        Err(format!(
            "unknown method {s:?}; known: {}",
            crate::telemetry::labels::all_methods()
                .filter(|m| *m != "OTHER")
                .collect::<Vec<_>>()
                .join(" ")
        ))
    }
}

/// Scans every file in order; see the module docs for output and exit status.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (policy, limits) = match &args.config {
        Some(path) => match crate::config::load(path) {
            Ok(c) => (
                Policy::new(&c.audit.routine),
                Limits {
                    max_depth: c.audit.max_depth,
                    max_text: c.audit.max_text,
                    max_failures: c.audit.max_failures_kept,
                },
            ),
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::FAILURE);
            }
        },
        None => (Policy::default(), Limits::default()),
    };
    let method = args.method.to_ascii_uppercase();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut status = 0u8;
    for file in &args.files {
        let classify = policy.classifier(&method, None);
        let read = |r: &mut dyn std::io::Read| {
            let charset = args.charset.as_deref();
            if args.reference {
                Reference::new(classify, limits)
                    .with_charset(charset)
                    .read(r)
            } else {
                scan_with_charset(r, classify, limits, charset)
            }
        };
        let stdin = file == Path::new("-");
        let result = if stdin {
            read(&mut std::io::stdin().lock()).map_err(|e| e.to_string())
        } else {
            open_plain(file).and_then(|mut f| read(&mut f).map_err(|e| e.to_string()))
        };
        let name = file.display().to_string();
        let report = match result {
            Ok(report) => report,
            Err(reason) => {
                let shown = if stdin {
                    "standard input"
                } else {
                    name.as_str()
                };
                eprintln!("davaudit scan: {shown}: cannot read: {reason}");
                status = worst(status, EXIT_UNREADABLE);
                continue;
            }
        };
        status = worst(status, exit_for(report.outcome));
        let position = match (&report.malformed, stdin) {
            (Some(m), false) => line_column(file, m.offset),
            _ => None,
        };
        if args.json || args.reference {
            let line = serde_json::json!({
                "file": name,
                "outcome": report.outcome,
                "entries": report.entries,
                "response_status": report.response_status,
                "propstat_status": report.propstat_status,
                "failures": report.failures,
                "failure_count": report.failure_count,
                "malformed": report.malformed,
                "malformed_at": position.map(|(l, c)| serde_json::json!({"line": l, "column": c})),
                "bytes": report.bytes,
                "unbound_prefixes": report.unbound_prefixes,
            });
            writeln!(out, "{line}")?;
        } else {
            write_text(&mut out, &name, &report, position)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::from(status))
}

fn worst(a: u8, b: u8) -> u8 {
    if rank(b) > rank(a) { b } else { a }
}

/// Opens `file`, refusing a compressed one with that reason (it would scan as text outside
/// the root element).
fn open_plain(file: &Path) -> Result<std::fs::File, String> {
    use std::io::{Read, Seek};
    let mut f = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(|e| e.to_string())?;
    let compressed = match &magic[..n] {
        [0x1f, 0x8b, ..] => Some(("gzip", "zcat")),
        [0x28, 0xb5, 0x2f, 0xfd] => Some(("zstd", "zstdcat")),
        _ => None,
    };
    if let Some((format, tool)) = compressed {
        return Err(format!(
            "the file is {format}-compressed; decompress it first: {tool} {} | davaudit scan -",
            file.display()
        ));
    }
    f.rewind().map_err(|e| e.to_string())?;
    Ok(f)
}

/// 1-based line and byte column of `offset` in `file` (read again; `None` if it cannot be).
fn line_column(file: &Path, offset: u64) -> Option<(u64, u64)> {
    use std::io::Read;
    let f = std::fs::File::open(file).ok()?;
    let mut before = Vec::new();
    f.take(offset).read_to_end(&mut before).ok()?;
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count() as u64;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    Some((line, (before.len() - start) as u64 + 1))
}

fn counts(map: &std::collections::BTreeMap<Code, u64>) -> String {
    map.iter()
        .map(|(code, n)| format!("{code}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn write_text(
    out: &mut impl Write,
    name: &str,
    r: &Report,
    position: Option<(u64, u64)>,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{name}: {}, {} entries, {} failures, {} bytes",
        r.outcome, r.entries, r.failure_count, r.bytes
    )?;
    if let Some(m) = &r.malformed {
        match position {
            Some((line, column)) => writeln!(
                out,
                "  malformed at byte {} (line {line}, column {column}): {}",
                m.offset, m.reason
            )?,
            None => writeln!(out, "  malformed at byte {}: {}", m.offset, m.reason)?,
        }
    }
    if !r.response_status.is_empty() {
        writeln!(out, "  response-level  {}", counts(&r.response_status))?;
    }
    if !r.propstat_status.is_empty() {
        writeln!(out, "  propstat-level  {}", counts(&r.propstat_status))?;
    }
    for f in &r.failures {
        write!(out, "  failure  {} {} {}", f.level, f.code, f.href)?;
        if let Some(e) = &f.error {
            write!(out, "  error={e}")?;
        }
        if !f.props.is_empty() {
            write!(out, "  props={}", f.props.join(","))?;
            if f.prop_count > f.props.len() as u64 {
                write!(out, ",+{}", f.prop_count - f.props.len() as u64)?;
            }
        }
        if let Some(d) = &f.description {
            write!(out, "  description={d:?}")?;
        }
        writeln!(out)?;
    }
    let shown = r.failures.len() as u64;
    if r.failure_count > shown {
        writeln!(
            out,
            "  ... {} more failures not kept",
            r.failure_count - shown
        )?;
    }
    Ok(())
}
