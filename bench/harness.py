#!/usr/bin/env python3
"""The measuring half of bench/run.sh (python3 stdlib only).

run.sh builds and starts the backend and the contenders in front of it (a plain hyper
pass-through, HAProxy, nginx stock, nginx tuned, davaudit), then calls this with their ports
and pids. This script runs every scenario against every contender, interleaved (direct,
hyper, haproxy, nginx, nginx-tuned, davaudit, direct, ...) over several rounds; measures requests/s and p50/p99 latency
(wrk --latency) or MB/s (curl, for the streamed 207s), the proxy's CPU time per request
(utime+stime of every process of the contender, /proc/PID/stat, before and after) and its
peak RSS (VmHWM, reset before each run through /proc/PID/clear_refs); checks davaudit's audit
counters after every 207 run; prints the table of medians and ratios; writes
bench/results.json and the generated part of bench/RESULTS.md. Exit status 1 when an audit
check failed (the table is still printed), 2 on a harness error.
"""

import argparse
import concurrent.futures
import datetime
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")
DAV = "{DAV:}"

# name, method, path, tool. The 207 scenarios carry the /expect path of their counts.
SCENARIOS = [
    {"id": "small", "title": "GET /small (100 B)", "method": "GET", "path": "/small", "tool": "wrk"},
    {"id": "ms100", "title": "207 x100 entries", "method": "PROPFIND", "path": "/ms/100",
     "tool": "wrk", "expect": "/expect/ms/100"},
    {"id": "ms10k", "title": "207 x10,000 entries", "method": "PROPFIND", "path": "/ms/10000",
     "tool": "wrk", "expect": "/expect/ms/10000"},
    {"id": "stream", "title": "207 streamed {size}", "method": "PROPFIND",
     "path": "/stream/{mib}", "tool": "curl", "expect": "/expect/stream/{mib}"},
    {"id": "gz_ms100", "title": "gzip 207 x100", "method": "PROPFIND", "path": "/gz/ms/100",
     "tool": "wrk", "expect": "/expect/ms/100", "gz": True},
    {"id": "gz_ms10k", "title": "gzip 207 x10,000", "method": "PROPFIND",
     "path": "/gz/ms/10000", "tool": "wrk", "expect": "/expect/ms/10000", "gz": True},
    {"id": "gz_stream", "title": "gzip 207 streamed {size}", "method": "PROPFIND",
     "path": "/gz/stream/{mib}", "tool": "curl", "expect": "/expect/stream/{mib}", "gz": True},
]
CONTENDERS = ["direct", "hyper", "haproxy", "nginx", "nginx-tuned", "davaudit"]
# The proxies davaudit replaces; "best peer" is the best of these per measure. `hyper` is not a
# peer but the floor: the same HTTP stack with nothing on top.
PEERS = ["haproxy", "nginx", "nginx-tuned"]


class AuditMismatch(Exception):
    pass


# ---------------------------------------------------------------- /proc


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def cpu_split(pids):
    """(utime, stime) summed over the processes (each with all its threads, exited ones
    included), in seconds."""
    user = system = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        user += int(fields[11])
        system += int(fields[12])
    return user / TICK, system / TICK


def cpu_seconds(pids):
    return sum(cpu_split(pids))


