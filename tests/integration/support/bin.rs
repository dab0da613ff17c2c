//! The `davaudit` binary as operators run it (`CARGO_BIN_EXE_davaudit`): one-shot commands
//! ([`davaudit`], [`davaudit_env`]) and a `serve` child whose JSON log events a test reads in
//! order ([`Serving`]).

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use serde_json::Value;

use super::within;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_davaudit");

/// Runs `davaudit ARGS` with `env` added and every `DAVAUDIT_*` variable of the test process
/// removed, in the repository root (bounded; killed if it outlives the bound).
pub(crate) async fn davaudit_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("DAVAUDIT_") {
            command.env_remove(key);
        }
    }
    let child = command
        .args(args)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    within(&format!("davaudit {}", args.join(" ")), child)
        .await
        .unwrap_or_else(|e| panic!("run {BIN}: {e}"))
}

/// [`davaudit_env`] with no variables added.
pub(crate) async fn davaudit(args: &[&str]) -> Output {
    davaudit_env(args, &[]).await
}

/// A command's output as text.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

/// A `davaudit ARGS` child with `RUST_LOG` unset, its stderr (JSON log lines) read in order
/// by [`Serving::next_event`]. Blocking reads: drive it from a plain `#[test]`.
pub(crate) struct Serving {
    pub(crate) child: Child,
    lines: Lines<BufReader<ChildStderr>>,
}

impl Serving {
    pub(crate) fn spawn(args: &[&str]) -> Serving {
        let mut child = Command::new(BIN)
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {BIN}: {e}"));
        let lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        Serving { child, lines }
    }

    /// The child's process id, for `kill`.
    pub(crate) fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends `signal` (`-HUP`, `-TERM`) to the child.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal}");
    }

    /// The next event whose message starts with `message` (earlier ones are skipped); panics
    /// if the child exits first.
    pub(crate) fn next_event(&mut self, message: &str) -> Value {
        for line in self.lines.by_ref() {
            let line = line.expect("stderr line");
            let event: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON record ({e}): {line}"));
            if event["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with(message)
            {
                return event;
            }
        }
        panic!("davaudit exited before logging {message:?}");
    }
}
