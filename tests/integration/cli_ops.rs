//! The operator's side of the binary (`CARGO_BIN_EXE_davaudit`): `healthcheck` against a
//! running admin listener and a closed port, `--version` with revision and Rust version.

use crate::support::bin::{Serving, davaudit, davaudit_env, text};
use crate::support::bind_local;
use crate::support::davaudit::Proxy;
use crate::support::upstream::{FakeUpstream, Reply};

#[tokio::test]
async fn healthcheck_exits_0_against_a_running_admin_listener() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let url = format!("http://{}/healthz", proxy.admin_addr());
    let out = davaudit(&["healthcheck", "--url", &url]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "", "a healthy probe prints nothing");
    proxy.stop().await;
}

#[tokio::test]
async fn healthcheck_exits_1_and_says_why_when_nothing_listens() {
    // Bind, note the port, close: nothing listens there any more.
    let port = bind_local().await.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let out = davaudit(&["healthcheck", "--url", &url, "--timeout", "5s"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("davaudit healthcheck: {url}: cannot connect")),
        "{stderr}"
    );
}

#[tokio::test]
async fn healthcheck_exits_1_on_a_non_2xx_answer() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let url = format!("http://{}/no-such-path", proxy.admin_addr());
    let out = davaudit(&["healthcheck", "--url", &url]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!("davaudit healthcheck: {url} answered 404")
    );
    proxy.stop().await;
}

#[tokio::test]
async fn version_names_the_revision_and_the_rust_version() {
    let out = davaudit(&["-V"]).await;
    assert_eq!(
        text(&out.stdout).trim(),
        concat!("davaudit ", env!("CARGO_PKG_VERSION"))
    );
    let out = davaudit(&["--version"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        concat!(
            "davaudit ",
            env!("CARGO_PKG_VERSION"),
            " (revision ",
            env!("DAVAUDIT_REVISION"),
            ", rust ",
            env!("DAVAUDIT_RUST_VERSION"),
            ")"
        )
    );
    assert!(
        env!("DAVAUDIT_RUST_VERSION").starts_with("1."),
        "build.rs found the compiler version"
    );
}

/// A temporary config file with `content`.
fn config_file(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("temp file");
    std::io::Write::write_all(&mut file, content.as_bytes()).expect("write temp file");
    file
}

/// The effective config `check-config` printed (after its `#` header line).
fn effective(out: &std::process::Output) -> serde_yaml::Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_yaml::from_str(&text(&out.stdout)).expect("check-config prints YAML")
}

fn at<'a>(v: &'a serde_yaml::Value, path: &str) -> &'a str {
    path.split('.')
        .fold(v, |v, k| &v[k])
        .as_str()
        .unwrap_or_else(|| panic!("{path} in {v:?}"))
}

#[tokio::test]
async fn without_a_file_the_environment_is_enough_to_run() {
    let out = davaudit_env(
        &["check-config"],
        &[
            ("DAVAUDIT_UPSTREAM_URL", "http://dav.internal:8081"),
            ("DAVAUDIT_LISTEN", "0.0.0.0:8080"),
            ("DAVAUDIT_ADMIN_LISTEN", "0.0.0.0:9207"),
            ("DAVAUDIT_LOG_FORMAT", "text"),
            ("DAVAUDIT_LOG_LEVEL", "debug"),
        ],
    )
    .await;
    let header = text(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        header,
        "# (no config file): valid; listen from DAVAUDIT_LISTEN; admin.listen from \
         DAVAUDIT_ADMIN_LISTEN; upstream.url from DAVAUDIT_UPSTREAM_URL; log.level from \
         DAVAUDIT_LOG_LEVEL; log.format from DAVAUDIT_LOG_FORMAT; effective configuration:"
    );
    let c = effective(&out);
    assert_eq!(at(&c, "listen"), "0.0.0.0:8080");
    assert_eq!(at(&c, "admin.listen"), "0.0.0.0:9207");
    assert_eq!(at(&c, "upstream.url"), "http://dav.internal:8081/");
    assert_eq!(at(&c, "log.format"), "text");
    assert_eq!(at(&c, "log.level"), "debug");
}

#[tokio::test]
async fn a_flag_beats_the_environment_which_beats_the_file() {
    let file = config_file(
        "listen: 127.0.0.1:1001\nadmin:\n  listen: 127.0.0.1:1002\nupstream:\n  url: http://file:1\n",
    );
    let path = file.path().to_str().unwrap();
    let env = [
        ("DAVAUDIT_LISTEN", "127.0.0.1:2001"),
        ("DAVAUDIT_ADMIN_LISTEN", "127.0.0.1:2002"),
    ];
    let out = davaudit_env(&["check-config", path, "--listen", "127.0.0.1:3001"], &env).await;
    let c = effective(&out);
    assert_eq!(at(&c, "listen"), "127.0.0.1:3001", "the flag wins");
    assert_eq!(
        at(&c, "admin.listen"),
        "127.0.0.1:2002",
        "the variable beats the file"
    );
    assert_eq!(
        at(&c, "upstream.url"),
        "http://file:1/",
        "the file beats the default"
    );
    // DAVAUDIT_CONFIG names the file when no argument does; --config is the same as FILE.
    let out = davaudit_env(&["check-config"], &[("DAVAUDIT_CONFIG", path)]).await;
    assert_eq!(at(&effective(&out), "listen"), "127.0.0.1:1001");
    let out = davaudit(&["check-config", "--config", path]).await;
    assert_eq!(at(&effective(&out), "listen"), "127.0.0.1:1001");
    let out = davaudit(&["check-config", path, "--config", path]).await;
    assert_eq!(out.status.code(), Some(2), "FILE and --config together");
}

