//! TLS fixtures: a self-signed `localhost` certificate written to a temp dir (the `tls:`
//! section that names it), and an HTTPS client that trusts only that certificate.

use std::sync::Arc;

use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A self-signed certificate for `localhost` and its key, as PEM files in a temp dir that
/// lives as long as this value.
pub(crate) struct SelfSigned {
    pub(crate) cert: rcgen::CertifiedKey<rcgen::KeyPair>,
    pub(crate) cert_path: std::path::PathBuf,
    pub(crate) key_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl SelfSigned {
    pub(crate) fn new() -> SelfSigned {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, cert.cert.pem()).unwrap();
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
        SelfSigned {
            cert,
            cert_path,
            key_path,
            _dir: dir,
        }
    }

    /// The config section that serves this certificate: `tls: {cert_file: .., key_file: ..}`.
    pub(crate) fn yaml(&self) -> String {
        format!(
            "tls: {{cert_file: {}, key_file: {}}}",
            self.cert_path.display(),
            self.key_path.display()
        )
    }

    /// An HTTPS-only client (HTTP/1.1 and h2 by ALPN) that trusts only this certificate.
    #[allow(
        deprecated,
        reason = "rustls 0.23.48 deprecates the ring provider (no post-quantum key exchange); davaudit uses ring (src/tls.rs `ring_provider`)"
    )]
    pub(crate) fn client(
        &self,
    ) -> Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<bytes::Bytes>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.cert.der().clone()).unwrap();
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
        Client::builder(TokioExecutor::new()).build(connector)
    }
}
