//! Audit edge cases against scripted upstreams: content codings, 1-byte frames, malformed and
//! truncated bodies, a departing client, a body of hundreds of MB, a scanner made slow on
//! purpose (`wait`, `skip`, stall timeout), skipped content types, and routine rules. In every
//! case the client gets exactly the upstream's bytes, and the counters move by exactly what an
//! independent count of those bytes says.

use std::collections::BTreeMap;
use std::time::Duration;

use http_body_util::BodyExt;

use crate::support::oracle::{DEFAULT_RULES, Rule};
use crate::support::process::{run_alone, vm_hwm_kib};
use crate::support::*;

pub(super) type Counts = BTreeMap<(String, String), u64>;

fn deltas(after: &Metrics, before: &Metrics, family: &str, method: &str) -> Counts {
    after.level_code_deltas(before, family, method)
}

fn owned(counts: BTreeMap<(&'static str, String), u64>) -> Counts {
    counts
        .into_iter()
        .map(|((level, code), n)| ((level.to_owned(), code), n))
        .collect()
}

/// What one audited response should have added to the counters.
#[derive(Debug)]
pub(super) struct Expected<'a> {
    method: &'a str,
    outcome: &'a str,
    entries: Counts,
    failures: Counts,
    /// `davaudit_audit_bytes_total` delta (decoded bytes), when known.
    bytes: Option<u64>,
}

impl<'a> Expected<'a> {
    /// The oracle's counts of a complete, well-formed (decoded) `body` under `rules`.
    pub(super) fn from_oracle(method: &'a str, body: &[u8], rules: &[Rule]) -> Self {
        let oracle = count(body);
        let failures = oracle.failures_with_rules(method, rules);
        let mut failure_counts = Counts::new();
        for f in &failures {
            *failure_counts
                .entry((f.level.to_owned(), f.code.clone()))
                .or_insert(0) += 1;
        }
        Expected {
            method,
            outcome: if failures.is_empty() {
                "clean"
            } else {
                "partial_failure"
            },
            entries: owned(oracle.status_counts()),
            failures: failure_counts,
            bytes: Some(body.len() as u64),
        }
    }
}

/// Waits for the outcome counter of `expected.method` to move by one, then checks every
/// audit counter moved by exactly `expected`. Returns that scrape.
pub(super) async fn assert_audited(
    proxy: &Proxy,
    before: &Metrics,
    expected: &Expected<'_>,
) -> Metrics {
    let method = expected.method;
    let after = proxy.audited(before, &[("method", method)], 1).await;
    assert_eq!(
        after.delta(
            before,
            "davaudit_multistatus_total",
            &[("method", method), ("outcome", expected.outcome)]
        ),
        1.0,
        "outcome of {method}: {:?}",
        after.labels_of("davaudit_multistatus_total")
    );
    assert_eq!(
        after.delta(before, "davaudit_multistatus_total", &[("method", method)]),
        1.0,
        "exactly one outcome for {method}"
    );
    assert_eq!(
        deltas(&after, before, "davaudit_multistatus_entries_total", method),
        expected.entries,
        "entries of {method}"
    );
    assert_eq!(
        deltas(
            &after,
            before,
            "davaudit_multistatus_failures_total",
            method
        ),
        expected.failures,
        "failures of {method}"
    );
    if let Some(bytes) = expected.bytes {
        assert_eq!(
            after.delta(before, "davaudit_audit_bytes_total", &[]),
            bytes as f64,
            "audited bytes of {method}"
        );
    }
    after
}

