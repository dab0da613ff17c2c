//! `davaudit demo` as a user runs it (the `demo` feature, on by default): the banner's
//! headline command, a `DELETE` of a folder whose pinned member cannot be removed, is
//! answered `207` by the embedded server with that member's `403` inside; davaudit logs the
//! WARN line and the live view holds the record; SIGTERM ends it and removes the folder.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStderr, ChildStdout};

use crate::support::client::send;
use crate::support::within;

const BIN: &str = env!("CARGO_BIN_EXE_davaudit");

/// Reads lines until one contains `needle`; returns every line read.
async fn read_until<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut Lines<R>,
    needle: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match lines.next_line().await.unwrap() {
            Some(line) => {
                let done = line.contains(needle);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            None => panic!(
                "davaudit demo ended before {needle:?}:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// The URL after `label` on a banner line.
fn url_after(banner: &[String], label: &str) -> String {
    let line = banner
        .iter()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} in the banner:\n{}", banner.join("\n")));
    line.split_whitespace()
        .last()
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

#[tokio::test]
async fn the_demo_shows_a_delete_that_leaves_a_member_behind() {
    let mut child = tokio::process::Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out: Lines<BufReader<ChildStdout>> =
        BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err: Lines<BufReader<ChildStderr>> =
        BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = within("the demo's banner", read_until(&mut out, "Ctrl-C stops")).await;
    let proxy = url_after(&banner, "davaudit proxy in front of it:");
    let live = url_after(&banner, "live view of recent partial failures:");
    let folder = banner
        .iter()
        .find_map(|l| l.split("dav-server over ").nth(1))
        .and_then(|rest| rest.split("):").next())
        .unwrap()
        .to_owned();
    assert!(
        std::path::Path::new(&folder)
            .join("docs/archive/legal-hold.txt")
            .is_file()
    );

    // The banner's headline command, as printed.
    let command = format!("curl -s -X DELETE {proxy}/docs/archive/");
    assert!(
        banner.iter().any(|l| l.trim() == command),
        "the banner shows {command:?}:\n{}",
        banner.join("\n")
    );
    let (status, _, body) = send("DELETE", &format!("{proxy}/docs/archive/"), &[], "").await;
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(status, 207, "{body}");
    assert!(
        body.contains("<D:href>/docs/archive/legal-hold.txt</D:href>"),
        "{body}"
    );
    assert!(body.contains("HTTP/1.1 403 Forbidden"), "{body}");
    assert!(
        !body.contains("2025.txt"),
        "the removed member is not listed: {body}"
    );
    // The rest of the folder is gone, the pinned member and the folder stay.
    let (gone, _, _) = send("GET", &format!("{proxy}/docs/archive/2025.txt"), &[], "").await;
    assert_eq!(gone, 404);
    let (kept, _, _) = send(
        "GET",
        &format!("{proxy}/docs/archive/legal-hold.txt"),
        &[],
        "",
    )
    .await;
    assert_eq!(kept, 200);

    // The WARN line it causes (text logs on stderr).
    let logged = within(
        "the demo's WARN line",
        read_until(&mut err, "multistatus partial failure"),
    )
    .await;
    let warn = logged.last().unwrap();
    for field in [
        "level=WARN",
        "method=DELETE",
        "path=/docs/archive/",
        "status=207",
        "outcome=partial_failure",
        "failed.0.code=403",
        "failed.0.href=/docs/archive/legal-hold.txt",
    ] {
        assert!(warn.contains(field), "{field} in {warn}");
    }

    // The live view's record.
    let (status, _, failures) = send("GET", &format!("{live}/failures"), &[], "").await;
    assert_eq!(status, 200);
    let failures: serde_json::Value = serde_json::from_slice(&failures).unwrap();
    let record = &failures["failures"][0];
    assert_eq!(record["method"], "DELETE", "{failures}");
    assert_eq!(record["status"], 207);
    assert_eq!(record["failed"][0]["href"], "/docs/archive/legal-hold.txt");
    assert_eq!(record["failed"][0]["code"], "403");

    // Ctrl-C's twin ends the demo cleanly and removes its folder.
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = within("the demo's exit", child.wait()).await.unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(!std::path::Path::new(&folder).exists(), "{folder} removed");
}
