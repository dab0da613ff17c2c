#!/usr/bin/env python3
"""Independent multistatus counter for the interop suite (Python standard library only).

Reads a manifest of responses that a client received through davaudit, one per line:

    METHOD<TAB>STATUS<TAB>CONTENT-TYPE<TAB>BODY-FILE

and prints, as JSON, what davaudit's metrics should have gained from them according to
DESIGN.md ("Audit semantics"), computed without any davaudit code:

    requests   {"METHOD code": n}                  davaudit_requests_total
    entries    {"METHOD level code": n}            davaudit_multistatus_entries_total
    failures   {"METHOD level code": n}            davaudit_multistatus_failures_total
    outcomes   {"METHOD outcome": n}               davaudit_multistatus_total
    partial    number of bodies with at least one failure (one WARN log event each)

Which bodies are audited (§2.1): every 207, every 4xx/5xx whose content type is XML, and a
2xx to DELETE or a WebDAV method whose body is XML (counted only with a failure inside). An
entry is one DAV:response child of the root DAV:multistatus (§2.2: a DAV:response deeper, in
a property value, is skipped); each of its DAV:status children is a response-level status
and each DAV:propstat/DAV:status a propstat-level status, both counted where they stand.
Elements are matched by namespace URI, never by prefix; an unbound prefix is read as §2.7
says. A failure is a code >= 400 (or an invalid status line) that no default routine rule
excuses. tests/interop/count_selftest.py checks these rules.
"""

import json
import os
import sys
from collections import Counter

# The reading of a body (status codes, routine rules, entries, DESIGN.md §2.7 prefixes) is
# shared with the corpus oracle: one home, tests/corpus/oracle.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus"))
from oracle import (  # noqa: E402
    entries,
    is_failure,
    is_multistatus,
    parse,
    status_code,  # noqa: F401 (count_selftest checks the status line through this module)
    statuses as entry_statuses,
)


def audited(status, ctype):
    ctype = ctype.lower()
    return status == 207 or (status >= 400 and "xml" in ctype)


# DELETE and the WebDAV methods whose 2xx answer may hold a multistatus (DESIGN.md §2.1,
# "failures behind a success"); the ones this suite sends.
WEBDAV_2XX = {"DELETE", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
              "REPORT", "ACL", "MKCALENDAR", "SEARCH", "BIND", "UNBIND", "REBIND"}


def in_success(method, status, ctype, data):
    """A 2xx other than 204/205/207 to a WebDAV method whose body is XML by its content type
    or, with none, by its first bytes (optional UTF-8 BOM, whitespace, then '<')."""
    if not (200 <= status < 300 and status not in (204, 205, 207) and method in WEBDAV_2XX):
        return False
    if ctype.strip():
        return "xml" in ctype.lower()
    head = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    return head.lstrip(b" \t\r\n").startswith(b"<")


def statuses(root):
    """(level, code) for every status of every entry of a multistatus root."""
    for entry in entries(root):
        for level, code, _props in entry_statuses(entry):
            yield level, code


def count(manifest):
    req, ent, fail, outc = Counter(), Counter(), Counter(), Counter()
    partial = bodies = 0
    with open(manifest, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            method, status, ctype, path = line.split("\t")
            status = int(status)
            req[f"{method} {status}"] += 1
            with open(path, "rb") as bf:
                data = bf.read()
            success = in_success(method, status, ctype, data)
            if not success and not audited(status, ctype):
                continue
            if success:
                # Counted only when a failure is inside: a clean success changes no count.
                root = parse(data)
                # A root DAV:response (lighttpd's fragment) is a one-entry multistatus (§2.7).
                if root is None or not is_multistatus(root):
                    continue
                found = list(statuses(root))
                if not any(is_failure(method, lv, c) for lv, c in found):
                    continue
                bodies += 1
                for level, code in found:
                    ent[f"{method} {level} {code}"] += 1
                    if is_failure(method, level, code):
                        fail[f"{method} {level} {code}"] += 1
                outc[f"{method} failure_in_success"] += 1
                partial += 1
                continue
            bodies += 1
            root = parse(data)
            if root is None:
                outc[f"{method} malformed"] += 1
                continue
            if not is_multistatus(root):
                outc[f"{method} not_multistatus"] += 1
                continue
            nfail = 0
            for level, code in statuses(root):
                ent[f"{method} {level} {code}"] += 1
                if is_failure(method, level, code):
                    fail[f"{method} {level} {code}"] += 1
                    nfail += 1
            outc[f"{method} {'partial_failure' if nfail else 'clean'}"] += 1
            partial += 1 if nfail else 0
    return {
        "requests": dict(req),
        "entries": dict(ent),
        "failures": dict(fail),
        "outcomes": dict(outc),
        "partial": partial,
        "bodies": bodies,
    }


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: count.py MANIFEST")
    json.dump(count(sys.argv[1]), sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
