//! Property tests: generated documents give their counts whatever the split; arbitrary and mutated
//! bytes never panic and split equivalently.

use super::*;

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
        check_fast_plain_equivalence(body.as_bytes(), &splits);
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
        check_fast_plain_equivalence(&data, &splits);
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
        check_fast_plain_equivalence(&body, &splits);
    }

    /// Generated trees (audited and skipped elements, declarations, attributes, references,
    /// CDATA, comments), sometimes with one piece of junk spliced in, aimed at the fast
    /// paths' edges: the fast paths and the plain state machine give the same report.
    #[test]
    fn fast_paths_and_the_plain_state_machine_agree(
        children in prop::collection::vec(node_strategy(), 0..6),
        root in prop::sample::select(vec![
            ("<D:multistatus xmlns:D=\"DAV:\">", "</D:multistatus>"),
            ("<multistatus xmlns=\"DAV:\">", "</multistatus>"),
            ("<D:multistatus xmlns:D=\"DAV:\" xmlns:x=\"urn:x\">", "</D:multistatus>"),
        ]),
        junk in prop::option::of((any::<usize>(), soup_strategy())),
        splits in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut body = format!("{}{}{}", root.0, children.concat(), root.1).into_bytes();
        if let Some((at, junk)) = junk {
            let at = at % (body.len() + 1);
            body.splice(at..at, junk.into_bytes());
        }
        check_fast_plain_equivalence(&body, &splits);
    }
}

/// An element subtree (or a text-like leaf) of a multistatus-ish body: audited names in and
/// out of `DAV:`, skipped ones, declarations that re-bind `D`, empty elements.
fn node_strategy() -> impl Strategy<Value = String> {
    let leaf = soup_strategy().prop_filter("a leaf is no tag", |s| {
        !s.contains('<') || s.starts_with("<!") || s.starts_with("<?")
    });
    leaf.prop_recursive(5, 96, 6, |inner| {
        (
            prop::sample::select(vec![
                "D:response",
                "D:href",
                "D:status",
                "D:propstat",
                "D:prop",
                "D:error",
                "D:responsedescription",
                "D:getetag",
                "D:lock-token-submitted",
                "response",
                "status",
                "href",
                "propstat",
                "a",
                "x:y",
                "lp1:z",
            ]),
            prop::sample::select(vec![
                "",
                "",
                "",
                " xmlns:D=\"DAV:\"",
                " xmlns=\"DAV:\"",
                " xmlns:D=\"urn:x\"",
                " b=\"c\"",
                " b='&amp;>'",
                " xmlns:x=\"DAV:\"",
                " xmlns:lp1=\"DAV:\"",
                " xmlns=\"\"",
            ]),
            prop::collection::vec(inner, 0..5),
            any::<bool>(),
            prop::sample::select(vec!["", " ", "\n"]),
        )
            .prop_map(|(name, attrs, kids, empty, ws)| {
                if empty && kids.is_empty() {
                    format!("<{name}{attrs}{ws}/>")
                } else {
                    format!("<{name}{attrs}>{}</{name}{ws}>", kids.concat())
                }
            })
    })
}

/// Pieces of multistatus bodies, well formed or not once put together.
fn soup_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "<D:multistatus xmlns:D=\"DAV:\">", "</D:multistatus>", "<D:response>",
            "</D:response>", "<D:href>", "</D:href>", "<D:status>", "</D:status>",
            "<D:propstat>", "</D:propstat>", "<D:prop>", "</D:prop>", "<D:error>",
            "</D:error>", "<D:responsedescription>", "</D:responsedescription>",
            "<multistatus xmlns=\"DAV:\">", "</multistatus>", "<response>", "</response>",
            "<status>", "</status>", "<x:status xmlns:x=\"DAV:\">", "</x:status>",
            "<D:getetag/>", "<D:resourcetype/>", "<a>", "</a>", "<a b=\"c\">", "<a b='>'>",
            "<a/>", "<a />", "</a >", "<D:x xmlns:D=\"urn:x\">", "</D:x>", "<D:status >",
            "<lp1:x xmlns:lp1=\"DAV:\"/>", "<D:prop xmlns:D=\"DAV:\">",
        ]).prop_map(str::to_owned),
        3 => prop::sample::select(vec![
            "HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found", "HTTP/1.1 423 Locked", "/a b",
            " ", "\n  ", "&amp;", "&lt;", "&#x34;", "&#52;", "&ent;", "&bad", "<![CDATA[4]]>",
            "<!-- c -->", "<?pi x?>", "]]>", "]", "&#0;", "\t", "é", "<", ">", "&", "/",
        ]).prop_map(str::to_owned),
        1 => "[a-z<>/&;:=\" ]{0,6}",
    ]
}
