//! Scanner throughput against its peer on the same bytes, same run (STYLE.md §11): the full
//! [`Scanner`] (64 KiB chunks, as the audit task feeds it) vs quick-xml's raw `Reader` event
//! loop over a slice (no namespace resolution, no counting) on a generated ~100 MB
//! PROPFIND-shaped multistatus (Apache mod_dav allprop shape, one 404 propstat in 8).
//!
//! Run: `cargo bench --bench scanner`. Criterion reports each as throughput; after it, an
//! interleaved best-of-N pass prints `scanner MB/s`, `quick-xml Reader MB/s` and the ratio.
//! `SCANNER_BENCH_MB` changes the body size. Under `cargo test` (no `--bench` argument) it
//! is a smoke test: a 1 MiB body, each function once, no ratio printed.
//!
//! Instruction counts (deterministic, unlike wall time on a shared machine):
//! `SCANNER_BENCH_ONCE=apache|harness` scans one ~20 MB body (`SCANNER_BENCH_MB` changes
//! it) once in `scan_once` and exits, e.g.
//! `SCANNER_BENCH_ONCE=harness valgrind --tool=callgrind --toggle-collect='*scan_once*'
//! target/release/deps/scanner-*` (Ir / body bytes = instructions per byte). `apache` is the
//! body below; `harness` is the load harness's body (`bench/backend`: 20-entry cycle with
//! propstat 200/404, response-level 423 with `DAV:error`, 403).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use davaudit::multistatus::{AllErrors, BodyEnd, Limits, Outcome, Scanner};
use quick_xml::events::Event;

/// One Depth: 1 PROPFIND allprop entry, as Apache mod_dav writes it.
fn entry(out: &mut String, i: usize) {
    use std::fmt::Write;
    let _ = write!(
        out,
        r#"<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/" xmlns:g0="DAV:">
<D:href>/dav/projects/report-{i:08}.txt</D:href>
<D:propstat>
<D:prop>
<lp1:resourcetype/>
<lp1:creationdate>2024-05-01T10:00:00Z</lp1:creationdate>
<lp1:getcontentlength>{len}</lp1:getcontentlength>
<lp1:getlastmodified>Wed, 01 May 2024 10:00:00 GMT</lp1:getlastmodified>
<lp1:getetag>"{i:x}-61750dd1b0b40"</lp1:getetag>
<lp2:executable>F</lp2:executable>
<D:supportedlock>
<D:lockentry>
<D:lockscope><D:exclusive/></D:lockscope>
<D:locktype><D:write/></D:locktype>
</D:lockentry>
<D:lockentry>
<D:lockscope><D:shared/></D:lockscope>
<D:locktype><D:write/></D:locktype>
</D:lockentry>
</D:supportedlock>
<D:lockdiscovery/>
<D:getcontenttype>text/plain</D:getcontenttype>
</D:prop>
<D:status>HTTP/1.1 200 OK</D:status>
</D:propstat>
"#,
        len = i.wrapping_mul(7919) % 1_000_000,
    );
    if i.is_multiple_of(8) {
        out.push_str(
            "<D:propstat>\n<D:prop>\n<g0:quota-used-bytes/>\n</D:prop>\n<D:status>HTTP/1.1 404 Not Found</D:status>\n</D:propstat>\n",
        );
    }
    out.push_str("</D:response>\n");
}

/// A multistatus of about `mb` MiB.
pub fn propfind_body(mb: usize) -> Vec<u8> {
    let mut s = String::with_capacity((mb << 20) + 4096);
    s.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:ns0=\"DAV:\">\n");
    let mut i = 0;
    while s.len() < mb << 20 {
        entry(&mut s, i);
        i += 1;
    }
    s.push_str("</D:multistatus>\n");
    s.into_bytes()
}

