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
