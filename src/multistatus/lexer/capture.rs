//! The captured text of the one href, status or description being read: whitespace-trimmed
//! at the start, capped, and collapsed to single spaces for a status line; a common status
//! line (`HTTP/1.1 NNN` and whitespace) is read at once to its code, its text not kept.
//! Capturing starts as the element opens (`begin`) and ends with its end tag (`end`), which
//! hands the text, or the code, to the [`Sink`].

use super::bytes::{advance, is_ws};
use super::{Role, Sink};
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
    /// The text was cut at `cap` (text mode): nothing after the cut is kept, whatever the
    /// size of the pieces that follow (the text kept is a prefix of the whole text).
    pub(super) cut: bool,
    /// The code of the common status line read at once (`status_at_once`): the rest of the
    /// element's text is not read.
    pub(super) code: Option<u16>,
}

impl Capture {
    /// Starts capturing the element at `depth` (a status line when `status`), `cap` bytes
    /// at most.
    #[inline(always)]
    pub(super) fn begin(&mut self, depth: usize, status: bool, cap: usize) {
        self.depth = depth;
        self.status = status;
        self.space = false;
        self.cap = cap;
        self.code = None;
        self.cut = false;
        self.buf.clear();
    }

    /// The element at `depth`, of role `role`, ended: hands the sink its captured text (or
    /// the code of its status line), or no text when it was not captured.
    #[inline(always)]
    pub(super) fn end<S: Sink>(&mut self, depth: usize, role: Role, sink: &mut S) {
        if self.depth != depth {
            sink.end(role, &[]);
            return;
        }
        self.depth = 0;
        match (self.code.take(), role) {
            (Some(code), Role::Status(level)) => sink.status_code(level, code),
            (_, Role::Href) => {
                sink.end_href(&mut self.buf);
                self.buf.clear();
            }
            _ => {
                sink.end(role, &self.buf);
                self.buf.clear();
            }
        }
    }

    /// Text of the element being read (nothing when none is captured).
    #[inline(always)]
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if self.depth == 0 || bytes.is_empty() || self.code.is_some() {
            return;
        }
        if self.status
            && self.buf.is_empty()
            && let Some(code) = self.status_at_once(bytes)
        {
            self.code = Some(code);
            return;
        }
        self.push_kept(bytes);
    }

    /// `push` for all but a common status line read at once.
    #[inline(never)]
    fn push_kept(&mut self, bytes: &[u8]) {
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
        } else if !self.cut {
            let bytes = if self.buf.is_empty() {
                bytes.trim_ascii_start()
            } else {
                bytes
            };
            self.cut = !push_capped(&mut self.buf, bytes, self.cap);
        }
    }
}

impl Capture {
    /// The common status line, `HTTP/1.1 NNN` and whitespace, at the start of the text:
    /// keeps its code and reads no more, since the code is all the text is read for
    /// (`status_line::parse` gives the same code for the whole collapsed line). Anything
    /// else, or a line cut by the end of `bytes`, goes the general way.
    #[inline(always)]
    fn status_at_once(&self, bytes: &[u8]) -> Option<u16> {
        let line = match bytes.first() {
            Some(&b) if is_ws(b) => skip_ws(bytes),
            _ => bytes,
        };
        let code = common_code(line)?;
        (line.get(STATUS_AT_ONCE).is_some_and(|&b| is_ws(b)) && self.cap >= STATUS_AT_ONCE)
            .then_some(code)
    }
}

/// `bytes` past its leading whitespace.
#[cold]
fn skip_ws(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| !is_ws(b)).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Length of `HTTP/1.1 NNN`.
const STATUS_AT_ONCE: usize = COMMON_LEN;

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::multistatus::report::Code;

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
            let mut c = Capture::default();
            c.begin(1, true, cap);
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
            let mut c = Capture::default();
            c.begin(1, true, cap);
            for p in &pieces {
                c.push(p);
            }
            let parse = crate::multistatus::status_line::parse;
            let read = c.code.map_or_else(|| parse(&c.buf), Code::Status);
            proptest::prop_assert_eq!(read, parse(&status_reference(&pieces, cap)));
        }
    }
}