/// A multistatus with every kind of status: response-level 204/423 (with a DAV:error), and
/// propstats 200/403/424, repeated so that content codings have something to compress.
pub(super) fn mixed_body(repeat: usize) -> String {
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" \
         xmlns:Z=\"urn:example:z\">\n",
    );
    for i in 0..repeat {
        body.push_str(&format!(
            "<D:response><D:href>/dir/ok-{i}.txt</D:href>\
             <D:status>HTTP/1.1 204 No Content</D:status></D:response>\n\
             <D:response><D:href>/dir/locked-{i}.txt</D:href>\
             <D:status>HTTP/1.1 423 Locked</D:status>\
             <D:error><D:lock-token-submitted><D:href>/dir/</D:href></D:lock-token-submitted>\
             </D:error></D:response>\n\
             <D:response><D:href>/dir/props-{i}.txt</D:href>\
             <D:propstat><D:prop><Z:color/></D:prop><D:status>HTTP/1.1 200 OK</D:status>\
             </D:propstat><D:propstat><D:prop><D:getetag/></D:prop>\
             <D:status>HTTP/1.1 403 Forbidden</D:status></D:propstat>\
             <D:propstat><D:prop><Z:size/></D:prop>\
             <D:status>HTTP/1.1 424 Failed Dependency</D:status></D:propstat></D:response>\n"
        ));
    }
    body.push_str("</D:multistatus>\n");
    body
}

// ---------------------------------------------------------------------------------------------
// Content codings and framing

