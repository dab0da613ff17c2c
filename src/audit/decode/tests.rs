use std::io::Write;

use super::*;

fn codings(value: &str) -> Option<Codings> {
    parse([value.as_bytes()])
}

/// Decodes `coded` pushed in chunks of `split` bytes; the error, if any.
fn decode_split(value: &str, coded: &[u8], split: usize) -> Result<Vec<u8>, DecodeError> {
    let mut decoder = Decoder::new(&codings(value).expect("known codings"));
    let mut out = Vec::new();
    for chunk in coded.chunks(split.max(1)) {
        decoder.push(chunk, &mut |bytes| out.extend_from_slice(bytes))?;
    }
    decoder.finish(&mut |bytes| out.extend_from_slice(bytes))?;
    Ok(out)
}

/// Decodes at every chunk size that matters: whole, 1 byte, and a few odd sizes.
fn decode_all_splits(value: &str, coded: &[u8]) -> Vec<u8> {
    let whole = decode_split(value, coded, coded.len()).expect("decodes whole");
    for split in [1, 2, 3, 7, 10, 11, 64, 4097] {
        assert_eq!(
            decode_split(value, coded, split).expect("decodes split"),
            whole,
            "{value} split every {split} bytes"
        );
    }
    whole
}

fn xml(n: usize) -> Vec<u8> {
    let mut body = String::from("<?xml version=\"1.0\"?><D:multistatus xmlns:D=\"DAV:\">");
    for i in 0..n {
        body.push_str(&format!(
            "<D:response><D:href>/f/{i}</D:href><D:status>HTTP/1.1 423 Locked</D:status></D:response>"
        ));
    }
    body.push_str("</D:multistatus>");
    body.into_bytes()
}

fn gzip(plain: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(plain).unwrap();
    e.finish().unwrap()
}

fn zlib(plain: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(plain).unwrap();
    e.finish().unwrap()
}

fn raw_deflate(plain: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(plain).unwrap();
    e.finish().unwrap()
}

fn br(plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = ::brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(plain).unwrap();
    }
    out
}

fn zst(plain: &[u8]) -> Vec<u8> {
    ::zstd::stream::encode_all(plain, 3).unwrap()
}

#[test]
fn codings_are_recognised_case_insensitively_in_lists_and_over_several_lines() {
    use Coding::*;
    assert_eq!(parse(std::iter::empty()), Some(Codings(vec![])));
    assert_eq!(codings("identity"), Some(Codings(vec![])));
    assert_eq!(codings("GZIP"), Some(Codings(vec![Gzip])));
    assert_eq!(codings(" br "), Some(Codings(vec![Brotli])));
    assert_eq!(codings("x-gzip"), Some(Codings(vec![Gzip])));
    assert_eq!(codings("gzip, identity"), Some(Codings(vec![Gzip])));
    assert_eq!(codings("gzip, br"), Some(Codings(vec![Gzip, Brotli])));
    assert_eq!(
        parse([&b"gzip"[..], &b"zstd"[..]]),
        Some(Codings(vec![Gzip, Zstd]))
    );
    assert_eq!(codings("compress"), None);
    assert_eq!(codings("gzip, compress"), None);
    assert_eq!(codings("gzip, gzip, gzip, gzip, gzip"), None);
}

#[test]
fn gzip_is_decoded_whatever_the_chunking() {
    let plain = xml(200);
    assert_eq!(decode_all_splits("gzip", &gzip(&plain)), plain);
}

#[test]
fn gzip_headers_with_every_optional_field_are_skipped() {
    let plain = xml(20);
    let mut e = flate2::GzBuilder::new()
        .filename("listing.xml")
        .comment("a comment")
        .extra(vec![1, 2, 3, 4, 5])
        .write(Vec::new(), flate2::Compression::fast());
    e.write_all(&plain).unwrap();
    let mut coded = e.finish().unwrap();
    // FHCRC: flate2 does not write one; set the flag and insert two bytes after the comment.
    let comment_end = coded.iter().rposition(|b| *b == 0).unwrap();
    let at = coded
        .windows(b"a comment\0".len())
        .position(|w| w == b"a comment\0")
        .unwrap()
        + b"a comment\0".len();
    assert!(at <= comment_end + 1);
    coded[3] |= 0x02;
    coded.splice(at..at, [0xaa, 0xbb]);
    assert_eq!(decode_all_splits("gzip", &coded), plain);
}

#[test]
fn gzip_members_are_all_decoded() {
    let (a, b) = (xml(30), xml(7));
    let mut coded = gzip(&a);
    coded.extend(gzip(&b));
    let mut plain = a;
    plain.extend(b);
    assert_eq!(decode_all_splits("gzip", &coded), plain);
}

#[test]
fn gzip_trailing_bytes_are_ignored_not_an_error() {
    let plain = xml(30);
    for junk in [
        &b"\0\0\0\0\0\0\0\0"[..],
        b"\n",
        b"trailing junk",
        b"\x1f",
        b"\x1f\x8bjunk",
    ] {
        let mut coded = gzip(&plain);
        coded.extend_from_slice(junk);
        assert_eq!(decode_all_splits("gzip", &coded), plain, "junk {junk:?}");
    }
}

