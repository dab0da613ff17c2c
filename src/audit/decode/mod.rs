//! Content-Encoding on the audit side only: the client still gets the encoded bytes, the
//! scanner reads decoded XML. gzip, deflate, br and zstd, alone or stacked.
//!
//! Push-style: the audit task hands each queued chunk to [`Decoder::push`], which calls the
//! sink with every decoded run as soon as it exists. No reader, no task-side buffering beyond
//! one 32 KiB output buffer per coding, so the audit task is one loop whatever the coding.
//!
//! What real clients decode, the audit decodes too (curl and browsers are the yardstick):
//! - a coding list (`gzip, identity`, `gzip, br`) or several `Content-Encoding` lines: the
//!   codings were applied in the order listed, so they are undone right to left, at most
//!   [`MAX_CODINGS`] of them; `identity` is a no-op;
//! - `deflate` is zlib (RFC 9110 §8.4.1.2), but IIS and others send raw deflate: a stream
//!   whose first two bytes are not a zlib header is read as raw deflate;
//! - gzip with several members (RFC 1952 §2.2); bytes after the last member that do not start
//!   another member (padding, junk) are ignored, as gzip(1) does: the XML is what counts;
//! - zstd with several frames (RFC 8878 §3), windows capped at 8 MiB (RFC 9659).
//!
//! Memory stays bounded: each stage holds its codec state (zstd's window at most 8 MiB,
//! brotli's at most 16 MiB as the format allows) and a 32 KiB output buffer.
//!
//! Work stays bounded too: a body may decode to at most [`HEADROOM`] plus [`MAX_RATIO`]
//! bytes per coded byte, however it is chunked, and at most [`HEADROOM`] plus what one
//! [`SLICE`] earns at a time (the coded bytes are decoded a slice at a time); past that the
//! decoding fails. A decompression bomb (gzip of gzip packs a GiB into a few KiB) would
//! otherwise be scanned whole in one go, holding the audit's connection worker. Real bodies
//! stay far below: a 207 of 50,000 entries packs ~25:1 with gzip, ~45:1 with zstd -19.

mod brotli;
mod flate;
mod zstd;

#[cfg(test)]
mod tests;

use std::fmt;

/// Stacked codings undone at most (curl stops at 5; nobody sends more than 2).
pub(crate) const MAX_CODINGS: usize = 4;

/// Decoded bytes handed to the sink per call, at most.
const OUT_CHUNK: usize = 32 * 1024;

/// Coded bytes decoded at a time; the audit task lets its worker turn between slices.
pub(crate) const SLICE: usize = 16 * 1024;

/// Most decoded bytes per coded byte of a slice (deflate alone reaches ~1032:1 on a run of
/// one byte; stacked codings or zstd, far more).
pub(crate) const MAX_RATIO: usize = 1024;

/// Decoded bytes a body may give beyond [`MAX_RATIO`] per coded byte (a coder's buffered
/// output, a burst), and the most that can be saved up from a body that packs less.
pub(crate) const HEADROOM: usize = 1024 * 1024;

/// One content coding the audit can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl fmt::Display for Coding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        })
    }
}

/// The codings of a response, in the order they were applied (empty: identity).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Codings(Vec<Coding>);

impl Codings {
    /// No coding: the body is the XML.
    pub fn is_identity(&self) -> bool {
        self.0.is_empty()
    }

    /// The codings as applied, first applied first.
    pub fn as_slice(&self) -> &[Coding] {
        &self.0
    }
}

