//! Descriptors (issue 18, item 3): with a small `RLIMIT_NOFILE` and the default
//! `max_connections` of 10,000, the proxy used to accept until `accept` failed with EMFILE on
//! both listeners, and `/healthz` failed with it. Now the soft limit is raised to the hard
//! one at start, the connection limits are lowered to fit it (a WARN names the numbers), and
//! the proxy refuses connections while the admin listener keeps its descriptors.
//!
//! The real binary runs under util-linux `prlimit`, so the limit applies to it alone.

use std::net::SocketAddr;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_davaudit");
/// Client connections opened against the proxy: more than a 256 limit holds.
const FLOOD: usize = 300;

/// `davaudit serve` under `prlimit --nofile=SOFT:HARD`, JSON logs on stderr.
struct Child256 {
    child: Child,
    lines: Lines<BufReader<ChildStderr>>,
    _dir: tempfile::TempDir,
}

impl Child256 {
    async fn start(nofile: &str, upstream: &str) -> Child256 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("davaudit.yaml");
        std::fs::write(
            &path,
            format!(
                "listen: 127.0.0.1:0\nadmin: {{listen: 127.0.0.1:0}}\n\
                 upstream: {{url: '{upstream}'}}\nlog: {{format: json, level: info}}\n"
            ),
        )
        .unwrap();
        let mut child = Command::new("prlimit")
            .arg(format!("--nofile={nofile}"))
            .args(["--", BIN, "serve", "--config"])
            .arg(&path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("util-linux prlimit");
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        Child256 {
            child,
            lines,
            _dir: dir,
        }
    }

    /// The next log event with this message (earlier ones are skipped).
    async fn event(&mut self, message: &str) -> Value {
        within(message, async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                let event: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
                if event["message"] == message {
                    return event;
                }
            }
            panic!("davaudit exited before logging {message:?}");
        })
        .await
    }

    /// `(soft, hard)` "Max open files" of the running process.
    fn limits(&self) -> (String, String) {
        let pid = self.child.id().expect("running");
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .expect("Max open files");
        let mut numbers = line["Max open files".len()..].split_whitespace();
        (
            numbers.next().unwrap().to_owned(),
            numbers.next().unwrap().to_owned(),
        )
    }

    async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let status = within("exit after SIGTERM", self.child.wait())
            .await
            .unwrap();
        assert!(status.success(), "{status:?}");
    }
}

fn field(event: &Value, name: &str) -> u64 {
    event[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} in {event}"))
}

#[tokio::test]
async fn the_soft_limit_is_raised_and_lowered_limits_are_named() {
    let upstream = FakeUpstream::always(Reply::ok("ok")).await;
    let mut davaudit = Child256::start("256:1024", &upstream.url()).await;
    let warn = davaudit
        .event("connection limits lowered to fit the file descriptor limit; raise the hard limit (ulimit -Hn, LimitNOFILE=) to use the configured ones")
        .await;
    println!("{warn}");
    assert_eq!(warn["level"], "WARN", "{warn}");
    assert_eq!(field(&warn, "soft_before"), 256);
    assert_eq!(field(&warn, "hard"), 1024);
    assert_eq!(field(&warn, "nofile"), 1024);
    assert_eq!(field(&warn, "max_connections"), 10_000);
    let effective = field(&warn, "effective_max_connections");
    assert!(effective > 0 && effective < 1024, "{warn}");
    davaudit.event("listening").await;
    assert_eq!(davaudit.limits(), ("1024".to_owned(), "1024".to_owned()));
    davaudit.stop().await;
}

#[tokio::test]
async fn a_connection_flood_under_a_low_hard_limit_leaves_healthz_answering() {
    let upstream = FakeUpstream::always(Reply::ok("ok")).await;
    let mut davaudit = Child256::start("256:256", &upstream.url()).await;
    let listening = davaudit.event("listening").await;
    let proxy: SocketAddr = listening["proxy"].as_str().unwrap().parse().unwrap();
    let admin: SocketAddr = listening["admin"].as_str().unwrap().parse().unwrap();

    // Idle connections: each accepted one holds a descriptor in davaudit until its header
    // read timeout (30 s), longer than this test.
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        flood.push(
            within("connect", tokio::net::TcpStream::connect(proxy))
                .await
                .unwrap(),
        );
    }
    // Every connection was either accepted or refused at the limit: the admin listener
    // answered all along (before the fix it failed with EMFILE here).
    let metrics = Metrics::wait_for(admin, |m| {
        let accepted = m.get(
            "davaudit_connections_accepted_total",
            &[("listener", "proxy")],
        );
        let refused = m.get(
            "davaudit_connections_refused_total",
            &[("listener", "proxy"), ("reason", "limit")],
        );
        accepted + refused >= FLOOD as f64
    })
    .await;
    let refused = metrics.get(
        "davaudit_connections_refused_total",
        &[("listener", "proxy"), ("reason", "limit")],
    );
    assert!(
        refused > 0.0,
        "the proxy refused nothing:\n{}",
        metrics.text
    );
    assert_eq!(
        metrics.get(
            "davaudit_connections_refused_total",
            &[("reason", "accept_error")],
        ),
        0.0,
        "accept failed (out of descriptors):\n{}",
        metrics.text
    );
    let (status, _, body) = send("GET", &format!("http://{admin}/healthz"), &[], "").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // Once the flood is gone, the proxy serves again.
    drop(flood);
    Metrics::wait_for(admin, |m| {
        m.get("davaudit_connections_open", &[("listener", "proxy")]) == 0.0
    })
    .await;
    let (status, _, body) = send("GET", &format!("http://{proxy}/"), &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"ok");
    davaudit.stop().await;
}
