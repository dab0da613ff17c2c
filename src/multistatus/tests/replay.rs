//! The replay of repeated entries (`lexer::replay`): bodies whose entries repeat a few
//! shapes, with one byte changed somewhere (in a tag or in text), prefixes re-declared on an
//! entry, and splits anywhere, read the same with the fast paths (and the replay) as by the
//! plain state machine, and the same whole as split.

use super::*;

/// Entry shapes, `{n}` replaced by the entry's number: audited and skipped elements,
/// references in kept and skipped text, an error's first child, an unbound prefix, leaves,
/// whitespace (between tags, in captured text and not), declarations on the entry, deep
/// skipped content (deeper than the walk keeps lazily).
pub(super) const SHAPES: &[&str] = &[
    "<D:response><D:href>/a{n}&amp;b</D:href><D:propstat><D:prop><D:getetag>&quot;{n}&quot;\
     </D:getetag><x:y/><D:resourcetype/><D:displayname>n{n}</D:displayname></D:prop>\
     <D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop><D:q/></D:prop>\
     <D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response>",
    "<D:response><D:href>/b{n}</D:href><D:status>HTTP/1.1 423 Locked</D:status><D:error>\
     <D:lock-token-submitted><D:href>/</D:href></D:lock-token-submitted></D:error>\
     <D:responsedescription>locked {n}</D:responsedescription></D:response>",
    "<D:response><D:href>/c{n}</D:href><D:propstat><D:prop><u:x/><D:a>{n}</D:a><u:z>t</u:z>\
     </D:prop><D:status>HTTP/1.1 424 Failed</D:status></D:propstat></D:response>",
    "<D:response>\n <D:href>/d{n}</D:href>\n <D:status>HTTP/1.1 403 F</D:status>\n</D:response>\n",
    "<D:response xmlns:x=\"urn:x\"><D:href>/e{n}</D:href><D:propstat><D:prop><x:y>v</x:y>\
     </D:prop><x:status>HTTP/1.1 500 E</x:status><D:status>HTTP/1.1 403 F</D:status>\
     </D:propstat></D:response>",
    "<D:response xmlns:x=\"DAV:\"><D:href>/f{n}</D:href><D:propstat><D:prop><x:y>v</x:y>\
     </D:prop><x:status>HTTP/1.1 500 E</x:status><D:status>HTTP/1.1 403 F</D:status>\
     </D:propstat></D:response>",
    "<D:response><D:href>/g{n}</D:href><D:propstat><D:prop><D:a><D:b><D:c><D:d><D:e><D:f>\
     {n}</D:f></D:e></D:d></D:c></D:b></D:a><D:g/></D:prop><D:status>HTTP/1.1 200 OK\
     </D:status></D:propstat></D:response>",
    "<D:response><D:href >/h{n}</D:href ><D:error><x:unknown/><D:other>t</D:other></D:error><D:error><D:e2/>\
     </D:error><D:status>HTTP/1.1 409 C</D:status></D:response>",
    "<D:response><D:href>/i{n}</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>",
    // Deeper than the walk keeps lazily (`UNNAMED` elements above the anchor).
    "<D:response><D:href>/j{n}</D:href><D:propstat><D:prop><D:v><a><a><a><a><a><a><a><a><a><b><b><b><b><b><b><b><b><b>\
     {n}<c/></b></b></b></b></b></b></b></b></b></a></a></a></a></a></a></a></a></a></D:v></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>",
    // Whitespace between tags, in captured text and not (runs keep only the latter).
    "<D:response>\n <D:href>/k{n}</D:href>\n <D:status>HTTP/1.1 403 F</D:status>\n \
     <D:responsedescription>a{n}<x:b/> <x:c/>b\n<x:d/> </D:responsedescription>\n</D:response>\n",
    // Empty elements with attributes, read whole by the walk (Nextcloud's declaring
    // property, a `>` in a value, an error's first child, a prefix re-declared).
    "<D:response><D:href>/l{n}</D:href><D:propstat><D:prop><o:sp xmlns:o=\"urn:o\"/><D:a/>\
     <y:q xmlns:y='urn:y' a=\"1>2\"/><x:v a='{n}'/></D:prop><D:status>HTTP/1.1 404 N</D:status>\
     </D:propstat><D:error><z:e xmlns:z=\"urn:z\"/></D:error><D:error><D:x xmlns:D=\"urn:d\"/>\
     </D:error></D:response>",
];

