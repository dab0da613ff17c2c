//! Bodies real clients decode, the audit decodes too (issue 14 item 6): zstd in several
//! frames, `deflate` sent as raw deflate (IIS), coding lists and repeated `Content-Encoding`
//! lines, gzip with several members or trailing bytes. Each is forwarded byte for byte and
//! counted like the oracle counts the decoded body.

use std::io::Write;

use crate::audit_edge_cases::{Expected, assert_audited, mixed_body};
use crate::support::oracle::{DEFAULT_RULES, encode};
use crate::support::*;

/// The upstream answers a PROPPATCH with `coded` (a 207 with `content_encoding` lines) in
/// 97-byte frames; the client gets `coded` unchanged and the audit counts `plain`.
async fn coded_207_is_audited_like_the_oracle(
    content_encoding: &[&str],
    coded: Vec<u8>,
    plain: &[u8],
) {
    let mut reply = Reply::multistatus(coded.clone()).framed(97);
    for line in content_encoding {
        reply = reply.header("content-encoding", line);
    }
    let upstream = FakeUpstream::always(reply).await;
    let proxy = Proxy::start(&upstream.url()).await;
    let before = proxy.metrics().await;
    let response = raw_request(
        proxy.addr(),
        b"PROPPATCH /dir/ HTTP/1.1\r\nHost: dav.example\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\
          Connection: close\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 207);
    assert!(response.complete);
    assert_eq!(response.header_all("content-encoding"), content_encoding);
    assert_eq!(
        digest(&response.body),
        digest(&coded),
        "forwarded unchanged"
    );
    let expected = Expected::from_oracle("PROPPATCH", plain, DEFAULT_RULES);
    assert_audited(&proxy, &before, &expected).await;
}

#[tokio::test]
async fn zstd_in_two_frames_is_audited_whole() {
    let plain = mixed_body(30);
    let (first, second) = plain.as_bytes().split_at(plain.len() / 2);
    let mut coded = encode("zstd", first);
    coded.extend(encode("zstd", second));
    coded_207_is_audited_like_the_oracle(&["zstd"], coded, plain.as_bytes()).await;
}

#[tokio::test]
async fn deflate_sent_as_raw_deflate_is_audited() {
    let plain = mixed_body(30);
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(plain.as_bytes()).unwrap();
    let coded = e.finish().unwrap();
    coded_207_is_audited_like_the_oracle(&["deflate"], coded, plain.as_bytes()).await;
}

#[tokio::test]
async fn a_coding_list_with_identity_is_audited() {
    let plain = mixed_body(30);
    let coded = encode("gzip", plain.as_bytes());
    coded_207_is_audited_like_the_oracle(&["gzip, identity"], coded, plain.as_bytes()).await;
}

#[tokio::test]
async fn stacked_codings_in_one_line_are_audited() {
    let plain = mixed_body(30);
    let coded = encode("br", &encode("gzip", plain.as_bytes()));
    coded_207_is_audited_like_the_oracle(&["gzip, br"], coded, plain.as_bytes()).await;
}

#[tokio::test]
async fn two_content_encoding_lines_are_audited() {
    let plain = mixed_body(30);
    let coded = encode("zstd", &encode("gzip", plain.as_bytes()));
    coded_207_is_audited_like_the_oracle(&["gzip", "zstd"], coded, plain.as_bytes()).await;
}

#[tokio::test]
async fn gzip_in_two_members_is_audited_whole() {
    let plain = mixed_body(30);
    let (first, second) = plain.as_bytes().split_at(plain.len() / 3);
    let mut coded = encode("gzip", first);
    coded.extend(encode("gzip", second));
    coded_207_is_audited_like_the_oracle(&["gzip"], coded, plain.as_bytes()).await;
}

#[tokio::test]
async fn gzip_with_trailing_bytes_is_counted_exactly_and_not_malformed() {
    let plain = mixed_body(30);
    let mut coded = encode("gzip", plain.as_bytes());
    coded.extend_from_slice(b"\0\0\0\0\0\0\0\0\r\n");
    // What a client reads: the member, the trailing bytes ignored (as gzip(1) and curl do).
    let mut read = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&coded[..]), &mut read).unwrap();
    assert_eq!(read, plain.as_bytes());
    coded_207_is_audited_like_the_oracle(&["gzip"], coded, plain.as_bytes()).await;
}
