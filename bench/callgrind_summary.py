#!/usr/bin/env python3
"""Summarise a callgrind dump per function, per request (used by bench/profile.sh).

callgrind_annotate attributes inlined code to `source-file:function`; this sums the self
cost of each function over its source files, and prints the inclusive cost of the functions
on the watch list (the usual suspects of per-request overhead) divided by the request count.

    callgrind_summary.py DUMP REQUESTS [TOP]
    callgrind_summary.py DUMP REQUESTS --callees FUNCTION [DEPTH]   # where its cost goes
"""

import re
import subprocess
import sys

WATCH = [
    "davaudit::proxy::Proxy::handle",
    "davaudit::proxy::Proxy::prepare",
    "davaudit::proxy::headers::remove_hop_by_hop",
    "davaudit::proxy::headers::add_x_forwarded",
    "davaudit::proxy::headers::request_id",
    "davaudit::audit::Auditor::wrap",
    "davaudit::audit::policy::Policy::classifier",
    "davaudit::telemetry::labels::method",
    "davaudit::telemetry::events::RequestFinished::emit",
    "davaudit::telemetry::events::MultistatusScanned<C>::emit",
    "prometheus::vec::MetricVec<T>::with_label_values",
    "prometheus::vec::MetricVecCore<T>::get_metric_with_label_values",
    "tracing_core::event::Event::dispatch",
    "<davaudit::audit::tee::TeeBody<B> as http_body::Body>::poll_frame",
    "tokio::sync::mpsc::chan::Tx<T,S>::send",
    "davaudit::audit::task::AuditTask::run",
    "davaudit::multistatus::scanner::Scanner<C>::feed",
    "davaudit::multistatus::lexer::Lexer::lex",
    "davaudit::multistatus::scanner::Scanner<C>::finish",
    "davaudit::upstream::Upstream::send",
    "hyper_util::client::legacy::client::Client<C,B>::send_request",
    "hyper::proto::h1::role::<impl hyper::proto::h1::Http1Transaction for hyper::proto::h1::role::Server>::parse",
    "hyper::proto::h1::role::<impl hyper::proto::h1::Http1Transaction for hyper::proto::h1::role::Client>::parse",
    "hyper::proto::h1::role::<impl hyper::proto::h1::Http1Transaction for hyper::proto::h1::role::Server>::encode",
    "hyper::proto::h1::role::<impl hyper::proto::h1::Http1Transaction for hyper::proto::h1::role::Client>::encode",
    "tokio::runtime::task::raw::poll",
    "malloc",
    "free",
    "__memcpy_avx_unaligned_erms",
]

ROW = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?)(?:\s+\[[^\]]*\])?$")


def rows(dump, inclusive):
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100", "--auto=no", f"--inclusive={'yes' if inclusive else 'no'}", dump],
        capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = ROW.match(line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        cost = int(m.group(1).replace(",", ""))
        name = m.group(2)
        # "file:function": the function starts after the first ':' that follows the file.
        if ":" in name and not name.startswith("<"):
            file, _, func = name.partition(":")
            if "/" in file or file.endswith(".rs") or file.startswith("?") or file.endswith(".S") or file.endswith(".c"):
                name = func
        name = re.sub(r" \([\d,]+x\)$", "", name)  # call counts: f (400x)
        name = re.sub(r"'\d+$", "", name)  # recursion levels: f'2
        yield cost, name


def main():
    dump, requests = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    total = 0
    with open(dump) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
                break
    selfc = {}
    for cost, name in rows(dump, False):
        selfc[name] = selfc.get(name, 0) + cost
    inc = {}
    for cost, name in rows(dump, True):
        inc[name] = max(inc.get(name, 0), cost)
    print(f"total {total / requests:,.0f} Ir/request")
    print(f"\nself cost by function (top {top}), Ir/request and share:")
    # Frames live when the counters were zeroed show up with the whole total as "self":
    # an artefact of callgrind_control dumps, dropped here.
    real = {n: c for n, c in selfc.items() if c < 0.99 * total}
    for name, cost in sorted(real.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {cost / requests:>11,.0f}  {100 * cost / total:5.1f}%  {name[:150]}")
    print("\ninclusive cost of the watch list, Ir/request and share:")
    for w in WATCH:
        hits = [(c, n) for n, c in inc.items() if n == w or n.startswith(w + "::{{closure}}") or n == w + "{{closure}}"]
        if not hits:
            hits = [(c, n) for n, c in inc.items() if w in n]
        if hits:
            c, n = max(hits)
            print(f"  {c / requests:>11,.0f}  {100 * c / total:5.1f}%  {n[:150]}")
        else:
            print(f"  {'-':>11}         {w} (not seen: inlined or not called)")


def callees(dump):
    """{caller: {callee: (calls, inclusive Ir)}} and {fn: self Ir}, read from the dump itself
    (name compression `(id) name` resolved; inlined-file markers ignored)."""
    names, fn, cfn = {}, None, None
    edges, selfc = {}, {}
    pending_call = None

    def name_of(rest):
        m = re.match(r"\((\d+)\)(?:\s+(.*))?", rest)
        if not m:
            return rest.strip()
        if m.group(2):
            names[m.group(1)] = m.group(2).strip()
        return names.get(m.group(1), m.group(1))

    with open(dump) as f:
        for line in f:
            if line.startswith("fn="):
                fn = re.sub(r"'\d+$", "", name_of(line[3:]))
            elif line.startswith("cfn="):
                cfn = re.sub(r"'\d+$", "", name_of(line[4:]))
            elif line.startswith("calls="):
                pending_call = int(line[6:].split()[0])
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) < 2:
                    continue
                cost = int(parts[1])
                if pending_call is not None:
                    e = edges.setdefault(fn, {})
                    n, c = e.get(cfn, (0, 0))
                    e[cfn] = (n + pending_call, c + cost)
                    pending_call = None
                else:
                    selfc[fn] = selfc.get(fn, 0) + cost
    return edges, selfc


def show_callees(dump, requests, func, depth=1, indent="  ", edges=None, selfc=None):
    if edges is None:
        edges, selfc = callees(dump)
    matches = [n for n in edges if n == func] or [n for n in edges if func in n]
    for caller in matches[:1]:
        if depth == 1 or indent == "  ":
            print(f"{indent}{caller}: self {selfc.get(caller, 0) / requests:,.0f} Ir/request")
        for callee, (n, c) in sorted(edges[caller].items(), key=lambda kv: -kv[1][1])[:14]:
            if callee == caller:
                continue
            print(f"{indent}  {c / requests:>9,.0f}  {n / requests:6.1f} calls  {callee[:140]}")
            if depth > 1 and callee in edges:
                show_callees(dump, requests, callee, depth - 1, indent + "      ", edges, selfc)


if __name__ == "__main__":
    if len(sys.argv) > 4 and sys.argv[3] == "--callees":
        # callgrind_summary.py DUMP REQUESTS --callees FUNCTION [DEPTH]
        show_callees(sys.argv[1], int(sys.argv[2]), sys.argv[4],
                     int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    else:
        main()
