//! Build facts for `davaudit_build_info` and `davaudit --version`: the source revision (from
//! the `DAVAUDIT_REVISION` environment variable, which the image build passes as a build
//! argument; `unknown` without it) and the version of the compiler that built the binary.
//! No git call: a build from a tarball or a container context has no `.git`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DAVAUDIT_REVISION");
    let revision = std::env::var("DAVAUDIT_REVISION")
        .ok()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=DAVAUDIT_REVISION={revision}");

    // `rustc 1.95.0 (59807616e 2026-04-14)` -> `1.95.0`.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=DAVAUDIT_RUST_VERSION={version}");
}
