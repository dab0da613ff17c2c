#!/usr/bin/env bash
# davaudit interop suite (issue 5): real WebDAV servers, real clients, a real Prometheus.
#
#   bash tests/interop/run.sh          (CI runs it from .ci/run after cargo test)
#
# Installs what it misses (Debian packages, as root), then on 127.0.0.1 with ports it picks:
# Apache httpd (mod_dav, mod_dav_fs, mod_dav_lock) and nginx (dav + dav-ext), each from its own
# config in a temp dir and each behind its own davaudit, and a Prometheus scraping both. Per
# backend it checks: litmus direct vs through davaudit, test by test; curl with every method,
# cadaver and rclone through davaudit; byte identity of direct vs proxied answers; audit truth
# (metric deltas and WARN events vs an independent count of the bodies the client received).
# Then Prometheus' HTTP API must hold the same series, and promtool must accept deploy/'s rules.
# Prints a summary table; exits non-zero on any mismatch. Everything it starts is stopped by pid
# and its temp dir removed, whatever happens (KEEP=1 keeps the temp dir for a look).
#
# Environment: DAVAUDIT=path/to/binary (default target/debug/davaudit, built if missing),
# KEEP=1 (keep the temp dir).
set -uo pipefail
umask 022 # the servers' unprivileged workers must read what the suite writes

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT" || exit 1
T0=$SECONDS
CURL=(curl -sS --connect-timeout 5 --max-time 60)

# Any python3 will do (standard library only); the system one starts fastest.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
"$PY" "$HERE/count_selftest.py" >/dev/null || { echo "count_selftest.py failed: the oracle misreads DESIGN.md"; exit 1; }

log() { printf '[%3ss] %s\n' "$((SECONDS - T0))" "$*"; }
indent() { sed 's/^/    /'; }
have() { command -v "$1" >/dev/null 2>&1; }
die() {
  log "FATAL: $*"
  exit 1
}

WORK=$(mktemp -d /tmp/davaudit-interop.XXXXXX) || exit 1
chmod 755 "$WORK" # the servers' unprivileged workers must reach their docroots
mkdir -p "$WORK/logs"
PIDS=()
POLICY_GUARD=false
RESULTS=$WORK/results.tsv
: >"$RESULTS"

# --------------------------------------------------------------------------------------------
# processes and cleanup

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]
}

