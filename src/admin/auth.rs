//! Bearer-token authentication on the admin listener.
//!
//! With `admin.token_file` set, every admin path but `/healthz` and `/readyz` (probes carry
//! no secrets and kubelets send no tokens) needs `Authorization: Bearer <token>`; anything
//! else gets 401 with `WWW-Authenticate: Bearer realm="davaudit admin"`. With
//! `admin.metrics_token_file` as well, `/metrics` also accepts that second token, which opens
//! nothing else: give it to Prometheus and keep the first for people (the live view names
//! users and files). The files are read at start and on every reload (SIGHUP); a file that
//! cannot be read refuses the start or the reload. Comparison is constant-time in the token.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::config;
use crate::plain;

/// A token file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    /// Unreadable.
    #[error("{key} {path}: cannot read: {source}")]
    Read {
        /// The config key that names the file.
        key: &'static str,
        /// The path as configured.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Empty (after trimming the line end), or not a visible-ASCII token.
    #[error("{key} {path}: {reason}")]
    Invalid {
        /// The config key that names the file.
        key: &'static str,
        /// The path as configured.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The tokens in force; swapped whole on reload.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tokens {
    /// Opens every admin path.
    admin: Option<Vec<u8>>,
    /// Opens `/metrics` only.
    metrics: Option<Vec<u8>>,
}

impl Tokens {
    /// Reads the files `admin` names (none: no authentication).
    pub(crate) fn load(admin: &config::Admin) -> Result<Tokens, TokenError> {
        Ok(Tokens {
            admin: admin
                .token_file
                .as_deref()
                .map(|p| read("admin.token_file", p))
                .transpose()?,
            metrics: admin
                .metrics_token_file
                .as_deref()
                .map(|p| read("admin.metrics_token_file", p))
                .transpose()?,
        })
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TokenError> {
    let shown = path.display().to_string();
    let text = std::fs::read(path).map_err(|source| TokenError::Read {
        key,
        path: shown.clone(),
        source,
    })?;
    let token = text.trim_ascii_end();
    if token.is_empty() {
        return Err(TokenError::Invalid {
            key,
            path: shown,
            reason: "the file is empty",
        });
    }
    if !token.iter().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::Invalid {
            key,
            path: shown,
            reason: "a token is one line of visible ASCII characters (no spaces)",
        });
    }
    Ok(token.to_vec())
}

/// What a path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// `/healthz`, `/readyz`: nothing.
    Nothing,
    /// `/metrics`: the admin or the metrics token.
    Metrics,
    /// Everything else: the admin token.
    Admin,
}

impl Need {
    /// The requirement of `path`.
    pub(crate) fn of(path: &str) -> Need {
        match path {
            "/healthz" | "/readyz" => Need::Nothing,
            "/metrics" => Need::Metrics,
            _ => Need::Admin,
        }
    }
}

/// The shared, reloadable gate.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gate {
    tokens: Arc<ArcSwap<Tokens>>,
}

impl Gate {
    /// A gate with `tokens` in force.
    pub(crate) fn new(tokens: Tokens) -> Self {
        Gate {
            tokens: Arc::new(ArcSwap::from_pointee(tokens)),
        }
    }

    /// Puts new tokens in force (reload).
    pub(crate) fn replace(&self, tokens: Tokens) {
        self.tokens.store(Arc::new(tokens));
    }

    /// `None` when the request may pass, else the 401 to send.
    pub(crate) fn check(&self, path: &str, headers: &HeaderMap) -> Option<Response<Full<Bytes>>> {
        let tokens = self.tokens.load();
        let admin = tokens.admin.as_deref()?;
        let need = Need::of(path);
        if need == Need::Nothing {
            return None;
        }
        let given = bearer(headers);
        let ok = given.is_some_and(|given| {
            eq(given, admin)
                || (need == Need::Metrics
                    && tokens.metrics.as_deref().is_some_and(|m| eq(given, m)))
        });
        if ok {
            return None;
        }
        let mut response = plain::response(
            StatusCode::UNAUTHORIZED,
            "authentication required: send Authorization: Bearer <token> (admin.token_file)\n",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"davaudit admin\""),
        );
        Some(response)
    }
}

/// The token of an `Authorization: Bearer TOKEN` header (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let value = value.as_bytes();
    let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Equal in time that depends on the length only.
fn eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(admin: Option<&str>, metrics: Option<&str>) -> Gate {
        Gate::new(Tokens {
            admin: admin.map(|t| t.as_bytes().to_vec()),
            metrics: metrics.map(|t| t.as_bytes().to_vec()),
        })
    }

    fn with(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    fn status(g: &Gate, path: &str, headers: &HeaderMap) -> u16 {
        g.check(path, headers).map_or(200, |r| r.status().as_u16())
    }

    #[test]
    fn without_a_token_file_everything_is_open() {
        let g = gate(None, None);
        assert_eq!(status(&g, "/failures", &HeaderMap::new()), 200);
    }

    #[test]
    fn the_admin_token_opens_everything_and_probes_need_none() {
        let g = gate(Some("s3cret"), Some("scrape"));
        let none = HeaderMap::new();
        assert_eq!(status(&g, "/healthz", &none), 200);
        assert_eq!(status(&g, "/readyz", &none), 200);
        for path in ["/metrics", "/", "/failures", "/nope"] {
            assert_eq!(status(&g, path, &none), 401, "{path}");
            assert_eq!(status(&g, path, &with("Bearer s3cret")), 200, "{path}");
            assert_eq!(status(&g, path, &with("bearer  s3cret ")), 200, "{path}");
            assert_eq!(status(&g, path, &with("Bearer s3cre")), 401, "{path}");
            assert_eq!(status(&g, path, &with("Basic s3cret")), 401, "{path}");
        }
        let r = g.check("/metrics", &none).unwrap();
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"davaudit admin\""
        );
    }

    #[test]
    fn the_metrics_token_opens_metrics_only() {
        let g = gate(Some("s3cret"), Some("scrape"));
        assert_eq!(status(&g, "/metrics", &with("Bearer scrape")), 200);
        assert_eq!(status(&g, "/failures", &with("Bearer scrape")), 401);
        assert_eq!(status(&g, "/", &with("Bearer scrape")), 401);
    }

    #[test]
    fn token_files_are_trimmed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "abc123\n").unwrap();
        assert_eq!(read("admin.token_file", &p).unwrap(), b"abc123");
        std::fs::write(&p, "\n").unwrap();
        assert_eq!(
            read("admin.token_file", &p).unwrap_err().to_string(),
            format!("admin.token_file {}: the file is empty", p.display())
        );
        std::fs::write(&p, "two words\n").unwrap();
        assert!(read("admin.token_file", &p).is_err());
        let missing = dir.path().join("missing");
        assert!(
            read("admin.token_file", &missing)
                .unwrap_err()
                .to_string()
                .starts_with(&format!(
                    "admin.token_file {}: cannot read",
                    missing.display()
                ))
        );
    }
}
