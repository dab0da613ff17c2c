//! Bodies after bodies on one thread: the lexer a body leaves (`lexer::spare`: its memo,
//! known names, ghosts, replay trie and buffers) and the failures a report is done with
//! (`recycle`) serve the next body, which must read as it does on a new lexer with new
//! failures. The oracle is the same body scanned on a thread of its own (nothing kept there
//! yet), and the plain state machine. Also the replay at its edges: chunk cuts through
//! repeated entries and their runs of adjacent tags, and the trie's bounds (nodes, arena,
//! runs, new anchor states, anchor states too large to key).

use super::replay::{ROOTS, SHAPES, change_body, render};
use super::*;

/// Limits the fuzz targets use beside the default ones: the depth, text and kept-failure
/// caps all reached (once two root causes are kept, hrefs and descriptions are no longer
/// captured: `Sink::wants_text` turns false mid-body).
const TIGHT: Limits = Limits {
    max_depth: 8,
    max_text: 5,
    max_failures: 2,
};

/// `body` fed in the pieces `cuts` (offsets, in order) make, fast or plain.
fn feed(body: &[u8], limits: Limits, cuts: &[usize], end: BodyEnd, fast: bool) -> Report {
    let mut scanner = Scanner::new(AllErrors, limits);
    if !fast {
        scanner = scanner.without_fast_paths();
    }
    let mut from = 0;
    for &cut in cuts {
        let cut = cut.clamp(from, body.len());
        scanner.feed(&body[from..cut]);
        from = cut;
    }
    scanner.feed(&body[from..]);
    scanner.finish(end)
}

/// `feed` on a thread of its own: a new lexer, new failure records.
fn fresh(body: &[u8], limits: Limits, cuts: &[usize], end: BodyEnd) -> Report {
    let (body, cuts) = (body.to_vec(), cuts.to_vec());
    std::thread::spawn(move || feed(&body, limits, &cuts, end, true))
        .join()
        .unwrap()
}

/// Reads `body` on this thread (after whatever it read before), checks the report is the
/// one a new lexer gives and the plain one, and hands its failures back for reuse as the
/// audit task does.
fn read_after_others(body: &[u8], limits: Limits, cuts: &[usize], end: BodyEnd) -> Report {
    let reused = feed(body, limits, cuts, end, true);
    assert_eq!(
        reused,
        fresh(body, limits, cuts, end),
        "reused lexer vs new one: {:?}",
        String::from_utf8_lossy(body)
    );
    assert_eq!(
        reused,
        feed(body, limits, cuts, end, false),
        "fast vs plain: {:?}",
        String::from_utf8_lossy(body)
    );
    recycle(reused.failures.clone());
    reused
}

/// A prefix re-bound on an entry (`shadow` counts the re-bindings from 0 in each body)
/// while the declarations before it repeat the previous body's at the same places: what a
/// name resolved to in the previous body (memo, known names) must not hold. Were the
/// ghosts kept across bodies, the root's declarations would take back that body's serials
/// and `p:status` would hit the memo made there, under the same `shadow`, for `p` bound to
/// `DAV:` (one more 500 counted).
#[test]
fn a_prefix_rebound_on_an_entry_reads_by_what_it_binds_after_another_body() {
    // One entry: the memo of `p:status` is made under `shadow` 1, as the next body's
    // first `p:status` is read.
    let teach = b"<D:multistatus xmlns:D=\"DAV:\" xmlns:p=\"DAV:\">\
        <D:response xmlns:D=\"DAV:\"><D:href>/a</D:href><D:propstat><D:prop><p:x/></D:prop>\
        <p:status>HTTP/1.1 500 E</p:status></D:propstat></D:response>\
        </D:multistatus>";
    let rebound = b"<D:multistatus xmlns:D=\"DAV:\" xmlns:p=\"DAV:\">\
        <D:response xmlns:p=\"urn:x\"><D:href>/a</D:href><D:propstat><D:prop><p:x/></D:prop>\
        <p:status>HTTP/1.1 500 E</p:status><D:status>HTTP/1.1 200 OK</D:status></D:propstat>\
        </D:response>\
        <D:response xmlns:p=\"urn:x\"><D:href>/b</D:href><D:propstat><D:prop><p:x/></D:prop>\
        <p:status>HTTP/1.1 500 E</p:status><D:status>HTTP/1.1 200 OK</D:status></D:propstat>\
        </D:response>\
        </D:multistatus>";
    let expected = fresh(rebound, Limits::default(), &[], BodyEnd::Complete);
    assert_eq!(expected.outcome, Outcome::Clean);
    assert_eq!(
        codes(&expected.propstat_status),
        pairs(&[("200", 2)]),
        "{expected:?}"
    );
    std::thread::spawn(move || {
        for _ in 0..3 {
            for cuts in [&[][..], &[90, 200]] {
                let taught = read_after_others(teach, Limits::default(), cuts, BodyEnd::Complete);
                assert_eq!(codes(&taught.propstat_status), pairs(&[("500", 1)]));
                let read = read_after_others(rebound, Limits::default(), cuts, BodyEnd::Complete);
                assert_eq!(read, expected);
            }
        }
    })
    .join()
    .unwrap();
}

