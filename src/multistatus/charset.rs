//! Bytes in, UTF-8 out: picks the body's character encoding from its first bytes and hands
//! the lexer valid UTF-8 split on character boundaries.
//!
//! - UTF-8 (with or without BOM, the default): validated in place, never copied; a character
//!   split across chunks is carried (at most 3 bytes).
//! - UTF-16 LE/BE with a BOM (or without one, recognised by `<?` as two UTF-16 units), and any
//!   encoding declared in the XML declaration that `encoding_rs` knows (ISO-8859-1,
//!   windows-1252, Shift_JIS, ...): transcoded through a fixed 8 KiB buffer.
//! - UTF-32 LE/BE with a BOM, or recognised by `<` as one UTF-32 unit: decoded here
//!   (`encoding_rs` has no UTF-32), through the same kind of buffer.
//! - With no BOM and no `encoding` in an XML declaration, the `charset` of the response's
//!   `Content-Type` ([`Hint`]), when it names an encoding; a UTF-16/32 label only when the
//!   first bytes hold the zero bytes that encoding puts there (a wrong label on ASCII bytes
//!   is ignored). Order: BOM, declaration, charset parameter, UTF-8.
//!
//! An XML declaration is read whole (up to `MAX_DECL`) before choosing: only whitespace
//! makes one longer than `MAX_SNIFF`.
//!
//! Malformed offsets are byte offsets in the body for UTF-8 bodies, and offsets in the UTF-8
//! transcoding for transcoded bodies.

use encoding_rs::{DecoderResult, Encoding, REPLACEMENT, UTF_8, UTF_16BE, UTF_16LE};

use super::lexer::is_ws;
use super::limits::{MAX_DECL, MAX_SNIFF};
use super::report::{Limit, Malformed};

/// How the body's bytes become UTF-8.
#[derive(Debug)]
pub(crate) enum Front {
    /// Still reading the first bytes (at most `MAX_SNIFF`).
    Sniff(Vec<u8>),
    /// UTF-8: validate, carry an incomplete character between chunks.
    Utf8 { carry: [u8; 4], len: usize },
    /// Another encoding: decode into `out`.
    Transcode {
        decoder: encoding_rs::Decoder,
        out: Vec<u8>,
    },
    /// UTF-32: decode into `out`.
    Utf32 { decoder: Utf32, out: Vec<u8> },
}

/// An encoding named outside the body (the `charset` of the `Content-Type`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hint {
    Encoding(&'static Encoding),
    /// `utf-16` with no byte order: told by where the zero byte is.
    Utf16,
    /// `utf-32le`, `utf-32be` (`Some(big_endian)`), or `utf-32` (`None`).
    Utf32(Option<bool>),
}

impl Hint {
    /// The hint for a `charset` parameter value, `None` when no encoding has that label.
    pub(crate) fn from_label(label: &str) -> Option<Hint> {
        let label = label.trim().trim_matches('"');
        // The label nearly every server sends, without a lowercase copy and a table search.
        if label.eq_ignore_ascii_case("utf-8") {
            return Some(Hint::Encoding(UTF_8));
        }
        let label = label.to_ascii_lowercase();
        match label.as_str() {
            "utf-16" => Some(Hint::Utf16),
            "utf-32" | "ucs-4" => Some(Hint::Utf32(None)),
            "utf-32le" => Some(Hint::Utf32(Some(false))),
            "utf-32be" => Some(Hint::Utf32(Some(true))),
            _ => Encoding::for_label(label.as_bytes())
                .filter(|e| *e != REPLACEMENT)
                .map(Hint::Encoding),
        }
    }
}

/// UTF-32 to UTF-8, four bytes at a time, carried across chunks; drops a leading BOM.
#[derive(Debug)]
pub(crate) struct Utf32 {
    big_endian: bool,
    carry: [u8; 4],
    len: usize,
    started: bool,
}

