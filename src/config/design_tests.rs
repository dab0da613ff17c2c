//! DESIGN.md §3.2 is the config contract: every key the config has is a row there, every row
//! is a key, and a default written there as one `value` is the default `check-config` prints.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use super::value::{parse_duration, parse_size};

const DESIGN: &str = include_str!("../../DESIGN.md");

/// DESIGN.md §3.2's table: key -> the default cell.
fn design_keys() -> BTreeMap<String, String> {
    let mut keys = BTreeMap::new();
    let rows = DESIGN
        .lines()
        .skip_while(|l| !(l.starts_with("### ") && l.trim_end().ends_with("Configuration")))
        .skip(1)
        .take_while(|l| !l.starts_with("## ") && !l.starts_with("### "))
        .filter(|l| l.starts_with("| `"));
    for row in rows {
        let cells: Vec<&str> = row
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        // `tls.cert_file`, `tls.key_file`: one row, two keys.
        for key in cells[0].split(',') {
            keys.insert(key.trim().trim_matches('`').to_owned(), cells[2].to_owned());
        }
    }
    keys
}

/// Dotted paths of the leaves of the effective config (lists and nulls are leaves).
fn leaves(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Mapping(map) => {
            for (key, value) in map {
                let key = key.as_str().expect("string keys");
                let path = if prefix.is_empty() {
                    key.to_owned()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(&path, value, out);
            }
        }
        leaf => {
            out.insert(prefix.to_owned(), leaf.clone());
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(items) if items.is_empty() => "[]".to_owned(),
        other => format!("{other:?}"),
    }
}

#[test]
fn design_md_lists_every_config_key_with_its_default() {
    let design = design_keys();
    assert!(design.len() > 20, "DESIGN.md §3.2: no config table found");
    // Every optional section present, so that its keys are leaves too.
    let with_tls = super::from_yaml(
        "upstream: {url: 'http://127.0.0.1:8081'}\ntls: {cert_file: c.pem, key_file: k.pem}\n",
        "test",
    )
    .expect("valid");
    let mut code = BTreeMap::new();
    leaves(
        "",
        &serde_yaml::to_value(&with_tls).expect("yaml"),
        &mut code,
    );
    let in_design: BTreeSet<&String> = design.keys().collect();
    let in_code: BTreeSet<&String> = code.keys().collect();
    let missing: Vec<_> = in_code.difference(&in_design).collect();
    assert!(
        missing.is_empty(),
        "config keys missing from DESIGN.md §3.2 (add a row, and a CHANGELOG entry): {missing:?}"
    );
    let unknown: Vec<_> = in_design
        .iter()
        .filter(|k| {
            !code.contains_key(**k) && !code.keys().any(|c| c.starts_with(&format!("{k}.")))
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "DESIGN.md §3.2 names keys the config does not have: {unknown:?}"
    );

    // Defaults: the effective config of a file with only the required key.
    let minimal =
        super::from_yaml("upstream: {url: 'http://127.0.0.1:8081'}\n", "test").expect("valid");
    let mut defaults = BTreeMap::new();
    leaves(
        "",
        &serde_yaml::to_value(&minimal).expect("yaml"),
        &mut defaults,
    );
    for (key, cell) in &design {
        let Some(value) = defaults.get(key) else {
            continue;
        };
        let ticked: Vec<&str> = cell.split('`').skip(1).step_by(2).collect();
        if let [one] = ticked.as_slice()
            && cell.trim() == format!("`{one}`")
        {
            let printed = scalar(value);
            // `60s` and `1m`, `4MiB` and `4194304` are the same value.
            let same = match (parse_duration(one), parse_duration(&printed)) {
                (Ok(a), Ok(b)) => a == b,
                _ => match (parse_size(one), parse_size(&printed)) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => *one == printed,
                },
            };
            assert!(
                same,
                "DESIGN.md §3.2 default of {key} is `{one}`; the effective config has {printed:?}"
            );
        }
    }
}
