//! The test binary's own process: one test run alone in a child process (for numbers that
//! are per process, such as open fds, RSS peaks or captured logs), and those numbers.

use std::time::Duration;

/// Runs the ignored test `name` (its full path, e.g. `hostile::resources::resource_baseline_child`)
/// alone in a child process of this same test binary, with `env` set, bounded by `limit`;
/// panics unless it ran and passed. Returns its stdout.
pub(crate) async fn run_alone(name: &str, env: &[(&str, &str)], limit: Duration) -> String {
    let exe = std::env::current_exe().expect("the test binary");
    let child = tokio::process::Command::new(exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = super::within_for(limit, name, child)
        .await
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("1 passed"), "{name} did not run:\n{stdout}");
    stdout
}

/// Open file descriptors of this process.
pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix(field))?;
    line.strip_prefix(':')?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Resident set size of this process, in KiB (0 when unknown).
pub(crate) fn rss_kib() -> u64 {
    status_kib("VmRSS").unwrap_or(0)
}

/// Peak resident set size of this process, in KiB.
pub(crate) fn vm_hwm_kib() -> Option<u64> {
    status_kib("VmHWM")
}