def context_switches(pids):
    """Voluntary + involuntary context switches of every live thread of the processes."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if "ctxt_switches:" in line:
                            total += int(line.split()[1])
            except OSError:
                pass
    return total


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def hwm_kib(pids):
    return sum(status_kib(pid, "VmHWM") for pid in pids)


def reset_hwm(pids):
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass


# ---------------------------------------------------------------- metrics

LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(admin):
    with urllib.request.urlopen(f"http://{admin}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            continue
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def delta(before, after, name, **match):
    """Sum over series of `name` whose labels include `match`, as {other labels: delta}."""
    out = {}
    for (n, labels), value in after.items():
        if n != name:
            continue
        d = dict(labels)
        if any(d.get(k) != v for k, v in match.items()):
            continue
        key = tuple((k, v) for k, v in labels if k not in match)
        diff = value - before.get((n, labels), 0.0)
        if diff:
            out[key] = out.get(key, 0) + int(round(diff))
    return out


# ---------------------------------------------------------------- load


def parse_duration(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def run_wrk(url, method, seconds, connections, threads):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if method == "PROPFIND":
        cmd[1:1] = ["-s", os.path.join(HERE, "conf", "propfind.lua")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", out)
    if not m:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": int(m.group(1)),
        "seconds": parse_duration(m.group(2)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_s": parse_duration(pct["50"]),
        "p99_s": parse_duration(pct["99"]),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def run_curl(url, method):
    out = subprocess.run(
        ["curl", "-sS", "-X", method, "-o", "/dev/null", "-w",
         "%{http_code} %{size_download} %{time_total}", url],
        capture_output=True, text=True, check=True).stdout.split()
    code, size, seconds = int(out[0]), int(out[1]), float(out[2])
    return {"requests": 1, "code": code, "bytes": size, "seconds": seconds,
            "mb_s": size / seconds / 1e6}


def fetch_all(host, port, method, path, count, parallel):
    """`count` requests over `parallel` keep-alive connections, each body read to the end."""
    def worker(n):
        conn = http.client.HTTPConnection(host, port, timeout=60)
        sizes = []
        for _ in range(n):
            conn.request(method, path, headers={"Depth": "1"})
            r = conn.getresponse()
            sizes.append((r.status, len(r.read())))
        conn.close()
        return sizes
    shares = [count // parallel + (1 if i < count % parallel else 0) for i in range(parallel)]
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        return [s for part in pool.map(worker, shares) for s in part]


# ---------------------------------------------------------------- audit checks


def expected_of(backend, path):
    with urllib.request.urlopen(f"http://{backend}{path}", timeout=60) as r:
        e = json.load(r)
    e["counts"] = {(s["level"], s["code"]): s["count"] for s in e["statuses"]}
    return e


def failures_of(counts, method):
    """The default routine rules: for PROPFIND/REPORT/SEARCH a propstat 404 is not a failure."""
    out = {}
    for (level, code), n in counts.items():
        if int(code) >= 400 and not (method == "PROPFIND" and level == "propstat" and code == "404"):
            out[(level, code)] = n
    return out


def settle(admin, before, method, timeout=15.0):
    """Waits until every 207 davaudit answered has its audit outcome counted."""
    deadline = time.monotonic() + timeout
    while True:
        after = scrape(admin)
        served = delta(before, after, "davaudit_requests_total", method=method, code="207")
        outcomes = delta(before, after, "davaudit_multistatus_total", method=method)
        if sum(outcomes.values()) >= sum(served.values()):
            # davaudit counts an audit's outcome after its bytes and entries, but a scrape
            # reads the series in name order: the one that saw the last outcome may have read
            # the bytes and entries just before that audit added them. A scrape started after
            # it sees both.
            return scrape(admin)
        if time.monotonic() > deadline:
            return after
        time.sleep(0.1)


def check_audit(before, after, method, expect, completed, slack):
    """davaudit's counters against the per-body counts. `completed`: responses the client
    read to the end; `slack`: how many more may have been cut by the client (wrk closes its
    connections at the end of the run: those audits end `truncated`). Returns a summary;
    raises AuditMismatch."""
    problems = []
    served = sum(delta(before, after, "davaudit_requests_total", method=method, code="207").values())
    outcomes = {dict(k)["outcome"]: v for k, v in
                delta(before, after, "davaudit_multistatus_total", method=method).items()}
    complete = outcomes.get("partial_failure", 0)
    truncated = outcomes.get("truncated", 0)
    other = {k: v for k, v in outcomes.items() if k not in ("partial_failure", "truncated")}
    if sum(outcomes.values()) != served:
        problems.append(f"{served} 207s served but {sum(outcomes.values())} audit outcomes {outcomes}")
    if other:
        problems.append(f"unexpected outcomes {other}")
    if complete < completed:
        problems.append(f"client read {completed} whole bodies, only {complete} audited complete")
    if truncated > slack:
        problems.append(f"{truncated} truncated audits, at most {slack} allowed")

    def compare(name, per_body):
        got = {(dict(k)["level"], dict(k)["code"]): v
               for k, v in delta(before, after, name, method=method).items()}
        for key in sorted(set(got) | set(per_body)):
            g, e = got.get(key, 0), per_body.get(key, 0)
            lo, hi = complete * e, (complete + truncated) * e
            if not lo <= g <= hi:
                want = f"{lo}" if lo == hi else f"{lo}..{hi}"
                problems.append(f"{name}{{level={key[0]},code={key[1]}}}: {g}, expected {want}")

    compare("davaudit_multistatus_entries_total", expect["counts"])
    compare("davaudit_multistatus_failures_total", failures_of(expect["counts"], method))
    audited = sum(delta(before, after, "davaudit_audit_bytes_total").values())
    if not complete * expect["bytes"] <= audited <= (complete + truncated) * expect["bytes"]:
        problems.append(f"audit bytes {audited}, expected {complete} x {expect['bytes']}")
    summary = {"served": served, "complete": complete, "truncated": truncated,
               "statuses": sum(delta(before, after, "davaudit_multistatus_entries_total",
                                    method=method).values())}
    if problems:
        raise AuditMismatch("; ".join(problems))
    return summary


def cross_check_backend(backend):
    """The backend's claimed counts, recounted here from its bodies with ElementTree."""
    import gzip
    for body_path, expect_path in [("/ms/100", "/expect/ms/100"), ("/ms/10000", "/expect/ms/10000"),
                                   ("/stream/2", "/expect/stream/2")]:
        expect = expected_of(backend, expect_path)
        req = urllib.request.Request(f"http://{backend}{body_path}", method="PROPFIND")
        with urllib.request.urlopen(req, timeout=60) as r:
            plain = r.read()
        req = urllib.request.Request(f"http://{backend}/gz{body_path}", method="PROPFIND")
        with urllib.request.urlopen(req, timeout=60) as r:
            gz = r.read()
        counts = {}
        root = ET.fromstring(plain)
        entries = 0
        for response in root.findall(f"{DAV}response"):
            entries += 1
            status = response.find(f"{DAV}status")
            if status is not None:
                key = ("response", status.text.split()[1])
                counts[key] = counts.get(key, 0) + 1
            for propstat in response.findall(f"{DAV}propstat"):
                key = ("propstat", propstat.find(f"{DAV}status").text.split()[1])
                counts[key] = counts.get(key, 0) + 1
        if (counts != expect["counts"] or entries != expect["entries"]
                or len(plain) != expect["bytes"] or gzip.decompress(gz) != plain
                or len(gz) != expect["gz_bytes"]):
            raise RuntimeError(f"backend {body_path}: counts {counts} entries {entries} "
                               f"bytes {len(plain)} gz {len(gz)} disagree with {expect}")


