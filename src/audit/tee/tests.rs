//! Scripted tests of the tee: the test drives an inner body frame by frame (tower-test
//! style) and checks what the client and the audit side each see. Paused time, no sleeps.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;

use super::*;

/// An inner body that yields the scripted frames, then ends (or fails).
struct Script {
    frames: VecDeque<Result<Bytes, &'static str>>,
    known_len: bool,
}

impl Script {
    fn new(chunks: &[&'static [u8]]) -> Self {
        Script {
            frames: chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect(),
            known_len: false,
        }
    }
}

impl Body for Script {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.frames.pop_front().map(|f| f.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.known_len && self.frames.is_empty()
    }
}

fn drain(rx: &mut Receiver) -> (Vec<u8>, Vec<End>) {
    let mut data = Vec::new();
    let mut ends = Vec::new();
    while let Ok(message) = rx.try_recv() {
        match message {
            Message::Data(chunks, _budget) => chunks.iter().for_each(|c| data.extend_from_slice(c)),
            Message::End(end) => ends.push(end),
        }
    }
    (data, ends)
}

#[tokio::test]
async fn every_frame_reaches_both_sides_and_the_end_is_reported_once() {
    let (tee, mut rx) = TeeBody::new(
        Script::new(&[b"<a>", b"", b"b</a>"]),
        1024,
        WhenFull::Wait(Duration::from_secs(1)),
    );
    let client = tee.collect().await.unwrap().to_bytes();
    assert_eq!(&client[..], b"<a>b</a>");
    assert_eq!(drain(&mut rx), (b"<a>b</a>".to_vec(), vec![End::Complete]));
}

#[tokio::test]
async fn a_body_known_to_end_reports_complete_without_a_final_poll() {
    let mut script = Script::new(&[b"x"]);
    script.known_len = true;
    let (mut tee, mut rx) = TeeBody::new(script, 1024, WhenFull::Skip);
    let frame = tee.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "x");
    assert!(tee.is_end_stream());
    drop(tee);
    assert_eq!(drain(&mut rx), (b"x".to_vec(), vec![End::Complete]));
}

#[tokio::test]
async fn an_upstream_error_is_forwarded_and_reported() {
    let script = Script {
        frames: VecDeque::from([Ok(Bytes::from_static(b"<a>")), Err("reset")]),
        known_len: false,
    };
    let (tee, mut rx) = TeeBody::new(script, 1024, WhenFull::Skip);
    assert!(tee.collect().await.is_err());
    assert_eq!(drain(&mut rx), (b"<a>".to_vec(), vec![End::Error]));
}

#[tokio::test]
async fn a_dropped_body_reports_cancelled() {
    let (mut tee, mut rx) = TeeBody::new(Script::new(&[b"a", b"b"]), 1024, WhenFull::Skip);
    let _ = tee.frame().await;
    drop(tee);
    assert_eq!(drain(&mut rx), (b"a".to_vec(), vec![End::Cancelled]));
}

#[tokio::test]
async fn skip_stops_the_audit_at_once_when_the_queue_is_full_and_forwards_everything() {
    let (tee, mut rx) = TeeBody::new(Script::new(&[b"1234", b"5678", b"9"]), 4, WhenFull::Skip);
    // Nobody takes bytes out of the queue: the second frame finds it full.
    let client = tee.collect().await.unwrap().to_bytes();
    assert_eq!(&client[..], b"123456789");
    assert_eq!(drain(&mut rx), (b"1234".to_vec(), vec![End::Lagging]));
}

#[tokio::test(start_paused = true)]
async fn wait_holds_the_frame_until_the_audit_frees_budget() {
    let (mut tee, mut rx) = TeeBody::new(
        Script::new(&[b"1234", b"5678"]),
        4,
        WhenFull::Wait(Duration::from_secs(1)),
    );
    assert_eq!(
        tee.frame().await.unwrap().unwrap().into_data().unwrap(),
        "1234"
    );
    let next = tokio::spawn(async move {
        let frame = tee.frame().await.unwrap().unwrap();
        (frame.into_data().unwrap(), tee)
    });
    tokio::task::yield_now().await;
    assert!(!next.is_finished());
    // The audit takes the first chunk and gives its budget back.
    let Some(Message::Data(first, budget)) = rx.recv().await else {
        panic!("expected data")
    };
    assert_eq!(first, ["1234"]);
    drop(budget);
    let (second, tee) = next.await.unwrap();
    assert_eq!(second, "5678");
    let Some(Message::Data(queued, _)) = rx.recv().await else {
        panic!("expected data")
    };
    assert_eq!(queued, ["5678"]);
    drop(tee);
}

