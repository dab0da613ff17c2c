//! Content-Encoding on the audit side only: the client still gets the encoded bytes, the
//! scanner reads decoded XML. gzip, deflate (zlib, RFC 9110 §8.4.1.2), br and zstd.
//!
//! Memory stays bounded: decoders stream, and zstd windows are capped at 8 MiB, the limit
//! RFC 9659 sets for the `zstd` content coding.

use tokio::io::{AsyncBufRead, AsyncRead};

/// A content coding the audit can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

/// The coding named by a `Content-Encoding` value, `None` when the audit cannot read it
/// (an unknown coding, or several codings stacked).
pub fn parse(content_encoding: Option<&str>) -> Option<Encoding> {
    let Some(value) = content_encoding.map(str::trim) else {
        return Some(Encoding::Identity);
    };
    match value.to_ascii_lowercase().as_str() {
        "" | "identity" => Some(Encoding::Identity),
        "gzip" | "x-gzip" => Some(Encoding::Gzip),
        "deflate" => Some(Encoding::Deflate),
        "br" => Some(Encoding::Brotli),
        "zstd" => Some(Encoding::Zstd),
        _ => None,
    }
}

/// A reader of the decoded bytes of `input`.
pub fn reader<R>(encoding: Encoding, input: R) -> Box<dyn AsyncRead + Send + Unpin>
where
    R: AsyncBufRead + Send + Unpin + 'static,
{
    use async_compression::tokio::bufread as dec;
    match encoding {
        Encoding::Identity => Box::new(input),
        Encoding::Gzip => {
            let mut decoder = dec::GzipDecoder::new(input);
            decoder.multiple_members(true);
            Box::new(decoder)
        }
        Encoding::Deflate => Box::new(dec::ZlibDecoder::new(input)),
        Encoding::Brotli => Box::new(dec::BrotliDecoder::new(input)),
        Encoding::Zstd => Box::new(dec::ZstdDecoder::with_params(
            input,
            &[async_compression::zstd::DParameter::window_log_max(23)],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codings_are_recognised_case_insensitively_and_stacks_are_refused() {
        assert_eq!(parse(None), Some(Encoding::Identity));
        assert_eq!(parse(Some("GZIP")), Some(Encoding::Gzip));
        assert_eq!(parse(Some(" br ")), Some(Encoding::Brotli));
        assert_eq!(parse(Some("zstd")), Some(Encoding::Zstd));
        assert_eq!(parse(Some("deflate")), Some(Encoding::Deflate));
        assert_eq!(parse(Some("gzip, br")), None);
        assert_eq!(parse(Some("compress")), None);
    }
}