/// The upstream sends `mixed_body` encoded with `coding` in 97-byte frames: the client gets the
/// encoded bytes unchanged, the audit counts the decoded body.
async fn encoded_207_is_forwarded_encoded_and_audited_decoded(coding: &str) {
    let plain = mixed_body(40);
    let packed = oracle::encode(coding, plain.as_bytes());
    assert!(packed.len() < plain.len() / 4, "{coding} compresses");
    let upstream = FakeUpstream::always(
        Reply::multistatus(packed.clone())
            .header("content-encoding", coding)
            .framed(97),
    )
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let before = proxy.metrics().await;
    let response = raw_request(
        proxy.addr(),
        b"PROPPATCH /dir/ HTTP/1.1\r\nHost: dav.example\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\
          Connection: close\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 207);
    assert!(response.complete);
    assert_eq!(response.header("content-encoding"), Some(coding));
    assert_eq!(
        digest(&response.body),
        digest(&packed),
        "{coding}: the client gets the encoded bytes unchanged"
    );
    let decoded = decode(Some(coding), &response.body);
    assert_eq!(decoded, plain.as_bytes());
    let expected = Expected::from_oracle("PROPPATCH", &decoded, DEFAULT_RULES);
    assert_eq!(expected.outcome, "partial_failure");
    assert_audited(&proxy, &before, &expected).await;
}

#[tokio::test]
async fn gzip_207_is_forwarded_encoded_and_audited_decoded() {
    encoded_207_is_forwarded_encoded_and_audited_decoded("gzip").await;
}

#[tokio::test]
async fn deflate_207_is_forwarded_encoded_and_audited_decoded() {
    encoded_207_is_forwarded_encoded_and_audited_decoded("deflate").await;
}

#[tokio::test]
async fn br_207_is_forwarded_encoded_and_audited_decoded() {
    encoded_207_is_forwarded_encoded_and_audited_decoded("br").await;
}

#[tokio::test]
async fn zstd_207_is_forwarded_encoded_and_audited_decoded() {
    encoded_207_is_forwarded_encoded_and_audited_decoded("zstd").await;
}

/// A body that claims a content coding it does not have: forwarded unchanged, counted
/// `malformed` with the decode error as the reason.
async fn undecodable_207_is_forwarded_unchanged_and_counted_malformed(coding: &str) {
    let logs = LogCapture::start();
    let body = mixed_body(2);
    let upstream = FakeUpstream::always(
        Reply::multistatus(body.clone())
            .header("content-encoding", coding)
            .framed(64),
    )
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let before = proxy.metrics().await;
    let (status, headers, received) = send("DELETE", &proxy.url_for("/dir/"), &[], "").await;
    assert_eq!(status.as_u16(), 207);
    assert_eq!(headers["content-encoding"], coding);
    assert_eq!(received, body.as_bytes(), "forwarded unchanged");
    let after = proxy.audited(&before, &[("method", "DELETE")], 1).await;
    assert_eq!(
        after.delta(
            &before,
            "davaudit_multistatus_total",
            &[("method", "DELETE"), ("outcome", "malformed")]
        ),
        1.0,
        "{coding}: {:?}",
        after.labels_of("davaudit_multistatus_total")
    );
    let event = logs
        .wait_for("the malformed WARN", |e| {
            e.level() == "WARN" && e.message() == "multistatus body malformed"
        })
        .await;
    assert!(event.field("malformed_reason").is_some(), "{event:?}");
}

#[tokio::test]
async fn a_207_that_is_not_really_gzip_is_counted_malformed() {
    undecodable_207_is_forwarded_unchanged_and_counted_malformed("gzip").await;
}

#[tokio::test]
async fn a_207_that_is_not_really_zstd_is_counted_malformed() {
    undecodable_207_is_forwarded_unchanged_and_counted_malformed("zstd").await;
}

/// A coding the audit cannot undo: forwarded unchanged, `skipped`.
async fn unreadable_coding_is_skipped(coding: &str) {
    let body = mixed_body(1);
    let upstream =
        FakeUpstream::always(Reply::multistatus(body.clone()).header("content-encoding", coding))
            .await;
    let proxy = Proxy::start(&upstream.url()).await;
    assert_skipped(&proxy, &body).await;
}

#[tokio::test]
async fn a_207_with_an_unknown_content_coding_is_skipped() {
    unreadable_coding_is_skipped("compress").await;
}

#[tokio::test]
async fn a_207_with_a_coding_list_naming_an_unknown_coding_is_skipped() {
    unreadable_coding_is_skipped("gzip, compress").await;
}

#[tokio::test]
async fn a_207_in_one_byte_frames_is_counted_like_the_oracle() {
    let body = mixed_body(3);
    let upstream = FakeUpstream::always(Reply::multistatus(body.clone()).framed(1)).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let before = proxy.metrics().await;
    let response = raw_request(
        proxy.addr(),
        b"DELETE /dir/ HTTP/1.1\r\nHost: dav.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 207);
    assert!(response.complete);
    assert_eq!(response.body_str(), body);
    let expected = Expected::from_oracle("DELETE", body.as_bytes(), DEFAULT_RULES);
    assert_audited(&proxy, &before, &expected).await;
}

// ---------------------------------------------------------------------------------------------
// Broken bodies

const MALFORMED: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
    <D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/a/locked.txt</D:href>\
    <D:status>HTTP/1.1 423 Locked</D:status></D:response>\n\
    <D:response><D:href>/a/b.txt</D:href></D:propstat></D:response></D:multistatus>\n";

#[tokio::test] // current_thread: the audit task's WARN is captured
async fn a_malformed_body_is_forwarded_unchanged_and_counted_malformed_with_one_warn() {
    let logs = LogCapture::start();
    let upstream = FakeUpstream::always(Reply::multistatus(MALFORMED).framed(10)).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let before = proxy.metrics().await;
    let (status, _, body) = send("DELETE", &proxy.url_for("/a/"), &[], "").await;
    assert_eq!(status.as_u16(), 207);
    assert_eq!(body, MALFORMED.as_bytes(), "forwarded byte-identical");

    // Counts up to the error are kept: the first entry (423) was complete.
    let mut entries = Counts::new();
    entries.insert(("response".into(), "423".into()), 1);
    let expected = Expected {
        method: "DELETE",
        outcome: "malformed",
        failures: entries.clone(),
        entries,
        bytes: None,
    };
    assert_audited(&proxy, &before, &expected).await;

    let event = logs
        .wait_for("the malformed WARN", |e| {
            e.level() == "WARN" && e.message() == "multistatus body malformed"
        })
        .await;
    let offset = event
        .field("malformed_offset")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("malformed_offset in {event:?}"));
    let bad_tag = MALFORMED.find("</D:propstat>").unwrap() as u64;
    assert!(
        (bad_tag..=MALFORMED.len() as u64).contains(&offset),
        "offset {offset} should point at or after the mismatched end tag at {bad_tag}"
    );
    let reason = event
        .field("malformed_reason")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_else(|| panic!("malformed_reason in {event:?}"));
    assert!(!reason.is_empty());
    assert_eq!(event.field("method").unwrap(), "DELETE");
    assert_eq!(event.field("outcome").unwrap(), "malformed");
    assert_eq!(
        logs.at_level("WARN").len(),
        1,
        "exactly one WARN: {:?}",
        logs.at_level("WARN")
    );
}

#[tokio::test]
async fn an_upstream_reset_mid_body_reaches_the_client_and_is_counted_truncated() {
    let body = mixed_body(2);
    // Cut inside the second entry (after the first complete `</D:response>`, a 204, and the
    // 423 status of the second).
    let cut = body.find("</D:error>").unwrap() as u64;
    let upstream =
        FakeUpstream::always(Reply::multistatus(body.clone()).framed(50).reset_after(cut)).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let before = proxy.metrics().await;
    let response = raw_request(
        proxy.addr(),
        b"DELETE /dir/ HTTP/1.1\r\nHost: dav.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 207);
    assert!(!response.complete, "the client must see the body broke off");
    assert!(
        body.as_bytes().starts_with(&response.body),
        "what arrived is a prefix of what the upstream sent"
    );
    let mut entries = Counts::new();
    entries.insert(("response".into(), "204".into()), 1);
    entries.insert(("response".into(), "423".into()), 1);
    let mut failures = Counts::new();
    failures.insert(("response".into(), "423".into()), 1);
    let expected = Expected {
        method: "DELETE",
        outcome: "truncated",
        entries,
        failures,
        bytes: None,
    };
    let after = assert_audited(&proxy, &before, &expected).await;
    assert_eq!(
        after.delta(&before, "davaudit_audit_bytes_total", &[]),
        cut as f64,
        "every byte before the reset was scanned"
    );
}

#[tokio::test]
async fn a_client_leaving_mid_body_ends_the_audit_as_truncated() {
    // An endless-looking 207: ~32 MB in 1 KiB frames, one every 10 ms.
    let generated = GeneratedMultistatus::new(100_000);
    let upstream = FakeUpstream::always(
        Reply::generated_multistatus(generated)
            .framed(1024)
            .frame_delay(Duration::from_millis(10)),
    )
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let before = proxy.metrics().await;
    let client = HttpClient::http1();
    let response = client
        .request("PROPFIND", &proxy.url_for("/big/"), &[], client::empty())
        .await;
    assert_eq!(response.status(), 207);
    let mut body = response.into_body();
    // Read some of the body, then go away.
    let mut received = Vec::new();
    while received.len() < 4096 {
        let frame = within("a body frame", body.frame())
            .await
            .expect("body continues")
            .expect("body frame");
        if let Ok(data) = frame.into_data() {
            received.extend_from_slice(&data);
        }
    }
    assert_eq!(received, generated.slice(0, received.len()));
    drop(body);
    drop(client);

    // The audit task ends (its outcome is counted), with `truncated`.
    let after = proxy.audited(&before, &[("method", "PROPFIND")], 1).await;
    assert_eq!(
        after.delta(
            &before,
            "davaudit_multistatus_total",
            &[("method", "PROPFIND"), ("outcome", "truncated")]
        ),
        1.0,
        "{:?}",
        after.labels_of("davaudit_multistatus_total")
    );
    assert!(after.delta(&before, "davaudit_audit_bytes_total", &[]) < generated.len() as f64);
}

// ---------------------------------------------------------------------------------------------
// Large bodies and a slow scanner

/// What a streaming client saw of a generated body.
#[derive(Debug)]
struct Received {
    status: u16,
    bytes: u64,
    error: Option<String>,
}

/// Sends `method` to `url` and reads the whole body frame by frame, comparing every byte with
/// `generated` (never stored); panics at the first difference.
async fn fetch_generated(
    limit: Duration,
    method: &str,
    url: &str,
    generated: GeneratedMultistatus,
) -> Received {
    let response = HttpClient::http1()
        .request(method, url, &[], client::empty())
        .await;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut offset = 0u64;
    let mut error = None;
    within_for(limit, &format!("{method} {url}: the whole body"), async {
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    assert!(
                        offset + data.len() as u64 <= generated.len(),
                        "more bytes than the upstream sent"
                    );
                    if data[..] != generated.slice(offset, data.len())[..] {
                        panic!("body differs from the upstream's in the frame at offset {offset}");
                    }
                    offset += data.len() as u64;
                }
                Err(e) => {
                    error = Some(format!("{e:?}"));
                    break;
                }
            }
        }
    })
    .await;
    Received {
        status,
        bytes: offset,
        error,
    }
}

