//! Bearer-token authentication on the admin listener (`admin.token_file`,
//! `admin.metrics_token_file`): 401 without the token, the probes open, the metrics token
//! opens `/metrics` only, and a reload re-reads the files.

use crate::support::*;

fn yaml(upstream: &str, dir: &std::path::Path) -> String {
    format!(
        "listen: 127.0.0.1:0\nupstream: {{url: {upstream}}}\nadmin:\n  listen: 127.0.0.1:0\n  \
         ui: true\n  token_file: {}\n  metrics_token_file: {}\n",
        dir.join("admin.token").display(),
        dir.join("metrics.token").display()
    )
}

async fn status(url: &str, token: Option<&str>) -> u16 {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    send("GET", url, &headers, "").await.0.as_u16()
}

#[tokio::test]
async fn admin_paths_need_the_token_and_probes_do_not() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin.token"), "people-token\n").unwrap();
    std::fs::write(dir.path().join("metrics.token"), "scrape-token\n").unwrap();
    let proxy = Proxy::start_yaml(&yaml(&upstream.url(), dir.path())).await;
    let admin = proxy.admin_url();

    for path in ["/healthz", "/readyz"] {
        assert_eq!(status(&format!("{admin}{path}"), None).await, 200, "{path}");
    }
    for path in ["/metrics", "/", "/failures"] {
        let url = format!("{admin}{path}");
        assert_eq!(status(&url, None).await, 401, "{path} without a token");
        assert_eq!(
            status(&url, Some("wrong")).await,
            401,
            "{path} with a wrong one"
        );
        assert_eq!(status(&url, Some("people-token")).await, 200, "{path}");
    }
    let metrics = format!("{admin}/metrics");
    assert_eq!(status(&metrics, Some("scrape-token")).await, 200);
    assert_eq!(
        status(&format!("{admin}/failures"), Some("scrape-token")).await,
        401,
        "the metrics token opens /metrics only"
    );
    let (_, headers, _) = send("GET", &metrics, &[], "").await;
    assert_eq!(
        headers["www-authenticate"],
        "Bearer realm=\"davaudit admin\""
    );

    // A reload re-reads the files: the old token stops working, the new one works.
    std::fs::write(dir.path().join("admin.token"), "rotated\n").unwrap();
    let config =
        ::davaudit::config::from_yaml(&yaml(&upstream.url(), dir.path()), "t.yaml").unwrap();
    proxy.running().reloader().reload(config).unwrap();
    assert_eq!(status(&metrics, Some("people-token")).await, 401);
    assert_eq!(status(&metrics, Some("rotated")).await, 200);

    // A token file that vanished refuses the reload; the tokens in force stay.
    std::fs::remove_file(dir.path().join("admin.token")).unwrap();
    let config =
        ::davaudit::config::from_yaml(&yaml(&upstream.url(), dir.path()), "t.yaml").unwrap();
    let error = proxy
        .running()
        .reloader()
        .reload(config)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("admin.token_file "), "{error}");
    assert_eq!(status(&metrics, Some("rotated")).await, 200);
}
