//! The request's id and path as the request context carries them into the audit and the
//! logs: both share the request's own bytes (reference counts, no copy per request).

use std::fmt;
use std::ops::Deref;

use http::Uri;
use http::header::HeaderValue;

/// The request id, as the header value forwarded upstream: the client's (shared with the
/// request) or one davaudit made. Always visible ASCII, so it reads as a `str`.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(HeaderValue);

impl RequestId {
    /// `value` must be visible ASCII (`proxy::headers` checks the client's, makes its own so).
    pub(crate) fn new(value: HeaderValue) -> Self {
        RequestId(value)
    }

    /// The value as sent upstream, for echoing it to the client.
    pub(crate) fn value(&self) -> &HeaderValue {
        &self.0
    }

    #[cfg(test)]
    pub(crate) fn from_static(id: &'static str) -> Self {
        RequestId(HeaderValue::from_static(id))
    }

    /// A test's id (visible ASCII).
    #[cfg(test)]
    pub(crate) fn for_test(id: &str) -> Self {
        RequestId(HeaderValue::from_str(id).expect("a visible-ASCII request id"))
    }
}

impl Deref for RequestId {
    type Target = str;

    fn deref(&self) -> &str {
        // Visible ASCII by construction: `to_str` cannot fail.
        self.0.to_str().unwrap_or_default()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

/// The request path (never the query: it may carry tokens), read from the client's target.
#[derive(Debug, Clone)]
pub(crate) struct RequestPath(Uri);

impl RequestPath {
    /// The path of the client's request target, as `Uri::path` gives it.
    pub(crate) fn of(target: &Uri) -> Self {
        RequestPath(target.clone())
    }

    #[cfg(test)]
    pub(crate) fn from_static(path: &'static str) -> Self {
        RequestPath(Uri::from_static(path))
    }

    /// A test's path (an origin-form target).
    #[cfg(test)]
    pub(crate) fn for_test(path: &str) -> Self {
        RequestPath(path.parse().expect("an origin-form path"))
    }
}

impl Deref for RequestPath {
    type Target = str;

    fn deref(&self) -> &str {
        self.0.path()
    }
}

impl fmt::Display for RequestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_the_targets_path_without_the_query() {
        let target: Uri = "/a/b%20c?token=secret".parse().unwrap();
        assert_eq!(&*RequestPath::of(&target), "/a/b%20c");
        let absolute: Uri = "http://example.com/x?y".parse().unwrap();
        assert_eq!(RequestPath::of(&absolute).to_string(), "/x");
        assert_eq!(&*RequestPath::of(&Uri::from_static("*")), "*");
    }

    #[test]
    fn the_id_reads_as_its_header_value() {
        let id = RequestId::new(HeaderValue::from_static("abc-123"));
        assert_eq!(&*id, "abc-123");
        assert_eq!(id.to_string(), "abc-123");
        assert_eq!(id.value(), "abc-123");
    }
}