/// A body left anywhere (cut short mid-entry, mid-run, mid-capture, mid-declaration; or
/// malformed), then the whole body again and the other shapes: each reads as on a new
/// lexer, under default and tight limits alternately (a lexer kept from a body with one
/// set of limits serves a body with another).
#[test]
fn a_body_cut_anywhere_leaves_nothing_for_the_next_one() {
    std::thread::spawn(|| {
        for shape in 0..SHAPES.len() {
            let body = render(0, &[(shape, 1), (shape, 2), (shape, 3)]);
            let step = (body.len() / 40).max(1);
            for cut in (0..body.len()).step_by(step) {
                let limits = if cut.is_multiple_of(2) {
                    Limits::default()
                } else {
                    TIGHT
                };
                read_after_others(&body[..cut], limits, &[cut / 2], BodyEnd::Truncated);
                read_after_others(&body, Limits::default(), &[], BodyEnd::Complete);
                let other = render(2, &[((shape + 1) % SHAPES.len(), 1); 3]);
                read_after_others(&other, TIGHT, &[cut], BodyEnd::Complete);
            }
        }
    })
    .join()
    .unwrap();
}

/// Every single cut, and every pair of cuts 1 to 9 bytes apart, through the third and
/// fourth of five equal entries (the trie and its runs learnt from the first two): the
/// same report as fed whole, fast and plain.
#[test]
fn a_chunk_cut_through_a_replayed_entry_or_run_reads_as_whole() {
    for shape in 0..SHAPES.len() {
        let entries: Vec<(usize, u32)> = (0..5).map(|i| (shape, i % 2)).collect();
        let body = render(1, &entries);
        let from = render(1, &entries[..2]).len() - ROOTS[1].1.len();
        let to = render(1, &entries[..4]).len() - ROOTS[1].1.len();
        let whole = scan(&body);
        assert_eq!(whole.entries, 5);
        for cut in from..to {
            for gap in [0, 1, 3, 9] {
                let cuts = [cut, cut + gap];
                for limits in [Limits::default(), TIGHT] {
                    let fast = feed(&body, limits, &cuts, BodyEnd::Complete, true);
                    let plain = feed(&body, limits, &cuts, BodyEnd::Complete, false);
                    assert_eq!(fast, plain, "shape {shape} cut at {cuts:?}");
                    if limits == Limits::default() {
                        assert_eq!(fast, whole, "shape {shape} cut at {cuts:?}");
                    }
                }
            }
        }
    }
}

/// A small deterministic generator (the test needs many distinct entries, the same each
/// run).
fn lcg(state: &mut u64) -> usize {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (*state >> 33) as usize
}

