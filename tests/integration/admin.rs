//! The admin listener: `/healthz`, `/readyz`, `/metrics`; the README's metrics table is the
//! contract, so it is checked against what `/metrics` really exposes (both ways), and every
//! label value comes from a closed set (never a path, href or host).

use std::collections::{BTreeMap, BTreeSet};

use tokio::io::AsyncWriteExt;

use crate::support::upstream::{read_head, reset};
use crate::support::*;

async fn get(url: &str) -> (u16, http::HeaderMap, String) {
    let (status, headers, body) = send("GET", url, &[], "").await;
    let body = String::from_utf8(body.to_vec()).expect("admin bodies are UTF-8");
    (status.as_u16(), headers, body)
}

async fn refused_url() -> String {
    // Bind, note the port, close: nothing listens there any more.
    let listener = bind_local().await;
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn healthz_answers_200() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, _, body) = get(&format!("{}/healthz", proxy.admin_url())).await;
    assert_eq!(status, 200);
    assert_eq!(body, "ok\n");
}

#[tokio::test]
async fn healthz_answers_200_even_when_the_upstream_is_unreachable() {
    let proxy = Proxy::start(&refused_url().await).await;
    let (status, _, _) = get(&format!("{}/healthz", proxy.admin_url())).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn readyz_answers_200_and_upstream_up_is_1_once_the_upstream_is_reachable() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let url = format!("{}/readyz", proxy.admin_url());
    wait_until("/readyz to say ready", || async {
        let (status, _, body) = get(&url).await;
        (status == 200 && body == "ready\n").then_some(())
    })
    .await;
    let m = proxy
        .metrics_when(|m| m.get("davaudit_upstream_up", &[]) == 1.0)
        .await;
    for kind in ["connect", "timeout"] {
        assert_eq!(
            m.get_exact("davaudit_upstream_probe_error", &[("kind", kind)]),
            Some(0.0)
        );
    }
}

/// Readiness does not follow the upstream (issue 16): with every pod unready an outage would
/// stop traffic and silence the traffic-guarded alerts. The outage shows in the metrics.
#[tokio::test]
async fn an_unreachable_upstream_keeps_readyz_200_and_sets_upstream_up_to_0() {
    let proxy = Proxy::start(&refused_url().await).await;
    let m = proxy
        .metrics_when(|m| {
            m.get_exact("davaudit_upstream_probe_error", &[("kind", "connect")]) == Some(1.0)
        })
        .await;
    assert_eq!(m.get_exact("davaudit_upstream_up", &[]), Some(0.0));
    assert_eq!(
        m.get_exact("davaudit_upstream_probe_error", &[("kind", "timeout")]),
        Some(0.0)
    );
    let (status, headers, body) = get(&format!("{}/readyz", proxy.admin_url())).await;
    assert_eq!(status, 200);
    assert_eq!(body, "ready; upstream unreachable at the last probe\n");
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
}

#[tokio::test]
async fn an_unknown_admin_path_is_404() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, _, _) = get(&format!("{}/nope", proxy.admin_url())).await;
    assert_eq!(status, 404);
    // The proxy's paths are not the admin's.
    let (status, _, _) = get(&format!("{}/dav/", proxy.admin_url())).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn metrics_are_prometheus_text_format_0_0_4() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, headers, body) = get(&format!("{}/metrics", proxy.admin_url())).await;
    assert_eq!(status, 200);
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"),
        "{content_type}"
    );
    Metrics::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
}

// ---------------------------------------------------------------------------------------------
// The README's metrics table is the contract

/// One row of README.md's `## Metrics` table.
#[derive(Debug)]
struct Row {
    name: String,
    kind: String,
    labels: BTreeSet<String>,
}

/// The backticked words of a table cell, leaving out parenthesised parts (label values).
fn backticked(cell: &str) -> Vec<String> {
    let mut depth = 0usize;
    let mut outside = String::new();
    for c in cell.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    outside
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Parses the table of README.md's `## Metrics` section.
fn readme_metrics_table() -> Vec<Row> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Metrics"))
        .expect("README.md has a `## Metrics` section");
    let mut lines = section.lines().skip_while(|l| !l.starts_with('|'));
    let header: Vec<String> = lines
        .next()
        .expect("a table")
        .split('|')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    assert_eq!(
        header,
        ["", "name", "type", "labels", "meaning", ""],
        "the table's columns"
    );
    let mut rows = Vec::new();
    for line in lines.skip(1).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 6, "table row: {line}");
        let names = backticked(cells[1]);
        assert_eq!(names.len(), 1, "one metric name per row: {line}");
        rows.push(Row {
            name: names[0].clone(),
            kind: cells[2].to_owned(),
            labels: backticked(cells[3]).into_iter().collect(),
        });
    }
    assert!(rows.len() >= 8, "the table has every metric: {rows:?}");
    rows
}

