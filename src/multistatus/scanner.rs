//! [`Scanner`]: the sans-io front of the module. Bytes go in through [`Scanner::feed`] in
//! chunks split anywhere; [`Scanner::finish`] returns the [`Report`]. It glues the charset
//! front (`charset`), the lexer (`lexer`) and the tally
//! (`tally`); no I/O, no time, no randomness, so any input replays exactly.

use encoding_rs::DecoderResult;

use super::charset::{self, Front, Hint};
use super::lexer::Lexer;
use super::limits::Limits;
use super::report::{Classify, Malformed, Outcome, Report};
use super::tally::Tally;

/// How the body ended, as seen by whoever fed the scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// The whole body was fed: a document cut short is `Malformed`.
    Complete,
    /// The body ended early (upstream reset, client gone): outcome `Truncated`, counts so
    /// far kept (a `Malformed` found before wins).
    Truncated,
    /// The audit fell behind and stopped: outcome `Lagging`, counts so far kept (a
    /// `Malformed` found before wins).
    Lagging,
}

/// Streaming multistatus scanner with constant memory. See the module docs.
#[derive(Debug)]
pub struct Scanner<C: Classify> {
    front: Front,
    lexer: Lexer,
    tally: Tally<C>,
    /// Bytes fed, before any transcoding.
    bytes: u64,
    /// Bytes of a UTF-8 BOM: lexer offsets + bom = body offsets.
    bom: u64,
    /// The first well-formedness error; input after it is ignored.
    error: Option<Malformed>,
    /// The `charset` of the response's `Content-Type`, when it names an encoding.
    hint: Option<Hint>,
}

impl<C: Classify> Scanner<C> {
    /// A scanner for one body. `classify` decides which statuses are failures.
    pub fn new(classify: C, limits: Limits) -> Self {
        Scanner {
            front: Front::Sniff(Vec::new()),
            lexer: Lexer::new(&limits),
            tally: Tally::new(classify, limits),
            bytes: 0,
            bom: 0,
            error: None,
            hint: None,
        }
    }

    /// The `charset` parameter of the response's `Content-Type`: used when the body has no
    /// BOM and its XML declaration (if any) names no encoding. A UTF-16/32 label is used only
    /// when the first bytes hold that encoding's zero bytes. Unknown labels are ignored.
    pub fn with_charset(mut self, charset: Option<&str>) -> Self {
        self.hint = charset.and_then(Hint::from_label);
        self
    }

