#!/usr/bin/env bash
# The davaudit load harness (issue 7): one command, under 10 minutes on 2 cores.
#
#   bench/run.sh                      # everything: build, start, measure, table, RESULTS.md
#   ROUNDS=1 DURATION=2 STREAM_MIB=256 ONLY=small,ms100 bench/run.sh   # a quick look
#
# Builds davaudit (release, at the repository root), the bench backend and the plain hyper
# pass-through (bench/, its own workspace); installs nginx, haproxy and wrk from Debian if
# missing; starts, on 127.0.0.1 with free ports, the backend and, each in front of it: nginx
# stock and nginx tuned (64k buffers, no temp-file spill; each its own config, pid file and
# temp paths in a temp dir), HAProxy, the hyper pass-through (no tee, no audit: the floor)
# and davaudit (bench/conf/davaudit.yaml.in: audit on, log.level warn); then bench/harness.py runs the scenarios interleaved over several rounds, checks
# davaudit's audit counters after every 207 run, prints the table and writes
# bench/results.json and bench/RESULTS.md. Everything started here is stopped by pid on exit.
# Exit status: 0 ok, 1 an audit check failed, other values a harness error.
#
# Environment: DAVAUDIT_REF=rev (measure that commit, built from `git archive`) or
# DAVAUDIT_BIN=path (see build-davaudit.sh; default: the working tree at the root);
# ROUNDS (3), DURATION (seconds per wrk run, 5), CONNECTIONS (16), THREADS (wrk threads, 2),
# STREAM_MIB (1024), EXACT_REQUESTS (24), ONLY (scenario ids), KEEP_TMP=1 (keep the temp dir
# with the logs), OUT (where results go, default bench/).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
t0=$(date +%s)

say() { printf '== %s\n' "$*" >&2; }

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v haproxy >/dev/null || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${need[@]}" >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
# Debian starts the system nginx on install; this harness never touches it, and uses its
# own ports, so it does not matter whether it runs.

say "building davaudit (release) and the bench backend"
davaudit=$("$here/build-davaudit.sh")
if [[ -n ${DAVAUDIT_BIN:-} ]]; then
    export DAVAUDIT_DESC="binary $DAVAUDIT_BIN"
elif [[ -n ${DAVAUDIT_REF:-} ]]; then
    DAVAUDIT_DESC="commit $(git -C "$root" rev-parse --short "$DAVAUDIT_REF^{commit}") (git archive)"
else
    dirty=$(git -C "$root" status --porcelain --untracked-files=no -- src Cargo.toml Cargo.lock | wc -l)
    DAVAUDIT_DESC="working tree at $(git -C "$root" rev-parse --short HEAD)$( ((dirty)) && echo " + uncommitted changes in src" || true)"
fi
export DAVAUDIT_DESC
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
backend_bin="$here/target/release/bench-backend"
passthrough_bin="$here/target/release/bench-passthrough"

tmp=$(mktemp -d /tmp/davaudit-bench.XXXXXX)
chmod 755 "$tmp" # nginx workers (user nobody) create their temp paths under it
pids=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ ${KEEP_TMP:-0} == 1 || $status -ne 0 ]]; then
        say "logs kept in $tmp"
    else
        rm -rf "$tmp"
    fi
    say "run.sh took $(($(date +%s) - t0))s (exit $status)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r backend_port nginx_port davaudit_port admin_port fresh_port fresh_admin tuned_port haproxy_port hyper_port < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(9)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)

fill() {
    sed -e "s|@TMP@|$tmp|g" -e "s|@BACKEND_PORT@|$backend_port|g" \
        -e "s|@NGINX_PORT@|$nginx_port|g" -e "s|@DAVAUDIT_PORT@|$davaudit_port|g" \
        -e "s|@ADMIN_PORT@|$admin_port|g" -e "s|@NGINX_TUNED_PORT@|$tuned_port|g" \
        -e "s|@HAPROXY_PORT@|$haproxy_port|g" "$1" >"$2"
}
fill "$here/conf/nginx.conf.in" "$tmp/nginx.conf"
mkdir -p "$tmp/tuned"
fill "$here/conf/nginx-tuned.conf.in" "$tmp/tuned/nginx.conf"
fill "$here/conf/haproxy.cfg.in" "$tmp/haproxy.cfg"
fill "$here/conf/davaudit.yaml.in" "$tmp/davaudit.yaml"
# A second davaudit, used once for one 1 GiB stream: its lifetime VmHWM is that run's alone
# (the main one keeps the heap earlier scenarios grew; VmHWM never goes down by itself).
sed -e "s|127.0.0.1:$davaudit_port|127.0.0.1:$fresh_port|" -e "s|127.0.0.1:$admin_port|127.0.0.1:$fresh_admin|" \
    "$tmp/davaudit.yaml" >"$tmp/davaudit-fresh.yaml"
