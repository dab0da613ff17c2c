//! The `davaudit` binary as users run it (`CARGO_BIN_EXE_davaudit`): `check-config` on every
//! shipped config and on broken ones (`FILE:LINE:COL: key: message`, exit 1), the usage
//! errors (exit 2), a missing config file, `--version`; `scan --json` on the corpus.

use std::path::{Path, PathBuf};

use crate::support::bin::{BIN, davaudit, davaudit_env, text};
use crate::support::within;

/// The `.yaml` files of a directory of the repository, sorted.
fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// A temporary file with `content` (a config, or a body for `scan`).
fn config_file(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("temp file");
    std::io::Write::write_all(&mut file, content.as_bytes()).expect("write temp file");
    file
}

#[tokio::test]
async fn check_config_accepts_every_shipped_config_and_prints_loadable_yaml() {
    let files: Vec<PathBuf> = ["config", "config/examples"]
        .iter()
        .flat_map(|dir| yaml_files(dir))
        .collect();
    assert!(files.len() >= 4, "shipped configs: {files:?}");
    for file in files {
        let path = file.to_str().expect("UTF-8 path");
        // The shipped examples name files (CA, certificates) this machine does not have.
        let out = davaudit(&["check-config", "--syntax-only", path]).await;
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "check-config {path}: {}",
            text(&out.stderr)
        );
        let effective: serde_yaml::Value = serde_yaml::from_str(&stdout)
            .unwrap_or_else(|e| panic!("check-config {path} printed invalid YAML: {e}\n{stdout}"));
        assert!(
            effective
                .get("upstream")
                .and_then(|u| u.get("url"))
                .is_some(),
            "the effective config has upstream.url:\n{stdout}"
        );
        // The effective config is itself a valid config, and a fixed point.
        let again = config_file(&stdout);
        let out = davaudit(&[
            "check-config",
            "--syntax-only",
            again.path().to_str().unwrap(),
        ])
        .await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "the effective config of {path} is rejected: {}",
            text(&out.stderr)
        );
        let reprinted: serde_yaml::Value = serde_yaml::from_str(&text(&out.stdout)).unwrap();
        assert_eq!(reprinted, effective, "effective config of {path} is stable");
    }
}

/// Runs `check-config` on `content` and returns (the file's path, stderr) after checking the
/// exit code is 1 and stdout is empty.
async fn rejected(content: &str) -> (String, String) {
    let file = config_file(content);
    let path = file.path().to_str().expect("UTF-8 path").to_owned();
    let out = davaudit(&["check-config", &path]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    (path, stderr)
}

/// Splits `FILE:LINE:COL: key: message` (FILE being `path`).
fn located<'a>(path: &str, stderr: &'a str) -> (usize, usize, &'a str, &'a str) {
    let line = stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "one line: {stderr}");
    let rest = line
        .strip_prefix(path)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or_else(|| panic!("starts with the file name {path}: {stderr}"));
    let mut parts = rest.splitn(4, ':');
    let mut number = || {
        parts
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("FILE:LINE:COL: {stderr}"))
    };
    let (line_no, column) = (number(), number());
    let key = parts.next().unwrap_or_default().trim();
    let message = parts.next().unwrap_or_default().trim();
    (line_no, column, key, message)
}

#[tokio::test]
async fn check_config_locates_an_unknown_key() {
    let (path, stderr) = rejected("upstream:\n  url: http://127.0.0.1:8081\n  bogus: 1\n").await;
    let (line, column, key, message) = located(&path, &stderr);
    assert_eq!((line, column), (3, 3), "{stderr}");
    assert_eq!(key, "upstream.bogus", "{stderr}");
    assert!(message.contains("unknown"), "{stderr}");
    assert!(
        message.contains("connect_timeout"),
        "lists the known keys: {stderr}"
    );
}

#[tokio::test]
async fn check_config_locates_a_bad_duration() {
    let (path, stderr) =
        rejected("upstream:\n  url: http://127.0.0.1:8081\n  connect_timeout: 5 parsecs\n").await;
    let (line, column, key, message) = located(&path, &stderr);
    assert_eq!((line, column), (3, 20), "{stderr}");
    assert_eq!(key, "upstream.connect_timeout", "{stderr}");
    assert!(message.contains("5 parsecs"), "quotes the value: {stderr}");
}