/// Roots: the entries' `D` bound to `DAV:` (or, once, to another namespace), `x` bound.
pub(super) const ROOTS: &[(&str, &str)] = &[
    (
        "<D:multistatus xmlns:D=\"DAV:\" xmlns:x=\"urn:x\">",
        "</D:multistatus>",
    ),
    ("<D:multistatus xmlns:D=\"DAV:\">\n", "</D:multistatus>\n"),
    (
        "<m:multistatus xmlns:m=\"DAV:\" xmlns:D=\"DAV:\" xmlns:x=\"urn:x\">",
        "</m:multistatus>",
    ),
];

pub(super) fn render(root: usize, entries: &[(usize, u32)]) -> Vec<u8> {
    let (open, close) = ROOTS[root % ROOTS.len()];
    let mut s = String::from(open);
    for &(shape, n) in entries {
        s.push_str(&SHAPES[shape % SHAPES.len()].replace("{n}", &n.to_string()));
    }
    s.push_str(close);
    s.into_bytes()
}

/// Puts `byte` at `at` (modulo the length): inserted when `insert` or at the end, else in
/// place of the byte there.
pub(super) fn change_body(body: &mut Vec<u8>, change: Option<(usize, u8, bool)>) {
    if let Some((at, byte, insert)) = change {
        let at = at % (body.len() + 1);
        if insert || at == body.len() {
            body.insert(at, byte);
        } else if let Some(b) = body.get_mut(at) {
            *b = byte;
        }
    }
}

/// Bytes a change puts in place of another: markup, name and reference characters.
const CHANGES: &[u8] = b"<>/:= \"'&;!?xDd0\n";

#[test]
fn repeated_entries_read_the_same_with_and_without_the_replay() {
    for root in 0..ROOTS.len() {
        for shape in 0..SHAPES.len() {
            let entries: Vec<(usize, u32)> = (0..4)
                .map(|i| (shape, i))
                .chain((0..SHAPES.len()).map(|s| (s, 9)))
                .chain((0..3).map(|i| (shape, 100 + i)))
                .collect();
            let body = render(root, &entries);
            check_fast_plain_equivalence(&body, &[]);
            check_split_equivalence(&body, &[body.len() / 3, body.len() / 2]);
        }
    }
}

/// Every single-byte change of a tag in the third of three equal entries (the first two
/// taught the trie), at every place: read as the plain state machine reads it.
#[test]
fn a_changed_byte_in_a_repeated_entry_leaves_the_replay() {
    for shape in [0, 1, 2, 4, 7, 9, 10, 11] {
        let body = render(0, &[(shape, 1), (shape, 2), (shape, 3), (shape, 4)]);
        let third = render(0, &[(shape, 1), (shape, 2)]).len() - "</D:multistatus>".len();
        let end = render(0, &[(shape, 1), (shape, 2), (shape, 3)]).len() - 16;
        for at in third..end {
            for &c in [b'>', b'x', b'/'].iter() {
                let mut changed = body.clone();
                changed[at] = c;
                check_fast_plain_equivalence(&changed, &[]);
            }
        }
    }
}

