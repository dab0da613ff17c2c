//! `routes`: named request-path prefixes, the values of the optional `route` metric label.
//!
//! Names and prefixes are checked inside their `Deserialize` impls, so an error points at the
//! value (line and column). The checks that need the whole list (how many, a prefix listed
//! twice or hidden behind an earlier one, a routine rule naming an unknown route) run after
//! parsing and name the list element (`routes[2].prefix`).

use serde::Deserialize;

use super::{Route, RoutineRule};

/// Most entries `routes` may have: the `route` label then has at most 17 values
/// (16 names and `other`), which bounds every route-labelled family (README "Metrics").
pub const MAX_ROUTES: usize = 16;
/// Longest route name, in bytes.
pub(super) const MAX_NAME: usize = 32;
/// Longest prefix, in bytes.
pub(super) const MAX_PREFIX: usize = 256;
/// The label of a request no prefix matches; reserved.
pub const OTHER_ROUTE: &str = "other";

/// One `routes` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with name and prefix")]
pub(super) struct RawRoute {
    name: RouteName,
    prefix: RoutePrefix,
}

impl RawRoute {
    pub(super) fn into_route(self) -> Route {
        Route {
            name: self.name.0,
            prefix: self.prefix.0,
        }
    }
}

/// A route name: `[a-z][a-z0-9_-]*`, at most [`MAX_NAME`] bytes, not `other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RouteName(pub(super) String);

/// A path prefix: starts with `/`, visible ASCII without `?` and `#`, at most [`MAX_PREFIX`]
/// bytes; compared byte for byte with the request path as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RoutePrefix(pub(super) String);

impl<'de> Deserialize<'de> for RouteName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::value::parse_scalar(d, "a route name such as files", |s| {
            parse_name(s).map(RouteName)
        })
    }
}

impl<'de> Deserialize<'de> for RoutePrefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::value::parse_scalar(d, "a path prefix such as /remote.php/dav/files/", |s| {
            parse_prefix(s).map(RoutePrefix)
        })
    }
}

/// Checks a route name (also a routine rule's `route`).
pub(super) fn parse_name(s: &str) -> Result<String, String> {
    let valid = s.len() <= MAX_NAME
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid {
        return Err(format!(
            "invalid route name {s:?}: expected a lower-case letter, then lower-case letters, \
             digits, _ or -, at most {MAX_NAME} bytes (it becomes a metric label value)"
        ));
    }
    Ok(s.to_owned())
}

fn parse_prefix(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err(format!(
            "invalid prefix {s:?}: must start with / (it is compared with the request path)"
        ));
    }
    if s.len() > MAX_PREFIX {
        return Err(format!(
            "invalid prefix: {} bytes, at most {MAX_PREFIX}",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !c.is_ascii_graphic() || *c == '?' || *c == '#')
    {
        return Err(format!(
            "invalid prefix {s:?}: {c:?} cannot appear in a request path as sent; write \
             visible ASCII, percent-encoded as clients send it (%20 for a space)"
        ));
    }
    Ok(s.to_owned())
}

/// The checks that need the whole list: returns the key (`routes[1].prefix`) and message.
pub(super) fn check(routes: &[Route], rules: &[RoutineRule]) -> Result<(), (String, String)> {
    if routes.len() > MAX_ROUTES {
        return Err((
            "routes".to_owned(),
            format!(
                "{} routes, at most {MAX_ROUTES} (each route multiplies the route-labelled \
                 metric series)",
                routes.len()
            ),
        ));
    }
    for (i, route) in routes.iter().enumerate() {
        if route.name == OTHER_ROUTE {
            return Err((
                format!("routes[{i}].name"),
                "`other` is reserved for the requests no prefix matches".to_owned(),
            ));
        }
        // First match wins: a prefix that starts with an earlier one can never match.
        if let Some((j, earlier)) = routes
            .iter()
            .enumerate()
            .take(i)
            .find(|(_, earlier)| route.prefix.starts_with(&earlier.prefix))
        {
            let message = if earlier.prefix == route.prefix {
                format!("prefix {:?} is already routes[{j}]'s", route.prefix)
            } else {
                format!(
                    "never matches: routes[{j}] (prefix {:?}) comes first and takes every path \
                     this prefix would; list the longer prefix first",
                    earlier.prefix
                )
            };
            return Err((format!("routes[{i}].prefix"), message));
        }
    }
    for (i, rule) in rules.iter().enumerate() {
        let Some(name) = &rule.route else { continue };
        let known = name == OTHER_ROUTE || routes.iter().any(|r| &r.name == name);
        if !known {
            let message = if routes.is_empty() {
                format!("route {name:?}: no routes are configured (top-level key `routes`)")
            } else {
                let mut names: Vec<&str> = Vec::new();
                for route in routes {
                    if !names.contains(&route.name.as_str()) {
                        names.push(&route.name);
                    }
                }
                format!(
                    "unknown route {name:?}: expected one of the names in `routes` ({}) or other",
                    names.join(", ")
                )
            };
            return Err((format!("audit.routine[{i}].route"), message));
        }
    }
    Ok(())
}
