#!/usr/bin/env bash
# Syscalls per request of nginx (stock), the hyper pass-through and davaudit, under wrk load.
#
#   bench/syscalls.sh [PATH] [SECONDS]        # PATH: /small (default); SECONDS: 3
#
# Starts the bench backend and, each in front of it, nginx (bench/conf/nginx.conf.in), the
# plain hyper pass-through (bench/passthrough) and davaudit (bench/conf/davaudit.yaml.in), as
# bench/run.sh does; then, one contender at a time, counts its syscalls with
# `perf stat -e syscalls:...` (tracepoints: exact counts, no ptrace slowdown) while
# `wrk -cCONNECTIONS -tTHREADS -dSECONDS` runs against it, and divides by the requests wrk
# reports. `eagain` rows count the reads and writes that returned EAGAIN. The backend and wrk
# are not counted. Environment: CONNECTIONS (16), THREADS (2), DAVAUDIT_BIN / DAVAUDIT_REF as
# for run.sh. Stops what it started, by pid.
set -euo pipefail

path=${1:-/small}
seconds=${2:-3}
connections=${CONNECTIONS:-16}
threads=${THREADS:-2}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

davaudit=$("$here/build-davaudit.sh")
cargo build --release --quiet --manifest-path "$here/Cargo.toml"

# shellcheck source=bench/lib.sh
source "$here/lib.sh"
bench_tmp syscalls

read -r backend_port nginx_port hyper_port davaudit_port admin_port < <(free_ports 5)
fill() {
    sed -e "s|@TMP@|$out|g" -e "s|@BACKEND_PORT@|$backend_port|g" \
        -e "s|@NGINX_PORT@|$nginx_port|g" -e "s|@DAVAUDIT_PORT@|$davaudit_port|g" \
        -e "s|@ADMIN_PORT@|$admin_port|g" "$1" >"$2"
}
fill "$here/conf/nginx.conf.in" "$out/nginx.conf"
fill "$here/conf/davaudit.yaml.in" "$out/davaudit.yaml"

"$here/target/release/bench-backend" "$backend_port" 2>"$out/backend.log" &
pids+=($!)
nginx -p "$out" -c "$out/nginx.conf" 2>"$out/nginx.stderr" &
nginx_pid=$!
pids+=("$nginx_pid")
"$here/target/release/bench-passthrough" "$hyper_port" "$backend_port" 2>"$out/passthrough.log" &
hyper_pid=$!
pids+=("$hyper_pid")
env -u RUST_LOG "$davaudit" --config "$out/davaudit.yaml" 2>>"$out/davaudit.log" &
davaudit_pid=$!
pids+=("$davaudit_pid")

for port in "$backend_port" "$nginx_port" "$hyper_port" "$davaudit_port"; do
    wait_http "http://127.0.0.1:$port$path"
done

calls=(epoll_wait epoll_pwait epoll_pwait2 epoll_ctl read recvfrom recvmsg readv write writev
    sendto sendmsg sendfile64 futex sched_yield accept4 close mmap munmap madvise mprotect brk
    clock_gettime getsockopt setsockopt ioctl)
events=raw_syscalls:sys_enter,context-switches,page-faults,cpu-migrations
for c in "${calls[@]}"; do events+=",syscalls:sys_enter_$c"; done
eagain=(read recvfrom readv writev sendto write)

cpu_ticks() { # pids (comma-separated): utime stime, in clock ticks, summed
    local u=0 s=0 f
    for pid in ${1//,/ }; do
        read -r -a f < <(sed 's/.*) //' "/proc/$pid/stat")
        u=$((u + f[11])) s=$((s + f[12]))
    done
    echo "$u $s"
}

count() { # name, pids (comma-separated)
    local name=$1 pidlist=$2
    # Warm: the upstream pools fill, the allocator settles.
    wrk -t"$threads" -c"$connections" -d1s "http://127.0.0.1:$4$path" >/dev/null
    local filters=()
    for c in "${eagain[@]}"; do
        filters+=(-e "syscalls:sys_exit_$c" --filter 'ret == -11')
    done
    cpu_ticks "$pidlist" >"$out/cpu0.$name"
    perf stat -x, -o "$out/perf.$name" -e "$events" "${filters[@]}" -p "$pidlist" &
    local perf=$!
    sleep 0.3
    wrk -t"$threads" -c"$connections" -d"${seconds}s" "http://127.0.0.1:$4$path" >"$out/wrk.$name"
    kill -INT "$perf"
    wait "$perf" || true
    cpu_ticks "$pidlist" >"$out/cpu1.$name"
    local requests
    requests=$(awk '/requests in/{print $1}' "$out/wrk.$name")
    echo "$name $requests" >>"$out/requests"
    _=$3
}

nginx_pids=$(pgrep -d, -P "$nginx_pid" || true)
count nginx "$nginx_pid${nginx_pids:+,$nginx_pids}" - "$nginx_port"
count hyper "$hyper_pid" - "$hyper_port"
count davaudit "$davaudit_pid" - "$davaudit_port"

python3 - "$out" <<'EOF'
import collections, sys
out = sys.argv[1]
names = ["nginx", "hyper", "davaudit"]
requests = dict(l.split() for l in open(f"{out}/requests"))
rows = collections.OrderedDict()
for n in names:
    for line in open(f"{out}/perf.{n}"):
        f = line.strip().split(",")
        if len(f) < 3 or not f[0].replace(".", "").isdigit():
            continue
        ev = f[2]
        if ev == "raw_syscalls:sys_enter":
            key = "TOTAL"
        elif not ev.startswith("sys"):
            key = ev
        elif ev.startswith("syscalls:sys_enter_"):
            key = ev[len("syscalls:sys_enter_"):]
        else:
            key = ev[len("syscalls:sys_exit_"):] + " EAGAIN"
        rows.setdefault(key, {})[n] = float(f[0]) / int(requests[n])
print(f"requests: " + ", ".join(f"{n} {requests[n]}" for n in names))
print(f"{'syscall/request':<22}" + "".join(f"{n:>10}" for n in names))
for key, v in rows.items():
    if key in ("TOTAL",):
        continue
    if all(v.get(n, 0) < 0.005 for n in names):
        continue
    print(f"{key:<22}" + "".join(f"{v.get(n, 0):>10.3f}" for n in names))
v = rows.get("TOTAL", {})
print(f"{'TOTAL (all syscalls)':<22}" + "".join(f"{v.get(n, 0):>10.3f}" for n in names))
tick = 100
cpu = {}
for n in names:
    u0, s0 = map(int, open(f"{out}/cpu0.{n}").read().split())
    u1, s1 = map(int, open(f"{out}/cpu1.{n}").read().split())
    cpu[n] = ((u1 - u0) / tick / int(requests[n]) * 1e6, (s1 - s0) / tick / int(requests[n]) * 1e6)
print(f"{'CPU us/req user/sys':<22}" + "".join(f"{cpu[n][0]:>5.1f}/{cpu[n][1]:<4.1f}" for n in names))
EOF
echo "files: $out"
