//! Failure or routine: which statuses inside a 207 count as failures.
//!
//! A code >= 400 (or an invalid status line) is a failure unless a routine rule
//! `(method, level, code)` matches. The defaults excuse what WebDAV clients cause on purpose:
//! a PROPFIND/REPORT/SEARCH asking for a property the resource lacks (propstat 404), a REPORT
//! naming a member that is gone (response 404, RFC 6578 sync-collection, multiget), and
//! REPORT/SEARCH paging (response 507, RFC 6578 §3.6 / RFC 5323 §5.9). The rules themselves,
//! defaults included, are the config's ([`RoutineRule`]); this module is the one matcher, used
//! by the proxy, `davaudit scan` and the tests. Pure; built once at start.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::RoutineRule;
use crate::multistatus::{Classify, Code, Level};

/// The routine rules indexed by method, so a request resolves its classifier with one lookup.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    by_method: HashMap<String, Arc<[(Level, u16)]>>,
    none: Arc<[(Level, u16)]>,
}

impl Policy {
    /// Indexes `rules` (the config's `audit.routine`, already upper-case) by method.
    pub(crate) fn new(rules: &[RoutineRule]) -> Self {
        let mut grouped: HashMap<String, Vec<(Level, u16)>> = HashMap::new();
        for rule in rules {
            for method in &rule.methods {
                let entry = grouped.entry(method.to_ascii_uppercase()).or_default();
                if !entry.contains(&(rule.level, rule.code)) {
                    entry.push((rule.level, rule.code));
                }
            }
        }
        Policy {
            by_method: grouped
                .into_iter()
                .map(|(method, pairs)| (method, Arc::from(pairs)))
                .collect(),
            none: Arc::from(Vec::new()),
        }
    }

    /// The classifier for one request method (case-sensitive per RFC 9110, but rules are
    /// written upper-case, and every WebDAV method is upper-case).
    pub(crate) fn classifier(&self, method: &str) -> MethodPolicy {
        let routine = self
            .by_method
            .get(method)
            .cloned()
            .unwrap_or_else(|| self.none.clone());
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
        let p = Policy::default().classifier("PROPFIND");
        assert!(!p.is_failure(Level::Propstat, Code::Status(404)));
        assert!(p.is_failure(Level::Response, Code::Status(404)));
        assert!(p.is_failure(Level::Propstat, Code::Status(403)));
    }

    #[test]
    fn report_paging_507_is_routine_only_for_report_and_search() {
        let policy = Policy::default();
        assert!(
            !policy
                .classifier("REPORT")
                .is_failure(Level::Response, Code::Status(507))
        );
        assert!(
            !policy
                .classifier("SEARCH")
                .is_failure(Level::Response, Code::Status(507))
        );
        assert!(
            policy
                .classifier("DELETE")
                .is_failure(Level::Response, Code::Status(507))
        );
    }

    #[test]
    fn proppatch_424_and_invalid_are_failures_and_2xx_3xx_are_not() {
        let p = Policy::default().classifier("PROPPATCH");
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
                .classifier("propfind")
                .is_failure(Level::Propstat, Code::Status(404))
        );
        let lower = Policy::new(&[RoutineRule {
            methods: vec!["lock".into()],
            level: Level::Response,
            code: 423,
        }]);
        assert!(
            !lower
                .classifier("LOCK")
                .is_failure(Level::Response, Code::Status(423))
        );
    }

    #[test]
    fn an_empty_rule_set_makes_every_error_a_failure() {
        let p = Policy::new(&[]).classifier("PROPFIND");
        assert!(p.is_failure(Level::Propstat, Code::Status(404)));
    }
}
