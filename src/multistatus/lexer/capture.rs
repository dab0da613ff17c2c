//! The captured text of the one href, status or description being read: whitespace-trimmed
//! at the start, capped, and collapsed to single spaces for a status line.

use super::bytes::{advance, is_ws};
use crate::multistatus::limits::push_capped;

/// The text of the href, status or description being read.
#[derive(Debug, Default)]
pub(super) struct Capture {
    /// Depth of the captured element; 0 when nothing is captured.
    pub(super) depth: usize,
    /// Status mode: whitespace runs collapse to one space, capped at `MAX_STATUS`.
    pub(super) status: bool,
    /// A whitespace run is pending (status mode).
    pub(super) space: bool,
    pub(super) cap: usize,
    pub(super) buf: Vec<u8>,
}

impl Capture {
    #[inline]
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if self.depth != 0 && !bytes.is_empty() {
            self.push_kept(bytes);
        }
    }

    pub(super) fn push_kept(&mut self, bytes: &[u8]) {
        if self.status {
            // Byte by byte this is: stop once `cap` bytes are kept; whitespace sets `space`
            // when something was kept; any other byte is kept after a pending space. Here
            // whole runs at a time.
            let mut rest = bytes;
            while let Some(&b) = rest.first() {
                if self.buf.len() >= self.cap {
                    return;
                }
                if is_ws(b) {
                    let n = rest.iter().position(|&b| !is_ws(b)).unwrap_or(rest.len());
                    self.space = !self.buf.is_empty();
                    rest = advance(rest, n);
                    continue;
                }
                if self.space {
                    self.buf.push(b' ');
                    self.buf.push(b);
                    self.space = false;
                    rest = advance(rest, 1);
                }
                let n = rest.iter().position(|&b| is_ws(b)).unwrap_or(rest.len());
                let n = n.min(self.cap.saturating_sub(self.buf.len()));
                let (run, tail) = rest.split_at_checked(n).unwrap_or((rest, &[]));
                self.buf.extend_from_slice(run);
                rest = tail;
            }
        } else {
            let bytes = if self.buf.is_empty() {
                bytes.trim_ascii_start()
            } else {
                bytes
            };
            push_capped(&mut self.buf, bytes, self.cap);
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// Status-mode capture byte by byte: the reference for `Capture::push_kept`.
    fn status_reference(pieces: &[Vec<u8>], cap: usize) -> Vec<u8> {
        let (mut buf, mut space) = (Vec::new(), false);
        for &b in pieces.iter().flatten() {
            if buf.len() >= cap {
                break;
            }
            if is_ws(b) {
                space = !buf.is_empty();
            } else {
                if space {
                    buf.push(b' ');
                    space = false;
                }
                buf.push(b);
            }
        }
        buf
    }

    proptest::proptest! {
        #[test]
        fn status_capture_matches_byte_by_byte(
            pieces in proptest::collection::vec(proptest::collection::vec(
                proptest::sample::select(b" \t\nHTP/1.2x".to_vec()), 0..12), 0..6),
            cap in 0usize..20,
        ) {
            let mut c = Capture { depth: 1, status: true, space: false, cap, buf: Vec::new() };
            for p in &pieces {
                c.push(p);
            }
            proptest::prop_assert_eq!(c.buf, status_reference(&pieces, cap));
        }
    }
}
