# shellcheck shell=bash
# The access log against what a real client did (issue 16, item 5), sourced by run.sh (it uses
# run.sh's helpers: start_bg, wait_http, freeport, stop_pid, record, log, indent, and BIN, PY,
# WORK, D). A davaudit of its own in front of Apache with log.access and
# forwarding.echo_request_id on; curl does a PUT (Content-Length and chunked), a GET, a HEAD,
# a GET of a missing file, a PROPFIND Depth 1 (audited) and a GET with a W3C traceparent, and
# a client leaves a large download after its first bytes. Then every access line must match
# what curl saw: status, body bytes each way, the echoed request id, the trace id, `end`, and
# for the PROPFIND the audit's outcome and an independent count of its DAV:response elements.
# Records access-log in the summary.

access_log_phase() {
  local upstream=$1 dir=$WORK/access-log admin port dpid bad=() base
  mkdir -p "$dir/client"
  admin=$(freeport)
  port=$(freeport)
  cat >"$dir/davaudit.yaml" <<YAML
listen: 127.0.0.1:$port
upstream: {url: "$upstream"}
admin: {listen: 127.0.0.1:$admin}
forwarding: {echo_request_id: true}
log: {format: json, level: warn, access: true}
shutdown: {drain_timeout: 2s}
YAML
  if ! "$BIN" check-config --quiet "$dir/davaudit.yaml" >"$dir/check-config.log" 2>&1; then
    indent <"$dir/check-config.log"
    record - access-log FAIL "check-config refused log.access / forwarding.echo_request_id"
    return
  fi
  start_bg "$dir/davaudit.log" "$BIN" --config "$dir/davaudit.yaml"
  dpid=$BG_PID
  if ! wait_http "$dpid" "http://127.0.0.1:$admin/readyz"; then
    record - access-log FAIL "davaudit did not start: $(tail -n 2 "$dir/davaudit.log" | tr '\n' ' ')"
    stop_pid "$dpid"
    return
  fi
  base="http://127.0.0.1:$port/access-log-$RANDOM"
  head -c 300001 /dev/urandom >"$dir/client/up.bin"
  head -c $((24 << 20)) /dev/zero >"$dir/client/big.bin"

  # did ID METHOD URL [CURL ARGS...]: one exchange; what curl saw goes to did.tsv.
  : >"$dir/did.tsv"
  did() {
    local id=$1 method=$2 url=$3 out
    shift 3
    out=$(curl -sS --max-time 60 -o "$dir/client/$id.body" -D "$dir/client/$id.head" \
      -X "$method" -H "X-Request-Id: $id" \
      -w '%{http_code}\t%{size_upload}\t%{size_download}' "$@" "$url") || out="000\t0\t0"
    printf '%s\t%s\t%s\t%s\n' "$id" "$method" "${url#http://127.0.0.1:"$port"}" "$out" >>"$dir/did.tsv"
  }
  did mkcol-1 MKCOL "$base/"
  did put-length PUT "$base/up.bin" --data-binary "@$dir/client/up.bin"
  did put-chunked PUT "$base/chunked.bin" -H "Transfer-Encoding: chunked" \
    --data-binary "@$dir/client/up.bin"
  did put-big PUT "$base/big.bin" --data-binary "@$dir/client/big.bin"
  did get-1 GET "$base/up.bin"
  did head-1 HEAD "$base/up.bin" --head
  did missing-1 GET "$base/no-such-file"
  did propfind-1 PROPFIND "$base/" -H "Depth: 1" -H "Content-Type: application/xml" \
    --data '<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getcontentlength/><resourcetype/></prop></propfind>'
  did trace-1 GET "$base/up.bin" \
    -H "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
  did trace-bad GET "$base/up.bin" \
    -H "traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
  # A client that leaves a 24 MiB download after 64 KiB.
  "$PY" - "127.0.0.1" "$port" "${base#http://127.0.0.1:"$port"}/big.bin" <<'PY' >>"$dir/did.tsv" 2>"$dir/gone.err"
import socket, sys
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=30)
s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: gone-1\r\n\r\n".encode())
got = b""
while len(got) < 65536:
    chunk = s.recv(65536)
    if not chunk:
        break
    got += chunk
