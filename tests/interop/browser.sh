#!/usr/bin/env bash
# The live view in a real browser (issue 9): headless Chromium loads davaudit's admin page,
# its script fetches /failures and renders them; the rendered DOM must list the failures.
#
#   bash tests/interop/browser.sh ADMIN_URL [HREF...]
#
# ADMIN_URL is the admin listener (e.g. http://127.0.0.1:9207) of a davaudit that has already
# seen partial failures, with the live view on (admin.ui). Checks:
#   1. /failures (JSON, fetched with curl) lists at least one failure;
#   2. the DOM Chromium rendered (--dump-dom) shows, as text, the href of every failing entry
#      of the newest records the page shows (up to 50), and every HREF given as argument;
#   3. the rendered DOM holds exactly one <script> element, only the page's own kinds of
#      elements, and no error status: backend text that contains markup (hrefs, descriptions)
#      was inserted as text, never as elements;
# then saves screenshots (desktop, phone width, dark mode) and prints their paths.
#
# Environment: CHROMIUM (default: chromium), OUT (screenshot dir; default a new temp dir, kept).
# Installs Debian's chromium with apt-get when it is missing (as root). Exit 0: pass; 1: a
# check failed; 2: usage or set-up error.
set -uo pipefail

if [ $# -lt 1 ] || [ -z "$1" ]; then
  echo "usage: $0 ADMIN_URL [HREF...]   (e.g. $0 http://127.0.0.1:9207)" >&2
  exit 2
fi
ADMIN=${1%/}
shift
CHROMIUM=${CHROMIUM:-chromium}
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

log() { printf '[browser] %s\n' "$*"; }
fail() {
  log "FAIL: $*"
  exit 1
}

if ! command -v "$CHROMIUM" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing chromium (apt-get)"
    apt-get install -y -qq chromium >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } ||
      { log "cannot install chromium"; exit 2; }
  else
    log "$CHROMIUM not found (install Debian's chromium package)"
    exit 2
  fi
fi

WORK=$(mktemp -d /tmp/davaudit-browser.XXXXXX) || exit 2
OUT=${OUT:-$(mktemp -d /tmp/davaudit-browser-shots.XXXXXX)}
mkdir -p "$OUT" || exit 2
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# One fresh profile per run; flags keep Chromium from phoning home or updating itself.
chromium_run() {
  local profile
  profile=$(mktemp -d "$WORK/profile.XXXXXX")
  timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --virtual-time-budget=5000 "$@" 2>>"$WORK/chromium.log"
}

# 1. What the backend says.
if ! curl -sS --max-time 10 -o "$WORK/failures.json" -w '%{http_code}' \
  "$ADMIN/failures?limit=50" >"$WORK/code"; then
  log "cannot reach $ADMIN/failures"
  exit 2
fi
if [ "$(cat "$WORK/code")" != 200 ]; then
  log "$ADMIN/failures answered $(cat "$WORK/code"): $(head -c 300 "$WORK/failures.json")"
  log "(is the live view on? admin.ui, or a loopback admin.listen)"
  exit 2
fi

# 2. What the browser shows.
log "$("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
chromium_run --dump-dom "$ADMIN/" >"$WORK/dom.html"
[ -s "$WORK/dom.html" ] || {
  tail -20 "$WORK/chromium.log"
  fail "chromium rendered nothing for $ADMIN/"
}

cp "$WORK/dom.html" "$OUT/live-view-dom.html"
log "rendered DOM: $OUT/live-view-dom.html"
"$PY" - "$WORK/failures.json" "$WORK/dom.html" "$@" <<'EOF' || exit 1
import json, sys
from html.parser import HTMLParser

failures = json.load(open(sys.argv[1], encoding="utf-8"))
dom = open(sys.argv[2], encoding="utf-8").read()
wanted_args = sys.argv[3:]

# Every element the page itself creates; anything else came from data parsed as markup.
PAGE_TAGS = set("""html head meta link title style body header h1 h2 nav a p main noscript
    section svg line rect text ul li button span table thead tbody tr th td time div
    script""".split())

class Page(HTMLParser):
    """Collects the text of every class="href" element, the status line, and tags seen."""
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.hrefs, self.status, self.scripts, self.rows = [], [], "", 0, 0
        self.foreign = set()
    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in PAGE_TAGS:
            self.foreign.add(tag)
        classes = (attrs.get("class") or "").split()
        if tag == "script":
            self.scripts += 1
        if tag == "tr" and self.stack and self.stack[-1][0] == "tbody":
            self.rows += 1
        kind = "href" if "href" in classes else "status" if attrs.get("id") == "status" else None
        if kind == "href":
            self.hrefs.append("")
        self.stack.append((tag, kind))
    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break
    def handle_data(self, data):
        kinds = [k for _, k in self.stack if k]
        if "href" in kinds:
            self.hrefs[-1] += data
        elif "status" in kinds:
            self.status += data

page = Page()
page.feed(dom)
shown = set(page.hrefs)
records = failures.get("failures", [])
expected = [f["href"] for r in records for f in r.get("failed", [])]
problems = []
if not records:
    problems.append("/failures lists no partial failure: produce some before this check")
if page.status.startswith("Cannot load"):
    problems.append("the page could not load /failures: " + page.status.strip())
if page.foreign:
    problems.append(f"elements the page never creates: {sorted(page.foreign)}")
if page.scripts != 1:
    problems.append(f"{page.scripts} <script> elements in the rendered DOM (expected 1)")
for href in expected + wanted_args:
    if href not in shown:
        problems.append(f"href not shown: {href!r}")
print(f"[browser] /failures: {failures.get('recorded')} recorded, {len(records)} listed, "
      f"{len(expected)} failing entries; page: {page.rows} rows, {len(page.hrefs)} hrefs shown")
print(f"[browser] page status: {page.status.strip()}")
for href in sorted(set(expected + wanted_args))[:10]:
    print(f"[browser]   expected: {href}")
if problems:
    for p in problems:
        print("[browser] FAIL: " + p)
    sys.exit(1)
EOF

# 3. Screenshots for the CI artifacts: desktop, phone width, dark mode (prefers-color-scheme).
for shot in desktop:1280,1400: phone:390,1600: dark:1280,1400:--force-dark-mode; do
  IFS=: read -r name size extra <<<"$shot"
  path="$OUT/live-view-$name.png"
  chromium_run --hide-scrollbars --window-size="$size" ${extra:+"$extra"} \
    --screenshot="$path" "$ADMIN/" >/dev/null
  [ -s "$path" ] || {
    tail -20 "$WORK/chromium.log"
    fail "no screenshot at $path"
  }
  log "screenshot ($name): $path"
done
log "PASS: the rendered page lists every failing href"
