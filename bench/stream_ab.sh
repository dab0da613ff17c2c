#!/usr/bin/env bash
# One streamed 207 through davaudit binaries and nginx, each alone, under SCHED_FIFO, so the
# other work on a shared machine does not preempt the measured processes (issue 13, streams).
#
#   bench/stream_ab.sh BIN [BIN...]        # e.g. a build of main and one of a branch
#
# Environment: MIB (256), REPS (3 streams per contender and round), ROUNDS (2, contenders
# interleaved), GZ=1 (the gzip stream, /gz/stream/MIB), NGINX=0 (skip nginx stock and tuned),
# RT=0 (no chrt: ordinary scheduling). Needs root for `chrt -f`; the real-time throttle
# (/proc/sys/kernel/sched_rt_runtime_us) leaves the rest of the machine 5% of each second,
# and a run takes a few seconds of CPU.
#
# Per stream: the rate curl saw (MB/s of the body as sent), davaudit's CPU (user + system),
# its context switches (voluntary + involuntary, all threads) and per worker thread (voluntary
# switches, CPU ticks), its VmHWM (reset before each stream); for nginx, the rate and the
# switches of the master and workers. Starts the bench backend (bench/target, built by
# bench/run.sh) and each contender on free ports; stops them by pid.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mib=${MIB:-256}
reps=${REPS:-3}
rounds=${ROUNDS:-2}
path=$([[ ${GZ:-0} == 1 ]] && echo "/gz/stream/$mib" || echo "/stream/$mib")
backend="$here/target/release/bench-backend"
[[ -x $backend ]] || { echo "build the bench first: cargo build --release --manifest-path $here/Cargo.toml" >&2; exit 2; }
(($#)) || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
if [[ ${RT:-1} == 1 && ${STREAM_AB_RT:-} != 1 ]]; then
    STREAM_AB_RT=1 exec chrt -f 10 "$0" "$@"
fi

tmp=$(mktemp -d /tmp/davaudit-stream-ab.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

ports() {
    python3 -c 'import socket
s=[socket.socket() for _ in range('"$1"')]
[x.bind(("127.0.0.1",0)) for x in s]
print(*(x.getsockname()[1] for x in s))'
}

wait_http() {
    for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "not answering: $1" >&2
    return 1
}

# "utime stime voluntary involuntary per-thread" of a process and its children.
sample() {
    python3 - "$@" <<'EOF'
import os, sys
u = s = v = n = 0
per = []
for pid in sys.argv[1:]:
    try:
        tasks = sorted(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        continue
    st = open(f"/proc/{pid}/stat").read()
    f = st[st.rindex(")") + 2:].split()
    u += int(f[11]); s += int(f[12])
    for t in tasks:
        try:
            name = open(f"/proc/{pid}/task/{t}/comm").read().strip()
            ts = open(f"/proc/{pid}/task/{t}/stat").read()
            tf = ts[ts.rindex(")") + 2:].split()
            tv = 0
            for line in open(f"/proc/{pid}/task/{t}/status"):
                if line.startswith("voluntary_ctxt"):
                    tv = int(line.split()[1]); v += tv
                elif line.startswith("nonvoluntary_ctxt"):
                    n += int(line.split()[1])
            if name.startswith("davaudit-w"):
                per.append(f"{name}:{tv}:{int(tf[11]) + int(tf[12])}")
        except OSError:
            pass
print(u, s, v, n, ",".join(per) or "-")
EOF
}

read -r backend_port < <(ports 1)
"$backend" "$backend_port" 2>/dev/null &
pids+=($!)
wait_http "http://127.0.0.1:$backend_port/small"

stream() { # URL -> "MB/s"
    local out
    out=$(curl -sS -X PROPFIND -o /dev/null -w '%{size_download} %{time_total}' "$1")
    python3 -c "import sys; b, t = map(float, sys.argv[1:]); print(f'{b / t / 1e6:.0f}')" $out
}

run_davaudit() { # BIN
    local bin=$1 port admin conf pid
    read -r port admin < <(ports 2)
    conf="$tmp/davaudit-$port.yaml"
    sed -e "s|@DAVAUDIT_PORT@|$port|" -e "s|@BACKEND_PORT@|$backend_port|" -e "s|@ADMIN_PORT@|$admin|" \
        "$here/conf/davaudit.yaml.in" >"$conf"
    env -u RUST_LOG "$bin" --config "$conf" 2>/dev/null &
    pid=$!
    wait_http "http://127.0.0.1:$port/small"
    for _ in $(seq "$reps"); do
        echo 5 >"/proc/$pid/clear_refs"
        read -r u0 s0 v0 n0 p0 < <(sample "$pid")
        rate=$(stream "http://127.0.0.1:$port$path")
        sleep 0.3 # the audit's outcome
        read -r u1 s1 v1 n1 p1 < <(sample "$pid")
        hwm=$(awk '/VmHWM/{printf "%.1f", $2 / 1024}' "/proc/$pid/status")
        threads=$(python3 -c '
import sys
a = dict((t.split(":")[0], t.split(":")[1:]) for t in sys.argv[1].split(",") if ":" in t)
b = [t.split(":") for t in sys.argv[2].split(",") if ":" in t]
print(" ".join(f"{n[9:]}: {int(v) - int(a.get(n, (0, 0))[0])} vol, {(int(c) - int(a.get(n, (0, 0))[1])) * 10} ms" for n, v, c in b))' "$p0" "$p1")
        printf '%-20s %6s MB/s  cpu %4d ms  switches %5d (vol %d)  VmHWM %s MiB  [%s]\n' \
            "$(basename "$bin")" "$rate" $(((u1 - u0 + s1 - s0) * 10)) $((v1 - v0 + n1 - n0)) $((v1 - v0)) "$hwm" "$threads"
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

run_nginx() { # CONF-NAME
    local name=$1 port dir pid
    read -r port < <(ports 1)
    dir="$tmp/$name-$port"
    mkdir -p "$dir/tuned"
    chmod 755 "$dir" "$dir/tuned"
    sed -e "s|@TMP@|$dir|g" -e "s|@BACKEND_PORT@|$backend_port|g" -e "s|@NGINX_PORT@|$port|g" \
        -e "s|@NGINX_TUNED_PORT@|$port|g" "$here/conf/$name.conf.in" >"$dir/nginx.conf"
    nginx -p "$dir" -c "$dir/nginx.conf" 2>"$dir/stderr" &
    pid=$!
    wait_http "http://127.0.0.1:$port/small"
    for _ in $(seq "$reps"); do
        read -r _ _ v0 n0 _ < <(sample "$pid" $(pgrep -P "$pid"))
        rate=$(stream "http://127.0.0.1:$port$path")
        sleep 0.3
        read -r _ _ v1 n1 _ < <(sample "$pid" $(pgrep -P "$pid"))
        printf '%-20s %6s MB/s  switches %5d\n' "$name" "$rate" $((v1 - v0 + n1 - n0))
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

echo "PROPFIND $path (MB/s of the body as sent: coded bytes for GZ=1), $reps streams per contender, $rounds rounds$([[ ${STREAM_AB_RT:-} == 1 ]] && echo ', SCHED_FIFO')"
for round in $(seq "$rounds"); do
    echo "-- round $round"
    for bin in "$@"; do run_davaudit "$bin"; done
    if [[ ${NGINX:-1} == 1 ]]; then
        run_nginx nginx
        run_nginx nginx-tuned
    fi
done