/// Input bytes decoded per call: at most as many UTF-8 bytes out.
pub(crate) const UTF32_STEP: usize = 4 * 1024;

impl Utf32 {
    /// Decodes `bytes` (at most `UTF32_STEP`) into `out`, cleared first. `Err` on a unit
    /// that is not a Unicode scalar value.
    pub(crate) fn decode(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
        out.clear();
        for &b in bytes {
            if let Some(slot) = self.carry.get_mut(self.len) {
                *slot = b;
            }
            self.len = self.len.saturating_add(1);
            if self.len < 4 {
                continue;
            }
            self.len = 0;
            let unit = if self.big_endian {
                u32::from_be_bytes(self.carry)
            } else {
                u32::from_le_bytes(self.carry)
            };
            let c = char::from_u32(unit).ok_or(())?;
            if !std::mem::replace(&mut self.started, true) && c == '\u{FEFF}' {
                continue;
            }
            let mut utf8 = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
        Ok(())
    }

    /// True when a unit was cut by the end of the body.
    pub(crate) fn pending(&self) -> bool {
        self.len > 0
    }
}

fn utf32(big_endian: bool) -> Front {
    Front::Utf32 {
        decoder: Utf32 {
            big_endian,
            carry: [0; 4],
            len: 0,
            started: false,
        },
        out: Vec::with_capacity(UTF32_STEP),
    }
}

/// First bytes the scanner holds before it tries to choose, growing fourfold per try up to
/// [`sniff_limit`]: the choice is the same however the first bytes arrive.
pub(crate) const FIRST_STEP: usize = 256;

/// How many first bytes to hold before choosing: a whole XML declaration, else `MAX_SNIFF`.
pub(crate) fn sniff_limit(head: &[u8]) -> usize {
    if head.starts_with(b"<?xml") && head.get(5).copied().is_some_and(is_ws) {
        MAX_DECL
    } else {
        MAX_SNIFF
    }
}

/// The front for a hint, if the first bytes agree with it.
fn hinted(head: &[u8], hint: Option<Hint>) -> Option<Front> {
    let zero = |i: usize| head.get(i) == Some(&0);
    match hint? {
        Hint::Encoding(enc) if enc == UTF_8 => None,
        Hint::Encoding(enc) if enc == UTF_16LE => {
            zero(1).then(|| transcode(UTF_16LE.new_decoder_without_bom_handling()))
        }
        Hint::Encoding(enc) if enc == UTF_16BE => {
            zero(0).then(|| transcode(UTF_16BE.new_decoder_without_bom_handling()))
        }
        Hint::Utf16 if zero(1) && !zero(0) => {
            Some(transcode(UTF_16LE.new_decoder_without_bom_handling()))
        }
        Hint::Utf16 if zero(0) && !zero(1) => {
            Some(transcode(UTF_16BE.new_decoder_without_bom_handling()))
        }
        Hint::Utf16 => None,
        Hint::Utf32(order) => {
            let le = zero(1) && zero(2) && zero(3);
            let be = zero(0) && zero(1) && zero(2);
            match order {
                Some(false) | None if le => Some(utf32(false)),
                Some(true) | None if be => Some(utf32(true)),
                _ => None,
            }
        }
        Hint::Encoding(enc) => Some(transcode(enc.new_decoder_without_bom_handling())),
    }
}

/// The choice made from the first bytes.
pub(crate) struct Choice {
    pub(crate) front: Front,
    /// Bytes of a UTF-8 BOM: not lexed, added to lexer offsets.
    pub(crate) bom: usize,
}

fn transcode(decoder: encoding_rs::Decoder) -> Front {
    Front::Transcode {
        decoder,
        out: vec![0; 8 * 1024],
    }
}

fn utf8(bom: usize) -> Choice {
    Choice {
        front: Front::Utf8 {
            carry: [0; 4],
            len: 0,
        },
        bom,
    }
}

/// Decides the encoding from the first bytes, or `None` to wait for more. `eof` means no
/// more bytes will come (or `sniff_limit` were seen).
pub(crate) fn sniff(
    head: &[u8],
    eof: bool,
    hint: Option<Hint>,
) -> Option<Result<Choice, Malformed>> {
    let full = head.len() >= sniff_limit(head);
    let eof = eof || full;
    let decoded = |front| Some(Ok(Choice { front, bom: 0 }));
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Some(Ok(utf8(3)));
    }
    if head.starts_with(&[0x00, 0x00, 0xFE, 0xFF]) {
        return decoded(utf32(true));
    }
    if head.starts_with(&[0xFF, 0xFE, 0x00, 0x00]) {
        // U+0000 after a UTF-16 BOM is not XML: this is a UTF-32 BOM.
        return decoded(utf32(false));
    }
    if head.len() < 4 && !eof && [0xFF, 0xFE, 0x00].starts_with(head) {
        return None;
    }
    if head.starts_with(&[0xFF, 0xFE]) {
        return decoded(transcode(UTF_16LE.new_decoder_with_bom_removal()));
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return decoded(transcode(UTF_16BE.new_decoder_with_bom_removal()));
    }
    if head.len() < 6 && !eof {
        return None;
    }
    if head.starts_with(&[0x3C, 0x00, 0x00, 0x00]) {
        return decoded(utf32(false));
    }
    if head.starts_with(&[0x00, 0x00, 0x00, 0x3C]) {
        return decoded(utf32(true));
    }
    if head.starts_with(&[0x3C, 0x00, 0x3F, 0x00]) {
        return decoded(transcode(UTF_16LE.new_decoder_without_bom_handling()));
    }
    if head.starts_with(&[0x00, 0x3C, 0x00, 0x3F]) {
        return decoded(transcode(UTF_16BE.new_decoder_without_bom_handling()));
    }
    let is_decl = head.starts_with(b"<?xml") && head.get(5).copied().is_some_and(is_ws);
    let by_hint = || match hinted(head, hint) {
        Some(front) => decoded(front),
        None => Some(Ok(utf8(0))),
    };
    if !is_decl {
        return by_hint();
    }
    let Some(end) = memchr::memmem::find(head, b"?>") else {
        return if full {
            Some(Err(Malformed {
                limit: Some(Limit::XmlDeclaration),
                ..Malformed::at(0, "XML declaration too long")
            }))
        } else if eof {
            Some(Ok(utf8(0)))
        } else {
            None
        };
    };
    let decl = head.get(..end).unwrap_or_default();
    let Some(label) = declared_encoding(decl) else {
        return by_hint();
    };
    match Encoding::for_label(label) {
        // A UTF-16 label on bytes that read as ASCII: the label is wrong, the bytes are not
        // UTF-16; read them as UTF-8.
        Some(enc) if enc == UTF_8 || enc == UTF_16LE || enc == UTF_16BE => Some(Ok(utf8(0))),
        Some(enc) if enc != REPLACEMENT => {
            decoded(transcode(enc.new_decoder_without_bom_handling()))
        }
        _ => Some(Err(Malformed::at(
            0,
            format!(
                "unsupported encoding {:?}",
                String::from_utf8_lossy(label.get(..64).unwrap_or(label))
            ),
        ))),
    }
}

/// The value of `encoding="..."` in an XML declaration.
fn declared_encoding(decl: &[u8]) -> Option<&[u8]> {
    let at = memchr::memmem::find(decl, b"encoding")?;
    let rest = decl.get(at.saturating_add(8)..)?.trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    let (&quote, rest) = rest.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let end = memchr::memchr(quote, rest)?;
    rest.get(..end)
}

/// Length of the UTF-8 sequence a lead byte begins (1 for anything else).
pub(crate) fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

/// What to do with a result of `decode_to_utf8_without_replacement`.
pub(crate) fn decoder_failed(result: &DecoderResult) -> bool {
    matches!(result, DecoderResult::Malformed(..))
}