/// Entries whose tags part in many ways (property names in varying orders and nestings,
/// long names, with and without whitespace between tags, leaves with and without text),
/// enough to fill the trie's nodes, arena, runs and paths; then entries each declaring a
/// prefix to a new URI on the entry (a new anchor state each: past the resets a body may
/// make); then entries the replay cannot key (more declarations in scope than it keys).
/// Read as the plain machine and the reference counter read them, whole and split.
#[test]
fn entries_past_the_replay_bounds_read_as_the_plain_machine() {
    let mut state = 7u64;
    let long = "l".repeat(60);
    let mut many = Vec::new();
    for i in 0..400 {
        let mut props = String::new();
        for _ in 0..(1 + lcg(&mut state) % 6) {
            let name = lcg(&mut state) % 40;
            let ws = if lcg(&mut state).is_multiple_of(3) {
                "\n  "
            } else {
                ""
            };
            props.push_str(&match lcg(&mut state) % 4 {
                0 => format!("{ws}<x:p{name}/>"),
                1 => format!("{ws}<x:p{name}>v{i}</x:p{name}>"),
                2 => format!("{ws}<x:{long}{name}><D:a/></x:{long}{name}>"),
                _ => format!("{ws}<D:p{name}></D:p{name}>"),
            });
        }
        let code = [200, 404, 403, 424][lcg(&mut state) % 4];
        many.push(format!(
            "<D:response><D:href>/m{i}</D:href><D:propstat><D:prop>{props}</D:prop>\
             <D:status>HTTP/1.1 {code} X</D:status></D:propstat></D:response>\n"
        ));
    }
    let mut anchors = String::new();
    for i in 0..80 {
        anchors.push_str(&format!(
            "<D:response xmlns:v=\"urn:v{}\"><D:href>/v{i}</D:href><D:propstat><D:prop>\
             <v:a/><D:b/></D:prop><D:status>HTTP/1.1 500 E</D:status></D:propstat>\
             </D:response>",
            i % 40
        ));
    }
    let decls: String = (0..20)
        .map(|i| format!(" xmlns:n{i}=\"urn:n{i}\""))
        .collect();
    let bodies = [
        format!(
            "<D:multistatus xmlns:D=\"DAV:\" xmlns:x=\"urn:x\">{}</D:multistatus>",
            many.concat()
        ),
        format!("<D:multistatus xmlns:D=\"DAV:\">{anchors}</D:multistatus>"),
        format!(
            "<D:multistatus xmlns:D=\"DAV:\" xmlns:x=\"urn:x\"{decls}>{}</D:multistatus>",
            many[..100].concat()
        ),
    ];
    for body in &bodies {
        let body = body.as_bytes();
        let report = scan(body);
        assert_eq!(
            report.outcome,
            Outcome::PartialFailure,
            "{:?}",
            report.malformed
        );
        let cuts = [body.len() / 3, body.len() / 2, body.len() / 2 + 17];
        check_fast_plain_equivalence(body, &cuts);
        check_split_equivalence(body, &cuts);
        check_reference_agreement(body, &cuts, None, true);
        check_reference_agreement(body, &[], Some("utf-8"), true);
    }
}