/// The codings named by every `Content-Encoding` line of a response, `None` when the audit
/// cannot undo them (an unknown coding, a value that is not text, more than [`MAX_CODINGS`]).
pub fn parse<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Option<Codings> {
    let mut codings = Vec::new();
    for line in lines {
        for token in line.split(|b| *b == b',') {
            let token = token.trim_ascii();
            let coding = if token.is_empty() || token.eq_ignore_ascii_case(b"identity") {
                continue;
            } else if token.eq_ignore_ascii_case(b"gzip") || token.eq_ignore_ascii_case(b"x-gzip") {
                Coding::Gzip
            } else if token.eq_ignore_ascii_case(b"deflate") {
                Coding::Deflate
            } else if token.eq_ignore_ascii_case(b"br") {
                Coding::Brotli
            } else if token.eq_ignore_ascii_case(b"zstd") {
                Coding::Zstd
            } else {
                return None;
            };
            if codings.len() == MAX_CODINGS {
                return None;
            }
            codings.push(coding);
        }
    }
    Some(Codings(codings))
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode the {coding} content coding: {reason}")]
pub struct DecodeError {
    pub coding: Coding,
    pub reason: String,
}

impl DecodeError {
    fn new(coding: Coding, reason: impl Into<String>) -> Self {
        DecodeError {
            coding,
            reason: reason.into(),
        }
    }
}

/// Where decoded bytes go; it may fail only with an error of an inner stage.
type Sink<'s> = dyn FnMut(&[u8]) -> Result<(), DecodeError> + 's;

/// One coding's decoder.
trait Stage: Send {
    /// Decodes `input` (any split), calling `sink` with each decoded run.
    fn push(&mut self, input: &[u8], sink: &mut Sink<'_>) -> Result<(), DecodeError>;
    /// The input is over: flushes what is left, fails if the coded stream is cut short.
    fn finish(&mut self, sink: &mut Sink<'_>) -> Result<(), DecodeError>;
}

/// The decoders of one body, outermost (last applied) first.
pub struct Decoder {
    stages: Vec<Box<dyn Stage>>,
    /// The last coding applied (the first undone): named by a bounded decode's error.
    outer: Coding,
    /// Decoded bytes the body may still give: [`HEADROOM`] to start, [`MAX_RATIO`] more per
    /// coded byte, never more than [`HEADROOM`] plus a slice's worth.
    allowance: usize,
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("stages", &self.stages.len())
            .finish()
    }
}

impl Decoder {
    /// A decoder for `codings` (as applied, first applied first).
    pub fn new(codings: &Codings) -> Self {
        let stages = codings
            .as_slice()
            .iter()
            .rev()
            .map(|coding| -> Box<dyn Stage> {
                match coding {
                    Coding::Gzip => Box::new(flate::Gzip::new()),
                    Coding::Deflate => Box::new(flate::Deflate::new()),
                    Coding::Brotli => Box::new(brotli::Brotli::new()),
                    Coding::Zstd => Box::new(zstd::Zstd::new()),
                }
            })
            .collect();
        let outer = codings.as_slice().last().copied().unwrap_or(Coding::Gzip);
        Decoder {
            stages,
            outer,
            allowance: HEADROOM,
        }
    }

    /// Decodes the next chunk of the coded body, [`SLICE`] bytes at a time; `sink` gets the
    /// decoded bytes. Output past the allowance (module docs) fails the decoding, and the
    /// sink gets nothing more.
    pub fn push(&mut self, input: &[u8], sink: &mut dyn FnMut(&[u8])) -> Result<(), DecodeError> {
        const MOST: usize = HEADROOM + SLICE * MAX_RATIO;
        for slice in input.chunks(SLICE) {
            self.allowance = self
                .allowance
                .saturating_add(slice.len().saturating_mul(MAX_RATIO))
                .min(MOST);
            let mut sink = bounded(self.outer, &mut self.allowance, sink);
            push_through(&mut self.stages, slice, &mut sink)?;
        }
        Ok(())
    }

    /// The body is complete: flushes every stage, outermost first, and fails if a coded
    /// stream was cut short (or what the flush gives passes the bound of a slice).
    pub fn finish(&mut self, sink: &mut dyn FnMut(&[u8])) -> Result<(), DecodeError> {
        let mut sink = bounded(self.outer, &mut self.allowance, sink);
        let mut rest = &mut self.stages[..];
        while let Some((stage, inner)) = rest.split_first_mut() {
            stage.finish(&mut |out| push_through(inner, out, &mut sink))?;
            rest = inner;
        }
        Ok(())
    }
}

/// `sink`, failing once the output passes `allowance` (which it uses up).
fn bounded<'s>(
    coding: Coding,
    allowance: &'s mut usize,
    sink: &'s mut dyn FnMut(&[u8]),
) -> impl FnMut(&[u8]) -> Result<(), DecodeError> + 's {
    move |out: &[u8]| {
        let Some(left) = allowance.checked_sub(out.len()) else {
            *allowance = 0;
            return Err(DecodeError::new(
                coding,
                format!(
                    "it decodes to over {MAX_RATIO} bytes per coded byte \
                     (a decompression bomb?): not audited further"
                ),
            ));
        };
        *allowance = left;
        sink(out);
        Ok(())
    }
}

fn push_through(
    stages: &mut [Box<dyn Stage>],
    input: &[u8],
    sink: &mut Sink<'_>,
) -> Result<(), DecodeError> {
    match stages.split_first_mut() {
        None => sink(input),
        Some((stage, inner)) => stage.push(input, &mut |out| push_through(inner, out, sink)),
    }
}