# stop_pid PID: SIGTERM, up to 10 s, then SIGKILL; the children it had (Apache and nginx
# workers) are stopped the same way if they outlive it.
stop_pid() {
  local pid=$1 kids i
  alive "$pid" || return 0
  kids=$(pgrep -P "$pid" 2>/dev/null || true)
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  for pid in $kids; do
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  return 0
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  if ((rc != 0)); then
    log "failed (exit $rc); last lines of the logs:"
    for f in "$WORK"/*/davaudit.log "$WORK"/*/error.log "$WORK"/*/stdout.log \
      "$WORK"/prometheus/prometheus.log; do
      [ -s "$f" ] || continue
      echo "--- ${f#"$WORK"/}"
      tail -n 8 "$f" | cut -c1-400
    done
  fi
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${PIDS[i]}"
  done
  wait 2>/dev/null
  if $POLICY_GUARD; then rm -f /usr/sbin/policy-rc.d; fi
  if [ "${KEEP:-}" = 1 ]; then
    log "kept $WORK"
  else
    chmod -R u+w "$WORK" 2>/dev/null
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg LOGFILE CMD...: run CMD in the background; its pid in BG_PID and in PIDS.
start_bg() {
  local out=$1
  shift
  "$@" >"$out" 2>&1 </dev/null &
  BG_PID=$!
  PIDS+=("$BG_PID")
}

# wait_http PID URL [METHOD]: 0 once URL answers 2xx (bounded: 30 s), 1 if PID dies first.
wait_http() {
  local pid=$1 url=$2 method=${3:-GET} i
  for ((i = 0; i < 300; i++)); do
    alive "$pid" || return 1
    curl -fsS -o /dev/null --max-time 2 -X "$method" "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

freeport() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --------------------------------------------------------------------------------------------
# results

# record BACKEND CHECK OK|FAIL DETAIL
record() {
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"
  log "$1 / $2: $3 $4"
}

# --------------------------------------------------------------------------------------------
# tools

install_tools() {
  local pkgs=() p apt
  [ -x /usr/sbin/apache2 ] && [ -f /usr/lib/apache2/modules/mod_dav_fs.so ] || pkgs+=(apache2)
  [ -x /usr/sbin/nginx ] || pkgs+=(nginx)
  [ -f /usr/lib/nginx/modules/ngx_http_dav_ext_module.so ] || pkgs+=(libnginx-mod-http-dav-ext)
  for p in litmus cadaver rclone curl python3; do have "$p" || pkgs+=("$p"); done
  { have prometheus && have promtool; } || pkgs+=(prometheus)
  have pgrep || pkgs+=(procps)
  if ((${#pkgs[@]} == 0)); then
    log "tools: all present"
    return 0
  fi
  if [ "$(id -u)" != 0 ] || ! have apt-get; then
    die "missing ${pkgs[*]}: install them (or run as root)"
  fi
  log "installing ${pkgs[*]} (apt-get)"
  # Debian's packages start their system services on install where an init is present; the
  # suite runs its own instances only, so keep them from starting (unless a policy exists).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# davaudit interop suite: no service starts during its installs\nexit 101\n' \
      >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && POLICY_GUARD=true
  fi
  apt=(timeout 600 apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${pkgs[@]}")
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" >"$WORK/logs/apt.log" 2>&1; then
    log "install failed; apt-get update, then once more"
    timeout 300 apt-get update -qq -o DPkg::Lock::Timeout=300 >>"$WORK/logs/apt.log" 2>&1
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" >>"$WORK/logs/apt.log" 2>&1 || {
      tail -n 20 "$WORK/logs/apt.log"
      die "apt-get install ${pkgs[*]} failed"
    }
  fi
  if $POLICY_GUARD; then
    rm -f /usr/sbin/policy-rc.d
    POLICY_GUARD=false
  fi
  log "tools installed"
}

find_davaudit() {
  BIN=${DAVAUDIT:-}
  if [ -z "$BIN" ]; then
    if [ -x target/debug/davaudit ]; then
      BIN=target/debug/davaudit
    elif [ -x target/release/davaudit ]; then
      BIN=target/release/davaudit
    else
      log "building davaudit (cargo build)"
      cargo build --locked --quiet || die "cargo build failed"
      BIN=target/debug/davaudit
    fi
  fi
  BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
  [ -x "$BIN" ] || die "no davaudit binary at $BIN"
  if [ -n "$(find src -name '*.rs' -newer "$BIN" -print -quit 2>/dev/null)" ]; then
    log "note: src/ is newer than $BIN (run cargo build to test the current code)"
  fi
  log "davaudit: $BIN ($("$BIN" --version 2>&1))"
}

# --------------------------------------------------------------------------------------------
# servers

if id www-data >/dev/null 2>&1; then RUN_USER=www-data RUN_GROUP=www-data; else RUN_USER=nobody RUN_GROUP=nogroup; fi
IS_ROOT=false
[ "$(id -u)" = 0 ] && IS_ROOT=true

# render TEMPLATE OUT KEY=VALUE...: fill in @KEY@; without root the User lines go (the
# server then runs as us, and permissions still keep it from deleting a read-only member).
render() {
  local tpl=$1 out=$2 args=() kv
  shift 2
  for kv in "$@" "USER=$RUN_USER" "GROUP=$RUN_GROUP"; do
    args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
  done
  if $IS_ROOT; then
    sed "${args[@]}" "$tpl" >"$out"
  else
    sed -e '/@USER@/d' "${args[@]}" "$tpl" >"$out"
  fi
}

# Per backend: D (direct URL), P (through davaudit), A (davaudit admin), DOCROOT, DALOG.
declare -A D P A DOCROOT DALOG

own() { if $IS_ROOT; then chown "$RUN_USER:$RUN_GROUP" "$@"; fi; }

start_apache() {
  local dir=$WORK/apache attempt port
  mkdir -p "$dir/run" "$dir/lock" "$dir/docroot"
  own "$dir/lock" "$dir/docroot"
  for attempt in 1 2 3; do
    port=$(freeport)
    render "$HERE/apache.conf.in" "$dir/httpd.conf" "DIR=$dir" "PORT=$port" "DOCROOT=$dir/docroot"
    /usr/sbin/apache2 -t -f "$dir/httpd.conf" >"$dir/configtest.log" 2>&1 ||
      die "apache config: $(cat "$dir/configtest.log")"
    start_bg "$dir/stdout.log" /usr/sbin/apache2 -f "$dir/httpd.conf" -DFOREGROUND
    if wait_http "$BG_PID" "http://127.0.0.1:$port/" OPTIONS; then
      D[apache]=http://127.0.0.1:$port DOCROOT[apache]=$dir/docroot
      log "apache: $(/usr/sbin/apache2 -v | head -n 1 | cut -d' ' -f3) on ${D[apache]} (pid $BG_PID)"
      return 0
    fi
    log "apache did not come up (attempt $attempt): $(tail -n 2 "$dir/error.log" "$dir/stdout.log" 2>/dev/null | tr '\n' ' ')"
    stop_pid "$BG_PID"
  done
  die "apache did not start"
}

start_nginx() {
  local dir=$WORK/nginx attempt port
  mkdir -p "$dir/tmp" "$dir/docroot"
  own "$dir/tmp" "$dir/docroot"
  for attempt in 1 2 3; do
    port=$(freeport)
    render "$HERE/nginx.conf.in" "$dir/nginx.conf" "DIR=$dir" "PORT=$port" "DOCROOT=$dir/docroot"
    start_bg "$dir/stdout.log" /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
    if wait_http "$BG_PID" "http://127.0.0.1:$port/" OPTIONS; then
      D[nginx]=http://127.0.0.1:$port DOCROOT[nginx]=$dir/docroot
      log "nginx: $(/usr/sbin/nginx -v 2>&1 | cut -d/ -f2) with dav-ext on ${D[nginx]} (pid $BG_PID)"
      return 0
    fi
    log "nginx did not come up (attempt $attempt): $(tail -n 2 "$dir/error.log" "$dir/stdout.log" 2>/dev/null | tr '\n' ' ')"
    stop_pid "$BG_PID"
  done
  die "nginx did not start"
}

# start_davaudit BACKEND: a davaudit in front of BACKEND, ready (/readyz) before it returns.
start_davaudit() {
  local b=$1 dir=$WORK/$1 attempt port admin
  for attempt in 1 2 3; do
    port=$(freeport)
    admin=$(freeport)
    render "$HERE/davaudit.yaml.in" "$dir/davaudit.yaml" "PORT=$port" "ADMIN_PORT=$admin" \
      "UPSTREAM_PORT=${D[$b]##*:}"
    "$BIN" check-config "$dir/davaudit.yaml" >"$dir/check-config.log" 2>&1 ||
      die "davaudit check-config: $(cat "$dir/check-config.log")"
    start_bg "$dir/davaudit.log" "$BIN" --config "$dir/davaudit.yaml"
    if wait_http "$BG_PID" "http://127.0.0.1:$admin/readyz"; then
      P[$b]=http://127.0.0.1:$port A[$b]=http://127.0.0.1:$admin DALOG[$b]=$dir/davaudit.log
      log "davaudit for $b: ${P[$b]}, admin ${A[$b]} (pid $BG_PID)"
      return 0
    fi
    log "davaudit for $b did not become ready (attempt $attempt): $(tail -n 2 "$dir/davaudit.log" | tr '\n' ' ')"
    stop_pid "$BG_PID"
  done
  die "davaudit for $b did not start"
}

start_prometheus() {
  local dir=$WORK/prometheus attempt port
  mkdir -p "$dir/data"
  cp deploy/prometheus/recording.yml deploy/prometheus/alerts.yml "$dir/"
  # scrape.yml sends the bearer token of admin.metrics_token_file from this file (relative to
  # prometheus.yml); the suite's davaudits set no token, so any token is accepted.
  printf 'interop-suite-token\n' >"$dir/davaudit-metrics-token"
  "$PY" "$HERE/check.py" promconf deploy/prometheus/scrape.yml "$dir/prometheus.yml" \
    "${A[apache]#http://}" "${A[nginx]#http://}" || die "cannot derive prometheus.yml"
  if promtool check config "$dir/prometheus.yml" >"$dir/check-config.log" 2>&1; then
    PROM_CONFIG_OK=true
  else
    PROM_CONFIG_OK=false
    indent <"$dir/check-config.log"
  fi
  for attempt in 1 2 3; do
    port=$(freeport)
    start_bg "$dir/prometheus.log" prometheus --config.file="$dir/prometheus.yml" \
      --storage.tsdb.path="$dir/data" --web.listen-address="127.0.0.1:$port"
    if wait_http "$BG_PID" "http://127.0.0.1:$port/-/ready"; then
      PROM=http://127.0.0.1:$port
      log "prometheus: $(prometheus --version 2>&1 | head -n 1 | cut -d' ' -f3) on $PROM (pid $BG_PID)"
      return 0
    fi
    log "prometheus did not come up (attempt $attempt): $(tail -n 2 "$dir/prometheus.log" | tr '\n' ' ')"
    stop_pid "$BG_PID"
  done
  die "prometheus did not start"
}

# --------------------------------------------------------------------------------------------
# helpers for requests

# must METHOD URL CODE [curl args...]: a setup request straight to a backend.
must() {
  local m=$1 url=$2 want=$3 got
  shift 3
  got=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X "$m" "$@" "$url") || got=curl-error
  [ "$got" = "$want" ] || die "setup: $m $url answered $got, expected $want"
}

XML=(-H 'Content-Type: application/xml')
LITMUS_CREDS=() # user and password for litmus, where a server needs them
BODIES=$HERE/bodies
# shellcheck source=tests/interop/servers.sh
. "$HERE/servers.sh"
# shellcheck source=tests/interop/lighttpd_fragment.sh
. "$HERE/lighttpd_fragment.sh"

# --------------------------------------------------------------------------------------------
# litmus, direct and through davaudit

phase_litmus() {
  local b=$1 dir=$WORK/$1/litmus side url
  mkdir -p "$dir/direct" "$dir/proxied"
  must MKCOL "${D[$b]}/litmus-direct/" 201
  must MKCOL "${D[$b]}/litmus-proxied/" 201
  for side in direct proxied; do
    if [ $side = direct ]; then url=${D[$b]}/litmus-direct/; else url=${P[$b]}/litmus-proxied/; fi
    # litmus writes debug.log and child.log to its working directory.
    (cd "$dir/$side" && timeout 120 litmus -k "$url" "${LITMUS_CREDS[@]}" >"$dir/$side.txt" 2>&1)
  done
  if "$PY" "$HERE/check.py" litmus "$dir/direct.txt" "$dir/proxied.txt" "$dir/result.json" \
    >"$dir/compare.txt"; then
    indent <"$dir/compare.txt"
    record "$b" litmus OK "$("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["same"], "tests, same result")' "$dir/result.json")"
  else
    indent <"$dir/compare.txt"
    record "$b" litmus FAIL "direct and proxied differ (see above)"
  fi
}

# --------------------------------------------------------------------------------------------
# curl: every method through davaudit, the same sequence direct for comparison

# creq DIR STEP METHOD URL [curl args...]: appends "STEP METHOD CODE" to DIR/statuses.
creq() {
  local dir=$1 step=$2 m=$3 url=$4 code
  shift 4
  code=$("${CURL[@]}" -o "$dir/$step.body" -D "$dir/$step.hdr" -w '%{http_code}' -X "$m" "$@" "$url") ||
    code=curl-error
  echo "$step $m $code" >>"$dir/statuses"
}

curl_sequence() {
  local base=$1 dir=$2 tok
  mkdir -p "$dir"
  : >"$dir/statuses"
  creq "$dir" 01 MKCOL "$base/"
  creq "$dir" 02 PUT "$base/f.txt" --data-binary "@$WORK/tree/sub/a.txt"
  creq "$dir" 03 PUT "$base/f.txt" --data-binary "@$WORK/tree/big.bin" -H 'Transfer-Encoding: chunked'
  creq "$dir" 04 GET "$base/f.txt"
  creq "$dir" 05 PROPFIND "$base/" -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-allprop.xml"
  creq "$dir" 06 PROPPATCH "$base/f.txt" "${XML[@]}" --data-binary "@$BODIES/proppatch-dead.xml"
  creq "$dir" 07 COPY "$base/f.txt" -H "Destination: $base/g.txt"
  creq "$dir" 08 MOVE "$base/g.txt" -H "Destination: $base/h.txt"
  creq "$dir" 09 LOCK "$base/f.txt" -H 'Timeout: Second-600' "${XML[@]}" --data-binary "@$BODIES/lockinfo.xml"
  tok=$(grep -i '^lock-token:' "$dir/09.hdr" | sed 's/^[^:]*:[[:space:]]*//' | tr -d '\r')
  creq "$dir" 10 PUT "$base/f.txt" --data-binary "@$WORK/tree/sub/a.txt"
  creq "$dir" 11 PUT "$base/f.txt" --data-binary "@$WORK/tree/sub/a.txt" -H "If: <$base/f.txt> ($tok)"
  creq "$dir" 12 UNLOCK "$base/f.txt" -H "Lock-Token: $tok"
  creq "$dir" 13 DELETE "$base/h.txt"
  creq "$dir" 14 DELETE "$base/"
}

