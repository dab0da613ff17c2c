//! `davaudit scan [--json] [--method M] FILE...`: audits saved 207 bodies with the same
//! scanner the proxy uses and prints, per file, the outcome and counts (text, or one JSON
//! object per line with `--json`). Exit status 0 when every file is well formed, 1 when any
//! is malformed; an unreadable file is an error. `-` reads standard input.
//!
//! `--reference` reads the bodies with the reference counter instead
//! ([`crate::multistatus::reference_reader`], quick-xml's namespace-aware reader, independent of
//! the scanner) and prints the same JSON as `--json`: a second opinion for a support case.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::audit::policy::Policy;
use crate::multistatus::{Code, Limits, Outcome, Report, reference_reader, scan_reader};

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
    #[arg(long, default_value = "PROPFIND")]
    pub method: String,
    /// Files holding response bodies; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Scans every file in order; see the module docs for output and exit status.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = Policy::default();
    let method = args.method.to_ascii_uppercase();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut malformed = false;
    for file in &args.files {
        let classify = policy.classifier(&method);
        let read = |r: &mut dyn std::io::Read| {
            if args.reference {
                reference_reader(r, classify, Limits::default())
            } else {
                scan_reader(r, classify, Limits::default())
            }
        };
        let report = if file == Path::new("-") {
            read(&mut std::io::stdin().lock()).context("reading standard input")?
        } else {
            let mut f =
                std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
            read(&mut f).with_context(|| format!("reading {}", file.display()))?
        };
        malformed |= report.outcome == Outcome::Malformed;
        let name = file.display().to_string();
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
                "bytes": report.bytes,
                "unbound_prefixes": report.unbound_prefixes,
            });
            writeln!(out, "{line}")?;
        } else {
            write_text(&mut out, &name, &report)?;
        }
    }
    out.flush()?;
    Ok(if malformed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn counts(map: &std::collections::BTreeMap<Code, u64>) -> String {
    map.iter()
        .map(|(code, n)| format!("{code}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn write_text(out: &mut impl Write, name: &str, r: &Report) -> std::io::Result<()> {
    writeln!(
        out,
        "{name}: {}, {} entries, {} failures, {} bytes",
        r.outcome, r.entries, r.failure_count, r.bytes
    )?;
    if let Some(m) = &r.malformed {
        writeln!(out, "  malformed at byte {}: {}", m.offset, m.reason)?;
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
