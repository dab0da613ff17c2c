//! Arbitrary strings -> `rewrite_destination` / `rewrite_if` with fixed origins: must not
//! panic; a Destination (or an `If` resource tag) on the public origin always comes out on
//! the upstream origin, as a URI that parses; state tokens in parentheses are never touched.
#![no_main]

use davaudit::internals::{Origin, rewrite_destination, rewrite_if};
use libfuzzer_sys::fuzz_target;

const PUBLIC: &str = "dav.example:8080";
const TARGET: &str = "http://127.0.0.1:8081";

fuzz_target!(|input: (&str, &str, bool)| {
    let (value, path, https) = input;
    let public = Origin::new("http", PUBLIC).expect("fixed public origin");
    let target = Origin::new("http", "127.0.0.1:8081").expect("fixed target origin");

    // Anything at all: no panic.
    let _ = rewrite_destination(value, &public, &target);
    let _ = rewrite_if(value, &public, &target);

    // `http(s)://<public host>/<path>`: moved to the upstream origin, path kept.
    let scheme = if https { "https" } else { "http" };
    let destination = format!("{scheme}://{PUBLIC}/{path}");
    if let Ok(uri) = destination.trim().parse::<http::Uri>() {
        let Some(out) = rewrite_destination(&destination, &public, &target) else {
            panic!("not rewritten: {destination:?}");
        };
        assert!(
            out.starts_with(&format!("{TARGET}/")),
            "{destination:?} -> {out:?}"
        );
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        assert_eq!(
            &out[TARGET.len()..],
            pq,
            "{destination:?}: path and query kept"
        );
        assert!(
            out.parse::<http::Uri>().is_ok(),
            "{destination:?} -> {out:?}"
        );

        // The same URI as an `If` resource tag, followed by a state token that names the
        // public origin: the tag moves, the token stays.
        if !path.contains(['<', '>', '(', ')']) {
            let token = format!("(<{scheme}://{PUBLIC}/lock> [\"etag\"])");
            let header = format!("<{destination}> {token}");
            let Some(out) = rewrite_if(&header, &public, &target) else {
                panic!("If not rewritten: {header:?}");
            };
            assert!(
                out.starts_with(&format!("<{TARGET}/")),
                "{header:?} -> {out:?}"
            );
            assert!(
                out.ends_with(&token),
                "{header:?} -> {out:?}: state token changed"
            );
        }
    }
});
