//! File descriptors: raise the soft `RLIMIT_NOFILE` to the hard limit at start, and fit the
//! connection limits into what the process may open, so that running out of descriptors
//! refuses proxy connections instead of failing `accept` on both listeners.
//!
//! The budget, for a descriptor limit `nofile` (the soft limit after raising it):
//!
//! - [`FIXED_RESERVE`] (64): the runtime (epoll, eventfd, signal pipe), stdio, both
//!   listeners, log output, and the files read at start and on reload (config, certificates,
//!   tokens).
//! - the admin listener: `admin.max_connections`, at most a quarter of what is left, so that
//!   probes and scrapes keep working when the limit is small.
//! - the upstream's idle pool: `upstream.pool_max_idle_per_host`.
//! - the rest is halved: each proxy connection may hold one upstream socket for a request in
//!   flight. `limits.max_connections` and `limits.max_upstream_requests` are each bounded by
//!   that half.
//!
//! The raise uses the `rlimit` crate (no `unsafe` here); where `RLIMIT_NOFILE` does not exist
//! nothing is bounded.

use crate::config::Config;

/// Descriptors kept for the process itself, whatever the configuration.
pub(crate) const FIXED_RESERVE: usize = 64;

/// The descriptor limit the process runs with, and the connection limits it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// The soft `RLIMIT_NOFILE` after raising it (`None`: unknown or unlimited).
    pub nofile: Option<usize>,
}

/// What [`Budget::fit`] changed, to log it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fitted {
    /// `limits.max_connections`: configured, effective.
    pub proxy: (usize, usize),
    /// `admin.max_connections`: configured, effective.
    pub admin: (usize, usize),
    /// `limits.max_upstream_requests`: configured, effective.
    pub upstream: (usize, usize),
}

impl Fitted {
    /// Whether any configured limit was lowered.
    pub(crate) fn lowered(&self) -> bool {
        self.proxy.0 != self.proxy.1
            || self.admin.0 != self.admin.1
            || self.upstream.0 != self.upstream.1
    }
}

impl Budget {
    /// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the resulting budget.
    /// A failure to raise is logged; the current soft limit then counts.
    pub(crate) fn raise() -> (Budget, Option<(u64, u64)>) {
        let before = rlimit::getrlimit(rlimit::Resource::NOFILE).ok();
        let soft = match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(soft) => Some(soft),
            Err(error) => {
                tracing::warn!(%error, "cannot raise the file descriptor limit");
                before.map(|(soft, _)| soft)
            }
        };
        let nofile = soft
            .filter(|&n| n != rlimit::INFINITY)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        (Budget { nofile }, before)
    }

    /// Lowers the connection limits in `config` until they fit the descriptor limit.
    pub(crate) fn fit(&self, config: &mut Config) -> Fitted {
        let proxy = config.limits.max_connections;
        let admin = config.admin.max_connections;
        let upstream = config.limits.max_upstream_requests;
        if let Some(nofile) = self.nofile {
            let usable = nofile.saturating_sub(FIXED_RESERVE);
            let admin_bound = admin.min(usable / 4).max(1);
            let rest = usable
                .saturating_sub(admin_bound)
                .saturating_sub(config.upstream.pool_max_idle_per_host);
            let half = (rest / 2).max(1);
            config.admin.max_connections = admin_bound;
            config.limits.max_connections = proxy.min(half);
            config.limits.max_upstream_requests = upstream.min(half);
        }
        Fitted {
            proxy: (proxy, config.limits.max_connections),
            admin: (admin, config.admin.max_connections),
            upstream: (upstream, config.limits.max_upstream_requests),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::demo(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            "http://127.0.0.1:1".parse().unwrap(),
        )
    }

    #[test]
    fn a_small_limit_bounds_every_listener_and_keeps_the_reserve() {
        let mut c = config();
        let fitted = Budget { nofile: Some(256) }.fit(&mut c);
        assert!(fitted.lowered());
        // 256 - 64 = 192; admin 48; pool 32; (192 - 48 - 32) / 2 = 56.
        assert_eq!(c.admin.max_connections, 48);
        assert_eq!(c.limits.max_connections, 56);
        assert_eq!(c.limits.max_upstream_requests, 56);
        let used = FIXED_RESERVE
            + c.admin.max_connections
            + c.upstream.pool_max_idle_per_host
            + c.limits.max_connections
            + c.limits.max_upstream_requests;
        assert!(used <= 256, "{used}");
    }

    #[test]
    fn a_large_limit_changes_nothing() {
        let mut c = config();
        let before = c.clone();
        let fitted = Budget {
            nofile: Some(1 << 20),
        }
        .fit(&mut c);
        assert!(!fitted.lowered());
        assert_eq!(c, before);
        let fitted = Budget { nofile: None }.fit(&mut c);
        assert!(!fitted.lowered());
        assert_eq!(c, before);
    }

    #[test]
    fn a_tiny_limit_still_leaves_one_of_each() {
        let mut c = config();
        Budget { nofile: Some(10) }.fit(&mut c);
        assert_eq!(c.admin.max_connections, 1);
        assert_eq!(c.limits.max_connections, 1);
        assert_eq!(c.limits.max_upstream_requests, 1);
    }
}