# ---------------------------------------------------------------- one run


class Contender:
    def __init__(self, name, port, pids_fn):
        self.name, self.port, self.pids_fn = name, port, pids_fn


def run_one(args, scenario, contender, backend_pid, expect, log_path):
    url = f"http://127.0.0.1:{contender.port}{scenario['path']}"
    pids = contender.pids_fn()
    davaudit = contender.name == "davaudit"
    before = scrape(args.admin) if davaudit else None
    if davaudit and os.path.exists(log_path):
        os.truncate(log_path, 0)
    lifetime = hwm_kib(pids) if pids else 0
    reset_hwm(pids)
    (user0, sys0), bcpu0, cs0 = cpu_split(pids), cpu_seconds([backend_pid]), context_switches(pids)
    t0 = time.monotonic()
    if scenario["tool"] == "wrk":
        result = run_wrk(url, scenario["method"], args.duration, args.connections, args.threads)
    else:
        result = run_curl(url, scenario["method"])
    settled = None
    if davaudit and expect is not None:
        # The audit may still be running when the client has everything (a gzip body is
        # queued compressed): its CPU belongs to this run, so wait for every outcome first.
        settled = settle(args.admin, before, scenario["method"])
        result["audit_done_s"] = time.monotonic() - t0
    (user1, sys1), bcpu1, cs1 = cpu_split(pids), cpu_seconds([backend_pid]), context_switches(pids)
    n = max(result["requests"], 1)
    result["cpu_s"] = (user1 - user0) + (sys1 - sys0)
    result["cpu_us_per_req"] = result["cpu_s"] / n * 1e6
    result["cpu_user_us_per_req"] = (user1 - user0) / n * 1e6
    result["cpu_sys_us_per_req"] = (sys1 - sys0) / n * 1e6
    result["ctx_switches_per_req"] = (cs1 - cs0) / n
    result["backend_cpu_us_per_req"] = (bcpu1 - bcpu0) / max(result["requests"], 1) * 1e6
    result["rss_peak_kib"] = hwm_kib(pids) if pids else None
    result["rss_lifetime_kib"] = max(lifetime, result["rss_peak_kib"] or 0) if pids else None
    if scenario["tool"] == "curl" and result["code"] != 207:
        raise RuntimeError(f"{contender.name} {url}: status {result['code']}")
    if scenario["tool"] == "curl":
        want = expect["gz_bytes"] if scenario.get("gz") else expect["bytes"]
        if result["bytes"] != want:
            raise RuntimeError(f"{contender.name} {url}: {result['bytes']} bytes, want {want}")
        # The rate of the 207 as content: for a gzip stream, decoded bytes per second.
        result["mb_s"] = expect["bytes"] / result["seconds"] / 1e6
        result["wire_mb_s"] = result["bytes"] / result["seconds"] / 1e6
    if "audit_done_s" in result and scenario["tool"] == "curl":
        result["audit_mb_s"] = expect["bytes"] / max(result["audit_done_s"], result["seconds"]) / 1e6
    if result.get("non_2xx"):
        raise RuntimeError(f"{contender.name} {url}: {result['non_2xx']} non-2xx responses")

    if davaudit:
        if expect is None:
            after = scrape(args.admin)
            served = sum(delta(before, after, "davaudit_requests_total", method="GET", code="200").values())
            audited = sum(delta(before, after, "davaudit_multistatus_total").values())
            if served < result["requests"] or audited:
                raise AuditMismatch(f"small: {served} GET 200 counted for {result['requests']} "
                                    f"requests, {audited} audits")
            result["audit"] = {"served": served}
        else:
            after = settled
            slack = args.connections if scenario["tool"] == "wrk" else 0
            result["audit"] = check_audit(before, after, scenario["method"], expect,
                                          result["requests"], slack)
            result["audit"]["warn_lines"] = count_lines(log_path, b"multistatus partial failure")
            if scenario["tool"] == "wrk":
                # An exact check too: a fixed number of bodies, all read to the end.
                before = scrape(args.admin)
                n = args.exact_requests
                got = fetch_all("127.0.0.1", contender.port, scenario["method"],
                                scenario["path"], n, min(8, args.connections))
                want = expect["gz_bytes"] if scenario.get("gz") else expect["bytes"]
                if any(s != (207, want) for s in got):
                    raise RuntimeError(f"exact check: unexpected responses {set(got)}")
                after = settle(args.admin, before, scenario["method"])
                exact = check_audit(before, after, scenario["method"], expect, n, 0)
                if exact["served"] != n:
                    raise AuditMismatch(f"exact check: {exact['served']} served for {n}")
                result["audit"]["exact"] = exact
    return result


