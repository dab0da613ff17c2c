//! Reload and TLS: a new config applies to the next request without dropping connections,
//! a bad one is refused and the old one stays; the listener can terminate TLS, and the
//! binary re-reads its config file on SIGHUP.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::support::*;

fn config_for(upstream: &str) -> ::davaudit::config::Config {
    ::davaudit::config::from_yaml(
        &format!(
            "listen: 127.0.0.1:0\nadmin: {{listen: 127.0.0.1:0}}\nupstream: {{url: {upstream}}}\n"
        ),
        "reload.yaml",
    )
    .unwrap()
}

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
        .reload(config_for(&second.url()))
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
    let mut bad = config_for("https://127.0.0.1:1");
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
    let mut config = config_for(&upstream.url());
    config.listen = "127.0.0.1:1".parse().unwrap();
    config.limits.max_connections = 5;
    let restart = proxy.running().reloader().reload(config).unwrap();
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
    let mut moved = config_for(&upstream.url());
    moved.listen = "127.0.0.1:1".parse().unwrap();
    assert_eq!(reloader.reload(moved.clone()).unwrap(), ["listen"]);
    assert_eq!(reloader.reload(moved).unwrap(), ["listen"]);
    let back = config_for(&upstream.url());
    assert!(reloader.reload(back).unwrap().is_empty());
}

#[tokio::test]
async fn the_listener_terminates_tls_and_forwards_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    let upstream = FakeUpstream::always(Reply::ok("over tls")).await;
    let proxy = Proxy::start_with(
        &upstream.url(),
        &format!(
            "tls: {{cert_file: {}, key_file: {}}}",
            cert_path.display(),
            key_path.display()
        ),
    )
    .await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    let client: Client<_, Empty<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let url = format!("https://localhost:{}/secure", proxy.addr().port());
    let response = within("TLS request", client.get(url.parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "over tls");
    let record = upstream.requests().pop().unwrap();
    assert_eq!(record.header("x-forwarded-proto"), Some("https"));
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_davaudit"))
        .arg("--config")
        .arg(&path)
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut next_event = |message: &str| -> serde_json::Value {
        for line in lines.by_ref() {
            let line = line.unwrap();
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            if event["message"] == message {
                return event;
            }
        }
        panic!("davaudit exited before logging {message:?}");
    };
    let listening = next_event("listening");
    let proxy = listening["proxy"].as_str().unwrap().to_owned();
    let get = |runtime: &tokio::runtime::Runtime| {
        runtime
            .block_on(send("GET", &format!("http://{proxy}/"), &[], ""))
            .2
    };
    assert_eq!(get(&runtime), "first");

    write(&second.url());
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    next_event("config reloaded");
    assert_eq!(get(&runtime), "second");

    std::fs::write(&path, "upstream: {url: http://x, bogus: 1}\n").unwrap();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    let refused = next_event("config reload rejected; the running config stays");
    assert!(refused["error"].as_str().unwrap().contains("bogus"));
    assert_eq!(get(&runtime), "second");

    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM ends with a clean exit: {status:?}"
    );
}
