//! The config file as serde sees it: every section optional, every key defaulted (except
//! `upstream.url`), unknown keys rejected. The defaults live here, in the `Default` impls.
//!
//! No `#[serde(flatten)]`: serde_yaml reports wrong locations through it (serde-yaml#153).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, Uri};
use serde::Deserialize;

use super::error::{self, Error};
use super::locate::Spots;
use super::overrides::{Override, OverrideKey, parse_log_format};
use super::routes::{self, RawRoute, RouteName as RouteNameValue};
use super::validate::validate;
use super::value::{
    self, ByteSize, HeaderNameValue, HumanDuration, LevelName, ListenAddr, LogLevel, Methods,
    StatusCode, UpstreamUrl,
};
use super::{
    Admin, Audit, Config, Forwarding, Limits, ListenTls, Log, LogFormat, RoutineRule, Shutdown,
    Upstream, UpstreamTls, WhenBehind,
};

fn secs(n: u64) -> HumanDuration {
    HumanDuration(Duration::from_secs(n))
}

fn addr(port: u16) -> ListenAddr {
    ListenAddr(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a mapping of config sections"
)]
pub(super) struct RawConfig {
    listen: ListenAddr,
    upstream: Option<RawUpstream>,
    admin: Option<RawAdmin>,
    forwarding: Option<RawForwarding>,
    audit: Option<RawAudit>,
    log: Option<RawLog>,
    shutdown: Option<RawShutdown>,
    limits: Option<RawLimits>,
    tls: Option<RawListenTls>,
    routes: Option<Vec<RawRoute>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with cert_file and key_file"
)]
struct RawListenTls {
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            listen: addr(8080),
            upstream: None,
            admin: None,
            forwarding: None,
            audit: None,
            log: None,
            shutdown: None,
            limits: None,
            tls: None,
            routes: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a mapping of upstream settings"
)]
struct RawUpstream {
    url: Option<UpstreamUrl>,
    connect_timeout: HumanDuration,
    response_timeout: HumanDuration,
    idle_timeout: HumanDuration,
    pool_idle_timeout: HumanDuration,
    pool_max_idle_per_host: usize,
    tls: Option<RawTls>,
}

