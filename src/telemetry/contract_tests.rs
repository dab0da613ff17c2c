//! DESIGN.md §3.3 is the metrics contract: these tests keep it equal to the registry. A
//! metric family, label or label value added, renamed or removed here without the same change
//! there (and a CHANGELOG entry, DESIGN.md §4) fails them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::Telemetry;
use super::events::{MultistatusScanned, RequestContext, RequestFinished};
use super::labels;
use crate::multistatus::{Code, Outcome, Report};
use crate::upstream::Kind;

const DESIGN: &str = include_str!("../../DESIGN.md");

/// The lines of the `###` section of DESIGN.md whose title ends with `title`.
fn section(title: &str) -> Vec<&'static str> {
    let mut lines = DESIGN
        .lines()
        .skip_while(|l| !(l.starts_with("### ") && l.trim_end().ends_with(title)));
    assert!(
        lines.next().is_some(),
        "DESIGN.md has no `### ... {title}` section"
    );
    lines
        .take_while(|l| !l.starts_with("## ") && !l.starts_with("### "))
        .collect()
}

/// The cells of a Markdown table row.
fn cells(row: &str) -> Vec<&str> {
    row.trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect()
}

/// Every `code span` of a cell.
fn ticked(cell: &str) -> BTreeSet<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// DESIGN.md's families: name -> (type, label names).
fn design_families() -> BTreeMap<String, (String, BTreeSet<String>)> {
    section("Metrics")
        .into_iter()
        .filter(|l| l.starts_with("| `davaudit_"))
        .map(|row| {
            let cells = cells(row);
            let name = cells[0].trim_matches('`').to_owned();
            (name, (cells[1].to_owned(), ticked(cells[2])))
        })
        .collect()
}

/// The registry's davaudit families, with every family given at least one series.
fn registry_families() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let telemetry = Telemetry::new(0);
    let request = RequestContext {
        method: http::Method::from_bytes(b"PROPFIND").expect("method"),
        method_label: labels::method("PROPFIND"),
        path: crate::proxy::context::RequestPath::from_static("/"),
        request_id: crate::proxy::context::RequestId::from_static("r"),
        access: None,
    };
    RequestFinished {
        method: request.method_label,
        status: 207,
        duration: Duration::from_millis(1),
    }
    .emit(&telemetry);
    let failing = BTreeMap::from([(Code::Status(423), 1)]);
    let report = Report {
        entries: 1,
        response_status: failing.clone(),
        response_failing: failing,
        failure_count: 1,
        unbound_prefixes: 1,
        ..Report::empty(Outcome::PartialFailure)
    };
    MultistatusScanned {
        request: &request,
        status: 207,
        report: &report,
        max_logged_failures: 0,
        duration: Duration::from_millis(1),
    }
    .emit(&telemetry);

    let text = String::from_utf8(telemetry.metrics().encode()).expect("UTF-8 exposition");
    let mut families: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE davaudit_") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            families.insert(
                format!("davaudit_{name}"),
                (kind.to_owned(), BTreeSet::new()),
            );
        }
    }
    for line in text.lines().filter(|l| l.starts_with("davaudit_")) {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| families.get(*base).is_some_and(|f| f.0 == "histogram"))
            })
            .unwrap_or(name);
        let labels: BTreeSet<String> = line
            .split_once('{')
            .map(|(_, rest)| rest.split_once('}').map_or(rest, |(l, _)| l))
            .unwrap_or_default()
            .split(',')
            .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.to_owned()))
            .filter(|k| k != "le")
            .collect();
        families
            .get_mut(family)
            .unwrap_or_else(|| panic!("a sample of an undeclared family: {line}"))
            .1
            .extend(labels);
    }
    families
}

#[test]
fn design_md_lists_every_metric_family_with_its_type_and_labels() {
    let design = design_families();
    let registry = registry_families();
    assert!(design.len() >= 8, "DESIGN.md §3.3: no metric table found");
    assert_eq!(
        design, registry,
        "DESIGN.md §3.3 (left) and the registry (right) differ: a metric contract change needs \
         DESIGN.md and a CHANGELOG entry (DESIGN.md §4)"
    );
}

#[test]
fn design_md_lists_every_closed_label_value() {
    let rows: BTreeMap<String, BTreeSet<String>> = section("Metrics")
        .into_iter()
        .filter(|l| l.starts_with("| `") && !l.starts_with("| `davaudit_"))
        .map(|row| {
            let cells = cells(row);
            (cells[0].trim_matches('`').to_owned(), ticked(cells[1]))
        })
        .collect();
    let set = |values: &mut dyn Iterator<Item = &'static str>| -> BTreeSet<String> {
        values.map(str::to_owned).collect()
    };
    let expected = BTreeMap::from([
        ("method".to_owned(), set(&mut labels::all_methods())),
        ("code".to_owned(), set(&mut labels::all_codes())),
        (
            "level".to_owned(),
            set(&mut ["response", "propstat"].into_iter()),
        ),
        (
            "outcome".to_owned(),
            set(&mut Outcome::ALL.iter().map(|o| o.as_str())),
        ),
        (
            "kind".to_owned(),
            set(&mut Kind::ALL.iter().map(|k| k.as_str())),
        ),
        (
            "listener".to_owned(),
            set(&mut super::metrics::LISTENERS.into_iter()),
        ),
        (
            "reason".to_owned(),
            set(&mut super::metrics::Refused::ALL
                .iter()
                .map(|r| r.as_str())
                .chain(
                    super::metrics::HandshakeFailure::ALL
                        .iter()
                        .map(|h| h.as_str()),
                )),
        ),
        (
            "result".to_owned(),
            set(&mut super::metrics::RELOAD_RESULTS.into_iter()),
        ),
        (
            "event".to_owned(),
            set(&mut super::metrics::SUPPRESSED_EVENTS.into_iter()),
        ),
        (
            "limit".to_owned(),
            set(&mut crate::multistatus::Limit::ALL.iter().map(|l| l.as_str())),
        ),
    ]);
    assert_eq!(
        rows, expected,
        "DESIGN.md §3.3 label values (left) and telemetry::labels (right) differ"
    );
}
