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
    // With routes, so that the optional `route` label shows where DESIGN.md lists it.
    let telemetry = routed_telemetry();
    let request = RequestContext {
        method: http::Method::from_bytes(b"PROPFIND").expect("method"),
        method_label: labels::method("PROPFIND"),
        route: None,
        path: crate::telemetry::context::RequestPath::from_static("/"),
        request_id: crate::telemetry::context::RequestId::from_static("r"),
        client: std::net::Ipv4Addr::LOCALHOST.into(),
        access: None,
    };
    RequestFinished {
        method: request.method_label,
        route: None,
        status: 207,
        duration: Duration::from_millis(1),
    }
    .emit(&telemetry);
    let failing = BTreeMap::from([(Code::Status(423), 1)]);
    let mut report = Report {
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
        report: &mut report,
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
        // Besides the configured route names, the one fixed value.
        (
            "route".to_owned(),
            set(&mut std::iter::once(crate::config::OTHER_ROUTE)),
        ),
    ]);
    assert_eq!(
        rows, expected,
        "DESIGN.md §3.3 label values (left) and telemetry::labels (right) differ"
    );
}

/// The families that take a `route` label when `routes` is configured.
const ROUTED_FAMILIES: [&str; 5] = [
    "davaudit_requests_total",
    "davaudit_request_duration_seconds",
    "davaudit_multistatus_total",
    "davaudit_multistatus_entries_total",
    "davaudit_multistatus_failures_total",
];

/// A fixed set of requests and audits, emitted to `telemetry`; `path` picks the route.
fn emit_fixed_traffic(telemetry: &Telemetry, paths: &[&str]) {
    for (i, path) in paths.iter().enumerate() {
        for (method, status) in [
            ("PROPFIND", 207),
            ("DELETE", 207),
            ("GET", 200),
            ("FROB", 404),
        ] {
            let request = RequestContext {
                method: http::Method::from_bytes(method.as_bytes()).expect("method"),
                method_label: labels::method(method),
                route: None,
                path: crate::telemetry::context::RequestPath::for_test(path),
                request_id: crate::telemetry::context::RequestId::for_test(&format!("r{i}")),
                client: std::net::Ipv4Addr::LOCALHOST.into(),
                access: None,
            };
            RequestFinished {
                method: request.method_label,
                route: None,
                status,
                duration: Duration::from_millis(3 + i as u64),
            }
            .emit(telemetry);
            if status != 207 {
                continue;
            }
            let failing = BTreeMap::from([(Code::Status(423), 1)]);
            let mut report = Report {
                entries: 2,
                response_status: BTreeMap::from([(Code::Status(423), 1), (Code::Status(200), 1)]),
                response_failing: failing,
                failure_count: 1,
                ..Report::empty(Outcome::PartialFailure)
            };
            MultistatusScanned {
                request: &request,
                status,
                report: &mut report,
                max_logged_failures: 0,
                duration: Duration::from_millis(1),
            }
            .emit(telemetry);
        }
    }
}