/// The walk goes on from one entry's end tag into the next entry only when that entry opens
/// in the anchor state with the same start tag: an entry that declared a prefix its tags use
/// followed by one that does not, other markup or text between entries, another spelling
/// of the start tag (attributes, empty, another prefix), a response that is not an entry;
/// each split at every position.
#[test]
fn the_walk_goes_on_into_the_next_entry_only_from_the_anchor_state() {
    let same = "<D:response><D:href>/s</D:href><D:status>HTTP/1.1 403 F</D:status></D:response>";
    let declared = "<D:response xmlns:x=\"DAV:\"><D:href>/d</D:href><x:status>HTTP/1.1 500 E\
                    </x:status></D:response>";
    let undeclared =
        "<D:response><D:href>/d</D:href><x:status>HTTP/1.1 500 E</x:status></D:response>";
    let between: &[&str] = &[
        "",
        "\n  ",
        "text",
        "&amp;",
        "<!-- c -->",
        "<?pi x?>",
        "<D:other>t</D:other>",
        "<D:other/>",
        "<D:response/>",
        "<D:response ></D:response>",
        "<D:response xmlns:y=\"urn:y\"><y:status>HTTP/1.1 500 E</y:status></D:response>",
        "<m:response><D:href>/m</D:href></m:response>",
        "<D:responsex></D:responsex>",
        "<x:response></x:response>",
        "</D:multistatus><D:response>",
    ];
    // Entries whose start tag declares (Apache's), then one spelt otherwise.
    let declaring = |tag: &str| {
        format!("{tag}<D:href>/d</D:href><x:status>HTTP/1.1 500 E</x:status></D:response>")
    };
    let anchor = declaring("<D:response xmlns:x=\"DAV:\">");
    let others: Vec<String> = [
        "<D:response xmlns:x=\"urn:x\">",
        "<D:response xmlns:x='DAV:'>",
        "<D:response  xmlns:x=\"DAV:\">",
        "<D:response xmlns:x=\"DAV:\" xmlns:y=\"urn:y\">",
        "<D:response xmlns:y=\"DAV:\">",
        "<D:response x=\"DAV:\">",
        "<D:response>",
    ]
    .iter()
    .map(|tag| declaring(tag))
    .chain([
        "<D:response xmlns:x=\"DAV:\"/>".to_owned(),
        "<m:response xmlns:x=\"DAV:\"><D:href>/m</D:href></m:response>".to_owned(),
        "<D:response xmlns:x=\"DAV:\"><x:status>HTTP/1.1 501 E</x:status></D:response>".to_owned(),
    ])
    .collect();
    for &(open, close) in ROOTS {
        let mut bodies = vec![format!(
            "{open}{declared}{declared}{undeclared}{undeclared}{close}"
        )];
        for other in &others {
            bodies.push(format!(
                "{open}{anchor}{anchor}{other}{anchor}{anchor}{other}{anchor}{close}"
            ));
        }
        for b in between {
            bodies.push(format!("{open}{same}{same}{b}{same}{same}{b}{same}{close}"));
        }
        for body in bodies {
            let body = body.into_bytes();
            check_fast_plain_equivalence(&body, &[]);
            for at in 0..=body.len() {
                check_fast_plain_equivalence(&body, &[at]);
                check_split_equivalence(&body, &[at]);
            }
        }
    }
}

/// A run that crosses from an entry's end tag into the next entry (`</D:response>`,
/// whitespace, `<D:response><D:href>`), learnt on the first entries and replayed on the
/// next: read as the plain machine reads it when the next entry opens the same way, with
/// other whitespace, text, another first child or another spelling, after a declaring
/// entry, and at the last entry; each split at every position.
#[test]
fn a_run_crossing_into_the_next_entry_reads_as_the_plain_machine() {
    crossing_runs_read_as_the_plain_machine("D");
}

/// The same with anchor names of 16 bytes (the longest `open_anchor` writes as one
/// 16-byte block, `Key::name16`) and 17 bytes (written from the key's names).
#[test]
fn a_run_crossing_into_an_entry_with_a_long_name_reads_as_the_plain_machine() {
    crossing_runs_read_as_the_plain_machine("abcdefg");
    crossing_runs_read_as_the_plain_machine("abcdefgh");
}

