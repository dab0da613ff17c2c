//! Scanner throughput against its peer on the same bytes, same run (STYLE.md §11): the full
//! [`Scanner`] (64 KiB chunks, as the audit task feeds it) vs quick-xml's raw `Reader` event
//! loop over a slice (no namespace resolution, no counting) on a generated ~100 MB
//! PROPFIND-shaped multistatus (Apache mod_dav allprop shape, one 404 propstat in 8).
//!
//! Run: `cargo bench --bench scanner`. Criterion reports each as throughput; after it, an
//! interleaved best-of-N pass prints `scanner MB/s`, `quick-xml Reader MB/s` and the ratio.
//! `SCANNER_BENCH_MB` changes the body size.

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
    let mb = std::env::var("SCANNER_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
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
    if std::env::args().any(|a| a == "--list" || a == "--test") {
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
