//! Encodings: BOMs, UTF-16 and UTF-32, declared single-byte charsets, the Content-Type charset,
//! invalid UTF-8.

use super::*;

#[test]
fn utf8_bom_is_skipped_and_counted_in_offsets() {
    let mut body = vec![0xEF, 0xBB, 0xBF];
    body.extend_from_slice(ms(&resp_status("/a", "HTTP/1.1 200 OK")).as_bytes());
    let r = scan_checked(&body);
    assert_eq!(r.outcome, Outcome::Clean);
    assert_eq!(r.entries, 1);
    let mut bad = vec![0xEF, 0xBB, 0xBF];
    bad.extend_from_slice(b"<a></b>");
    let r = scan_checked(&bad);
    assert_eq!(r.malformed.unwrap().offset, 6);
}

fn utf16(s: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let units = bom.then_some(0xFEFF).into_iter().chain(s.encode_utf16());
    for u in units {
        out.extend_from_slice(&if big_endian {
            u.to_be_bytes()
        } else {
            u.to_le_bytes()
        });
    }
    out
}

#[test]
fn utf16_bodies_with_a_bom_are_read() {
    let doc = format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>{}"#,
        &ms(&resp_status("/é/ü€𝄞", "HTTP/1.1 423 Locked"))[38..]
    );
    for (be, bom) in [(false, true), (true, true), (false, false), (true, false)] {
        let body = utf16(&doc, be, bom);
        let r = scan_checked(&body);
        assert_eq!(
            r.outcome,
            Outcome::PartialFailure,
            "be={be} bom={bom} {r:?}"
        );
        assert_eq!(r.failures[0].href, "/é/ü€𝄞");
        assert_eq!(r.bytes, body.len() as u64);
    }
    // An unpaired surrogate is malformed.
    let mut body = utf16("<a>", false, true);
    body.extend_from_slice(&[0x00, 0xD8, b'x', 0]);
    assert_eq!(scan_checked(&body).outcome, Outcome::Malformed);
}

#[test]
fn declared_single_byte_encodings_are_transcoded() {
    for label in ["ISO-8859-1", "windows-1252", "latin1"] {
        let mut body = format!(r#"<?xml version="1.0" encoding="{label}"?>"#).into_bytes();
        body.extend_from_slice(br#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/caf"#);
        body.push(0xE9); // é in both
        body.extend_from_slice(
            b"</D:href><D:status>HTTP/1.1 403 x</D:status><D:responsedescription>",
        );
        body.push(0x80); // euro sign in windows-1252 (ISO-8859-1 labels are windows-1252 in WHATWG)
        body.extend_from_slice(b"</D:responsedescription></D:response></D:multistatus>");
        let r = scan_checked(&body);
        assert_eq!(r.outcome, Outcome::PartialFailure, "{label}: {r:?}");
        assert_eq!(r.failures[0].href, "/café");
        assert_eq!(r.failures[0].description.as_deref(), Some("€"));
    }
    let r = scan_checked(br#"<?xml version="1.0" encoding="x-no-such"?><a/>"#);
    assert_eq!(r.outcome, Outcome::Malformed);
    assert!(r.malformed.unwrap().reason.contains("unsupported encoding"));
}

#[test]
fn invalid_utf8_is_malformed_at_its_offset() {
    let mut body = b"<a>xx".to_vec();
    body.extend_from_slice(&[0xE2, 0x28, 0xA1]);
    body.extend_from_slice(b"</a>");
    let r = scan_checked(&body);
    assert_eq!(r.malformed.unwrap(), Malformed::at(5, "invalid UTF-8"));
    // A character cut by the end of the body.
    let r = scan_checked(&[b'<', b'a', b'/', b'>', 0xE2, 0x82]);
    assert_eq!(r.malformed.unwrap().offset, 4);
}

/// A `charset` from the Content-Type is used when the body has no BOM and no declared
/// encoding; a UTF-16 label on ASCII bytes is ignored.
#[test]
fn the_content_type_charset_reads_bom_less_utf16() {
    let text = format!(
        r#"<D:multistatus xmlns:D="DAV:">{}</D:multistatus>"#,
        resp_status("/\u{e9}", "HTTP/1.1 423 Locked")
    );
    let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let scan_with = |body: &[u8], charset: &str| {
        let mut s = Scanner::new(AllErrors, Limits::default()).with_charset(Some(charset));
        for piece in body.chunks(7) {
            s.feed(piece);
        }
        s.finish(BodyEnd::Complete)
    };
    let r = scan_with(&le, "utf-16le");
    assert_eq!(r.outcome, Outcome::PartialFailure, "{:?}", r.malformed);
    assert_eq!(r.failures[0].href, "/\u{e9}");
    assert_eq!(scan_with(&le, "UTF-16").outcome, Outcome::PartialFailure);
    assert_eq!(scan(&le).outcome, Outcome::Malformed, "without the hint");
    let r = scan_with(text.as_bytes(), "utf-16le");
    assert_eq!(
        r.outcome,
        Outcome::PartialFailure,
        "a wrong label is ignored"
    );
    let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    let r = scan_with(&latin1, "iso-8859-1");
    assert_eq!(r.failures[0].href, "/\u{e9}");
}

/// UTF-32 with a BOM, either order, split anywhere; a cut unit is malformed.
#[test]
fn utf32_bodies_are_read() {
    let text = ms(&resp_status("/\u{e9}\u{1F600}", "HTTP/1.1 423 Locked"));
    let le: Vec<u8> = [0xFF, 0xFE, 0, 0]
        .into_iter()
        .chain(text.chars().flat_map(|c| (c as u32).to_le_bytes()))
        .collect();
    let be: Vec<u8> = [0, 0, 0xFE, 0xFF]
        .into_iter()
        .chain(text.chars().flat_map(|c| (c as u32).to_be_bytes()))
        .collect();
    for body in [&le, &be] {
        let r = scan_checked_large(body);
        assert_eq!(r.outcome, Outcome::PartialFailure, "{:?}", r.malformed);
        assert_eq!(r.failures[0].href, "/\u{e9}\u{1F600}");
    }
    assert_eq!(scan(&le[..le.len() - 1]).outcome, Outcome::Malformed);
}
