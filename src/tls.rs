//! TLS on the client listener: a rustls acceptor built from the PEM certificate chain and key
//! named by the config (`tls.cert_file`, `tls.key_file`), offering h2 and HTTP/1.1 by ALPN.
//! Built at start and again on SIGHUP, so renewed certificates apply without a restart.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::ListenTls;

/// Why the listener's TLS settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tls.cert_file {path}: {source}")]
    Cert {
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("tls.cert_file {path}: no certificate in the file")]
    NoCert { path: String },
    #[error("tls.key_file {path}: {source}")]
    Key {
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("tls: the certificate and key do not make a usable server config: {0}")]
    Config(#[from] rustls::Error),
}

/// The acceptor for `settings`.
pub fn acceptor(settings: &ListenTls) -> Result<TlsAcceptor, Error> {
    let certs = certificates(&settings.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&settings.key_file).map_err(|source| Error::Key {
        path: settings.key_file.display().to_string(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let shown = || path.display().to_string();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|source| Error::Cert {
            path: shown(),
            source,
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| Error::Cert {
            path: shown(),
            source,
        })?;
    if certs.is_empty() {
        return Err(Error::NoCert { path: shown() });
    }
    Ok(certs)
}

/// The acceptor in force, swapped on reload; new connections load it, open ones keep theirs.
#[derive(Clone)]
pub struct SharedAcceptor(Arc<arc_swap::ArcSwap<TlsAcceptor>>);

impl SharedAcceptor {
    pub fn new(acceptor: TlsAcceptor) -> Self {
        SharedAcceptor(Arc::new(arc_swap::ArcSwap::from_pointee(acceptor)))
    }

    pub fn current(&self) -> Arc<TlsAcceptor> {
        self.0.load_full()
    }

    pub fn replace(&self, acceptor: TlsAcceptor) {
        self.0.store(Arc::new(acceptor));
    }
}

impl std::fmt::Debug for SharedAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedAcceptor")
    }
}
