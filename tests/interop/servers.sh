# shellcheck shell=bash
# More real servers for the interop suite (issue 15), sourced by tests/interop/run.sh after
# its helpers (start_bg, wait_http, freeport, must, ireq, areq, record, ...) are defined.
#
# WebDAV: lighttpd with mod_webdav (Debian), `rclone serve webdav`, WsgiDAV (PyPI).
# CalDAV/CardDAV: Radicale and Xandikos (Debian). Each one behind its own davaudit; per
# server: litmus direct vs through davaudit test by test, byte identity, and audit truth
# (metric deltas and WARN events vs count.py over every body the client received); for the
# WebDAV ones also curl, cadaver and rclone as clients (clients.sh).
# CalDAV/CardDAV servers get their own traffic: calendar-multiget and addressbook-multiget
# naming missing members, sync-collection with a valid and an invalid token, calendar-query
# with a time range, PROPFIND on the calendar home, a DELETE of an event.

# shellcheck source=tests/interop/clients.sh
. "$HERE/clients.sh"

# The servers this file adds, in the order they run.
MORE_SERVERS=(lighttpd rclone wsgidav radicale xandikos)

# install_more_tools: Debian packages for lighttpd, Radicale, Xandikos; WsgiDAV from PyPI
# into a directory of its own (never the system's Python).
install_more_tools() {
  local pkgs=()
  [ -x /usr/sbin/lighttpd ] || pkgs+=(lighttpd)
  [ -f /usr/lib/lighttpd/mod_webdav.so ] || pkgs+=(lighttpd-mod-webdav)
  have radicale || "$PY" -c 'import radicale' 2>/dev/null || pkgs+=(radicale)
  have xandikos || pkgs+=(xandikos)
  "$PY" -m pip --version >/dev/null 2>&1 || pkgs+=(python3-pip)
  if ((${#pkgs[@]} > 0)); then
    log "installing ${pkgs[*]} (apt-get)"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && POLICY_GUARD=true
    fi
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "${pkgs[@]}" >>"$WORK/logs/apt.log" 2>&1 || {
      timeout 300 apt-get update -qq >>"$WORK/logs/apt.log" 2>&1
      DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${pkgs[@]}" >>"$WORK/logs/apt.log" 2>&1 ||
        die "apt-get install ${pkgs[*]} failed"
    }
    if $POLICY_GUARD; then
      rm -f /usr/sbin/policy-rc.d
      POLICY_GUARD=false
    fi
  fi
  # WsgiDAV and its WSGI server, in a target directory kept between runs.
  WSGIDAV_LIB=${WSGIDAV_LIB:-/var/tmp/davaudit-interop-wsgidav}
  if ! PYTHONPATH=$WSGIDAV_LIB "$PY" -c 'import wsgidav, cheroot' 2>/dev/null; then
    log "installing wsgidav and cheroot (pip, into $WSGIDAV_LIB)"
    timeout 300 "$PY" -m pip install -q --disable-pip-version-check --target "$WSGIDAV_LIB" \
      wsgidav cheroot >>"$WORK/logs/pip.log" 2>&1 || {
      tail -n 5 "$WORK/logs/pip.log"
      die "pip install wsgidav cheroot failed"
    }
  fi
}

# start_server NAME DIR: each start_<name> sets PORT_UP (after it answers) or fails.
start_more() {
  local b=$1 dir=$WORK/$1 attempt port
  mkdir -p "$dir/docroot" "$dir/tmp"
  own "$dir/docroot" "$dir/tmp"
  for attempt in 1 2 3; do
    port=$(freeport)
    "start_$b" "$dir" "$port"
    if wait_http "$BG_PID" "http://127.0.0.1:$port/" OPTIONS; then
      D[$b]=http://127.0.0.1:$port DOCROOT[$b]=$dir/docroot
      log "$b: $SERVER_VERSION on ${D[$b]} (pid $BG_PID)"
      return 0
    fi
    log "$b did not come up (attempt $attempt): $(tail -n 3 "$dir/stdout.log" "$dir/tmp/error.log" 2>/dev/null | tr '\n' ' ' | cut -c1-300)"
    stop_pid "$BG_PID"
  done
  die "$b did not start"
}

start_lighttpd() {
  local dir=$1 port=$2 user=""
  $IS_ROOT && user="server.username = \"$RUN_USER\"
server.groupname = \"$RUN_GROUP\""
  cat >"$dir/lighttpd.conf" <<EOF
server.modules = ("mod_webdav")
server.document-root = "$dir/docroot"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$dir/tmp/error.log"
server.upload-dirs = ("$dir/tmp")
$user
webdav.activate = "enable"
webdav.is-readonly = "disable"
webdav.sqlite-db-name = "$dir/tmp/webdav.db"
EOF
  SERVER_VERSION=$(/usr/sbin/lighttpd -v 2>&1 | head -n 1 | cut -d' ' -f1)
  start_bg "$dir/stdout.log" /usr/sbin/lighttpd -D -f "$dir/lighttpd.conf"
}

start_rclone() {
  local dir=$1 port=$2
  SERVER_VERSION="rclone serve webdav $(rclone version 2>/dev/null | head -n 1 | cut -d' ' -f2)"
  start_bg "$dir/stdout.log" rclone serve webdav --config "$dir/none.conf" \
    --addr "127.0.0.1:$port" "$dir/docroot"
}

start_wsgidav() {
  local dir=$1 port=$2
  SERVER_VERSION="WsgiDAV $(PYTHONPATH=$WSGIDAV_LIB "$PY" -c 'import wsgidav; print(wsgidav.__version__)')"
  start_bg "$dir/stdout.log" env PYTHONPATH="$WSGIDAV_LIB" "$PY" -m wsgidav.server.server_cli \
    --host 127.0.0.1 --port "$port" --root "$dir/docroot" --auth anonymous --no-config -q
}

start_radicale() {
  local dir=$1 port=$2
  cat >"$dir/radicale.conf" <<EOF
[server]
hosts = 127.0.0.1:$port
[auth]
type = none
[rights]
type = from_file
file = $dir/rights
[storage]
filesystem_folder = $dir/docroot
[logging]
level = warning
EOF
  # Every user may create collections at any depth (RrWw): with the default rights
  # (`authenticated`) plain collections below the principal are refused (403), and litmus
  # stopped at each suite's set-up (MKCOL of its own collection): 10 tests instead of 53.
  printf '[all]\nuser: .*\ncollection: .*\npermissions: RrWw\n' >"$dir/rights"
  SERVER_VERSION="Radicale $("$PY" -c 'import radicale; print(radicale.VERSION)' 2>/dev/null)"
  start_bg "$dir/stdout.log" "$PY" -m radicale --config "$dir/radicale.conf"
}

start_xandikos() {
  local dir=$1 port=$2
  SERVER_VERSION="Xandikos $("$PY" -c 'import xandikos; print(".".join(map(str, xandikos.__version__)))' 2>/dev/null)"
  start_bg "$dir/stdout.log" xandikos --defaults -d "$dir/docroot" -l 127.0.0.1 -p "$port" \
    --current-user-principal /user/
}

is_caldav() { [ "$1" = radicale ] || [ "$1" = xandikos ]; }

# --------------------------------------------------------------------------------------------
# audit truth, shared by both kinds: the manifest in AU_DIR against the metrics and WARNs

audit_compare() {
  local b=$1 i rc=1 exp
  "$PY" "$HERE/count.py" "$AU_DIR/manifest.tsv" >"$AU_DIR/expected.json" || die "count.py failed"
  for ((i = 0; i < 50; i++)); do
    curl -fsS --max-time 10 "${A[$b]}/metrics" >"$AU_DIR/after.prom" || true
    if "$PY" "$HERE/check.py" audit "$AU_DIR/before.prom" "$AU_DIR/after.prom" "$AU_DIR/expected.json" \
      "${DALOG[$b]}" "$AU_OFFSET" "$AU_DIR/result.json" >"$AU_DIR/compare.txt"; then
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
  if ((AU_ENTRIES == 0)); then
    AU_OK=1
    log "$b: no multistatus entries at all"
  fi
}

audit_begin() {
  local b=$1
  AU_DIR=$WORK/$b/audit AU_P=${P[$b]}
  mkdir -p "$AU_DIR"
  : >"$AU_DIR/manifest.tsv"
  curl -fsS --max-time 10 "${A[$b]}/metrics" >"$AU_DIR/before.prom" || die "cannot read ${A[$b]}/metrics"
  AU_OFFSET=$(stat -c %s "${DALOG[$b]}")
}

# WebDAV servers: the same requests as Apache and nginx get, minus the set-up tricks (locks
# held by another client, read-only folders) that not every server supports.
phase_audit_webdav() {
  local b=$1 d=${D[$1]}
  must MKCOL "$d/audit/" 201
  must MKCOL "$d/audit/tree/" 201
  must MKCOL "$d/audit/tree/sub/" 201
  for f in a.txt b.txt sub/c.txt; do
    "${CURL[@]}" -o /dev/null -X PUT --data-binary "@$WORK/tree/sub/a.txt" "$d/audit/tree/$f"
  done
  audit_begin "$b"
  areq 01 PROPFIND /audit/tree/ -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-unknown.xml"
  areq 02 PROPFIND /audit/tree/ -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-allprop.xml"
  areq 03 PROPFIND /audit/tree/ -H 'Depth: infinity'
  areq 04 PROPPATCH /audit/tree/a.txt "${XML[@]}" --data-binary "@$BODIES/proppatch-protected.xml"
  areq 05 PROPPATCH /audit/tree/b.txt "${XML[@]}" --data-binary "@$BODIES/proppatch-dead.xml"
  areq 06 PROPFIND /audit/ -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-propname.xml"
  areq 07 LOCK /audit/tree/a.txt -H 'Timeout: Second-60' "${XML[@]}" --data-binary "@$BODIES/lockinfo.xml"
  areq 08 PUT /audit/tree/a.txt --data-binary "@$WORK/tree/sub/a.txt"
  areq 09 COPY /audit/tree/ -H "Destination: $AU_P/audit/copy/"
  areq 10 DELETE /audit/tree/a.txt
  areq 11 PROPFIND /audit/missing/ -H 'Depth: 0'
  lighttpd_copy_fragment "$b"
  audit_compare "$b"
}

# --------------------------------------------------------------------------------------------
# CalDAV / CardDAV

# Where each server keeps the user's calendar and address book.
cal_paths() {
  case $1 in
    radicale) CAL=/user/calendar/ BOOK=/user/contacts/ HOME=/user/ ;;
    xandikos) CAL=/user/calendars/calendar/ BOOK=/user/contacts/addressbook/ HOME=/user/calendars/ ;;
  esac
}

ics() {
  printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davaudit//interop//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' "$@"
}

vcf() {
  printf 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%s\r\nFN:%s\r\nN:%s;;;;\r\nEND:VCARD\r\n' "$1" "$2" "$2"
}

# cal_setup B: the calendar, the address book and their members, straight to the server.
cal_setup() {
  local b=$1 d=${D[$1]} dir=$WORK/$1/cal
  mkdir -p "$dir"
  cal_paths "$b"
  if [ "$b" = radicale ]; then
    # The principal collection appears when the user first authenticates.
    "${CURL[@]}" -o /dev/null -u user:x -X PROPFIND -H 'Depth: 0' "$d/user/"
    must MKCALENDAR "$d$CAL" 201 -u user:x
    must MKCOL "$d$BOOK" 201 -u user:x "${XML[@]}" --data-binary "@$BODIES/mkcol-addressbook.xml"
  fi
  ics ev1 20260310T100000Z 20260310T110000Z 'In range' >"$dir/ev1.ics"
  ics ev2 20260315T100000Z 20260315T110000Z 'Deleted meanwhile' >"$dir/ev2.ics"
  ics ev3 20270101T100000Z 20270101T110000Z 'Out of range' >"$dir/ev3.ics"
  for e in ev1 ev2 ev3; do
    must PUT "$d$CAL$e.ics" 201 -u user:x -H 'Content-Type: text/calendar' --data-binary "@$dir/$e.ics"
  done
  vcf card1 'Ada Lovelace' >"$dir/card1.vcf"
  vcf card2 'Alan Turing' >"$dir/card2.vcf"
  for c in card1 card2; do
    must PUT "$d$BOOK$c.vcf" 201 -u user:x -H 'Content-Type: text/vcard' --data-binary "@$dir/$c.vcf"
  done
}

# multiget BODYFILE KIND COLLECTION HREF...: a calendar- or addressbook-multiget body.
multiget() {
  local out=$1 kind=$2 h
  shift 2
  {
    if [ "$kind" = cal ]; then
      printf '<?xml version="1.0" encoding="utf-8"?>\n<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">\n  <D:prop><D:getetag/><C:calendar-data/></D:prop>\n'
    else
      printf '<?xml version="1.0" encoding="utf-8"?>\n<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">\n  <D:prop><D:getetag/><C:address-data/></D:prop>\n'
    fi
    for h in "$@"; do printf '  <D:href>%s</D:href>\n' "$h"; done
    if [ "$kind" = cal ]; then printf '</C:calendar-multiget>\n'; else printf '</C:addressbook-multiget>\n'; fi
  } >"$out"
}

sync_body() {
  printf '<?xml version="1.0" encoding="utf-8"?>\n<D:sync-collection xmlns:D="DAV:">\n  <D:sync-token>%s</D:sync-token>\n  <D:sync-level>1</D:sync-level>\n  <D:prop><D:getetag/></D:prop>\n</D:sync-collection>\n' "$1"
}

phase_audit_caldav() {
  local b=$1 d=${D[$1]} dir=$WORK/$1/cal tok
  cal_setup "$b"
  # The first sync token, straight to the server.
  sync_body '' >"$dir/sync-initial.xml"
  tok=$("${CURL[@]}" -u user:x -X REPORT -H 'Depth: 1' "${XML[@]}" --data-binary "@$dir/sync-initial.xml" "$d$CAL" |
    "$PY" -c 'import sys, xml.etree.ElementTree as ET; t = ET.fromstring(sys.stdin.buffer.read()).find("{DAV:}sync-token"); print(t.text if t is not None else "")')
  [ -n "$tok" ] || die "$b: no sync-token from the initial sync-collection"
  # A member deleted meanwhile (by another client, straight to the server).
  local code
  code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -u user:x -X DELETE "$d${CAL}ev2.ics")
  [[ $code == 20? ]] || die "$b: DELETE ev2.ics answered $code" # Radicale: 200 (with a multistatus)
  multiget "$dir/cal-multiget.xml" cal "${CAL}ev1.ics" "${CAL}ev2.ics" "${CAL}never.ics"
  multiget "$dir/card-multiget.xml" card "${BOOK}card1.vcf" "${BOOK}gone.vcf"
  sync_body "$tok" >"$dir/sync-valid.xml"
  sync_body "http://davaudit.invalid/ns/sync/not-a-token" >"$dir/sync-invalid.xml"
  audit_begin "$b"
  areq 01 PROPFIND "$HOME" -u user:x -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-calendar-home.xml"
  areq 02 REPORT "$CAL" -u user:x -H 'Depth: 1' "${XML[@]}" --data-binary "@$dir/cal-multiget.xml"
  areq 03 REPORT "$BOOK" -u user:x -H 'Depth: 1' "${XML[@]}" --data-binary "@$dir/card-multiget.xml"
  areq 04 REPORT "$CAL" -u user:x -H 'Depth: 1' "${XML[@]}" --data-binary "@$dir/sync-valid.xml"
  areq 05 REPORT "$CAL" -u user:x -H 'Depth: 1' "${XML[@]}" --data-binary "@$dir/sync-invalid.xml"
  areq 06 REPORT "$CAL" -u user:x -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/calendar-query-range.xml"
  areq 07 PROPFIND "$CAL" -u user:x -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-unknown.xml"
  areq 08 DELETE "${CAL}ev3.ics" -u user:x
  areq 09 PROPPATCH "$CAL" -u user:x "${XML[@]}" --data-binary "@$BODIES/proppatch-protected.xml"
  audit_compare "$b"
  # What a user expects of the default routine rules on these answers: a multiget 404 for a
  # missing or deleted member and a sync-collection 404 for a deleted one are routine (no
  # failure counted); anything else >= 400 in a REPORT is a failure.
  CAL_ROUTINE=$("$PY" - "$AU_DIR/expected.json" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))