/// Entries whose anchor names alternate between a short and a long spelling of
/// `DAV:response` (a new anchor state each time: the key, and its `name16`, change),
/// each run crossing into the next entry of its spelling; split at every position.
#[test]
fn anchors_of_alternating_name_lengths_read_as_the_plain_machine() {
    let entry = |p: &str, n: u32| {
        format!(
            "<{p}:response><{p}:href>/r{n}</{p}:href><{p}:status>HTTP/1.1 404 N</{p}:status>\
             </{p}:response>\n<{p}:response><{p}:href>/s{n}</{p}:href></{p}:response>\n"
        )
    };
    let mut body = String::from("<D:multistatus xmlns:D=\"DAV:\" xmlns:abcdefghij=\"DAV:\">\n");
    for (i, p) in ["D", "abcdefghij", "D", "abcdefghij", "D"]
        .iter()
        .enumerate()
    {
        for n in 0..3 {
            body.push_str(&entry(p, n + 10 * i as u32));
        }
        body.push_str(&format!(
            "<{p}:response><{p}:href>/t</{p}:href></{p}:response>\n"
        ));
    }
    body.push_str("</D:multistatus>\n");
    let body = body.into_bytes();
    check_fast_plain_equivalence(&body, &[]);
    for at in 0..=body.len() {
        check_fast_plain_equivalence(&body, &[at]);
    }
}

fn crossing_runs_read_as_the_plain_machine(prefix: &str) {
    let spell = |s: String| {
        s.replace("D:", &format!("{prefix}:"))
            .replace("xmlns:D=", &format!("xmlns:{prefix}="))
    };
    let entry = |n: u32, ws: &str| {
        format!(
            "<D:response><D:href>/r{n}</D:href><D:propstat><D:prop><D:x/></D:prop>\
             <D:status>HTTP/1.1 404 N</D:status></D:propstat></D:response>{ws}"
        )
    };
    let nexts = [
        entry(7, "\n"),
        entry(7, ""),
        entry(7, " \n\t"),
        entry(7, "\nt\n"),
        "<D:response><D:status>HTTP/1.1 403 F</D:status></D:response>\n".to_owned(),
        "<D:response><D:href >/h</D:href></D:response>\n".to_owned(),
        "<D:response xmlns:y=\"urn:y\"><D:href>/y</D:href></D:response>\n".to_owned(),
        "<D:response/>\n".to_owned(),
        "&amp;\n".to_owned(),
    ];
    for &(open, close) in ROOTS {
        for next in &nexts {
            let body = spell(format!(
                "{open}{}{}{}{next}{}{}{close}",
                entry(1, "\n"),
                entry(2, "\n"),
                entry(3, "\n"),
                entry(4, "\n"),
                entry(5, "\n")
            ))
            .into_bytes();
            check_fast_plain_equivalence(&body, &[]);
            for at in 0..=body.len() {
                check_fast_plain_equivalence(&body, &[at]);
                check_split_equivalence(&body, &[at]);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Repeated entries of a few shapes, sometimes with one byte changed or inserted and a
    /// prefix re-declared, split anywhere: the same report fast and plain, whole and split.
    #[test]
    fn repeated_entries_with_one_change_read_as_the_plain_machine(
        root in 0..ROOTS.len(),
        entries in prop::collection::vec((0..SHAPES.len(), 0u32..3), 2..12),
        change in prop::option::of((any::<usize>(), prop::sample::select(CHANGES.to_vec()), any::<bool>())),
        splits in prop::collection::vec(any::<usize>(), 0..5),
    ) {
        let mut body = render(root, &entries);
        change_body(&mut body, change);
        check_fast_plain_equivalence(&body, &splits);
        check_split_equivalence(&body, &splits);
    }
}
