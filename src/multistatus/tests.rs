//! Unit and property tests of the scanner: every edge case of the audit semantics, split
//! equivalence (exhaustive on small bodies, random on generated ones), constant memory on
//! huge bodies generated on the fly, and the `tests/corpus` bodies against their
//! independently counted expectations.

#![allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn scan(body: &[u8]) -> Report {
    scan_slice(body, AllErrors, Limits::default())
}

/// Scans `body` whole, then checks every single split point and byte-at-a-time feeding give
/// the same report.
fn scan_checked(body: &[u8]) -> Report {
    let whole = scan(body);
    for cut in 0..=body.len() {
        check_split_equivalence(body, &[cut]);
    }
    let mut s = Scanner::new(AllErrors, Limits::default());
    for b in body {
        s.feed(std::slice::from_ref(b));
    }
    assert_eq!(s.finish(BodyEnd::Complete), whole, "byte at a time");
    whole
}

fn codes(map: &BTreeMap<Code, u64>) -> Vec<(String, u64)> {
    map.iter().map(|(c, n)| (c.to_string(), *n)).collect()
}

fn pairs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect()
}

fn ms(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:">{inner}</D:multistatus>"#
    )
}

fn resp_status(href: &str, status: &str) -> String {
    format!("<D:response><D:href>{href}</D:href><D:status>{status}</D:status></D:response>")
}

fn resp_propstat(href: &str, statuses: &[&str]) -> String {
    let ps: String = statuses
        .iter()
        .map(|s| {
            format!("<D:propstat><D:prop><D:x/></D:prop><D:status>{s}</D:status></D:propstat>")
        })
        .collect();
    format!("<D:response><D:href>{href}</D:href>{ps}</D:response>")
}

#[test]
fn counts_levels_and_codes_under_the_d_prefix() {
    let body = ms(&format!(
        "{}{}{}",
        resp_propstat("/a", &["HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"]),
        resp_status("/b", "HTTP/1.1 423 Locked"),
        resp_status("/c", "HTTP/1.1 424 Failed Dependency"),
    ));
    let r = scan_checked(body.as_bytes());
    assert_eq!(r.outcome, Outcome::PartialFailure);
    assert_eq!(r.entries, 3);
    assert_eq!(codes(&r.propstat_status), pairs(&[("200", 1), ("404", 1)]));
    assert_eq!(codes(&r.response_status), pairs(&[("423", 1), ("424", 1)]));
    assert_eq!(r.failure_count, 3);
    assert_eq!(r.bytes, body.len() as u64);
    assert!(r.malformed.is_none());
}

#[test]
fn the_report_carries_the_failing_counts_its_classifier_decided() {
    // PROPFIND: propstat 404 is routine, response 404 and propstat 403 are failures.
    let body = ms(&format!(
        "{}{}{}",
        resp_propstat("/a", &["HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"]),
        resp_propstat("/b", &["HTTP/1.1 404 Not Found", "HTTP/1.1 403 Forbidden"]),
        resp_status("/c", "HTTP/1.1 404 Not Found"),
    ));
    let classify = crate::audit::policy::Policy::default().classifier("PROPFIND", None);
    let r = scan_slice(body.as_bytes(), classify, Limits::default());
    assert_eq!(r.outcome, Outcome::PartialFailure);
    assert_eq!(
        codes(&r.propstat_status),
        pairs(&[("200", 1), ("403", 1), ("404", 2)])
    );
    assert_eq!(codes(r.failing(Level::Propstat)), pairs(&[("403", 1)]));
    assert_eq!(codes(r.failing(Level::Response)), pairs(&[("404", 1)]));
    assert_eq!(r.failure_count, 2);
    // Without routine rules every error is failing, and the counts follow.
    let all = scan(body.as_bytes());
    assert_eq!(
        codes(&all.propstat_failing),
        pairs(&[("403", 1), ("404", 2)])
    );
    assert_eq!(all.failure_count, 4);
}

#[test]
fn clean_when_every_status_is_a_success() {
    let r = scan_checked(ms(&resp_propstat("/a", &["HTTP/1.1 200 OK"])).as_bytes());
    assert_eq!(r.outcome, Outcome::Clean);
    assert_eq!(r.failure_count, 0);
    assert!(r.failures.is_empty());
}

#[test]
fn default_namespace_and_any_prefix_are_dav() {
    let body = br#"<multistatus xmlns="DAV:"><response><href>/a</href><status>HTTP/1.1 403 Forbidden</status></response>
        <lp1:response xmlns:lp1="DAV:"><lp1:href>/b</lp1:href><lp1:status>HTTP/1.1 500 x</lp1:status></lp1:response></multistatus>"#;
    let r = scan_checked(body);
    assert_eq!(r.entries, 2);
    assert_eq!(codes(&r.response_status), pairs(&[("403", 1), ("500", 1)]));
    assert_eq!(r.failures[0].href, "/a");
    assert_eq!(r.failures[1].href, "/b");
}

#[test]
fn elements_are_matched_by_namespace_not_prefix() {
    // D is redeclared to another namespace on one response: that response is not DAV:.
    let body = br#"<D:multistatus xmlns:D="DAV:">
        <D:response xmlns:D="urn:not-dav"><D:status>HTTP/1.1 500 x</D:status></D:response>
        <D:response><D:href>/ok</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>
        <x:response xmlns:x="DAV:"><x:href>/x</x:href>
          <x:propstat xmlns:D="urn:other"><D:status>HTTP/1.1 500 no</D:status>
            <x:status>HTTP/1.1 201 Created</x:status></x:propstat></x:response>
        <response xmlns="DAV:"><href>/d</href><status>HTTP/1.1 204</status></response>
    </D:multistatus>"#;
    let r = scan_checked(body);
    assert_eq!(r.entries, 3);
    assert_eq!(codes(&r.response_status), pairs(&[("200", 1), ("204", 1)]));
    assert_eq!(codes(&r.propstat_status), pairs(&[("201", 1)]));
    assert_eq!(r.outcome, Outcome::Clean);
}

