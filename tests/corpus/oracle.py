#!/usr/bin/env python3
"""How DESIGN.md reads a multistatus body, written once for both independent counters:
tests/corpus/count.py (the corpus's expected.json files) and tests/interop/count.py (what the
interop suite's metrics must gain). Python's standard library only (ElementTree over expat,
namespace-aware); never davaudit's code.

- a status text is `HTTP/<digits>[.<digits>] NNN [reason]`, XML whitespace anywhere around
  the parts, NNN in 100..999 (the first 256 characters, whitespace runs collapsed), else the
  code "invalid" (§2.2);
- a failure is a code >= 400 or "invalid" that no default routine rule excuses (§2.3):
  PROPFIND/REPORT/SEARCH propstat 404; REPORT response 404; REPORT/SEARCH response 507;
- an entry is a DAV:response child of the root DAV:multistatus (a DAV:response deeper, in a
  property value, is not); a root DAV:response (lighttpd's bare fragment) is the one entry;
- a body that is well-formed XML 1.0 but not namespace-well-formed is read as §2.7 says
  (tolerant_root).
"""

import re
import xml.etree.ElementTree as ET

DAV = "{DAV:}"
# ASCII digits only (re.A): the audit reads bytes.
STATUS_RE = re.compile(r"^HTTP/\d+(?:\.\d+)? (\d{3})(?: .*)?$", re.S | re.A)


def status_code(text):
    """The code of a status text (§2.2), or "invalid"."""
    collapsed = " ".join(t for t in re.split(r"[ \t\r\n]+", text or "") if t)[:256]
    m = STATUS_RE.match(collapsed)
    return m.group(1) if m and int(m.group(1)) >= 100 else "invalid"


def routine(method, level, code):
    """DESIGN.md's default routine rules (audit.routine absent from the config)."""
    return (
        (level == "propstat" and code == "404" and method in ("PROPFIND", "REPORT", "SEARCH"))
        or (level == "response" and code == "404" and method == "REPORT")
        or (level == "response" and code == "507" and method in ("REPORT", "SEARCH"))
    )


def is_failure(method, level, code):
    if code == "invalid":
        return True
    return int(code) >= 400 and not routine(method, level, code)


def is_multistatus(root):
    """A root the audit counts entries in: DAV:multistatus, or a bare DAV:response (§2.7)."""
    return root.tag in (DAV + "multistatus", DAV + "response")


def entries(root):
    """The entries of a multistatus root (§2.2)."""
    return [root] if root.tag == DAV + "response" else root.findall(DAV + "response")


def statuses(entry):
    """(level, code, props) for every status of one entry, where it stands: each DAV:status
    child ("response", props []) and each DAV:propstat/DAV:status ("propstat", the names of
    that propstat's DAV:prop children in Clark notation)."""
    for status in entry.findall(DAV + "status"):
        yield "response", status_code("".join(status.itertext())), []
    for propstat in entry.findall(DAV + "propstat"):
        props = [p.tag for prop in propstat.findall(DAV + "prop") for p in prop]
        for status in propstat.findall(DAV + "status"):
            yield "propstat", status_code("".join(status.itertext())), props


# Where a counted element may stand (§2.7): these local names under these parents; an
# unbound prefix there (or on the root) is malformed.
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
