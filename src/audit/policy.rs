//! Failure or routine: which statuses inside a 207 count as failures.
//!
//! A code >= 400 (or an invalid status line) is a failure unless a routine rule
//! `(method, level, code)` matches. The defaults excuse what WebDAV clients cause on purpose:
//! a PROPFIND/REPORT/SEARCH asking for a property the resource lacks (propstat 404), a REPORT
//! naming a member that is gone (response 404, RFC 6578 sync-collection, multiget), and
//! REPORT/SEARCH paging (response 507, RFC 6578 §3.6 / RFC 5323 §5.9). Pure; built once at start.

use std::collections::HashMap;
use std::sync::Arc;

use crate::multistatus::{Classify, Code, Level};

/// One routine rule: statuses at `level` with `code` are not failures for these methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Upper-case method names the rule applies to.
    pub methods: Vec<String>,
    pub level: Level,
    pub code: u16,
}

impl Rule {
    fn new(methods: &[&str], level: Level, code: u16) -> Self {
        Rule {
            methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            level,
            code,
        }
    }
}

/// The rules DESIGN.md names as defaults (used when the config has no `audit.routine` key).
pub fn default_rules() -> Vec<Rule> {
    vec![
        Rule::new(&["PROPFIND", "REPORT", "SEARCH"], Level::Propstat, 404),
        Rule::new(&["REPORT"], Level::Response, 404),
        Rule::new(&["REPORT", "SEARCH"], Level::Response, 507),
    ]
}

/// The routine rules indexed by method, so a request resolves its classifier with one lookup.
#[derive(Debug, Clone)]
pub struct Policy {
    by_method: HashMap<String, Arc<[(Level, u16)]>>,
    none: Arc<[(Level, u16)]>,
}

impl Policy {
    pub fn new(rules: &[Rule]) -> Self {
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
    pub fn classifier(&self, method: &str) -> MethodPolicy {
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
        Policy::new(&default_rules())
    }
}

/// The routine `(level, code)` pairs of one method; cheap to clone and `Send + 'static`.
#[derive(Debug, Clone)]
pub struct MethodPolicy {
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
    fn an_empty_rule_set_makes_every_error_a_failure() {
        let p = Policy::new(&[]).classifier("PROPFIND");
        assert!(p.is_failure(Level::Propstat, Code::Status(404)));
    }
}