ent, fail = e["entries"], e["failures"]
r404 = ent.get("REPORT response 404", 0)
bad = [k for k in fail if k.startswith("REPORT") and k.split()[2] == "404"]
print(r404, len(bad), " ".join(sorted(fail)) or "none")
EOF
)
}

# Identity for CalDAV servers: the read-only requests a calendar client makes.
phase_identity_caldav() {
  local b=$1
  ID_DIR=$WORK/$b/identity ID_D=${D[$b]} ID_P=${P[$b]} ID_N=0 ID_BAD=()
  mkdir -p "$ID_DIR/direct" "$ID_DIR/proxied"
  cal_paths "$b"
  ireq options OPTIONS "$CAL" -u user:x
  ireq propfind-home PROPFIND "$HOME" -u user:x -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-calendar-home.xml"
  ireq propfind-cal PROPFIND "$CAL" -u user:x -H 'Depth: 1'
  ireq get-event GET "${CAL}ev1.ics" -u user:x
  ireq get-missing GET "${CAL}missing.ics" -u user:x
  ireq multiget REPORT "$CAL" -u user:x -H 'Depth: 1' "${XML[@]}" --data-binary "@$WORK/$b/cal/cal-multiget.xml"
  ireq query-range REPORT "$CAL" -u user:x -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/calendar-query-range.xml"
  ireq card-multiget REPORT "$BOOK" -u user:x -H 'Depth: 1' "${XML[@]}" --data-binary "@$WORK/$b/cal/card-multiget.xml"
  if ((${#ID_BAD[@]} == 0)); then
    record "$b" identity OK "$ID_N requests: status line, headers, body sha256 equal"
  else
    record "$b" identity FAIL "differ: ${ID_BAD[*]}"
  fi
}

# Identity for WebDAV servers: a subset of Apache's and nginx's list.
phase_identity_webdav() {
  local b=$1
  ID_DIR=$WORK/$b/identity ID_D=${D[$b]} ID_P=${P[$b]} ID_N=0 ID_BAD=() ID_MASK=
  # WsgiDAV's error pages end with the time of the answer, to the microsecond.
  [ "$b" = wsgidav ] && ID_MASK='s/ - [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+$/ - TIME/'
  mkdir -p "$ID_DIR/direct" "$ID_DIR/proxied"
  must MKCOL "${D[$b]}/bi/" 201
  "${CURL[@]}" -o /dev/null -X PUT --data-binary "@$WORK/tree/other dir/numbers.txt" "${D[$b]}/bi/file.txt"
  "${CURL[@]}" -o /dev/null -X PUT --data-binary "@$WORK/tree/big.bin" "${D[$b]}/bi/big.bin"
  ireq get GET /bi/file.txt
  ireq get-1MiB GET /bi/big.bin
  ireq get-range GET /bi/big.bin -H 'Range: bytes=1000-70999'
  ireq get-missing GET /bi/missing.txt
  ireq head HEAD /bi/file.txt
  ireq options OPTIONS /bi/
  ireq propfind-d0 PROPFIND /bi/ -H 'Depth: 0'
  # rclone (golang.org/x/net/webdav) writes allprop's properties in Go map order, a new
  # order per answer: no direct answer repeats, so byte identity cannot be shown on it.
  [ "$b" = rclone ] ||
    ireq propfind-allprop PROPFIND /bi/ -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-allprop.xml"
  ireq propfind-unknown PROPFIND /bi/ -H 'Depth: 1' "${XML[@]}" --data-binary "@$BODIES/propfind-unknown.xml"
  ireq propfind-missing PROPFIND /bi/missing.txt -H 'Depth: 0'
  ireq delete-missing DELETE /bi/missing.txt
  if ((${#ID_BAD[@]} == 0)); then
    record "$b" identity OK "$ID_N requests: status line, headers, body sha256 equal${ID_MASK:+ (error-page timestamps masked)}"
  else
    record "$b" identity FAIL "differ: ${ID_BAD[*]}"
  fi
  ID_MASK=
}

# run_more B: everything for one added server.
run_more() {
  local b=$1 st
  start_more "$b"
  start_davaudit "$b"
  log "== $b: litmus, direct (${D[$b]}) and through davaudit (${P[$b]})"
  # Radicale answers anonymous writes with 401: litmus logs in (any password is accepted).
  LITMUS_CREDS=()
  [ "$b" = radicale ] && LITMUS_CREDS=(user x)
  phase_litmus "$b"
  LITMUS_CREDS=()
  if is_caldav "$b"; then
    log "== $b: CalDAV/CardDAV REPORTs, audit truth"
    phase_audit_caldav "$b"
    log "== $b: byte identity, direct vs through davaudit"
    phase_identity_caldav "$b"
  else
    run_clients "$b"
    log "== $b: byte identity, direct vs through davaudit"
    phase_identity_webdav "$b"
    log "== $b: audit truth (metric deltas and WARN events vs count.py on the received bodies)"
    phase_audit_webdav "$b"
  fi
  if [ "$AU_OK" = 0 ]; then st=OK; else st=FAIL; fi
  record "$b" audit-entries "$st" "expected $AU_ENTRIES statuses in $AU_BODIES audited bodies, davaudit counted $("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["entries"]["counted"])' "$AU_DIR/result.json" 2>/dev/null || echo '?')"
  record "$b" audit-failures "$st" "expected $AU_FAILURES, partial-failure bodies $AU_PARTIAL"
  if is_caldav "$b"; then
    local r404 bad404 failing
    read -r r404 bad404 failing <<<"$CAL_ROUTINE"
    if ((r404 > 0 && bad404 == 0)); then
      record "$b" routine-rules OK "$r404 REPORT 404s (missing/deleted members) routine; failures counted: $failing"
    else
      record "$b" routine-rules FAIL "REPORT response 404s: $r404, counted as failures: $bad404 ($failing)"
    fi
  fi
}
