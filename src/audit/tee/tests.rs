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
            Message::Data(bytes, _budget) => data.extend_from_slice(&bytes),
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
    assert_eq!(first, "1234");
    drop(budget);
    let (second, tee) = next.await.unwrap();
    assert_eq!(second, "5678");
    let Some(Message::Data(queued, _)) = rx.recv().await else {
        panic!("expected data")
    };
    assert_eq!(queued, "5678");
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
