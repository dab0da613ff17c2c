//! The captured text of the one href, status or description being read: whitespace-trimmed
//! at the start, capped, and collapsed to single spaces for a status line.

use super::bytes::{advance, is_ws};
use crate::multistatus::limits::push_capped;
use crate::multistatus::status_line::{COMMON_LEN, common_code};

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
            if self.buf.is_empty() && self.status_at_once(bytes) {
                return;
            }
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

impl Capture {
    /// The common status line, `HTTP/1.1 NNN` and whitespace, at the start of the text:
    /// keeps `HTTP/1.1 NNN` and marks the capture full (`cap`), since the code is all the
    /// text is read for (`status_line::parse` gives the same code for it as for the whole
    /// collapsed line). Anything else, or a line cut by the end of `bytes`, goes the
    /// general way.
    #[inline]
    fn status_at_once(&mut self, bytes: &[u8]) -> bool {
        let start = bytes.iter().position(|&b| !is_ws(b)).unwrap_or(bytes.len());
        let Some(line) = bytes.get(start..) else {
            return false;
        };
        if common_code(line).is_none()
            || !line.get(STATUS_AT_ONCE).is_some_and(|&b| is_ws(b))
            || self.cap < STATUS_AT_ONCE
        {
            return false;
        }
        self.buf
            .extend_from_slice(line.get(..STATUS_AT_ONCE).unwrap_or_default());
        self.cap = STATUS_AT_ONCE;
        true
    }
}

/// Length of `HTTP/1.1 NNN`.
const STATUS_AT_ONCE: usize = COMMON_LEN;

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
        /// Away from the common line (no `.`: never `HTTP/1.1 NNN`, taken at once), the
        /// capture is the line collapsed byte by byte.
        #[test]
        fn status_capture_matches_byte_by_byte(
            pieces in proptest::collection::vec(proptest::collection::vec(
                proptest::sample::select(b" \t\nHTP/12x".to_vec()), 0..12), 0..6),
            cap in 0usize..20,
        ) {
            let mut c = Capture { depth: 1, status: true, space: false, cap, buf: Vec::new() };
            for p in &pieces {
                c.push(p);
            }
            proptest::prop_assert_eq!(c.buf, status_reference(&pieces, cap));
        }

        /// Where the common line is taken at once, the code read from the capture is the
        /// code read from the whole line collapsed byte by byte.
        #[test]
        fn status_at_once_reads_the_code_of_the_whole_line(
            lead in "[ \t\n]{0,3}",
            code in "[0-9]{2,4}",
            tail in "[ \t\nOKx0-9]{0,8}",
            cuts in proptest::collection::vec(0usize..24, 0..3),
        ) {
            let line = format!("{lead}HTTP/1.1 {code}{tail}");
            let bytes = line.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut from = 0;
            for cut in cuts {
                pieces.push(bytes[from..cut].to_vec());
                from = cut;
            }
            pieces.push(bytes[from..].to_vec());
            let cap = crate::multistatus::limits::MAX_STATUS;
            let mut c = Capture { depth: 1, status: true, space: false, cap, buf: Vec::new() };
            for p in &pieces {
                c.push(p);
            }
            let parse = crate::multistatus::status_line::parse;
            proptest::prop_assert_eq!(parse(&c.buf), parse(&status_reference(&pieces, cap)));
        }
    }
}
