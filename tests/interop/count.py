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
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter

DAV = "{DAV:}"
# §2.2: HTTP/<digits>[.<digits>] NNN [reason], whitespace anywhere around the parts, NNN in
# 100..999 (the first 256 bytes, whitespace runs collapsed).
STATUS_RE = re.compile(r"^HTTP/\d+(?:\.\d+)? (\d{3})(?: .*)?$", re.S)


def status_code(text):
    collapsed = " ".join((text or "").split())[:256]
    m = STATUS_RE.match(collapsed)
    return m.group(1) if m and int(m.group(1)) >= 100 else "invalid"


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
    """Yield (level, code) for every status of every entry: the DAV:response children of the
    root (DESIGN.md §2.2), not a DAV:response found deeper (in a property value); a root
    DAV:response (lighttpd's bare fragment) is itself the one entry."""
    entries = [root] if root.tag == DAV + "response" else root.findall(DAV + "response")
    for resp in entries:
        for direct in resp.findall(DAV + "status"):
            yield "response", status_code("".join(direct.itertext()))
        for propstat in resp.findall(DAV + "propstat"):
            for st in propstat.findall(DAV + "status"):
                yield "propstat", status_code("".join(st.itertext()))


# Where a counted element may stand (DESIGN.md §2.7): these local names under these parents;
# an unbound prefix there is malformed.
COUNTED_AT = {
    DAV + "multistatus": ("response",),
    DAV + "response": ("href", "status", "propstat", "error", "responsedescription"),
    DAV + "propstat": ("status", "error", "responsedescription"),
}


def tolerant_root(data):
    """Parse a body that is well-formed XML 1.0 but not namespace-well-formed (DESIGN.md
    §2.7): expat without namespace processing, prefixes resolved here. An element whose
    prefix no declaration binds is read as in no namespace, named as written, unless it is
    the root or bears a counted local name where a counted element may stand (COUNTED_AT;
    then None: malformed). Independent of davaudit's lexer: only expat and this scope stack."""
    import xml.parsers.expat

    builder = ET.TreeBuilder()
    scopes = [{"xml": "http://www.w3.org/XML/1998/namespace"}]
    tags = []
    bad = []

    def resolve(qname, scope):
        prefix, _, local = qname.rpartition(":")
        if prefix:
            uri = scope.get(prefix)
            return (None, qname) if uri is None else (uri, local)
        return (scope.get(""), local)

    def start(name, attrs):
        scope = dict(scopes[-1])
        for k, v in attrs.items():
            if k == "xmlns":
                scope[""] = v or None
            elif k.startswith("xmlns:"):
                scope[k[6:]] = v
        scopes.append(scope)
        uri, local = resolve(name, scope)
        unbound = uri is None and ":" in name
        parent = tags[-1] if tags else None
        declares = any(k == "xmlns" or k.startswith("xmlns:") for k in attrs)
        prefix, _, bare = name.rpartition(":")
        if unbound and parent is None and not declares and bare in ("multistatus", "response"):
            # A body that binds no namespace but names its root in WebDAV's words (lighttpd's
            # bare <D:response> fragment): that prefix is DAV: in the whole body (§2.7).
            scope[prefix] = uri = "DAV:"
            local = bare
            unbound = False
        if unbound and (parent is None or name.partition(":")[2] in COUNTED_AT.get(parent, ())):
            bad.append(name)
        tag = f"{{{uri}}}{local}" if uri else local
        tags.append(tag)
        builder.start(tag, {})

    def end(_name):
        scopes.pop()
        builder.end(tags.pop())

    parser = xml.parsers.expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError:
        return None
    return None if bad else builder.close()


def parse(data):
    """The root element, or None when the body is malformed (DESIGN.md §2.7 for prefixes)."""
    try:
        return ET.fromstring(data)
    except ET.ParseError as e:
        # lighttpd 1.4 writes undeclared prefixes: read them as DESIGN.md §2.7 says.
        return tolerant_root(data) if "unbound prefix" in str(e) else None


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
                if root is None or root.tag not in (DAV + "multistatus", DAV + "response"):
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
            if root.tag not in (DAV + "multistatus", DAV + "response"):
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
