//! What the audit counts and keeps: levels and codes, namespaces (matched by URI, not prefix), kept
//! failures with their hrefs, errors and descriptions.

use super::*;

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
        r.unbound_prefixes, 2,
        "the property name and the error child"
    );
    assert_eq!(
        r.failures[0].error.as_deref(),
        Some("DAV:cannot-modify-protected-property")
    );
    // The refused property, named as written (its prefix is bound nowhere).
    assert_eq!(r.failures[0].props, ["DAV:getlastmodified"]);
    // Where a counted element may stand, an unbound prefix stays an error.
    let body =
        ms("<D:response><D:href>/a</D:href><X:status>HTTP/1.1 423 x</X:status></D:response>");
    assert_eq!(scan(body.as_bytes()).outcome, Outcome::Malformed);
    // An unbound root prefix is an error unless the body binds no namespace and names its
    // root in WebDAV's words (below).
    assert_eq!(scan(b"<X:foo/>").outcome, Outcome::Malformed);
    assert_eq!(
        scan(br#"<X:multistatus xmlns:Y="u"/>"#).outcome,
        Outcome::Malformed
    );
}

/// Issue 14 item 3: lighttpd 1.4 answers a COPY whose destination member it could not write
/// with `200 OK` and a bare `<D:response>` fragment (captured, tests/corpus/lighttpd): no
/// multistatus root, `D` declared nowhere. A root that declares no namespace and is named
/// `P:multistatus` or `P:response` reads `P` as `DAV:` in the whole body (marked); a root
/// `DAV:response` is a multistatus holding that one entry. Hand-counted: one 403.
#[test]
fn a_bare_response_fragment_with_an_undeclared_prefix_is_counted_and_marked() {
    let body = b"<D:response>\n<D:href>/dir/sub/b.txt</D:href>\n\
<D:status>HTTP/1.1 403 Forbidden</D:status>\n</D:response>\n";
    let r = scan_checked(body);
    assert_eq!(r.outcome, Outcome::PartialFailure, "{:?}", r.malformed);
    assert_eq!(r.entries, 1);
    assert_eq!(codes(&r.response_status), pairs(&[("403", 1)]));
    assert_eq!(r.failures[0].hrefs, ["/dir/sub/b.txt"]);
    assert_eq!(r.unbound_prefixes, 1, "the prefix read as DAV:");
    // The same with a declaration: counted, not marked.
    let declared = br#"<D:response xmlns:D="DAV:"><D:href>/a</D:href><D:status>HTTP/1.1 423 Locked</D:status></D:response>"#;
    let r = scan_checked(declared);
    assert_eq!(r.outcome, Outcome::PartialFailure);
    assert_eq!(codes(&r.response_status), pairs(&[("423", 1)]));
    assert_eq!(r.unbound_prefixes, 0);
    // A whole multistatus under one undeclared prefix; a later declaration still scopes.
    let body = b"<X:multistatus><X:response><X:href>/a</X:href>\
<X:status>HTTP/1.1 507 Full</X:status></X:response>\
<X:response xmlns:X=\"urn:other\"><X:status>HTTP/1.1 500 x</X:status></X:response>\
</X:multistatus>";
    let r = scan_checked(body);
    assert_eq!(r.outcome, Outcome::PartialFailure, "{:?}", r.malformed);
    assert_eq!(r.entries, 1, "the second response is in urn:other");
    assert_eq!(codes(&r.response_status), pairs(&[("507", 1)]));
    assert_eq!(scan(b"<X:multistatus/>").outcome, Outcome::Clean);
    // Other roots stay what they were: an unknown name is malformed, a nested response in a
    // foreign root is nothing.
    assert_eq!(scan(b"<D:prop/>").outcome, Outcome::Malformed);
    assert_eq!(
        scan(br#"<D:prop xmlns:D="DAV:"><D:response><D:status>HTTP/1.1 423 x</D:status></D:response></D:prop>"#).outcome,
        Outcome::NotMultistatus
    );
}

/// Issue 14 item 7: a PROPPATCH answer lists the same href under 403 and 424; each
/// propstat failure names its properties in Clark notation, so the refused one is known.
/// Hand-counted from the body.
#[test]
fn a_failing_propstat_names_its_properties_in_clark_notation() {
    let body = ms(r#"<D:response><D:href>/f</D:href>
<D:propstat><D:prop><D:getetag/><Z:shape xmlns:Z="http://example.com/ns/">round<Z:x/></Z:shape></D:prop>
<D:status>HTTP/1.1 403 Forbidden</D:status></D:propstat>
<D:propstat><D:prop><plain/><color xmlns="urn:c"/></D:prop><D:status>HTTP/1.1 424 Failed Dependency</D:status></D:propstat>
<D:propstat><D:prop><D:displayname/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
<D:status>HTTP/1.1 423 Locked</D:status></D:response>"#);
    let r = scan_checked(body.as_bytes());
    assert_eq!(r.failure_count, 3);
    let by_code = |c: u16| {
        r.failures
            .iter()
            .find(|f| f.code == Code::Status(c))
            .unwrap()
    };
    assert_eq!(
        by_code(403).props,
        ["{DAV:}getetag", "{http://example.com/ns/}shape"]
    );
    assert_eq!(by_code(403).prop_count, 2);
    assert_eq!(by_code(424).props, ["plain", "{urn:c}color"]);
    // A response-level failure names none.
    assert!(by_code(423).props.is_empty());
    assert_eq!(by_code(423).prop_count, 0);

    // Caps: bytes summing to max_text (the first always, cut), at most MAX_PROPS.
    let many: String = (0..100).map(|i| format!("<D:p{i:03}/>")).collect();
    let body = ms(&format!(
        "<D:response><D:href>/f</D:href><D:propstat><D:prop>{many}</D:prop>\
         <D:status>HTTP/1.1 403 x</D:status></D:propstat></D:response>"
    ));
    let r = scan(body.as_bytes());
    assert_eq!(r.failures[0].prop_count, 100);
    assert_eq!(r.failures[0].props.len(), crate::multistatus::MAX_PROPS);
    assert_eq!(r.failures[0].props[0], "{DAV:}p000");
    let tight = Limits {
        max_text: 25,
        ..Limits::default()
    };
    let r = scan_slice(body.as_bytes(), AllErrors, tight);
    assert_eq!(r.failures[0].props, ["{DAV:}p000", "{DAV:}p001"]);
    let long = ms(&format!(
        "<D:response><D:href>/f</D:href><D:propstat><D:prop><D:{}/></D:prop>\
         <D:status>HTTP/1.1 403 x</D:status></D:propstat></D:response>",
        "n".repeat(100)
    ));
    let r = scan_slice(long.as_bytes(), AllErrors, tight);
    assert_eq!(r.failures[0].props, [format!("{{DAV:}}{}", "n".repeat(19))]);
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
