//! Arbitrary bytes, arbitrary split points, a `Content-Type` charset picked from a short list:
//! the fast scanner and the reference counter (quick-xml) read the same body. When
//! roxmltree, an outside judge, finds the body well-formed (UTF-8, no DTD: roxmltree refuses
//! DTDs while both readers skip them), neither reader may call it malformed; whenever both
//! accept it, their reports must be equal. The check lives in the library
//! (`davaudit::multistatus::check_reference_agreement`) so a finding becomes a unit test.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Charsets a `Content-Type` may name: none, UTF-8, 8-bit, UTF-16/32 with and without a
/// byte order, a multi-byte one, an unknown label.
const CHARSETS: [Option<&str>; 12] = [
    None,
    Some("utf-8"),
    Some("ISO-8859-1"),
    Some("windows-1252"),
    Some("utf-16le"),
    Some("UTF-16BE"),
    Some("utf-16"),
    Some("utf-32"),
    Some("utf-32le"),
    Some("utf-32be"),
    Some("shift_jis"),
    Some("no-such-charset"),
];

fuzz_target!(|input: (u8, Vec<u16>, &[u8])| {
    let (which, splits, data) = input;
    let charset = CHARSETS[usize::from(which) % CHARSETS.len()];
    let splits: Vec<usize> = splits.into_iter().map(usize::from).take(16).collect();
    // roxmltree reads the bytes as UTF-8 whatever the declaration says: it judges only
    // bodies that declare no encoding or UTF-8 (found: `encoding="utf-1"`, which both readers
    // rightly refuse as unsupported).
    let utf8_declared = |text: &str| {
        let Some(decl) = text
            .strip_prefix("<?xml")
            .and_then(|d| d.split("?>").next())
        else {
            return true;
        };
        match decl.split("encoding").nth(1) {
            None => true,
            Some(rest) => {
                let label: String = rest
                    .chars()
                    .skip_while(|c| matches!(c, ' ' | '=' | '"' | '\''))
                    .take_while(|c| !matches!(c, '"' | '\''))
                    .collect();
                label.eq_ignore_ascii_case("utf-8") || label.eq_ignore_ascii_case("utf8")
            }
        }
    };
    // Under a charset other than UTF-8 the judge reads the same characters only when the
    // body is ASCII (a UTF-16/32 label then needs NUL bytes, which XML refuses anyway).
    let judged = match charset {
        None | Some("utf-8") => true,
        Some(_) => data.is_ascii(),
    };
    let well_formed = judged
        && std::str::from_utf8(data).is_ok_and(|text| {
            if !utf8_declared(text) {
                return false;
            }
            let options = roxmltree::ParsingOptions {
                allow_dtd: false,
                ..roxmltree::ParsingOptions::default()
            };
            // roxmltree's own limits (nodes, depth) are far beyond what a fuzz input reaches.
            roxmltree::Document::parse_with_options(text, options)
                .is_ok_and(|doc| pi_targets_well_formed(&doc) && qnames_well_formed(&doc))
        });
    davaudit::multistatus::check_reference_agreement(data, &splits, charset, well_formed);
});

/// roxmltree accepts a PI whose target runs straight into other characters
/// (`<?xm="DAV:">…?>`, found by this target) and a target `XML` in another case; XML 1.0
/// §2.6 does not (`'<?' PITarget (S ...)? '?>'`, `PITarget ::= Name - ('X'|'x')('M'|'m')('L'|'l')`),
/// and so neither do the two readers. The judge applies the rule roxmltree leaves out.
fn pi_targets_well_formed(doc: &roxmltree::Document<'_>) -> bool {
    let input = doc.input_text();
    doc.descendants()
        .filter_map(|n| n.pi().map(|pi| (n.range(), pi.target)))
        .all(|(range, target)| {
            let after = input
                .get(range.start + 2 + target.len()..)
                .unwrap_or_default();
            !target.eq_ignore_ascii_case("xml")
                && (after.starts_with("?>") || after.starts_with([' ', '\t', '\r', '\n']))
        })
}

/// roxmltree accepts an element or attribute name with an empty prefix or local part
/// (`<:b xmlns:a="urn:a"/>`, found by this target in a `DAV:prop`); Namespaces in XML 1.0
/// §3 does not (`QName ::= PrefixedName | UnprefixedName`, `Prefix` and `LocalPart` are
/// NCNames: non-empty, no colon), and neither does the scanner on the audited path
/// ("invalid qualified name"). The judge applies the rule roxmltree leaves out.
fn qnames_well_formed(doc: &roxmltree::Document<'_>) -> bool {
    let input = doc.input_text();
    let qname = |name: &str| {
        let mut parts = name.split(':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(local), None, _) => !local.is_empty(),
            (Some(prefix), Some(local), None) => !prefix.is_empty() && !local.is_empty(),
            _ => false,
        }
    };
    doc.descendants().filter(|n| n.is_element()).all(|n| {
        let name: String = input
            .get(n.range().start + 1..)
            .unwrap_or_default()
            .chars()
            .take_while(|c| !matches!(c, ' ' | '\t' | '\r' | '\n' | '/' | '>'))
            .collect();
        qname(&name)
            && n.attributes()
                .all(|a| input.get(a.range_qname()).is_some_and(qname))
            && end_tag_matches(input.get(n.range()).unwrap_or_default(), &name)
            && n.namespaces()
                .all(|ns| ns.name().is_none() || !ns.uri().is_empty())
    })
}

/// (And roxmltree takes `xmlns:D=""` as a declaration; Namespaces in XML 1.0 §3 forbids an
/// empty value for a prefix, and the reference calls `D:` unbound after it: found by this
/// target.)
///
/// roxmltree also closes `<href>` with `</:href>` (found by this target: it reads the empty
/// prefix as none); XML 1.0 §3 requires the end tag's Name to match the start tag's exactly,
/// and neither reader accepts it. `element` is the element's text, start tag to end tag.
fn end_tag_matches(element: &str, name: &str) -> bool {
    if element.ends_with("/>") {
        return true;
    }
    element.rfind("</").is_some_and(|at| {
        let end = element.get(at + 2..).unwrap_or_default();
        let end_name = end
            .trim_end_matches('>')
            .trim_end_matches([' ', '\t', '\r', '\n']);
        end_name == name
    })
}
