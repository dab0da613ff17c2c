#!/usr/bin/env python3
"""bench/results.json -> bench/chart.svg (python3 stdlib only).

One row per scenario: davaudit's CPU per request and its rate (req/s, or MB/s for the
streams), each as a ratio to nginx from the same run, on a log scale centred on 1.0x (same as
nginx). Bars to the right of 1.0x mean "more than nginx": bad for CPU, good for rate. Issue 7's
targets are drawn as ticks on their rows.

    python3 bench/chart.py [results.json] [chart.svg]
"""

import json
import math
import os
import sys
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))

# scenario -> (metric, target, direction): CPU ratios must stay below, rate ratios above.
TARGETS = {
    ("small", "cpu"): 1.0,
    ("ms100", "cpu"): 1.5,
    ("ms10k", "cpu"): 3.0,
    ("stream", "rate"): 0.5,
}
LO, HI = 0.01, 100.0  # axis range (ratio)


def x_of(ratio, left, width):
    r = min(max(ratio, LO), HI)
    return left + (math.log10(r) - math.log10(LO)) / (math.log10(HI) - math.log10(LO)) * width


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "results.json")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "chart.svg")
    with open(src) as f:
        results = json.load(f)
    rows = []
    for t in results["table"]:
        d = t["rows"].get("davaudit", {}).get("vs_nginx")
        if not d:
            continue
        rows.append((t["scenario"], t["title"], d.get("cpu"), d.get("rate")))

    left, width, top, row_h, bar_h = 210, 560, 70, 46, 14
    height = top + row_h * len(rows) + 70
    total_w = left + width + 120
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{total_w}" height="{height}" fill="white"/>']
    meta = results["meta"]
    out.append(f'<text x="{left}" y="22" font-size="15" font-weight="bold">davaudit vs nginx, '
               f'same run (ratio, log scale)</text>')
    out.append(f'<text x="{left}" y="40" fill="#555">{escape(meta["date"])} · {meta["nproc"]} cores '
               f'· {escape(meta["davaudit_commit"])} · {escape(meta["nginx"])} · medians of '
               f'{meta["rounds"]} rounds</text>')
    # grid
    for g in [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100]:
        x = x_of(g, left, width)
        out.append(f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{top + row_h * len(rows)}" '
                   f'stroke="{"#333" if g == 1 else "#ddd"}" stroke-width="{1.5 if g == 1 else 1}"/>')
        out.append(f'<text x="{x:.1f}" y="{top + row_h * len(rows) + 16}" text-anchor="middle" '
                   f'fill="#555">{g:g}x</text>')
    one = x_of(1.0, left, width)
    for i, (sid, title, cpu, rate) in enumerate(rows):
        y = top + i * row_h
        out.append(f'<text x="{left - 8}" y="{y + 20}" text-anchor="end">{escape(title)}</text>')
        for j, (label, value, colour) in enumerate([("CPU/req", cpu, "#d9534f"), ("rate", rate, "#337ab7")]):
            if value is None:
                continue
            by = y + 4 + j * (bar_h + 3)
            x = x_of(value, left, width)
            x0, x1 = min(one, x), max(one, x)
            out.append(f'<rect x="{x0:.1f}" y="{by}" width="{max(x1 - x0, 1):.1f}" height="{bar_h}" '
                       f'fill="{colour}" opacity="0.85"/>')
            target = TARGETS.get((sid, "cpu" if label == "CPU/req" else "rate"))
            tick = x_of(target, left, width) if target else None
            if x >= one:
                tx, anchor = max(x1, tick or x1) + 4, "start"
            else:
                tx, anchor = min(x0, tick or x0) - 4, "end"
            out.append(f'<text x="{tx:.1f}" y="{by + 11}" text-anchor="{anchor}" font-size="11">'
                       f'{label} {value:.2f}x</text>')
            if target:
                tx = x_of(target, left, width)
                out.append(f'<line x1="{tx:.1f}" y1="{by - 2}" x2="{tx:.1f}" y2="{by + bar_h + 2}" '
                           f'stroke="black" stroke-width="2.5"/>')
    ly = top + row_h * len(rows) + 36
    out.append(f'<rect x="{left}" y="{ly - 10}" width="12" height="10" fill="#d9534f"/>'
               f'<text x="{left + 16}" y="{ly}">CPU per request ÷ nginx (lower is better)</text>')
    out.append(f'<rect x="{left + 270}" y="{ly - 10}" width="12" height="10" fill="#337ab7"/>'
               f'<text x="{left + 286}" y="{ly}">req/s or MB/s ÷ nginx (higher is better)</text>')
    out.append(f'<line x1="{left}" y1="{ly + 14}" x2="{left}" y2="{ly + 24}" stroke="black" stroke-width="2.5"/>'
               f'<text x="{left + 8}" y="{ly + 23}">issue 7 target</text>')
    out.append("</svg>")
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
