#!/usr/bin/env bash
# Instruction profile of davaudit and nginx per request, under valgrind's callgrind.
#
#   bench/profile.sh [SCENARIO] [REQUESTS]      # SCENARIO: small ms100 ms10k gz_ms100 gz_ms10k
#
# On this machine `perf stat -e instructions` is not supported (no PMU in the VM), so the
# profile is callgrind: instruction counts (Ir) are exact and immune to the noise of the
# shared cores, which makes the davaudit/nginx ratio per request reproducible. Both run on one
# thread's worth of work under valgrind; wall-clock numbers here mean nothing.
#
# Starts the bench backend, then davaudit (bench/conf/davaudit.yaml.in), nginx
# (bench/conf/nginx.conf.in, master_process off) and the plain hyper pass-through
# (bench/passthrough: the floor) under callgrind, each in turn; sends WARMUP
# requests, zeroes the counters, sends REQUESTS requests over 4 keep-alive connections, dumps,
# and prints Ir per request and the top functions (inclusive and self) of davaudit
# (PROFILE_SUMMARY=hyper: of the pass-through instead; PROFILE_ONLY=davaudit: davaudit alone,
# no summary). Output
# files stay in the temp dir it prints. Stops what it started, by pid.
set -euo pipefail

scenario=${1:-ms100}
requests=${2:-400}
warmup=${WARMUP:-50}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case $scenario in
small) method=GET path=/small ;;
ms100) method=PROPFIND path=/ms/100 ;;
ms10k) method=PROPFIND path=/ms/10000 ;;
gz_ms100) method=PROPFIND path=/gz/ms/100 ;;
gz_ms10k) method=PROPFIND path=/gz/ms/10000 ;;
*) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null

davaudit=$("$here/build-davaudit.sh") # DAVAUDIT_REF / DAVAUDIT_BIN as for run.sh
cargo build --release --quiet --manifest-path "$here/Cargo.toml"

# shellcheck source=bench/lib.sh
source "$here/lib.sh"
bench_tmp profile

read -r backend_port proxy_port admin_port < <(free_ports 3)
fill() {
    sed -e "s|@TMP@|$out|g" -e "s|@BACKEND_PORT@|$backend_port|g" \
        -e "s|@NGINX_PORT@|$proxy_port|g" -e "s|@DAVAUDIT_PORT@|$proxy_port|g" \
        -e "s|@ADMIN_PORT@|$admin_port|g" "$1" >"$2"
}
fill "$here/conf/nginx.conf.in" "$out/nginx.conf"
fill "$here/conf/davaudit.yaml.in" "$out/davaudit.yaml"

"$here/target/release/bench-backend" "$backend_port" 2>"$out/backend.log" &
pids+=($!)

drive() { # n
    python3 - "$proxy_port" "$method" "$path" "$1" <<'EOF'
import concurrent.futures, http.client, sys
port, method, path, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
def worker(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for _ in range(k):
        c.request(method, path, headers={"Depth": "1"})
        r = c.getresponse(); r.read()
        assert r.status in (200, 207), r.status
    c.close()
with concurrent.futures.ThreadPoolExecutor(4) as p:
    list(p.map(worker, [n // 4 + (i < n % 4) for i in range(4)]))
EOF
}

wait_up() {
    for _ in $(seq 600); do
        curl -sf -o /dev/null "http://127.0.0.1:$proxy_port/small" && return 0
        sleep 0.2
    done
    return 1
}

profile() { # name, command...
    local name=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$name" \
        "$@" 2>"$out/valgrind.$name.log" &
    local pid=$!
    pids+=("$pid")
    wait_up
    drive "$warmup"
    callgrind_control -z "$pid" >/dev/null
    drive "$requests"
    callgrind_control -d "$pid" >/dev/null
    sleep 1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    # callgrind_control -d writes callgrind.NAME.1; the exit dump (counters since) is the other.
    local dump="$out/callgrind.$name.1"
    [[ -f $dump ]] || dump="$out/callgrind.$name"
    local ir
    ir=$(grep -m1 '^summary:' "$dump" | awk '{print $2}')
    echo "$name $ir" >>"$out/ir.txt"
    printf '%-9s %s: %d Ir/request (%s requests)\n' "$name" "$scenario" $((ir / requests)) "$requests"
    echo "$dump" >"$out/dump.$name"
}

profile davaudit "$davaudit" --config "$out/davaudit.yaml"
if [[ ${PROFILE_ONLY:-} == davaudit ]]; then
    echo "files: $out"
    exit 0
fi
profile nginx nginx -p "$out" -c "$out/nginx.conf" -g 'master_process off;'
# The floor: a plain hyper pass-through (bench/passthrough), same runtime, no tee, no audit.
profile hyper "$here/target/release/bench-passthrough" "$proxy_port" "$backend_port"

d=$(awk '$1=="davaudit"{print $2}' "$out/ir.txt")
n=$(awk '$1=="nginx"{print $2}' "$out/ir.txt")
h=$(awk '$1=="hyper"{print $2}' "$out/ir.txt")
python3 -c "print(f'davaudit / nginx instructions per request: {$d / $n:.2f}x; davaudit / hyper pass-through: {$d / $h:.2f}x')"
python3 "$here/callgrind_summary.py" "$(cat "$out/dump.${PROFILE_SUMMARY:-davaudit}")" "$requests" "${TOP:-30}" |
    tee "$out/summary.txt"
echo "files: $out"
