# shellcheck shell=bash
# The admin door with a real Prometheus (issue 17), sourced by run.sh after its Prometheus
# phase (it uses run.sh's helpers: start_bg, wait_http, freeport, stop_pid, record, log, and
# BIN, PY, WORK, D). A davaudit of its own in front of Apache, with admin.token_file and
# admin.metrics_token_file set, and a Prometheus of its own with deploy/prometheus/scrape.yml
# (the token from the file beside it, as shipped) plus one job without a token. Checks:
#   - curl: /metrics without a token, or with a wrong one, is 401 with WWW-Authenticate:
#     Bearer; with the metrics token 200; the metrics token on /failures 401; the admin
#     token on /failures 200; /healthz open.
#   - Prometheus: the shipped job is up and holds davaudit_build_info; the job without the
#     token is down, its last error naming 401.
# Records admin-token-curl and admin-token-prometheus in the summary.

prom_token_phase() {
  local dir=$WORK/prom-token admin port pport dpid ppid bad=()
  mkdir -p "$dir/prom/data"
  printf 'interop-admin-%s%s\n' "$RANDOM" "$RANDOM" >"$dir/admin-token"
  printf 'interop-metrics-%s%s\n' "$RANDOM" "$RANDOM" >"$dir/metrics-token"
  admin=$(freeport)
  port=$(freeport)
  cat >"$dir/davaudit.yaml" <<YAML
listen: 127.0.0.1:$port
upstream: {url: "${D[apache]}"}
admin:
  listen: 127.0.0.1:$admin
  token_file: $dir/admin-token
  metrics_token_file: $dir/metrics-token
log: {format: json}
shutdown: {drain_timeout: 2s}
YAML
  if ! "$BIN" check-config --quiet "$dir/davaudit.yaml" >"$dir/check-config.log" 2>&1; then
    indent <"$dir/check-config.log"
    record - admin-token-curl FAIL "check-config refused the token config"
    return
  fi
  start_bg "$dir/davaudit.log" "$BIN" --config "$dir/davaudit.yaml"
  dpid=$BG_PID
  if ! wait_http "$dpid" "http://127.0.0.1:$admin/readyz"; then
    record - admin-token-curl FAIL "davaudit with tokens did not start: $(tail -n 2 "$dir/davaudit.log" | tr '\n' ' ')"
    stop_pid "$dpid"
    return
  fi

  # status PATH [TOKEN]: the admin answer's status code (and WWW-Authenticate in $dir/h).
  status() {
    local auth=()
    [ -n "${2:-}" ] && auth=(-H "Authorization: Bearer $2")
    curl -s -o /dev/null -D "$dir/h" -w '%{http_code}' --max-time 5 "${auth[@]}" \
      "http://127.0.0.1:$admin$1"
  }
  local metrics_token admin_token got
  metrics_token=$(tr -d '\n' <"$dir/metrics-token")
  admin_token=$(tr -d '\n' <"$dir/admin-token")
  expect() { # expect WANT PATH [TOKEN] WHAT
    got=$(status "$2" "${3:-}")
    [ "$got" = "$1" ] || bad+=("$4: $got, expected $1")
  }
  expect 401 /metrics "" "/metrics without a token"
  grep -qi '^www-authenticate: Bearer' "$dir/h" || bad+=("401 without WWW-Authenticate: Bearer")
  expect 401 /metrics "not-$metrics_token" "/metrics with a wrong token"
  expect 200 /metrics "$metrics_token" "/metrics with the metrics token"
  expect 401 /failures "$metrics_token" "/failures with the metrics token"
  expect 200 /failures "$admin_token" "/failures with the admin token"
  expect 200 /healthz "" "/healthz without a token"
  if [ "${#bad[@]}" -eq 0 ]; then
    record - admin-token-curl OK "401 without or with a wrong token (WWW-Authenticate: Bearer), metrics token opens /metrics only, admin token /failures, probes open"
  else
    printf '%s\n' "${bad[@]}" | indent
    record - admin-token-curl FAIL "${bad[*]}"
  fi

  # Prometheus with the shipped scrape.yml (token from davaudit-metrics-token beside it) and
  # a second job without a token.
  cp deploy/prometheus/recording.yml deploy/prometheus/alerts.yml "$dir/prom/"
  cp "$dir/metrics-token" "$dir/prom/davaudit-metrics-token"
  "$PY" "$HERE/check.py" promconf deploy/prometheus/scrape.yml "$dir/prom/prometheus.yml" \
    "127.0.0.1:$admin" || {
    record - admin-token-prometheus FAIL "cannot derive prometheus.yml"
    stop_pid "$dpid"
    return
  }
  cat >>"$dir/prom/prometheus.yml" <<YAML
  - job_name: davaudit-without-token
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$admin"]
YAML
  pport=$(freeport)
  start_bg "$dir/prom/prometheus.log" prometheus --config.file="$dir/prom/prometheus.yml" \
    --storage.tsdb.path="$dir/prom/data" --web.listen-address="127.0.0.1:$pport"
  ppid=$BG_PID
  if ! wait_http "$ppid" "http://127.0.0.1:$pport/-/ready"; then
    record - admin-token-prometheus FAIL "prometheus did not start: $(tail -n 2 "$dir/prom/prometheus.log" | tr '\n' ' ')"
    stop_pid "$ppid"
    stop_pid "$dpid"
    return
  fi
  if "$PY" - "http://127.0.0.1:$pport" 60 >"$dir/prom.txt" 2>&1 <<'PY'; then
import json, sys, time, urllib.parse, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
def get(path):
    with urllib.request.urlopen(url + path, timeout=5) as r:
        return json.load(r)["data"]
last = "no answer"
while time.monotonic() < deadline:
    try:
        targets = {t["labels"]["job"]: t for t in get("/api/v1/targets")["activeTargets"]}
        with_token, without = targets.get("davaudit"), targets.get("davaudit-without-token")
        q = urllib.parse.urlencode({"query": 'davaudit_build_info{job="davaudit"}'})
        info = get(f"/api/v1/query?{q}")["result"]
        last = (f"with token: {with_token and (with_token['health'], with_token['lastError'])}; "
                f"without: {without and (without['health'], without['lastError'])}; "
                f"build_info series: {len(info)}")
        if (with_token and with_token["health"] == "up" and info
                and without and without["health"] == "down" and "401" in without["lastError"]):
            print(f"job davaudit (token from davaudit-metrics-token) up, davaudit_build_info "
                  f"scraped; job without a token down: {without['lastError']}")
            sys.exit(0)
    except Exception as e:  # noqa: BLE001 - keep polling until the deadline
        last = repr(e)
    time.sleep(0.5)
print(f"not settled in time: {last}")
sys.exit(1)
PY
    record - admin-token-prometheus OK "$(tail -n 1 "$dir/prom.txt")"
  else
    indent <"$dir/prom.txt"
    record - admin-token-prometheus FAIL "$(tail -n 1 "$dir/prom.txt")"
  fi
  stop_pid "$ppid"
  stop_pid "$dpid"
}

prom_token_phase
