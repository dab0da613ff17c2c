use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

use super::{Chunks, Coalesce, MAX_BYTES};

/// One answer of the scripted body per poll.
enum Step {
    Data(&'static [u8]),
    Owned(Bytes),
    Pending,
    Trailers,
    Error,
}

/// A body that answers each poll with the next step, then `None`.
struct Script {
    steps: VecDeque<Step>,
    /// `is_end_stream` once the steps are used up (a body with a known length).
    knows_end: bool,
}

impl Script {
    fn new(steps: Vec<Step>) -> Self {
        Script {
            steps: steps.into(),
            knows_end: false,
        }
    }
}

impl Body for Script {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
        Poll::Ready(match self.steps.pop_front() {
            None => None,
            Some(Step::Pending) => return Poll::Pending,
            Some(Step::Data(d)) => Some(Ok(Frame::data(Bytes::from_static(d)))),
            Some(Step::Owned(b)) => Some(Ok(Frame::data(b))),
            Some(Step::Trailers) => {
                let mut t = HeaderMap::new();
                t.insert("x-t", "1".parse().unwrap());
                Some(Ok(Frame::trailers(t)))
            }
            Some(Step::Error) => Some(Err("boom")),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.knows_end && self.steps.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(7)
    }
}

#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, PartialEq)]
enum Seen {
    Data(Vec<u8>, usize),
    Trailers,
    Error,
    Pending,
    End,
}

/// Polls `body` `polls` times (or to its end) and says what each poll gave, and the wakes.
fn drive(body: Script, polls: usize) -> (Vec<Seen>, usize, bool) {
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    let mut body = Coalesce::new(body, true);
    let mut seen = Vec::new();
    for _ in 0..polls {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Pending => seen.push(Seen::Pending),
            Poll::Ready(None) => {
                seen.push(Seen::End);
                break;
            }
            Poll::Ready(Some(Err(_))) => seen.push(Seen::Error),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    let parts = data.parts.len();
                    seen.push(Seen::Data(
                        data.copy_to_bytes(data.remaining()).to_vec(),
                        parts,
                    ));
                }
                Err(_) => seen.push(Seen::Trailers),
            },
        }
    }
    let end = body.is_end_stream();
    (seen, count.0.load(Ordering::Relaxed), end)
}

fn data(bytes: &[u8], parts: usize) -> Seen {
    Seen::Data(bytes.to_vec(), parts)
}

#[test]
fn frames_ready_in_a_row_or_after_one_turn_go_out_as_one_in_order() {
    let script = Script::new(vec![
        Step::Data(b"ab"),
        Step::Data(b"cd"),
        Step::Pending,
        Step::Data(b"ef"),
        Step::Pending,
        Step::Pending,
        Step::Data(b"gh"),
    ]);
    let (seen, wakes, end) = drive(script, 20);
    assert_eq!(
        seen,
        [
            Seen::Pending,
            Seen::Pending,
            data(b"abcdef", 3),
            data(b"gh", 1),
            Seen::End
        ]
    );
    // One self-wake per gathered frame that met a pending body: never more.
    assert_eq!(wakes, 2);
    assert!(end);
}

#[test]
fn a_body_with_nothing_gathered_waits_without_waking_itself() {
    let (seen, wakes, _) = drive(
        Script::new(vec![Step::Pending, Step::Pending, Step::Data(b"x")]),
        2,
    );
    assert_eq!(seen, [Seen::Pending, Seen::Pending]);
    assert_eq!(wakes, 0);
}

#[test]
fn the_last_frame_of_a_body_that_knows_its_end_goes_out_at_once() {
    let mut script = Script::new(vec![Step::Data(b"whole")]);
    script.knows_end = true;
    let (seen, wakes, end) = drive(script, 1);
    assert_eq!(seen, [data(b"whole", 1)]);
    assert_eq!(wakes, 0);
    assert!(end, "hyper must see the end right after the frame");
}

#[test]
fn trailers_and_errors_follow_the_frames_before_them() {
    let (seen, _, _) = drive(
        Script::new(vec![Step::Data(b"a"), Step::Data(b"b"), Step::Trailers]),
        10,
    );
    assert_eq!(seen, [data(b"ab", 2), Seen::Trailers, Seen::End]);
    let (seen, _, _) = drive(
        Script::new(vec![Step::Data(b"a"), Step::Error, Step::Data(b"z")]),
        3,
    );
    assert_eq!(seen, [data(b"a", 1), Seen::Error, data(b"z", 1)]);
    let (seen, _, _) = drive(Script::new(vec![Step::Error]), 1);
    assert_eq!(seen, [Seen::Error]);
}