def count_lines(path, needle):
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if needle in line)
    except OSError:
        return None


# ---------------------------------------------------------------- report


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_time(seconds):
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f}ms"
    return f"{seconds:.2f}s"


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def ratio(a, b):
    return a / b if a is not None and b else None


def summarise(runs, scenarios):
    """Medians per scenario and contender, and the ratios to nginx and to direct."""
    table = []
    for sc in scenarios:
        rows = {}
        for c in CONTENDERS:
            rs = [r for r in runs if r["scenario"] == sc["id"] and r["contender"] == c]
            if not rs:
                continue
            rate_key = "mb_s" if sc["tool"] == "curl" else "rps"
            rows[c] = {
                "rate": median([r[rate_key] for r in rs]),
                "rate_unit": ("MB/s" if not sc.get("gz") else "MB/s decoded") if sc["tool"] == "curl" else "req/s",
                "p50_s": median([r.get("p50_s") for r in rs]),
                "p99_s": median([r.get("p99_s") for r in rs]),
                "cpu_us_per_req": median([r["cpu_us_per_req"] for r in rs]) if c != "direct" else None,
                "cpu_user_us_per_req": median([r["cpu_user_us_per_req"] for r in rs]) if c != "direct" else None,
                "cpu_sys_us_per_req": median([r["cpu_sys_us_per_req"] for r in rs]) if c != "direct" else None,
                "ctx_switches_per_req": median([r["ctx_switches_per_req"] for r in rs]) if c != "direct" else None,
                "rss_peak_mib": (max(r["rss_peak_kib"] for r in rs) / 1024) if c != "direct" else None,
                "rounds": len(rs),
                "audit_mb_s": median([r.get("audit_mb_s") for r in rs]),
            }
        for c, row in rows.items():
            for ref in ("nginx", "direct", "hyper"):
                if ref == c or ref not in rows or (c == "direct"):
                    continue
                base = rows[ref]
                row[f"vs_{ref}"] = {
                    "rate": ratio(row["rate"], base["rate"]),
                    "p99": ratio(row["p99_s"], base["p99_s"]),
                    "cpu": ratio(row["cpu_us_per_req"], base["cpu_us_per_req"]),
                    "ctx": ratio(row["ctx_switches_per_req"], base["ctx_switches_per_req"]),
                }
        peers = {c: rows[c] for c in PEERS if c in rows}
        if peers and "davaudit" in rows:
            d = rows["davaudit"]

            def best(key, pick):
                got = [(row[key], c) for c, row in peers.items() if row[key] is not None]
                return pick(got) if got else (None, None)
            cpu, cpu_by = best("cpu_us_per_req", min)
            rate, rate_by = best("rate", max)
            p99, p99_by = best("p99_s", min)
            ctx, ctx_by = best("ctx_switches_per_req", min)
            d["vs_best"] = {"cpu": ratio(d["cpu_us_per_req"], cpu), "cpu_by": cpu_by,
                            "rate": ratio(d["rate"], rate), "rate_by": rate_by,
                            "p99": ratio(d["p99_s"], p99), "p99_by": p99_by,
                            "ctx": ratio(d["ctx_switches_per_req"], ctx), "ctx_by": ctx_by}
        # Paired per-round ratios: how much the noise moves them.
        if "davaudit" in rows and "nginx" in rows:
            rate_key = "mb_s" if sc["tool"] == "curl" else "rps"
            paired = {"cpu": [], "rate": [], "p99": []}
            for rnd in sorted({r["round"] for r in runs if r["scenario"] == sc["id"]}):
                d = [r for r in runs if r["scenario"] == sc["id"] and r["round"] == rnd and r["contender"] == "davaudit"]
                n = [r for r in runs if r["scenario"] == sc["id"] and r["round"] == rnd and r["contender"] == "nginx"]
                if d and n:
                    paired["cpu"].append(ratio(d[0]["cpu_us_per_req"], n[0]["cpu_us_per_req"]))
                    paired["rate"].append(ratio(d[0][rate_key], n[0][rate_key]))
                    paired["p99"].append(ratio(d[0].get("p99_s"), n[0].get("p99_s")))
            rows["davaudit"]["per_round_vs_nginx"] = paired
        table.append({"scenario": sc["id"], "title": sc["title"], "rows": rows})
    return table


