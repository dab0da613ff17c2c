//! Real partial failures from a real WebDAV server (dav-server over a temp dir, with a
//! filesystem that refuses chosen paths): the counters move by exactly what an independent
//! parser counts in the bytes the client received, and one WARN names the failing hrefs.

use crate::support::*;

/// Asserts the audit counters moved by exactly the oracle's counts of `body` for `method`.
pub(crate) async fn assert_audited_like_oracle(
    proxy: &Proxy,
    before: &scrape::Metrics,
    method: &str,
    body: &[u8],
) {
    let oracle = count(body);
    let outcome = oracle.outcome(method);
    let after = proxy
        .audited(before, &[("method", method), ("outcome", outcome)], 1)
        .await;
    for (family, expected) in [
        ("davaudit_multistatus_entries_total", oracle.status_counts()),
        (
            "davaudit_multistatus_failures_total",
            oracle.failure_counts(method),
        ),
    ] {
        let seen = after.level_code_deltas(before, family, method);
        let expected: std::collections::BTreeMap<_, _> = expected
            .into_iter()
            .map(|((level, code), n)| ((level.to_owned(), code), n))
            .collect();
        assert_eq!(seen, expected, "{family} for {method}");
    }
    assert_eq!(
        after.delta(before, "davaudit_audit_bytes_total", &[]),
        body.len() as f64
    );
}

#[tokio::test]
async fn proppatch_of_a_protected_property_is_a_partial_failure_with_403_and_424() {
    let logs = LogCapture::start();
    let dav = DavServer::start().await;
    dav.write("/f.txt", "x");
    let proxy = Proxy::start(&dav.url()).await;
    let before = proxy.metrics().await;
    let patch = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:z">
  <D:set><D:prop><Z:color>red</Z:color><D:getetag>"forged"</D:getetag></D:prop></D:set>
</D:propertyupdate>"#;
    let (status, _, body) = send("PROPPATCH", &proxy.url_for("/f.txt"), &[], patch).await;
    assert_eq!(status.as_u16(), 207);
    assert_eq!(count(&body).failures.len(), 2);
    assert_audited_like_oracle(&proxy, &before, "PROPPATCH", &body).await;

    let event = logs
        .wait_for("partial failure WARN", |e| {
            e.level() == "WARN" && e.message() == "multistatus partial failure"
        })
        .await;
    assert_eq!(event.field("method").unwrap(), "PROPPATCH");
    assert_eq!(event.field("path").unwrap(), "/f.txt");
    assert_eq!(
        event.field("propstat_status").unwrap(),
        &serde_json::json!({"403": 1, "424": 1})
    );
    let codes: Vec<_> = event
        .field("failed")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["href"].as_str().unwrap(), f["code"].as_u64().unwrap()))
        .collect();
    // The root cause (403) comes before the failure it caused (424).
    assert_eq!(codes, [("/f.txt", 403), ("/f.txt", 424)]);
    assert!(event.field("request_id").is_some());
}

#[tokio::test]
async fn delete_of_a_collection_with_a_refused_member_is_a_partial_failure() {
    let dav = DavServer::builder()
        .refuse_remove("/dir/keep.txt")
        .start()
        .await;
    dav.write("/dir/keep.txt", "x");
    dav.write("/dir/gone.txt", "y");
    let proxy = Proxy::start(&dav.url()).await;
    let before = proxy.metrics().await;
    let (status, _, body) = send("DELETE", &proxy.url_for("/dir/"), &[], "").await;
    assert_eq!(status.as_u16(), 207);
    assert_audited_like_oracle(&proxy, &before, "DELETE", &body).await;
    let after = proxy.metrics().await;
    assert_eq!(
        after.delta(
            &before,
            "davaudit_multistatus_failures_total",
            &[("method", "DELETE"), ("level", "response"), ("code", "403")]
        ),
        1.0
    );
}

#[tokio::test]
async fn copy_of_a_collection_with_a_refused_member_is_a_partial_failure() {
    let dav = DavServer::builder().refuse_copy("/src/b.txt").start().await;
    dav.write("/src/a.txt", "a");
    dav.write("/src/b.txt", "b");
    let proxy = Proxy::start(&dav.url()).await;
    let before = proxy.metrics().await;
    let destination = proxy.url_for("/dst/");
    let (status, _, body) = send(
        "COPY",
        &proxy.url_for("/src/"),
        &[("destination", &destination), ("depth", "infinity")],
        "",
    )
    .await;
    assert_eq!(status.as_u16(), 207);
    assert_audited_like_oracle(&proxy, &before, "COPY", &body).await;
}

#[tokio::test]
async fn a_clean_propfind_is_counted_clean_with_every_status() {
    let dav = DavServer::start().await;
    dav.write("/d/a.txt", "a");
    dav.write("/d/b.txt", "b");
    let proxy = Proxy::start(&dav.url()).await;
    let before = proxy.metrics().await;
    let (status, _, body) = send(
        "PROPFIND",
        &proxy.url_for("/d/"),
        &[("depth", "1")],
        r#"<propfind xmlns="DAV:"><prop><getcontentlength/><resourcetype/></prop></propfind>"#,
    )
    .await;
    assert_eq!(status.as_u16(), 207);
    assert!(count(&body).entries >= 2);
    assert_audited_like_oracle(&proxy, &before, "PROPFIND", &body).await;
}

#[tokio::test]
async fn an_xml_error_body_is_audited_as_not_multistatus() {
    // dav-server answers Depth: infinity PROPFIND with 501 and a DAV:error body.
    let dav = DavServer::start().await;
    dav.mkdir("/d");
    let proxy = Proxy::start(&dav.url()).await;
    let (status, _, _) = send(
        "PROPFIND",
        &proxy.url_for("/d/"),
        &[("depth", "infinity")],
        "",
    )
    .await;
    assert_eq!(status.as_u16(), 501);
    proxy
        .audited(
            &Metrics::default(),
            &[("method", "PROPFIND"), ("outcome", "not_multistatus")],
            1,
        )
        .await;
}
