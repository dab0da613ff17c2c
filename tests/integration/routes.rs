//! Issue 16, item 7: which part of the service hides failures. With `routes`, the request
//! and multistatus families, the live view and routine rules know the request's route; a
//! reload that changes the routes is reported and keeps the running ones.

use crate::support::*;

/// One failing entry (423 Locked) behind a 207, whatever the request.
const LOCKED: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:multistatus xmlns:d="DAV:">
  <d:response><d:href>/x/locked.txt</d:href><d:status>HTTP/1.1 423 Locked</d:status></d:response>
</d:multistatus>"#;

const ROUTES: &str = "routes:
  - { name: files, prefix: /remote.php/dav/files/ }
  - { name: uploads, prefix: /remote.php/dav/uploads/ }
  - { name: files, prefix: /remote.php/webdav/ }
audit:
  routine:
    - { method: DELETE, level: response, code: 423, route: uploads }
";

#[tokio::test]
async fn failures_are_counted_logged_and_listed_by_route_and_a_rule_may_excuse_one_route() {
    let logs = LogCapture::start();
    let upstream = FakeUpstream::start(|_| Reply::multistatus(LOCKED)).await;
    let proxy = Proxy::start_with(&upstream.url(), ROUTES).await;
    let before = Metrics::default();
    for path in [
        "/remote.php/dav/files/alice/a.txt",
        "/remote.php/webdav/b.txt",
        "/remote.php/dav/uploads/alice/chunk",
        "/index.php/elsewhere",
        // Compared as sent: an encoded prefix is not the prefix.
        "/remote.php/dav/%66iles/alice/c.txt",
    ] {
        let (status, _, _) = send("DELETE", &proxy.url_for(path), &[], "").await;
        assert_eq!(status.as_u16(), 207, "{path}");
    }
    let m = proxy.audited(&before, &[("method", "DELETE")], 5).await;
    let outcome = |route: &str, outcome: &str| {
        m.get_exact(
            "davaudit_multistatus_total",
            &[("method", "DELETE"), ("outcome", outcome), ("route", route)],
        )
    };
    assert_eq!(outcome("files", "partial_failure"), Some(2.0));
    assert_eq!(outcome("other", "partial_failure"), Some(2.0));
    // The route's own rule excuses its 423: clean there, and nowhere else.
    assert_eq!(outcome("uploads", "clean"), Some(1.0));
    assert_eq!(outcome("uploads", "partial_failure"), Some(0.0));
    let requests = |route: &str| {
        m.get_exact(
            "davaudit_requests_total",
            &[("method", "DELETE"), ("code", "207"), ("route", route)],
        )
    };
    assert_eq!(requests("files"), Some(2.0));
    assert_eq!(requests("uploads"), Some(1.0));
    assert_eq!(requests("other"), Some(2.0));
    let failures = |route: &str| {
        m.get(
            "davaudit_multistatus_failures_total",
            &[("method", "DELETE"), ("route", route)],
        )
    };
    assert_eq!(failures("files"), 2.0);
    assert_eq!(failures("uploads"), 0.0);
    assert_eq!(
        m.get(
            "davaudit_request_duration_seconds_count",
            &[("method", "DELETE"), ("route", "files")]
        ),
        2.0
    );
    // Every sample of the five families has a route from the closed set.
    for family in [
        "davaudit_requests_total",
        "davaudit_multistatus_total",
        "davaudit_multistatus_entries_total",
        "davaudit_multistatus_failures_total",
    ] {
        for labels in m.labels_of(family) {
            let route = labels.get("route").map(String::as_str);
            assert!(
                matches!(route, Some("files" | "uploads" | "other")),
                "{family} {labels:?}"
            );
        }
    }

    // The partial-failure events carry the route.
    let event = logs
        .wait_for("the partial failure of /remote.php/webdav/b.txt", |e| {
            e.message() == "multistatus partial failure"
                && e.field("path").and_then(|p| p.as_str()) == Some("/remote.php/webdav/b.txt")
        })
        .await;
    assert_eq!(event.field("route").and_then(|r| r.as_str()), Some("files"));

    // The live view lists the route of each record.
    let (status, _, body) = send("GET", &format!("{}/failures", proxy.admin_url()), &[], "").await;
    assert_eq!(status.as_u16(), 200);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut seen: Vec<(String, String)> = json["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_owned(),
                r["route"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("/index.php/elsewhere".to_owned(), "other".to_owned()),
            (
                "/remote.php/dav/%66iles/alice/c.txt".to_owned(),
                "other".to_owned()
            ),
            (
                "/remote.php/dav/files/alice/a.txt".to_owned(),
                "files".to_owned()
            ),
            ("/remote.php/webdav/b.txt".to_owned(), "files".to_owned()),
        ]
    );
    proxy.stop().await;
}

#[tokio::test]
async fn without_routes_no_family_has_a_route_label_and_the_live_view_no_route_field() {
    let logs = LogCapture::start();
    let upstream = FakeUpstream::start(|_| Reply::multistatus(LOCKED)).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, _, _) = send("DELETE", &proxy.url_for("/remote.php/dav/files/a"), &[], "").await;
    assert_eq!(status.as_u16(), 207);
    let m = proxy
        .audited(&Metrics::default(), &[("method", "DELETE")], 1)
        .await;
    assert!(!m.text.contains("route="), "{}", m.text);
    assert_eq!(
        m.get_exact(
            "davaudit_multistatus_total",
            &[("method", "DELETE"), ("outcome", "partial_failure")]
        ),
        Some(1.0)
    );
    let (_, _, body) = send("GET", &format!("{}/failures", proxy.admin_url()), &[], "").await;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(json["failures"][0].get("route").is_none(), "{json}");
    let event = logs
        .wait_for("the partial failure", |e| {
            e.message() == "multistatus partial failure"
        })
        .await;
    assert_eq!(event.field("route"), None);
    proxy.stop().await;
}

#[tokio::test]
async fn a_reload_that_changes_routes_is_reported_and_the_running_routes_stay() {
    let upstream = FakeUpstream::start(|_| Reply::multistatus(LOCKED)).await;
    let proxy = Proxy::start_with(&upstream.url(), ROUTES).await;
    let renamed = proxy
        .config_yaml()
        .replace("name: files", "name: documents");
    let config = ::davaudit::config::from_yaml(&renamed, "reload.yaml").unwrap();
    let restart = proxy.running().reloader().reload(config).unwrap();
    assert_eq!(restart, ["routes"]);
    let (status, _, _) = send("DELETE", &proxy.url_for("/remote.php/dav/files/a"), &[], "").await;
    assert_eq!(status.as_u16(), 207);
    let m = proxy
        .audited(&Metrics::default(), &[("method", "DELETE")], 1)
        .await;
    assert_eq!(
        m.get(
            "davaudit_multistatus_total",
            &[("route", "files"), ("outcome", "partial_failure")]
        ),
        1.0
    );
    assert!(
        m.label_values("davaudit_multistatus_total", "route")
            .iter()
            .all(|r| r != "documents")
    );
    proxy.stop().await;
}
