//! The real davaudit, in-process, through `davaudit::run` (config text -> `Config` ->
//! `Running`), both listeners on 127.0.0.1:0, in front of any upstream URL.
//!
//! ```ignore
//! let up = FakeUpstream::always(Reply::multistatus(BODY)).await;
//! let proxy = Proxy::start(&up.url()).await;
//! let proxy = Proxy::start_with(&up.url(), "audit: {queue_bytes: 1KiB}\nupstream: {response_timeout: 1s}").await;
//! let (status, _, body) = send("PROPFIND", &proxy.url_for("/dir/"), &[], "").await;
//! let m = proxy.metrics().await;
//! proxy.stop().await; // graceful; dropping it also stops it
//! ```
//!
//! `extra_yaml` is merged key by key into the base config (mappings deep-merged, anything
//! else replaced), so `upstream: {response_timeout: 1s}` keeps the base `upstream.url`.

use std::net::SocketAddr;

use davaudit::Running;

use super::scrape::Metrics;

/// A running davaudit. Shuts down gracefully on [`Proxy::stop`]; on drop, shutdown is
/// started on the current runtime (if any) without waiting.
#[derive(Debug)]
pub(crate) struct Proxy {
    running: Option<Running>,
    proxy_addr: SocketAddr,
    admin_addr: SocketAddr,
    config_yaml: String,
}

/// The config text [`Proxy::start_with`] starts davaudit with: both listeners on
/// 127.0.0.1:0 in front of `upstream_url`, `extra_yaml` merged over it.
pub(crate) fn config_text(upstream_url: &str, extra_yaml: &str) -> String {
    let base = format!(
        "listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nupstream:\n  url: {upstream_url}\n"
    );
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&base).expect("base yaml");
    if !extra_yaml.trim().is_empty() {
        let extra: serde_yaml::Value = serde_yaml::from_str(extra_yaml)
            .unwrap_or_else(|e| panic!("extra yaml: {e}\n{extra_yaml}"));
        merge(&mut doc, extra);
    }
    serde_yaml::to_string(&doc).expect("yaml text")
}

/// [`config_text`] as a checked `Config`, e.g. to hand to a reload.
pub(crate) fn config(upstream_url: &str, extra_yaml: &str) -> davaudit::config::Config {
    let text = config_text(upstream_url, extra_yaml);
    davaudit::config::from_yaml(&text, "test.yaml")
        .unwrap_or_else(|e| panic!("config: {e}\n{text}"))
}

impl Proxy {
    /// davaudit in front of `upstream_url` with the default config.
    pub(crate) async fn start(upstream_url: &str) -> Proxy {
        Proxy::start_with(upstream_url, "").await
    }

    /// davaudit in front of `upstream_url`, with `extra_yaml` (whole top-level sections,
    /// e.g. `"audit:\n  when_behind: skip\n"`) merged over the base config.
    pub(crate) async fn start_with(upstream_url: &str, extra_yaml: &str) -> Proxy {
        Proxy::start_with_hooks(upstream_url, extra_yaml, davaudit::Hooks::default()).await
    }

    /// [`Proxy::start_with`] through `davaudit::run_with_hooks` (e.g. a slow scanner:
    /// `Hooks { scan_delay: Some(..) }`).
    pub(crate) async fn start_with_hooks(
        upstream_url: &str,
        extra_yaml: &str,
        hooks: davaudit::Hooks,
    ) -> Proxy {
        Proxy::start_yaml_with_hooks(&config_text(upstream_url, extra_yaml), hooks).await
    }

    /// davaudit with exactly this config text (it should bind 127.0.0.1:0).
    pub(crate) async fn start_yaml(yaml: &str) -> Proxy {
        Proxy::start_yaml_with_hooks(yaml, davaudit::Hooks::default()).await
    }

    /// [`Proxy::start_yaml`] with test hooks.
    pub(crate) async fn start_yaml_with_hooks(yaml: &str, hooks: davaudit::Hooks) -> Proxy {
        Proxy::start_yaml_on(yaml, hooks, 0).await
    }