def targets(table, lifetime_mib, fresh):
    by = {t["scenario"]: t["rows"] for t in table}

    def r(sc, key):
        try:
            return by[sc]["davaudit"]["vs_nginx"][key]
        except KeyError:
            return None

    def check(name, value, limit, le=True, strict=False):
        if value is None:
            ok = False
        elif strict:
            ok = value < limit
        else:
            ok = value <= limit if le else value >= limit
        return {"target": name, "value": value, "limit": limit, "met": ok}
    def b(sc, key):
        try:
            return by[sc]["davaudit"]["vs_best"][key]
        except KeyError:
            return None

    out = [
        check("small GET: CPU/request <= 1.0x nginx", r("small", "cpu"), 1.0),
        check("207 x100: CPU/request <= 1.5x nginx", r("ms100", "cpu"), 1.5),
        check("207 x10,000: CPU/request <= 2.0x nginx", r("ms10k", "cpu"), 2.0),
        check("1 GiB stream: MB/s >= 0.9x nginx", r("stream", "rate"), 0.9, le=False),
        check("1 GiB stream: context switches <= 2x nginx's", r("stream", "ctx"), 2.0),
        check("(best peer) small GET: CPU/request <= 1.0x", b("small", "cpu"), 1.0),
        check("(best peer) 207 x100: CPU/request <= 1.5x", b("ms100", "cpu"), 1.5),
        check("(best peer) 207 x10,000: CPU/request <= 2.0x", b("ms10k", "cpu"), 2.0),
        check("(best peer) 1 GiB stream: MB/s >= 0.9x", b("stream", "rate"), 0.9, le=False),
    ]
    if fresh:
        out.append(check("1 GiB stream: davaudit peak RSS < 32 MiB (fresh process, VmHWM after the run)",
                         fresh["vmhwm_after_mib"], 32.0, strict=True))
    rss = by.get("stream", {}).get("davaudit", {}).get("rss_peak_mib")
    out.append(check("1 GiB stream: davaudit peak RSS < 32 MiB (shared process, VmHWM reset before the run)",
                     rss, 32.0, strict=True))
    for t in out:
        t["target"] = t["target"].replace("1 GiB", f"{meta_stream_label(table)}")
    info = check("(info) davaudit VmHWM over the whole run, all scenarios < 32 MiB", lifetime_mib, 32.0,
                 strict=True)
    out.append(info)
    return out


def meta_stream_label(table):
    for t in table:
        if t["scenario"] == "stream":
            return t["title"].replace("207 streamed ", "")
    return "1 GiB"