#[test]
fn repeated_names_follow_every_redeclaration() {
    // The same qualified names again and again under changing declarations: the roles the
    // lexer remembers per name must follow each one.
    let body = br#"<D:multistatus xmlns:D="DAV:">
        <D:response><D:href>/1</D:href><D:status>HTTP/1.1 201 a</D:status></D:response>
        <x:response xmlns:x="DAV:" xmlns:D="urn:x"><D:href>/no</D:href>
          <D:status>HTTP/1.1 500 b</D:status><x:href>/2</x:href><x:status>HTTP/1.1 202</x:status></x:response>
        <D:response><D:href>/3</D:href><D:status>HTTP/1.1 203 c</D:status></D:response>
        <D:response xmlns:a="DAV:"><a:href>/4</a:href><a:status>HTTP/1.1 204</a:status></D:response>
        <D:response xmlns:a="urn:a"><a:href>/no</a:href><a:status>HTTP/1.1 500</a:status>
          <D:href>/5</D:href><D:status>HTTP/1.1 205</D:status></D:response>
        <D:response><status>HTTP/1.1 500</status><D:status>HTTP/1.1 206</D:status></D:response>
        <D:response xmlns="DAV:"><href>/7</href><status>HTTP/1.1 207</status></D:response>
        <D:response xmlns="urn:d"><status>HTTP/1.1 500</status><D:status>HTTP/1.1 208</D:status></D:response>
        <D:response><D:propstat><D:prop/><D:status>HTTP/1.1 209</D:status></D:propstat>
          <D:propstat xmlns:D="urn:p"><D:status>HTTP/1.1 500</D:status></D:propstat></D:response>
        <D:response><D:propstat><D:status>HTTP/1.1 210</D:status></D:propstat></D:response>
    </D:multistatus>"#;
    let r = scan_checked(body);
    assert_eq!(r.entries, 10);
    assert_eq!(
        codes(&r.response_status),
        pairs(&[
            ("201", 1),
            ("202", 1),
            ("203", 1),
            ("204", 1),
            ("205", 1),
            ("206", 1),
            ("207", 1),
            ("208", 1)
        ])
    );
    assert_eq!(codes(&r.propstat_status), pairs(&[("209", 1), ("210", 1)]));
    assert_eq!(r.outcome, Outcome::Clean);
}

#[test]
fn a_status_in_another_namespace_is_not_counted() {
    let body = ms(r#"<D:response><D:href>/a</D:href><D:propstat><D:prop/>
        <z:status xmlns:z="http://example.com/ns">HTTP/1.1 500 Nope</z:status>
        <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"#);
    let r = scan_checked(body.as_bytes());
    assert_eq!(codes(&r.propstat_status), pairs(&[("200", 1)]));
    assert_eq!(r.outcome, Outcome::Clean);
}

#[test]
fn root_not_dav_multistatus_is_not_multistatus() {
    for body in [
        &b"<html><body>nope</body></html>"[..],
        br#"<x:multistatus xmlns:x="urn:other"><x:response/></x:multistatus>"#,
        br#"<D:error xmlns:D="DAV:"><D:lock-token-submitted/></D:error>"#,
    ] {
        let r = scan_checked(body);
        assert_eq!(
            r.outcome,
            Outcome::NotMultistatus,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(r.entries, 0);
    }
    // Well-formedness is still checked to the end.
    let r = scan(b"<html><body></html>");
    assert_eq!(r.outcome, Outcome::Malformed);
}

#[test]
fn comments_pis_and_cdata_are_handled() {
    let body = br#"<?xml version="1.0"?>
<!-- leading comment with <D:response> inside -->
<?some-pi data <D:status>?>
<D:multistatus xmlns:D="DAV:"><!-- <D:response><D:status>HTTP/1.1 500</D:status></D:response> -->
<D:response><D:href><![CDATA[/a&b]]></D:href><D:status><![CDATA[HTTP/1.1 ]]><!-- x -->423<?pi ?> Locked</D:status>
<D:responsedescription><![CDATA[ it ]] is ]]]>locked</D:responsedescription></D:response>
<D:response><D:href>/p</D:href><D:propstat><D:prop><x:v xmlns:x="u"><![CDATA[</D:prop><D:response>]]><!-- </D:prop> --></x:v></D:prop>
<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
</D:multistatus>
<!-- trailing -->
"#;
    let r = scan_checked(body);
    assert_eq!(r.entries, 2, "{r:?}");
    assert_eq!(codes(&r.response_status), pairs(&[("423", 1)]));
    assert_eq!(codes(&r.propstat_status), pairs(&[("200", 1)]));
    assert_eq!(r.failures[0].href, "/a&b");
    assert_eq!(
        r.failures[0].description.as_deref(),
        Some("it ]] is ]locked")
    );
}

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

#[test]
fn entity_bomb_costs_nothing_and_is_never_expanded() {
    let mut body = String::from(
        r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!-- a comment with ]> and " quotes -->
 <?pi with ]> inside?>
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">"#,
    );
    for i in 2..10 {
        let prev = format!("&lol{};", i - 1).repeat(10);
        body.push_str(&format!("\n <!ENTITY lol{i} '{prev}'>"));
    }
    body.push_str("\n]>\n");
    let doc = ms(&resp_status("/&lol9;", "HTTP/1.1 500 &lol9;"));
    body.push_str(&doc[doc.find("<D:multistatus").unwrap()..]);
    let r = scan_checked(body.as_bytes());
    // Declared entities: the audit cannot be sure (issue 14 item 5), but what it read is
    // still counted and never expanded.
    assert_eq!(r.outcome, Outcome::DtdDeclarations, "{r:?}");
    assert_eq!(r.failure_count, 1);
    assert_eq!(r.failures[0].href, "/&lol9;");
    assert!(r.heap_bytes_hint() < 64 * 1024);
}