    /// [`Proxy::start_with`], proxy connections served on `workers` threads of their own as
    /// the binary serves them (`davaudit::run_with_workers`).
    pub(crate) async fn start_on_workers(
        upstream_url: &str,
        extra_yaml: &str,
        workers: usize,
    ) -> Proxy {
        let yaml = config_text(upstream_url, extra_yaml);
        Proxy::start_yaml_on(&yaml, davaudit::Hooks::default(), workers).await
    }

    async fn start_yaml_on(yaml: &str, hooks: davaudit::Hooks, workers: usize) -> Proxy {
        let config = davaudit::config::from_yaml(yaml, "test.yaml")
            .unwrap_or_else(|e| panic!("config: {e}\n{yaml}"));
        let running =
            davaudit::run_with_workers(config, std::future::pending::<()>(), hooks, workers)
                .await
                .unwrap_or_else(|e| panic!("davaudit::run: {e}"));
        Proxy {
            proxy_addr: running.proxy_addr(),
            admin_addr: running.admin_addr(),
            running: Some(running),
            config_yaml: yaml.to_owned(),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.proxy_addr
    }

    pub(crate) fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// `http://127.0.0.1:PORT` of the proxy listener.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.proxy_addr)
    }

    /// `http://127.0.0.1:PORT{path}` of the proxy listener.
    pub(crate) fn url_for(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy_addr)
    }

    /// `http://127.0.0.1:PORT` of the admin listener.
    pub(crate) fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// `http://127.0.0.1:PORT` of the live view's own listener (`admin.live_listen`).
    pub(crate) fn live_url(&self) -> Option<String> {
        let running = self.running.as_ref()?;
        running.live_addr().map(|addr| format!("http://{addr}"))
    }

    /// The config text davaudit was started with.
    pub(crate) fn config_yaml(&self) -> &str {
        &self.config_yaml
    }

    /// The running app (for its metrics handle, etc.).
    pub(crate) fn running(&self) -> &Running {
        self.running.as_ref().expect("running")
    }

    /// Scrapes `/metrics` once.
    pub(crate) async fn metrics(&self) -> Metrics {
        Metrics::scrape(self.admin_addr).await
    }

    /// Scrapes until `pred` holds (bounded): audit counters appear after the body ended.
    pub(crate) async fn metrics_when(&self, pred: impl Fn(&Metrics) -> bool) -> Metrics {
        Metrics::wait_for(self.admin_addr, pred).await
    }

    /// Waits until the audit of `n` more responses matching `labels` (say
    /// `[("method", "PROPFIND")]`; `&[]` for all) has reported since `before`, and returns
    /// a scrape taken after that. Audits report after the response body ended, in their own
    /// task: wait with this, never a sleep. `&Metrics::default()` as `before` counts from the
    /// start.
    ///
    /// A scrape taken after the outcome was seen, not the one that saw it: on worker threads
    /// the audit counts in parallel with the scrape, which reads `..._entries_total` and
    /// `..._failures_total` before `davaudit_multistatus_total` (name order), so the scrape
    /// that first sees the outcome (counted last) may predate the entries.
    pub(crate) async fn audited(
        &self,
        before: &Metrics,
        labels: &[(&str, &str)],
        n: u64,
    ) -> Metrics {
        self.metrics_when(|m| m.delta(before, "davaudit_multistatus_total", labels) >= n as f64)
            .await;
        self.metrics().await
    }

    /// Graceful shutdown (drain), bounded by the fixtures' timeout.
    pub(crate) async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            super::within("davaudit graceful shutdown", running.shutdown()).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let (Some(running), Ok(rt)) =
            (self.running.take(), tokio::runtime::Handle::try_current())
        {
            rt.spawn(running.shutdown());
        }
    }
}

/// Deep-merges `extra` into `base`: mappings key by key, anything else replaced.
fn merge(base: &mut serde_yaml::Value, extra: serde_yaml::Value) {
    match (base, extra) {
        (serde_yaml::Value::Mapping(b), serde_yaml::Value::Mapping(e)) => {
            for (k, v) in e {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}
