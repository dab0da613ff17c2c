//! TLS, both legs (rustls with the ring provider).
//!
//! - Downstream: the client listener's acceptor, built from the PEM certificate chain and key
//!   named by the config (`tls.cert_file`, `tls.key_file`), offering h2 and HTTP/1.1 by ALPN.
//!   Built at start and again on SIGHUP, so renewed certificates apply without a restart.
//! - Upstream: the client config for an `https` upstream ([`client_config`], `upstream.tls`).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::{ListenTls, UpstreamTls};

/// The *ring* crypto provider, for both legs.
///
/// rustls 0.23.48 deprecates `crypto::ring::default_provider` ("no support for post-quantum
/// algorithms": *ring* has no ML-KEM key exchange; aws-lc-rs does). davaudit keeps *ring*
/// (no C/cmake toolchain for aws-lc at build time; the key exchanges offered stay X25519,
/// P-256, P-384 as before); moving to aws-lc-rs for X25519MLKEM768 is a separate decision.
/// The `allow` keeps the build clean on either side of 0.23.48 (the main lockfile has
/// 0.23.46, a fresh resolve as the fuzz crate's gets 0.23.48).
#[allow(
    deprecated,
    reason = "ring has no post-quantum key exchange; kept on purpose, see above"
)]
pub(crate) fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

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
    #[error(
        "tls.cert_file {path}: PEM block {index} is not a certificate ({what}); the file must \
         hold the certificate chain only, leaf first"
    )]
    NotCert {
        path: String,
        index: usize,
        what: String,
    },
    #[error("tls.cert_file {path}: certificate {index} of the chain cannot be parsed: {source}")]
    BadCert {
        path: String,
        index: usize,
        #[source]
        source: rustls::Error,
    },
    #[error("tls.key_file {path}: {source}")]
    Key {
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("tls: the certificate and key do not make a usable server config: {0}")]
    Config(#[from] rustls::Error),
}

/// Why the upstream's TLS settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("upstream.tls.ca_file {path}: {source}")]
    CaFile {
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("upstream.tls: {0}")]
    Tls(#[from] rustls::Error),
}

/// The acceptor for `settings`.
pub(crate) fn acceptor(settings: &ListenTls) -> Result<TlsAcceptor, Error> {
    let certs = certificates(&settings.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&settings.key_file).map_err(|source| Error::Key {
        path: settings.key_file.display().to_string(),
        source,
    })?;
    let provider = ring_provider();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The chain in `path`: every PEM block must be a certificate (an extra key or an unknown
/// block would otherwise be skipped here and break every handshake later), and every
/// certificate must parse as X.509. rustls checks that the key matches the leaf.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    use rustls::pki_types::pem::SectionKind;
    let shown = || path.display().to_string();
    let text = std::fs::read(path).map_err(|io| Error::Cert {
        path: shown(),
        source: rustls::pki_types::pem::Error::Io(io),
    })?;
    let mut certs = Vec::new();
    let mut sections = 0usize;
    for section in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(&text) {
        let (kind, der) = section.map_err(|source| Error::Cert {
            path: shown(),
            source,
        })?;
        sections += 1;
        if kind != SectionKind::Certificate {
            return Err(Error::NotCert {
                path: shown(),
                index: sections,
                what: format!("{kind:?}"),
            });
        }
        let cert = CertificateDer::from(der);
        rustls::RootCertStore::empty()
            .add(cert.clone())
            .map_err(|source| Error::BadCert {
                path: shown(),
                index: sections,
                source,
            })?;
        certs.push(cert);
    }
    // Blocks with labels rustls does not know are skipped by the parser: count them too.
    let begins = text
        .split(|b| *b == b'\n')
        .filter(|line| line.starts_with(b"-----BEGIN "))
        .count();
    if begins > sections {
        return Err(Error::NotCert {
            path: shown(),
            index: sections + 1,
            what: "a block rustls does not read".to_owned(),
        });
    }
    if certs.is_empty() {
        return Err(Error::NoCert { path: shown() });
    }
    Ok(certs)
}

/// The acceptor in force, swapped on reload; new connections load it, open ones keep theirs.
#[derive(Clone)]
pub(crate) struct SharedAcceptor(Arc<arc_swap::ArcSwap<TlsAcceptor>>);

impl SharedAcceptor {
    pub(crate) fn new(acceptor: TlsAcceptor) -> Self {
        SharedAcceptor(Arc::new(arc_swap::ArcSwap::from_pointee(acceptor)))
    }

    pub(crate) fn current(&self) -> Arc<TlsAcceptor> {
        self.0.load_full()
    }

    pub(crate) fn replace(&self, acceptor: TlsAcceptor) {
        self.0.store(Arc::new(acceptor));
    }
}

impl std::fmt::Debug for SharedAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedAcceptor")
    }
}

/// The `notAfter` of the first certificate in `settings.cert_file` (the leaf), in unix
/// seconds, for `davaudit_tls_certificate_not_after_timestamp_seconds`. `None` when the file
/// or the certificate cannot be read (the acceptor reports why).
pub(crate) fn not_after(settings: &ListenTls) -> Option<i64> {
    let leaf = certificates(&settings.cert_file).ok()?.into_iter().next()?;
    der::not_after(&leaf)
}