trait HeapHint {
    fn heap_bytes_hint(&self) -> usize;
}
impl HeapHint for Report {
    fn heap_bytes_hint(&self) -> usize {
        self.failures
            .iter()
            .map(|f| f.href.len() + f.error.as_ref().map_or(0, String::len))
            .sum()
    }
}

#[test]
fn doctype_forms_are_skipped() {
    for doctype in [
        "<!DOCTYPE D:multistatus>",
        r#"<!DOCTYPE D:multistatus SYSTEM "x>y.dtd">"#,
        r#"<!DOCTYPE D:multistatus PUBLIC "-//x//EN" 'y]>.dtd' [ <!ELEMENT a ANY> ] >"#,
    ] {
        let body = format!(
            "{doctype}<D:multistatus xmlns:D=\"DAV:\">{}</D:multistatus>",
            resp_status("/a", "HTTP/1.1 200 OK")
        );
        let r = scan_checked(body.as_bytes());
        assert_eq!(r.outcome, Outcome::Clean, "{doctype}: {r:?}");
    }
    // Only one DOCTYPE, only before the root.
    assert_eq!(
        scan(b"<!DOCTYPE a><!DOCTYPE a><a/>").outcome,
        Outcome::Malformed
    );
    assert_eq!(scan(b"<a><!DOCTYPE a></a>").outcome, Outcome::Malformed);
}

#[test]
fn references_are_decoded_in_kept_text() {
    let body = ms(
        r#"<D:response><D:href> /a&amp;b&#x2F;c&#47;&lt;&gt;&quot;&apos;&unknown; </D:href>
        <D:status>&#x48;TTP/1.1&#32;507 x</D:status></D:response>"#,
    );
    let r = scan_checked(body.as_bytes());
    assert_eq!(codes(&r.response_status), pairs(&[("507", 1)]));
    assert_eq!(r.failures[0].href, "/a&b/c/<>\"'&unknown;");
    for bad in [
        "&#0;",
        "&#xD800;",
        "&#;",
        "&;",
        "& x;",
        "&a",
        "&#x110000;",
        "&#12a;",
    ] {
        let body = ms(&format!("<D:response>{bad}</D:response>"));
        assert_eq!(
            scan_checked(body.as_bytes()).outcome,
            Outcome::Malformed,
            "{bad}"
        );
    }
}

#[test]
fn status_lines_with_odd_whitespace_versions_and_garbage() {
    let statuses = [
        ("\n  HTTP/1.1\n  200\n  OK\n", "200"),
        ("\tHTTP/1.0 404", "404"),
        ("HTTP/2 423 Locked  ", "423"),
        ("HTTP/1.1 42 Short", "invalid"),
        ("OK", "invalid"),
        ("", "invalid"),
        ("HTTP/1.1 200OK", "invalid"),
    ];
    let inner: String = statuses.iter().map(|(s, _)| resp_status("/s", s)).collect();
    let r = scan_checked(ms(&inner).as_bytes());
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for (_, c) in statuses {
        *want.entry(c.to_owned()).or_default() += 1;
    }
    let got: BTreeMap<String, u64> = codes(&r.response_status).into_iter().collect();
    assert_eq!(got, want);
    // invalid is a failure under AllErrors.
    assert_eq!(r.failure_count, 4 + 2);
}

/// Issue 14 item 2: lighttpd 1.4 answers a PROPPATCH of a protected property with an
/// undeclared `DAV:` prefix on the `DAV:error` child (and in `DAV:prop`): well-formed XML,
/// not namespace-well-formed. The bound statuses are counted (hand-counted: one 403), the
/// body is marked; an unbound prefix where a counted element may stand stays malformed.
#[test]
fn an_unbound_prefix_on_an_uncounted_element_marks_the_body_instead_of_discarding_it() {
    let body = br#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:ns0="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/">
<D:response>
<D:href>/dav/file.txt</D:href>
<D:propstat>
<D:prop><DAV:getlastmodified/></D:prop>
<D:status>HTTP/1.1 403 Forbidden</D:status>
<D:error><DAV:cannot-modify-protected-property/></D:error>
</D:propstat>
</D:response>
</D:multistatus>
"#;
    let r = scan_checked(body);
    assert_eq!(r.outcome, Outcome::PartialFailure, "{:?}", r.malformed);
    assert_eq!(codes(&r.propstat_status), pairs(&[("403", 1)]));
    assert_eq!(
        r.unbound_prefixes, 1,
        "the error child (prop content is skipped)"
    );
    assert_eq!(
        r.failures[0].error.as_deref(),
        Some("DAV:cannot-modify-protected-property")
    );
    // Where a counted element may stand, an unbound prefix stays an error.
    let body =
        ms("<D:response><D:href>/a</D:href><X:status>HTTP/1.1 423 x</X:status></D:response>");
    assert_eq!(scan(body.as_bytes()).outcome, Outcome::Malformed);
    assert_eq!(scan(b"<X:multistatus/>").outcome, Outcome::Malformed);
}

