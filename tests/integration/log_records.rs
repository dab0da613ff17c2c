//! Log records that pipelines can read (issue 16, item 6): in `log.format: json` every field
//! keeps its type (numbers are numbers) and the partial-failure event's `failed` and
//! `*_status` are a JSON array and objects, not strings holding JSON or a private format;
//! in `text` every line is logfmt that a strict parser reads whole (no unquoted spaces, no
//! empty values), however hostile the hrefs and descriptions; a panic is one record.

use serde_json::{Value, json};

use crate::support::logs::readme_fields;
use crate::support::*;

/// A DELETE's 207 with what breaks naive log lines: an href with a space, quotes and `=`,
/// a description with quotes, `=` and a newline, and a status line that is not a status.
const HOSTILE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:">
  <D:response><D:href>/dav/a b/"q"=x</D:href><D:status>HTTP/1.1 423 Locked</D:status>
    <D:error><D:lock-token-submitted/></D:error>
    <D:responsedescription>Locked by "alice" = yes
next line</D:responsedescription></D:response>
  <D:response><D:href>/dav/ok.txt</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>
  <D:response><D:href>/dav/odd.txt</D:href><D:status>not a status</D:status></D:response>
</D:multistatus>"#;

async fn delete_through_proxy() -> (FakeUpstream, Proxy) {
    let upstream = FakeUpstream::always(Reply::multistatus(HOSTILE)).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let (status, _, body) = send("DELETE", &proxy.url_for("/dav/"), &[], "").await;
    assert_eq!(status.as_u16(), 207);
    assert_eq!(body, HOSTILE.as_bytes());
    (upstream, proxy)
}