impl Default for RawUpstream {
    fn default() -> Self {
        RawUpstream {
            url: None,
            connect_timeout: secs(5),
            response_timeout: secs(60),
            idle_timeout: secs(300),
            pool_idle_timeout: secs(90),
            pool_max_idle_per_host: 32,
            tls: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a mapping of TLS settings")]
struct RawTls {
    ca_file: Option<PathBuf>,
    insecure_skip_verify: bool,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a mapping of admin settings"
)]
struct RawAdmin {
    listen: ListenAddr,
    /// Absent or null: on only for a loopback `listen`.
    ui: Option<bool>,
    live_listen: Option<ListenAddr>,
    token_file: Option<PathBuf>,
    metrics_token_file: Option<PathBuf>,
    max_connections: usize,
}

impl Default for RawAdmin {
    fn default() -> Self {
        RawAdmin {
            listen: addr(9207),
            ui: None,
            live_listen: None,
            token_file: None,
            metrics_token_file: None,
            max_connections: 256,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a mapping of forwarding settings"
)]
struct RawForwarding {
    rewrite_destination: bool,
    x_forwarded: bool,
    forwarded: bool,
    preserve_host: bool,
    request_id_header: HeaderNameValue,
    echo_request_id: bool,
}

impl Default for RawForwarding {
    fn default() -> Self {
        RawForwarding {
            rewrite_destination: true,
            x_forwarded: true,
            forwarded: false,
            preserve_host: false,
            request_id_header: HeaderNameValue(HeaderName::from_static("x-request-id")),
            echo_request_id: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a mapping of audit settings"
)]
struct RawAudit {
    enabled: bool,
    max_logged_failures: usize,
    queue_bytes: ByteSize,
    when_behind: WhenBehind,
    stall_timeout: HumanDuration,
    offload_after: Option<ByteSize>,
    /// Absent (or null): the DESIGN defaults; an explicit `[]`: no routine rules.
    routine: Option<Vec<RawRule>>,
    max_text: ByteSize,
    max_failures_kept: usize,
    max_depth: usize,
    recent_failures: usize,
}

impl Default for RawAudit {
    fn default() -> Self {
        RawAudit {
            enabled: true,
            max_logged_failures: 10,
            queue_bytes: ByteSize(4 << 20),
            when_behind: WhenBehind::Wait,
            stall_timeout: secs(1),
            offload_after: None,
            routine: None,
            max_text: ByteSize(1024),
            max_failures_kept: 100,
            max_depth: 256,
            recent_failures: 200,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with method, level, code and optionally route"
)]
struct RawRule {
    method: Methods,
    level: LevelName,
    code: StatusCode,
    /// Only for this route (a name of `routes`, or `other`).
    #[serde(default)]
    route: Option<RouteNameValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a mapping of log settings")]
struct RawLog {
    format: LogFormat,
    level: LogLevel,
    access: bool,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            format: LogFormat::Json,
            level: LogLevel("info".to_owned()),
            access: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a mapping of shutdown settings"
)]
struct RawShutdown {
    drain_timeout: HumanDuration,
}

impl Default for RawShutdown {
    fn default() -> Self {
        RawShutdown {
            drain_timeout: secs(30),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a mapping of limits")]
struct RawLimits {
    max_connections: usize,
    header_read_timeout: HumanDuration,
    keepalive_timeout: HumanDuration,
    max_request_body: Option<ByteSize>,
    max_header_bytes: ByteSize,
    max_streams_per_connection: u32,
    max_upstream_requests: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_connections: 10_000,
            header_read_timeout: secs(30),
            keepalive_timeout: secs(75),
            max_request_body: None,
            max_header_bytes: ByteSize(64 << 10),
            max_streams_per_connection: 100,
            max_upstream_requests: 1024,
        }
    }
}

impl RawConfig {
    /// Sets one key from outside the file, parsed as the file's value would be.
    pub(super) fn apply(&mut self, o: &Override) -> Result<(), Error> {
        let fail = |message: String| Error::Override {
            origin: o.origin.clone(),
            key: o.key.key().to_owned(),
            message,
        };
        let v = o.value.as_str();
        match o.key {
            OverrideKey::Listen => self.listen = ListenAddr(value::parse_listen(v).map_err(fail)?),
            OverrideKey::AdminListen => {
                let listen = ListenAddr(value::parse_listen(v).map_err(fail)?);
                self.admin.get_or_insert_with(RawAdmin::default).listen = listen;
            }
            OverrideKey::UpstreamUrl => {
                let url = UpstreamUrl(value::parse_upstream_url(v).map_err(fail)?);
                self.upstream.get_or_insert_with(RawUpstream::default).url = Some(url);
            }
            OverrideKey::LogLevel => {
                let level = LogLevel(value::parse_log_level(v).map_err(fail)?);
                self.log.get_or_insert_with(RawLog::default).level = level;
            }
            OverrideKey::LogFormat => {
                let format = parse_log_format(v).map_err(fail)?;
                self.log.get_or_insert_with(RawLog::default).format = format;
            }
        }
        Ok(())
    }

    /// Cross-field checks, then the typed config. `spots` locates keys in the file; a key
    /// set by an override is blamed on the override. `origin` is `None` without a file.
    pub(super) fn into_config(
        self,
        spots: &Spots,
        origin: Option<&str>,
        overrides: &[Override],
    ) -> Result<Config, Error> {
        let fail = |key: &str, message: String| match (
            overrides.iter().rev().find(|o| o.key.key() == key),
            origin,
        ) {
            (Some(o), _) => Error::Override {
                origin: o.origin.clone(),
                key: key.to_owned(),
                message,
            },
            (None, Some(origin)) => error::at_key(origin, spots, key, message),
            (None, None) => Error::Unset {
                key: key.to_owned(),
                message,
            },
        };
        let Some(url) = self.upstream.as_ref().and_then(|u| u.url.clone()) else {
            let message = match origin {
                Some(_) => {
                    "required: the WebDAV server to forward to, e.g. \
                            http://127.0.0.1:8081 (or set --upstream-url / DAVAUDIT_UPSTREAM_URL)"
                }
                None => {
                    "required: no config file was given (--config FILE or DAVAUDIT_CONFIG), \
                         so set the WebDAV server to forward to with --upstream-url URL or \
                         DAVAUDIT_UPSTREAM_URL"
                }
            };
            return Err(fail("upstream.url", message.to_owned()));
        };
        // Sizes are checked as u64 before the usize conversion in `into_parts`.
        let audit = self.audit.as_ref();
        let queue_bytes = audit
            .map_or(RawAudit::default().queue_bytes, |a| a.queue_bytes)
            .0;
        for (key, n) in [
            ("audit.queue_bytes", queue_bytes),
            ("audit.max_text", audit.map_or(0, |a| a.max_text.0)),
        ] {
            if usize::try_from(n).is_err() {
                return Err(fail(
                    key,
                    format!("{n} bytes is too large for this platform"),
                ));
            }
        }
        let config = self.into_parts(url.0);
        validate(&config).map_err(|(key, message)| fail(key, message))?;
        routes::check(&config.routes, &config.audit.routine)
            .map_err(|(key, message)| fail(&key, message))?;
        Ok(config)
    }

    /// The typed config, without checks (the defaults are valid by construction).
    pub(super) fn into_parts(self, url: Uri) -> Config {
        let upstream = self.upstream.unwrap_or_default();
        let tls = upstream.tls.unwrap_or_default();
        let admin = self.admin.unwrap_or_default();
        let forwarding = self.forwarding.unwrap_or_default();
        let audit = self.audit.unwrap_or_default();
        let log = self.log.unwrap_or_default();
        let shutdown = self.shutdown.unwrap_or_default();
        let limits = self.limits.unwrap_or_default();
        let listen_tls = self.tls.map(|t| ListenTls {
            cert_file: t.cert_file,
            key_file: t.key_file,
        });
        let size = |n: ByteSize| usize::try_from(n.0).unwrap_or(usize::MAX);
        Config {
            listen: self.listen.0,
            upstream: Upstream {
                url,
                connect_timeout: upstream.connect_timeout.0,
                response_timeout: upstream.response_timeout.0,
                idle_timeout: upstream.idle_timeout.0,
                pool_idle_timeout: upstream.pool_idle_timeout.0,
                pool_max_idle_per_host: upstream.pool_max_idle_per_host,
                tls: UpstreamTls {
                    ca_file: tls.ca_file,
                    insecure_skip_verify: tls.insecure_skip_verify,
                },
            },
            admin: Admin {
                listen: admin.listen.0,
                ui: admin.ui,
                live_listen: admin.live_listen.map(|l| l.0),
                token_file: admin.token_file,
                metrics_token_file: admin.metrics_token_file,
                max_connections: admin.max_connections,
            },
            forwarding: Forwarding {
                rewrite_destination: forwarding.rewrite_destination,
                x_forwarded: forwarding.x_forwarded,
                forwarded: forwarding.forwarded,
                preserve_host: forwarding.preserve_host,
                request_id_header: forwarding.request_id_header.0,
                echo_request_id: forwarding.echo_request_id,
            },
            audit: Audit {
                enabled: audit.enabled,
                max_logged_failures: audit.max_logged_failures,
                queue_bytes: size(audit.queue_bytes),
                when_behind: audit.when_behind,
                stall_timeout: audit.stall_timeout.0,
                offload_after: audit.offload_after.map(|b| b.0),
                routine: match audit.routine {
                    None => RoutineRule::defaults(),
                    Some(rules) => rules
                        .into_iter()
                        .map(|r| RoutineRule {
                            methods: r.method.0,
                            level: r.level.0,
                            code: r.code.0,
                            route: r.route.map(|n| n.0),
                        })
                        .collect(),
                },
                max_text: size(audit.max_text),
                max_failures_kept: audit.max_failures_kept,
                max_depth: audit.max_depth,
                recent_failures: audit.recent_failures,
            },
            log: Log {
                format: log.format,
                level: log.level.0,
                access: log.access,
            },
            shutdown: Shutdown {
                drain_timeout: shutdown.drain_timeout.0,
            },
            limits: Limits {
                max_connections: limits.max_connections,
                header_read_timeout: limits.header_read_timeout.0,
                keepalive_timeout: limits.keepalive_timeout.0,
                max_request_body: limits.max_request_body.map(|b| b.0),
                max_header_bytes: size(limits.max_header_bytes),
                max_streams_per_connection: limits.max_streams_per_connection,
                max_upstream_requests: limits.max_upstream_requests,
            },
            tls: listen_tls,
            routes: self
                .routes
                .unwrap_or_default()
                .into_iter()
                .map(RawRoute::into_route)
                .collect(),
        }
    }
}