/// Issue 14 item 1: RFC 4918 §14.24 lets one entry list several hrefs under one status;
/// every one is reported (within the `max_text` and `MAX_HREFS` caps), one entry counted.
#[test]
fn every_href_of_a_failing_entry_is_listed_within_the_caps() {
    let body = ms(
        "<D:response><D:href>/a</D:href><D:href> /b </D:href><D:href>/c</D:href>\
         <D:status>HTTP/1.1 423 Locked</D:status></D:response>",
    );
    let r = scan_checked(body.as_bytes());
    assert_eq!(r.entries, 1);
    assert_eq!(r.failure_count, 1);
    assert_eq!(r.failures[0].href, "/a");
    assert_eq!(r.failures[0].hrefs, ["/a", "/b", "/c"]);
    assert_eq!(r.failures[0].href_count, 3);
    // Bytes: hrefs of 20 bytes under `max_text: 100` keep five.
    let hrefs: String = (0..50)
        .map(|i| format!("<D:href>/{i:0>19}</D:href>"))
        .collect();
    let body = ms(&format!(
        "<D:response>{hrefs}<D:status>HTTP/1.1 423 Locked</D:status></D:response>"
    ));
    let limits = Limits {
        max_text: 100,
        ..Limits::default()
    };
    let r = scan_slice(body.as_bytes(), AllErrors, limits);
    assert_eq!(r.failures[0].hrefs.len(), 5);
    assert_eq!(r.failures[0].hrefs[4], format!("/{:0>19}", 4));
    assert_eq!(r.failures[0].href_count, 50);
    // Number: short hrefs stop at MAX_HREFS.
    let hrefs: String = (0..100).map(|_| "<D:href>/</D:href>").collect();
    let body = ms(&format!(
        "<D:response>{hrefs}<D:status>HTTP/1.1 423 Locked</D:status></D:response>"
    ));
    let r = scan(body.as_bytes());
    assert_eq!(r.failures[0].hrefs.len(), MAX_HREFS);
    assert_eq!(r.failures[0].href_count, 100);
}

/// Issue 14 item 4: a trailing response-level `200 OK` used to replace the propstat-level
/// statuses of its entry, so any number of 403/424s read `clean`. Every status counts where
/// it stands, as expat and libxml2 report them.
#[test]
fn a_trailing_response_status_never_hides_propstat_failures() {
    let body = ms(
        r#"<D:response><D:href>/a</D:href><D:propstat><D:prop/><D:status>HTTP/1.1 403 x</D:status></D:propstat>
        <D:propstat><D:prop/><D:status>HTTP/1.1 424 y</D:status><D:status>HTTP/1.1 409 z</D:status></D:propstat>
        <D:status>HTTP/1.1 200 OK</D:status></D:response>"#,
    );
    let r = scan_checked(body.as_bytes());
    assert_eq!(codes(&r.response_status), pairs(&[("200", 1)]));
    assert_eq!(
        codes(&r.propstat_status),
        pairs(&[("403", 1), ("409", 1), ("424", 1)])
    );
    assert_eq!(r.outcome, Outcome::PartialFailure);
    assert_eq!(r.failure_count, 3);
    let kept: Vec<_> = r
        .failures
        .iter()
        .map(|f| (f.level, f.code.to_string()))
        .collect();
    assert_eq!(
        kept,
        [
            (Level::Propstat, "403".to_owned()),
            (Level::Propstat, "409".to_owned()),
            (Level::Propstat, "424".to_owned())
        ]
    );
}

#[test]
fn failure_details_error_child_and_description() {
    let body = ms(
        r#"<D:response><D:href>/locked/</D:href><D:href>/second</D:href>
        <D:status>HTTP/1.1 423 Locked</D:status>
        <D:error><D:lock-token-submitted><D:href>/inner</D:href></D:lock-token-submitted><D:other/></D:error>
        <D:responsedescription>
            The resource is locked
        </D:responsedescription></D:response>
        <D:response><D:href>/p</D:href><D:propstat><D:prop><D:getetag/></D:prop><D:status>HTTP/1.1 403 Forbidden</D:status>
        <D:error><C:valid-x xmlns:C="urn:ietf:params:xml:ns:caldav"/></D:error></D:propstat>
        <D:propstat><D:prop><D:x/></D:prop><D:status>HTTP/1.1 424 Failed Dependency</D:status></D:propstat>
        <D:responsedescription>whole</D:responsedescription></D:response>"#,
    );
    let r = scan_checked(body.as_bytes());
    let f = &r.failures;
    assert_eq!(f.len(), 3, "{f:?}");
    assert_eq!(f[0].href, "/locked/");
    assert_eq!(f[0].level, Level::Response);
    assert_eq!(f[0].code, Code::Status(423));
    assert_eq!(f[0].error.as_deref(), Some("DAV:lock-token-submitted"));
    assert_eq!(f[0].description.as_deref(), Some("The resource is locked"));
    assert_eq!(f[1].href, "/p");
    assert_eq!(f[1].level, Level::Propstat);
    assert_eq!(
        f[1].error.as_deref(),
        Some("{urn:ietf:params:xml:ns:caldav}valid-x")
    );
    assert_eq!(f[1].description.as_deref(), Some("whole"));
    assert_eq!(f[2].code, Code::Status(424));
}

#[test]
fn failures_are_capped_but_counted_with_424s_last() {
    let mut inner = String::new();
    for i in 0..300 {
        inner.push_str(&resp_status(
            &format!("/dep{i}"),
            "HTTP/1.1 424 Failed Dependency",
        ));
    }
    inner.push_str(&resp_status("/cause", "HTTP/1.1 423 Locked"));
    for i in 0..300 {
        inner.push_str(&resp_status(&format!("/more{i}"), "HTTP/1.1 500 x"));
    }
    let limits = Limits {
        max_failures: 10,
        ..Limits::default()
    };
    let r = scan_slice(ms(&inner).as_bytes(), AllErrors, limits);
    assert_eq!(r.failure_count, 601);
    assert_eq!(r.failures.len(), 10);
    assert_eq!(r.failures[0].href, "/cause");
    assert!(r.failures.iter().all(|f| f.code != Code::Status(424)));
    let r = scan_slice(
        ms(&inner[..inner.find("/more0").unwrap() - 30]).as_bytes(),
        AllErrors,
        limits,
    );
    assert_eq!(r.failures[0].href, "/cause");
    assert_eq!(r.failures[1].code, Code::Status(424));
    assert_eq!(r.failures[1].href, "/dep0");
}

