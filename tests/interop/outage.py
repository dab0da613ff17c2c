#!/usr/bin/env python3
"""Helpers of tests/interop/outage.sh (issue 16): standard library only.

  outage.py hold PORT RELEASE_FILE
      A fake upstream on 127.0.0.1:PORT: every request is held unanswered until RELEASE_FILE
      exists (bounded: 120 s), then answered 200. Runs until killed.

  outage.py connections PROXY_PORT ADMIN_URL PROM_URL JOB MAX_CONNECTIONS RELEASE_FILE
      What a client does, and what davaudit and a real Prometheus must then say: opens
      MAX_CONNECTIONS - 1 connections with a request the upstream holds and one idle one,
      then 2 more that the connection limit refuses; checks davaudit_connections_open,
      _accepted_total, _refused_total{reason="limit"} and davaudit_requests_in_flight on
      /metrics and through Prometheus' query API; releases the requests, closes everything,
      and checks the gauges go back to 0.

  outage.py down ADMIN_URL PROM_URL JOB
      With the upstream stopped: davaudit_upstream_up is 0 (and probe_error{kind="connect"}
      1) on /metrics and in Prometheus, and the DavauditUpstreamDown alert is pending.

Every wait is bounded; each check prints one line; exit 1 on the first mismatch.
"""

import json
import os
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request

DEADLINE = 45.0  # seconds any one condition may take (the probe runs every 5 s)


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def ok(msg):
    print(f"ok: {msg}")


# ------------------------------------------------------------------------------------------
# the holding upstream


def hold(port, release):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(port)))
    srv.listen(64)

    def serve(conn):
        with conn:
            conn.settimeout(130)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return  # a readiness probe: connect and close
                    data += chunk
                end = time.monotonic() + 120
                while not os.path.exists(release) and time.monotonic() < end:
                    time.sleep(0.05)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
            except OSError:
                pass

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


# ------------------------------------------------------------------------------------------
# reading davaudit and Prometheus


