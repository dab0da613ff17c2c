//! DESIGN.md §1.2's dependency table holds for the code: every `crate::` path a module's
//! source names is in its "may use" column, and no two modules may use each other (the
//! `upstream` ↔ `telemetry` cycle was the last one). Test code is not checked: a test may
//! reach for a fixture anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const DESIGN: &str = include_str!("../DESIGN.md");
const LIB: &str = include_str!("lib.rs");

/// Helpers every module may use (DESIGN §1.2).
const HELPERS: [&str; 2] = ["error", "plain"];

/// The crate's top-level modules, from the `mod` lines of `lib.rs`.
fn modules() -> BTreeSet<String> {
    LIB.lines()
        .filter_map(|line| line.trim().strip_suffix(';')?.rsplit_once("mod "))
        .map(|(_, name)| name.to_owned())
        .filter(|name| name != "internals" && name != "dependency_tests")
        .collect()
}

/// Module -> what it may use; `None` for `app` ("every runtime module").
fn table() -> BTreeMap<String, Option<BTreeSet<String>>> {
    let start = DESIGN.find("### 1.2").expect("DESIGN §1.2");
    let end = DESIGN[start..].find("### 1.3").expect("DESIGN §1.3") + start;
    let mut rows = BTreeMap::new();
    for line in DESIGN[start..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, module, _owns, may_use, _] = cells.as_slice() else {
            continue;
        };
        let Some(module) = module.strip_prefix('`').and_then(|m| m.strip_suffix('`')) else {
            continue;
        };
        let allowed = (!may_use.contains("every")).then(|| {
            may_use
                .split('`')
                .skip(1)
                .step_by(2)
                .map(|name| name.split("::").next().unwrap_or(name).to_owned())
                .collect()
        });
        rows.insert(module.to_owned(), allowed);
    }
    rows
}

/// The source files of `module`, without test files (`*tests.rs`, anything in a `tests/`).
fn files(module: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    if module == "recent" {
        return vec![src.join("telemetry/recent.rs")];
    }
    let mut found = Vec::new();
    let single = src.join(format!("{module}.rs"));
    if single.is_file() {
        found.push(single);
    }
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.retain(|path| {
        let name = path.file_name().unwrap().to_string_lossy();
        let nested_recent = module == "telemetry" && name == "recent.rs";
        let in_tests_dir = path.components().any(|c| c.as_os_str() == "tests");
        !name.ends_with("tests.rs") && !in_tests_dir && !nested_recent
    });
    found
}

/// The first segment of every `crate::` path in `source`, outside comments and inline tests.
fn uses(source: &str) -> BTreeSet<String> {
    let code: String = source
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut used = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or_default();
            used.extend(group.split(',').map(ident));
        } else {
            used.insert(ident(rest));
        }
    }
    used
}

#[test]
fn no_two_modules_may_use_each_other() {
    let table = table();
    assert!(table.len() >= 10, "DESIGN §1.2 table not found: {table:?}");
    for (module, allowed) in &table {
        for other in allowed.iter().flatten() {
            if let Some(Some(back)) = table.get(other) {
                assert!(
                    !back.contains(module),
                    "DESIGN §1.2: `{module}` and `{other}` may use each other"
                );
            }
        }
    }
}

#[test]
fn every_module_uses_only_what_design_allows() {
    let table = table();
    let modules = modules();
    for module in &modules {
        if HELPERS.contains(&module.as_str()) {
            continue;
        }
        let allowed = table
            .get(module)
            .unwrap_or_else(|| panic!("`{module}` has no row in DESIGN §1.2"));
        let Some(allowed) = allowed else { continue };
        let files = files(module);
        assert!(!files.is_empty(), "no source for `{module}`");
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            for used in uses(&source) {
                let fine = used == *module
                    || !modules.contains(&used)
                    || HELPERS.contains(&used.as_str())
                    || allowed.contains(&used);
                assert!(
                    fine,
                    "{} uses `crate::{used}`, which DESIGN §1.2 does not allow `{module}`",
                    file.display()
                );
            }
        }
    }
}