#[test]
fn kept_text_is_capped_on_a_char_boundary() {
    let limits = Limits {
        max_text: 5,
        ..Limits::default()
    };
    let body = ms(&resp_status("/ééé", "HTTP/1.1 500 x"));
    let r = scan_slice(body.as_bytes(), AllErrors, limits);
    assert_eq!(r.failures[0].href, "/éé");
    let body = ms(
        r#"<D:response><D:href>/</D:href><D:status>HTTP/1.1 500 x</D:status><D:error><D:a-very-long-name/></D:error></D:response>"#,
    );
    let r = scan_slice(body.as_bytes(), AllErrors, limits);
    assert_eq!(r.failures[0].error.as_deref(), Some("DAV:a"));
}

#[test]
fn truncated_and_lagging_keep_counts_so_far() {
    let body = ms(&format!(
        "{}{}",
        resp_status("/a", "HTTP/1.1 500 x"),
        resp_propstat("/b", &["HTTP/1.1 200 OK", "HTTP/1.1 403 x"])
    ));
    let cut = body.find("HTTP/1.1 403").unwrap();
    for end in [BodyEnd::Truncated, BodyEnd::Lagging] {
        let mut s = Scanner::new(AllErrors, Limits::default());
        s.feed(&body.as_bytes()[..cut]);
        let r = s.finish(end);
        assert_eq!(
            r.outcome,
            if end == BodyEnd::Truncated {
                Outcome::Truncated
            } else {
                Outcome::Lagging
            }
        );
        assert_eq!(r.entries, 2);
        assert_eq!(codes(&r.response_status), pairs(&[("500", 1)]));
        assert_eq!(codes(&r.propstat_status), pairs(&[("200", 1)]));
        assert_eq!(r.failure_count, 1);
        assert_eq!(r.bytes, cut as u64);
    }
    // Complete: the same cut is malformed at the end, counts kept.
    let mut s = Scanner::new(AllErrors, Limits::default());
    s.feed(&body.as_bytes()[..cut]);
    let r = s.finish(BodyEnd::Complete);
    assert_eq!(r.outcome, Outcome::Malformed);
    assert_eq!(r.malformed.unwrap().offset, cut as u64);
    assert_eq!(r.entries, 2);
    // Malformed wins over truncated.
    let mut s = Scanner::new(AllErrors, Limits::default());
    s.feed(b"<a></b>");
    assert_eq!(s.finish(BodyEnd::Truncated).outcome, Outcome::Malformed);
}

#[test]
fn malformed_bodies_report_offset_and_reason() {
    let cases: &[(&str, u64, &str)] = &[
        ("", 0, "empty body"),
        ("  \n ", 4, "no root element"),
        ("<a></b>", 3, "end tag does not match the open element"),
        ("<a><b></a>", 6, "end tag does not match the open element"),
        ("<a/><b/>", 4, "content after the root element"),
        ("<a/>x", 4, "text outside the root element"),
        ("x<a/>", 0, "text outside the root element"),
        ("<a>", 3, "unexpected end of body"),
        ("<a><!-- a -- b --></a>", 3, "'--' inside a comment"),
        ("<a>< b/></a>", 3, "invalid character after '<'"),
        ("<a x='<'/>", 0, "'<' in attribute value"),
        ("<![CDATA[x]]><a/>", 0, "CDATA outside the root element"),
        (
            "<a/><?xml version='1.0'?>",
            4,
            "XML declaration not at the start",
        ),
        (
            "<D:multistatus xmlns:D=\"DAV:\"><E:response/></D:multistatus>",
            30,
            "unbound namespace prefix",
        ),
        ("<a></a >x", 8, "text outside the root element"),
        ("<a>&bogus</a>", 3, "invalid reference (no ';')"),
        ("<a><b>x&#0;</b></a>", 7, "invalid character reference"),
        ("<a>&;</a>", 3, "invalid entity reference"),
        ("<a>&x#y;</a>", 3, "invalid entity reference"),
        ("<a>&x y;</a>", 3, "invalid reference (no ';')"),
        // Leading zeros are fine, a zero before the `x` is not.
        ("<a>&#0x41;</a>", 3, "invalid character reference"),
        ("<a>&#x0000;</a>", 3, "invalid character reference"),
    ];
    let long = format!("<a>&{};</a>", "x".repeat(65));
    let r = scan_checked(long.as_bytes());
    assert_eq!(r.outcome, Outcome::OverLimit);
    let m = r.malformed.unwrap();
    assert_eq!(
        (m.offset, m.reason.as_str(), m.limit),
        (3, "reference too long", Some(Limit::ReferenceLength))
    );
    let longest = format!("<a>&{};</a>", "x".repeat(64));
    assert_eq!(
        scan_checked(longest.as_bytes()).outcome,
        Outcome::NotMultistatus
    );
    for (body, offset, reason) in cases {
        let r = scan_checked(body.as_bytes());
        assert_eq!(r.outcome, Outcome::Malformed, "{body:?}");
        let m = r.malformed.unwrap();
        assert_eq!(
            (m.offset, m.reason.as_str()),
            (*offset, *reason),
            "{body:?}"
        );
    }
    // Counts up to the error are kept, input after it is ignored.
    let body = format!(
        "{}<D:oops></D:multistatus>",
        &ms(&resp_status("/a", "HTTP/1.1 500 x"))[..]
    );
    let body = body.replacen("</D:multistatus>", "", 1);
    let r = scan_checked(body.as_bytes());
    assert_eq!(r.outcome, Outcome::Malformed);
    assert_eq!(r.entries, 1);
    assert_eq!(r.failure_count, 1);
}