def render(table, meta, target_list, audit_ok):
    lines = []
    head = ("| scenario | contender | rate | p50 | p99 | CPU/req | ctx sw/req | peak RSS | "
            "rate ×nginx | CPU ×nginx | rate ×direct |")
    lines += [head, "|" + "---|" * 11]
    for t in table:
        first = True
        for c in CONTENDERS:
            row = t["rows"].get(c)
            if not row:
                continue
            vn, vd = row.get("vs_nginx", {}), row.get("vs_direct", {})
            rate = f"{row['rate']:,.0f} {row['rate_unit']}"
            cpu = fmt_time(row["cpu_us_per_req"] / 1e6) if row["cpu_us_per_req"] is not None else "-"
            rss = f"{row['rss_peak_mib']:.1f} MiB" if row["rss_peak_mib"] is not None else "-"
            cs = f"{row['ctx_switches_per_req']:,.1f}" if row["ctx_switches_per_req"] is not None else "-"
            lines.append(
                f"| {t['title'] if first else ''} | {c} | {rate} | {fmt_time(row['p50_s'])} | "
                f"{fmt_time(row['p99_s'])} | {cpu} | {cs} | {rss} | {fmt_ratio(vn.get('rate'))} | "
                f"{fmt_ratio(vn.get('cpu'))} | {fmt_ratio(vd.get('rate'))} |")
            first = False
    lines.append("")
    lines.append("davaudit against stock nginx, the best peer for each measure (HAProxy, nginx "
                 "stock, nginx tuned) and the plain hyper pass-through (the floor):")
    lines.append("")
    lines.append("| scenario | CPU ×nginx | CPU ×best peer | CPU ×hyper | rate ×nginx | rate ×best peer "
                 "| rate ×hyper | p99 ×best peer | ctx sw ×nginx | ctx sw ×best peer |")
    lines.append("|" + "---|" * 10)
    for t in table:
        d = t["rows"].get("davaudit")
        if not d or "vs_best" not in d:
            continue
        vn, vb, vh = d.get("vs_nginx", {}), d["vs_best"], d.get("vs_hyper", {})

        def by(key):
            return f" ({vb[key + '_by']})" if vb.get(key + "_by") else ""
        p99 = "-" if vb.get("p99") is None else f"{fmt_ratio(vb['p99'])}{by('p99')}"
        lines.append(
            f"| {t['title']} | {fmt_ratio(vn.get('cpu'))} | {fmt_ratio(vb.get('cpu'))}{by('cpu')} | "
            f"{fmt_ratio(vh.get('cpu'))} | {fmt_ratio(vn.get('rate'))} | "
            f"{fmt_ratio(vb.get('rate'))}{by('rate')} | {fmt_ratio(vh.get('rate'))} | {p99} | "
            f"{fmt_ratio(vn.get('ctx'))} | {fmt_ratio(vb.get('ctx'))}{by('ctx')} |")
    lines.append("")
    lines.append("Per-round davaudit ÷ nginx (paired, same round), to show the noise:")
    lines.append("")
    for t in table:
        pr = t["rows"].get("davaudit", {}).get("per_round_vs_nginx")
        if not pr:
            continue
        def seq(xs):
            return " / ".join("-" if x is None else f"{x:.2f}" for x in xs)
        lines.append(f"- {t['title']}: CPU {seq(pr['cpu'])}; rate {seq(pr['rate'])}"
                     + (f"; p99 {seq(pr['p99'])}" if any(x is not None for x in pr["p99"]) else ""))
    for t in table:
        d = t["rows"].get("davaudit", {})
        if d.get("audit_mb_s"):
            lines.append("")
            lines.append(f"{t['title']}: davaudit's audit (decode + scan) finished at "
                         f"{d['audit_mb_s']:,.0f} MB/s of decoded XML (request start to audit outcome).")
    lines.append("")
    lines.append("Where the proxies' CPU goes (medians per request: user / system time, context "
                 "switches of their threads):")
    lines.append("")
    shown = [c for c in CONTENDERS if c != "direct"]
    lines.append("| scenario | " + " | ".join(shown) + " |")
    lines.append("|" + "---|" * (len(shown) + 1))
    for t in table:
        cells = []
        for c in shown:
            row = t["rows"].get(c)
            if not row or row["cpu_user_us_per_req"] is None:
                cells.append("-")
                continue
            cells.append(f"{fmt_time(row['cpu_user_us_per_req'] / 1e6)} / "
                         f"{fmt_time(row['cpu_sys_us_per_req'] / 1e6)} / "
                         f"{row['ctx_switches_per_req']:,.1f}")
        lines.append(f"| {t['title']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| target (issue 13) | davaudit | limit | met |")
    lines.append("|---|---|---|---|")
    for t in target_list:
        v = "-" if t["value"] is None else (f"{t['value']:.2f}" if "RSS" in t["target"] or "VmHWM" in t["target"]
                                           else f"{t['value']:.2f}x")
        unit = " MiB" if ("RSS" in t["target"] or "VmHWM" in t["target"]) and t["value"] is not None else ""
        lines.append(f"| {t['target']} | {v}{unit} | {t['limit']} | {'yes' if t['met'] else '**no**'} |")
    lines.append(f"| audit counters exact under load (every 207 run) | "
                 f"{'all runs' if audit_ok else 'MISMATCH'} | - | {'yes' if audit_ok else '**no**'} |")
    return "\n".join(lines)


