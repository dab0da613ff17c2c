//! `Destination` (COPY/MOVE) and `If` tagged-list rewrite: public origin -> upstream origin.
//!
//! A client behind davaudit names the target of a COPY or MOVE with the public URL it knows
//! (`Destination: https://dav.example/a/b`). Apache mod_dav compares that URI with its own
//! scheme, host and port and answers 502 "Destination URI refers to different scheme or
//! port" when they differ, and 400 for a path-only Destination: the most common complaint of
//! people putting WebDAV behind nginx or Traefik. So an absolute URI on the public origin, or
//! a bare path, becomes an absolute URI on the upstream origin; a URI on any other origin is
//! left alone (it names another server, and the upstream must decide). The resource tags of
//! an `If` header (`<http://dav.example/a> (<urn:uuid:...>)`) get the same rewrite, since
//! mod_dav matches them against its own URIs. Pure functions.

use http::Uri;

/// Scheme, host and effective port of an origin, compared case-insensitively on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
    /// `host[:port]` as it should be written (port omitted when it is the default).
    authority: String,
}

impl Origin {
    /// From a scheme and an authority (`Host` header value).
    pub fn new(scheme: &str, authority: &str) -> Option<Self> {
        let uri: Uri = format!("{scheme}://{authority}/").parse().ok()?;
        Self::of(&uri)
    }

    /// From an absolute URI; `None` for a relative one or an unknown scheme.
    pub fn of(uri: &Uri) -> Option<Self> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let authority = uri.authority()?;
        let host = authority.host().to_ascii_lowercase();
        let port = authority.port_u16().unwrap_or(default_port);
        let written = if port == default_port {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        Some(Origin {
            scheme,
            host,
            port,
            authority: written,
        })
    }

    /// Same host and port. The scheme is not compared: davaudit often runs behind a TLS
    /// terminator, so clients write `https://` while davaudit itself is reached over http.
    fn same_site(&self, other: &Origin) -> bool {
        self.host == other.host && (self.port == other.port || self.default_ports(other))
    }

    /// `https://h/` from the client and `http://h` (Host header without port) at davaudit.
    fn default_ports(&self, other: &Origin) -> bool {
        let default = |o: &Origin| o.port == 80 || o.port == 443;
        default(self) && default(other) && self.scheme != other.scheme
    }

    fn prefix(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

/// Rewrites one Destination value. `None` when it should stay as it is.
pub fn rewrite_destination(value: &str, public: &Origin, target: &Origin) -> Option<String> {
    let value = value.trim();
    if value.starts_with('/') {
        return Some(format!("{}{value}", target.prefix()));
    }
    let uri: Uri = value.parse().ok()?;
    let origin = Origin::of(&uri)?;
    if !origin.same_site(public) {
        return None;
    }
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    Some(format!("{}{path}", target.prefix()))
}

/// Rewrites the resource tags (`<...>` outside parentheses) of an `If` header (RFC 4918
/// §10.4). State tokens inside parentheses are never touched. `None` when nothing changed.
pub fn rewrite_if(value: &str, public: &Origin, target: &Origin) -> Option<String> {
    let mut out = String::with_capacity(value.len() + 16);
    let mut changed = false;
    let mut depth = 0usize;
    let mut rest = value;
    while let Some(c) = rest.chars().next() {
        match c {
            '(' => depth = depth.saturating_add(1),
            ')' => depth = depth.saturating_sub(1),
            '<' if depth == 0 => {
                if let Some(end) = rest.find('>') {
                    let tag = &rest[1..end];
                    match rewrite_tag(tag, public, target) {
                        Some(new) => {
                            changed = true;
                            out.push('<');
                            out.push_str(&new);
                            out.push('>');
                        }
                        None => out.push_str(&rest[..=end]),
                    }
                    rest = &rest[end + 1..];
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    changed.then_some(out)
}

fn rewrite_tag(tag: &str, public: &Origin, target: &Origin) -> Option<String> {
    if tag.starts_with('/') {
        // A path-absolute resource tag is already relative to whoever receives it.
        return None;
    }
    rewrite_destination(tag, public, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> (Origin, Origin) {
        (
            Origin::new("http", "dav.example:8080").unwrap(),
            Origin::new("http", "127.0.0.1:8081").unwrap(),
        )
    }

    #[test]
    fn public_destination_moves_to_the_upstream_origin() {
        let (public, target) = origins();
        assert_eq!(
            rewrite_destination("http://DAV.example:8080/a/b%20c?x=1", &public, &target).as_deref(),
            Some("http://127.0.0.1:8081/a/b%20c?x=1")
        );
    }

    #[test]
    fn path_only_destination_becomes_absolute() {
        let (public, target) = origins();
        assert_eq!(
            rewrite_destination("/a/b", &public, &target).as_deref(),
            Some("http://127.0.0.1:8081/a/b")
        );
    }

    #[test]
    fn another_origin_is_left_alone() {
        let (public, target) = origins();
        assert_eq!(
            rewrite_destination("http://other.example/a", &public, &target),
            None
        );
        assert_eq!(
            rewrite_destination("http://dav.example:9999/a", &public, &target),
            None
        );
        assert_eq!(rewrite_destination("not a uri", &public, &target), None);
    }

    #[test]
    fn https_client_url_behind_a_tls_terminator_matches_the_plain_host() {
        let public = Origin::new("http", "dav.example").unwrap();
        let target = Origin::new("http", "backend:80").unwrap();
        assert_eq!(
            rewrite_destination("https://dav.example/x", &public, &target).as_deref(),
            Some("http://backend/x")
        );
    }

    #[test]
    fn if_header_resource_tags_are_rewritten_and_state_tokens_kept() {
        let (public, target) = origins();
        let value = "<http://dav.example:8080/a> (<urn:uuid:1> [\"etag\"]) \
                     <http://other/b> (Not <http://dav.example:8080/c>)";
        assert_eq!(
            rewrite_if(value, &public, &target).as_deref(),
            Some(
                "<http://127.0.0.1:8081/a> (<urn:uuid:1> [\"etag\"]) \
                 <http://other/b> (Not <http://dav.example:8080/c>)"
            )
        );
        assert_eq!(rewrite_if("(<urn:uuid:1>)", &public, &target), None);
        assert_eq!(rewrite_if("<unterminated", &public, &target), None);
    }
}
