#!/usr/bin/env python3
"""Self-test of count.py, the interop suite's independent counter (standard library only):
it must read bodies as DESIGN.md §2.2 and §2.7 say, the contract the audit is checked
against. Runs in a second, needs no server:

    python3 tests/interop/count_selftest.py

Exits non-zero on the first disagreement. run.sh runs it before any server starts.
"""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import count  # noqa: E402

MS = '<D:multistatus xmlns:D="DAV:">{}</D:multistatus>'


def counted(method, status, ctype, body):
    """count.py's result for one response."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "body")
        with open(path, "wb") as fh:
            fh.write(body.encode() if isinstance(body, str) else body)
        manifest = os.path.join(tmp, "manifest.tsv")
        with open(manifest, "w", encoding="utf-8") as fh:
            fh.write(f"{method}\t{status}\t{ctype}\t{path}\n")
        return count.count(manifest)


def expect(name, got, want):
    if got != want:
        sys.exit(f"count_selftest: {name}: got {json.dumps(got)}, want {json.dumps(want)}")
    print(f"ok  {name}")


def main():
    # §2.2: an entry is a DAV:response child of the root; a DAV:response inside a property
    # value (a dead property holding DAV markup) is skipped, never counted.
    body = MS.format(
        "<D:response><D:href>/a</D:href><D:propstat><D:prop><x:p xmlns:x='urn:x'>"
        "<D:response><D:status>HTTP/1.1 500 Nested</D:status></D:response>"
        "</x:p></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
    )
    r = counted("PROPFIND", 207, "application/xml", body)
    expect("nested response in a property value is not an entry",
           (r["entries"], r["outcomes"]), ({"PROPFIND propstat 200": 1}, {"PROPFIND clean": 1}))

    # §2.7: an unbound prefix off the counted positions (lighttpd) is read as no namespace;
    # an uncounted local name under DAV:response is such a position too.
    body = MS.format(
        "<D:response><D:href>/a</D:href><X:other/><D:propstat><D:prop><DAV:getetag/></D:prop>"
        "<D:status>HTTP/1.1 403 Forbidden</D:status>"
        "<D:error><DAV:cannot-modify-protected-property/></D:error></D:propstat></D:response>"
    )
    r = counted("PROPPATCH", 207, "text/xml", body)
    expect("unbound prefix off the counted positions is tolerated",
           (r["failures"], r["outcomes"]),
           ({"PROPPATCH propstat 403": 1}, {"PROPPATCH partial_failure": 1}))

    # §2.7: where a counted element may stand, it is malformed.
    for where in ["<X:response/>",
                  "<D:response><X:status>HTTP/1.1 500 x</X:status></D:response>",
                  "<D:response><D:propstat><X:error/></D:propstat></D:response>"]:
        r = counted("PROPFIND", 207, "application/xml", MS.format(where))
        expect(f"unbound prefix at a counted position: {where}", r["outcomes"],
               {"PROPFIND malformed": 1})

    # §2.2: the status line, as DESIGN.md reads it.
    for line, code in [("HTTP/1.1 423 Locked", "423"), (" HTTP/1.1\n 423 ", "423"),
                       ("HTTP/2 200", "200"), ("HTTP/1.1 099 x", "invalid"),
                       ("HTTP/x 200", "invalid"), ("200 OK", "invalid"),
                       ("HTTP/1.1 2000", "invalid")]:
        expect(f"status line {line!r}", count.status_code(line), code)

    # §2.1: a 2xx to a WebDAV method with failures inside is failure_in_success, and it is
    # read the same way (entries are root children).
    body = MS.format("<D:response><D:href>/c</D:href><D:status>HTTP/1.1 423 Locked</D:status>"
                     "</D:response>")
    r = counted("DELETE", 200, "", body)
    expect("failure behind a success", r["outcomes"], {"DELETE failure_in_success": 1})
    print("count_selftest: all passed")


if __name__ == "__main__":
    main()
