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
        Decoder { stages }
    }

    /// Decodes the next chunk of the coded body; `sink` gets the decoded bytes.
    pub fn push(&mut self, input: &[u8], sink: &mut dyn FnMut(&[u8])) -> Result<(), DecodeError> {
        push_through(&mut self.stages, input, &mut |out| {
            sink(out);
            Ok(())
        })
    }

    /// The body is complete: flushes every stage, outermost first, and fails if a coded
    /// stream was cut short.
    pub fn finish(&mut self, sink: &mut dyn FnMut(&[u8])) -> Result<(), DecodeError> {
        let mut sink = |out: &[u8]| {
            sink(out);
            Ok(())
        };
        let mut rest = &mut self.stages[..];
        while let Some((stage, inner)) = rest.split_first_mut() {
            stage.finish(&mut |out| push_through(inner, out, &mut sink))?;
            rest = inner;
        }
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
