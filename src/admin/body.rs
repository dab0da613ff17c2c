//! The admin listener's response body, and the bound on large answers in flight.
//!
//! Short answers are a [`Full`] body. Large ones (`/metrics`, `/failures`) are built once,
//! then handed to hyper in [`FRAME`]-sized copies while holding a permit of a small
//! semaphore ([`Renders`]): the permit (and the rendered buffer) is released once the last
//! frame has been taken, so memory for large answers is bounded by the permits times the
//! largest answer, however many readers there are or however slowly they read. A request
//! that finds no permit gets 503 with `Retry-After: 1`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::plain;

/// Bytes per frame of a large answer: each frame is a copy, so a slow reader keeps at most
/// one of them (plus hyper's buffers) once the permit is gone.
const FRAME: usize = 64 * 1024;

/// A response body of the admin listener.
#[derive(Debug)]
pub(crate) enum AdminBody {
    /// A short answer.
    Small(Full<Bytes>),
    /// A large answer, sent in frames, holding its permit until the last one is taken.
    Large {
        rest: Bytes,
        permit: Option<OwnedSemaphorePermit>,
    },
}

impl From<Full<Bytes>> for AdminBody {
    fn from(full: Full<Bytes>) -> Self {
        AdminBody::Small(full)
    }
}

impl Body for AdminBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            AdminBody::Small(full) => Pin::new(full).poll_frame(cx),
            AdminBody::Large { rest, permit } => {
                if rest.is_empty() {
                    *permit = None;
                    return Poll::Ready(None);
                }
                let n = rest.len().min(FRAME);
                let frame = Bytes::copy_from_slice(rest.get(..n).unwrap_or_default());
                *rest = rest.split_off(n);
                if rest.is_empty() {
                    // Drop the rendered buffer and the permit now, not when hyper drops us.
                    *rest = Bytes::new();
                    *permit = None;
                }
                Poll::Ready(Some(Ok(Frame::data(frame))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            AdminBody::Small(full) => full.is_end_stream(),
            AdminBody::Large { rest, .. } => rest.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            AdminBody::Small(full) => full.size_hint(),
            AdminBody::Large { rest, .. } => SizeHint::with_exact(rest.len() as u64),
        }
    }
}

/// Permits for large answers in flight, per kind of answer.
#[derive(Debug, Clone)]
pub(super) struct Renders(Arc<Semaphore>);

impl Renders {
    pub(super) fn new(permits: usize) -> Self {
        Renders(Arc::new(Semaphore::new(permits)))
    }

    /// A permit, or `None` when all are in use.
    pub(super) fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// A large answer that holds `permit` until it has been handed to hyper.
pub(super) fn large(
    bytes: Vec<u8>,
    content_type: &'static str,
    permit: OwnedSemaphorePermit,
) -> Response<AdminBody> {
    let mut response = Response::new(AdminBody::Large {
        rest: Bytes::from(bytes),
        permit: Some(permit),
    });
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// 503 when every permit of a kind of large answer is in use.
pub(super) fn busy() -> Response<AdminBody> {
    let mut response = plain::response(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy: too many large answers in flight; retry\n",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response.map(AdminBody::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_large_answer_comes_whole_in_frames_and_frees_its_permit_at_the_last() {
        let renders = Renders::new(1);
        let permit = renders.try_acquire().unwrap();
        assert!(renders.try_acquire().is_none());
        let data: Vec<u8> = (0..FRAME * 2 + 10).map(|i| i as u8).collect();
        let mut body = large(data.clone(), "text/plain", permit).into_body();
        let mut got = Vec::new();
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            got.extend_from_slice(&frame.unwrap().into_data().unwrap());
            frames += 1;
            if frames < 3 {
                assert!(renders.try_acquire().is_none(), "released too early");
            }
        }
        assert_eq!((frames, got), (3, data));
        // Released after the last frame, while the body itself still exists.
        assert!(renders.try_acquire().is_some());
        drop(body);
    }
}
