//! The cost of auditing without XML: `TeeBody` vs a plain pass-through of the same frames,
//! 1 byte to 64 KiB per frame. Reported as throughput; compare the two lines of one size.
//! Run: `cargo bench --bench tee`.
#![allow(
    clippy::unwrap_used,
    reason = "a benchmark: a failure should stop it loudly"
)]

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use davaudit::internals::{Message, TeeBody, WhenFull};
use http_body::{Body, Frame};
use http_body_util::BodyExt;

const TOTAL: usize = 4 * 1024 * 1024;

struct Frames(VecDeque<Bytes>);

impl Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

fn frames(size: usize) -> Frames {
    let chunk = Bytes::from(vec![b'x'; size]);
    Frames((0..TOTAL / size).map(|_| chunk.clone()).collect())
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("tee");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    for size in [64usize, 1024, 16 * 1024, 64 * 1024] {
        group.bench_with_input(BenchmarkId::new("passthrough", size), &size, |b, &size| {
            b.iter_batched(
                || frames(size),
                |body| runtime.block_on(async { body.collect().await.unwrap() }),
                criterion::BatchSize::LargeInput,
            );
        });
        group.bench_with_input(BenchmarkId::new("tee", size), &size, |b, &size| {
            b.iter_batched(
                || frames(size),
                |body| {
                    runtime.block_on(async {
                        let (tee, mut rx) =
                            TeeBody::new(body, 4 << 20, WhenFull::Wait(Duration::from_secs(1)));
                        // The audit side: take each chunk and give its budget back.
                        let drain = tokio::spawn(async move {
                            let mut n = 0usize;
                            while let Some(message) = rx.recv().await {
                                if let Message::Data(chunks, budget) = message {
                                    n += chunks.iter().map(|c| c.len()).sum::<usize>();
                                    drop(budget);
                                }
                            }
                            n
                        });
                        let body = tee.collect().await.unwrap();
                        assert_eq!(drain.await.unwrap(), TOTAL - TOTAL % size);
                        body
                    })
                },
                criterion::BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