/// The `reuse` fuzz check ([`check_reuse_equivalence`]) on a body whose failures hold every
/// detail (several hrefs, error children, descriptions at both levels, property names;
/// entries declaring prefixes as Apache's do) and one whose failures hold few, the other
/// level first; a body re-binding on its entries a prefix the one before bound at the same
/// places. Cut at their boundary, elsewhere, or read twice, under every flag: each body
/// read on what the other left (lexer, failures) reads as on a new lexer.
#[test]
fn the_reuse_check_holds_under_every_flag() {
    let rich: &[u8] = b"<D:multistatus xmlns:D=\"DAV:\" xmlns:p=\"urn:p\">\
        <D:response xmlns:lp1=\"DAV:\" xmlns:lp2=\"http://apache.org/dav/props/\">\
        <D:href>/a/first/href/long</D:href><D:href>/a/second</D:href>\
        <D:propstat><D:prop><lp1:getetag/><lp2:executable/><p:x/></D:prop>\
        <D:status>HTTP/1.1 403 Forbidden</D:status><D:error><p:no-way/></D:error>\
        <D:responsedescription>prop level</D:responsedescription></D:propstat>\
        <D:propstat><D:prop><lp1:displayname/></D:prop>\
        <D:status>HTTP/1.1 424 Failed Dependency</D:status></D:propstat></D:response>\
        <D:response xmlns:lp1=\"DAV:\" xmlns:lp2=\"http://apache.org/dav/props/\">\
        <D:href>/b</D:href><D:status>HTTP/1.1 423 Locked</D:status>\
        <D:error><D:lock-token-submitted/></D:error>\
        <D:responsedescription>a long description of what went wrong</D:responsedescription>\
        </D:response></D:multistatus>";
    let plain: &[u8] = b"<D:multistatus xmlns:D=\"DAV:\">\
        <D:response><D:href>/d</D:href><D:status>HTTP/1.1 403 x</D:status></D:response>\
        <D:response><D:href>/c</D:href><D:propstat><D:prop><D:getetag/></D:prop>\
        <D:status>HTTP/1.1 500 x</D:status></D:propstat></D:response>\
        <D:response><D:href>/e</D:href><D:status>HTTP/1.1 409 x</D:status></D:response>\
        </D:multistatus>";
    // The memo hazard of `a_prefix_rebound_on_an_entry_reads_by_what_it_binds_after_another_body`.
    let teach: &[u8] = b"<D:multistatus xmlns:D=\"DAV:\" xmlns:p=\"DAV:\">\
        <D:response xmlns:D=\"DAV:\"><D:href>/a</D:href><D:propstat><D:prop><p:x/></D:prop>\
        <p:status>HTTP/1.1 500 E</p:status></D:propstat></D:response></D:multistatus>";
    let rebound: &[u8] = b"<D:multistatus xmlns:D=\"DAV:\" xmlns:p=\"DAV:\">\
        <D:response xmlns:p=\"urn:x\"><D:href>/a</D:href><D:propstat><D:prop><p:x/></D:prop>\
        <p:status>HTTP/1.1 500 E</p:status><D:status>HTTP/1.1 200 OK</D:status></D:propstat>\
        </D:response></D:multistatus>";
    for (first, second) in [(rich, plain), (plain, rich), (teach, rebound)] {
        let data = [first, second].concat();
        for flags in 0..=u8::MAX >> 1 {
            for at in [first.len(), first.len() / 2, data.len()] {
                check_reuse_equivalence(&data, at, &[at / 3, at + 40], flags);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Bodies of repeated entries (sometimes one byte changed or inserted, sometimes cut
    /// short) read one after the other on one thread, under default or tight limits, their
    /// failures recycled: each report is the one a new lexer and new failures give.
    #[test]
    fn bodies_read_one_after_another_read_as_each_on_a_new_lexer(
        bodies in prop::collection::vec(
            (
                0..ROOTS.len(),
                prop::collection::vec((0..SHAPES.len(), 0u32..3), 1..8),
                prop::option::of((any::<usize>(), prop::sample::select(b"<>/:= \"'&;xD0\n".to_vec()), any::<bool>())),
                any::<bool>(),
                prop::option::of(any::<usize>()),
                prop::collection::vec(any::<usize>(), 0..3),
            ),
            2..6,
        ),
    ) {
        let thread = std::thread::spawn(move || {
            for (root, entries, change, tight, cut, splits) in bodies {
                let mut body = render(root, &entries);
                change_body(&mut body, change);
                let end = match cut {
                    Some(cut) => {
                        body.truncate(cut % (body.len() + 1));
                        BodyEnd::Truncated
                    }
                    None => BodyEnd::Complete,
                };
                let mut cuts: Vec<usize> =
                    splits.iter().map(|s| s % (body.len() + 1)).collect();
                cuts.sort_unstable();
                let limits = if tight { TIGHT } else { Limits::default() };
                read_after_others(&body, limits, &cuts, end);
            }
        });
        prop_assert!(thread.join().is_ok());
    }
}

/// Found by the `reuse` fuzz target (crash-cf2f5dad…): entries at the document's root, their
/// `D:` prefix unbound (read as `DAV:`), Nextcloud-like declaring properties inside. Past the
/// first entry's end the walk looked for a next entry below a root that has no parent (a
/// debug assertion of the walk's state failed; release reports were right). Minimal:
/// `<?l ?><D:response><D/><D:propstat><D:prop></D:prop><D:status></D:status></D:propstat>
/// <D:error></D:error></D:response>`.
#[test]
fn fuzz_found_interleaved_declaring_anchors_read_as_fresh() {
    let data = include_bytes!("found/reuse-interleaved-declaring-anchor.xml");
    check_reuse_equivalence(data, 0, &[], 108);
}

#[test]
fn a_root_entry_with_an_unbound_prefix_reads_as_on_the_plain_path() {
    let body: &[u8] = b"<?l ?><D:response><D/><D:propstat><D:prop></D:prop>\
        <D:status>HTTP/1.1 404 x</D:status></D:propstat><D:error></D:error></D:response>";
    check_split_equivalence(body, &[]);
    check_split_equivalence(body, &[body.len() / 2]);
}