/// The load harness's entry `i` (same bytes as `bench/backend`'s `entry`).
fn harness_entry(out: &mut String, i: usize) {
    use std::fmt::Write;
    let dir = "/dav/q1-2026";
    match i % 20 {
        3 | 11 | 17 => {
            let _ = writeln!(
                out,
                "<d:response><d:href>{dir}/d{i:06}.odt</d:href>\
<d:status>HTTP/1.1 423 Locked</d:status><d:error><d:lock-token-submitted>\
<d:href>{dir}/</d:href></d:lock-token-submitted></d:error>\
<d:responsedescription>The resource is locked by another client.</d:responsedescription>\
</d:response>"
            );
        }
        7 => {
            let _ = writeln!(
                out,
                "<d:response><d:href>{dir}/p{i:06}/</d:href>\
<d:status>HTTP/1.1 403 Forbidden</d:status></d:response>"
            );
        }
        k => {
            let _ = write!(
                out,
                "<d:response><d:href>{dir}/r{i:06}.pdf</d:href><d:propstat><d:prop>\
<d:displayname>r{i:06}.pdf</d:displayname>\
<d:getcontentlength>{len}</d:getcontentlength>\
<d:getlastmodified>Tue, 03 Mar 2026 10:{mm:02}:{ss:02} GMT</d:getlastmodified>\
<d:getetag>&quot;{etag:08x}&quot;</d:getetag><d:resourcetype/></d:prop>\
<d:status>HTTP/1.1 200 OK</d:status></d:propstat>",
                len = 1000 + i * 37 % 900_000,
                mm = i / 60 % 60,
                ss = i % 60,
                etag = (i as u32).wrapping_mul(2_654_435_761),
            );
            if k != 5 && k != 13 {
                out.push_str(
                    "<d:propstat><d:prop><oc:checksums/></d:prop>\
<d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>",
                );
            }
            out.push_str("</d:response>\n");
        }
    }
}

/// The load harness's multistatus of about `mb` MiB.
fn harness_body(mb: usize) -> Vec<u8> {
    let mut s = String::with_capacity((mb << 20) + 4096);
    s.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus xmlns:d=\"DAV:\" xmlns:oc=\"http://owncloud.org/ns\">\n");
    let mut i = 0;
    while s.len() < mb << 20 {
        harness_entry(&mut s, i);
        i += 1;
    }
    s.push_str("</d:multistatus>\n");
    s.into_bytes()
}

/// One scan, alone in its function so callgrind can count just it (`--toggle-collect`).
#[inline(never)]
fn scan_once(body: &[u8]) -> u64 {
    scanner(black_box(body))
}

fn scanner(body: &[u8]) -> u64 {
    let mut s = Scanner::new(AllErrors, Limits::default());
    for chunk in body.chunks(64 * 1024) {
        s.feed(chunk);
    }
    let r = s.finish(BodyEnd::Complete);
    assert_eq!(r.outcome, Outcome::PartialFailure);
    r.entries
}

fn quick_xml_reader(body: &[u8]) -> u64 {
    let mut r = quick_xml::Reader::from_reader(body);
    let mut events = 0u64;
    loop {
        match r.read_event() {
            Ok(Event::Eof) => return events,
            Ok(e) => {
                black_box(&e);
                events += 1;
            }
            Err(e) => panic!("quick-xml: {e}"),
        }
    }
}

fn best_of(n: usize, body: &[u8], f: fn(&[u8]) -> u64) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            black_box(f(black_box(body)));
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let mb_var = std::env::var("SCANNER_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok());
    if let Ok(which) = std::env::var("SCANNER_BENCH_ONCE") {
        let mb = mb_var.unwrap_or(20);
        let body = match which.as_str() {
            "harness" => harness_body(mb),
            _ => propfind_body(mb),
        };
        let entries = scan_once(&body);
        println!("{which}: {} bytes, {entries} entries", body.len());
        return;
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets`, `--benches`)
    // criterion runs each function once as a smoke test: a small body, and no timing.
    let measuring = std::env::args().any(|a| a == "--bench");
    let mb = mb_var.unwrap_or(if measuring { 100 } else { 1 });
    let body = propfind_body(mb);
    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("multistatus");
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function("scanner", |b| b.iter(|| scanner(black_box(&body))));
        g.bench_function("quick_xml_reader", |b| {
            b.iter(|| quick_xml_reader(black_box(&body)))
        });
        g.finish();
    }
    c.final_summary();
    if !measuring || std::env::args().any(|a| a == "--list" || a == "--test") {
        // A ratio from one unoptimised pass over 1 MB would only mislead.
        return;
    }
    // Interleaved rounds so both see the same machine state.
    let (mut ours, mut peer) = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        ours = ours.min(best_of(1, &body, scanner));
        peer = peer.min(best_of(1, &body, quick_xml_reader));
    }
    let mbps = |d: Duration| body.len() as f64 / d.as_secs_f64() / 1e6;
    println!(
        "body {:.1} MB: scanner {:.0} MB/s, quick-xml 0.42 Reader {:.0} MB/s, ratio {:.2}x",
        body.len() as f64 / 1e6,
        mbps(ours),
        mbps(peer),
        mbps(ours) / mbps(peer)
    );
}