#[test]
fn the_generated_multistatus_is_counted_alike_by_the_oracle() {
    for entries in [1, 2, 3, 4, 5, 17] {
        let generated = GeneratedMultistatus::new(entries);
        let body = generated.whole();
        assert_eq!(body.len() as u64, generated.len());
        let oracle = count(&body);
        assert_eq!(oracle.entries, entries);
        assert_eq!(
            owned(oracle.status_counts()),
            owned(generated.status_counts())
        );
        assert_eq!(
            owned(oracle.failure_counts("PROPFIND")),
            owned(generated.propfind_failure_counts())
        );
        // Any slice is the same bytes as the whole.
        let mid = body.len() / 3;
        assert_eq!(generated.slice(mid as u64, 100.min(body.len() - mid)), {
            let end = (mid + 100).min(body.len());
            body[mid..end].to_vec()
        });
    }
}

/// What a complete audit of a generated body answered to a PROPFIND adds to the counters.
fn expected_generated(generated: GeneratedMultistatus, outcome: &str) -> Expected<'_> {
    Expected {
        method: "PROPFIND",
        outcome,
        entries: owned(generated.status_counts()),
        failures: owned(generated.propfind_failure_counts()),
        bytes: Some(generated.len()),
    }
}

/// Set in the child process that runs [`huge_207_in_this_process`].
const HUGE_CHILD: &str = "DAVAUDIT_TEST_HUGE_207_CHILD";

