//! `routes` and routine rules that name a route (issue 16, item 7): what parses, and each
//! mistake reported at its file, line, column and key.

use super::*;

const MINIMAL: &str = "upstream:\n  url: http://127.0.0.1:8081\n";

fn parse(text: &str) -> Result<Config, String> {
    from_yaml(&format!("{MINIMAL}{text}"), "t.yaml").map_err(|e| e.to_string())
}

fn err(text: &str) -> String {
    match parse(text) {
        Ok(c) => panic!("expected an error, got {:?}\n{text}", c.routes),
        Err(e) => e,
    }
}

#[test]
fn routes_parse_in_order_share_names_and_print_back() {
    let c = parse(
        "routes:\n  - name: files\n    prefix: /remote.php/dav/files/\n  - { name: calendars, prefix: /remote.php/dav/calendars/ }\n  - name: files\n    prefix: /remote.php/webdav/\naudit:\n  routine:\n    - { method: DELETE, level: response, code: 423, route: files }\n    - { method: DELETE, level: response, code: 403, route: other }\n",
    )
    .unwrap();
    let names: Vec<_> = c.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["files", "calendars", "files"]);
    assert_eq!(c.routes[2].prefix, "/remote.php/webdav/");
    assert_eq!(c.audit.routine[0].route.as_deref(), Some("files"));
    assert_eq!(c.audit.routine[1].route.as_deref(), Some("other"));
    assert_eq!(from_yaml(&c.to_yaml(), "printed").unwrap(), c);
    // Absent, null and [] all mean no routes (and then no `route` label).
    assert!(parse("").unwrap().routes.is_empty());
    assert!(parse("routes:\n").unwrap().routes.is_empty());
    assert!(parse("routes: []\n").unwrap().routes.is_empty());
    assert!(!parse("").unwrap().to_yaml().contains("route:"));
}

#[test]
fn a_bad_name_or_prefix_is_reported_at_its_value() {
    assert_eq!(
        err("routes:\n  - name: Files\n    prefix: /f/\n"),
        "t.yaml:4:11: routes[0].name: invalid route name \"Files\": expected a lower-case \
         letter, then lower-case letters, digits, _ or -, at most 32 bytes (it becomes a \
         metric label value)"
    );
    let long = "a".repeat(33);
    assert!(err(&format!("routes:\n  - {{name: {long}, prefix: /f/}}\n")).starts_with("t.yaml:4:"));
    assert_eq!(
        err("routes:\n  - name: f\n    prefix: remote.php/\n"),
        "t.yaml:5:13: routes[0].prefix: invalid prefix \"remote.php/\": must start with / \
         (it is compared with the request path)"
    );
    assert!(
        err("routes:\n  - name: f\n    prefix: /a b/\n")
            .starts_with("t.yaml:5:13: routes[0].prefix: invalid prefix \"/a b/\": ' ' cannot")
    );
    assert!(
        err("routes:\n  - name: f\n    prefix: /a?x\n")
            .starts_with("t.yaml:5:13: routes[0].prefix: invalid prefix \"/a?x\": '?' cannot")
    );
    assert!(
        err("routes:\n  - name: f\n    prfix: /a/\n")
            .starts_with("t.yaml:5:5: routes[0].prfix: unknown key")
    );
    assert!(
        err("routes:\n  - name: f\n")
            .starts_with("t.yaml:4:5: routes[0].prefix: required key is missing")
    );
}

#[test]
fn list_mistakes_name_the_element_and_its_line() {
    assert_eq!(
        err("routes:\n  - name: a\n    prefix: /a/\n  - name: b\n    prefix: /a/\n"),
        "t.yaml:7:13: routes[1].prefix: prefix \"/a/\" is already routes[0]'s"
    );
    assert_eq!(
        err(
            "routes:\n- {name: dav, prefix: /remote.php/dav/}\n- {name: files, prefix: /remote.php/dav/files/}\n"
        ),
        "t.yaml:5:25: routes[1].prefix: never matches: routes[0] (prefix \"/remote.php/dav/\") \
         comes first and takes every path this prefix would; list the longer prefix first"
    );
    assert_eq!(
        err("routes:\n  - name: a\n    prefix: /a/\n  - name: other\n    prefix: /o/\n"),
        "t.yaml:6:11: routes[1].name: `other` is reserved for the requests no prefix matches"
    );
    let many: String = (0..17)
        .map(|i| format!("  - {{name: r{i}, prefix: /r{i}/}}\n"))
        .collect();
    assert_eq!(
        err(&format!("routes:\n{many}")),
        "t.yaml:3:1: routes: 17 routes, at most 16 (each route multiplies the route-labelled \
         metric series)"
    );
}

#[test]
fn a_routine_rule_may_only_name_a_configured_route() {
    assert_eq!(
        err(
            "routes:\n  - {name: files, prefix: /f/}\n  - {name: cal, prefix: /c/}\naudit:\n  routine:\n    - method: DELETE\n      level: response\n      code: 423\n    - method: DELETE\n      level: response\n      code: 423\n      route: uploads\n"
        ),
        "t.yaml:14:14: audit.routine[1].route: unknown route \"uploads\": expected one of the \
         names in `routes` (files, cal) or other"
    );
    assert_eq!(
        err(
            "audit:\n  routine:\n    - {method: DELETE, level: response, code: 423, route: files}\n"
        ),
        "t.yaml:5:59: audit.routine[0].route: route \"files\": no routes are configured \
         (top-level key `routes`)"
    );
    let bad = err(
        "audit:\n  routine:\n    - {method: DELETE, level: response, code: 423, route: Files}\n",
    );
    assert!(
        bad.starts_with("t.yaml:5:")
            && bad.contains(": audit.routine[0].route: invalid route name \"Files\""),
        "{bad}"
    );
}