def scrape(admin):
    """The samples of /metrics: {(name, frozenset(labels)): value}."""
    with urllib.request.urlopen(admin + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, labels = head, frozenset()
        if "{" in head:
            name, rest = head.split("{", 1)
            pairs = [p for p in rest.rstrip("}").split(",") if p]
            labels = frozenset(tuple(p.split("=", 1)) for p in pairs)
        out[(name, frozenset((k, v.strip('"')) for k, v in labels))] = float(value)
    return out


def metric(samples, name, **labels):
    want = frozenset(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def prom_query(prom, expr):
    url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        fail(f"prometheus query {expr!r}: {body}")
    return body["data"]["result"]


def prom_value(prom, expr):
    result = prom_query(prom, expr)
    return float(result[0]["value"][1]) if result else None


def wait(what, probe, want):
    """Polls probe() until it returns want (bounded); returns the last value seen."""
    end = time.monotonic() + DEADLINE
    seen = None
    while time.monotonic() < end:
        try:
            seen = probe()
        except OSError as e:
            seen = f"error: {e}"
        if seen == want:
            ok(f"{what} = {want}")
            return seen
        time.sleep(0.25)
    fail(f"{what}: expected {want}, still {seen} after {DEADLINE:.0f}s")


# ------------------------------------------------------------------------------------------
# the client's side


def connections(proxy_port, admin, prom, job, max_connections):
    n = int(max_connections)
    before = scrape(admin)
    acc0 = metric(before, "davaudit_connections_accepted_total", listener="proxy")
    ref0 = metric(before, "davaudit_connections_refused_total", listener="proxy", reason="limit")
    if metric(before, "davaudit_connections_open", listener="proxy") != 0:
        fail("connections open before the client did anything")
    held, conns = n - 1, []
    for i in range(held):
        s = socket.create_connection(("127.0.0.1", int(proxy_port)), timeout=10)
        s.sendall(f"GET /held/{i} HTTP/1.1\r\nHost: interop\r\n\r\n".encode())
        conns.append(s)
    idle = socket.create_connection(("127.0.0.1", int(proxy_port)), timeout=10)
    conns.append(idle)
    print(f"client: {held} connections with a held request, 1 idle (limit {n})")

    def at(name, **labels):
        return lambda: metric(scrape(admin), name, **labels)

    def in_prom(expr):
        return lambda: prom_value(prom, f'{expr}{{job="{job}"}}')

    wait("/metrics davaudit_connections_open{listener=proxy}",
         at("davaudit_connections_open", listener="proxy"), n)
    wait("/metrics davaudit_requests_in_flight", at("davaudit_requests_in_flight"), held)
    # Over the limit: accepted by the kernel, closed by davaudit at once.
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", int(proxy_port)), timeout=10)
        s.settimeout(10)
        try:
            s.sendall(b"GET /refused HTTP/1.1\r\nHost: interop\r\n\r\n")
            got = s.recv(100)
        except OSError:
            got = b""
        s.close()
        if got:
            fail(f"a connection over the limit got an answer: {got!r}")
    print("client: 2 more connections, closed unanswered")
    wait("/metrics refused_total{listener=proxy,reason=limit} increase",
         lambda: metric(scrape(admin), "davaudit_connections_refused_total",
                        listener="proxy", reason="limit") - ref0, 2)
    # The same through the real Prometheus (scrape interval 1 s).
    wait("prometheus davaudit_connections_open{listener=proxy}",
         lambda: prom_value(prom, f'davaudit_connections_open{{job="{job}",listener="proxy"}}'), n)
    wait("prometheus davaudit_requests_in_flight", in_prom("davaudit_requests_in_flight"), held)
    wait("prometheus davaudit_connections_accepted_total{listener=proxy} - before",
         lambda: prom_value(prom, f'davaudit_connections_accepted_total{{job="{job}",listener="proxy"}}') - acc0, n)
    wait("prometheus davaudit_connections_refused_total{listener=proxy,reason=limit} - before",
         lambda: prom_value(prom, f'davaudit_connections_refused_total{{job="{job}",listener="proxy",reason="limit"}}') - ref0, 2)

    # Release the held requests; every one is answered 200; then close everything.
    return conns, held


def finish(conns, held, admin, prom, job, release):
    open(release, "w").close()
    for s in conns[:held]:
        s.settimeout(30)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            fail(f"a held request got {data[:40]!r}, expected 200")
    print(f"client: {held} held requests answered 200; closing all connections")
    for s in conns:
        s.close()
    wait("/metrics davaudit_requests_in_flight",
         lambda: metric(scrape(admin), "davaudit_requests_in_flight"), 0)
    wait("/metrics davaudit_connections_open{listener=proxy}",
         lambda: metric(scrape(admin), "davaudit_connections_open", listener="proxy"), 0)
    wait("prometheus davaudit_connections_open{listener=proxy}",
         lambda: prom_value(prom, f'davaudit_connections_open{{job="{job}",listener="proxy"}}'), 0)
    wait("prometheus davaudit_requests_in_flight",
         lambda: prom_value(prom, f'davaudit_requests_in_flight{{job="{job}"}}'), 0)


def down(admin, prom, job):
    wait("/metrics davaudit_upstream_up", lambda: metric(scrape(admin), "davaudit_upstream_up"), 0)
    wait('/metrics davaudit_upstream_probe_error{kind="connect"}',
         lambda: metric(scrape(admin), "davaudit_upstream_probe_error", kind="connect"), 1)
    wait("prometheus davaudit_upstream_up",
         lambda: prom_value(prom, f'davaudit_upstream_up{{job="{job}"}}'), 0)

    def pending():
        for r in prom_query(prom, 'ALERTS{alertname="DavauditUpstreamDown"}'):
            if r["metric"].get("job") == job:
                return r["metric"].get("alertstate")
        return None

    wait("prometheus ALERTS{alertname=DavauditUpstreamDown} state", pending, "pending")
    with urllib.request.urlopen(prom + "/api/v1/alerts", timeout=10) as r:
        alerts = json.load(r)["data"]["alerts"]
    mine = [a for a in alerts
            if a["labels"].get("alertname") == "DavauditUpstreamDown" and a["labels"].get("job") == job]
    if not mine or mine[0]["state"] != "pending":
        fail(f"/api/v1/alerts has no pending DavauditUpstreamDown for {job}: {mine}")
    ok(f"/api/v1/alerts: DavauditUpstreamDown pending since {mine[0].get('activeAt')}, value {mine[0].get('value')}")


def main(argv):
    if len(argv) >= 3 and argv[0] == "hold":
        hold(argv[1], argv[2])
    elif len(argv) == 7 and argv[0] == "connections":
        proxy_port, admin, prom, job, max_conn, release = argv[1:]
        conns, held = connections(proxy_port, admin, prom, job, max_conn)
        finish(conns, held, admin, prom, job, release)
        print(f"summary: {held} held + 1 idle open, 2 refused at the limit, all back to 0")
    elif len(argv) == 4 and argv[0] == "down":
        down(*argv[1:])
        print("summary: upstream_up 0 on /metrics and in Prometheus; DavauditUpstreamDown pending")
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