#[tokio::test]
async fn a_huge_streamed_207_is_audited_exactly_in_bounded_memory() {
    // VmHWM is per process and the other tests of this binary run in parallel: the huge 207
    // runs alone in a child process of this test binary, so its peak RSS is its own.
    let stdout = run_alone(
        "audit_edge_cases::huge_207_in_this_process",
        &[(HUGE_CHILD, "1")],
        Duration::from_secs(900),
    )
    .await;
    println!("{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a process of its own by a_huge_streamed_207_is_audited_exactly_in_bounded_memory"]
async fn huge_207_in_this_process() {
    // 256 MiB in debug builds, 1 GiB in release builds.
    let size: u64 = if cfg!(debug_assertions) {
        256 << 20
    } else {
        1 << 30
    };
    let generated = GeneratedMultistatus::with_size(size);
    let upstream = FakeUpstream::always(Reply::generated_multistatus(generated)).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let before = proxy.metrics().await;
    let hwm_before = vm_hwm_kib();

    propfind_every_byte(&proxy, generated, Duration::from_secs(600)).await;
    assert_audited(
        &proxy,
        &before,
        &expected_generated(generated, "partial_failure"),
    )
    .await;

    let hwm_after = vm_hwm_kib();
    if let (Some(a), Some(b)) = (hwm_before, hwm_after) {
        let growth = b.saturating_sub(a) * 1024;
        let alone = std::env::var_os(HUGE_CHILD).is_some();
        println!(
            "huge 207: {} bytes, {} entries; VmHWM {a} KiB -> {b} KiB: growth {} KiB \
             (fake upstream, davaudit and client in one process; {})",
            generated.len(),
            generated.entries(),
            growth >> 10,
            if alone {
                "alone in it"
            } else {
                "with other tests"
            }
        );
        // Only meaningful when no other test shares the process.
        if alone {
            assert!(
                growth < generated.len() / 4,
                "peak RSS grew by {growth} bytes for a {} byte body",
                generated.len()
            );
        }
    }
}

/// PROPFINDs `/big/` through `proxy` and checks the client got a 207 with every byte of
/// `generated`, unbroken, within `limit`.
async fn propfind_every_byte(proxy: &Proxy, generated: GeneratedMultistatus, limit: Duration) {
    let received = fetch_generated(limit, "PROPFIND", &proxy.url_for("/big/"), generated).await;
    assert_eq!(received.status, 207);
    assert_eq!(received.error, None);
    assert_eq!(received.bytes, generated.len(), "every byte arrived");
}

/// The one PROPFIND since `before` ended its audit `lagging`, having read less than the body.
async fn assert_lagging(proxy: &Proxy, before: &Metrics, generated: GeneratedMultistatus) {
    let after = proxy.audited(before, &[("method", "PROPFIND")], 1).await;
    assert_eq!(
        after.delta(
            before,
            "davaudit_multistatus_total",
            &[("method", "PROPFIND"), ("outcome", "lagging")]
        ),
        1.0,
        "{:?}",
        after.labels_of("davaudit_multistatus_total")
    );
    assert!(after.delta(before, "davaudit_audit_bytes_total", &[]) < generated.len() as f64);
}

/// A slow scanner for the policy tests: every chunk costs `delay`.
fn slow_scanner(delay: Duration) -> ::davaudit::Hooks {
    ::davaudit::Hooks {
        scan_delay: Some(delay),
    }
}

#[tokio::test]
async fn wait_policy_completes_the_audit_of_a_body_bigger_than_the_queue() {
    // 2 MiB in 16 KiB frames through a 64 KiB queue (the smallest allowed); each chunk takes
    // the scanner 10 ms, so the forwarded stream must wait for it (the same set-up with `skip`
    // ends `lagging`, below). A long stall timeout: this test is about `wait`.
    let generated = GeneratedMultistatus::with_size(2 << 20);
    let upstream =
        FakeUpstream::always(Reply::generated_multistatus(generated).framed(16 << 10)).await;
    let proxy = Proxy::start_with_hooks(
        &upstream.url(),
        "audit: {when_behind: wait, queue_bytes: 64KiB, stall_timeout: 60s}",
        slow_scanner(Duration::from_millis(10)),
    )
    .await;
    let before = proxy.metrics().await;
    propfind_every_byte(&proxy, generated, Duration::from_secs(120)).await;
    assert_audited(
        &proxy,
        &before,
        &expected_generated(generated, "partial_failure"),
    )
    .await;
}

/// A generated 207 of `size` bytes sent in `frame`-byte frames through davaudit on `workers`
/// worker threads (as the binary serves it) with `audit_yaml`: every byte arrives, and the
/// audit is complete and exact.
async fn a_stream_on_workers_is_audited_exactly(
    size: u64,
    frame: usize,
    audit_yaml: &str,
    workers: usize,
) {
    let generated = GeneratedMultistatus::with_size(size);
    let upstream =
        FakeUpstream::always(Reply::generated_multistatus(generated).framed(frame)).await;
    let proxy = Proxy::start_on_workers(&upstream.url(), audit_yaml, workers).await;
    let before = proxy.metrics().await;
    propfind_every_byte(&proxy, generated, Duration::from_secs(300)).await;
    assert_audited(
        &proxy,
        &before,
        &expected_generated(generated, "partial_failure"),
    )
    .await;
}

/// Two workers, with `audit.offload_after`: a 207 long enough for its audit to move to the
/// idle worker (past 8 MiB), through a small queue so forwarding is paced to the moved audit,
/// which gives budget back in lumps.
#[tokio::test]
async fn a_long_207s_audit_moved_to_the_idle_worker_paces_the_stream_and_stays_exact() {
    a_stream_on_workers_is_audited_exactly(
        20 << 20,
        16 << 10,
        "audit: {when_behind: wait, queue_bytes: 64KiB, stall_timeout: 60s, offload_after: 8MiB}",
        2,
    )
    .await;
}

/// `skip` with the scanner on the forwarding's thread (the default) and the upstream as fast
/// as loopback: the audit takes what is queued whenever it runs, so a scanner that keeps up
/// with forwarding never stops as `lagging` (it did after ~20 MB of a 256 MiB stream: each
/// turn forwarded more than the audit, yielding every 1 MiB, scanned).
#[tokio::test]
async fn skip_policy_with_a_scanner_on_the_same_thread_audits_a_fast_stream_to_its_end() {
    a_stream_on_workers_is_audited_exactly(24 << 20, 64 << 10, "audit: {when_behind: skip}", 1)
        .await;
}

#[tokio::test]
async fn skip_policy_stops_the_audit_as_lagging_and_forwards_every_byte() {
    // As above, with a slower scanner: the queue fills at once, and `skip` never waits.
    let generated = GeneratedMultistatus::with_size(2 << 20);
    let upstream =
        FakeUpstream::always(Reply::generated_multistatus(generated).framed(16 << 10)).await;
    let proxy = Proxy::start_with_hooks(
        &upstream.url(),
        "audit: {when_behind: skip, queue_bytes: 64KiB}",
        slow_scanner(Duration::from_millis(100)),
    )
    .await;
    let before = proxy.metrics().await;
    propfind_every_byte(&proxy, generated, Duration::from_secs(120)).await;
    assert_lagging(&proxy, &before, generated).await;
}

#[tokio::test]
async fn wait_policy_gives_up_as_lagging_after_the_stall_timeout_and_forwards_every_byte() {
    let generated = GeneratedMultistatus::with_size(4 << 20);
    let upstream =
        FakeUpstream::always(Reply::generated_multistatus(generated).framed(16 << 10)).await;
    let proxy = Proxy::start_with_hooks(
        &upstream.url(),
        "audit: {when_behind: wait, queue_bytes: 64KiB, stall_timeout: 50ms}",
        slow_scanner(Duration::from_millis(500)),
    )
    .await;
    let before = proxy.metrics().await;
    propfind_every_byte(&proxy, generated, Duration::from_secs(120)).await;
    assert_lagging(&proxy, &before, generated).await;
}

// ---------------------------------------------------------------------------------------------
// Skipped audits

/// Sends one DELETE through `proxy`, checks the body arrived unchanged and the audit said
/// `skipped` without counting any entry.
async fn assert_skipped(proxy: &Proxy, body: &str) {
    let before = proxy.metrics().await;
    let (status, _, received) = send("DELETE", &proxy.url_for("/dir/"), &[], "").await;
    assert_eq!(status.as_u16(), 207);
    assert_eq!(received, body.as_bytes());
    let expected = Expected {
        method: "DELETE",
        outcome: "skipped",
        entries: Counts::new(),
        failures: Counts::new(),
        bytes: Some(0),
    };
    assert_audited(proxy, &before, &expected).await;
}

/// Issue 14 item 6: WebDAV client libraries parse a 207 whatever its label, so the audit
/// sniffs a 207 sent as `text/plain`, `text/html` or `application/octet-stream` and counts it
/// (counts from the independent oracle).
#[tokio::test]
async fn a_207_labelled_plain_html_or_octet_stream_is_sniffed_and_audited() {
    let body = mixed_body(2);
    for label in [
        "text/plain",
        "text/html; charset=utf-8",
        "application/octet-stream",
    ] {
        let upstream = FakeUpstream::always(
            Reply::status(207)
                .header("content-type", label)
                .body(body.clone()),
        )
        .await;
        let proxy = Proxy::start(&upstream.url()).await;
        let before = proxy.metrics().await;
        let (status, _, received) = send("DELETE", &proxy.url_for("/dir/"), &[], "").await;
        assert_eq!(status.as_u16(), 207);
        assert_eq!(received, body.as_bytes(), "{label}: forwarded unchanged");
        let expected = Expected::from_oracle("DELETE", body.as_bytes(), DEFAULT_RULES);
        assert_eq!(expected.outcome, "partial_failure");
        assert_audited(&proxy, &before, &expected).await;
    }
}

/// A sniffed 207 that shows no `DAV:response` (an HTML error page) is `skipped`, not
/// `malformed`; a 207 with a type that is neither XML nor generic is never read.
#[tokio::test]
async fn a_207_that_is_not_xml_is_skipped() {
    let page = "<html><body><p>Error<br></p></body></html>";
    let upstream = FakeUpstream::always(
        Reply::status(207)
            .header("content-type", "text/html")
            .body(page),
    )
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    let before = proxy.metrics().await;
    let (status, _, received) = send("DELETE", &proxy.url_for("/dir/"), &[], "").await;
    assert_eq!(status.as_u16(), 207);
    assert_eq!(received, page.as_bytes());
    let expected = Expected {
        method: "DELETE",
        outcome: "skipped",
        entries: Counts::new(),
        failures: Counts::new(),
        bytes: Some(page.len() as u64),
    };
    assert_audited(&proxy, &before, &expected).await;

    let body = mixed_body(1);
    let upstream = FakeUpstream::always(
        Reply::status(207)
            .header("content-type", "application/json")
            .body(body.clone()),
    )
    .await;
    let proxy = Proxy::start(&upstream.url()).await;
    assert_skipped(&proxy, &body).await;
}

#[tokio::test]
async fn a_disabled_audit_skips_every_207() {
    let body = mixed_body(1);
    let upstream = FakeUpstream::always(Reply::multistatus(body.clone())).await;
    let proxy = Proxy::start_with(&upstream.url(), "audit: {enabled: false}").await;
    assert_skipped(&proxy, &body).await;
}

// ---------------------------------------------------------------------------------------------
// Routine rules

/// Two resources, each with a found property (200) and a missing one (404).
const MISSING_PROPS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:Z="urn:example:z">
  <D:response><D:href>/d/a.txt</D:href>
    <D:propstat><D:prop><D:getcontentlength>1</D:getcontentlength></D:prop>
      <D:status>HTTP/1.1 200 OK</D:status></D:propstat>
    <D:propstat><D:prop><Z:color/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>
  </D:response>
  <D:response><D:href>/d/b.txt</D:href>
    <D:propstat><D:prop><D:getcontentlength>2</D:getcontentlength></D:prop>
      <D:status>HTTP/1.1 200 OK</D:status></D:propstat>
    <D:propstat><D:prop><Z:color/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>
  </D:response>
</D:multistatus>
"#;

async fn audit_missing_props(extra_yaml: &str, method: &str, rules: &[Rule], outcome: &str) {
    let upstream = FakeUpstream::always(Reply::multistatus(MISSING_PROPS)).await;
    let proxy = Proxy::start_with(&upstream.url(), extra_yaml).await;
    let before = proxy.metrics().await;
    let (status, _, body) = send(method, &proxy.url_for("/d/"), &[("depth", "1")], "").await;
    assert_eq!(status.as_u16(), 207);
    assert_eq!(body, MISSING_PROPS.as_bytes());
    let expected = Expected::from_oracle(method, &body, rules);
    assert_eq!(expected.outcome, outcome, "oracle outcome for {method}");
    let mut entries = Counts::new();
    entries.insert(("propstat".into(), "200".into()), 2);
    entries.insert(("propstat".into(), "404".into()), 2);
    assert_eq!(expected.entries, entries);
    assert_audited(&proxy, &before, &expected).await;
}

#[tokio::test]
async fn propfind_404_propstats_are_counted_but_routine() {
    audit_missing_props("", "PROPFIND", DEFAULT_RULES, "clean").await;
}

#[tokio::test]
async fn proppatch_404_propstats_are_failures() {
    audit_missing_props("", "PROPPATCH", DEFAULT_RULES, "partial_failure").await;
}

#[tokio::test]
async fn an_empty_routine_list_makes_propfind_404_propstats_failures() {
    audit_missing_props("audit: {routine: []}", "PROPFIND", &[], "partial_failure").await;
}
