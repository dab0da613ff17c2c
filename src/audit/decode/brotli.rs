//! `br` (RFC 7932) over `brotli-decompressor`'s streaming state, standard windows only
//! (at most 16 MiB; the non-standard "large window" extension is refused).

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};

use super::{Coding, DecodeError, OUT_CHUNK, Sink, Stage};

pub(super) struct Brotli {
    state: BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>,
    out: Vec<u8>,
    ended: bool,
}

impl Brotli {
    pub(super) fn new() -> Self {
        Brotli {
            state: BrotliState::new_strict(
                StandardAlloc::default(),
                StandardAlloc::default(),
                StandardAlloc::default(),
            ),
            out: vec![0; OUT_CHUNK],
            ended: false,
        }
    }

    fn run(&mut self, input: &[u8], sink: &mut Sink<'_>) -> Result<(), DecodeError> {
        let mut available_in = input.len();
        let mut input_offset = 0;
        loop {
            let mut available_out = self.out.len();
            let mut output_offset = 0;
            let mut total_out = 0;
            let result = BrotliDecompressStream(
                &mut available_in,
                &mut input_offset,
                input,
                &mut available_out,
                &mut output_offset,
                &mut self.out,
                &mut total_out,
                &mut self.state,
            );
            let decoded = self.out.get(..output_offset).unwrap_or_default();
            if !decoded.is_empty() {
                sink(decoded)?;
            }
            match result {
                BrotliResult::NeedsMoreOutput => continue,
                BrotliResult::NeedsMoreInput => return Ok(()),
                // Bytes after the end of the stream are ignored.
                BrotliResult::ResultSuccess => {
                    self.ended = true;
                    return Ok(());
                }
                BrotliResult::ResultFailure => {
                    return Err(DecodeError::new(Coding::Brotli, "invalid brotli data"));
                }
            }
        }
    }
}

impl Stage for Brotli {
    fn push(&mut self, input: &[u8], sink: &mut Sink<'_>) -> Result<(), DecodeError> {
        if self.ended || input.is_empty() {
            return Ok(());
        }
        self.run(input, sink)
    }

    fn finish(&mut self, sink: &mut Sink<'_>) -> Result<(), DecodeError> {
        if !self.ended {
            // Output the decoder still holds.
            self.run(&[], sink)?;
        }
        if self.ended {
            Ok(())
        } else {
            Err(DecodeError::new(
                Coding::Brotli,
                "the brotli stream ends early",
            ))
        }
    }
}
