//! Bytes to UTF-8 for the reference counter: the encoding comes from the BOM (or the UTF-16
//! shape of `<?`, both found by quick-xml's `detect_encoding`), else from the XML
//! declaration's `encoding` (read by quick-xml), else UTF-8; `encoding_rs` transcodes through
//! a fixed buffer. Independent of the scanner's `charset` module.

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
}

/// Bytes read before choosing the encoding: enough for any reasonable declaration.
const HEAD: usize = 1024;

impl<R: Read> Decode<R> {
    pub(super) fn new(mut inner: R) -> Result<Self, String> {
        let mut head = Vec::with_capacity(HEAD);
        let mut eof = false;
        while head.len() < HEAD {
            let mut chunk = [0u8; 256];
            let want = (HEAD.saturating_sub(head.len())).min(chunk.len());
            let n = inner
                .read(chunk.get_mut(..want).unwrap_or_default())
                .map_err(|e| e.to_string())?;
            if n == 0 {
                eof = true;
                break;
            }
            head.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
        let detected = detect_encoding(&head);
        let bom = detected.as_ref().map_or(0, |d| d.bom_len());
        let mut encoding = detected.as_ref().map_or(UTF_8, |d| d.encoding());
        if bom == 0
            && encoding.is_ascii_compatible()
            && let Some(declared) = declared_encoding(&head)?
        {
            encoding = declared;
        }
        Ok(Decode {
            inner,
            head,
            head_at: bom,
            decoder: encoding.new_decoder_without_bom_handling(),
            eof,
            done: false,
        })
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
                // UTF-16 declared in an ASCII-shaped body: the bytes say otherwise.
                Some(_) => Err(format!(
                    "declared encoding {label:?} does not match the bytes"
                )),
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
                (chunk.get(..n).unwrap_or_default(), false)
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