    /// Turns every fast path of the lexer off: each byte then goes through the plain state
    /// machine. Same report, slower; for the tests and the `fast_plain` fuzz target, which
    /// check that the two agree on any bytes split anywhere.
    #[doc(hidden)]
    pub fn without_fast_paths(mut self) -> Self {
        self.lexer.set_fast(false);
        self
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Heap bytes held by the scanner's buffers (the constant-memory claim, for tests).
    #[doc(hidden)]
    pub fn heap_bytes(&self) -> usize {
        let front = match &self.front {
            Front::Sniff(head) => head.capacity(),
            Front::Utf8 { .. } => 0,
            Front::Transcode { out, .. } | Front::Utf32 { out, .. } => out.capacity(),
        };
        front.saturating_add(self.lexer.heap_bytes())
    }

    /// Scans the next chunk of the body. Never panics; ignores input after a malformed one.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.bytes = self.bytes.saturating_add(chunk.len() as u64);
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.feed_inner(chunk) {
            self.error = Some(e);
        }
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<(), Malformed> {
        let mut rest = chunk;
        // The first bytes are copied aside until the encoding is chosen: only as many as the
        // choice needs (a first chunk usually holds the whole declaration in its first few
        // hundred bytes), so the body itself is lexed where it lies, not copied whole.
        let mut step = charset::FIRST_STEP;
        while let Front::Sniff(head) = &mut self.front {
            let limit = charset::sniff_limit(head);
            let take = limit.saturating_sub(head.len()).min(rest.len()).min(step);
            let (first, tail) = rest.split_at_checked(take).unwrap_or((rest, &[]));
            head.extend_from_slice(first);
            rest = tail;
            // An XML declaration seen only now may hold more.
            if !rest.is_empty() && charset::sniff_limit(head) != limit {
                continue;
            }
            self.decide(false)?;
            if rest.is_empty() {
                break;
            }
            step = step.saturating_mul(4);
        }
        self.process(rest)
    }

    /// Chooses the encoding once the first bytes allow it, then lexes them.
    fn decide(&mut self, eof: bool) -> Result<(), Malformed> {
        let Front::Sniff(head) = &self.front else {
            return Ok(());
        };
        let choice = match charset::sniff(head, eof, self.hint) {
            None => return Ok(()),
            Some(choice) => choice?,
        };
        let Front::Sniff(head) = std::mem::replace(&mut self.front, choice.front) else {
            return Ok(());
        };
        self.bom = choice.bom as u64;
        self.process(head.get(choice.bom..).unwrap_or_default())
    }

    fn process(&mut self, bytes: &[u8]) -> Result<(), Malformed> {
        let bom = self.bom;
        let shift = |mut e: Malformed| {
            e.offset = e.offset.saturating_add(bom);
            e
        };
        match &mut self.front {
            Front::Sniff(_) => Ok(()),
            Front::Utf8 { carry, len } => {
                let mut bytes = bytes;
                if *len > 0 {
                    let lead = carry.first().copied().unwrap_or(0);
                    let need = charset::sequence_len(lead);
                    while *len < need {
                        let Some((&b, tail)) = bytes.split_first() else {
                            return Ok(());
                        };
                        if let Some(slot) = carry.get_mut(*len) {
                            *slot = b;
                        }
                        *len = len.saturating_add(1);
                        bytes = tail;
                        // Fail as soon as the bytes so far cannot start a character, as a
                        // whole feed would.
                        let so_far = carry.get(..*len).unwrap_or_default();
                        if std::str::from_utf8(so_far).is_err_and(|e| e.error_len().is_some()) {
                            return Err(shift(invalid_utf8(&self.lexer)));
                        }
                    }
                    let seq = carry.get(..need).unwrap_or_default();
                    if std::str::from_utf8(seq).is_err() {
                        return Err(shift(invalid_utf8(&self.lexer)));
                    }
                    *len = 0;
                    self.lexer.run(seq, &mut self.tally).map_err(shift)?;
                }
                // encoding_rs validates with SIMD where the CPU has it (simdutf8), several
                // times faster than `std::str::from_utf8` on markup; same valid prefix.
                let valid = encoding_rs::Encoding::utf8_valid_up_to(bytes);
                let (valid, tail) = bytes.split_at_checked(valid).unwrap_or((bytes, &[]));
                self.lexer.run(valid, &mut self.tally).map_err(shift)?;
                if tail.is_empty() {
                    return Ok(());
                }
                // Invalid, or a character cut by the end of the chunk (kept for the next).
                let cut = tail.len() <= 3
                    && std::str::from_utf8(tail).is_err_and(|e| e.error_len().is_none());
                if !cut {
                    return Err(shift(invalid_utf8(&self.lexer)));
                }
                for (slot, &b) in carry.iter_mut().zip(tail) {
                    *slot = b;
                }
                *len = tail.len();
                Ok(())
            }
            Front::Transcode { decoder, out } => {
                let mut bytes = bytes;
                loop {
                    let (result, read, written) =
                        decoder.decode_to_utf8_without_replacement(bytes, out, false);
                    let text = out.get(..written).unwrap_or_default();
                    self.lexer.run(text, &mut self.tally)?;
                    bytes = bytes.get(read..).unwrap_or_default();
                    if charset::decoder_failed(&result) {
                        return Err(invalid_encoding(&self.lexer, decoder.encoding().name()));
                    }
                    if result == DecoderResult::InputEmpty {
                        return Ok(());
                    }
                }
            }
            Front::Utf32 { decoder, out } => {
                for piece in bytes.chunks(charset::UTF32_STEP) {
                    let decoded = decoder.decode(piece, out);
                    self.lexer.run(out, &mut self.tally)?;
                    if decoded.is_err() {
                        return Err(invalid_encoding(&self.lexer, "UTF-32"));
                    }
                }
                Ok(())
            }
        }
    }

    /// The end of the body: checks it may end here (for `Complete`) and returns the report.
    pub fn finish(mut self, end: BodyEnd) -> Report {
        if self.error.is_none()
            && let Err(e) = self.finish_inner(end)
        {
            self.error = Some(e);
        }
        let mut report = Report::empty(Outcome::Clean);
        let multistatus = self.tally.is_multistatus();
        self.tally.report(&mut report);
        report.bytes = self.bytes;
        report.unbound_prefixes = self.lexer.unbound_prefixes();
        report.outcome = match (&self.error, end) {
            (Some(e), _) if e.limit.is_some() => Outcome::OverLimit,
            (Some(_), _) => Outcome::Malformed,
            (None, BodyEnd::Truncated) => Outcome::Truncated,
            (None, BodyEnd::Lagging) => Outcome::Lagging,
            (None, BodyEnd::Complete) if self.lexer.declares_dtd() => Outcome::DtdDeclarations,
            (None, BodyEnd::Complete) if !multistatus => Outcome::NotMultistatus,
            (None, BodyEnd::Complete) if report.failure_count > 0 => Outcome::PartialFailure,
            (None, BodyEnd::Complete) => Outcome::Clean,
        };
        report.malformed = self.error;
        // Done with the body: its lexer's tables and buffers serve the next one.
        self.lexer.recycle();
        report
    }

    fn finish_inner(&mut self, end: BodyEnd) -> Result<(), Malformed> {
        self.decide(true)?;
        if end != BodyEnd::Complete {
            return Ok(());
        }
        let bom = self.bom;
        match &mut self.front {
            Front::Utf8 { len, .. } if *len > 0 => {
                return Err(Malformed {
                    offset: self.lexer.consumed().saturating_add(bom),
                    reason: "invalid UTF-8".to_owned(),
                    limit: None,
                });
            }
            Front::Utf32 { decoder, .. } if decoder.pending() => {
                return Err(invalid_encoding(&self.lexer, "UTF-32"));
            }
            Front::Transcode { decoder, out } => {
                let (result, _, written) =
                    decoder.decode_to_utf8_without_replacement(&[], out, true);
                let text = out.get(..written).unwrap_or_default();
                self.lexer.run(text, &mut self.tally)?;
                if charset::decoder_failed(&result) {
                    return Err(invalid_encoding(&self.lexer, decoder.encoding().name()));
                }
            }
            _ => {}
        }
        self.lexer.finish().map_err(|mut e| {
            e.offset = e.offset.saturating_add(bom);
            e
        })
    }
}

fn invalid_utf8(lexer: &Lexer) -> Malformed {
    Malformed {
        offset: lexer.consumed(),
        reason: "invalid UTF-8".to_owned(),
        limit: None,
    }
}

fn invalid_encoding(lexer: &Lexer, name: &str) -> Malformed {
    Malformed {
        offset: lexer.consumed(),
        reason: format!("invalid byte sequence for {name}"),
        limit: None,
    }
}
