//! Unit tests of the reference counter on hand-written bodies.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use super::*;
use crate::multistatus::AllErrors;

fn scan(body: &[u8]) -> Report {
    reference_slice(body, AllErrors, Limits::default())
}

#[test]
fn counts_a_partial_failure_with_its_details() {
    let body = br#"<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">
      <d:response><d:href> /a </d:href><d:status>HTTP/1.1 423 Locked</d:status>
        <d:error><d:lock-token-submitted/></d:error></d:response>
      <d:response><d:href>/b</d:href><d:propstat><d:prop/><d:status>HTTP/1.1 424 x</d:status>
        </d:propstat><d:propstat><d:status>HTTP/1.1 403 x</d:status>
        <d:responsedescription> no </d:responsedescription></d:propstat></d:response>
    </d:multistatus>"#;
    let r = scan(body);
    assert_eq!(r.outcome, Outcome::PartialFailure);
    assert_eq!(r.entries, 2);
    assert_eq!(r.failure_count, 3);
    assert_eq!(r.failures[0].href, "/a");
    assert_eq!(
        r.failures[0].error.as_deref(),
        Some("DAV:lock-token-submitted")
    );
    assert_eq!(r.failures[1].code, Code::Status(403));
    assert_eq!(r.failures[1].description.as_deref(), Some("no"));
    assert_eq!(r.failures[2].code, Code::Status(424));
    assert_eq!(r.bytes, body.len() as u64);
}

#[test]
fn malformed_and_foreign_bodies() {
    let cases: &[(&[u8], Outcome)] = &[
        (b"", Outcome::Malformed),
        (b"<a></b>", Outcome::Malformed),
        (b"<a/><b/>", Outcome::Malformed),
        (b"<a/>x", Outcome::Malformed),
        (b"<p:a/>", Outcome::Malformed),
        (b"<a><!-- a -- b --></a>", Outcome::Malformed),
        (b"<a x='1' x='2'/>", Outcome::Malformed),
        (b"<a>", Outcome::Malformed),
        (b" <?xml version='1.0'?><a/>", Outcome::Malformed),
        (b"<a/><!DOCTYPE a>", Outcome::Malformed),
        (
            b"<?xml version='1.0' encoding='nope'?><a/>",
            Outcome::Malformed,
        ),
        (b"<a>\xff</a>", Outcome::Malformed),
        (b"<a/>", Outcome::NotMultistatus),
        (
            b"<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>",
            Outcome::NotMultistatus,
        ),
    ];
    for (body, want) in cases {
        assert_eq!(
            scan(body).outcome,
            *want,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn encodings_are_read() {
    let text = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><multistatus xmlns=\"DAV:\"><response><href>/é</href><status>HTTP/1.1 500 x</status></response></multistatus>";
    let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    let r = scan(&latin1);
    assert_eq!(r.failures[0].href, "/é");
    let mut utf16 = vec![0xFF, 0xFE];
    for u in text.replace("ISO-8859-1", "UTF-16").encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let r = scan(&utf16);
    assert_eq!(r.failures[0].href, "/é", "{r:?}");
}

#[test]
fn references_decoded_others_kept_raw() {
    let body = b"<multistatus xmlns='DAV:'><response><href>/a&amp;b&#x41;&ent;</href>\
        <status>HTTP/1.1&#32;500 x</status></response></multistatus>";
    let r = scan(body);
    assert_eq!(r.failures[0].href, "/a&bA&ent;");
    assert_eq!(r.failures[0].code, Code::Status(500));
}

#[test]
fn status_lines() {
    assert_eq!(status_code(" HTTP/1.1\n423  Locked "), Code::Status(423));
    assert_eq!(status_code("HTTP/2 200"), Code::Status(200));
    for bad in [
        "HTTP/1.1 99",
        "HTTP/1.1 0999",
        "http/1.1 200",
        "HTTP/1.1.1 200",
        "HTTP/ 200",
        "200",
    ] {
        assert_eq!(status_code(bad), Code::Invalid, "{bad}");
    }
}