#[test]
fn gzip_cut_short_or_corrupt_is_an_error() {
    let plain = xml(30);
    let coded = gzip(&plain);
    for cut in [1, 5, 10, coded.len() / 2, coded.len() - 4, coded.len() - 1] {
        let error = decode_split("gzip", &coded[..cut], 7).unwrap_err();
        assert_eq!(error.coding, Coding::Gzip, "cut at {cut}");
    }
    let mut bad_crc = coded.clone();
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 1;
    assert!(decode_split("gzip", &bad_crc, 64).is_err());
    assert!(decode_split("gzip", b"<D:multistatus/>", 64).is_err());
}

#[test]
fn deflate_is_read_as_zlib_or_as_raw_deflate() {
    let plain = xml(100);
    assert_eq!(decode_all_splits("deflate", &zlib(&plain)), plain);
    assert_eq!(decode_all_splits("deflate", &raw_deflate(&plain)), plain);
    for level in 0..=9 {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(&plain).unwrap();
        assert_eq!(
            decode_all_splits("deflate", &e.finish().unwrap()),
            plain,
            "raw deflate level {level}"
        );
    }
    let coded = zlib(&plain);
    assert!(decode_split("deflate", &coded[..coded.len() / 2], 64).is_err());
    assert!(decode_split("deflate", &coded[..1], 64).is_err());
}

#[test]
fn brotli_is_decoded_and_cut_short_is_an_error() {
    let plain = xml(100);
    let coded = br(&plain);
    assert_eq!(decode_all_splits("br", &coded), plain);
    assert!(decode_split("br", &coded[..coded.len() / 2], 64).is_err());
    assert!(decode_split("br", b"\xff\xff\xff\xff not brotli", 64).is_err());
}

#[test]
fn zstd_frames_are_all_decoded() {
    let (a, b) = (xml(40), xml(3));
    let mut coded = zst(&a);
    coded.extend(zst(&b));
    let mut plain = a.clone();
    plain.extend(b);
    assert_eq!(decode_all_splits("zstd", &coded), plain);
    assert_eq!(decode_all_splits("zstd", &zst(&a)), a);
}

#[test]
fn zstd_cut_short_empty_or_over_the_window_limit_is_an_error() {
    let plain = xml(40);
    let coded = zst(&plain);
    assert!(decode_split("zstd", &coded[..coded.len() - 3], 16).is_err());
    assert!(decode_split("zstd", b"", 16).is_err());
    // A frame that needs a 16 MiB window: over RFC 9659's 8 MiB.
    let big: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut e = ::zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    e.set_parameter(::zstd::stream::raw::CParameter::WindowLog(24))
        .unwrap();
    e.include_contentsize(false).unwrap();
    e.write_all(&big).unwrap();
    let coded = e.finish().unwrap();
    assert!(decode_split("zstd", &coded, 1 << 16).is_err());
}

#[test]
fn stacked_codings_are_undone_right_to_left() {
    let plain = xml(60);
    // "gzip, br": gzip applied first, then br.
    let coded = br(&gzip(&plain));
    assert_eq!(decode_all_splits("gzip, br", &coded), plain);
    let coded = gzip(&zst(&raw_deflate(&plain)));
    assert_eq!(decode_all_splits("deflate, zstd, gzip", &coded), plain);
    assert_eq!(decode_all_splits("gzip, identity", &gzip(&plain)), plain);
    // Cut short in the inner coding: still an error at the end.
    let inner = gzip(&plain);
    let coded = br(&inner[..inner.len() - 5]);
    assert!(decode_split("gzip, br", &coded, 100).is_err());
}

/// A decompression bomb: `gzip, gzip` of 64 MiB of zeros is a few hundred bytes. Decoding
/// stops past the allowance, however the coded bytes are chunked (a byte at a time earns no
/// more than one chunk), having given at most the allowance.
#[test]
fn a_body_that_decodes_to_over_the_ratio_fails_whatever_the_chunking() {
    let zeros = vec![0u8; 64 << 20];
    let coded = gzip(&gzip(&zeros));
    assert!(coded.len() < 4096, "{}", coded.len());
    for split in [1, 7, coded.len()] {
        let mut decoder = Decoder::new(&codings("gzip, gzip").expect("known"));
        let mut given = 0usize;
        let mut error = None;
        for chunk in coded.chunks(split) {
            if let Err(e) = decoder.push(chunk, &mut |out| given += out.len()) {
                error = Some(e);
                break;
            }
        }
        let error = error.expect("the bomb is refused");
        assert!(
            error.to_string().contains("bytes per coded byte"),
            "{error}"
        );
        assert!(
            given <= HEADROOM + coded.len() * MAX_RATIO,
            "split {split}: {given} bytes given"
        );
    }
    // A real body packs far below the ratio; 16 MiB of one byte (deflate's best, ~1032:1)
    // passes within the headroom.
    let body = xml(20_000);
    assert_eq!(decode_all_splits("gzip", &gzip(&body)), body);
    let run = vec![b' '; 16 << 20];
    assert_eq!(decode_split("gzip", &gzip(&run), 4096).expect("a run"), run);
}