/// The lines of `families` in an exposition, `# HELP` and `# TYPE` included.
fn family_lines(text: &str, families: &[&str]) -> String {
    text.lines()
        .filter(|l| {
            let name = l
                .strip_prefix("# HELP ")
                .or_else(|| l.strip_prefix("# TYPE "))
                .unwrap_or(l);
            families.iter().any(|f| {
                name.strip_prefix(f)
                    .is_some_and(|rest| rest.starts_with([' ', '{', '_']))
            })
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Telemetry with Nextcloud-like routes, two prefixes sharing the name `files`.
fn routed_telemetry() -> Telemetry {
    let route = |name: &str, prefix: &str| crate::config::Route {
        name: name.to_owned(),
        prefix: prefix.to_owned(),
    };
    Telemetry::with_routes(
        0,
        super::routes::Routes::new(&[
            route("files", "/remote.php/dav/files/"),
            route("calendars", "/remote.php/dav/calendars/"),
            route("files", "/remote.php/webdav/"),
        ]),
    )
}

// Issue 16 item 7: no `routes` configured, the metrics look exactly as before the route
// label existed. The fixture is the exposition of these families written by the code before
// routes (commit 243f4da), for the traffic of `emit_fixed_traffic`.
#[test]
fn without_routes_the_routed_families_are_byte_identical_to_before_routes_existed() {
    let telemetry = Telemetry::new(0);
    emit_fixed_traffic(&telemetry, &["/remote.php/dav/files/a", "/x"]);
    let text = String::from_utf8(telemetry.metrics().encode()).expect("UTF-8");
    let got = family_lines(&text, &ROUTED_FAMILIES);
    assert!(!got.contains("route"), "{got}");
    assert_eq!(
        got,
        include_str!("testdata/routed_families_without_routes.prom")
    );
}

#[test]
fn with_routes_the_request_and_multistatus_families_count_by_route() {
    let telemetry = routed_telemetry();
    let routes = telemetry.routes().clone();
    // The proxy resolves the route from the path; here the test does.
    for path in [
        "/remote.php/dav/files/alice/a",
        "/remote.php/webdav/b",
        "/index.php",
    ] {
        let request = RequestContext {
            method: http::Method::DELETE,
            method_label: labels::method("DELETE"),
            route: routes.resolve(path),
            path: crate::telemetry::context::RequestPath::for_test(path),
            request_id: crate::telemetry::context::RequestId::from_static("r"),
            client: std::net::Ipv4Addr::LOCALHOST.into(),
            access: None,
        };
        RequestFinished {
            method: request.method_label,
            route: request.route,
            status: 207,
            duration: Duration::from_millis(2),
        }
        .emit(&telemetry);
        let mut report = Report {
            entries: 1,
            response_status: BTreeMap::from([(Code::Status(423), 1)]),
            response_failing: BTreeMap::from([(Code::Status(423), 1)]),
            failure_count: 1,
            ..Report::empty(Outcome::PartialFailure)
        };
        MultistatusScanned {
            request: &request,
            status: 207,
            report: &mut report,
            max_logged_failures: 0,
            duration: Duration::from_millis(2),
        }
        .emit(&telemetry);
    }
    let text = String::from_utf8(telemetry.metrics().encode()).expect("UTF-8");
    for line in [
        r#"davaudit_requests_total{code="207",method="DELETE",route="files"} 2"#,
        r#"davaudit_requests_total{code="207",method="DELETE",route="other"} 1"#,
        r#"davaudit_request_duration_seconds_count{method="DELETE",route="files"} 2"#,
        r#"davaudit_multistatus_total{method="DELETE",outcome="partial_failure",route="files"} 2"#,
        r#"davaudit_multistatus_total{method="DELETE",outcome="partial_failure",route="other"} 1"#,
        // Pre-created for every route, so `increase()` sees the first one.
        r#"davaudit_multistatus_total{method="MOVE",outcome="partial_failure",route="calendars"} 0"#,
        r#"davaudit_multistatus_entries_total{code="423",level="response",method="DELETE",route="files"} 2"#,
        r#"davaudit_multistatus_failures_total{code="423",level="response",method="DELETE",route="other"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    // Every sample of a routed family has a route, and only from the closed set.
    let values: BTreeSet<&str> = routes.values().collect();
    for line in family_lines(&text, &ROUTED_FAMILIES).lines() {
        if line.starts_with('#') {
            continue;
        }
        let at = line
            .find("route=\"")
            .unwrap_or_else(|| panic!("no route: {line}"))
            + 7;
        let value = &line[at..at + line[at..].find('"').expect("quote")];
        assert!(values.contains(value), "{value} in {line}");
    }
    // The other families are unchanged by routes.
    assert!(
        !family_lines(
            &text,
            &[
                "davaudit_upstream_errors_total",
                "davaudit_connections_open"
            ]
        )
        .contains("route")
    );
}
