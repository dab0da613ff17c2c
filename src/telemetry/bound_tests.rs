//! The worst case of metric cardinality, measured: every method label with every status the
//! upstream can send (all 900 codes at both levels inside a 207, and as top-level status),
//! every outcome and every upstream error kind. The series count of `/metrics` that results
//! is the bound the README states; this test keeps the two equal.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Telemetry;
use super::events::{MultistatusScanned, RequestContext, RequestFinished};
use super::labels;
use crate::multistatus::{Code, Outcome, Report};

/// A method name that resolves to `label` (`OTHER` needs an unknown one).
fn method_for(label: &str) -> http::Method {
    let name = if label == labels::OTHER_METHOD {
        "FROBNICATE"
    } else {
        label
    };
    http::Method::from_bytes(name.as_bytes()).expect("method name")
}

/// A report with every code `100..=999` and `invalid` at both levels.
fn every_code(outcome: Outcome) -> Report {
    let all: BTreeMap<Code, u64> = (100..=999u16)
        .map(Code::Status)
        .chain(std::iter::once(Code::Invalid))
        .map(|c| (c, 1))
        .collect();
    let failing: BTreeMap<Code, u64> = all
        .iter()
        .filter(|(code, _)| code.is_error())
        .map(|(&code, &n)| (code, n))
        .collect();
    Report {
        response_status: all.clone(),
        propstat_status: all,
        response_failing: failing.clone(),
        propstat_failing: failing,
        entries: 1802,
        failure_count: 1200,
        unbound_prefixes: 1,
        ..Report::empty(outcome)
    }
}

/// Sample lines in the text exposition: the series Prometheus stores.
fn series(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The figure after `marker` (`worst case: `) in the README's metrics section.
fn readme_bound(marker: &str) -> usize {
    let readme = include_str!("../../README.md");
    let at = readme
        .find(marker)
        .unwrap_or_else(|| panic!("README states the series bound as `{marker}N series`"));
    let digits: String = readme[at + marker.len()..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().expect("a number after the marker")
}

/// Every method with every status and outcome, on every path of `paths` (one per route).
fn worst_case(telemetry: &Telemetry, paths: &[&str]) {
    for label in labels::all_methods() {
        for path in paths {
            worst_case_of(telemetry, label, path);
        }
    }
}

fn worst_case_of(telemetry: &Telemetry, label: &str, path: &str) {
    let request = RequestContext {
        method: method_for(label),
        method_label: labels::method(label),
        route: telemetry.routes().resolve(path),
        path: crate::telemetry::context::RequestPath::for_test(path),
        request_id: crate::telemetry::context::RequestId::from_static("r"),
        client: std::net::Ipv4Addr::LOCALHOST.into(),
        access: None,
    };
    for status in 100..=999u16 {
        RequestFinished {
            method: request.method_label,
            route: request.route,
            status,
            duration: Duration::from_millis(1),
        }
        .emit(telemetry);
    }
    for outcome in Outcome::ALL {
        let mut report = every_code(outcome);
        MultistatusScanned {
            request: &request,
            status: 207,
            report: &mut report,
            max_logged_failures: 0,
            duration: Duration::from_millis(1),
        }
        .emit(telemetry);
    }
}

#[test]
fn every_status_the_upstream_can_send_gives_a_bounded_series_count_stated_in_the_readme() {
    let telemetry = Telemetry::new(0);
    worst_case(&telemetry, &["/"]);
    let text = String::from_utf8(telemetry.metrics().encode()).expect("UTF-8 exposition");
    let lines = series(&text);

    // Every code label comes from the closed set.
    let closed: std::collections::BTreeSet<&str> = labels::all_codes().collect();
    for line in &lines {
        if let Some(at) = line.find("code=\"") {
            let value = &line[at + 6..];
            let value = &value[..value.find('"').expect("closing quote")];
            assert!(
                closed.contains(value),
                "open code label {value:?} in {line}"
            );
        }
    }
    let methods = labels::all_methods().count();
    let count = |family: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with(&format!("{family}{{")))
            .count()
    };
    // Top-level statuses: 100..=999 are all valid, so every label but `invalid`.
    assert_eq!(count("davaudit_requests_total"), methods * 69);
    assert_eq!(
        count("davaudit_multistatus_entries_total"),
        methods * 2 * 70
    );
    assert_eq!(
        count("davaudit_multistatus_failures_total"),
        methods * 2 * labels::all_failure_codes().count()
    );

    let bound = readme_bound("worst case: ");
    assert_eq!(
        lines.len(),
        bound,
        "the worst case gives {} series; README.md says `worst case: {bound} series`: \
         update the README (and CHANGELOG) when a metric family or label value is added",
        lines.len()
    );
}

/// The README's bound with the most routes `routes` accepts (`config::MAX_ROUTES`, each its
/// own name, plus `other`): the route-labelled families multiplied by 17, the rest as above.
#[test]
fn with_the_most_routes_the_series_count_is_the_one_stated_in_the_readme() {
    let routes: Vec<crate::config::Route> = (0..crate::config::MAX_ROUTES)
        .map(|i| crate::config::Route {
            name: format!("r{i}"),
            prefix: format!("/r{i}/"),
        })
        .collect();
    let telemetry = Telemetry::with_routes(0, super::routes::Routes::new(&routes));
    let mut paths: Vec<String> = routes.iter().map(|r| format!("{}x", r.prefix)).collect();
    paths.push("/elsewhere".to_owned());
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    worst_case(&telemetry, &paths);
    let text = String::from_utf8(telemetry.metrics().encode()).expect("UTF-8 exposition");
    let lines = series(&text);
    let methods = labels::all_methods().count();
    let count = |family: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with(&format!("{family}{{")))
            .count()
    };
    assert_eq!(count("davaudit_requests_total"), methods * 69 * 17);
    let bound = readme_bound("worst case with 16 routes: ");
    assert_eq!(
        lines.len(),
        bound,
        "with 16 routes the worst case gives {} series; README.md says `worst case with 16 \
         routes: {bound} series`",
        lines.len()
    );
}
