//! A hostile upstream chooses status codes to grow `/metrics` (issue 18, item 7): one 207
//! carrying all 900 codes at both levels for many methods, and 800 distinct top-level codes.
//! Every `code` label must stay in the closed set (registered codes as themselves, others by
//! class), and the series count under the README's stated bound.

use std::collections::BTreeSet;

use crate::support::*;

/// One entry per code 100..=999 with a response-level status, one per code with a
/// propstat-level status, and one unparsable status line at each level.
fn every_code_body() -> String {
    let mut body = String::from(r#"<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">"#);
    let lines = (100..=999u16)
        .map(|n| format!("HTTP/1.1 {n} X"))
        .chain(std::iter::once("garbage".to_owned()));
    for (i, line) in lines.enumerate() {
        body.push_str(&format!(
            "<d:response><d:href>/r/{i}</d:href><d:status>{line}</d:status></d:response>\
             <d:response><d:href>/p/{i}</d:href><d:propstat><d:prop><d:x/></d:prop>\
             <d:status>{line}</d:status></d:propstat></d:response>"
        ));
    }
    body.push_str("</d:multistatus>");
    body
}

/// A `code` label value of the closed set's shape: 3 digits, a class, `other`, `invalid`.
fn closed_shape(value: &str) -> bool {
    let digits = value.len() == 3 && value.bytes().all(|b| b.is_ascii_digit());
    let class = matches!(
        value,
        "1xx" | "2xx" | "3xx" | "4xx" | "5xx" | "other" | "invalid"
    );
    digits || class
}

/// The README's `worst case: N series`.
fn readme_bound() -> usize {
    let readme = include_str!("../../../README.md");
    let at = readme
        .find("worst case: ")
        .expect("README states the bound");
    readme[at + 12..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn an_upstream_sending_every_status_code_cannot_grow_the_label_set() {
    let body = every_code_body();
    let upstream = FakeUpstream::start(move |r| match r.uri.path().strip_prefix("/code/") {
        Some(code) => Reply::status(code.parse().expect("code in path")),
        None => Reply::multistatus(body.clone()),
    })
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let client = HttpClient::http1();

    for method in forwardable_methods() {
        let (status, _, _) = client.send(method, &proxy.url_for("/worst"), &[], "").await;
        assert_eq!(status.as_u16(), 207, "{method}");
    }
    // 800 top-level codes (1xx cannot be a final status).
    for code in 200..=999u16 {
        let (status, _, _) = client
            .send("GET", &proxy.url_for(&format!("/code/{code}")), &[], "")
            .await;
        assert_eq!(status.as_u16(), code);
    }

    let audited = forwardable_methods().len() as f64;
    let m = proxy
        .metrics_when(|m| m.get("davaudit_multistatus_total", &[]) >= audited)
        .await;

    let mut codes = BTreeSet::new();
    for family in [
        "davaudit_requests_total",
        "davaudit_multistatus_entries_total",
        "davaudit_multistatus_failures_total",
    ] {
        for value in m.label_values(family, "code") {
            assert!(closed_shape(&value), "{family}: open code label {value:?}");
            codes.insert(value);
        }
    }
    assert!(codes.len() <= 70, "{} code labels: {codes:?}", codes.len());
    for class in ["1xx", "2xx", "3xx", "4xx", "5xx", "other", "invalid", "423"] {
        assert!(codes.contains(class), "{class} missing from {codes:?}");
    }
    // Folded codes are counted, not dropped: 2 levels x (1 entry for each of 900 codes + 1).
    let entries = m.get(
        "davaudit_multistatus_entries_total",
        &[("method", "PROPFIND")],
    );
    assert_eq!(entries, 2.0 * 901.0);
    // 600..=999 at top level: 400 responses in the `other` bucket.
    assert_eq!(
        m.get(
            "davaudit_requests_total",
            &[("method", "GET"), ("code", "other")]
        ),
        400.0
    );
    // Per method: at most 2 levels x 70 code labels.
    let propfind_series = m
        .labels_of("davaudit_multistatus_entries_total")
        .iter()
        .filter(|l| l["method"] == "PROPFIND")
        .count();
    assert_eq!(propfind_series, 140);

    let series = m.samples.len();
    let bound = readme_bound();
    assert!(
        series <= bound,
        "{series} series after the attack, README bound {bound}"
    );
    proxy.stop().await;
}
