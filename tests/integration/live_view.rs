//! The live view on the admin listener: real partial failures through the proxy show up in
//! `/failures` (newest first, `?limit`, `?code`), backend text comes back JSON-escaped, the
//! HTML page is static, the ring survives a reload, and `admin.ui: false` turns it off.

use serde_json::Value;

use crate::support::*;

async fn get(url: &str) -> (u16, http::HeaderMap, String) {
    let (status, headers, body) = send("GET", url, &[], "").await;
    let body = String::from_utf8(body.to_vec()).expect("admin bodies are UTF-8");
    (status.as_u16(), headers, body)
}

/// `GET /failures{query}` as JSON (asserting 200 and the content type).
async fn failures(proxy: &Proxy, query: &str) -> Value {
    let (status, headers, body) = get(&format!("{}/failures{query}", proxy.admin_url())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Polls `/failures` until `recorded` reaches `n` (the audit ends after the body did).
async fn failures_when_recorded(proxy: &Proxy, n: u64) -> Value {
    wait_until(&format!("{n} partial failures recorded"), || async {
        let json = failures(proxy, "").await;
        (json["recorded"].as_u64() >= Some(n)).then_some(json)
    })
    .await
}

/// `[(href, code)]` of one record's failing entries.
fn failed(record: &Value) -> Vec<(String, String)> {
    record["failed"]
        .as_array()
        .expect("failed is an array")
        .iter()
        .map(|f| {
            (
                f["href"].as_str().unwrap().to_owned(),
                f["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn paths(json: &Value) -> Vec<&str> {
    json["failures"]
        .as_array()
        .expect("failures is an array")
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect()
}

const PATCH: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:z">
  <D:set><D:prop><Z:color>red</Z:color><D:getetag>"forged"</D:getetag></D:prop></D:set>
</D:propertyupdate>"#;

#[tokio::test]
async fn real_partial_failures_appear_newest_first_and_clean_207s_do_not() {
    let dav = DavServer::builder()
        .refuse_remove("/dir/keep.txt")
        .start()
        .await;
    dav.write("/f.txt", "x");
    dav.write("/dir/keep.txt", "x");
    dav.write("/dir/gone.txt", "y");
    let proxy = Proxy::start(&dav.url()).await;
    let empty = failures(&proxy, "").await;
    assert_eq!(empty["recorded"], 0);
    assert_eq!(empty["capacity"], 200);
    assert_eq!(empty["failures"], serde_json::json!([]));

    // A clean 207 first: audited, not recorded.
    let (status, _, _) = send("PROPFIND", &proxy.url_for("/dir/"), &[("depth", "1")], "").await;
    assert_eq!(status.as_u16(), 207);
    proxy
        .audited(
            &Metrics::default(),
            &[("method", "PROPFIND"), ("outcome", "clean")],
            1,
        )
        .await;

    let (status, _, _) = send(
        "PROPPATCH",
        &proxy.url_for("/f.txt"),
        &[("x-request-id", "patch-1")],
        PATCH,
    )
    .await;
    assert_eq!(status.as_u16(), 207);
    failures_when_recorded(&proxy, 1).await;
    let (status, _, _) = send("DELETE", &proxy.url_for("/dir/"), &[], "").await;
    assert_eq!(status.as_u16(), 207);

    let json = failures_when_recorded(&proxy, 2).await;
    assert_eq!(json["recorded"], 2);
    assert_eq!(paths(&json), ["/dir/", "/f.txt"]);
    let delete = &json["failures"][0];
    assert_eq!(delete["method"], "DELETE");
    assert_eq!(delete["status"], 207);
    assert_eq!(delete["outcome"], "partial_failure");
    assert_eq!(failed(delete), [("/dir/keep.txt".into(), "403".into())]);
    assert_eq!(delete["failed"][0]["level"], "response");
    assert_eq!(delete["response_status"], serde_json::json!({"403": 1}));
    let patch = &json["failures"][1];
    assert_eq!(patch["method"], "PROPPATCH");
    assert_eq!(patch["request_id"], "patch-1");
    // Root cause first, then the 424 it caused.
    assert_eq!(
        failed(patch),
        [
            ("/f.txt".into(), "403".into()),
            ("/f.txt".into(), "424".into())
        ]
    );
    // Which property each propstat failure is about (issue 14 item 7): the protected one
    // refused, the dead one failed with it.
    assert_eq!(
        patch["failed"][0]["props"],
        serde_json::json!(["{DAV:}getetag"])
    );
    assert_eq!(
        patch["failed"][1]["props"],
        serde_json::json!(["{urn:example:z}color"])
    );
    assert_eq!(delete["failed"][0]["props"], serde_json::json!([]));
    assert_eq!(patch["failing"], serde_json::json!({"403": 1, "424": 1}));
    assert_eq!(
        patch["propstat_status"],
        serde_json::json!({"403": 1, "424": 1})
    );
    assert!(delete["seq"].as_u64() > patch["seq"].as_u64());
    assert!(delete["time_ms"].as_u64() >= patch["time_ms"].as_u64());
    // Totals since start and the chart's last hour.
    assert_eq!(json["totals"], serde_json::json!({"403": 2, "424": 1}));
    let per_minute: Vec<u64> = json["per_minute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(per_minute.len(), 60);
    assert_eq!(per_minute.iter().sum::<u64>(), 2);
    let now = json["now_ms"].as_u64().unwrap();
    let start = json["per_minute_start_ms"].as_u64().unwrap();
    assert!(now - start < 60 * 60_000 && now - start >= 59 * 60_000);
}

/// A 207 whose one entry fails with `code` at response level, for `href`.
fn multistatus(href: &str, code: u16) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:"><D:response><D:href>{href}</D:href><D:status>HTTP/1.1 {code} Oops</D:status></D:response></D:multistatus>"#
    )
}

/// Answers `/{code}/...` with a 207 whose entry failed with that code.
async fn coded_upstream() -> FakeUpstream {
    FakeUpstream::start(|request| {
        let path = request.uri.path().to_owned();
        let code = path
            .split('/')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(500);
        Reply::multistatus(multistatus(&format!("{path}member"), code))
    })
    .await
}

#[tokio::test]
async fn limit_and_code_filter_the_records() {
    let upstream = coded_upstream().await;
    let proxy = Proxy::start_with(&upstream.url(), "audit: {recent_failures: 4}").await;
    for (i, code) in [423, 403, 423, 507, 423].into_iter().enumerate() {
        let (status, _, _) =
            send("DELETE", &proxy.url_for(&format!("/{code}/{i}/")), &[], "").await;
        assert_eq!(status.as_u16(), 207);
        failures_when_recorded(&proxy, i as u64 + 1).await;
    }

    // The ring keeps the last 4, newest first; limit defaults to 50, capped at 4.
    let all = failures(&proxy, "").await;
    assert_eq!(all["capacity"], 4);
    assert_eq!(all["recorded"], 5);
    assert_eq!(paths(&all), ["/423/4/", "/507/3/", "/423/2/", "/403/1/"]);
    assert_eq!(paths(&failures(&proxy, "?limit=1000").await).len(), 4);
    assert_eq!(
        paths(&failures(&proxy, "?limit=2").await),
        ["/423/4/", "/507/3/"]
    );
    assert!(paths(&failures(&proxy, "?limit=0").await).is_empty());

    let locked = failures(&proxy, "?code=423").await;
    assert_eq!(paths(&locked), ["/423/4/", "/423/2/"]);
    assert_eq!(
        failed(&locked["failures"][0]),
        [("/423/4/member".into(), "423".into())]
    );
    assert_eq!(
        paths(&failures(&proxy, "?code=423&limit=1").await),
        ["/423/4/"]
    );
    assert_eq!(paths(&failures(&proxy, "?code=403").await), ["/403/1/"]);
    assert!(paths(&failures(&proxy, "?code=200").await).is_empty());
    // Totals count everything since start, also what rotated out of the ring.
    assert_eq!(
        all["totals"],
        serde_json::json!({"403": 1, "423": 3, "507": 1})
    );

    // `since` keeps records at or after a time.
    let newest_time = all["failures"][0]["time_ms"].as_u64().unwrap();
    let since = failures(&proxy, &format!("?since={newest_time}")).await;
    assert_eq!(paths(&since)[0], "/423/4/");
    assert!(paths(&failures(&proxy, &format!("?since={}", newest_time + 1)).await).is_empty());

    for bad in ["?limit=x", "?code=42", "?code=abc", "?since=-1"] {
        let (status, _, body) = get(&format!("{}/failures{bad}", proxy.admin_url())).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn hrefs_with_markup_come_back_json_escaped_and_the_page_is_static() {
    let href = r#"/x/<script>alert(1)</script>"q'.txt"#;
    let description = r#"<img src=x onerror="alert(2)"> & more"#;
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:"><D:response><D:href><![CDATA[{href}]]></D:href><D:status>HTTP/1.1 423 Locked</D:status><D:error><D:lock-token-submitted/></D:error><D:responsedescription>&lt;img src=x onerror="alert(2)"&gt; &amp; more</D:responsedescription></D:response></D:multistatus>"#
    );
    let upstream = FakeUpstream::always(Reply::multistatus(body)).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, page_headers, page_before) = get(&format!("{}/", proxy.admin_url())).await;
    assert_eq!(status, 200);

    send("DELETE", &proxy.url_for("/x/"), &[], "").await;
    failures_when_recorded(&proxy, 1).await;

    // The raw JSON has no markup at all: <, > and & are \u escapes; quotes are \".
    let (_, _, raw) = get(&format!("{}/failures", proxy.admin_url())).await;
    assert!(!raw.contains(['<', '>', '&']), "{raw}");
    assert!(
        raw.contains(r#"/x/\u003cscript\u003ealert(1)\u003c/script\u003e\"q'.txt"#),
        "{raw}"
    );
    // ...and parses back to exactly what the server sent.
    let json: Value = serde_json::from_str(&raw).unwrap();
    let entry = &json["failures"][0]["failed"][0];
    assert_eq!(entry["href"], href);
    assert_eq!(entry["description"], description);
    assert_eq!(entry["error"], "DAV:lock-token-submitted");
    assert_eq!(entry["code"], "423");

    // The page is static: the same bytes before and after, none of the backend's text.
    let (status, _, page_after) = get(&format!("{}/", proxy.admin_url())).await;
    assert_eq!(status, 200);
    assert_eq!(page_before, page_after);
    assert!(!page_after.contains("alert("));
    assert!(!page_after.contains("/x/"));
    assert!(page_after.contains("fetch(\"failures?\""));
    assert_eq!(page_headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(page_headers["x-content-type-options"], "nosniff");
    let csp = page_headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'; script-src 'sha256-"),
        "{csp}"
    );
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
}

#[tokio::test]
async fn the_ui_is_off_with_admin_ui_false() {
    let upstream = FakeUpstream::always(Reply::multistatus(multistatus("/a", 423))).await;
    let proxy = Proxy::start_with(&upstream.url(), "admin: {ui: false}").await;
    send("DELETE", &proxy.url_for("/a"), &[], "").await;
    for path in ["/", "/failures", "/failures?limit=1"] {
        let (status, headers, body) = get(&format!("{}{path}", proxy.admin_url())).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
        assert!(body.contains("admin.ui is false"), "{body}");
    }
    // The rest of the admin listener is unchanged.
    let (status, _, _) = get(&format!("{}/metrics", proxy.admin_url())).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn recording_off_serves_an_empty_list() {
    let upstream = FakeUpstream::always(Reply::multistatus(multistatus("/a", 423))).await;
    let proxy = Proxy::start_with(&upstream.url(), "audit: {recent_failures: 0}").await;
    send("DELETE", &proxy.url_for("/a"), &[], "").await;
    proxy
        .audited(
            &Metrics::default(),
            &[("method", "DELETE"), ("outcome", "partial_failure")],
            1,
        )
        .await;
    let json = failures(&proxy, "").await;
    assert_eq!(json["capacity"], 0);
    assert_eq!(json["recorded"], 0);
    assert_eq!(json["failures"], serde_json::json!([]));
}

#[tokio::test]
async fn a_foreign_host_name_is_refused_on_the_loopback_default() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let port = proxy.admin_addr().port();
    for (host, expected) in [
        (format!("127.0.0.1:{port}"), 200),
        (format!("localhost:{port}"), 200),
        (format!("rebound.example:{port}"), 403),
    ] {
        for path in ["/", "/failures"] {
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            let response = raw_request(proxy.admin_addr(), request.as_bytes()).await;
            assert_eq!(response.status, expected, "{host}{path}");
        }
    }
    // On a loopback admin address /metrics gets the same check (issue 18: DNS rebinding
    // could read it otherwise).
    let request = "GET /metrics HTTP/1.1\r\nHost: rebound.example\r\nConnection: close\r\n\r\n";
    let response = raw_request(proxy.admin_addr(), request.as_bytes()).await;
    assert_eq!(response.status, 403);
}

#[tokio::test]
async fn the_ring_survives_a_reload() {
    let upstream = coded_upstream().await;
    let proxy = Proxy::start(&upstream.url()).await;
    send("DELETE", &proxy.url_for("/423/before/"), &[], "").await;
    failures_when_recorded(&proxy, 1).await;

    let config = ::davaudit::config::from_yaml(proxy.config_yaml(), "reload.yaml").unwrap();
    let restart = proxy.running().reloader().reload(config).unwrap();
    assert!(restart.is_empty(), "{restart:?}");

    send("DELETE", &proxy.url_for("/403/after/"), &[], "").await;
    let json = failures_when_recorded(&proxy, 2).await;
    assert_eq!(paths(&json), ["/403/after/", "/423/before/"]);
}
