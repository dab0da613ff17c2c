//! Reload and TLS: a new config applies to the next request without dropping connections,
//! a bad one is refused and the old one stays; the listener can terminate TLS, and the
//! binary re-reads its config file on SIGHUP.

use http_body_util::BodyExt;

use crate::support::bin::Serving;
use crate::support::davaudit::config;
use crate::support::*;

#[tokio::test]
async fn reload_switches_the_upstream_for_new_requests_on_open_connections() {
    let first = FakeUpstream::always(Reply::ok("first")).await;
    let second = FakeUpstream::always(Reply::ok("second")).await;
    let proxy = Proxy::start(&first.url()).await;
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(conn.read_response(false).await.body, b"first");

    let restart = proxy
        .running()
        .reloader()
        .reload(config(&second.url(), ""))
        .unwrap();
    assert!(restart.is_empty(), "{restart:?}");

    // The same client connection, kept alive across the reload, now reaches `second`.
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(conn.read_response(false).await.body, b"second");
}

#[tokio::test]
async fn a_config_that_cannot_be_applied_is_refused_and_the_old_one_stays() {
    let upstream = FakeUpstream::always(Reply::ok("still here")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let mut bad = config("https://127.0.0.1:1", "");
    bad.upstream.tls.ca_file = Some("/nonexistent/ca.pem".into());
    assert!(proxy.running().reloader().reload(bad).is_err());
    let (status, _, body) = send("GET", &proxy.url_for("/"), &[], "").await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(body, "still here");
}

#[tokio::test]
async fn changing_the_listen_address_is_reported_as_needing_a_restart() {
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let mut changed = config(&upstream.url(), "");
    changed.listen = "127.0.0.1:1".parse().unwrap();
    changed.limits.max_connections = 5;
    let restart = proxy.running().reloader().reload(changed).unwrap();
    assert_eq!(restart, ["listen", "limits"]);
}

#[tokio::test]
async fn a_pending_restart_is_reported_until_the_sockets_match_the_file_again() {
    // The sockets stay where they were bound at start: a second reload of the same changed
    // file still needs a restart (it used to compare with the last file and say nothing), and
    // a file changed back to what is bound needs none.
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let reloader = proxy.running().reloader();
    let mut moved = config(&upstream.url(), "");
    moved.listen = "127.0.0.1:1".parse().unwrap();
    assert_eq!(reloader.reload(moved.clone()).unwrap(), ["listen"]);
    assert_eq!(reloader.reload(moved).unwrap(), ["listen"]);
    let back = config(&upstream.url(), "");
    assert!(reloader.reload(back).unwrap().is_empty());
}

#[tokio::test]
async fn the_listener_terminates_tls_and_forwards_over_plain_http() {
    let cert = SelfSigned::new();
    let upstream = FakeUpstream::always(Reply::ok("over tls")).await;
    let proxy = Proxy::start_with(&upstream.url(), &cert.yaml()).await;
    let url = format!("https://localhost:{}/secure", proxy.addr().port());
    let response = within("TLS request", cert.client().get(url.parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "over tls");
    let record = upstream.requests().pop().unwrap();
    assert_eq!(record.header("x-forwarded-proto"), Some("https"));
}

/// Both forwarding families on, so the scheme shows in `X-Forwarded-Proto` and `Forwarded`.
const BOTH_FAMILIES: &str = "forwarding: {x_forwarded: true, forwarded: true}";

#[tokio::test]
async fn turning_tls_off_by_reload_keeps_forwarding_https_until_the_restart() {
    // The sockets still terminate TLS after a reload that removes `tls:` (it needs a
    // restart): clients still arrive over https, so the upstream must still be told so. It
    // used to be told `http` at once, from the new file.
    let cert = SelfSigned::new();
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start_with(
        &upstream.url(),
        &format!("{}\n{BOTH_FAMILIES}", cert.yaml()),
    )
    .await;
    let restart = proxy
        .running()
        .reloader()
        .reload(config(&upstream.url(), BOTH_FAMILIES))
        .unwrap();
    assert_eq!(restart, ["tls"]);

    let url = format!("https://localhost:{}/a", proxy.addr().port());
    let response = within(
        "TLS request after the reload",
        cert.client().get(url.parse().unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let record = upstream.requests().pop().unwrap();
    assert_eq!(record.header("x-forwarded-proto"), Some("https"));
    let forwarded = record.header("forwarded").unwrap();
    assert!(forwarded.ends_with(";proto=https"), "{forwarded}");
}

#[tokio::test]
async fn turning_tls_on_by_reload_keeps_forwarding_http_until_the_restart() {
    let cert = SelfSigned::new();
    let upstream = FakeUpstream::always(Reply::ok("x")).await;
    let proxy = Proxy::start_with(&upstream.url(), BOTH_FAMILIES).await;
    let restart = proxy
        .running()
        .reloader()
        .reload(config(
            &upstream.url(),
            &format!("{}\n{BOTH_FAMILIES}", cert.yaml()),
        ))
        .unwrap();
    assert_eq!(restart, ["tls"]);

    // Still plain HTTP on the socket, and the upstream hears so.
    let (status, _, _) = send("GET", &proxy.url_for("/a"), &[], "").await;
    assert_eq!(status, 200);
    let record = upstream.requests().pop().unwrap();
    assert_eq!(record.header("x-forwarded-proto"), Some("http"));
    let forwarded = record.header("forwarded").unwrap();
    assert!(forwarded.ends_with(";proto=http"), "{forwarded}");
}

#[tokio::test]
async fn the_readiness_probe_uses_the_reloaded_upstream_settings_at_once() {
    // Started with a connect timeout of an hour against an upstream whose connects hang, the
    // probe used to keep that hour after a reload lowered it: `davaudit_upstream_up` stayed
    // stale. A reload now restarts the probe with the new settings.
    let blackhole = Blackhole::new();
    let proxy = Proxy::start_with(&blackhole.url(), "upstream: {connect_timeout: 1h}").await;
    let timed_out = |m: &Metrics| m.get("davaudit_upstream_probe_error", &[("kind", "timeout")]);
    assert_eq!(timed_out(&proxy.metrics().await), 0.0, "still connecting");

    let restart = proxy
        .running()
        .reloader()
        .reload(config(
            &blackhole.url(),
            "upstream: {connect_timeout: 50ms}",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(restart.is_empty(), "{restart:?}");
    let m = proxy.metrics_when(|m| timed_out(m) == 1.0).await;
    assert_eq!(m.get_exact("davaudit_upstream_up", &[]), Some(0.0));
}

/// The real binary: SIGHUP re-reads the file; a broken file is refused and logged.
#[test]
fn sighup_reloads_the_config_file_and_refuses_a_broken_one() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let first = runtime.block_on(FakeUpstream::always(Reply::ok("first")));
    let second = runtime.block_on(FakeUpstream::always(Reply::ok("second")));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("davaudit.yaml");
    let write = |upstream: &str| {
        std::fs::write(
            &path,
            format!(
                "listen: 127.0.0.1:0\nadmin: {{listen: 127.0.0.1:0}}\n\
                 upstream: {{url: {upstream}}}\nlog: {{format: json, level: info}}\n"
            ),
        )
        .unwrap();
    };
    write(&first.url());
    let mut serving = Serving::spawn(&["--config", path.to_str().unwrap()]);
    let listening = serving.next_event("listening");
    let proxy = listening["proxy"].as_str().unwrap().to_owned();
    let get = |runtime: &tokio::runtime::Runtime| {
        runtime
            .block_on(send("GET", &format!("http://{proxy}/"), &[], ""))
            .2
    };
    assert_eq!(get(&runtime), "first");

    write(&second.url());
    serving.signal("-HUP");
    serving.next_event("config reloaded");
    assert_eq!(get(&runtime), "second");

    std::fs::write(&path, "upstream: {url: http://x, bogus: 1}\n").unwrap();
    serving.signal("-HUP");
    let refused = serving.next_event("config reload rejected; the running config stays");
    assert!(refused["error"].as_str().unwrap().contains("bogus"));
    assert_eq!(get(&runtime), "second");

    serving.signal("-TERM");
    let status = serving.child.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM ends with a clean exit: {status:?}"
    );
}