#[tokio::test(start_paused = true)]
async fn wait_gives_up_as_lagging_after_the_stall_timeout_and_forwards_the_frame() {
    let (mut tee, mut rx) = TeeBody::new(
        Script::new(&[b"1234", b"5678", b"90"]),
        4,
        WhenFull::Wait(Duration::from_secs(1)),
    );
    let _ = tee.frame().await;
    // Nobody reads the queue: after 1 s (paused clock, advanced by tokio) the frame goes on.
    let second = tee.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(second, "5678");
    let third = tee.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(third, "90");
    assert_eq!(drain(&mut rx), (b"1234".to_vec(), vec![End::Lagging]));
}

#[tokio::test]
async fn a_frame_larger_than_the_queue_is_sent_with_the_whole_budget() {
    let (tee, mut rx) = TeeBody::new(
        Script::new(&[b"0123456789"]),
        4,
        WhenFull::Wait(Duration::from_secs(1)),
    );
    let client = tee.collect().await.unwrap().to_bytes();
    assert_eq!(&client[..], b"0123456789");
    assert_eq!(
        drain(&mut rx),
        (b"0123456789".to_vec(), vec![End::Complete])
    );
}

#[tokio::test]
async fn a_streamed_body_wakes_the_audit_per_batch_not_per_frame() {
    static FRAME: [u8; 1024] = [b'x'; 1024];
    let frames: Vec<&'static [u8]> = vec![&FRAME; 4000];
    let (tee, mut rx) = TeeBody::new(Script::new(&frames), 4 << 20, WhenFull::Skip);
    let client = tee.collect().await.unwrap().to_bytes();
    assert_eq!(client.len(), 4000 * 1024);
    let mut messages = 0;
    let mut data = 0;
    let mut ends = Vec::new();
    while let Ok(message) = rx.try_recv() {
        match message {
            Message::Data(chunks, _budget) => {
                messages += 1;
                data += chunks.iter().map(Bytes::len).sum::<usize>();
            }
            Message::End(end) => ends.push(end),
        }
    }
    assert_eq!(data, 4000 * 1024);
    assert_eq!(ends, [End::Complete]);
    // 4000 KiB in batches of a quarter of the 4 MiB queue (1 MiB): 4 wake-ups (3 full batches
    // and the rest at the end).
    assert_eq!(messages, 4, "one message per batch, not per frame");
}

#[tokio::test(start_paused = true)]
async fn wait_hands_over_the_pending_batch_before_waiting_for_budget() {
    // Queue 40 bytes, batches of 10: the 9-byte frame stays pending; the 35-byte frame does
    // not fit beside it, so the tee must give the audit the 9 bytes before waiting.
    let (mut tee, mut rx) = TeeBody::new(
        Script::new(&[b"123456789", b"abcdefghijklmnopqrstuvwxyzABCDEFGHI"]),
        40,
        WhenFull::Wait(Duration::from_secs(1)),
    );
    assert_eq!(
        tee.frame().await.unwrap().unwrap().into_data().unwrap(),
        "123456789"
    );
    let next = tokio::spawn(async move {
        let frame = tee.frame().await.unwrap().unwrap();
        let rest = tee.frame().await;
        (frame.into_data().unwrap(), rest.is_none())
    });
    // The audit: take what comes and give the budget back at once.
    let mut seen = Vec::new();
    let mut ends = Vec::new();
    while let Some(message) = rx.recv().await {
        match message {
            Message::Data(chunks, budget) => {
                chunks.iter().for_each(|c| seen.extend_from_slice(c));
                drop(budget);
            }
            Message::End(end) => ends.push(end),
        }
    }
    let (second, ended) = next.await.unwrap();
    assert_eq!(second, "abcdefghijklmnopqrstuvwxyzABCDEFGHI");
    assert!(ended);
    assert_eq!(seen, b"123456789abcdefghijklmnopqrstuvwxyzABCDEFGHI");
    assert_eq!(
        ends,
        [End::Complete],
        "no stall: the audit got the pending bytes"
    );
}