#[tokio::test]
async fn a_bad_override_names_the_variable_the_key_and_the_value() {
    let out = davaudit_env(
        &["check-config", "--upstream-url", "http://dav:1"],
        &[("DAVAUDIT_LISTEN", "0.0.0.0")],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "DAVAUDIT_LISTEN: listen: invalid address \"0.0.0.0\": the port is missing; expected IP:PORT such as \
         127.0.0.1:8080 or [::]:8080"
    );
    let out = davaudit(&["check-config", "--upstream-url", "dav:1"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("--upstream-url: upstream.url: invalid URL \"dav:1\""),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn without_a_file_or_an_upstream_the_message_says_how_to_give_one() {
    let out = davaudit(&["check-config", "--listen", "0.0.0.0:8080"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "upstream.url: required: no config file was given (--config FILE or DAVAUDIT_CONFIG), \
         so set the WebDAV server to forward to with --upstream-url URL or DAVAUDIT_UPSTREAM_URL"
    );
    let out = davaudit(&["check-config"]).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "nothing to check is a usage error"
    );
}

#[tokio::test]
async fn check_config_quiet_prints_nothing_on_success_and_the_error_on_failure() {
    let good = config_file("upstream:\n  url: http://127.0.0.1:8081\n");
    let out = davaudit(&["check-config", "--quiet", good.path().to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        (text(&out.stdout), text(&out.stderr)),
        (String::new(), String::new())
    );
    let bad = config_file("upstream:\n  url: http://127.0.0.1:8081\nbogus: 1\n");
    let path = bad.path().to_str().unwrap();
    let out = davaudit(&["check-config", "-q", path]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert!(
        text(&out.stderr).starts_with(&format!("{path}:3:1: bogus: unknown key")),
        "{}",
        text(&out.stderr)
    );
}

/// The real binary: SIGTERM starts the drain (a request is in flight, the drain would wait
/// 60s); a second SIGTERM exits at once with 143.
#[test]
fn a_second_sigterm_during_the_drain_exits_at_once() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hung = runtime.block_on(FakeUpstream::always(
        Reply::ok("late").delay_headers(std::time::Duration::from_secs(120)),
    ));
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin: {{listen: 127.0.0.1:0}}\nupstream: {{url: {}, \
         response_timeout: 5m}}\nshutdown: {{drain_timeout: 2m}}\n",
        hung.url()
    );
    let file = config_file(&yaml);
    let mut serving = Serving::spawn(&["serve", "--config", file.path().to_str().unwrap()]);
    let listening = serving.next_event("listening");
    let proxy = listening["proxy"].as_str().unwrap().to_owned();
    // A request in flight, held by the upstream: the drain has something to wait for.
    let in_flight = runtime.spawn(async move {
        crate::support::client::send("GET", &format!("http://{proxy}/"), &[], "").await
    });
    runtime.block_on(hung.wait_requests(1));

    serving.signal("-TERM");
    serving.next_event("shutting down");
    serving.signal("-TERM");
    let forced = serving.next_event("second signal during the drain");
    assert_eq!(forced["signal"], "SIGTERM");
    let status = serving.child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status:?}");
    in_flight.abort();
}

// ---------------------------------------------------------------------------------------------
// davaudit scan: errors per file, exit codes, --method, --config, compressed files, line:column

const CLEAN: &str = "<?xml version=\"1.0\"?>\n<d:multistatus xmlns:d=\"DAV:\"><d:response>\
    <d:href>/a</d:href><d:status>HTTP/1.1 423 Locked</d:status></d:response></d:multistatus>\n";

#[tokio::test]
async fn scan_goes_on_past_an_unreadable_file_and_exits_3() {
    let good = config_file(CLEAN);
    let good = good.path().to_str().unwrap();
    let out = davaudit(&["scan", "missing-body.xml", good]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("davaudit scan: missing-body.xml: cannot read: "),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).starts_with(&format!("{good}: partial_failure, 1 entries")));
}

#[tokio::test]
async fn scan_names_a_compressed_file_instead_of_calling_it_malformed() {
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        enc.write_all(CLEAN.as_bytes()).unwrap();
        enc.finish().unwrap();
    }
    let file = tempfile::Builder::new()
        .suffix(".xml.gz")
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), &gz).unwrap();
    let path = file.path().to_str().unwrap();
    let out = davaudit(&["scan", path]).await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!(
            "davaudit scan: {path}: cannot read: the file is gzip-compressed; decompress it \
             first: zcat {path} | davaudit scan -"
        )
    );
}

#[tokio::test]
async fn scan_gives_the_line_and_column_of_a_malformed_body() {
    let file = config_file("<d:multistatus xmlns:d=\"DAV:\">\n  <d:response>\n  </d:oops>\n");
    let path = file.path().to_str().unwrap();
    let out = davaudit(&["scan", path]).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("malformed at byte"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("(line 3, column "), "{line}");
    let out = davaudit(&["scan", "--json", path]).await;
    let json: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(json["malformed_at"]["line"], 3);
}

#[tokio::test]
async fn scan_refuses_an_unknown_method_and_uses_the_config_routine_rules() {
    let body = config_file(CLEAN);
    let body = body.path().to_str().unwrap();
    let out = davaudit(&["scan", "--method", "PROPFINDD", body]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown method \"PROPFINDD\""),
        "{}",
        text(&out.stderr)
    );
    // 423 at response level is a failure by default; a routine rule in the config excuses it.
    let config = config_file(
        "upstream: {url: 'http://a:1'}\naudit:\n  routine:\n    - {method: PROPFIND, level: response, code: 423}\n",
    );
    let out = davaudit(&[
        "scan",
        "--json",
        "--config",
        config.path().to_str().unwrap(),
        body,
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(json["failure_count"], 0, "{json}");
    assert_eq!(json["outcome"], "clean", "{json}");
}
