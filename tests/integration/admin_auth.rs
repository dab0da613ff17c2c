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

/// `admin.live_listen`: the live view on a listener of its own, `/metrics` and the probes
/// stay on `admin.listen`; neither serves the other's paths; the same tokens lock both (the
/// metrics token opens neither live path); a real partial failure shows up on the live one.
#[tokio::test]
async fn the_live_view_on_its_own_listener_and_metrics_on_the_admin_one() {
    let dav = DavServer::builder()
        .refuse_remove("/dir/keep.txt")
        .start()
        .await;
    dav.write("/dir/keep.txt", "x");
    dav.write("/dir/gone.txt", "y");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin.token"), "people-token\n").unwrap();
    std::fs::write(dir.path().join("metrics.token"), "scrape-token\n").unwrap();
    let yaml = yaml(&dav.url(), dir.path()).replace("  ui: true\n", "  live_listen: 127.0.0.1:0\n");
    let proxy = Proxy::start_yaml(&yaml).await;
    let admin = proxy.admin_url();
    let live = proxy.live_url().expect("a live view listener");
    assert_ne!(live, admin);

    let (status, _, _) = send("DELETE", &proxy.url_for("/dir/"), &[], "").await;
    assert_eq!(status.as_u16(), 207);

    // The admin listener: metrics and probes, no live view.
    assert_eq!(
        status_of(&format!("{admin}/metrics"), Some("scrape-token")).await,
        200
    );
    assert_eq!(status_of(&format!("{admin}/healthz"), None).await, 200);
    for path in ["/", "/failures"] {
        let (code, body) = get_with(&format!("{admin}{path}"), Some("people-token")).await;
        assert_eq!(code, 404, "{path} on admin.listen");
        assert!(body.contains("served on admin.live_listen"), "{body}");
    }
    // The live listener: the live view only, locked by the admin token alone.
    for path in ["/metrics", "/healthz", "/readyz"] {
        let (code, body) = get_with(&format!("{live}{path}"), Some("people-token")).await;
        assert_eq!(code, 404, "{path} on admin.live_listen");
        assert!(body.contains("the live view only"), "{body}");
    }
    let failures = format!("{live}/failures");
    assert_eq!(status_of(&failures, None).await, 401);
    assert_eq!(status_of(&failures, Some("scrape-token")).await, 401);
    assert_eq!(
        status_of(&format!("{live}/"), Some("people-token")).await,
        200
    );
    let json = wait_until("the DELETE recorded on the live listener", || async {
        let (code, body) = get_with(&failures, Some("people-token")).await;
        assert_eq!(code, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        (json["recorded"].as_u64() >= Some(1)).then_some(json)
    })
    .await;
    assert_eq!(json["failures"][0]["failed"][0]["href"], "/dir/keep.txt");
}

async fn status_of(url: &str, token: Option<&str>) -> u16 {
    get_with(url, token).await.0
}

async fn get_with(url: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    let (status, _, body) = send("GET", url, &headers, "").await;
    (status.as_u16(), String::from_utf8_lossy(&body).into_owned())
}