s.close()
status = got.split(b" ", 2)[1].decode() if got.startswith(b"HTTP/") else "000"
print(f"gone-1\tGET\t{path}\t{status}\t0\t-1")
PY

  if "$PY" - "$dir/did.tsv" "$dir/davaudit.log" "$dir/client" 20 >"$dir/check.txt" 2>&1 <<'PY'; then
import json, os, sys, time
import xml.etree.ElementTree as ET
did_path, log_path, client, wait = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
did = [l.rstrip("\n").split("\t") for l in open(did_path) if l.strip()]
want = {d[0] for d in did}

def lines():
    out = {}
    for raw in open(log_path, errors="replace"):
        try:
            e = json.loads(raw)
        except ValueError:
            continue
        if e.get("target") == "davaudit::access":
            out.setdefault(e.get("request_id"), []).append(e)
    return out

deadline = time.monotonic() + wait
seen = lines()
while not want <= seen.keys() and time.monotonic() < deadline:
    time.sleep(0.2)
    seen = lines()
bad = []
for rid, method, path, code, up, down in did:
    got = seen.get(rid, [])
    if len(got) != 1:
        bad.append(f"{rid}: {len(got)} access lines, expected 1")
        continue
    e = got[0]
    def expect(field, value):
        if e.get(field) != value:
            bad.append(f"{rid}: {field}={e.get(field)!r}, the client saw {value!r}")
    expect("method", method)
    expect("path", path)
    expect("status", int(code))
    if rid == "gone-1":
        expect("end", "client_gone")
        if not 0 < e.get("response_bytes", 0) < 24 << 20:
            bad.append(f"{rid}: response_bytes={e.get('response_bytes')}, expected a part")
        continue
    expect("end", "complete")
    if rid == "put-chunked":
        # curl's size_upload counts the chunk framing; the body is the file.
        up = os.path.getsize(os.path.join(client, "up.bin"))
    expect("request_bytes", int(float(up)))
    expect("response_bytes", int(float(down)))
    if not 0 <= e.get("headers_ms", -1) <= e.get("duration_ms", -2):
        bad.append(f"{rid}: headers_ms {e.get('headers_ms')} not within duration_ms {e.get('duration_ms')}")
    head = open(os.path.join(client, rid + ".head"), errors="replace").read().lower()
    if f"x-request-id: {rid}" not in head:
        bad.append(f"{rid}: the request id was not echoed")
    if rid == "trace-1":
        expect("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")
    elif "trace_id" in e:
        bad.append(f"{rid}: trace_id {e['trace_id']!r} without a valid traceparent")
    if rid == "propfind-1":
        body = open(os.path.join(client, rid + ".body"), "rb").read()
        n = len(ET.fromstring(body).findall("{DAV:}response"))
        expect("audit", "clean")
        expect("entries", n)
        expect("failures", 0)
    elif "audit" in e:
        bad.append(f"{rid}: audit {e['audit']!r} on a body that is not audited")
for b in bad:
    print(b)
if bad:
    print(f"summary: {len(bad)} mismatches")
    sys.exit(1)
print(f"summary: {len(did)} exchanges, each one access line matching what the client saw "
      f"(status, bytes each way, echoed id, trace id, end, audit counts)")
PY
    record - access-log OK "$(sed -n 's/^summary: //p' "$dir/check.txt")"
  else
    indent <"$dir/check.txt"
    record - access-log FAIL "$(sed -n 's/^summary: //p' "$dir/check.txt")"
  fi
  "${CURL[@]}" -o /dev/null -X DELETE "$base/" 2>/dev/null
  stop_pid "$dpid"
}

access_log_phase "${D[apache]}"
