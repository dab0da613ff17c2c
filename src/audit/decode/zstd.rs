//! `zstd` (RFC 8878) over libzstd's streaming decoder: any number of frames (skippable ones
//! included), windows at most 8 MiB (`window_log_max` 23, the RFC 9659 limit).

use zstd::stream::raw::{DParameter, Decoder, InBuffer, Operation, OutBuffer};

use super::{Coding, DecodeError, OUT_CHUNK, Sink, Stage};

pub(super) struct Zstd {
    /// `None`: libzstd could not make a context (out of memory); every push then fails.
    decoder: Option<Decoder<'static>>,
    out: Vec<u8>,
    /// At a frame boundary: nothing read yet, or the last frame ended.
    between_frames: bool,
    /// At least one byte read.
    started: bool,
}

impl Zstd {
    pub(super) fn new() -> Self {
        let decoder = Decoder::new().ok().and_then(|mut decoder| {
            decoder
                .set_parameter(DParameter::WindowLogMax(23))
                .ok()
                .map(|()| decoder)
        });
        Zstd {
            decoder,
            out: vec![0; OUT_CHUNK],
            between_frames: true,
            started: false,
        }
    }

    fn bad(reason: impl Into<String>) -> DecodeError {
        DecodeError::new(Coding::Zstd, reason)
    }
}

impl Stage for Zstd {
    fn push(&mut self, input: &[u8], sink: &mut Sink<'_>) -> Result<(), DecodeError> {
        let decoder = self
            .decoder
            .as_mut()
            .ok_or_else(|| Self::bad("no decoder context"))?;
        if input.is_empty() {
            return Ok(());
        }
        self.started = true;
        let mut input = InBuffer::around(input);
        loop {
            let mut output = OutBuffer::around(&mut self.out[..]);
            let hint = decoder
                .run(&mut input, &mut output)
                .map_err(|e| Self::bad(e.to_string()))?;
            let produced = output.pos();
            let full = produced == self.out.len();
            // hint 0: a frame just ended and everything it decoded is out.
            self.between_frames = hint == 0;
            if let Some(decoded) = self.out.get(..produced)
                && !decoded.is_empty()
            {
                sink(decoded)?;
            }
            if input.pos() == input.src.len() && !full {
                return Ok(());
            }
        }
    }

    fn finish(&mut self, _sink: &mut Sink<'_>) -> Result<(), DecodeError> {
        if !self.started {
            return Err(Self::bad("empty body"));
        }
        if self.between_frames {
            Ok(())
        } else {
            Err(Self::bad("the zstd stream ends early"))
        }
    }
}
