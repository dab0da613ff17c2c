//! The exact messages of mistakes that used to be reported as something else (issue 17):
//! an over-indented key read as part of the value above it, an out-of-range or missing
//! port, a host name where an IP is needed, and overrides from flags and the environment.

use super::*;

fn err(text: &str) -> String {
    match from_yaml(text, "t.yaml") {
        Ok(c) => panic!("expected an error, got {c:?}\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn ov(key: OverrideKey, value: &str, origin: &str) -> Override {
    Override {
        key,
        value: value.to_owned(),
        origin: origin.to_owned(),
    }
}

#[test]
fn an_over_indented_key_is_not_reported_as_a_bad_url() {
    assert_eq!(
        err("upstream:\n  url: http://127.0.0.1:8081\n    connect_timeout: 5s\n"),
        "t.yaml:2:8: upstream.url: the next line, `connect_timeout:`, is indented deeper than \
         `url:`, so YAML reads it as more of this value; indent `connect_timeout:` like the keys \
         beside it"
    );
    assert_eq!(
        err("upstream: {url: 'http://a:1'}\nadmin:\n  listen: 127.0.0.1:9207\n    ui: true\n"),
        "t.yaml:3:11: admin.listen: the next line, `ui:`, is indented deeper than `listen:`, so \
         YAML reads it as more of this value; indent `ui:` like the keys beside it"
    );
    // A value that is wrong on its own (on one line) gets the plain message.
    assert!(
        err("forwarding:\n  request_id_header: x request id\nupstream: {url: 'http://a:1'}\n")
            .contains("invalid header name \"x request id\"")
    );
    assert!(
        err("upstream:\n  url: http://a:1\n  connect_timeout: 5 parsecs\n")
            .contains("invalid duration \"5 parsecs\": expected a number followed by")
    );
}

#[test]
fn an_address_error_says_which_half_is_wrong() {
    let listen = |value: &str| {
        err(&format!(
            "upstream: {{url: 'http://a:1'}}\nlisten: {value}\n"
        ))
    };
    assert_eq!(
        listen("127.0.0.1:70000"),
        "t.yaml:2:9: listen: invalid address \"127.0.0.1:70000\": port 70000 is out of range \
         (0 to 65535)"
    );
    assert_eq!(
        listen("0.0.0.0"),
        "t.yaml:2:9: listen: invalid address \"0.0.0.0\": the port is missing; expected IP:PORT \
         such as 127.0.0.1:8080 or [::]:8080"
    );
    assert_eq!(
        listen("0.0.0.0:http"),
        "t.yaml:2:9: listen: invalid address \"0.0.0.0:http\": port \"http\" is not a number; \
         expected IP:PORT such as 127.0.0.1:8080 or [::]:8080"
    );
    assert_eq!(
        listen("'[::1]:99999'"),
        "t.yaml:2:9: listen: invalid address \"[::1]:99999\": port 99999 is out of range \
         (0 to 65535)"
    );
}

#[test]
fn overrides_apply_over_the_file_and_are_blamed_for_their_errors() {
    let text = "upstream:\n  url: http://file:1\nlisten: 127.0.0.1:1001\n";
    let c = from_yaml_with(
        text,
        "t.yaml",
        &[
            ov(OverrideKey::Listen, "0.0.0.0:8080", "--listen"),
            ov(OverrideKey::LogFormat, "text", "DAVAUDIT_LOG_FORMAT"),
        ],
    )
    .unwrap();
    assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(c.upstream.url, "http://file:1".parse::<Uri>().unwrap());

    let e = from_yaml_with(
        text,
        "t.yaml",
        &[ov(OverrideKey::LogFormat, "yaml", "DAVAUDIT_LOG_FORMAT")],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "DAVAUDIT_LOG_FORMAT: log.format: invalid log format \"yaml\": expected json or text"
    );
    // A cross-field error on an overridden key names the override, not a line of the file.
    let e = from_yaml_with(
        text,
        "t.yaml",
        &[ov(
            OverrideKey::AdminListen,
            "127.0.0.1:1001",
            "DAVAUDIT_ADMIN_LISTEN",
        )],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "DAVAUDIT_ADMIN_LISTEN: admin.listen: 127.0.0.1:1001 collides with listen \
         (127.0.0.1:1001): the admin listener needs its own port"
    );
}

#[test]
fn without_a_file_the_defaults_and_the_overrides_make_the_config() {
    let c = load_with(
        None,
        &[ov(
            OverrideKey::UpstreamUrl,
            "http://dav:80",
            "DAVAUDIT_UPSTREAM_URL",
        )],
    )
    .unwrap();
    assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.log.format, LogFormat::Json);
    assert!(matches!(
        load_with(None, &[]),
        Err(Error::Unset { ref key, .. }) if key == "upstream.url"
    ));
}

#[test]
fn a_metrics_token_without_an_admin_token_locks_nothing_and_is_refused() {
    assert_eq!(
        err("upstream: {url: 'http://a:1'}\nadmin:\n  metrics_token_file: /run/t\n"),
        "t.yaml:3:23: admin.metrics_token_file: needs admin.token_file: without it the admin \
         listener has no authentication, so a metrics-only token would lock nothing"
    );
    let c = from_yaml(
        "upstream: {url: 'http://a:1'}\nadmin:\n  token_file: /run/a\n  metrics_token_file: /run/m\n",
        "t.yaml",
    )
    .unwrap();
    assert_eq!(
        c.admin.token_file.as_deref(),
        Some(std::path::Path::new("/run/a"))
    );
}

/// Where each `Invalid` error points, read from the document's structure: flow style, nested
/// flow mappings, and the cross-field checks (issue 17). Columns are 1-based characters.
#[test]
fn flow_style_and_cross_field_errors_point_at_their_node() {
    // A bad value inside nested flow mappings on one line.
    assert_eq!(
        err("{listen: '127.0.0.1:8080', upstream: {url: 5}}\n"),
        "t.yaml:1:44: upstream.url: invalid URL \"5\": expected http://HOST[:PORT] or \
         https://HOST[:PORT]"
    );
    // A flow mapping over several lines.
    assert_eq!(
        err(
            "{\n  listen: '127.0.0.1:8080',\n  upstream: {\n    url: 'http://a:1', connect_timeout: soon\n  }\n}\n"
        ),
        "t.yaml:4:41: upstream.connect_timeout: invalid duration \"soon\": expected a number \
         followed by ms, s, m or h (e.g. 250ms, 5s, 2m, 1h30m)"
    );
    // An unknown key: the key itself.
    assert_eq!(
        err("upstream: {url: 'http://a:1'}\nadmin: {listen: '127.0.0.1:9', tokn_file: /t}\n"),
        "t.yaml:2:32: admin.tokn_file: unknown key, expected one of `listen`, `ui`, \
         `live_listen`, `token_file`, `metrics_token_file`, `max_connections`"
    );
    // A cross-field check: the value it is about, in flow style too.
    assert_eq!(
        err(
            "{listen: '0.0.0.0:9207', upstream: {url: 'http://a:1'}, admin: {listen: '127.0.0.1:9207'}}\n"
        ),
        "t.yaml:1:73: admin.listen: 127.0.0.1:9207 collides with listen (0.0.0.0:9207): the \
         admin listener needs its own port"
    );
    assert_eq!(
        err("upstream: {url: 'http://a:1', tls: {insecure_skip_verify: true}}\n"),
        "t.yaml:1:59: upstream.tls.insecure_skip_verify: only used with an https upstream URL; \
         remove it or use https://"
    );
    // A key given twice in one flow mapping: its second occurrence.
    assert_eq!(
        err("upstream: {url: 'http://a:1', url: 'http://b:1'}\n"),
        "t.yaml:1:31: upstream.url: key appears more than once"
    );
    // A required key missing from a flow mapping: the mapping.
    assert_eq!(
        err("listen: '127.0.0.1:1'\nupstream: {connect_timeout: 1s}\n"),
        "t.yaml:2:11: upstream.url: required: the WebDAV server to forward to, e.g. \
         http://127.0.0.1:8081 (or set --upstream-url / DAVAUDIT_UPSTREAM_URL)"
    );
    // A block mapping under a key: the key, whose line reads best.
    assert_eq!(
        err("listen: '127.0.0.1:1'\nupstream:\n  connect_timeout: 1s\n"),
        "t.yaml:2:1: upstream.url: required: the WebDAV server to forward to, e.g. \
         http://127.0.0.1:8081 (or set --upstream-url / DAVAUDIT_UPSTREAM_URL)"
    );
}

/// `admin.live_listen`: its own port, a live view to serve, and where `admin.ui: null` looks.
#[test]
fn live_listen_needs_its_own_port_and_a_live_view() {
    let base = "upstream: {url: 'http://a:1'}\nlisten: 127.0.0.1:8080\n";
    assert_eq!(
        err(&format!(
            "{base}admin: {{listen: '0.0.0.0:9207', live_listen: '127.0.0.1:9207'}}\n"
        )),
        "t.yaml:3:46: admin.live_listen: 127.0.0.1:9207 collides with admin.listen \
         (0.0.0.0:9207): the live view needs its own port"
    );
    assert_eq!(
        err(&format!("{base}admin:\n  live_listen: 127.0.0.1:8080\n")),
        "t.yaml:4:16: admin.live_listen: 127.0.0.1:8080 collides with listen (127.0.0.1:8080): \
         the live view needs its own port"
    );
    assert_eq!(
        err(&format!(
            "{base}admin: {{ui: false, live_listen: '127.0.0.1:9208'}}\n"
        )),
        "t.yaml:3:33: admin.live_listen: admin.ui is false, so there is no live view to serve \
         here; remove one or the other"
    );
    // admin.ui: null follows the live view's own address.
    let on = from_yaml(
        &format!("{base}admin: {{listen: '0.0.0.0:9207', live_listen: '127.0.0.1:9208'}}\n"),
        "t.yaml",
    )
    .unwrap();
    assert!(on.admin.ui_enabled());
    assert_eq!(on.admin.live_address().to_string(), "127.0.0.1:9208");
    let off = from_yaml(
        &format!("{base}admin: {{listen: '127.0.0.1:9207', live_listen: '0.0.0.0:9208'}}\n"),
        "t.yaml",
    )
    .unwrap();
    assert!(!off.admin.ui_enabled());
    assert!(on.to_yaml().contains("live_listen: 127.0.0.1:9208"));
}
