//! Bytes to UTF-8 for quick-xml, in the order of DESIGN.md §2.6: a BOM (or the UTF-16/32
//! shape of the first bytes), else the XML declaration's `encoding`, else the `charset` of
//! the response's `Content-Type`, else UTF-8. UTF-32 is decoded here (`encoding_rs` has
//! none); everything else through `encoding_rs`, without replacement: an invalid byte
//! sequence is an error.

use std::io::Read;

use encoding_rs::{DecoderResult, Encoding, UTF_8};
use quick_xml::encoding::detect_encoding;
use quick_xml::events::Event;

/// Transcodes the body to UTF-8 for quick-xml: the encoding comes from the BOM (or the
/// UTF-16 shape of `<?`), else from the XML declaration's `encoding`, else UTF-8.
pub(super) struct Decode<R> {
    inner: R,
    /// The first bytes, read to choose the encoding, not yet decoded.
    head: Vec<u8>,
    head_at: usize,
    decoder: encoding_rs::Decoder,
    eof: bool,
    done: bool,
    /// UTF-32 (which `encoding_rs` lacks): the body's bytes become UTF-8 here first.
    utf32: Option<Utf32>,
}

/// UTF-32 units to UTF-8, a cut unit carried to the next read.
struct Utf32 {
    big_endian: bool,
    carry: Vec<u8>,
}

impl Utf32 {
    fn convert(&mut self, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        self.carry.extend_from_slice(bytes);
        let whole = self.carry.len().saturating_sub(self.carry.len() % 4);
        let mut out = String::with_capacity(whole);
        for unit in self.carry.get(..whole).unwrap_or_default().chunks_exact(4) {
            let b: [u8; 4] = unit.try_into().unwrap_or_default();
            let n = if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            };
            out.push(char::from_u32(n).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "invalid byte sequence for UTF-32",
                )
            })?);
        }
        self.carry.drain(..whole);
        Ok(out.into_bytes())
    }
}

/// Bytes read before choosing the encoding: enough for any reasonable declaration.
const HEAD: usize = 1024;

