# Sourced by the bench scripts that start servers (profile.sh, syscalls.sh): a temp dir, the
# pids of what the script starts (stopped at exit: TERM, up to 10 s, then KILL), free ports,
# and a wait for a server to answer.

# bench_tmp NAME: sets `out` to a new world-readable temp dir (nginx workers read it) and
# arms the cleanup of `pids`.
bench_tmp() {
    out=$(mktemp -d "/tmp/davaudit-$1.XXXXXX")
    chmod 755 "$out"
    pids=()
    trap bench_stop EXIT
    trap 'exit 130' INT TERM
}

bench_stop() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}

# free_ports N: N free loopback ports, on one line.
free_ports() {
    python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*(x.getsockname()[1] for x in s))' "$1"
}

# wait_http URL: until it answers 2xx (10 s at most).
wait_http() {
    for _ in $(seq 100); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "not answering: $1" >&2
    return 1
}