/// Issue 14 item 8: `max_depth` bounds the names kept, not the document. Skipped content
/// deeper than it is only counted; on the audited path it stops the scan as `over_limit`,
/// keeping the counts gathered until then.
#[test]
fn depth_past_the_name_stack_is_counted_in_skipped_content_and_over_limit_on_the_audited_path() {
    let limits = Limits {
        max_depth: 10,
        ..Limits::default()
    };
    let deep = format!("{}{}", "<a>".repeat(11), "</a>".repeat(11));
    let r = scan_slice(deep.as_bytes(), AllErrors, limits);
    assert_eq!(r.outcome, Outcome::NotMultistatus, "{r:?}");
    // Deep content's end tags are checked for syntax, and the count must come out even.
    for bad in [
        format!("{}{}", "<a>".repeat(12), "</a>".repeat(11)),
        format!("{}</ a>{}", "<a>".repeat(12), "</a>".repeat(11)),
    ] {
        assert_eq!(
            scan_slice(bad.as_bytes(), AllErrors, limits).outcome,
            Outcome::Malformed
        );
    }
    let limits = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    let body = ms(&format!(
        "{}{}",
        resp_status("/a", "HTTP/1.1 423 Locked"),
        resp_status("/b", "HTTP/1.1 423 Locked")
    ));
    let r = scan_slice(body.as_bytes(), AllErrors, limits);
    assert_eq!(r.outcome, Outcome::OverLimit);
    let m = r.malformed.unwrap();
    assert_eq!(
        (m.reason.as_str(), m.limit),
        ("too deep", Some(Limit::MaxDepth))
    );
    assert_eq!(r.entries, 1, "counts up to the stop are kept");
}