#[tokio::test] // current_thread: the capture sees the app's tasks
async fn json_records_carry_numbers_arrays_and_objects() {
    let logs = LogCapture::start();
    let _running = delete_through_proxy().await;
    let event = logs
        .wait_for("the partial-failure record", |e| {
            e.message() == "multistatus partial failure"
        })
        .await;
    let e = &event.0;
    for key in [
        "status",
        "entries",
        "failures",
        "bytes",
        "duration_ms",
        "unbound_prefixes",
    ] {
        assert!(e[key].is_u64(), "{key} is not a number: {e}");
    }
    assert_eq!(e["level"], "WARN");
    assert_eq!(e["status"], 207);
    assert_eq!(e["entries"], 3);
    assert_eq!(e["failures"], 2);
    assert_eq!(e["outcome"], "partial_failure");
    assert_eq!(e["method"], "DELETE");
    assert_eq!(
        e["response_status"],
        json!({"200": 1, "423": 1, "invalid": 1})
    );
    assert_eq!(e["propstat_status"], json!({}));
    let failed = e["failed"].as_array().expect("failed is an array");
    assert_eq!(failed.len(), 2, "{e}");
    let locked = failed.iter().find(|f| f["code"] == 423).expect("the 423");
    assert_eq!(locked["href"], r#"/dav/a b/"q"=x"#);
    assert_eq!(locked["hrefs"], json!([r#"/dav/a b/"q"=x"#]));
    assert_eq!(locked["href_count"], 1);
    assert_eq!(locked["level"], "response");
    assert_eq!(locked["error"], "DAV:lock-token-submitted");
    assert_eq!(
        locked["description"],
        "Locked by \"alice\" = yes\nnext line"
    );
    // The status line that is not a status: `code` null, the type stays a number or null.
    let odd = failed
        .iter()
        .find(|f| f["href"] == "/dav/odd.txt")
        .expect("the invalid status");
    assert_eq!(odd["code"], Value::Null);
    assert!(odd.get("description").is_none(), "{odd}");

    // The README's table lists exactly the fields emitted (the conditional ones aside).
    let documented = readme_fields("Logs");
    let conditional = [
        "malformed_offset",
        "malformed_reason",
        "limit",
        "path_truncated",
    ];
    let mut emitted = event.field_names();
    emitted.extend(
        locked
            .as_object()
            .unwrap()
            .keys()
            .map(|k| format!("failed[].{k}")),
    );
    emitted.extend(conditional.iter().map(|k| (*k).to_owned()));
    emitted.sort();
    assert_eq!(
        emitted, documented,
        "README ## Logs table (right) vs the record (left)"
    );
}

#[tokio::test]
async fn text_records_are_logfmt_a_strict_parser_reads_whole() {
    let logs = LogCapture::start_text();
    let _running = delete_through_proxy().await;
    let line = wait_until("the partial-failure line", || async {
        logs.lines()
            .into_iter()
            .find(|l| l.contains("message=\"multistatus partial failure\""))
    })
    .await;
    // Every line the proxy wrote, not just this one, parses whole.
    for l in logs.lines() {
        logfmt(&l);
    }
    let pairs = logfmt(&line);
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    assert!(line.starts_with("timestamp="), "{line}");
    assert_eq!(get("level"), Some("WARN"));
    assert_eq!(get("message"), Some("multistatus partial failure"));
    assert_eq!(get("method"), Some("DELETE"));
    assert_eq!(get("status"), Some("207"));
    assert_eq!(get("failures"), Some("2"));
    assert_eq!(get("response_status.423"), Some("1"));
    assert_eq!(get("response_status.invalid"), Some("1"));
    let i = (0..2)
        .find(|i| get(&format!("failed.{i}.code")) == Some("423"))
        .expect("the 423 in failed.N.code");
    assert_eq!(get(&format!("failed.{i}.href")), Some(r#"/dav/a b/"q"=x"#));
    assert_eq!(
        get(&format!("failed.{i}.description")),
        Some("Locked by \"alice\" = yes\nnext line")
    );
    assert_eq!(
        get(&format!("failed.{i}.error")),
        Some("DAV:lock-token-submitted")
    );
    // No empty field: `propstat_status` had no entries and is left out.
    assert!(
        pairs.iter().all(|(k, v)| !k.is_empty() && !v.is_empty()),
        "{pairs:?}"
    );
    assert_eq!(get("propstat_status"), None);
}

/// A strict logfmt reader (go-logfmt's grammar): `key=value` pairs separated by one space;
/// a key has no space, `=` or `"`; a value is bare (no space, `=`, `"`) or a quoted string
/// with JSON's escapes. Panics on anything else, naming the line.
fn logfmt(line: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .unwrap_or_else(|| panic!("no `=` after {rest:?} in {line}"));
        let key = &rest[..eq];
        assert!(
            !key.is_empty() && !key.contains([' ', '"']),
            "bad key {key:?} in {line}"
        );
        rest = &rest[eq + 1..];
        let value = if rest.starts_with('"') {
            let mut end = None;
            let mut escaped = false;
            for (i, c) in rest.char_indices().skip(1) {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.unwrap_or_else(|| panic!("unterminated quote in {line}"));
            let value: String = serde_json::from_str(&rest[..=end])
                .unwrap_or_else(|e| panic!("{e}: bad quoted value in {line}"));
            rest = &rest[end + 1..];
            value
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            let value = &rest[..end];
            assert!(
                !value.is_empty() && !value.contains(['=', '"']),
                "bad bare value {value:?} for {key} in {line}"
            );
            rest = &rest[end..];
            value.to_owned()
        };
        pairs.push((key.to_owned(), value));
        if let Some(next) = rest.strip_prefix(' ') {
            assert!(
                !next.is_empty() && !next.starts_with(' '),
                "bad spacing in {line}"
            );
            rest = next;
        } else {
            assert!(rest.is_empty(), "no space after a value in {line}");
        }
    }
    pairs
}

/// The panic hook davaudit installs with its logger: a panic is one JSON record on stderr
/// (payload, location, thread, backtrace with its newlines escaped), not the default hook's
/// free text. Runs [`panic_child`] in a child process (it installs a global logger).
#[tokio::test]
async fn a_panic_is_one_json_record() {
    let exe = std::env::current_exe().expect("the test binary");
    let child = tokio::process::Command::new(exe)
        .args([
            "log_records::panic_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DAVAUDIT_PANIC_CHILD", "1")
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = within("the panicking child", child)
        .await
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the child did not panic:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("panic_child"),
        "the child did not run:\n{stdout}"
    );
    let records: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    let panics: Vec<_> = records.iter().filter(|r| r["message"] == "panic").collect();
    assert_eq!(panics.len(), 1, "{stderr}");
    let record = panics[0];
    assert_eq!(record["level"], "ERROR");
    assert_eq!(record["payload"], "boom: \"quoted\"\nsecond line");
    let location = record["location"].as_str().expect("location");
    assert!(location.contains("log_records.rs:"), "{location}");
    assert_eq!(record["thread"], "log_records::panic_child");
    assert!(record["backtrace"].is_string(), "{record}");
}

#[test]
#[ignore = "run by a_panic_is_one_json_record in a child process: installs a global logger, panics"]
fn panic_child() {
    if std::env::var_os("DAVAUDIT_PANIC_CHILD").is_none() {
        return;
    }
    let log = ::davaudit::config::from_yaml(
        "upstream:\n  url: http://127.0.0.1:1\nlog:\n  format: json\n",
        "child.yaml",
    )
    .unwrap()
    .log;
    let _log = ::davaudit::internals::init_logging(&log).unwrap();
    panic!("boom: \"quoted\"\nsecond line");
}

/// A 10 KB path: every event that names the request's path writes at most the access log's
/// 1024 bytes of it, escaped alike, with `path_truncated: true` (the access line's cap, one
/// helper for all), so one request cannot make each of its log records 10 KB long.
#[tokio::test]
async fn every_event_caps_a_long_path_as_the_access_log_does() {
    let logs = LogCapture::start();
    let up = FakeUpstream::start(|r| match r.method.as_str() {
        "DELETE" => Reply::multistatus(HOSTILE),
        _ => Reply::ok("")
            .generated(1 << 20)
            .content_length()
            .reset_after(1000),
    })
    .await;
    let extra = "log:\n  access: true\nlimits:\n  max_request_body: 16\n";
    let proxy = Proxy::start_with(&up.url(), extra).await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let unreachable = Proxy::start(&format!("http://{dead}")).await;
    let long = format!("/{}", "p".repeat(10 * 1024));

    let (status, _, _) = send("DELETE", &proxy.url_for(&long), &[], "").await;
    assert_eq!(status.as_u16(), 207);
    let streamed = HttpClient::http1()
        .stream("GET", &proxy.url_for(&long), &[], client::empty())
        .await;
    assert!(streamed.error.is_some(), "the upstream's body broke");
    let (status, _, _) = send("PUT", &proxy.url_for(&long), &[], "x".repeat(64)).await;
    assert_eq!(status.as_u16(), 413);
    let (status, _, _) = send("GET", &unreachable.url_for(&long), &[], "").await;
    assert_eq!(status.as_u16(), 502);

    let capped = &long[..1024];
    for message in [
        "multistatus partial failure",
        "upstream response body failed",
        "request body failed",
        "upstream request failed",
        "access",
    ] {
        let event = logs.wait_for(message, |e| e.message() == message).await;
        assert_eq!(event.field("path"), Some(&json!(capped)), "{message}");
        assert_eq!(
            event.field("path_truncated"),
            Some(&json!(true)),
            "{message}"
        );
    }
}
