//! The `route` label: the config's `routes` (named path prefixes) resolved once per request to
//! a closed set of values, the route names and `other`.
//!
//! Built once at start from the checked config and never changed: the label set of the
//! registry's families is fixed when they are registered, so a reload cannot add or rename a
//! route (it reports `routes` as needing a restart). Without routes the label does not exist
//! at all and [`Routes::resolve`] is a no-op.

use crate::config::{OTHER_ROUTE, Route};

/// A request's route: an index into the route names, `names.len()` meaning `other`.
/// `None` when no routes are configured (the metrics have no `route` label then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RouteLabel {
    index: u8,
}

impl RouteLabel {
    /// Position among [`Routes::values`] (names first, `other` last).
    pub(crate) fn index(self) -> usize {
        usize::from(self.index)
    }
}

/// The prefixes and the distinct names they map to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Routes {
    /// Distinct names in the order of their first entry.
    names: Vec<String>,
    /// `(prefix, index into names)` in config order: the first match wins.
    prefixes: Vec<(String, u8)>,
}

impl Routes {
    /// From the config's checked `routes` (at most `config::MAX_ROUTES` entries).
    pub(crate) fn new(routes: &[Route]) -> Self {
        let mut names: Vec<String> = Vec::new();
        let mut prefixes = Vec::new();
        for route in routes.iter().take(crate::config::MAX_ROUTES) {
            let index = match names.iter().position(|n| *n == route.name) {
                Some(index) => index,
                None => {
                    names.push(route.name.clone());
                    names.len() - 1
                }
            };
            let index = u8::try_from(index).expect("at most MAX_ROUTES names");
            prefixes.push((route.prefix.clone(), index));
        }
        Routes { names, prefixes }
    }

    /// Whether the `route` label exists (at least one route is configured).
    pub(crate) fn enabled(&self) -> bool {
        !self.prefixes.is_empty()
    }

    /// The route of a request path (as sent, no query); `None` without routes.
    pub(crate) fn resolve(&self, path: &str) -> Option<RouteLabel> {
        if !self.enabled() {
            return None;
        }
        let index = self
            .prefixes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map_or(self.names.len(), |&(_, index)| usize::from(index));
        Some(RouteLabel {
            index: u8::try_from(index).expect("at most MAX_ROUTES + 1 values"),
        })
    }

    /// The label value of `route`.
    pub(crate) fn name(&self, route: RouteLabel) -> &str {
        self.names
            .get(route.index())
            .map_or(OTHER_ROUTE, String::as_str)
    }

    /// Every value the label can take, `other` last; empty without routes.
    pub(crate) fn values(&self) -> impl Iterator<Item = &str> {
        let other = self.enabled().then_some(OTHER_ROUTE);
        self.names.iter().map(String::as_str).chain(other)
    }

    /// How many values the label can take (1 without routes: "no label" is one value).
    pub(crate) fn cardinality(&self) -> usize {
        if self.enabled() {
            self.names.len() + 1
        } else {
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(entries: &[(&str, &str)]) -> Routes {
        Routes::new(
            &entries
                .iter()
                .map(|(name, prefix)| Route {
                    name: (*name).to_owned(),
                    prefix: (*prefix).to_owned(),
                })
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn first_matching_prefix_wins_and_the_rest_is_other() {
        let r = routes(&[
            ("files", "/remote.php/dav/files/"),
            ("calendars", "/remote.php/dav/calendars/"),
            ("files", "/remote.php/webdav/"),
            ("dav", "/remote.php/dav/"),
        ]);
        let name = |path: &str| r.name(r.resolve(path).unwrap()).to_owned();
        assert_eq!(name("/remote.php/dav/files/alice/x.txt"), "files");
        assert_eq!(name("/remote.php/webdav/x.txt"), "files");
        assert_eq!(name("/remote.php/dav/calendars/alice/"), "calendars");
        assert_eq!(name("/remote.php/dav/uploads/alice/1"), "dav");
        assert_eq!(name("/index.php"), "other");
        // Compared as sent: no decoding, no case folding, no normalisation.
        assert_eq!(name("/remote.php/dav/%66iles/alice"), "dav");
        assert_eq!(name("/REMOTE.php/dav/files/"), "other");
        assert_eq!(
            r.values().collect::<Vec<_>>(),
            ["files", "calendars", "dav", "other"]
        );
        assert_eq!(r.cardinality(), 4);
    }

    #[test]
    fn without_routes_there_is_no_label() {
        let r = Routes::default();
        assert!(!r.enabled());
        assert_eq!(r.resolve("/anything"), None);
        assert_eq!(r.values().count(), 0);
        assert_eq!(r.cardinality(), 1);
    }
}