/// A 100,000-deep dead property no longer stops the audit of the entries after it, in
/// bounded memory (the counts are those `tests/corpus/count.py` gives the 1,000-deep
/// `propfind-deep-dead-property.xml`, the same body deeper).
#[test]
fn a_100000_deep_dead_property_is_skipped_in_bounded_memory() {
    let mut s = Scanner::new(AllErrors, Limits::default());
    s.feed(br#"<D:multistatus xmlns:D="DAV:" xmlns:Z="urn:z"><D:response><D:href>/deep</D:href><D:propstat><D:prop><Z:tree>"#);
    for _ in 0..100 {
        s.feed("<Z:v>".repeat(1000).as_bytes());
    }
    assert!(s.heap_bytes() < 64 * 1024, "{}", s.heap_bytes());
    for _ in 0..100 {
        s.feed("</Z:v>".repeat(1000).as_bytes());
    }
    s.feed(br#"</Z:tree></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
  <D:response><D:href>/after</D:href><D:propstat><D:prop><D:getetag/></D:prop><D:status>HTTP/1.1 403 Forbidden</D:status></D:propstat></D:response>
  <D:response><D:href>/locked</D:href><D:status>HTTP/1.1 423 Locked</D:status></D:response></D:multistatus>"#);
    let r = s.finish(BodyEnd::Complete);
    assert_eq!(r.outcome, Outcome::PartialFailure, "{r:?}");
    assert_eq!(r.entries, 3);
    assert_eq!(codes(&r.propstat_status), pairs(&[("200", 1), ("403", 1)]));
    assert_eq!(codes(&r.response_status), pairs(&[("423", 1)]));
    // A million opening tags cost no more than the name stack.
    let deep = "<a>".repeat(1_000_000);
    let mut s = Scanner::new(AllErrors, Limits::default());
    s.feed(deep.as_bytes());
    assert!(s.heap_bytes() < 64 * 1024, "{}", s.heap_bytes());
    assert_eq!(
        s.finish(BodyEnd::Complete).malformed.unwrap().reason,
        "unexpected end of body"
    );
}

/// Names past `NAMES_BUDGET`: counted (not named) in skipped content, `over_limit` on the
/// audited path.
#[test]
fn huge_element_names_are_skipped_in_property_values_and_over_limit_on_the_audited_path() {
    let name = format!("Z:{}", "n".repeat(300 * 1024));
    let body = ms(&format!(
        r#"<D:response><D:href>/a</D:href><D:propstat><D:prop><{name} xmlns:Z="urn:z"><x/></{name}></D:prop><D:status>HTTP/1.1 403 x</D:status></D:propstat></D:response>"#
    ));
    let r = scan(body.as_bytes());
    assert_eq!(r.outcome, Outcome::PartialFailure, "{:?}", r.malformed);
    assert_eq!(r.failure_count, 1);
    let body = ms(&format!(
        r#"{}<D:{} xmlns:D="DAV:"/>{}"#,
        resp_status("/a", "HTTP/1.1 423 Locked"),
        "n".repeat(300 * 1024),
        resp_status("/b", "HTTP/1.1 423 Locked"),
    ));
    let r = scan(body.as_bytes());
    assert_eq!(r.outcome, Outcome::OverLimit);
    assert_eq!(r.malformed.unwrap().limit, Some(Limit::NameLength));
    assert_eq!(r.entries, 1);
}

/// 2,000 declarations on the root are read (the corpus has such a body); past the bound the
/// scan stops as `over_limit`, not `malformed`.
#[test]
fn namespace_declarations_past_the_bound_are_over_limit() {
    let decls: String = (0..5000)
        .map(|i| format!(r#" xmlns:n{i}="urn:{i}""#))
        .collect();
    let body = format!(
        r#"<D:multistatus xmlns:D="DAV:"><D:response{decls}><D:href>/a</D:href><D:status>HTTP/1.1 423 x</D:status></D:response></D:multistatus>"#
    );
    let r = scan(body.as_bytes());
    assert_eq!(r.outcome, Outcome::OverLimit);
    assert_eq!(
        r.malformed.unwrap().limit,
        Some(Limit::NamespaceDeclarations)
    );
    let mut s = Scanner::new(AllErrors, Limits::default());
    s.feed(body.as_bytes());
    assert!(s.heap_bytes() < 1024 * 1024, "{}", s.heap_bytes());
}

/// An XML declaration longer than `MAX_SNIFF` is read whole (its `encoding` applies); past
/// `MAX_DECL` it is `over_limit`.
#[test]
fn long_xml_declarations_are_read_up_to_their_bound() {
    let body = ms(&resp_status("/caf\u{e9}", "HTTP/1.1 423 Locked"));
    let body = body.replace(
        r#"encoding="utf-8""#,
        &format!(r#"{}encoding="ISO-8859-1""#, " ".repeat(5000)),
    );
    let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(&body);
    let r = scan_checked_large(&latin1);
    assert_eq!(r.outcome, Outcome::PartialFailure, "{:?}", r.malformed);
    assert_eq!(r.failures[0].href, "/caf\u{e9}");
    let body = body.replace("  ", &" ".repeat(40));
    let r = scan(body.as_bytes());
    assert_eq!(r.outcome, Outcome::OverLimit);
    assert_eq!(r.malformed.unwrap().limit, Some(Limit::XmlDeclaration));
}

/// Split equivalence at a few hundred points (bodies too large for every point).
fn scan_checked_large(body: &[u8]) -> Report {
    let whole = scan(body);
    let step = (body.len() / 200).max(1);
    for cut in (0..=body.len()).step_by(step) {
        check_split_equivalence(body, &[cut]);
    }
    whole
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

/// Feeds a multistatus whose one property value is a `size`-byte text node, generated in
/// 64 KiB chunks, checking the scanner's buffers stay small.
fn huge_text_node(size: usize, in_cdata: bool) -> Report {
    let mut s = Scanner::new(AllErrors, Limits::default());
    s.feed(br#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/big</D:href><D:propstat><D:prop><C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav">"#);
    if in_cdata {
        s.feed(b"<![CDATA[");
    }
    let chunk = "BEGIN:VCALENDAR &amp; ]] -- <x> \r\n".repeat(2048);
    let chunk = if in_cdata {
        chunk.replace("&amp;", "&").replace("<x>", "<![x")
    } else {
        chunk.replace("<x>", "x")
    };
    let mut fed = 0;
    let mut peak = 0;
    while fed < size {
        s.feed(chunk.as_bytes());
        fed += chunk.len();
        peak = peak.max(s.heap_bytes());
    }
    if in_cdata {
        s.feed(b"]]>");
    }
    s.feed(br#"</C:calendar-data></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
        <D:propstat><D:prop><D:x/></D:prop><D:status>HTTP/1.1 403 x</D:status></D:propstat></D:response></D:multistatus>"#);
    assert!(peak < 64 * 1024, "peak heap {peak}");
    s.finish(BodyEnd::Complete)
}

#[test]
fn a_100_mb_text_node_costs_no_memory() {
    for cdata in [false, true] {
        let r = huge_text_node(100 << 20, cdata);
        assert_eq!(r.outcome, Outcome::PartialFailure, "{r:?}");
        assert_eq!(codes(&r.propstat_status), pairs(&[("200", 1), ("403", 1)]));
        assert!(r.bytes > 100 << 20);
    }
}

#[test]
fn a_huge_status_or_href_text_is_capped() {
    let status = format!("HTTP/1.1 500 {}", "reason ".repeat(100_000));
    let href = format!("/{}", "a".repeat(1_000_000));
    let body = ms(&resp_status(&href, &status));
    let r = scan(body.as_bytes());
    check_split_equivalence(body.as_bytes(), &[100, 1000, 100_000, 1_000_100]);
    assert_eq!(codes(&r.response_status), pairs(&[("500", 1)]));
    assert_eq!(r.failures[0].href.len(), 1024);
}

#[test]
fn scanner_is_send_and_static() {
    fn assert_send_static<T: Send + 'static>() {}
    assert_send_static::<Scanner<AllErrors>>();
}

#[test]
fn scan_reader_matches_scan_slice() {
    let body = ms(&resp_status("/a", "HTTP/1.1 423 Locked")).into_bytes();
    let r = scan_reader(&body[..], AllErrors, Limits::default()).unwrap();
    assert_eq!(r, scan(&body));
}

#[test]
fn fuzz_crash_utf8_prefix_invalidated_across_a_split() {
    // fuzz/artifacts crash-2084490b: `F4` ends one chunk, ` ` starts the next.
    check_split_equivalence(&[32, 32, 32, 32, 32, 32, 244, 32], &[7]);
}

// === property tests ===

/// A generated entry and what it must count.
#[derive(Debug, Clone)]
enum Gen {
    Response(u16),
    Propstats(Vec<u16>),
}

fn code_strategy() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(200u16),
        Just(404),
        Just(423),
        Just(424),
        Just(403),
        Just(507),
        100u16..1000
    ]
}

fn gen_strategy() -> impl Strategy<Value = Gen> {
    prop_oneof![
        code_strategy().prop_map(Gen::Response),
        prop::collection::vec(code_strategy(), 1..4).prop_map(Gen::Propstats),
    ]
}

fn ws_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(""),
        Just(" "),
        Just("\n  "),
        Just("\r\n\t"),
        Just("<!-- c -->"),
        Just("<?pi x?>")
    ]
    .prop_map(str::to_owned)
}

/// Renders `entries` with `prefix` ("" = default namespace), noise between elements, and
/// property values holding DAV-looking content that must not count.
fn render(entries: &[Gen], prefix: &str, noise: &[String]) -> String {
    let mut n = noise.iter().cycle();
    let mut w = || n.next().cloned().unwrap_or_default();
    let p = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}:")
    };
    let decl = if prefix.is_empty() {
        r#"xmlns="DAV:""#.to_owned()
    } else {
        format!(r#"xmlns:{prefix}="DAV:""#)
    };
    let mut s = format!("<?xml version=\"1.0\"?>{}<{p}multistatus {decl}>", w());
    for (i, e) in entries.iter().enumerate() {
        s.push_str(&format!(
            "{}<{p}response>{}<{p}href>/r{i}</{p}href>{}",
            w(),
            w(),
            w()
        ));
        match e {
            Gen::Response(c) => s.push_str(&format!(
                "<{p}status>{}HTTP/1.1 {c} X{}</{p}status>",
                w(),
                w()
            )),
            Gen::Propstats(codes) => {
                for c in codes {
                    s.push_str(&format!(
                        "<{p}propstat>{}<{p}prop><{p}displayname>n{i}</{p}displayname><v:x xmlns:v=\"urn:v\" xmlns:{q}=\"urn:redeclared\"><{p}response><{p}status>HTTP/1.1 500 no</{p}status></{p}response><![CDATA[</{p}prop>]]></v:x></{p}prop>{}<{p}status>HTTP/1.1 {c} Y</{p}status>{}</{p}propstat>",
                        w(), w(), w(), q = if prefix.is_empty() { "zz" } else { prefix }
                    ));
                }
            }
        }
        s.push_str(&format!("{}</{p}response>", w()));
    }
    s.push_str(&format!("{}</{p}multistatus>{}", w(), w()));
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn generated_documents_give_their_counts_whatever_the_split(
        entries in prop::collection::vec(gen_strategy(), 0..12),
        prefix in prop_oneof![Just(""), Just("D"), Just("d"), Just("lp1"), Just("ns0")],
        noise in prop::collection::vec(ws_strategy(), 1..8),
        splits in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let body = render(&entries, prefix, &noise);
        let r = scan(body.as_bytes());
        let mut resp: BTreeMap<Code, u64> = BTreeMap::new();
        let mut ps: BTreeMap<Code, u64> = BTreeMap::new();
        for e in &entries {
            match e {
                Gen::Response(c) => *resp.entry(Code::Status(*c)).or_default() += 1,
                Gen::Propstats(cs) => for c in cs { *ps.entry(Code::Status(*c)).or_default() += 1 },
            }
        }
        let failures = resp.iter().chain(ps.iter()).filter(|(c, _)| c.is_error()).map(|(_, n)| n).sum::<u64>();
        prop_assert_eq!(r.entries, entries.len() as u64, "{}", body);
        prop_assert_eq!(&r.response_status, &resp);
        prop_assert_eq!(&r.propstat_status, &ps);
        prop_assert_eq!(r.failure_count, failures);
        let failing = |m: &BTreeMap<Code, u64>| -> BTreeMap<Code, u64> {
            m.iter().filter(|(c, _)| c.is_error()).map(|(&c, &n)| (c, n)).collect()
        };
        prop_assert_eq!(&r.response_failing, &failing(&resp));
        prop_assert_eq!(&r.propstat_failing, &failing(&ps));
        prop_assert_eq!(r.outcome, if failures > 0 { Outcome::PartialFailure } else { Outcome::Clean });
        check_split_equivalence(body.as_bytes(), &splits);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_split_equivalently(
        data in prop::collection::vec(prop_oneof![
            any::<u8>(),
            Just(b'<'), Just(b'>'), Just(b'/'), Just(b'-'), Just(b'!'), Just(b'['), Just(b']'), Just(b'&'), Just(b';'), Just(b'"'),
        ], 0..200),
        splits in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        check_split_equivalence(&data, &splits);
    }

    #[test]
    fn mutated_documents_split_equivalently(
        entries in prop::collection::vec(gen_strategy(), 1..4),
        noise in prop::collection::vec(ws_strategy(), 1..4),
        cut in any::<usize>(),
        junk in prop::collection::vec(any::<u8>(), 0..4),
        splits in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut body = render(&entries, "D", &noise).into_bytes();
        let at = cut % (body.len() + 1);
        body.splice(at..at, junk);
        check_split_equivalence(&body, &splits);
    }
}

// === tests/corpus ===

#[test]
fn every_corpus_body_gives_its_independently_counted_expectations() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut checked = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("xml") {
                continue;
            }
            let expected_path = path.with_extension("expected.json");
            let expected: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&expected_path).unwrap()).unwrap();
            let method = expected["method"].as_str().unwrap().to_owned();
            let body = std::fs::read(&path).unwrap();
            // The default routine rules through the one matcher the proxy and `scan` use.
            let classify = crate::audit::policy::Policy::default().classifier(&method, None);
            let r = scan_slice(&body, classify, Limits::default());
            let name = path.display();
            assert_eq!(
                r.outcome.as_str(),
                expected["outcome"].as_str().unwrap(),
                "{name}: {r:?}"
            );
            // Split anywhere gives the same report.
            check_split_equivalence(&body, &[1, body.len() / 3, body.len() / 2 + 1]);
            if matches!(r.outcome, Outcome::Malformed | Outcome::DtdDeclarations) {
                checked += 1;
                continue;
            }
            assert_eq!(r.entries, expected["entries"].as_u64().unwrap(), "{name}");
            for (level, key) in [
                (&r.response_status, "response_status"),
                (&r.propstat_status, "propstat_status"),
            ] {
                let want: BTreeMap<String, u64> = expected[key]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
                    .collect();
                let got: BTreeMap<String, u64> = codes(level).into_iter().collect();
                assert_eq!(got, want, "{name} {key}");
            }
            assert_eq!(
                r.failure_count,
                expected["failure_count"].as_u64().unwrap(),
                "{name}"
            );
            // Every failure with every href of its entry (issue 14 item 1), when all are kept.
            if r.failure_count <= Limits::default().max_failures as u64 {
                let mut got: Vec<serde_json::Value> = r
                    .failures
                    .iter()
                    .map(|f| serde_json::json!([f.level.as_str(), f.code.to_string(), f.hrefs]))
                    .collect();
                got.sort_by_key(|v| v.to_string());
                let mut want = expected["failures"].as_array().unwrap().clone();
                want.sort_by_key(|v| v.to_string());
                assert_eq!(got, want, "{name} failures");
                for f in &r.failures {
                    assert_eq!(f.href_count, f.hrefs.len() as u64, "{name}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} corpus files");
}
