#!/usr/bin/env python3
"""Independent oracle for tests/corpus: counts each <name>.xml with Python's standard library
(xml.etree.ElementTree over expat, namespace-aware) and writes <name>.expected.json.

Never uses davaudit. Semantics (DESIGN.md "Audit semantics"):
- root must be {DAV:}multistatus, else outcome not_multistatus with zero counts;
- entry = each {DAV:}response child of the root;
- response-level: each of the entry's {DAV:}status children; propstat-level: each
  {DAV:}propstat/{DAV:}status child; both counted where they stand (a response with both, a
  propstat with two statuses: every one counts);
- status text = all character data inside the element (itertext, CDATA included);
  code = 3 digits 100..999 after an HTTP/<d>[.<d>] version, else "invalid";
- failure = code >= 400 or invalid, unless a default routine rule matches (method, level,
  code): PROPFIND/REPORT/SEARCH propstat 404; REPORT response 404; REPORT/SEARCH response 507;
- a body expat rejects is "malformed" (counts are not recorded: expat stops at the error);
- a DOCTYPE whose internal subset declares entities (<!ENTITY), attribute lists (<!ATTLIST) or
  references a parameter entity (%name;) is "dtd_declarations": expat applies it, the audit
  never does, so the audit cannot be sure; expat's reading is recorded as "parser_reading";
- "failures": each failing status as [level, code, hrefs, props] (hrefs: every {DAV:}href
  child of its entry, trimmed, in order; props: for a propstat-level status the names of the
  children of that propstat's {DAV:}prop, in order, in Clark notation as ElementTree writes
  them, {DAV:}getetag, a name in no namespace alone, an unbound prefix as written; [] at
  response level), sorted;
- UTF-32 (with a BOM) is decoded with Python's codec first: expat has no UTF-32.
- a body that is well-formed XML 1.0 but not namespace-well-formed (an element prefix no
  declaration binds, as lighttpd 1.4 writes) is read as DESIGN.md §2.7 says: expat without
  namespace processing, prefixes resolved by a scope stack here; an unbound element is in no
  namespace, named as written, unless it is the root or has a local name the audit counts
  where it stands (response in DAV:multistatus; href, status, propstat, error,
  responsedescription in DAV:response; status, error, responsedescription in DAV:propstat):
  then "malformed". Such a body is recorded with "namespace_well_formed": false.
- a root element whose prefix no declaration binds, that declares no namespace itself and is
  named multistatus or response (lighttpd 1.4's bare `<D:response>` fragment): its prefix is
  read as DAV: in the whole body (as if the root declared it), and the body is marked the same
  way; a root {DAV:}response is read as a multistatus holding that one entry.

The method comes from the existing expected.json ("method"), else from the file name prefix
(propfind-, proppatch-, lock-, delete-, move-, copy-, report-, search-), else PROPFIND.

Usage: python3 tests/corpus/count.py [--check]   (--check: fail if any file would change)
"""
import json
import pathlib
import re
import sys
import xml.etree.ElementTree as ET

HERE = pathlib.Path(__file__).resolve().parent
PREFIXES = ["propfind", "proppatch", "lock", "delete", "move", "copy", "report", "search"]

# How a body is read (status codes, routine rules, entries, §2.7 prefixes): oracle.py, shared
# with tests/interop/count.py.
sys.path.insert(0, str(HERE))
from oracle import DAV, entries, is_failure, is_multistatus, statuses, tolerant_root  # noqa: E402


DTD_SUBSET = re.compile(rb"<!DOCTYPE[^\[>]*\[(.*?)\]\s*>", re.S)


def declares_dtd(raw):
    """True when the internal subset declares entities/attributes or uses a parameter entity
    (quoted literals and comments removed first)."""
    m = DTD_SUBSET.search(raw)
    if not m:
        return False
    subset = re.sub(rb"<!--.*?-->", b"", m.group(1), flags=re.S)
    subset = re.sub(rb"\"[^\"]*\"|'[^']*'", b"", subset)
    return bool(re.search(rb"<!ENTITY|<!ATTLIST|%", subset))


def count(path, method):
    out = {"method": method}
    raw = path.read_bytes()
    try:
        if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
            text = raw.decode("utf-32")
            text = re.sub(r"^<\?xml[^>]*\?>", "", text)
            root = ET.fromstring(text)
        else:
            root = ET.parse(path).getroot()
    except ET.ParseError as e:
        root = tolerant_root(raw) if "unbound prefix" in str(e) else None
        if root is None:
            out.update({"outcome": "malformed", "note": "expat: " + str(e)})
            return out
        out["namespace_well_formed"] = False
    if declares_dtd(raw):
        reading = tally(root, method)
        out.update({"outcome": "dtd_declarations", "parser_reading": reading})
        return out
    out.update(tally(root, method))
    return out


def tally(root, method):
    levels = {"response": {}, "propstat": {}}
    count = failures = 0
    failing = []
    if is_multistatus(root):
        for entry in entries(root):
            count += 1
            hrefs = ["".join(h.itertext()).strip(" \t\r\n") for h in entry.findall(DAV + "href")]
            for level, code, props in statuses(entry):
                levels[level][code] = levels[level].get(code, 0) + 1
                if is_failure(method, level, code):
                    failures += 1
                    failing.append([level, code, hrefs, props])
        outcome = "partial_failure" if failures else "clean"
    else:
        outcome = "not_multistatus"
    return {
        "outcome": outcome,
        "entries": count,
        "response_status": dict(sorted(levels["response"].items())),
        "propstat_status": dict(sorted(levels["propstat"].items())),
        "failure_count": failures,
        "failures": sorted(failing),
    }


def main():
    check = "--check" in sys.argv
    changed = []
    for xml in sorted(HERE.glob("*/*.xml")):
        exp = xml.with_name(xml.stem + ".expected.json")
        old = json.loads(exp.read_text()) if exp.exists() else {}
        method = old.get("method")
        if not method:
            prefix = xml.stem.split("-")[0]
            method = prefix.upper() if prefix in PREFIXES else "PROPFIND"
        new = count(xml, method)
        text = json.dumps(new, indent=2, ensure_ascii=False) + "\n"
        if not exp.exists() or exp.read_text() != text:
            changed.append(str(exp.relative_to(HERE)))
            if not check:
                exp.write_text(text)
    for c in changed:
        print(("stale: " if check else "wrote: ") + c)
    sys.exit(1 if check and changed else 0)


if __name__ == "__main__":
    main()
