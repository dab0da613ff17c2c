//! The load harness's multistatus entry, in one place: `bench/backend` serves it (and counts
//! what it says for `/expect`), the `scanner` and `decode` benchmarks scan it (shape
//! `harness`). Included by path from both packages (`#[path = ...] mod harness;`), so it
//! depends on `std` only.
//!
//! Entries cycle with period 20: 14 have a propstat 200 and a propstat 404 (a property the
//! resource lacks: routine for PROPFIND), 2 only a propstat 200, 3 a response-level 423 with
//! `DAV:lock-token-submitted`, 1 a response-level 403.

use std::fmt::Write as _;

/// The document's start: XML declaration and the `DAV:multistatus` start tag.
pub(crate) const HEAD: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
<d:multistatus xmlns:d=\"DAV:\" xmlns:oc=\"http://owncloud.org/ns\">\n";
/// The document's end.
pub(crate) const TAIL: &str = "</d:multistatus>\n";

/// Appends entry `i` to `out`; returns the statuses it holds, as `(level, code)` in label
/// spelling: `("propstat", 404)`.
pub(crate) fn entry(out: &mut String, i: usize) -> &'static [(&'static str, u16)] {
    let dir = "/dav/q1-2026";
    match i % 20 {
        3 | 11 | 17 => {
            let _ = writeln!(
                out,
                "<d:response><d:href>{dir}/d{i:06}.odt</d:href>\
<d:status>HTTP/1.1 423 Locked</d:status><d:error><d:lock-token-submitted>\
<d:href>{dir}/</d:href></d:lock-token-submitted></d:error>\
<d:responsedescription>The resource is locked by another client.</d:responsedescription>\
</d:response>"
            );
            &[("response", 423)]
        }
        7 => {
            let _ = writeln!(
                out,
                "<d:response><d:href>{dir}/p{i:06}/</d:href>\
<d:status>HTTP/1.1 403 Forbidden</d:status></d:response>"
            );
            &[("response", 403)]
        }
        k => {
            let _ = write!(
                out,
                "<d:response><d:href>{dir}/r{i:06}.pdf</d:href><d:propstat><d:prop>\
<d:displayname>r{i:06}.pdf</d:displayname>\
<d:getcontentlength>{len}</d:getcontentlength>\
<d:getlastmodified>Tue, 03 Mar 2026 10:{mm:02}:{ss:02} GMT</d:getlastmodified>\
<d:getetag>&quot;{etag:08x}&quot;</d:getetag><d:resourcetype/></d:prop>\
<d:status>HTTP/1.1 200 OK</d:status></d:propstat>",
                len = 1000 + i * 37 % 900_000,
                mm = i / 60 % 60,
                ss = i % 60,
                etag = (i as u32).wrapping_mul(2_654_435_761),
            );
            let statuses: &[(&str, u16)] = if k != 5 && k != 13 {
                out.push_str(
                    "<d:propstat><d:prop><oc:checksums/></d:prop>\
<d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>",
                );
                &[("propstat", 200), ("propstat", 404)]
            } else {
                &[("propstat", 200)]
            };
            out.push_str("</d:response>\n");
            statuses
        }
    }
}
