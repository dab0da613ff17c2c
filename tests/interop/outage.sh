# shellcheck shell=bash
# Sourced by tests/interop/run.sh (issue 16): a real Prometheus, loaded with deploy/'s rules,
# scrapes a davaudit of its own every second while
#   1. a client opens connections up to `limits.max_connections` (requests held by the
#      upstream, one idle connection) and 2 over it: davaudit_connections_open,
#      _accepted_total, _refused_total{reason="limit"} and davaudit_requests_in_flight must
#      equal what the client did, on /metrics and in Prometheus, and return to 0 after;
#   2. the upstream is stopped: davaudit_upstream_up is 0 in Prometheus and the
#      DavauditUpstreamDown alert is pending.
# Uses run.sh's helpers (start_bg, stop_pid, wait_http, freeport, record, log, indent) and
# its BIN, PY, WORK, HERE. The upstream is a small Python server (outage.py hold) that holds
# every request until a file appears, so "in flight" is a state, not a race.

phase_outage() {
  local dir=$WORK/outage up_port port admin prom_port up_pid max=3 job=davaudit-outage
  mkdir -p "$dir/data"
  up_port=$(freeport)
  start_bg "$dir/upstream.log" "$PY" "$HERE/outage.py" hold "$up_port" "$dir/release"
  up_pid=$BG_PID
  port=$(freeport)
  admin=$(freeport)
  cat >"$dir/davaudit.yaml" <<EOF
listen: 127.0.0.1:$port
upstream:
  url: http://127.0.0.1:$up_port
admin:
  listen: 127.0.0.1:$admin
limits:
  max_connections: $max
log:
  format: json
shutdown:
  drain_timeout: 2s
EOF
  start_bg "$dir/davaudit.log" "$BIN" --config "$dir/davaudit.yaml"
  if ! wait_http "$BG_PID" "http://127.0.0.1:$admin/readyz"; then
    record - outage FAIL "davaudit with a holding upstream did not become ready: $(tail -n 2 "$dir/davaudit.log" | tr '\n' ' ')"
    return
  fi
  cp deploy/prometheus/recording.yml deploy/prometheus/alerts.yml "$dir/"
  cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [recording.yml, alerts.yml]
scrape_configs:
  - job_name: $job
    static_configs:
      - targets: ['127.0.0.1:$admin']
EOF
  prom_port=$(freeport)
  start_bg "$dir/prometheus.log" prometheus --config.file="$dir/prometheus.yml" \
    --storage.tsdb.path="$dir/data" --web.listen-address="127.0.0.1:$prom_port"
  if ! wait_http "$BG_PID" "http://127.0.0.1:$prom_port/-/ready"; then
    record - outage FAIL "the outage check's prometheus did not start: $(tail -n 2 "$dir/prometheus.log" | tr '\n' ' ')"
    return
  fi
  log "outage: davaudit 127.0.0.1:$port (admin $admin, max_connections $max), holding upstream :$up_port, prometheus :$prom_port"

  if timeout 180 "$PY" "$HERE/outage.py" connections "$port" "http://127.0.0.1:$admin" \
    "http://127.0.0.1:$prom_port" "$job" "$max" "$dir/release" >"$dir/connections.txt" 2>&1; then
    grep -v '^summary:' "$dir/connections.txt" | indent
    record - connections OK "$(sed -n 's/^summary: //p' "$dir/connections.txt")"
  else
    indent <"$dir/connections.txt"
    record - connections FAIL "connection metrics differ from what the client did (see above)"
  fi

  stop_pid "$up_pid"
  log "outage: upstream stopped; waiting for the probe (every 5s), the scrape and the rule"
  if timeout 180 "$PY" "$HERE/outage.py" down "http://127.0.0.1:$admin" \
    "http://127.0.0.1:$prom_port" "$job" >"$dir/down.txt" 2>&1; then
    grep -v '^summary:' "$dir/down.txt" | indent
    record - upstream-down OK "$(sed -n 's/^summary: //p' "$dir/down.txt")"
  else
    indent <"$dir/down.txt"
    record - upstream-down FAIL "upstream stopped, but Prometheus does not show it (see above)"
  fi
}

log "== outage (#16): connection metrics vs the client; upstream stopped: upstream_up 0, alert pending"
phase_outage