def machine():
    def sh(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""
    model = ""
    for line in sh("lscpu").splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    nginx = (sh("nginx", "-v") or subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr).strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": int(sh("nproc") or 0),
        "cpu": model,
        "kernel": platform.release(),
        "nginx": nginx.replace("nginx version: ", ""),
        "haproxy": " ".join(sh("haproxy", "-v").splitlines()[0].split()[:3]) if sh("haproxy", "-v") else "",
        "wrk": " ".join(sh("sh", "-c", "wrk -v 2>&1 | head -1").replace("debian/", "").split()[:2]),
        "davaudit_commit": os.environ.get("DAVAUDIT_DESC", "unknown build"),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
    }


def write_results_md(path, block):
    begin, end = "<!-- results:begin (generated by bench/run.sh) -->", "<!-- results:end -->"
    text = open(path).read() if os.path.exists(path) else f"# davaudit load benchmark\n\n{begin}\n{end}\n"
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    pre, rest = text.split(begin, 1)
    post = rest.split(end, 1)[1] if end in rest else ""
    with open(path, "w") as f:
        f.write(f"{pre}{begin}\n{block}\n{end}{post}")


# ---------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backend-port", type=int, required=True)
    p.add_argument("--backend-pid", type=int, required=True)
    p.add_argument("--nginx-port", type=int, required=True)
    p.add_argument("--nginx-pid", type=int, required=True)
    p.add_argument("--tuned-port", type=int, required=True)
    p.add_argument("--tuned-pid", type=int, required=True)
    p.add_argument("--haproxy-port", type=int, required=True)
    p.add_argument("--haproxy-pid", type=int, required=True)
    p.add_argument("--hyper-port", type=int, required=True)
    p.add_argument("--hyper-pid", type=int, required=True)
    p.add_argument("--davaudit-port", type=int, required=True)
    p.add_argument("--davaudit-pid", type=int, required=True)
    p.add_argument("--admin", required=True, help="davaudit admin host:port")
    p.add_argument("--davaudit-log", required=True)
    p.add_argument("--fresh-port", type=int, help="a second davaudit, for one isolated stream")
    p.add_argument("--fresh-pid", type=int)
    p.add_argument("--fresh-admin")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--stream-mib", type=int, default=1024)
    p.add_argument("--exact-requests", type=int, default=24)
    p.add_argument("--only", default="", help="comma-separated scenario ids")
    p.add_argument("--out", default=HERE, help="where results.json and RESULTS.md go")
    args = p.parse_args()

    backend = f"127.0.0.1:{args.backend_port}"
    scenarios = []
    for sc in SCENARIOS:
        if args.only and sc["id"] not in args.only.split(","):
            continue
        size = f"{args.stream_mib // 1024} GiB" if args.stream_mib % 1024 == 0 else f"{args.stream_mib} MiB"
        sc = {k: (v.format(mib=args.stream_mib, size=size) if isinstance(v, str) else v)
              for k, v in sc.items()}
        scenarios.append(sc)
    contenders = [
        Contender("direct", args.backend_port, lambda: []),
        Contender("hyper", args.hyper_port, lambda: [args.hyper_pid]),
        Contender("haproxy", args.haproxy_port, lambda: [args.haproxy_pid] + children(args.haproxy_pid)),
        Contender("nginx", args.nginx_port, lambda: [args.nginx_pid] + children(args.nginx_pid)),
        Contender("nginx-tuned", args.tuned_port, lambda: [args.tuned_pid] + children(args.tuned_pid)),
        Contender("davaudit", args.davaudit_port, lambda: [args.davaudit_pid]),
    ]
    meta = machine()
    meta.update({"rounds": args.rounds, "duration_s": args.duration, "connections": args.connections,
                 "wrk_threads": args.threads, "stream_mib": args.stream_mib})

    cross_check_backend(backend)
    expects = {sc["id"]: expected_of(backend, sc["expect"]) if "expect" in sc else None
               for sc in scenarios}
    # Warm-up (not recorded): pools, page cache, the backend's body cache.
    for c in contenders:
        for path, method in [("/small", "GET"), ("/ms/100", "PROPFIND"), ("/gz/ms/10000", "PROPFIND")]:
            run_wrk(f"http://127.0.0.1:{c.port}{path}", method, 1, args.connections, args.threads)

    runs, failures = [], []
    lifetime_kib = 0
    started = time.monotonic()
    fresh = None
    stream = next((sc for sc in scenarios if sc["id"] == "stream"), None)
    if args.fresh_pid and stream:
        # One 1 GiB stream through a davaudit that has served nothing else: its lifetime
        # VmHWM is the memory this stream needs.
        rss_before = status_kib(args.fresh_pid, "VmRSS")
        before = scrape(args.fresh_admin)
        r = run_curl(f"http://127.0.0.1:{args.fresh_port}{stream['path']}", stream["method"])
        after = settle(args.fresh_admin, before, stream["method"])
        try:
            audit = check_audit(before, after, stream["method"], expects["stream"], 1, 0)
        except AuditMismatch as e:
            failures.append(f"fresh stream: {e}")
            audit = None
        fresh = {"rss_before_mib": rss_before / 1024,
                 "vmhwm_after_mib": status_kib(args.fresh_pid, "VmHWM") / 1024,
                 "mb_s": r["bytes"] / r["seconds"] / 1e6, "audit": audit}
        print(f"[fresh davaudit] {stream['title']}: {fresh['mb_s']:.0f} MB/s, RSS before "
              f"{fresh['rss_before_mib']:.1f} MiB, VmHWM after {fresh['vmhwm_after_mib']:.1f} MiB, "
              f"audit {'ok' if audit else 'MISMATCH'}", flush=True)
    for rnd in range(1, args.rounds + 1):
        for sc in scenarios:
            for c in contenders:
                try:
                    r = run_one(args, sc, c, args.backend_pid, expects[sc["id"]], args.davaudit_log)
                except AuditMismatch as e:
                    failures.append(f"round {rnd} {sc['id']} {c.name}: {e}")
                    print(f"AUDIT MISMATCH: {failures[-1]}", file=sys.stderr, flush=True)
                    continue
                r.update({"round": rnd, "scenario": sc["id"], "contender": c.name})
                if c.name == "davaudit":
                    lifetime_kib = max(lifetime_kib, r["rss_lifetime_kib"])
                runs.append(r)
                rate = f"{r['mb_s']:.0f} MB/s" if "mb_s" in r else f"{r['rps']:.0f} req/s"
                if r.get("audit_mb_s"):
                    rate += f" (audit done at {r['audit_mb_s']:.0f} MB/s)"
                extra = f" p99 {fmt_time(r['p99_s'])}" if "p99_s" in r else ""
                cpu = f" cpu {r['cpu_us_per_req']:.1f}µs/req" if c.name != "direct" else ""
                audit = ""
                if "audit" in r and "complete" in r["audit"]:
                    a = r["audit"]
                    audit = f" audit ok ({a['complete']} complete, {a['truncated']} cut by wrk)"
                print(f"[{time.monotonic() - started:5.0f}s] round {rnd} {sc['id']:<9} "
                      f"{c.name:<8} {rate}{extra}{cpu}{audit}", flush=True)
    # davaudit's VmHWM is process-lifetime: read it once more, after everything.
    final_hwm = status_kib(args.davaudit_pid, "VmHWM")
    lifetime_kib = max(lifetime_kib, final_hwm)
    table = summarise(runs, scenarios)
    target_list = targets(table, lifetime_kib / 1024, fresh)
    meta["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    meta["measure_seconds"] = round(time.monotonic() - started)
    text = render(table, meta, target_list, not failures)
    print()
    print(text)
    if failures:
        print("\nAUDIT CHECK FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)

    results = {"meta": meta, "table": table, "targets": target_list, "runs": runs, "fresh_stream": fresh,
               "audit_failures": failures, "davaudit_lifetime_hwm_mib": lifetime_kib / 1024}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    fresh_label = next((sc["title"] for sc in scenarios if sc["id"] == "stream"), "stream")
    block = (f"Run: {meta['date']} · {meta['nproc']} cores ({meta['cpu']}), kernel {meta['kernel']} · "
             f"{meta['nginx']} · {meta['haproxy']} · {meta['wrk']} · davaudit: {meta['davaudit_commit']}\n\n"
             f"{args.rounds} rounds, interleaved direct → hyper → haproxy → nginx → nginx-tuned → "
             f"davaudit per scenario; wrk "
             f"`-t{args.threads} -c{args.connections} -d{args.duration}s`; streams with one curl "
             f"each. Medians over rounds; ratios are median / median from this run. "
             f"Load average at start {' '.join(meta['loadavg_start'])}, at end "
             f"{' '.join(meta['loadavg_end'])} (other engineers build and test on the same "
             f"2 cores). davaudit VmHWM over the whole run: {lifetime_kib / 1024:.1f} MiB"
             + (f"; a fresh davaudit after one {fresh_label}: VmHWM {fresh['vmhwm_after_mib']:.1f} MiB "
                f"(RSS {fresh['rss_before_mib']:.1f} MiB before), {fresh['mb_s']:.0f} MB/s"
                if fresh else "") + ".\n\n"
             f"{text}\n")
    write_results_md(os.path.join(args.out, "RESULTS.md"), block)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
