//! The audit of a gzip 207 against inflating the same body alone, same run (issue 13): the
//! load harness's 207 x10,000 shape (~4 MB decoded), gzipped, fed in 64 KiB chunks as the
//! tee queues them.
//!
//! - `inflate_alone`: flate2's `Decompress` (zlib-rs backend, the one the audit uses) into a
//!   32 KiB buffer, output discarded: the floor for any audit of this body.
//! - `audit`: what the audit task does per chunk: `audit::decode::Decoder` (gzip framing,
//!   CRC, inflate) handing each decoded run to the `Scanner`, then `finish`.
//! - `scan_alone`: the scanner over the decoded body, for the split.
//!
//! Run: `cargo bench --bench decode`; after criterion it prints the audit ÷ inflate ratio from
//! an interleaved best-of-5. `DECODE_BENCH_ONCE=inflate|audit|scan` runs one pass in
//! `run_once` for callgrind (`--toggle-collect='*run_once*'`).
#![allow(
    clippy::unwrap_used,
    reason = "a benchmark: a failure should stop it loudly"
)]

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use davaudit::internals::{Decoder, parse_content_codings as parse};
use davaudit::multistatus::{AllErrors, BodyEnd, Limits, Outcome, Scanner};
use flate2::{Decompress, FlushDecompress, Status};

mod shapes;

fn gzip(plain: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(plain).unwrap();
    e.finish().unwrap()
}

/// Raw inflate of the gzip member's deflate stream (header skipped: 10 bytes, no flags).
fn inflate_alone(coded: &[u8]) -> u64 {
    let mut inflate = Decompress::new(false);
    let mut out = vec![0u8; 32 * 1024];
    let mut produced = 0u64;
    for chunk in coded[10..].chunks(64 * 1024) {
        let mut input = chunk;
        loop {
            let (i0, o0) = (inflate.total_in(), inflate.total_out());
            let status = inflate
                .decompress(input, &mut out, FlushDecompress::None)
                .unwrap();
            let used = (inflate.total_in() - i0) as usize;
            let made = (inflate.total_out() - o0) as usize;
            black_box(&out[..made]);
            produced += made as u64;
            input = &input[used..];
            if status == Status::StreamEnd || (input.is_empty() && made < out.len()) {
                break;
            }
        }
    }
    produced
}

fn audit(coded: &[u8]) -> u64 {
    let mut decoder = Decoder::new(&parse([&b"gzip"[..]]).unwrap());
    let mut scanner = Scanner::new(AllErrors, Limits::default());
    for chunk in coded.chunks(64 * 1024) {
        decoder.push(chunk, &mut |out| scanner.feed(out)).unwrap();
    }
    decoder.finish(&mut |out| scanner.feed(out)).unwrap();
    let report = scanner.finish(BodyEnd::Complete);
    assert_eq!(report.outcome, Outcome::PartialFailure);
    report.bytes
}

fn scan_alone(plain: &[u8]) -> u64 {
    let mut scanner = Scanner::new(AllErrors, Limits::default());
    for chunk in plain.chunks(32 * 1024) {
        scanner.feed(chunk);
    }
    scanner.finish(BodyEnd::Complete).bytes
}

#[inline(never)]
fn run_once(which: &str, plain: &[u8], coded: &[u8]) -> u64 {
    match which {
        "inflate" => inflate_alone(black_box(coded)),
        "scan" => scan_alone(black_box(plain)),
        _ => audit(black_box(coded)),
    }
}

fn best_of(n: usize, f: impl Fn() -> u64) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    // About the harness's 207 x10,000 (4.09 MB).
    let plain = shapes::shape_body("harness", 4);
    let coded = gzip(&plain);
    assert_eq!(inflate_alone(&coded), plain.len() as u64);
    assert_eq!(audit(&coded), plain.len() as u64);
    if let Ok(which) = std::env::var("DECODE_BENCH_ONCE") {
        let n = run_once(&which, &plain, &coded);
        println!("{which}: {} bytes decoded from {} coded", n, coded.len());
        return;
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets`) the checks
    // above were the smoke test.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("gzip_207");
        g.throughput(Throughput::Bytes(plain.len() as u64));
        g.bench_function("inflate_alone", |b| {
            b.iter(|| inflate_alone(black_box(&coded)))
        });
        g.bench_function("audit", |b| b.iter(|| audit(black_box(&coded))));
        g.bench_function("scan_alone", |b| b.iter(|| scan_alone(black_box(&plain))));
        g.finish();
    }
    c.final_summary();
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let (mut inflate, mut full, mut scan) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        inflate = inflate.min(best_of(1, || inflate_alone(&coded)));
        full = full.min(best_of(1, || audit(&coded)));
        scan = scan.min(best_of(1, || scan_alone(&plain)));
    }
    let mbps = |d: Duration| plain.len() as f64 / d.as_secs_f64() / 1e6;
    println!(
        "gzip 207 x10,000 ({:.2} MB decoded, {:.0} KB coded): inflate alone {:.0} MB/s, \
         audit (decode + scan) {:.0} MB/s, scan alone {:.0} MB/s; audit / inflate alone = {:.2}x",
        plain.len() as f64 / 1e6,
        coded.len() as f64 / 1e3,
        mbps(inflate),
        mbps(full),
        mbps(scan),
        full.as_secs_f64() / inflate.as_secs_f64()
    );
}
