//! Bytes in, UTF-8 out: picks the body's character encoding from its first bytes and hands
//! the lexer valid UTF-8 split on character boundaries.
//!
//! - UTF-8 (with or without BOM, the default): validated in place, never copied; a character
//!   split across chunks is carried (at most 3 bytes).
//! - UTF-16 LE/BE with a BOM (or without one, recognised by `<?` as two UTF-16 units), and any
//!   encoding declared in the XML declaration that `encoding_rs` knows (ISO-8859-1,
//!   windows-1252, Shift_JIS, ...): transcoded through a fixed 8 KiB buffer.
//!
//! Malformed offsets are byte offsets in the body for UTF-8 bodies, and offsets in the UTF-8
//! transcoding for transcoded bodies.

use encoding_rs::{DecoderResult, Encoding, REPLACEMENT, UTF_8, UTF_16BE, UTF_16LE};

use super::lexer::is_ws;
use super::limits::MAX_SNIFF;
use super::report::Malformed;

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
/// more bytes will come (or `MAX_SNIFF` were seen).
pub(crate) fn sniff(head: &[u8], eof: bool) -> Option<Result<Choice, Malformed>> {
    let eof = eof || head.len() >= MAX_SNIFF;
    let decoded = |front| Some(Ok(Choice { front, bom: 0 }));
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Some(Ok(utf8(3)));
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
    if head.starts_with(&[0x3C, 0x00, 0x3F, 0x00]) {
        return decoded(transcode(UTF_16LE.new_decoder_without_bom_handling()));
    }
    if head.starts_with(&[0x00, 0x3C, 0x00, 0x3F]) {
        return decoded(transcode(UTF_16BE.new_decoder_without_bom_handling()));
    }
    let is_decl = head.starts_with(b"<?xml") && head.get(5).copied().is_some_and(is_ws);
    if !is_decl {
        return Some(Ok(utf8(0)));
    }
    let Some(end) = memchr::memmem::find(head, b"?>") else {
        return if eof { Some(Ok(utf8(0))) } else { None };
    };
    let decl = head.get(..end).unwrap_or_default();
    let Some(label) = declared_encoding(decl) else {
        return Some(Ok(utf8(0)));
    };
    match Encoding::for_label(label) {
        // A UTF-16 label on bytes that read as ASCII: the label is wrong, the bytes are not
        // UTF-16; read them as UTF-8.
        Some(enc) if enc == UTF_8 || enc == UTF_16LE || enc == UTF_16BE => Some(Ok(utf8(0))),
        Some(enc) if enc != REPLACEMENT => {
            decoded(transcode(enc.new_decoder_without_bom_handling()))
        }
        _ => Some(Err(Malformed {
            offset: 0,
            reason: format!(
                "unsupported encoding {:?}",
                String::from_utf8_lossy(label.get(..64).unwrap_or(label))
            ),
        })),
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