#[tokio::test]
async fn a_missing_config_file_is_named_in_the_error() {
    let out = davaudit(&["--config", "missing.yaml"]).await;
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success() && out.status.code().is_some(),
        "{:?}",
        out.status
    );
    assert!(stderr.contains("missing.yaml"), "{stderr}");
    // Same for the explicit subcommand.
    let out = davaudit(&["serve", "--config", "missing.yaml"]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("missing.yaml"));
}

#[tokio::test]
async fn no_arguments_is_a_usage_error_with_a_hint() {
    let out = davaudit(&[]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--config"), "{stderr}");
    assert!(stderr.contains("--help"), "{stderr}");
}

#[tokio::test]
async fn an_unknown_subcommand_is_a_usage_error() {
    let out = davaudit(&["frobnicate"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[tokio::test]
async fn version_prints_the_package_version() {
    let out = davaudit(&["-V"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        concat!("davaudit ", env!("CARGO_PKG_VERSION"))
    );
}

/// The binary allocates with jemalloc (`src/main.rs`): asked through jemalloc's own
/// environment variable, it prints its statistics at exit; glibc's malloc ignores it.
#[cfg(unix)]
#[tokio::test]
async fn the_binary_allocates_with_jemalloc() {
    let out = davaudit_env(&["-V"], &[("_RJEM_MALLOC_CONF", "stats_print:true")]).await;
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Begin jemalloc statistics"),
        "no jemalloc statistics on stderr: {stderr}"
    );
}

/// The admin token files are loaded as `serve` loads them: a missing or empty one fails
/// `check-config` (exit 1, naming the key and the file); `--syntax-only` skips them.
#[tokio::test]
async fn check_config_loads_the_admin_token_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("admin-token");
    let yaml = format!(
        "upstream: {{url: 'http://127.0.0.1:1'}}\nadmin: {{token_file: '{}'}}\n",
        token.display()
    );
    let file = config_file(&yaml);
    let path = file.path().to_str().expect("UTF-8 path");
    let out = davaudit(&["check-config", "--quiet", path]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "admin.token_file {}: cannot read",
            token.display()
        )),
        "{stderr}"
    );
    let out = davaudit(&["check-config", "--quiet", "--syntax-only", path]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::write(&token, "\n").expect("write token");
    let out = davaudit(&["check-config", "--quiet", path]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the file is empty"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&token, "s3cret\n").expect("write token");
    let out = davaudit(&["check-config", "--quiet", path]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[tokio::test]
async fn completions_and_man_come_from_the_binary() {
    let out = davaudit(&["completions", "bash"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    assert!(script.contains("complete -F _davaudit"), "{script}");
    for name in [
        "serve",
        "check-config",
        "scan",
        "healthcheck",
        "completions",
        "man",
    ] {
        assert!(script.contains(name), "bash completion lacks {name}");
    }
    let out = davaudit(&["completions", "tcsh"]).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );

    let out = davaudit(&["man"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(".TH davaudit 1"));
    let dir = tempfile::tempdir().expect("temp dir");
    let out = davaudit(&["man", "--dir", dir.path().to_str().expect("UTF-8")]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for page in [
        "davaudit.1",
        "davaudit-serve.1",
        "davaudit-scan.1",
        "davaudit-man.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page} written");
    }
    let out = davaudit(&["man", "--dir", "/nonexistent/davaudit-man"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot write /nonexistent/davaudit-man/davaudit.1"));
}

// ---------------------------------------------------------------------------------------------
// davaudit scan

/// Every `tests/corpus/*/*.xml` with its `.expected.json` (written by `count.py`, never by
/// davaudit).
fn corpus() -> Vec<(PathBuf, serde_json::Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/corpus")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let mut bodies: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("corpus dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .collect();
        bodies.sort();
        for body in bodies {
            let expected = body.with_extension("expected.json");
            let text = std::fs::read_to_string(&expected)
                .unwrap_or_else(|e| panic!("{}: {e}", expected.display()));
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", expected.display()));
            out.push((body, json));
        }
    }
    out
}

#[tokio::test]
async fn scan_json_gives_every_corpus_body_its_expected_counts() {
    let corpus = corpus();
    assert!(corpus.len() >= 40, "corpus bodies: {}", corpus.len());
    let mut malformed = 0;
    for (body, expected) in corpus {
        let path = body.to_str().expect("UTF-8 path");
        let method = expected["method"].as_str().expect("method");
        let outcome = expected["outcome"].as_str().expect("outcome");
        let out = davaudit(&["scan", "--json", "--method", method, path]).await;
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        let want_code = match outcome {
            "malformed" => 1,
            "over_limit" | "dtd_declarations" => 4,
            _ => 0,
        };
        assert_eq!(
            out.status.code(),
            Some(want_code),
            "scan {path} ({outcome}): {stderr}"
        );
        assert_eq!(
            stdout.lines().count(),
            1,
            "one JSON line per file: {stdout}"
        );
        let got: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("scan --json {path}: {e}: {stdout}"));
        assert_eq!(got["file"], path, "{stdout}");
        assert_eq!(got["outcome"], outcome, "{path}: {stdout}");
        if outcome == "malformed" || outcome == "dtd_declarations" {
            // Only the outcome is recorded for malformed bodies (davaudit keeps counts up to
            // the error, expat does not) and for bodies with DTD declarations (expat applies
            // them, davaudit never does).
            malformed += 1;
            continue;
        }
        for key in ["entries", "response_status", "propstat_status"] {
            assert_eq!(got[key], expected[key], "{path}: {key}: {stdout}");
        }
        let failures = got["failures"].as_array().expect("failures array");
        assert_eq!(
            failures.len() as u64,
            expected["failure_count"].as_u64().expect("failure_count"),
            "{path}: failures: {stdout}"
        );
        for failure in failures {
            for key in [
                "href",
                "hrefs",
                "href_count",
                "props",
                "prop_count",
                "level",
                "code",
                "error",
                "description",
            ] {
                assert!(
                    failure.get(key).is_some(),
                    "{path}: failure without {key}: {stdout}"
                );
            }
        }
    }
    assert!(malformed >= 3, "the corpus has malformed bodies");
}

#[tokio::test]
async fn scan_of_a_malformed_body_exits_1() {
    let file = config_file(
        "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/a</D:href>\
         <D:status>HTTP/1.1 423 Locked</D:status></D:response></D:propstat>",
    );
    let path = file.path().to_str().expect("UTF-8 path");
    let out = davaudit(&["scan", "--json", "--method", "DELETE", path]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let got: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("one JSON object");
    assert_eq!(got["outcome"], "malformed");
    // Counts up to the error are kept.
    assert_eq!(got["entries"], 1);
    assert_eq!(got["response_status"]["423"], 1);

    // A clean body next to it does not hide the malformed one.
    let clean = config_file(
        "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/a</D:href>\
         <D:status>HTTP/1.1 200 OK</D:status></D:response></D:multistatus>",
    );
    let clean_path = clean.path().to_str().expect("UTF-8 path");
    let out = davaudit(&["scan", clean_path]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = davaudit(&["scan", "--json", clean_path, path]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

/// A body the audit could not be sure about is never reported as read: `over_limit` (a bound
/// stopped the scan) and `dtd_declarations` (a parser applying the DTD may read other
/// statuses) exit 4, not 0; malformed (1) and unreadable (3) win over it (#14).
#[tokio::test]
async fn scan_of_a_body_the_audit_cannot_be_sure_of_exits_4() {
    let dtd = config_file(
        "<!DOCTYPE D:multistatus [<!ATTLIST status xmlns CDATA #FIXED \"DAV:\">]>\
         <D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/a</D:href>\
         <status>HTTP/1.1 423 Locked</status></D:response></D:multistatus>",
    );
    let dtd_path = dtd.path().to_str().expect("UTF-8 path");
    let long_reference = format!(
        "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/a</D:href>\
         <D:status>HTTP/1.1 423 Locked</D:status></D:response><D:response>\
         <D:href>/b&{};</D:href></D:response></D:multistatus>",
        "r".repeat(100)
    );
    let limit = config_file(&long_reference);
    let limit_path = limit.path().to_str().expect("UTF-8 path");
    let clean = config_file(
        "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/a</D:href>\
         <D:status>HTTP/1.1 200 OK</D:status></D:response></D:multistatus>",
    );
    let clean_path = clean.path().to_str().expect("UTF-8 path");
    let broken = config_file("<D:multistatus xmlns:D=\"DAV:\"></D:response>");
    let broken_path = broken.path().to_str().expect("UTF-8 path");

    let out = davaudit(&["scan", "--json", dtd_path]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let got: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("JSON");
    assert_eq!(got["outcome"], "dtd_declarations");

    let out = davaudit(&["scan", "--json", limit_path]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let got: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("JSON");
    assert_eq!(got["outcome"], "over_limit");
    assert_eq!(got["malformed"]["limit"], "reference_length");
    // Counts up to the stop are kept, and printed.
    assert_eq!(got["response_status"]["423"], 1);

    // Text output, the reference reader and several files say the same.
    let out = davaudit(&["scan", clean_path, dtd_path]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let out = davaudit(&["scan", "--reference", dtd_path]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let out = davaudit(&["scan", limit_path, broken_path, clean_path]).await;
    assert_eq!(out.status.code(), Some(1), "malformed wins over 4");
    let missing = format!("{clean_path}.missing");
    let out = davaudit(&["scan", limit_path, &missing]).await;
    assert_eq!(out.status.code(), Some(3), "unreadable wins over 4");
}

/// Issue 14 item 7: Apache answers a PROPPATCH of a protected and a dead property with 409
/// and 424 under the same href; `scan` names the property behind each (Clark notation), as
/// the corpus oracle (tests/corpus/count.py) lists them.
#[tokio::test]
async fn scan_names_the_property_behind_each_propstat_failure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/apache");
    let body = root.join("proppatch-protected-409-424.xml");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("proppatch-protected-409-424.expected.json")).unwrap(),
    )
    .unwrap();
    let path = body.to_str().expect("UTF-8 path");
    let out = davaudit(&["scan", "--json", "--method", "PROPPATCH", path]).await;
    let got: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("JSON");
    for want in expected["failures"].as_array().unwrap() {
        let failure = got["failures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == want[1])
            .unwrap_or_else(|| panic!("{want} in {got}"));
        assert_eq!(failure["props"], want[3], "{got}");
        assert_eq!(failure["prop_count"], want[3].as_array().unwrap().len());
    }
    let out = davaudit(&["scan", "--method", "PROPPATCH", path]).await;
    let shown = text(&out.stdout);
    assert!(
        shown.contains("409 /dir/a.txt  props={DAV:}getetag"),
        "{shown}"
    );
}

#[tokio::test]
async fn scan_reads_standard_input() {
    let mut child = tokio::process::Command::new(BIN)
        .args(["scan", "--json", "--method", "DELETE", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn davaudit scan -");
    let mut stdin = child.stdin.take().expect("stdin");
    tokio::io::AsyncWriteExt::write_all(
        &mut stdin,
        b"<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/x</D:href>\
          <D:status>HTTP/1.1 423 Locked</D:status></D:response></D:multistatus>",
    )
    .await
    .expect("write stdin");
    drop(stdin);
    let out = within("davaudit scan -", child.wait_with_output())
        .await
        .expect("scan output");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let got: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("JSON");
    assert_eq!(got["outcome"], "partial_failure");
    assert_eq!(got["failures"][0]["href"], "/x");
    assert_eq!(got["failures"][0]["code"], "423");
}

/// `scan --reference` (quick-xml, independent of the scanner) prints the same JSON shape as
/// `scan --json` and, on every corpus body, the same counts, failures and exit status; for
/// malformed bodies only the outcome is compared (each reader words and places its error its
/// own way).
#[tokio::test]
async fn scan_reference_agrees_with_scan_json_on_the_corpus() {
    let corpus = corpus();
    let paths: Vec<String> = corpus
        .iter()
        .map(|(p, _)| p.to_str().expect("UTF-8 path").to_owned())
        .collect();
    for (body, expected) in &corpus {
        let path = body.to_str().expect("UTF-8 path");
        let method = expected["method"].as_str().expect("method");
        let fast = davaudit(&["scan", "--json", "--method", method, path]).await;
        let reference = davaudit(&["scan", "--reference", "--method", method, path]).await;
        assert_eq!(fast.status.code(), reference.status.code(), "{path}");
        let mut a: serde_json::Value = serde_json::from_slice(&fast.stdout).expect("scan JSON");
        let mut b: serde_json::Value =
            serde_json::from_slice(&reference.stdout).expect("reference JSON");
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&a), keys(&b), "{path}: same JSON shape");
        if a["outcome"] == "malformed" {
            assert_eq!(a["outcome"], b["outcome"], "{path}");
            continue;
        }
        a["malformed"].take();
        b["malformed"].take();
        assert_eq!(a, b, "{path}");
    }
    assert!(paths.len() >= 40);
}

/// Issue 15: `scan --charset LABEL` gives both readers the `Content-Type` charset
/// (DESIGN.md §2.6): a BOM-less UTF-16LE body saved from a `text/xml; charset=utf-16le`
/// answer is read, by the scanner and the reference alike; without the flag it is not.
#[tokio::test]
async fn scan_charset_reads_a_bomless_utf16_body_with_both_readers() {
    let text = "<multistatus xmlns=\"DAV:\"><response><href>/caf\u{e9}</href>\
        <status>HTTP/1.1 423 Locked</status></response></multistatus>";
    let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, &utf16).unwrap();
    let path = file.path().to_str().unwrap();
    let mut outputs = Vec::new();
    for reader in ["--json", "--reference"] {
        let out = davaudit(&["scan", reader, "--charset", "utf-16le", path]).await;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(v["outcome"], "partial_failure", "{reader}: {v}");
        assert_eq!(v["failures"][0]["href"], "/caf\u{e9}", "{reader}");
        outputs.push(v);
        let without = davaudit(&["scan", reader, path]).await;
        assert_eq!(
            without.status.code(),
            Some(1),
            "{reader}: UTF-16 read as UTF-8 is malformed"
        );
    }
    assert_eq!(outputs[0], outputs[1]);
}

/// Issue 16, item 6: text logs carry no ANSI colour codes when stderr is not a terminal
/// (journald, files), and an error does not print its cause twice.
#[tokio::test]
async fn text_logs_have_no_colour_codes_off_a_terminal_and_errors_name_their_cause_once() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = config_file(&format!(
        "listen: {}\nadmin: {{listen: 127.0.0.1:0}}\nupstream: {{url: \"http://127.0.0.1:1\"}}\n\
         log: {{format: text}}\n",
        busy.local_addr().unwrap()
    ));
    let out = davaudit(&["--config", config.path().to_str().unwrap()]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("config loaded"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "ANSI codes in {stderr:?}");
    assert_eq!(
        stderr.matches("Address already in use").count(),
        1,
        "{stderr}"
    );
}

/// Issue 16, item 6: in `log.format: json` every line on stderr is a JSON record, the error
/// that stops davaudit included (`fatal error`, ERROR), and it names its cause once (the real
/// bind error, not a made-up one).
#[tokio::test]
async fn json_logs_end_with_one_fatal_error_record_naming_its_cause_once() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = config_file(&format!(
        "listen: {}\nadmin: {{listen: 127.0.0.1:0}}\nupstream: {{url: \"http://127.0.0.1:1\"}}\n\
         log: {{format: json}}\n",
        busy.local_addr().unwrap()
    ));
    let out = davaudit(&["--config", config.path().to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let records: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    let fatal: Vec<_> = records
        .iter()
        .filter(|r| r["message"] == "fatal error")
        .collect();
    assert_eq!(fatal.len(), 1, "{stderr}");
    assert_eq!(fatal[0]["level"], "ERROR");
    let error = fatal[0]["error"].as_str().unwrap();
    assert_eq!(
        error.matches("Address already in use").count(),
        1,
        "{error}"
    );
    assert!(
        error.contains(&busy.local_addr().unwrap().to_string()),
        "{error}"
    );
    assert_eq!(
        stderr.matches("Address already in use").count(),
        1,
        "{stderr}"
    );
}
