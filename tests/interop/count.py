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

Which bodies are audited: every 207, and every 4xx/5xx whose content type is XML. An entry is
one DAV:response; each DAV:status child is a response-level status and each
DAV:propstat/DAV:status a propstat-level status, both counted where they stand. Elements are matched by namespace URI,
never by prefix. A failure is a code >= 400 that no default routine rule excuses.
"""

import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter

DAV = "{DAV:}"
STATUS_RE = re.compile(r"^HTTP/\S+\s+(\d{3})(?:\s.*)?$", re.S)


def status_code(text):
    m = STATUS_RE.match((text or "").strip())
    return m.group(1) if m else "invalid"


def routine(method, level, code):
    """DESIGN.md default routine rules (audit.routine absent from the config)."""
    if level == "propstat" and code == "404" and method in ("PROPFIND", "REPORT", "SEARCH"):
        return True
    if level == "response" and code == "404" and method == "REPORT":
        return True
    if level == "response" and code == "507" and method in ("REPORT", "SEARCH"):
        return True
    return False


def is_failure(method, level, code):
    if code == "invalid":
        return True
    return int(code) >= 400 and not routine(method, level, code)


def audited(status, ctype):
    ctype = ctype.lower()
    return status == 207 or (status >= 400 and "xml" in ctype)


def statuses(root):
    """Yield (level, code) for every status of every DAV:response."""
    for resp in root.iter(DAV + "response"):
        for direct in resp.findall(DAV + "status"):
            yield "response", status_code("".join(direct.itertext()))
        for propstat in resp.findall(DAV + "propstat"):
            for st in propstat.findall(DAV + "status"):
                yield "propstat", status_code("".join(st.itertext()))


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
            if not audited(status, ctype):
                continue
            bodies += 1
            with open(path, "rb") as bf:
                data = bf.read()
            try:
                root = ET.fromstring(data)
            except ET.ParseError:
                outc[f"{method} malformed"] += 1
                continue
            if root.tag != DAV + "multistatus":
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
