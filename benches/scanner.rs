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
//! `SCANNER_BENCH_ONCE=SHAPE` scans one ~20 MB body (`SCANNER_BENCH_MB` changes
//! it) once in `scan_once` and exits, e.g.
//! `SCANNER_BENCH_ONCE=harness valgrind --tool=callgrind --toggle-collect='*scan_once*'
//! target/release/deps/scanner-*` (Ir / body bytes = instructions per byte). Shapes
//! (`shapes::SHAPES`, generated in `benches/shapes/`): `apache` mod_dav allprop; `harness` is the load harness's body
//! (`bench/backend`: 20-entry cycle with propstat 200/404, response-level 423 with
//! `DAV:error`, 403); `dav_ext` nginx's dav-ext allprop; `nextcloud` SabreDAV/Nextcloud
//! (seven namespaces, `oc:`/`nc:` properties, long ETags and checksums, a 404 propstat);
//! `caldav` a `calendar-multiget` with ~2.5 KB of `calendar-data` per entry; `failures`
//! DELETE/MOVE answers where every entry fails. Criterion benches every shape against
//! quick-xml's Reader on the same bytes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use davaudit::multistatus::{AllErrors, BodyEnd, Limits, Outcome, Scanner};
use quick_xml::events::Event;
use shapes::{SHAPES, propfind_body, shape_body};

mod shapes;

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
    assert!(
        matches!(r.outcome, Outcome::PartialFailure | Outcome::Clean),
        "{:?}",
        r.outcome
    );
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
        let body = shape_body(&which, mb);
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
    // Every other shape: a speed-up must hold on each, not on one.
    let shape_mb = mb_var.unwrap_or(if measuring { 32 } else { 1 }).min(32);
    let others: Vec<(&str, Vec<u8>)> = SHAPES
        .iter()
        .filter(|s| **s != "apache")
        .map(|s| (*s, shape_body(s, shape_mb)))
        .collect();
    {
        let mut g = c.benchmark_group("shapes");
        for (shape, body) in &others {
            g.throughput(Throughput::Bytes(body.len() as u64));
            g.bench_function(format!("scanner/{shape}"), |b| {
                b.iter(|| scanner(black_box(body)))
            });
            g.bench_function(format!("quick_xml_reader/{shape}"), |b| {
                b.iter(|| quick_xml_reader(black_box(body)))
            });
        }
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
