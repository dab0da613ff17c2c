//! Multistatus body shapes for the benchmarks (shared by `scanner` and `decode`), generated
//! here so every run measures the same bytes. See `scanner.rs` for what each shape stands for.
#![allow(dead_code, reason = "each benchmark uses some of the shapes")]
#![allow(
    clippy::write_with_newline,
    reason = "bodies are written line by line as servers send them"
)]

use std::fmt::Write as _;

mod harness;

/// One Depth: 1 PROPFIND allprop entry, as Apache mod_dav writes it.
fn entry(out: &mut String, i: usize) {
    use std::fmt::Write;
    let _ = write!(
        out,
        r#"<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/" xmlns:g0="DAV:">
<D:href>/dav/projects/report-{i:08}.txt</D:href>
<D:propstat>
<D:prop>
<lp1:resourcetype/>
<lp1:creationdate>2024-05-01T10:00:00Z</lp1:creationdate>
<lp1:getcontentlength>{len}</lp1:getcontentlength>
<lp1:getlastmodified>Wed, 01 May 2024 10:00:00 GMT</lp1:getlastmodified>
<lp1:getetag>"{i:x}-61750dd1b0b40"</lp1:getetag>
<lp2:executable>F</lp2:executable>
<D:supportedlock>
<D:lockentry>
<D:lockscope><D:exclusive/></D:lockscope>
<D:locktype><D:write/></D:locktype>
</D:lockentry>
<D:lockentry>
<D:lockscope><D:shared/></D:lockscope>
<D:locktype><D:write/></D:locktype>
</D:lockentry>
</D:supportedlock>
<D:lockdiscovery/>
<D:getcontenttype>text/plain</D:getcontenttype>
</D:prop>
<D:status>HTTP/1.1 200 OK</D:status>
</D:propstat>
"#,
        len = i.wrapping_mul(7919) % 1_000_000,
    );
    if i.is_multiple_of(8) {
        out.push_str(
            "<D:propstat>\n<D:prop>\n<g0:quota-used-bytes/>\n</D:prop>\n<D:status>HTTP/1.1 404 Not Found</D:status>\n</D:propstat>\n",
        );
    }
    out.push_str("</D:response>\n");
}

/// A multistatus of about `mb` MiB.
pub(crate) fn propfind_body(mb: usize) -> Vec<u8> {
    let mut s = String::with_capacity((mb << 20) + 4096);
    s.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:ns0=\"DAV:\">\n");
    let mut i = 0;
    while s.len() < mb << 20 {
        entry(&mut s, i);
        i += 1;
    }
    s.push_str("</D:multistatus>\n");
    s.into_bytes()
}

/// The load harness's multistatus of about `mb` MiB.
fn harness_body(mb: usize) -> Vec<u8> {
    let mut s = String::with_capacity((mb << 20) + 4096);
    s.push_str(harness::HEAD);
    let mut i = 0;
    while s.len() < mb << 20 {
        harness::entry(&mut s, i);
        i += 1;
    }
    s.push_str(harness::TAIL);
    s.into_bytes()
}

/// nginx with the dav-ext module: allprop, every entry clean, one propstat, newlines.
fn dav_ext_entry(out: &mut String, i: usize) {
    let _ = write!(
        out,
        "<D:response>\n<D:href>/webdav/share/file-{i:07}.bin</D:href>\n<D:propstat>\n<D:prop>\n\
<D:displayname>file-{i:07}.bin</D:displayname>\n\
<D:getcontentlength>{len}</D:getcontentlength>\n\
<D:getlastmodified>Mon, 02 Mar 2026 09:{mm:02}:{ss:02} GMT</D:getlastmodified>\n\
<D:resourcetype></D:resourcetype>\n<D:lockdiscovery/>\n<D:supportedlock>\n\
</D:supportedlock>\n</D:prop>\n<D:status>HTTP/1.1 200 OK</D:status>\n</D:propstat>\n</D:response>\n",
        len = i.wrapping_mul(7919) % 10_000_000,
        mm = i / 60 % 60,
        ss = i % 60,
    );
}