impl<R: Read> Decode<R> {
    /// Reads the first bytes and chooses the encoding; `charset` is the `Content-Type`'s.
    pub(super) fn new(mut inner: R, charset: Option<&str>) -> Result<Self, String> {
        let mut head = Vec::with_capacity(HEAD);
        let mut eof = false;
        // A whole XML declaration, however much whitespace it holds (up to 64 KiB).
        let want_more = |head: &[u8]| {
            let open = head.starts_with(b"<?xml") && !head.windows(2).any(|w| w == b"?>");
            head.len() < HEAD || (open && head.len() < 64 * 1024)
        };
        while want_more(&head) {
            let mut chunk = [0u8; 256];
            let want = chunk.len();
            let n = inner
                .read(chunk.get_mut(..want).unwrap_or_default())
                .map_err(|e| e.to_string())?;
            if n == 0 {
                eof = true;
                break;
            }
            head.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
        let (encoding, bom) = match choose(&head, charset)? {
            Chosen::Utf32(big_endian) => {
                let mut state = Utf32 {
                    big_endian,
                    carry: Vec::new(),
                };
                let mut text = state.convert(&head).map_err(|e| e.to_string())?;
                if text.starts_with("\u{FEFF}".as_bytes()) {
                    text.drain(..3);
                }
                return Ok(Decode {
                    inner,
                    head: text,
                    head_at: 0,
                    decoder: UTF_8.new_decoder_without_bom_handling(),
                    eof,
                    done: false,
                    utf32: Some(state),
                });
            }
            Chosen::Encoding(encoding, bom) => (encoding, bom),
        };
        Ok(Decode {
            inner,
            head,
            head_at: bom,
            decoder: encoding.new_decoder_without_bom_handling(),
            eof,
            done: false,
            utf32: None,
        })
    }
}

/// The encoding chosen from the first bytes.
enum Chosen {
    /// UTF-32, big-endian or not (decoded here).
    Utf32(bool),
    /// An `encoding_rs` encoding, and the bytes of a BOM to skip.
    Encoding(&'static Encoding, usize),
}

/// DESIGN.md §2.6: a BOM or the UTF-16/32 shape of the first bytes; else the declared
/// `encoding` (a UTF-16 label on ASCII-shaped bytes read as UTF-8); else the charset; else
/// UTF-8.
fn choose(head: &[u8], charset: Option<&str>) -> Result<Chosen, String> {
    if head.starts_with(&[0, 0, 0xFE, 0xFF]) || head.starts_with(&[0, 0, 0, b'<']) {
        return Ok(Chosen::Utf32(true));
    }
    if head.starts_with(&[0xFF, 0xFE, 0, 0]) || head.starts_with(&[b'<', 0, 0, 0]) {
        return Ok(Chosen::Utf32(false));
    }
    let detected = detect_encoding(head);
    if let Some(d) = detected.as_ref()
        && (d.bom_len() > 0 || !d.encoding().is_ascii_compatible())
    {
        return Ok(Chosen::Encoding(d.encoding(), d.bom_len()));
    }
    if let Some(declared) = declared_encoding(head)? {
        return Ok(Chosen::Encoding(declared, 0));
    }
    Ok(charset
        .and_then(|label| hinted(head, label))
        .unwrap_or(Chosen::Encoding(UTF_8, 0)))
}

/// The encoding a `Content-Type` charset names, if the first bytes agree with it: a UTF-16
/// or UTF-32 label only when the zero bytes that encoding puts in `<` are there (a wrong
/// label on ASCII bytes is ignored); an unknown label is ignored.
fn hinted(head: &[u8], label: &str) -> Option<Chosen> {
    let zero = |i: usize| head.get(i) == Some(&0);
    let utf32_le = zero(1) && zero(2) && zero(3);
    let utf32_be = zero(0) && zero(1) && zero(2);
    let label = label.trim().trim_matches('"').to_ascii_lowercase();
    match label.as_str() {
        "utf-16" if zero(1) && !zero(0) => Some(Chosen::Encoding(encoding_rs::UTF_16LE, 0)),
        "utf-16" if zero(0) && !zero(1) => Some(Chosen::Encoding(encoding_rs::UTF_16BE, 0)),
        "utf-16" => None,
        "utf-32" | "ucs-4" if utf32_le => Some(Chosen::Utf32(false)),
        "utf-32" | "ucs-4" if utf32_be => Some(Chosen::Utf32(true)),
        "utf-32le" if utf32_le => Some(Chosen::Utf32(false)),
        "utf-32be" if utf32_be => Some(Chosen::Utf32(true)),
        "utf-32" | "ucs-4" | "utf-32le" | "utf-32be" => None,
        _ => match Encoding::for_label(label.as_bytes())? {
            e if e == encoding_rs::REPLACEMENT => None,
            e if e == encoding_rs::UTF_16LE => zero(1).then_some(Chosen::Encoding(e, 0)),
            e if e == encoding_rs::UTF_16BE => zero(0).then_some(Chosen::Encoding(e, 0)),
            e => Some(Chosen::Encoding(e, 0)),
        },
    }
}

/// The encoding named by an XML declaration at the start of `head`, read by quick-xml.
fn declared_encoding(head: &[u8]) -> Result<Option<&'static Encoding>, String> {
    if !head.starts_with(b"<?xml") {
        return Ok(None);
    }
    let Some(end) = head.windows(2).position(|w| w == b"?>") else {
        return Ok(None); // quick-xml will report the unclosed declaration
    };
    let decl = String::from_utf8_lossy(head.get(..end.saturating_add(2)).unwrap_or_default());
    let mut reader = quick_xml::Reader::from_str(&decl);
    match reader.read_event() {
        Ok(Event::Decl(d)) => match d.encoding() {
            None => Ok(None),
            Some(Ok(label)) => match Encoding::for_label(label.as_bytes()) {
                Some(enc) if enc.is_ascii_compatible() || enc == encoding_rs::REPLACEMENT => {
                    if enc == encoding_rs::REPLACEMENT {
                        Err(format!("unsupported encoding {label:?}"))
                    } else {
                        Ok(Some(enc))
                    }
                }
                // UTF-16 declared in an ASCII-shaped body: the bytes say otherwise; read
                // as UTF-8 (DESIGN.md §2.6).
                Some(_) => Ok(Some(UTF_8)),
                None => Err(format!("unsupported encoding {label:?}")),
            },
            Some(Err(e)) => Err(e.to_string()),
        },
        _ => Ok(None),
    }
}

impl<R: Read> Read for Decode<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        // encoding_rs needs room for one whole character.
        if out.len() < 4 || self.done {
            return Ok(0);
        }
        loop {
            let mut chunk = [0u8; 4096];
            let (src, from_head): (&[u8], bool) = if self.head_at < self.head.len() {
                (self.head.get(self.head_at..).unwrap_or_default(), true)
            } else if self.eof {
                (&[], false)
            } else {
                let n = self.inner.read(&mut chunk)?;
                if n == 0 {
                    self.eof = true;
                }
                match &mut self.utf32 {
                    Some(state) => {
                        if n == 0 && !state.carry.is_empty() {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                "invalid byte sequence for UTF-32",
                            ));
                        }
                        // Kept as the head: the decoder reads UTF-8 from there.
                        self.head = state.convert(chunk.get(..n).unwrap_or_default())?;
                        self.head_at = 0;
                        continue;
                    }
                    None => (chunk.get(..n).unwrap_or_default(), false),
                }
            };
            let last = self.eof && src.is_empty();
            let (result, read, written) = self
                .decoder
                .decode_to_utf8_without_replacement(src, out, last);
            if from_head {
                self.head_at = self.head_at.saturating_add(read);
            } else if read < src.len() {
                // Output full: keep the rest of this chunk for the next call.
                let rest = src.get(read..).unwrap_or_default().to_vec();
                self.head = rest;
                self.head_at = 0;
            }
            if let DecoderResult::Malformed(_, _) = result {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "invalid byte sequence for {}",
                        self.decoder.encoding().name()
                    ),
                ));
            }
            if last && result == DecoderResult::InputEmpty {
                self.done = true;
            }
            if written > 0 || self.done {
                return Ok(written);
            }
        }
    }
}