#[test]
fn the_readme_table_parser_reads_labels_but_not_label_values() {
    assert_eq!(
        backticked("`kind` (`connect`, `timeout`, `reset`, `protocol`)"),
        ["kind"]
    );
    assert_eq!(backticked("`method`, `code`"), ["method", "code"]);
    assert!(backticked("—").is_empty());
}

const FAILING_207: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
    <D:multistatus xmlns:D=\"DAV:\">\
    <D:response><D:href>/secret/path/locked.txt</D:href>\
    <D:status>HTTP/1.1 423 Locked</D:status>\
    <D:error><DAV:lock-token-submitted/></D:error></D:response>\
    <D:response><D:href>/secret/path/</D:href>\
    <D:status>HTTP/1.1 424 Failed Dependency</D:status></D:response></D:multistatus>";

/// (Its `DAV:error` child has lighttpd's undeclared `DAV:` prefix, so every family, the
/// unbound-prefix counter included, has a series.)
/// A davaudit that has seen one 207 with failures (method `FROBNICATE`, path `/secret/path`)
/// and one 502 (the upstream reset a `DELETE /broken`); returns it with its final scrape.
async fn proxy_after_a_failing_207_and_a_502() -> (Proxy, RawUpstream, Metrics) {
    let upstream = RawUpstream::start(|mut s| async move {
        let head = read_head(&mut s).await;
        if head.starts_with(b"FROBNICATE ") {
            let response = format!(
                "HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\n\
                 Connection: close\r\nContent-Length: {}\r\n\r\n{FAILING_207}",
                FAILING_207.len()
            );
            let _ = s.write_all(response.as_bytes()).await;
            let _ = s.shutdown().await;
        } else {
            // Readiness probes (empty head) and `DELETE /broken`: reset.
            reset(s);
        }
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, _, received) = send(
        "FROBNICATE",
        &proxy.url_for("/secret/path?token=secret"),
        &[],
        "",
    )
    .await;
    assert_eq!(status.as_u16(), 207);
    assert_eq!(received, FAILING_207.as_bytes());
    let (status, _, _) = send("DELETE", &proxy.url_for("/broken"), &[], "").await;
    assert_eq!(status.as_u16(), 502);
    let metrics = proxy
        .metrics_when(|m| {
            m.get(
                "davaudit_multistatus_total",
                &[("method", "OTHER"), ("outcome", "partial_failure")],
            ) == 1.0
                && m.get("davaudit_upstream_errors_total", &[("kind", "reset")]) == 1.0
        })
        .await;
    (proxy, upstream, metrics)
}

#[tokio::test]
async fn the_readme_metrics_table_matches_metrics_exactly() {
    let rows = readme_metrics_table();
    let (_proxy, _upstream, m) = proxy_after_a_failing_207_and_a_502().await;

    for row in &rows {
        assert_eq!(
            m.types.get(&row.name).map(String::as_str),
            Some(row.kind.as_str()),
            "# TYPE of {}",
            row.name
        );
        // (sample name, labels it must have exactly)
        let series: Vec<(String, BTreeSet<String>)> = if row.kind == "histogram" {
            let mut bucket = row.labels.clone();
            bucket.insert("le".to_owned());
            vec![
                (format!("{}_bucket", row.name), bucket),
                (format!("{}_sum", row.name), row.labels.clone()),
                (format!("{}_count", row.name), row.labels.clone()),
            ]
        } else {
            vec![(row.name.clone(), row.labels.clone())]
        };
        for (sample, want) in series {
            let label_sets = m.labels_of(&sample);
            assert!(!label_sets.is_empty(), "{sample} is exposed:\n{}", m.text);
            for labels in label_sets {
                let got: BTreeSet<String> = labels.keys().cloned().collect();
                assert_eq!(got, want, "labels of {sample}");
            }
        }
    }

    // And the other way: every davaudit_* family is in the table.
    let documented: BTreeSet<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    for family in m.types.keys().filter(|f| f.starts_with("davaudit_")) {
        assert!(
            documented.contains(family.as_str()),
            "{family} is exposed but not in README.md's metrics table"
        );
    }

    // Values the drive above must have produced.
    assert_eq!(
        m.get_exact(
            "davaudit_requests_total",
            &[("method", "OTHER"), ("code", "207")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get_exact(
            "davaudit_requests_total",
            &[("method", "DELETE"), ("code", "502")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get_exact(
            "davaudit_request_duration_seconds_count",
            &[("method", "OTHER")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get_exact(
            "davaudit_multistatus_failures_total",
            &[("method", "OTHER"), ("level", "response"), ("code", "423")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get_exact(
            "davaudit_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("revision", env!("DAVAUDIT_REVISION")),
                ("rust_version", env!("DAVAUDIT_RUST_VERSION")),
            ]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn process_metrics_are_exposed() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let m = proxy.metrics().await;
    assert!(
        m.samples.iter().any(|s| s.name.starts_with("process_")),
        "process_* metrics:\n{}",
        m.text
    );
    if cfg!(target_os = "linux") {
        // CPU time may still read 0 in a young process: present is enough.
        assert!(
            m.get_exact("process_cpu_seconds_total", &[]).is_some(),
            "process_cpu_seconds_total:\n{}",
            m.text
        );
        for name in [
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
        ] {
            assert!(
                m.get(name, &[]) > 0.0,
                "{name} is exposed and positive:\n{}",
                m.text
            );
        }
    }
}

#[tokio::test]
async fn label_values_come_from_closed_sets_and_never_carry_a_path_or_host() {
    let (proxy, _upstream, m) = proxy_after_a_failing_207_and_a_502().await;
    // The closed sets come from the library's own lists (DESIGN.md §3.3 pins them).
    let outcomes: Vec<&str> = ::davaudit::multistatus::Outcome::ALL
        .iter()
        .map(|o| o.as_str())
        .collect();
    let limits: Vec<&str> = ::davaudit::multistatus::Limit::ALL
        .iter()
        .map(|l| l.as_str())
        .collect();
    let closed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("level", &["response", "propstat"][..]),
        ("outcome", &outcomes[..]),
        ("limit", &limits[..]),
        ("kind", &["connect", "timeout", "reset", "protocol"][..]),
        ("listener", &["proxy", "admin"][..]),
        ("reason", &["limit", "accept_error", "error", "timeout"][..]),
        ("result", &["success", "failure"][..]),
        (
            "event",
            &[
                "connection_refused",
                "accept_failed",
                "tls_handshake_failed",
                "partial_failure",
            ][..],
        ),
        ("version", &[env!("CARGO_PKG_VERSION")][..]),
        // Fixed at build time: one value per binary.
        ("revision", &[env!("DAVAUDIT_REVISION")][..]),
        ("rust_version", &[env!("DAVAUDIT_RUST_VERSION")][..]),
    ]);
    let host = proxy.addr().ip().to_string();
    for sample in m.samples.iter().filter(|s| s.name.starts_with("davaudit_")) {
        for (key, value) in &sample.labels {
            let ok = match key.as_str() {
                // A method name (`PROPFIND`, `VERSION-CONTROL`, ...) or OTHER.
                "method" => {
                    !value.is_empty() && value.chars().all(|c| c.is_ascii_uppercase() || c == '-')
                }
                "code" => {
                    matches!(
                        value.as_str(),
                        "invalid" | "1xx" | "2xx" | "3xx" | "4xx" | "5xx" | "other"
                    ) || (value.len() == 3 && value.chars().all(|c| c.is_ascii_digit()))
                }
                "le" => value == "+Inf" || value.parse::<f64>().is_ok(),
                other => closed
                    .get(other)
                    .is_some_and(|set| set.contains(&value.as_str())),
            };
            assert!(
                ok,
                "{}: label {key}={value:?} is not from its closed set",
                sample.name
            );
        }
    }
    assert!(
        m.label_values("davaudit_requests_total", "method")
            .iter()
            .all(|v| v != "FROBNICATE"),
        "an unknown method is OTHER"
    );
    for needle in ["secret", "token", host.as_str(), "/broken"] {
        assert!(
            !m.text.contains(needle),
            "/metrics mentions {needle:?}:\n{}",
            m.text
        );
    }
}
