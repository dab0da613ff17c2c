#!/usr/bin/env python3
"""Comparisons for the interop suite (tests/interop/run.sh); Python standard library only.

  check.py litmus DIRECT.txt PROXIED.txt OUT.json   litmus results, test by test
  check.py headers A.hdr B.hdr                      response headers, minus legit differences
  check.py audit BEFORE AFTER EXPECTED.json LOG LOG_OFFSET OUT.json
                                                    /metrics deltas and WARN events vs count.py
  check.py promconf SCRAPE.yml OUT.yml TARGET...    prometheus.yml from deploy/'s scrape.yml
  check.py prom URL DEADLINE_S INSTANCE=METRICS...  Prometheus API vs davaudit's /metrics

Each command prints what it found and exits 1 on a mismatch.
"""

import json
import re
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter

# ---------------------------------------------------------------------------------------------
# litmus


TEST_RE = re.compile(r"^(\d+)\. (\S+?)\.*(?:\s+(.*))?$")
RESULT_RE = re.compile(r"^(pass|FAIL|SKIPPED)\b")


def parse_litmus(path):
    """{suite: {(index, name): result}}, {suite: warnings}, {suite: (passed, run)}."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read().replace("\r", "\n")
    results, warnings, summary = {}, Counter(), {}
    suite, current = None, None
    for raw in text.split("\n"):
        line = raw.strip()
        m = re.match(r"^-> running `(\w+)':", line)
        if m:
            suite, current = m.group(1), None
            results.setdefault(suite, {})
            continue
        m = re.match(r"^<- summary for `(\w+)': of (\d+) tests run: (\d+) passed", line)
        if m:
            summary[m.group(1)] = (int(m.group(3)), int(m.group(2)))
            continue
        if suite is None:
            continue
        line = line.lstrip(". ").strip() if line.startswith(".") else line
        # A line may be "N. name.... result", "result", or "N. name.... WARNING: ...".
        m = TEST_RE.match(line)
        if m:
            current = (int(m.group(1)), m.group(2))
            rest = (m.group(3) or "").strip()
            # the name is printed twice ("N. name.... \r N. name.... pass")
            m2 = TEST_RE.match(rest)
            if m2:
                rest = (m2.group(3) or "").strip()
            line = rest
        if current is None:
            continue
        if line.startswith("WARNING:"):
            warnings[suite] += 1
            results[suite].setdefault(("warn",) + current, line)
            continue
        m = RESULT_RE.match(line)
        if m:
            results[suite][current] = m.group(1)
    return results, warnings, summary


# Differences with a known cause, (suite, test, direct, proxied) -> why. Each is still
# printed; it does not fail the comparison.
EXPLAINED = {
    # Radicale's server sends no interim 100 for `Expect: 100-continue` (litmus times out
    # direct); through davaudit, hyper answers it with 100 Continue when the proxy starts
    # reading the request body to forward it (RFC 9110 §10.1.1, DESIGN.md §1.5).
    ("http", "expect100", "FAIL", "pass"): "davaudit's HTTP server sends 100 Continue itself",
}


def cmd_litmus(direct, proxied, out):
    d, dw, ds = parse_litmus(direct)
    p, pw, ps = parse_litmus(proxied)
    diffs, warn_diffs, same, explained = [], [], 0, []
    shift = {}
    for suite in sorted(set(d) | set(p), key=lambda s: list(d).index(s) if s in d else 99):
        dt, pt = d.get(suite, {}), p.get(suite, {})
        tests = [k for k in dt if k[0] != "warn"] + [
            k for k in pt if k[0] != "warn" and k not in dt
        ]
        for key in tests:
            a, b = dt.get(key, "missing"), pt.get(key, "missing")
            why = EXPLAINED.get((suite, key[1], a, b))
            if a == b:
                same += 1
            elif why:
                explained.append(f"{suite} {key[0]}.{key[1]}: direct {a}, proxied {b}: {why}")
                shift[suite] = shift.get(suite, 0) + (1 if b == "pass" else -1)
            else:
                diffs.append(f"{suite} {key[0]}.{key[1]}: direct {a}, proxied {b}")
            wa, wb = ("warn",) + key in dt, ("warn",) + key in pt
            if wa != wb:
                w = dt.get(("warn",) + key) or pt.get(("warn",) + key)
                side = "proxied only" if wb else "direct only"
                warn_diffs.append(f"{suite} {key[0]}.{key[1]}: {side}: {w}")
    if not ds or ds.keys() != ps.keys():
        diffs.append(f"suites run: direct {sorted(ds)}, proxied {sorted(ps)}")
    for suite in ds:
        passed, run = ps.get(suite, (None, None))
        if passed is not None:
            passed -= shift.get(suite, 0)
        if (passed, run) != ds[suite]:
            diffs.append(f"{suite} summary: direct {ds[suite]}, proxied {ps.get(suite)}")
    res = {
        "direct": ds,
        "proxied": ps,
        "same": same,
        "diffs": diffs,
        "warnings_direct": sum(dw.values()),
        "warnings_proxied": sum(pw.values()),
        "warning_diffs": warn_diffs,
        "explained": explained,
    }
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(res, fh)
    for suite in ds:
        a, b = ds[suite], ps.get(suite, (0, 0))
        print(f"  {suite:<9} direct {a[0]:>2}/{a[1]:<2}  proxied {b[0]:>2}/{b[1]:<2}")
    print(f"  {same} tests with the same result; warnings direct {res['warnings_direct']}, "
          f"proxied {res['warnings_proxied']}")
    for x in diffs:
        print(f"  MISMATCH {x}")
    for x in explained:
        print(f"  explained: {x}")
    for x in warn_diffs:
        print(f"  note: warning differs: {x}")
    return 1 if diffs else 0


# ---------------------------------------------------------------------------------------------
# headers

# Hop-by-hop headers (RFC 9110 7.6.1) are per connection; Date is set when the server answers.
IGNORED_HEADERS = {"date", "connection", "keep-alive", "transfer-encoding", "proxy-connection"}


def read_headers(path):
    with open(path, "rb") as fh:
        blocks = fh.read().decode("latin-1").replace("\r\n", "\n").strip().split("\n\n")
    lines = blocks[-1].split("\n")  # the final response (after any 100 Continue)
    status = lines[0].strip()
    fields = sorted(
        (name.strip().lower(), value.strip())
        for name, _, value in (ln.partition(":") for ln in lines[1:] if ln.strip())
        if name.strip().lower() not in IGNORED_HEADERS
    )
    return status, fields


def cmd_headers(a, b):
    sa, fa = read_headers(a)
    sb, fb = read_headers(b)
    bad = []
    if sa != sb:
        bad.append(f"status line: direct {sa!r}, proxied {sb!r}")
    for x in sorted(set(fa) - set(fb)):
        bad.append(f"only direct: {x[0]}: {x[1]}")
    for x in sorted(set(fb) - set(fa)):
        bad.append(f"only proxied: {x[0]}: {x[1]}")
    print(sa)
    for x in bad:
        print(f"  MISMATCH {x}")
    return 1 if bad else 0


# ---------------------------------------------------------------------------------------------
# /metrics

SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

FAMILIES = {
    "requests": ("davaudit_requests_total", ("method", "code")),
    "entries": ("davaudit_multistatus_entries_total", ("method", "level", "code")),
    "failures": ("davaudit_multistatus_failures_total", ("method", "level", "code")),
    "outcomes": ("davaudit_multistatus_total", ("method", "outcome")),
}


def parse_metrics(path):
    """{family_key: Counter({"label values joined by space": value})}."""
    out = {k: Counter() for k in FAMILIES}
    by_name = {name: (key, labels) for key, (name, labels) in FAMILIES.items()}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            m = SAMPLE_RE.match(line.strip())
            if not m or m.group(1) not in by_name:
                continue
            key, labels = by_name[m.group(1)]
            lab = dict(LABEL_RE.findall(m.group(2) or ""))
            out[key][" ".join(lab.get(n, "") for n in labels)] += float(m.group(3))
    return out


def delta(before, after):
    d = Counter()
    for k, v in after.items():
        if v - before.get(k, 0):
            d[k] = v - before.get(k, 0)
    return d


def fmt(counter):
    return ", ".join(f"{k}={int(v)}" for k, v in sorted(counter.items())) or "none"


def cmd_audit(before, after, expected, log, log_offset, out):
    b, a = parse_metrics(before), parse_metrics(after)
    with open(expected, encoding="utf-8") as fh:
        exp = json.load(fh)
    res, bad = {}, []
    for key in ("requests", "entries", "failures", "outcomes"):
        got = delta(b[key], a[key])
        want = Counter({k: float(v) for k, v in exp[key].items()})
        ok = got == want
        res[key] = {"expected": int(sum(want.values())), "counted": int(sum(got.values())),
                    "ok": ok}
        print(f"  {key:<9} expected {fmt(want)}")
        print(f"  {'':<9} davaudit {fmt(got)}  {'OK' if ok else 'MISMATCH'}")
        if not ok:
            bad.append(key)
    # One WARN event per partially failed body, listing its failures (behind a 207, or behind
    # another 2xx: `failure_in_success` has its own message, DESIGN.md §3.4).
    messages = ("multistatus partial failure", "multistatus failure behind a success status")
    events, logged = 0, 0
    with open(log, encoding="utf-8", errors="replace") as fh:
        fh.seek(int(log_offset))
        for line in fh:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("level") == "WARN" and ev.get("message") in messages:
                events += 1
                logged += int(ev.get("failures", 0))
    want_events = exp["partial"]
    want_logged = int(sum(exp["failures"].values()))
    ok = events == want_events and logged == want_logged
    res["warn_events"] = {"expected": want_events, "counted": events, "ok": ok}
    print(f"  WARN log events expected {want_events} (failures {want_logged}), "
          f"logged {events} (failures {logged})  {'OK' if ok else 'MISMATCH'}")
    if not ok:
        bad.append("warn_events")
    res["ok"] = not bad
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(res, fh)
    return 1 if bad else 0


# ---------------------------------------------------------------------------------------------
# Prometheus


def cmd_promconf(src, out, *targets):
    """deploy/prometheus/scrape.yml with our targets and 1s intervals, nothing else changed."""
    with open(src, encoding="utf-8") as fh:
        text = fh.read()
    new, n = re.subn(r"(?m)^(\s*)(scrape_interval|evaluation_interval):\s*\S+", r"\1\2: 1s", text)
    assert n == 2, f"{src}: expected scrape_interval and evaluation_interval, found {n}"
    new, n = re.subn(r"(?m)^(\s*)scrape_timeout:\s*\S+", r"\1scrape_timeout: 1s", new)
    assert n == 1, f"{src}: expected one scrape_timeout, found {n}"
    # Replace the static target list (the lines after "- targets:") with ours.
    m = re.search(r"(?m)^(\s*)- targets:\s*\n((?:\1\s+- \S+\s*\n)+)", new)
    assert m, f"{src}: no static_configs targets list found"
    indent = m.group(1) + "    "
    repl = "".join(f"{indent}- {t}\n" for t in targets)
    new = new[: m.start(2)] + repl + new[m.end(2):]
    assert "job_name: davaudit" in new, f"{src}: job davaudit missing"
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(new)
    return 0


def prom_query(url, expr):
    q = urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=5) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(body)
    return body["data"]["result"]


def cmd_prom(url, deadline_s, *pairs):
    """Poll until Prometheus holds, for every instance, the values of davaudit's /metrics
    (entries, failures, outcomes), up == 1, and every rule evaluated without error."""
    want = {}
    for pair in pairs:
        inst, path = pair.split("=", 1)
        m = parse_metrics(path)
        for key in ("entries", "failures", "outcomes"):
            for labels, v in m[key].items():
                want[(inst, FAMILIES[key][0], labels)] = v
    deadline = time.monotonic() + float(deadline_s)
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            got = {}
            for key in ("entries", "failures", "outcomes"):
                name, labels = FAMILIES[key]
                for s in prom_query(url, f'{name}{{job="davaudit"}}'):
                    lab = " ".join(s["metric"].get(n, "") for n in labels)
                    got[(s["metric"]["instance"], name, lab)] = float(s["value"][1])
            up = {s["metric"]["instance"]: s["value"][1] for s in prom_query(url, 'up{job="davaudit"}')}
            with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=5) as r:
                groups = json.load(r)["data"]["groups"]
            rules = [ru for g in groups for ru in g["rules"]]
            unevaluated = [ru["name"] for ru in rules if ru.get("lastEvaluation", "").startswith("0001")]
            errors = [f"{ru['name']}: {ru.get('lastError')}" for ru in rules if ru.get("health") == "err"]
            insts = {p.split("=", 1)[0] for p in pairs}
            missing = {k: v for k, v in want.items() if got.get(k) != v}
            if (not missing and all(up.get(i) == "1" for i in insts) and rules
                    and not unevaluated and not errors):
                fails = {k: v for k, v in got.items() if k[1] == FAMILIES["failures"][0]}
                partial = {k: v for k, v in got.items()
                           if k[1] == FAMILIES["outcomes"][0] and k[2].endswith("partial_failure")}
                print(f"  up{{job=\"davaudit\"}} = 1 for {len(insts)} targets; {len(rules)} rules "
                      "from deploy/ loaded and evaluated without error")
                print(f"  {len(want)} series equal davaudit's /metrics; partial-failure series:")
                for (inst, name, lab), v in sorted({**fails, **partial}.items()):
                    labels = ",".join(f'{n}="{x}"' for n, x in
                                      zip(FAMILIES["failures" if name == FAMILIES["failures"][0]
                                                   else "outcomes"][1], lab.split(" ")))
                    print(f'    {name}{{instance="{inst}",{labels}}} = {int(v)}')
                print(f"summary: {len(insts)} targets up, {len(want)} series equal /metrics "
                      f"(failures_total {int(sum(fails.values()))}, partial_failure bodies "
                      f"{int(sum(partial.values()))}), {len(rules)} rules evaluated")
                return 0
            last = (f"{len(missing)} series differ (e.g. {sorted(missing.items())[:3]}), "
                    f"up={up}, {len(rules)} rules, unevaluated={unevaluated[:3]}, errors={errors}")
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = repr(exc)
        time.sleep(0.5)
    print(f"  MISMATCH after {deadline_s}s: {last}")
    return 1


def main():
    cmds = {"litmus": cmd_litmus, "headers": cmd_headers, "audit": cmd_audit,
            "promconf": cmd_promconf, "prom": cmd_prom}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    sys.exit(cmds[sys.argv[1]](*sys.argv[2:]))


if __name__ == "__main__":
    main()