/// Nextcloud / SabreDAV: many namespace declarations on the root, `oc:`/`nc:` properties,
/// long quoted ETags and checksums, a 404 propstat listing the properties the file lacks.
fn nextcloud_entry(out: &mut String, i: usize) {
    let _ = write!(
        out,
        "<d:response><d:href>/remote.php/dav/files/alice/Projects/2026/Report%20{i:06}.docx</d:href>\
<d:propstat><d:prop><d:getlastmodified>Tue, 03 Mar 2026 10:{mm:02}:{ss:02} GMT</d:getlastmodified>\
<d:getcontentlength>{len}</d:getcontentlength><d:resourcetype/>\
<d:getetag>&quot;{etag:016x}{etag2:016x}&quot;</d:getetag>\
<d:getcontenttype>application/vnd.openxmlformats-officedocument.wordprocessingml.document</d:getcontenttype>\
<oc:fileid>{fileid}</oc:fileid><oc:permissions>RGDNVW</oc:permissions><oc:size>{len}</oc:size>\
<oc:owner-display-name>Alice Example</oc:owner-display-name><nc:has-preview>true</nc:has-preview>\
<oc:checksums><oc:checksum>SHA1:{etag:016x}{etag2:016x}0123abcd MD5:{etag2:016x}{etag:016x} ADLER32:{adler:08x}</oc:checksum></oc:checksums>\
<oc:share-types/><nc:mount-type></nc:mount-type><oc:favorite>0</oc:favorite>\
<nc:upload_time>1772532000</nc:upload_time><nc:creation_time>0</nc:creation_time>\
</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>\
<d:propstat><d:prop><nc:lock-owner-displayname/><nc:lock-owner/><nc:note/><x1:share-permissions xmlns:x1=\"http://open-collaboration-services.org/ns\"/>\
</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>",
        len = 1000 + i * 37 % 900_000,
        mm = i / 60 % 60,
        ss = i % 60,
        etag = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        etag2 = (i as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f),
        fileid = 100_000 + i,
        adler = (i as u32).wrapping_mul(2_654_435_761),
    );
}

/// CalDAV `calendar-multiget` REPORT: a ~2 KB iCalendar text per entry in
/// `cal:calendar-data`, and now and then a 404 for an href that is gone.
fn caldav_entry(out: &mut String, i: usize) {
    if i % 50 == 49 {
        let _ = write!(
            out,
            "<d:response><d:href>/dav/calendars/alice/work/gone-{i:06}.ics</d:href>\
<d:status>HTTP/1.1 404 Not Found</d:status></d:response>\n"
        );
        return;
    }
    let _ = write!(
        out,
        "<d:response><d:href>/dav/calendars/alice/work/{i:08x}-5f2e-4c1a-9b7d-event.ics</d:href>\
<d:propstat><d:prop><d:getetag>\"{i:x}-1772532000\"</d:getetag><cal:calendar-data>BEGIN:VCALENDAR\r\n\
VERSION:2.0\r\nPRODID:-//Example Corp.//CalDAV Client//EN\r\nCALSCALE:GREGORIAN\r\n\
BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n\
TZNAME:CEST\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n\
BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\n\
UID:{i:08x}-5f2e-4c1a-9b7d-event\r\nDTSTAMP:20260303T100000Z\r\nDTSTART;TZID=Europe/Berlin:20260{m}1{d}T090000\r\n\
DTEND;TZID=Europe/Berlin:20260{m}1{d}T100000\r\nSUMMARY:Weekly planning &amp; review {i}\r\n\
DESCRIPTION:Agenda: 1. status of the Q1 deliverables 2. risks &lt;high&gt; and mitigations\\n3. \r\n \
actions for next week\\nDial-in: https://meet.example.com/j/{i:09} (PIN 4711)\r\n\
LOCATION:Room 4.12 / online\r\nORGANIZER;CN=Alice Example:mailto:alice@example.com\r\n\
ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:bob@example.com\r\n\
ATTENDEE;CN=Carol;ROLE=OPT-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:carol@example.com\r\n\
RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=20\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\n\
DESCRIPTION:Reminder\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n</cal:calendar-data></d:prop>\
<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\n",
        m = i % 9 + 1,
        d = i % 9,
    );
}