"$davaudit" check-config "$tmp/davaudit.yaml" >/dev/null
nginx -t -q -p "$tmp" -c "$tmp/nginx.conf"
nginx -t -q -p "$tmp/tuned" -c "$tmp/tuned/nginx.conf"
haproxy -c -q -f "$tmp/haproxy.cfg"

say "starting backend :$backend_port, nginx :$nginx_port, nginx tuned :$tuned_port, haproxy :$haproxy_port, hyper :$hyper_port, davaudit :$davaudit_port (admin :$admin_port)"
"$backend_bin" "$backend_port" 2>"$tmp/backend.log" &
backend_pid=$!
pids+=("$backend_pid")
nginx -p "$tmp" -c "$tmp/nginx.conf" 2>"$tmp/nginx.stderr" &
nginx_pid=$!
pids+=("$nginx_pid")
nginx -p "$tmp/tuned" -c "$tmp/tuned/nginx.conf" 2>"$tmp/tuned/nginx.stderr" &
tuned_pid=$!
pids+=("$tuned_pid")
haproxy -db -f "$tmp/haproxy.cfg" 2>"$tmp/haproxy.log" &
haproxy_pid=$!
pids+=("$haproxy_pid")
"$passthrough_bin" "$hyper_port" "$backend_port" 2>"$tmp/passthrough.log" &
hyper_pid=$!
pids+=("$hyper_pid")
# O_APPEND, so the harness can truncate the log between runs.
env -u RUST_LOG "$davaudit" --config "$tmp/davaudit.yaml" 2>>"$tmp/davaudit.log" &
davaudit_pid=$!
pids+=("$davaudit_pid")
env -u RUST_LOG "$davaudit" --config "$tmp/davaudit-fresh.yaml" 2>>"$tmp/davaudit-fresh.log" &
fresh_pid=$!
pids+=("$fresh_pid")

wait_http() {
    for _ in $(seq 100); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    say "not answering: $1"
    return 1
}
wait_http "http://127.0.0.1:$backend_port/small"
wait_http "http://127.0.0.1:$nginx_port/small"
wait_http "http://127.0.0.1:$tuned_port/small"
wait_http "http://127.0.0.1:$haproxy_port/small"
wait_http "http://127.0.0.1:$hyper_port/small"
wait_http "http://127.0.0.1:$davaudit_port/small"
wait_http "http://127.0.0.1:$admin_port/metrics"
wait_http "http://127.0.0.1:$fresh_admin/metrics"

say "measuring (rounds ${ROUNDS:-3}, ${DURATION:-5}s per wrk run)"
set +e
python3 "$here/harness.py" \
    --backend-port "$backend_port" --backend-pid "$backend_pid" \
    --nginx-port "$nginx_port" --nginx-pid "$nginx_pid" \
    --tuned-port "$tuned_port" --tuned-pid "$tuned_pid" \
    --haproxy-port "$haproxy_port" --haproxy-pid "$haproxy_pid" \
    --hyper-port "$hyper_port" --hyper-pid "$hyper_pid" \
    --davaudit-port "$davaudit_port" --davaudit-pid "$davaudit_pid" \
    --admin "127.0.0.1:$admin_port" --davaudit-log "$tmp/davaudit.log" \
    --fresh-port "$fresh_port" --fresh-pid "$fresh_pid" --fresh-admin "127.0.0.1:$fresh_admin" \
    --rounds "${ROUNDS:-3}" --duration "${DURATION:-5}" \
    --connections "${CONNECTIONS:-16}" --threads "${THREADS:-2}" \
    --stream-mib "${STREAM_MIB:-1024}" --exact-requests "${EXACT_REQUESTS:-24}" \
    --only "${ONLY:-}" --out "${OUT:-$here}"
status=$?
set -e
for pid in "$backend_pid" "$nginx_pid" "$tuned_pid" "$haproxy_pid" "$hyper_pid" "$davaudit_pid"; do
    kill -0 "$pid" 2>/dev/null || { say "process $pid died during the run"; status=2; }
done
exit "$status"