phase_curl() {
  local b=$1 dir=$WORK/$1/curl bad=() step m code want
  curl_sequence "${D[$b]}/curl-direct" "$dir/direct"
  curl_sequence "${P[$b]}/curl-proxied" "$dir/proxied"
  # Expected answers where both servers agree; 06 (PROPPATCH) is whatever the server says
  # (nginx has no PROPPATCH), direct and proxied alike.
  while read -r step m code; do
    case $step in
      06) want='*' ;;
      10) want=423 ;;
      *) want='2??' ;;
    esac
    # shellcheck disable=SC2254
    case $code in $want) ;; *) bad+=("$m($step)=$code") ;; esac
  done <"$dir/proxied/statuses"
  if ! diff <(cut -d' ' -f2,3 "$dir/direct/statuses") <(cut -d' ' -f2,3 "$dir/proxied/statuses") >"$dir/diff"; then
    bad+=("direct vs proxied: $(tr '\n' ' ' <"$dir/diff")")
  fi
  cmp -s "$dir/proxied/04.body" "$WORK/tree/big.bin" || bad+=("GET body differs from the PUT")
  echo "    proxied: $(cut -d' ' -f2,3 "$dir/proxied/statuses" | tr ' \n' '=,' | sed 's/,$//; s/,/, /g')"
  if ((${#bad[@]} == 0)); then
    record "$b" curl OK "$(wc -l <"$dir/proxied/statuses") requests, same answers as direct"
  else
    record "$b" curl FAIL "${bad[*]}"
  fi
}

# --------------------------------------------------------------------------------------------
# cadaver, scripted on stdin

cadaver_run() {
  local url=$1 col=$2 dir=$3
  mkdir -p "$dir"
  printf 'hello from cadaver\n' >"$dir/up.txt"
  (cd "$dir" && printf '%s\n' "mkcol $col" "cd $col" "put up.txt" "ls" "get up.txt down.txt" \
    "copy up.txt copy.txt" "move copy.txt moved.txt" "propset up.txt colour blue" \
    "propget up.txt colour" "lock up.txt" "unlock up.txt" "rm moved.txt" "rm up.txt" "cd .." \
    "rmcol $col" "quit" | HOME=$dir timeout 60 cadaver "$url/" >"$dir/transcript.txt" 2>&1)
  # Comparable transcript: no collection name, no listing dates, no ports.
  sed -e "s/$col/COL/g" -e 's/[A-Z][a-z][a-z] [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]//' \
    -e 's/127\.0\.0\.1:[0-9]*/HOST/g' "$dir/transcript.txt" >"$dir/normalized.txt"
}

phase_cadaver() {
  local b=$1 dir=$WORK/$1/cadaver bad=() ok
  cadaver_run "${D[$b]}" cad-direct "$dir/direct"
  cadaver_run "${P[$b]}" cad-proxied "$dir/proxied"
  ok=$(grep -c 'succeeded\.' "$dir/proxied/transcript.txt")
  diff "$dir/direct/normalized.txt" "$dir/proxied/normalized.txt" >"$dir/diff" ||
    bad+=("transcript differs from direct: $(grep '^[<>]' "$dir/diff" | head -n 4 | tr '\n' ' ')")
  cmp -s "$dir/proxied/up.txt" "$dir/proxied/down.txt" || bad+=("get != put")
  for verb in Creating Uploading Downloading Copying Moving Locking Unlocking Deleting; do
    grep -q "^.*$verb .*succeeded\." "$dir/proxied/transcript.txt" || bad+=("$verb failed")
  done
  if ((${#bad[@]} == 0)); then
    record "$b" cadaver OK "$ok commands succeeded, transcript equal to direct"
  else
    sed -n '1,40p' "$dir/proxied/transcript.txt" | indent
    record "$b" cadaver FAIL "${bad[*]}"
  fi
}

# --------------------------------------------------------------------------------------------
# rclone as a WebDAV client: a tree in and out, checksums compared

make_tree() {
  local t=$WORK/tree
  mkdir -p "$t/sub/deep" "$t/other dir"
  head -c 1048576 /dev/urandom >"$t/big.bin"
  printf 'plain text\n' >"$t/sub/a.txt"
  printf 'spaces and unicode\n' >"$t/sub/deep/sp ace é ü.txt"
  printf '%s\n' {1..2000} >"$t/other dir/numbers.txt"
  : >"$t/empty"
}

sums() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); }

phase_rclone() {
  local b=$1 dir=$WORK/$1/rclone remote bad=() n
  mkdir -p "$dir/out"
  remote=":webdav,url='${P[$b]}/',vendor=other:rclone-tree"
  local rcl=(timeout 120 rclone --config "$dir/none.conf" --timeout 30s --contimeout 5s
    --retries 1 --low-level-retries 1 -q)
  "${rcl[@]}" copy "$WORK/tree" "$remote" >"$dir/copy-in.log" 2>&1 || bad+=("copy in: $(tail -n 2 "$dir/copy-in.log")")
  "${rcl[@]}" check --download "$WORK/tree" "$remote" >"$dir/check.log" 2>&1 || bad+=("rclone check: $(tail -n 2 "$dir/check.log")")
  "${rcl[@]}" copy "$remote" "$dir/out" >"$dir/copy-out.log" 2>&1 || bad+=("copy out: $(tail -n 2 "$dir/copy-out.log")")
  sums "$WORK/tree" >"$dir/src.sha256"
  sums "$dir/out" >"$dir/out.sha256"
  sums "${DOCROOT[$b]}/rclone-tree" >"$dir/server.sha256"
  n=$(wc -l <"$dir/src.sha256")
  cmp -s "$dir/src.sha256" "$dir/out.sha256" || bad+=("tree out != tree in")
  cmp -s "$dir/src.sha256" "$dir/server.sha256" || bad+=("files on the server != tree in")
  if ((${#bad[@]} == 0)); then
    record "$b" rclone OK "$n files in and out, sha256 equal (client, server disk, copy back)"
  else
    record "$b" rclone FAIL "${bad[*]}"
  fi
}

# --------------------------------------------------------------------------------------------
# byte identity: the same read-only requests direct and proxied

# ifetch SIDE URL NAME METHOD [curl args...]: one answer into ID_DIR/SIDE/NAME.{hdr,body}.
ifetch() {
  local side=$1 url=$2 name=$3 m=$4 out
  shift 4
  out=$ID_DIR/$side/$name
  : >"$out.body" # curl writes no file for an answer without a body (304)
  if [ "$m" = HEAD ]; then
    "${CURL[@]}" --head -o "$out.hdr" "$@" "$url" 2>"$out.err"
  else
    "${CURL[@]}" -D "$out.hdr" -o "$out.body" -X "$m" "$@" "$url" 2>"$out.err"
  fi
}

# bodyhash FILE: sha256 (16 hex digits) of a body; with ID_MASK set (a sed -E script), of the
# body with that server's own per-answer noise masked (WsgiDAV writes the time, to the
# microsecond, into its error pages).
bodyhash() {
  if [ -n "${ID_MASK:-}" ]; then
    sed -E "$ID_MASK" "$1" | sha256sum | cut -c1-16
  else
    sha256sum <"$1" | cut -c1-16
  fi
}

# ireq NAME METHOD PATH [curl args...]: direct, then through davaudit. The status line, the
# headers (minus Date and hop-by-hop ones) and the sha256 of the body must be equal.
# Apache is not deterministic itself: the order of the xmlns declarations it writes in a
# PROPFIND answer comes from a hash table and changes between identical requests. So the pair
# is repeated (bounded) until the proxied body equals one of the bodies Apache sent directly;
# a proxy that changed bytes never gets there.
ireq() {
  local name=$1 m=$2 path=$3 attempt a b why status seen=" " note=""
  shift 3
  ID_N=$((ID_N + 1))
  for ((attempt = 1; attempt <= 20; attempt++)); do
    ifetch direct "$ID_D$path" "$name" "$m" "$@"
    ifetch proxied "$ID_P$path" "$name" "$m" "$@"
    a=$(bodyhash "$ID_DIR/direct/$name.body")
    b=$(bodyhash "$ID_DIR/proxied/$name.body")
    seen="$seen$a "
    why=$("$PY" "$HERE/check.py" headers "$ID_DIR/direct/$name.hdr" "$ID_DIR/proxied/$name.hdr")
    status=$?
    if [[ $seen != *" $b "* ]]; then
      why="$why body sha256 $b is none of the direct ones:$seen"
      status=1
    fi
    [ $status = 0 ] && break
  done
  if ((attempt > 1 && status == 0)); then
    note=" (attempt $attempt; $(wc -w <<<"$seen" ) direct answers, $(tr ' ' '\n' <<<"$seen" | sort -u | grep -c .) variants)"
  fi
  printf '    %-20s %-9s %-32s body %s %s%s\n' "$name" "$m" "$(head -n 1 <<<"$why")" "$b" \
    "$([ $status = 0 ] && echo same || echo DIFFERENT)" "$note"
  if [ $status != 0 ]; then
    tail -n +2 <<<"$why" | indent
    ID_BAD+=("$name")
  fi
}

phase_identity() {
  local b=$1 etag
  ID_DIR=$WORK/$b/identity ID_D=${D[$b]} ID_P=${P[$b]} ID_N=0 ID_BAD=()
  mkdir -p "$ID_DIR/direct" "$ID_DIR/proxied"
  must MKCOL "${D[$b]}/bi/" 201
  must MKCOL "${D[$b]}/bi/sub/" 201
  must PUT "${D[$b]}/bi/file.txt" 201 --data-binary "@$WORK/tree/other dir/numbers.txt"
  must PUT "${D[$b]}/bi/big.bin" 201 --data-binary "@$WORK/tree/big.bin"
  must PUT "${D[$b]}/bi/sub/x.txt" 201 --data-binary "@$WORK/tree/sub/a.txt"
  etag=$("${CURL[@]}" --head "${D[$b]}/bi/file.txt" | grep -i '^etag:' | sed 's/^[^:]*:[[:space:]]*//' | tr -d '\r')
  ireq get GET /bi/file.txt
  ireq get-1MiB GET /bi/big.bin
  ireq get-range GET /bi/big.bin -H 'Range: bytes=1000-70999'
  ireq get-304 GET /bi/file.txt -H "If-None-Match: $etag"
  ireq get-missing GET /bi/missing.txt
  ireq get-collection GET /bi/
  ireq head HEAD /bi/file.txt
  ireq options OPTIONS /bi/
  ireq propfind-d0 PROPFIND /bi/ -H 'Depth: 0'
  ireq propfind-allprop PROPFIND /bi/ -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-allprop.xml"
  ireq propfind-propname PROPFIND /bi/ -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-propname.xml"
  ireq propfind-unknown PROPFIND /bi/ -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-unknown.xml"
  ireq propfind-infinity PROPFIND /bi/ -H 'Depth: infinity'
  ireq propfind-malformed PROPFIND /bi/ -H 'Depth: 0' "${XML[@]}" --data-binary "@$BODIES/propfind-bad.xml"
  ireq mkcol-exists MKCOL /bi/
  ireq delete-missing DELETE /bi/missing.txt
  ireq move-no-dest MOVE /bi/file.txt
  ireq propfind-missing PROPFIND /bi/missing.txt -H 'Depth: 0'
  ireq unlock-no-token UNLOCK /bi/file.txt
  ireq proppatch-missing PROPPATCH /bi/missing.txt "${XML[@]}" --data-binary "@$BODIES/proppatch-dead.xml"
  # HTTP/2 (h2c) to davaudit, HTTP/1.1 upstream: same status code and body bytes.
  local h2a h2b seen=" " attempt
  if curl -V | grep -qw HTTP2; then
    ID_N=$((ID_N + 1))
    for ((attempt = 1; attempt <= 20; attempt++)); do
      h2a=$("${CURL[@]}" -o "$ID_DIR/direct/h2.body" -w '%{http_code}' -X PROPFIND -H 'Depth: 1' "${D[$b]}/bi/")
      h2b=$("${CURL[@]}" --http2-prior-knowledge -o "$ID_DIR/proxied/h2.body" -w '%{http_code} %{http_version}' \
        -X PROPFIND -H 'Depth: 1' "${P[$b]}/bi/")
      seen="$seen$(sha256sum <"$ID_DIR/direct/h2.body" | cut -c1-16) "
      [ "$h2a 2" = "$h2b" ] && [[ $seen == *" $(sha256sum <"$ID_DIR/proxied/h2.body" | cut -c1-16) "* ]] && break
    done
    if ((attempt <= 20)); then
      printf '    %-20s %-9s %-32s body same\n' h2c-propfind PROPFIND "HTTP/2 $h2a (h2c to davaudit)"
    else
      printf '    %-20s %-9s direct %s, proxied %s: status or body DIFFERENT\n' h2c-propfind PROPFIND "$h2a" "$h2b"
      ID_BAD+=(h2c-propfind)
    fi
  fi
  if ((${#ID_BAD[@]} == 0)); then
    record "$b" identity OK "$ID_N requests: status line, headers, body sha256 equal"
  else
    record "$b" identity FAIL "differ: ${ID_BAD[*]}"
  fi
}

# --------------------------------------------------------------------------------------------
# audit truth

# areq STEP METHOD PATH [curl args...]: through davaudit; the answer goes into the manifest
# that count.py reads.
areq() {
  local step=$1 m=$2 path=$3 res code ctype
  shift 3
  res=$("${CURL[@]}" -o "$AU_DIR/$step.body" -D "$AU_DIR/$step.hdr" -w '%{http_code}\t%{content_type}' \
    -X "$m" "$@" "${AU_P}$path") || res="000	"
  code=${res%%$'\t'*}
  ctype=${res#*$'\t'}
  printf '%s\t%s\t%s\t%s\n' "$m" "$code" "$ctype" "$AU_DIR/$step.body" >>"$AU_DIR/manifest.tsv"
  printf '    %-3s %-9s %-34s -> %s %s\n' "$step" "$m" "$path" "$code" "$ctype"
}

phase_audit() {
  local b=$1 d=${D[$1]} offset i exp rc=1
  AU_DIR=$WORK/$b/audit AU_P=${P[$b]}
  mkdir -p "$AU_DIR"
  : >"$AU_DIR/manifest.tsv"
  # Set-up, straight to the backend (it does not touch the metrics).
  must MKCOL "$d/audit/" 201
  must MKCOL "$d/audit/tree/" 201
  must MKCOL "$d/audit/tree/sub/" 201
  must PUT "$d/audit/tree/a.txt" 201 --data-binary "@$WORK/tree/sub/a.txt"
  must PUT "$d/audit/tree/b.txt" 201 --data-binary "@$WORK/tree/sub/a.txt"
  must PUT "$d/audit/tree/sub/c.txt" 201 --data-binary "@$WORK/tree/sub/a.txt"
  must MKCOL "$d/audit/locked/" 201
  must PUT "$d/audit/locked/m1" 201 --data-binary "@$WORK/tree/sub/a.txt"
  must PUT "$d/audit/locked/m2" 201 --data-binary "@$WORK/tree/sub/a.txt"
  # Another client's lock on one member.
  must LOCK "$d/audit/locked/m1" 200 -H 'Timeout: Second-3600' "${XML[@]}" --data-binary "@$BODIES/lockinfo.xml"
  must MKCOL "$d/audit/copysrc/" 201
  must PUT "$d/audit/copysrc/x" 201 --data-binary "@$WORK/tree/sub/a.txt"
  # A member the server cannot delete: its collection is read-only for the server's user.
  must MKCOL "$d/audit/undeletable/" 201
  must MKCOL "$d/audit/undeletable/keep/" 201
  must PUT "$d/audit/undeletable/keep/pinned" 201 --data-binary "@$WORK/tree/sub/a.txt"
  must PUT "$d/audit/undeletable/other" 201 --data-binary "@$WORK/tree/sub/a.txt"
  chmod 555 "${DOCROOT[$b]}/audit/undeletable/keep"

  curl -fsS --max-time 10 "${A[$b]}/metrics" >"$AU_DIR/before.prom" || die "cannot read ${A[$b]}/metrics"
  offset=$(stat -c %s "${DALOG[$b]}")
  # The same requests to every backend; count.py derives what each answer must add.
  areq 01 PROPFIND /audit/tree/ -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-unknown.xml"
  areq 02 PROPFIND /audit/tree/ -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-allprop.xml"
  areq 03 PROPFIND /audit/tree/ -H 'Depth: infinity'
  areq 04 PROPPATCH /audit/tree/a.txt "${XML[@]}" --data-binary "@$BODIES/proppatch-protected.xml"
  areq 05 PROPPATCH /audit/tree/b.txt "${XML[@]}" --data-binary "@$BODIES/proppatch-dead.xml"
  areq 06 DELETE /audit/locked/
  areq 07 MOVE /audit/locked/ -H "Destination: $AU_P/audit/moved/"
  areq 08 COPY /audit/copysrc/ -H "Destination: $AU_P/audit/locked/" -H 'Overwrite: T'
  areq 09 LOCK /audit/locked/ -H 'Depth: infinity' -H 'Timeout: Second-60' "${XML[@]}" --data-binary "@$BODIES/lockinfo.xml"
  areq 10 PUT /audit/locked/m1 --data-binary "@$WORK/tree/sub/a.txt"
  areq 11 DELETE /audit/undeletable/
  areq 12 PROPFIND /audit/ -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-propname.xml"
  "$PY" "$HERE/count.py" "$AU_DIR/manifest.tsv" >"$AU_DIR/expected.json" || die "count.py failed"
  # The audit of a body ends just after its last byte reached the client: poll (bounded).
  for ((i = 0; i < 50; i++)); do
    curl -fsS --max-time 10 "${A[$b]}/metrics" >"$AU_DIR/after.prom" || true
    if "$PY" "$HERE/check.py" audit "$AU_DIR/before.prom" "$AU_DIR/after.prom" "$AU_DIR/expected.json" \
      "${DALOG[$b]}" "$offset" "$AU_DIR/result.json" >"$AU_DIR/compare.txt"; then
      rc=0
      break
    fi
    sleep 0.1
  done
  indent <"$AU_DIR/compare.txt"
  exp=$("$PY" -c 'import json,sys
e = json.load(open(sys.argv[1]))
print(sum(e["entries"].values()), sum(e["failures"].values()), e["partial"], e["bodies"])' "$AU_DIR/expected.json")
  read -r AU_ENTRIES AU_FAILURES AU_PARTIAL AU_BODIES <<<"$exp"
  AU_OK=$rc
  # A check that counted nothing would prove nothing: each backend must have produced what it
  # is known to produce (Apache: partial failures in 207 and 424 bodies; nginx, whose 207s
  # carry 200 propstats only: entries).
  if [ "$b" = apache ]; then
    local missing
    missing=$("$PY" -c 'import json, sys
f = json.load(open(sys.argv[1]))["failures"]
want = ["PROPPATCH propstat 409", "PROPPATCH propstat 424", "DELETE response 423",
        "MOVE response 423", "COPY response 423", "LOCK response 423", "LOCK propstat 424",
        "DELETE response 403"]
print(" ".join(w.replace(" ", "/") for w in want if w not in f))' "$AU_DIR/expected.json")
    if [ -n "$missing" ]; then
      AU_OK=1
      log "apache did not produce the partial failures its scenarios are made for: $missing"
    fi
  fi
  if ((AU_ENTRIES == 0)); then
    AU_OK=1
    log "$b: no multistatus entries at all"
  fi
}

# --------------------------------------------------------------------------------------------
# main

log "davaudit interop suite; temp dir $WORK"
install_tools
install_more_tools
find_davaudit
make_tree
# Watchdog: every step is bounded already; this bounds their sum (installs excluded).
LIMIT=${INTEROP_LIMIT:-1500}
(sleep "$LIMIT" && echo "watchdog: still running after ${LIMIT}s, stopping" && kill -TERM $$) &
PIDS+=("$!")

# INTEROP_ONLY="lighttpd radicale" runs only those added servers (for work on one of them):
# no Apache, nginx, Prometheus or browser then.
ONLY=${INTEROP_ONLY:-}
if [ -n "$ONLY" ]; then
  read -r -a MORE_SERVERS <<<"$ONLY"
  FIRST=()
else
  FIRST=(apache nginx)
  start_apache
  start_nginx
  start_davaudit apache
  start_davaudit nginx
  start_prometheus
fi

for b in "${FIRST[@]}"; do
  log "== $b: litmus, direct (${D[$b]}) and through davaudit (${P[$b]})"
  phase_litmus "$b"
  log "== $b: curl, every method through davaudit"
  phase_curl "$b"
  log "== $b: cadaver (scripted)"
  phase_cadaver "$b"
  log "== $b: rclone (tree in, check, tree out)"
  phase_rclone "$b"
  log "== $b: byte identity, direct vs through davaudit"
  phase_identity "$b"
  log "== $b: audit truth (metric deltas and WARN events vs count.py on the received bodies)"
  phase_audit "$b"
  if [ "$AU_OK" = 0 ]; then st=OK; else st=FAIL; fi
  counted() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["counted"])' \
    "$AU_DIR/result.json" "$1" 2>/dev/null || echo '?'; }
  record "$b" audit-entries "$st" "expected $AU_ENTRIES, davaudit counted $(counted entries) (statuses in $AU_BODIES audited bodies)"
  record "$b" audit-failures "$st" "expected $AU_FAILURES, davaudit counted $(counted failures); partial-failure bodies $AU_PARTIAL, WARN events $(counted warn_events)"
done

for b in "${MORE_SERVERS[@]}"; do
  run_more "$b"
done

if [ -z "$ONLY" ]; then
  log "== prometheus: deploy/prometheus/scrape.yml scraping both davaudits every 1s"
  if $PROM_CONFIG_OK; then
    record - promtool-config OK "promtool check config on the generated prometheus.yml"
  else
    record - promtool-config FAIL "promtool check config on the generated prometheus.yml"
  fi
  if promtool check rules deploy/prometheus/recording.yml deploy/prometheus/alerts.yml \
    >"$WORK/logs/promtool-rules.log" 2>&1; then
    record - promtool-rules OK "recording.yml + alerts.yml: $(awk '/rules found/ { n += $2 } END { print n }' "$WORK/logs/promtool-rules.log") rules"
  else
    indent <"$WORK/logs/promtool-rules.log"
    record - promtool-rules FAIL "promtool check rules deploy/prometheus/{recording,alerts}.yml"
  fi
  for b in apache nginx; do
    curl -fsS --max-time 10 "${A[$b]}/metrics" >"$WORK/$b/final.prom" || die "cannot read ${A[$b]}/metrics"
  done
  if "$PY" "$HERE/check.py" prom "$PROM" 60 \
    "${A[apache]#http://}=$WORK/apache/final.prom" "${A[nginx]#http://}=$WORK/nginx/final.prom" \
    >"$WORK/logs/prom.txt"; then
    grep -v '^summary:' "$WORK/logs/prom.txt" | indent
    record - prometheus OK "$(sed -n 's/^summary: //p' "$WORK/logs/prom.txt")"
  else
    indent <"$WORK/logs/prom.txt"
    record - prometheus FAIL "series differ from davaudit's /metrics (see above)"
  fi

  log "== live view (issue 9): headless Chromium renders apache's davaudit admin page"
  BROWSER_OUT=${BROWSER_OUT:-/tmp/davaudit-interop-browser}
  rm -rf "$BROWSER_OUT"
  if OUT="$BROWSER_OUT" timeout 300 bash "$HERE/browser.sh" "${A[apache]}" >"$WORK/logs/browser.log" 2>&1; then
    tail -n 6 "$WORK/logs/browser.log" | indent
    record - live-view OK "Chromium's DOM lists every failing href; screenshots in $BROWSER_OUT"
  else
    indent <"$WORK/logs/browser.log"
    record - live-view FAIL "tests/interop/browser.sh ${A[apache]} (see above)"
  fi
fi

[ -z "$ONLY" ] && . "$HERE/prom_token.sh" # admin tokens: Prometheus with the token up, 401 without (#17)
[ -z "$ONLY" ] && . "$HERE/outage.sh" # connection metrics vs the client; upstream down: up 0, alert pending (#16)
[ -z "$ONLY" ] && . "$HERE/access_log.sh" # log.access lines vs what curl did (#16 item 5)

# --------------------------------------------------------------------------------------------
# summary

summary() {
  local b check st detail
  echo
  echo "==================== davaudit interop summary ===================="
  "$PY" - "$WORK" "${FIRST[@]}" "${MORE_SERVERS[@]}" <<'EOF'
import json, os, sys
work = sys.argv[1]
suites = ["basic", "copymove", "props", "locks", "http"]
print(f"{'litmus passed/run':<20}" + "".join(f"{s:>10}" for s in suites) + "   test by test")
for b in sys.argv[2:]:
    p = os.path.join(work, b, "litmus", "result.json")
    if not os.path.exists(p):
        continue
    r = json.load(open(p))
    for side in ("direct", "proxied"):
        cells = "".join(f"{'/'.join(map(str, r[side].get(s, ['-', '-']))):>10}" for s in suites)
        tail = ""
        if side == "proxied":
            tail = f"   {r['same']} same" + (f", {len(r['diffs'])} DIFFERENT" if r["diffs"] else "")
            tail += f"; warnings {r['warnings_direct']}/{r['warnings_proxied']}"
        print(f"{b + ' ' + side:<20}{cells}{tail}")
    for w in r["warning_diffs"]:
        print(f"  note ({b}): litmus warning not in both runs: {w}")
EOF
  echo
  printf '%-8s %-15s %-4s %s\n' backend check ok detail
  while IFS=$'\t' read -r b check st detail; do
    printf '%-8s %-15s %-4s %s\n' "$b" "$check" "$st" "$detail"
  done <"$RESULTS"
}
summary
npass=$(awk -F'\t' '$3 == "OK"' "$RESULTS" | wc -l)
nfail=$(awk -F'\t' '$3 != "OK"' "$RESULTS" | wc -l)
echo
echo "interop: $npass passed, $nfail failed ($((SECONDS - T0))s)"
((nfail == 0))
