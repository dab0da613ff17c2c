//! Unit tests: defaults, round trips, and every kind of error with its location.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::value::{format_duration, parse_duration, parse_size};
use super::*;

const MINIMAL: &str = "upstream:\n  url: http://127.0.0.1:8081\n";

fn ok(text: &str) -> Config {
    match from_yaml(text, "test.yaml") {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got: {e}\n{text}"),
    }
}

/// The error line for `text`, e.g. `test.yaml:3:20: upstream.connect_timeout: ...`.
fn err(text: &str) -> String {
    match from_yaml(text, "test.yaml") {
        Ok(c) => panic!("expected an error, got {c:?}\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn assert_err(text: &str, prefix: &str, needle: &str) {
    let e = err(text);
    assert!(e.starts_with(prefix), "{e:?} should start with {prefix:?}");
    assert!(e.contains(needle), "{e:?} should contain {needle:?}");
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn defaults() {
    let c = ok(MINIMAL);
    assert_eq!(c.listen, addr("127.0.0.1:8080"));
    assert_eq!(
        c.upstream.url,
        "http://127.0.0.1:8081".parse::<Uri>().unwrap()
    );
    assert_eq!(c.upstream.connect_timeout, Duration::from_secs(5));
    assert_eq!(c.upstream.response_timeout, Duration::from_secs(60));
    assert_eq!(c.upstream.idle_timeout, Duration::from_secs(300));
    assert_eq!(c.upstream.pool_idle_timeout, Duration::from_secs(90));
    assert_eq!(c.upstream.pool_max_idle_per_host, 32);
    assert_eq!(c.upstream.tls.ca_file, None);
    assert!(!c.upstream.tls.insecure_skip_verify);
    assert_eq!(c.admin.listen, addr("127.0.0.1:9207"));
    assert_eq!(c.admin.ui, None);
    assert!(c.admin.ui_enabled());
    assert!(c.forwarding.rewrite_destination);
    assert!(c.forwarding.x_forwarded);
    assert!(!c.forwarding.forwarded);
    assert!(!c.forwarding.preserve_host);
    assert_eq!(c.forwarding.request_id_header, "x-request-id");
    assert!(c.audit.enabled);
    assert_eq!(c.audit.max_logged_failures, 10);
    assert_eq!(c.audit.queue_bytes, 4 << 20);
    assert_eq!(c.audit.when_behind, WhenBehind::Wait);
    assert_eq!(c.audit.stall_timeout, Duration::from_secs(1));
    assert_eq!(c.audit.offload_after, None, "audits stay on their worker");
    assert_eq!(c.audit.routine, RoutineRule::defaults());
    assert_eq!(c.audit.max_text, 1024);
    assert_eq!(c.audit.max_failures_kept, 100);
    assert_eq!(c.audit.max_depth, 256);
    assert_eq!(c.audit.recent_failures, 200);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.log.level, "info");
    assert!(!c.log.access, "no access log by default");
    assert!(!c.forwarding.echo_request_id, "transparency first");
    assert_eq!(c.shutdown.drain_timeout, Duration::from_secs(30));
    assert_eq!(c.limits.max_connections, 10_000);
    assert_eq!(c.limits.header_read_timeout, Duration::from_secs(30));
    assert_eq!(c.limits.keepalive_timeout, Duration::from_secs(75));
    assert_eq!(c.limits.max_request_body, None);
}

#[test]
fn null_sections_mean_defaults() {
    let c = ok(
        "listen: 127.0.0.1:8080\nupstream:\n  url: http://h\n  tls:\nadmin:\nforwarding:\naudit:\nlog:\nshutdown:\nlimits:\n",
    );
    assert_eq!(c, ok("upstream: {url: http://h}"));
}

#[test]
fn routine_rules_default_explicit_and_empty() {
    let defaults = ok(MINIMAL).audit.routine;
    let rule = |methods: &[&str], level, code| RoutineRule {
        methods: methods.iter().map(|m| (*m).to_owned()).collect(),
        level,
        code,
        route: None,
    };
    // The documented defaults (DESIGN.md, "Audit semantics"); how they match is tested in
    // `audit::policy`, the one matcher.
    assert_eq!(
        defaults,
        vec![
            rule(&["PROPFIND", "REPORT", "SEARCH"], Level::Propstat, 404),
            rule(&["REPORT"], Level::Response, 404),
            rule(&["REPORT", "SEARCH"], Level::Response, 507),
        ]
    );

    let none = ok(&format!("{MINIMAL}audit:\n  routine: []\n"));
    assert!(none.audit.routine.is_empty());

    let custom = ok(&format!(
        "{MINIMAL}audit:\n  routine:\n    - {{ method: lock, level: response, code: 423 }}\n    - method: [MOVE, copy, MOVE]\n      level: propstat\n      code: 424\n"
    ));
    assert_eq!(
        custom.audit.routine,
        vec![
            RoutineRule {
                methods: vec!["LOCK".into()],
                level: Level::Response,
                code: 423,
                route: None,
            },
            RoutineRule {
                methods: vec!["MOVE".into(), "COPY".into()],
                level: Level::Propstat,
                code: 424,
                route: None,
            },
        ]
    );
}

/// Every key set to a non-default value, then printed and parsed again.
const EVERY_KEY: &str = "\
listen: '[::1]:18080'
upstream:
  url: https://dav.example.org:8443/
  connect_timeout: 250ms
  response_timeout: 1h30m
  idle_timeout: 2m
  pool_idle_timeout: 1m30s
  pool_max_idle_per_host: 0
  tls:
    ca_file: /etc/davaudit/ca.pem
    insecure_skip_verify: false
admin:
  listen: 0.0.0.0:19207
  ui: true
forwarding:
  rewrite_destination: false
  x_forwarded: false
  forwarded: true
  preserve_host: true
  request_id_header: X-Trace-Id
  echo_request_id: true
audit:
  enabled: false
  max_logged_failures: 0
  queue_bytes: 512KiB
  when_behind: skip
  stall_timeout: 1500ms
  routine:
    - { method: [PROPFIND], level: propstat, code: 403 }
  max_text: 100
  max_failures_kept: 7
  max_depth: 64
  recent_failures: 17
log:
  format: text
  level: info,davaudit=debug
  access: true
shutdown:
  drain_timeout: 5m
limits:
  max_connections: 5
  header_read_timeout: 10s
  keepalive_timeout: 1s
  max_request_body: 10GiB
";

#[test]
fn every_key_round_trips() {
    let c = ok(EVERY_KEY);
    assert_eq!(c.listen, addr("[::1]:18080"));
    assert_eq!(c.upstream.url.to_string(), "https://dav.example.org:8443/");
    assert_eq!(c.upstream.connect_timeout, Duration::from_millis(250));
    assert_eq!(c.upstream.response_timeout, Duration::from_secs(5400));
    assert_eq!(c.upstream.idle_timeout, Duration::from_secs(120));
    assert_eq!(c.upstream.pool_idle_timeout, Duration::from_secs(90));
    assert_eq!(c.upstream.pool_max_idle_per_host, 0);
    assert_eq!(
        c.upstream.tls.ca_file.as_deref(),
        Some(Path::new("/etc/davaudit/ca.pem"))
    );
    assert_eq!(c.admin.listen, addr("0.0.0.0:19207"));
    assert_eq!(c.admin.ui, Some(true));
    assert!(c.admin.ui_enabled());
    assert_eq!(c.audit.recent_failures, 17);
    assert!(!c.forwarding.rewrite_destination && !c.forwarding.x_forwarded);
    assert!(c.forwarding.forwarded && c.forwarding.preserve_host);
    assert_eq!(c.forwarding.request_id_header, "x-trace-id");
    assert!(!c.audit.enabled);
    assert_eq!(c.audit.max_logged_failures, 0);
    assert_eq!(c.audit.queue_bytes, 512 << 10);
    assert_eq!(c.audit.when_behind, WhenBehind::Skip);
    assert_eq!(c.audit.stall_timeout, Duration::from_millis(1500));
    assert_eq!(c.audit.routine.len(), 1);
    assert_eq!(
        (
            c.audit.max_text,
            c.audit.max_failures_kept,
            c.audit.max_depth
        ),
        (100, 7, 64)
    );
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(c.log.level, "info,davaudit=debug");
    assert!(c.log.access && c.forwarding.echo_request_id);
    assert_eq!(c.shutdown.drain_timeout, Duration::from_secs(300));
    assert_eq!(c.limits.max_connections, 5);
    assert_eq!(c.limits.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.limits.keepalive_timeout, Duration::from_secs(1));
    assert_eq!(c.limits.max_request_body, Some(10 << 30));

    let printed = c.to_yaml();
    assert_eq!(ok(&printed), c, "re-parsing the printed config:\n{printed}");
    for line in [
        "connect_timeout: 250ms",
        "response_timeout: 90m",
        "pool_idle_timeout: 90s",
        "stall_timeout: 1500ms",
        "queue_bytes: 512KiB",
        "max_text: 100",
        "max_request_body: 10GiB",
        "request_id_header: x-trace-id",
        "echo_request_id: true",
        "access: true",
        "when_behind: skip",
    ] {
        assert!(printed.contains(line), "{line:?} missing from:\n{printed}");
    }
}

#[test]
fn admin_ui_is_on_by_default_only_on_loopback() {
    let ui = |admin: &str| {
        let c = ok(&format!("{MINIMAL}admin: {admin}\n"));
        (c.admin.ui, c.admin.ui_enabled())
    };
    assert_eq!(ui("{listen: '127.0.0.1:9207'}"), (None, true));
    assert_eq!(ui("{listen: '[::1]:9207'}"), (None, true));
    assert_eq!(ui("{listen: '0.0.0.0:9207'}"), (None, false));
    assert_eq!(ui("{listen: '10.1.2.3:9207'}"), (None, false));
    assert_eq!(ui("{listen: '0.0.0.0:9207', ui: true}"), (Some(true), true));
    assert_eq!(
        ui("{listen: '127.0.0.1:9207', ui: false}"),
        (Some(false), false)
    );
    assert_eq!(ui("{listen: '127.0.0.1:9207', ui: null}"), (None, true));
    assert_err(
        &format!("{MINIMAL}admin:\n  ui: yes please\n"),
        "test.yaml:4:7: admin.ui: ",
        "boolean",
    );
}

#[test]
fn recent_failures_is_bounded() {
    assert_eq!(
        ok(&format!("{MINIMAL}audit: {{recent_failures: 0}}\n"))
            .audit
            .recent_failures,
        0
    );
    assert_eq!(
        ok(&format!("{MINIMAL}audit: {{recent_failures: 10000}}\n"))
            .audit
            .recent_failures,
        10_000
    );
    assert_err(
        &format!("{MINIMAL}audit:\n  recent_failures: 10001\n"),
        "test.yaml:4:20: audit.recent_failures: ",
        "at most 10000",
    );
    assert_err(
        &format!("{MINIMAL}audit:\n  recent_failures: -1\n"),
        "test.yaml:4:",
        "audit.recent_failures",
    );
}

#[test]
fn defaults_round_trip_and_print_readably() {
    let c = ok(MINIMAL);
    let printed = c.to_yaml();
    assert_eq!(ok(&printed), c, "{printed}");
    assert!(printed.contains("queue_bytes: 4MiB"), "{printed}");
    assert!(
        printed.contains("  idle_timeout: 5m") && printed.contains("keepalive_timeout: 75s"),
        "{printed}"
    );
    assert!(printed.contains("max_request_body: null"), "{printed}");
    assert!(printed.contains("- method:\n    - PROPFIND"), "{printed}");
}

#[test]
fn demo_is_defaults_with_text_logs() {
    let url: Uri = "http://127.0.0.1:1234".parse().unwrap();
    let c = Config::demo(addr("127.0.0.1:0"), addr("127.0.0.1:0"), url.clone());
    let mut expected = ok(
        "upstream: {url: 'http://127.0.0.1:1234'}\nlisten: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\n",
    );
    expected.log.format = LogFormat::Text;
    assert_eq!(c, expected);
    assert_eq!(c.upstream.url, url);
}

#[test]
fn empty_documents_say_url_is_required() {
    for text in [
        "",
        "# nothing yet\n",
        "---\n",
        "~\n",
        "upstream:\n",
        "listen: 127.0.0.1:1\n",
    ] {
        let e = err(text);
        assert!(e.contains("upstream.url: required"), "{text:?} gave {e:?}");
    }
    assert!(
        err("listen: 127.0.0.1:1\nupstream:\n  connect_timeout: 1s\n")
            .starts_with("test.yaml:2:1: upstream.url")
    );
}

#[test]
fn unknown_keys_are_named_and_located() {
    assert_err(
        "upstream:\n  url: http://h\n  conect_timeout: 5s\n",
        "test.yaml:3:3: upstream.conect_timeout: unknown key, expected one of `url`",
        "`connect_timeout`",
    );
    assert_err(
        "lisen: 1.2.3.4:5\n",
        "test.yaml:1:1: lisen: unknown key",
        "`listen`",
    );
    assert_err(
        &format!(
            "{MINIMAL}audit:\n  routine:\n    - {{ method: GET, level: response, code: 404, extra: 1 }}\n"
        ),
        "test.yaml:5:50: audit.routine[0].extra: unknown key",
        "`method`",
    );
    assert_err(
        &format!("{MINIMAL}upstream:\n  url: http://x\n"),
        "test.yaml:3:1: upstream: key appears more than once",
        "",
    );
    assert_err(
        "upstream:\n  url: http://x\n  tls: {}\n  url: http://y\n",
        "test.yaml:4:3: upstream.url: key appears more than once",
        "",
    );
}

#[test]
fn bad_durations() {
    assert_err(
        "upstream:\n  url: http://h\n  connect_timeout: 5 sec\n",
        "test.yaml:3:20: upstream.connect_timeout: invalid duration \"5 sec\": expected a number followed by ms, s, m or h",
        "",
    );
    assert_err(
        &format!("{MINIMAL}shutdown: {{drain_timeout: 0s}}\n"),
        "test.yaml:3:27: shutdown.drain_timeout: invalid duration \"0s\": must be greater than zero",
        "",
    );
    assert_err(
        &format!("{MINIMAL}limits:\n  keepalive_timeout: 75\n"),
        "test.yaml:4:22: limits.keepalive_timeout: invalid duration \"75\"",
        "",
    );
    assert_err(
        &format!("{MINIMAL}audit:\n  stall_timeout: [1s]\n"),
        "test.yaml:4:18: audit.stall_timeout: invalid type: sequence, expected a duration",
        "",
    );
    for (text, printed) in [
        ("250ms", "250ms"),
        ("5s", "5s"),
        ("2m", "2m"),
        ("1h", "1h"),
        ("1h30m", "90m"),
        ("1m30s500ms", "90500ms"),
        ("60s", "1m"),
    ] {
        let d = parse_duration(text).unwrap();
        assert_eq!(format_duration(d), printed);
        assert_eq!(parse_duration(printed), Ok(d));
    }
    for bad in [
        "",
        "5",
        "s",
        "5 s",
        "5S",
        "1m1h",
        "1s1s",
        "-1s",
        "1.5s",
        "5d",
        "99999999999999999h",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn bad_sizes() {
    assert_err(
        &format!("{MINIMAL}audit:\n  queue_bytes: 4 megs\n"),
        "test.yaml:4:16: audit.queue_bytes: invalid size \"4 megs\": expected a number of bytes",
        "",
    );
    assert_err(
        &format!("{MINIMAL}audit:\n  queue_bytes: 1KiB\n"),
        "test.yaml:4:16: audit.queue_bytes: must be at least 64KiB",
        "",
    );
    assert_err(
        &format!("{MINIMAL}limits:\n  max_request_body: 0\n"),
        "test.yaml:4:21: limits.max_request_body: 0 would refuse every request body",
        "",
    );
    let sizes = [
        ("4MiB", 4 << 20),
        ("512KiB", 512 << 10),
        ("1GB", 1_000_000_000),
        ("4096", 4096),
        ("2 kib", 2048),
        ("7B", 7),
    ];
    for (text, n) in sizes {
        assert_eq!(parse_size(text), Ok(n), "{text}");
    }
    for bad in ["", "MiB", "-1", "1.5MiB", "4Mb/s", "99999999999TiB"] {
        assert!(parse_size(bad).is_err(), "{bad:?} parsed");
    }
    assert_eq!(
        ok(&format!("{MINIMAL}limits: {{max_request_body: 1048576}}"))
            .limits
            .max_request_body,
        Some(1 << 20)
    );
    assert_eq!(
        ok(&format!("{MINIMAL}limits: {{max_request_body: null}}"))
            .limits
            .max_request_body,
        None
    );
}

#[test]
fn offload_after_is_a_size_with_wait_only() {
    let c = ok(&format!("{MINIMAL}audit:\n  offload_after: 8MiB\n"));
    assert_eq!(c.audit.offload_after, Some(8 << 20));
    let printed = c.to_yaml();
    assert!(printed.contains("offload_after: 8MiB"), "{printed}");
    assert_eq!(ok(&printed), c, "re-parsing the printed config:\n{printed}");
    assert!(ok(MINIMAL).to_yaml().contains("offload_after: null"));
    assert_eq!(
        ok(&format!("{MINIMAL}audit: {{offload_after: null}}"))
            .audit
            .offload_after,
        None
    );
    assert_err(
        &format!("{MINIMAL}audit:\n  when_behind: skip\n  offload_after: 8MiB\n"),
        "test.yaml:5:18: audit.offload_after: only with audit.when_behind: wait",
        "",
    );
    assert_err(
        &format!("{MINIMAL}audit:\n  offload_after: 8 megs\n"),
        "test.yaml:4:18: audit.offload_after: invalid size \"8 megs\"",
        "",
    );
}

#[test]
fn bad_urls() {
    let cases = [
        ("ftp://h", "scheme \"ftp\" is not http or https"),
        ("127.0.0.1:8081", "expected http://HOST[:PORT]"),
        ("http://h/dav/", "a path or query (/dav/) is not supported"),
        ("http://h/?x=1", "a path or query"),
        ("http://user:pw@h", "credentials in the URL"),
        ("http://", "invalid URL"),
        ("not a url", "invalid URL \"not a url\""),
    ];
    for (url, needle) in cases {
        assert_err(
            &format!("upstream:\n  url: '{url}'\n"),
            "test.yaml:2:8: upstream.url: invalid URL",
            needle,
        );
    }
    assert_eq!(
        ok("upstream: {url: 'https://[::1]:8443'}")
            .upstream
            .url
            .port_u16(),
        Some(8443)
    );
}

#[test]
fn bad_listen_addresses() {
    assert_err(
        &format!("{MINIMAL}listen: localhost:8080\n"),
        "test.yaml:3:9: listen: invalid address \"localhost:8080\": \"localhost\" is not an IP \
         address (host names are not resolved",
        "",
    );
    assert_err(
        &format!("{MINIMAL}admin:\n  listen: 127.0.0.1:8080\n"),
        "test.yaml:4:11: admin.listen: 127.0.0.1:8080 collides with listen",
        "",
    );
    assert_err(
        &format!("{MINIMAL}listen: 0.0.0.0:9207\n"),
        "test.yaml:1:1: admin.listen: 127.0.0.1:9207 collides",
        "",
    );
    // Two ephemeral ports never collide.
    ok(&format!(
        "{MINIMAL}listen: 127.0.0.1:0\nadmin: {{listen: 127.0.0.1:0}}\n"
    ));
}

#[test]
fn bad_routine_rules() {
    let rule = |body: &str| format!("{MINIMAL}audit:\n  routine:\n    - {body}\n");
    assert_err(
        &rule("{ method: 'PROP FIND', level: propstat, code: 404 }"),
        "test.yaml:5:17: audit.routine[0].method: invalid method \"PROP FIND\"",
        "",
    );
    assert_err(
        &rule("{ method: [GET, 'a/b'], level: propstat, code: 404 }"),
        "test.yaml:5:23: audit.routine[0].method[1]: invalid method",
        "",
    );
    assert_err(
        &rule("{ method: [], level: propstat, code: 404 }"),
        "test.yaml:5:17: audit.routine[0].method: empty list",
        "",
    );
    assert_err(
        &rule("{ level: propstat, code: 404 }"),
        "test.yaml:5:7: audit.routine[0].method: required key is missing",
        "",
    );
    assert_err(
        &rule("{ method: GET, level: multistatus, code: 404 }"),
        "test.yaml:5:29: audit.routine[0].level: invalid level \"multistatus\": expected response or propstat",
        "",
    );
    for (code, col) in [("99", 45), ("1000", 45)] {
        assert_err(
            &rule(&format!("{{ method: GET, level: propstat, code: {code} }}")),
            &format!(
                "test.yaml:5:{col}: audit.routine[0].code: invalid status code {code}: expected a number from 100 to 999"
            ),
            "",
        );
    }
    assert_err(
        &rule("{ method: GET, level: propstat, code: -404 }"),
        "test.yaml:5:45: audit.routine[0].code: invalid status code -404: expected a number from 100 to 999",
        "",
    );
    assert_err(
        &rule("{ method: GET, level: propstat, code: '404' }"),
        "test.yaml:5:45: audit.routine[0].code: invalid type: string \"404\"",
        "",
    );
}

#[test]
fn bad_enums_headers_and_levels() {
    assert_err(
        &format!("{MINIMAL}audit:\n  when_behind: drop\n"),
        "test.yaml:4:16: audit.when_behind: unknown variant `drop`, expected `wait` or `skip`",
        "",
    );
    assert_err(
        &format!("{MINIMAL}log:\n  format: xml\n"),
        "test.yaml:4:11: log.format: unknown variant `xml`",
        "",
    );
    assert_err(
        &format!("{MINIMAL}log:\n  level: ''\n"),
        "test.yaml:4:10: log.level: empty log level",
        "",
    );
    assert_err(
        &format!("{MINIMAL}log:\n  level: 'info,davaudit=loud'\n"),
        "test.yaml:4:10: log.level: invalid log level",
        "",
    );
    assert_err(
        &format!("{MINIMAL}forwarding:\n  request_id_header: 'x request id'\n"),
        "test.yaml:4:22: forwarding.request_id_header: invalid header name",
        "",
    );
    assert_err(
        &format!("{MINIMAL}audit:\n  max_depth: -1\n"),
        "test.yaml:4:14: audit.max_depth: invalid value: integer `-1`, expected usize",
        "",
    );
    assert_err(
        &format!("{MINIMAL}audit:\n  max_depth: 3\n"),
        "test.yaml:4:14: audit.max_depth: must be at least 8",
        "",
    );
    assert_err(
        &format!("{MINIMAL}log:\n  format: text\n  access: on\n"),
        "test.yaml:5:11: log.access: invalid type: string \"on\", expected a boolean",
        "",
    );
    assert_err(
        &format!("{MINIMAL}forwarding:\n  echo_request_id: 1\n"),
        "test.yaml:4:20: forwarding.echo_request_id: invalid type: integer `1`, expected a boolean",
        "",
    );
    assert_err(
        &format!("{MINIMAL}log:\n  acess: true\n"),
        "test.yaml:4:3: log.acess: unknown key, expected one of `format`, `level`, `access`",
        "",
    );
    assert_err(
        &format!("{MINIMAL}forwarding:\n  x_forwarded: yes\n"),
        "test.yaml:4:16: forwarding.x_forwarded: invalid type: string \"yes\", expected a boolean",
        "",
    );
}

#[test]
fn tls_settings_need_https() {
    assert_err(
        "upstream:\n  url: http://h\n  tls:\n    ca_file: ca.pem\n",
        "test.yaml:4:14: upstream.tls.ca_file: only used with an https upstream URL",
        "",
    );
    assert_err(
        "upstream:\n  url: https://h\n  tls: {ca_file: ca.pem, insecure_skip_verify: true}\n",
        "test.yaml:3:48: upstream.tls.insecure_skip_verify: true makes upstream.tls.ca_file pointless",
        "",
    );
}

#[test]
fn syntax_errors_are_located() {
    let e = err("upstream:\n  url: http://h\n bad: 1\n");
    assert!(e.starts_with("test.yaml:3:"), "{e}");
    // Broken YAML is a syntax error, wherever it is, before any value is judged.
    assert_eq!(
        err("upstream: [\n"),
        "test.yaml:2:1: did not find expected node content, while parsing a flow node"
    );
    let e = err("upstream: [a]\n");
    assert!(e.starts_with("test.yaml:1:11: upstream: invalid type: sequence, expected a mapping of upstream settings"), "{e}");
    let e = err("- a\n");
    assert!(
        e.starts_with(
            "test.yaml:1:1: invalid type: sequence, expected a mapping of config sections"
        ),
        "{e}"
    );
}

#[test]
fn load_reads_files_and_reports_io_errors() {
    let missing = Path::new("/nonexistent/davaudit.yaml");
    let e = load(missing).unwrap_err();
    assert!(matches!(e, Error::Read { .. }));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/davaudit.yaml: cannot read: "),
        "{e}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "upstream:\n  url: http://h\n  bogus: 1\n").unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.location(), Some((3, 3)));
    assert_eq!(e.key(), Some("upstream.bogus"));
    assert!(
        e.to_string()
            .starts_with(&format!("{}:3:3: upstream.bogus", path.display()))
    );
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_shipped_config_parses() {
    let mut files = Vec::new();
    yaml_files(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
        &mut files,
    );
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let c = load(&file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok(&c.to_yaml()), c, "{}", file.display());
    }
}

#[test]
fn reference_config_is_every_key_at_its_default() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/davaudit.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let reference = ok(&text);
    let url = reference.upstream.url.clone();
    let mut defaults = ok(&format!("upstream: {{url: '{url}'}}"));
    defaults.upstream.url = url;
    assert_eq!(reference, defaults);
    // Every key of the printed effective config appears in the reference file.
    let printed: serde_yaml::Value = serde_yaml::from_str(&defaults.to_yaml()).unwrap();
    let mut missing = Vec::new();
    keys(&printed, "", &mut |key| {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        if !text.contains(&format!("{leaf}:")) {
            missing.push(key.to_owned());
        }
    });
    assert!(
        missing.is_empty(),
        "not in config/davaudit.yaml: {missing:?}"
    );
}

fn keys(value: &serde_yaml::Value, prefix: &str, f: &mut dyn FnMut(&str)) {
    if let serde_yaml::Value::Mapping(map) = value {
        for (k, v) in map {
            let k = k.as_str().unwrap_or_default();
            let path = if prefix.is_empty() {
                k.to_owned()
            } else {
                format!("{prefix}.{k}")
            };
            f(&path);
            keys(v, &path, f);
        }
    }
}

/// The config embedded in the Kubernetes ConfigMap, when it exists (deploy/ is not ours).
#[test]
fn kubernetes_configmap_config_parses() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes"));
    let mut files = Vec::new();
    if dir.is_dir() {
        yaml_files(dir, &mut files);
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let Ok(value) = serde_yaml::Value::deserialize(doc) else {
                continue;
            };
            if value.get("kind").and_then(|k| k.as_str()) != Some("ConfigMap") {
                continue;
            }
            let Some(serde_yaml::Value::Mapping(data)) = value.get("data") else {
                continue;
            };
            for (name, body) in data {
                let (Some(name), Some(body)) = (name.as_str(), body.as_str()) else {
                    continue;
                };
                if name.ends_with(".yaml") || name.ends_with(".yml") {
                    let origin = format!("{}#{name}", file.display());
                    from_yaml(body, &origin).unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
    }
}