/// Just enough DER to read a certificate's validity (RFC 5280 §4.1): Certificate ::=
/// SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber, signature,
/// issuer, validity SEQUENCE { notBefore, notAfter }, ... }, ... }.
mod der {
    /// One TLV: (tag, contents, rest).
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }

    pub(super) fn not_after(cert: &[u8]) -> Option<i64> {
        let (_, certificate, _) = tlv(cert)?;
        let (_, tbs, _) = tlv(certificate)?;
        let mut rest = tbs;
        let (tag, _, after) = tlv(rest)?;
        if tag == 0xa0 {
            rest = after; // explicit version
        }
        // serialNumber, signature, issuer
        for _ in 0..3 {
            rest = tlv(rest)?.2;
        }
        let (_, validity, _) = tlv(rest)?;
        let (_, _, validity) = tlv(validity)?; // notBefore
        let (tag, time, _) = tlv(validity)?;
        parse_time(tag, std::str::from_utf8(time).ok()?)
    }

    /// UTCTime `YYMMDDHHMMSSZ` (years 1950..=2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`.
    fn parse_time(tag: u8, text: &str) -> Option<i64> {
        let digits = text.strip_suffix('Z')?;
        let (year, rest) = match (tag, digits.len()) {
            (0x17, 12) => {
                let yy: i64 = digits.get(..2)?.parse().ok()?;
                (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
            }
            (0x18, 14) => (digits.get(..4)?.parse().ok()?, &digits[4..]),
            _ => return None,
        };
        let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
        let (month, day) = (field(0)?, field(2)?);
        let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
        Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn times_convert_to_unix_seconds() {
            assert_eq!(parse_time(0x17, "700101000000Z"), Some(0));
            assert_eq!(parse_time(0x17, "250101000000Z"), Some(1_735_689_600));
            assert_eq!(parse_time(0x18, "20491231235959Z"), Some(2_524_607_999));
            assert_eq!(parse_time(0x17, "2501010000Z"), None);
            assert_eq!(not_after(b"\x30\x03\x02\x01"), None, "truncated input");
        }
    }
}

// === upstream (client) ===

/// The client config for an `https` upstream: system roots plus `upstream.tls.ca_file`, or no
/// verification with `upstream.tls.insecure_skip_verify`.
pub(crate) fn client_config(tls: &UpstreamTls) -> Result<rustls::ClientConfig, ClientError> {
    let provider = ring_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    if tls.insecure_skip_verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    // Missing system roots are not fatal: a plain-http upstream needs none, and an https one
    // fails its handshake with a clear error, counted as `connect`.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = &tls.ca_file {
        let ca_error = |source| ClientError::CaFile {
            path: path.display().to_string(),
            source,
        };
        for cert in CertificateDer::pem_file_iter(path).map_err(ca_error)? {
            roots.add_parsable_certificates([cert.map_err(ca_error)?]);
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// `upstream.tls.insecure_skip_verify`: accept any certificate (signatures still checked).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    /// A certificate and key pair on disk, and a second, unrelated key.
    fn files(extra: &str) -> (tempfile::TempDir, ListenTls, String) {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["other".to_owned()]).unwrap();
        let settings = ListenTls {
            cert_file: dir.path().join("cert.pem"),
            key_file: dir.path().join("key.pem"),
        };
        std::fs::write(&settings.cert_file, format!("{}{extra}", cert.cert.pem())).unwrap();
        std::fs::write(&settings.key_file, cert.signing_key.serialize_pem()).unwrap();
        (dir, settings, other.signing_key.serialize_pem())
    }

    #[test]
    fn a_clean_chain_is_accepted() {
        let (_dir, settings, _) = files("");
        acceptor(&settings).unwrap();
    }

    /// The attack: an extra PEM block that is not a certificate (here a private key) was
    /// skipped at start and on reload, and every handshake failed afterwards.
    #[test]
    fn a_chain_with_a_block_that_is_not_a_certificate_is_refused() {
        let (_dir, settings, other_key) = files("");
        let text = std::fs::read_to_string(&settings.cert_file).unwrap();
        std::fs::write(&settings.cert_file, format!("{text}{other_key}")).unwrap();
        let error = acceptor(&settings).err().expect("refused").to_string();
        assert!(
            error.contains("PEM block 2 is not a certificate"),
            "{error}"
        );
        for extra in [
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
            "-----BEGIN SOMETHING-----\nAAAA\n-----END SOMETHING-----\n",
        ] {
            let (_dir, settings, _) = files(extra);
            let error = acceptor(&settings).err().expect("refused").to_string();
            assert!(error.contains("tls.cert_file"), "{extra}: {error}");
        }
    }

    #[test]
    fn a_key_that_does_not_match_the_leaf_is_refused() {
        let (_dir, settings, other_key) = files("");
        std::fs::write(&settings.key_file, other_key).unwrap();
        let error = acceptor(&settings).err().expect("refused").to_string();
        assert!(
            error.contains("do not make a usable server config"),
            "{error}"
        );
    }
}