#[test]
fn empty_frames_are_dropped_and_an_empty_body_ends() {
    let (seen, wakes, end) = drive(Script::new(vec![Step::Data(b""), Step::Data(b"")]), 5);
    assert_eq!(seen, [Seen::End]);
    assert_eq!(wakes, 0);
    assert!(end);
}

#[test]
fn at_most_max_bytes_or_max_parts_are_gathered() {
    let big = Bytes::from(vec![7u8; MAX_BYTES / 2]);
    let script = Script::new(vec![
        Step::Owned(big.clone()),
        Step::Owned(big.clone()),
        Step::Owned(big.clone()),
    ]);
    let (seen, _, _) = drive(script, 3);
    let sizes: Vec<usize> = seen
        .iter()
        .map(|s| match s {
            Seen::Data(d, _) => d.len(),
            _ => 0,
        })
        .collect();
    assert_eq!(sizes, [MAX_BYTES, MAX_BYTES / 2, 0]);
    let many: Vec<Step> = (0..70).map(|_| Step::Data(b"x")).collect();
    let (seen, _, _) = drive(Script::new(many), 2);
    assert_eq!(seen, [data(&[b'x'; 62], 62), data(&[b'x'; 8], 8)]);
}

#[test]
fn chunks_read_as_one_buffer_across_parts() {
    let mut chunks = Chunks::from(Bytes::from_static(b"hello "));
    chunks.push(Bytes::from_static(b"world"));
    assert_eq!(chunks.remaining(), 11);
    assert_eq!(chunks.chunk(), b"hello ");
    let mut slots = [std::io::IoSlice::new(&[]); 4];
    assert_eq!(chunks.chunks_vectored(&mut slots), 2);
    assert_eq!(&*slots[1], b"world");
    chunks.advance(4);
    assert_eq!(chunks.chunk(), b"o ");
    assert_eq!(chunks.copy_to_bytes(1), Bytes::from_static(b"o"));
    assert_eq!(chunks.copy_to_bytes(3), Bytes::from_static(b" wo"));
    assert_eq!(chunks.remaining(), 3);
    chunks.advance(3);
    assert_eq!(chunks.remaining(), 0);
    assert!(chunks.chunk().is_empty());
}

#[test]
fn the_size_hint_counts_what_is_held() {
    let body = Coalesce::new(Script::new(vec![]), true);
    assert_eq!(body.size_hint().exact(), Some(7));
}

/// Frames sent by another task through a channel of one.
struct Channel(tokio::sync::mpsc::Receiver<Bytes>);

impl Body for Channel {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// hyper polls a pending body a second time in the same pass; the gathered frames still wait
/// for the turn, in which the producer hands over its next frame.
#[tokio::test]
async fn frames_from_another_task_are_gathered_though_polled_twice_per_pass() {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let producer = tokio::spawn(async move {
        for part in [&b"a"[..], b"b", b"c"] {
            tx.send(Bytes::from_static(part)).await.unwrap();
        }
    });
    let mut body = Coalesce::new(Channel(rx), true);
    let mut passes = 0;
    let frame = std::future::poll_fn(|cx| {
        passes += 1;
        match Pin::new(&mut body).poll_frame(cx) {
            Poll::Pending => Pin::new(&mut body).poll_frame(cx),
            ready => ready,
        }
    })
    .await;
    let mut data = frame.unwrap().unwrap().into_data().unwrap();
    assert_eq!(
        data.copy_to_bytes(data.remaining()),
        Bytes::from_static(b"abc")
    );
    assert!(passes > 1);
    producer.await.unwrap();
}

#[test]
fn without_gathering_every_frame_goes_out_at_once() {
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    let script = Script::new(vec![Step::Data(b"a"), Step::Data(b"b"), Step::Pending]);
    let mut body = Coalesce::new(script, false);
    for want in [&b"a"[..], b"b"] {
        let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) else {
            panic!("a frame");
        };
        assert_eq!(frame.into_data().unwrap().chunk(), want);
    }
    assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
    assert_eq!(count.0.load(Ordering::Relaxed), 0);
}