/// DELETE / MOVE answers: every entry a failure (423 with `DAV:error`, 403, 424, 507), with a
/// responsedescription on some, as Apache mod_dav and SabreDAV write them.
fn failures_entry(out: &mut String, i: usize) {
    let _ = match i % 4 {
        0 => write!(
            out,
            "<D:response><D:href>/dav/archive/2025/locked-{i:06}.xlsx</D:href>\
<D:status>HTTP/1.1 423 Locked</D:status><D:error><D:lock-token-submitted>\
<D:href>/dav/archive/2025/</D:href></D:lock-token-submitted></D:error>\
<D:responsedescription>The resource is locked by another client.</D:responsedescription></D:response>\n"
        ),
        1 => write!(
            out,
            "<D:response><D:href>/dav/archive/2025/readonly-{i:06}/</D:href>\
<D:status>HTTP/1.1 403 Forbidden</D:status>\
<D:responsedescription>Permission denied on the parent collection.</D:responsedescription></D:response>\n"
        ),
        2 => write!(
            out,
            "<D:response><D:href>/dav/archive/2025/</D:href>\
<D:status>HTTP/1.1 424 Failed Dependency</D:status></D:response>\n"
        ),
        _ => write!(
            out,
            "<D:response><D:href>/dav/archive/2025/big-{i:06}.iso</D:href>\
<D:status>HTTP/1.1 507 Insufficient Storage</D:status></D:response>\n"
        ),
    };
}

/// The body shapes, each generated to about `mb` MiB.
pub(crate) const SHAPES: &[&str] = &[
    "apache",
    "harness",
    "dav_ext",
    "nextcloud",
    "caldav",
    "failures",
];

/// Body `shape` ([`SHAPES`]) of about `mb` MiB.
pub(crate) fn shape_body(shape: &str, mb: usize) -> Vec<u8> {
    let (head, tail, entry): (&str, &str, fn(&mut String, usize)) = match shape {
        "apache" => return propfind_body(mb),
        "harness" => return harness_body(mb),
        "dav_ext" => (
            "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<D:multistatus xmlns:D=\"DAV:\">\n",
            "</D:multistatus>\n",
            dav_ext_entry,
        ),
        "nextcloud" => (
            "<?xml version=\"1.0\"?>\n<d:multistatus xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\" \
xmlns:cal=\"urn:ietf:params:xml:ns:caldav\" xmlns:cs=\"http://calendarserver.org/ns/\" \
xmlns:card=\"urn:ietf:params:xml:ns:carddav\" xmlns:oc=\"http://owncloud.org/ns\" \
xmlns:nc=\"http://nextcloud.org/ns\">",
            "</d:multistatus>\n",
            nextcloud_entry,
        ),
        "caldav" => (
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus xmlns:d=\"DAV:\" \
xmlns:cal=\"urn:ietf:params:xml:ns:caldav\" xmlns:cs=\"http://calendarserver.org/ns/\">\n",
            "</d:multistatus>\n",
            caldav_entry,
        ),
        "failures" => (
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">\n",
            "</D:multistatus>\n",
            failures_entry,
        ),
        "ns_flood" => return ns_flood_body(mb),
        other => panic!("unknown body shape {other:?}; one of {SHAPES:?} or ns_flood"),
    };
    let mut s = String::with_capacity((mb << 20) + 8192);
    s.push_str(head);
    let mut i = 0;
    while s.len() < mb << 20 {
        entry(&mut s, i);
        i += 1;
    }
    s.push_str(tail);
    s.into_bytes()
}

/// Hostile, not a server's shape (`SCANNER_BENCH_ONCE=ns_flood` only): the root declares
/// 4,000 prefixes after `D`, and every entry has a child with a name of its own, so neither
/// the role memo nor a short scan finds `D`: what a lookup by prefix costs at its worst.
fn ns_flood_body(mb: usize) -> Vec<u8> {
    let mut s = String::with_capacity((mb << 20) + 128 * 1024);
    s.push_str("<D:multistatus xmlns:D=\"DAV:\"");
    for i in 0..4000 {
        let _ = write!(s, " xmlns:n{i}=\"urn:n{i}\"");
    }
    s.push('>');
    let mut i = 0;
    while s.len() < mb << 20 {
        let _ = write!(
            s,
            "<D:response><D:href>/f{i}</D:href><D:p{i}/><D:status>HTTP/1.1 200 OK</D:status></D:response>\n"
        );
        i += 1;
    }
    s.push_str("</D:multistatus>\n");
    s.into_bytes()
}
