//! Broken certificate files (issue 18, item 5): a chain with a PEM block that is not a
//! certificate used to be accepted at start, on SIGHUP and by `check-config`, and then every
//! TLS handshake failed while `/readyz` said ready. Now all three refuse it, and a reload
//! that fails keeps the running certificate.

use std::path::Path;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_davaudit");

/// A certificate chain, its key, and an unrelated key appended to the chain.
fn write_files(dir: &Path) -> (String, String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["other".to_owned()]).unwrap();
    let chain = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let stray = dir.join("stray.pem");
    std::fs::write(&chain, cert.cert.pem()).unwrap();
    std::fs::write(&key, cert.signing_key.serialize_pem()).unwrap();
    std::fs::write(
        &stray,
        format!("{}{}", cert.cert.pem(), other.signing_key.serialize_pem()),
    )
    .unwrap();
    let s = |p: &Path| p.display().to_string();
    (s(&chain), s(&key), s(&stray))
}

#[tokio::test]
async fn check_config_loads_the_certificate_files_and_fails_as_serve_would() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, key, stray) = write_files(dir.path());
    let config = |cert: &str| {
        let path = dir.path().join("davaudit.yaml");
        std::fs::write(
            &path,
            format!(
                "upstream: {{url: 'http://127.0.0.1:1'}}\ntls: {{cert_file: '{cert}', key_file: '{key}'}}\n"
            ),
        )
        .unwrap();
        path
    };
    let run = |path: std::path::PathBuf| async move {
        within(
            "check-config",
            tokio::process::Command::new(BIN)
                .args(["check-config", "--quiet"])
                .arg(path)
                .output(),
        )
        .await
        .unwrap()
    };
    let good = run(config(&chain)).await;
    assert!(good.status.success(), "{good:?}");
    for (what, cert) in [
        ("stray block", stray.as_str()),
        ("missing file", "/nonexistent.pem"),
    ] {
        let bad = run(config(cert)).await;
        let stderr = String::from_utf8_lossy(&bad.stderr);
        println!("{what}: {stderr}");
        assert_eq!(bad.status.code(), Some(1), "{what}: {bad:?}");
        assert!(stderr.contains("tls.cert_file"), "{what}: {stderr}");
    }
}

#[tokio::test]
async fn a_reload_with_a_broken_chain_is_refused_and_the_running_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, key, stray) = write_files(dir.path());
    let upstream = FakeUpstream::always(Reply::ok("ok")).await;
    let proxy = Proxy::start_with(
        &upstream.url(),
        &format!("tls: {{cert_file: '{chain}', key_file: '{key}'}}"),
    )
    .await;
    let broken = proxy.config_yaml().replace(
        &format!("cert_file: {chain}"),
        &format!("cert_file: {stray}"),
    );
    assert!(broken.contains(&stray), "{broken}");
    let config = ::davaudit::config::from_yaml(&broken, "reload.yaml").unwrap();
    let error = proxy
        .running()
        .reloader()
        .reload(config)
        .expect_err("a chain with a stray block must be refused");
    assert!(error.to_string().contains("not a certificate"), "{error}");
}
