//! The `tests/corpus` bodies against their independently counted expectations.

use super::*;

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
            // The fast paths and the plain state machine agree.
            check_fast_plain_equivalence(&body, &[1, body.len() / 2]);
            if matches!(r.outcome, Outcome::Malformed | Outcome::DtdDeclarations) {
                checked += 1;
                continue;
            }
            // A body the oracle found not namespace-well-formed is marked (DESIGN.md §2.7),
            // and only such a body.
            let ill_formed = expected["namespace_well_formed"] == serde_json::json!(false);
            assert_eq!(r.unbound_prefixes > 0, ill_formed, "{name}: {r:?}");
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
                let want_all = expected["failures"].as_array().unwrap();
                let mut want: Vec<serde_json::Value> = want_all
                    .iter()
                    .map(|f| serde_json::json!([f[0], f[1], f[2]]))
                    .collect();
                want.sort_by_key(|v| v.to_string());
                assert_eq!(got, want, "{name} failures");
                for f in &r.failures {
                    assert_eq!(f.href_count, f.hrefs.len() as u64, "{name}");
                    // The property names (issue 14 item 7), where every one was kept whole.
                    let bytes: usize = f.props.iter().map(String::len).sum();
                    if f.prop_count == f.props.len() as u64 && bytes < Limits::default().max_text {
                        let one = serde_json::json!([
                            f.level.as_str(),
                            f.code.to_string(),
                            f.hrefs,
                            f.props
                        ]);
                        assert!(want_all.contains(&one), "{name}: {one} not in {want_all:?}");
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} corpus files");
}
