//! Failure or routine: which statuses inside a 207 count as failures.
//!
//! A code >= 400 (or an invalid status line) is a failure unless a routine rule
//! `(method, level, code)` matches. The defaults excuse what WebDAV clients cause on purpose:
//! a PROPFIND/REPORT/SEARCH asking for a property the resource lacks (propstat 404), a REPORT
//! naming a member that is gone (response 404, RFC 6578 sync-collection, multiget), and
//! REPORT/SEARCH paging (response 507, RFC 6578 §3.6 / RFC 5323 §5.9). The rules themselves,
//! defaults included, are the config's ([`RoutineRule`]); this module is the one matcher, used
//! by the proxy, `davaudit scan` and the tests. A rule with a `route` applies only to the
//! requests of that route (`davaudit scan` has no route: only rules without one apply).
//! Pure; built once at start and on every reload.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::RoutineRule;
use crate::multistatus::{Classify, Code, Level};

/// The routine rules indexed by method (and route), so a request resolves its classifier
/// with at most two lookups and no allocation.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    by_method: HashMap<String, ForMethod>,
    none: Arc<[(Level, u16)]>,
}

/// One method's routine pairs: those of rules without a route, and per route named by a
/// rule, those plus the route's own.
#[derive(Debug, Clone, Default)]
struct ForMethod {
    any_route: Arc<[(Level, u16)]>,
    by_route: HashMap<String, Arc<[(Level, u16)]>>,
}

impl Policy {
    /// Indexes `rules` (the config's `audit.routine`, already upper-case) by method and route.
    pub(crate) fn new(rules: &[RoutineRule]) -> Self {
        type Pairs = Vec<(Level, u16)>;
        let add = |pairs: &mut Pairs, rule: &RoutineRule| {
            if !pairs.contains(&(rule.level, rule.code)) {
                pairs.push((rule.level, rule.code));
            }
        };
        let mut grouped: HashMap<String, (Pairs, HashMap<String, Pairs>)> = HashMap::new();
        for rule in rules.iter().filter(|r| r.route.is_none()) {
            for method in &rule.methods {
                add(
                    &mut grouped.entry(method.to_ascii_uppercase()).or_default().0,
                    rule,
                );
            }
        }
        for rule in rules {
            let Some(route) = &rule.route else { continue };
            for method in &rule.methods {
                let (any, by_route) = grouped.entry(method.to_ascii_uppercase()).or_default();
                let pairs = by_route.entry(route.clone()).or_insert_with(|| any.clone());
                add(pairs, rule);
            }
        }
        Policy {
            by_method: grouped
                .into_iter()
                .map(|(method, (any, by_route))| {
                    let by_route = by_route
                        .into_iter()
                        .map(|(route, pairs)| (route, Arc::from(pairs)))
                        .collect();
                    let any_route = Arc::from(any);
                    (
                        method,
                        ForMethod {
                            any_route,
                            by_route,
                        },
                    )
                })
                .collect(),
            none: Arc::from(Vec::new()),
        }
    }

    /// The classifier for one request method (case-sensitive per RFC 9110, but rules are
    /// written upper-case, and every WebDAV method is upper-case) and route (`None`: no
    /// routes configured, or no request, as in `davaudit scan`).
    pub(crate) fn classifier(&self, method: &str, route: Option<&str>) -> MethodPolicy {
        let routine = match self.by_method.get(method) {
            Some(rules) => route
                .and_then(|route| rules.by_route.get(route))
                .unwrap_or(&rules.any_route)
                .clone(),
            None => self.none.clone(),
        };
        MethodPolicy { routine }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::new(&RoutineRule::defaults())
    }
}

/// The routine `(level, code)` pairs of one method; cheap to clone and `Send + 'static`.
#[derive(Debug, Clone)]
pub(crate) struct MethodPolicy {
    routine: Arc<[(Level, u16)]>,
}

impl Classify for MethodPolicy {
    fn is_failure(&self, level: Level, code: Code) -> bool {
        match code {
            Code::Invalid => true,
            Code::Status(n) => n >= 400 && !self.routine.contains(&(level, n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propfind_propstat_404_is_routine_but_response_404_is_a_failure() {
        let p = Policy::default().classifier("PROPFIND", None);
        assert!(!p.is_failure(Level::Propstat, Code::Status(404)));
        assert!(p.is_failure(Level::Response, Code::Status(404)));
        assert!(p.is_failure(Level::Propstat, Code::Status(403)));
    }

    #[test]
    fn report_paging_507_is_routine_only_for_report_and_search() {
        let policy = Policy::default();
        assert!(
            !policy
                .classifier("REPORT", None)
                .is_failure(Level::Response, Code::Status(507))
        );
        assert!(
            !policy
                .classifier("SEARCH", None)
                .is_failure(Level::Response, Code::Status(507))
        );
        assert!(
            policy
                .classifier("DELETE", None)
                .is_failure(Level::Response, Code::Status(507))
        );
    }

    #[test]
    fn proppatch_424_and_invalid_are_failures_and_2xx_3xx_are_not() {
        let p = Policy::default().classifier("PROPPATCH", None);
        assert!(p.is_failure(Level::Propstat, Code::Status(424)));
        assert!(p.is_failure(Level::Propstat, Code::Invalid));
        assert!(!p.is_failure(Level::Propstat, Code::Status(200)));
        assert!(!p.is_failure(Level::Response, Code::Status(302)));
    }

    #[test]
    fn methods_match_case_sensitively_as_rules_are_upper_case() {
        // Config upper-cases `method:`; `scan --method` upper-cases its argument; a request
        // method is case-sensitive (RFC 9110 §9.1), so `propfind` is not PROPFIND.
        let policy = Policy::default();
        assert!(
            policy
                .classifier("propfind", None)
                .is_failure(Level::Propstat, Code::Status(404))
        );
        let lower = Policy::new(&[RoutineRule {
            methods: vec!["lock".into()],
            level: Level::Response,
            code: 423,
            route: None,
        }]);
        assert!(
            !lower
                .classifier("LOCK", None)
                .is_failure(Level::Response, Code::Status(423))
        );
    }

    #[test]
    fn an_empty_rule_set_makes_every_error_a_failure() {
        let p = Policy::new(&[]).classifier("PROPFIND", None);
        assert!(p.is_failure(Level::Propstat, Code::Status(404)));
    }

    #[test]
    fn a_rule_with_a_route_excuses_only_that_routes_statuses() {
        let rule = |route: Option<&str>, code| RoutineRule {
            methods: vec!["DELETE".into()],
            level: Level::Response,
            code,
            route: route.map(str::to_owned),
        };
        let policy = Policy::new(&[
            rule(None, 404),
            rule(Some("uploads"), 423),
            rule(Some("other"), 403),
        ]);
        let fails = |route, code| {
            policy
                .classifier("DELETE", route)
                .is_failure(Level::Response, Code::Status(code))
        };
        // The rule without a route holds everywhere, the route's own only there.
        assert!(!fails(Some("uploads"), 404));
        assert!(!fails(Some("uploads"), 423));
        assert!(fails(Some("files"), 423));
        assert!(!fails(Some("files"), 404));
        assert!(!fails(Some("other"), 403));
        assert!(fails(Some("uploads"), 403));
        // No route known (davaudit scan, no routes configured): only the routeless rules.
        assert!(fails(None, 423));
        assert!(!fails(None, 404));
    }
}
