# shellcheck shell=bash
# Sourced by run.sh. lighttpd 1.4 answers a COPY whose destination member it cannot write with
# `200 OK`, no Content-Type and a bare `<D:response>` fragment (no multistatus root, `D`
# declared nowhere) listing the member with `403 Forbidden` (#14, DESIGN.md §2.2/§2.7).
# davaudit must count it as `failure_in_success`, as count.py reads it; audit_compare checks
# the metric deltas and the WARN event against count.py like every other audited request.

# lighttpd_copy_fragment B: one more audited request in phase_audit_webdav (lighttpd only).
# Needs root: the destination member is made root-owned and read-only while lighttpd runs
# as $RUN_USER; a file inside keeps lighttpd from removing it for `Overwrite: T`.
lighttpd_copy_fragment() {
  local b=$1 d=${D[$1]} ro
  [ "$b" = lighttpd ] || return 0
  if ! $IS_ROOT; then
    log "$b: COPY onto a read-only member skipped (needs root to make the member read-only)"
    return 0
  fi
  must MKCOL "$d/audit/ro/" 201
  must MKCOL "$d/audit/ro/sub/" 201
  ro=${DOCROOT[$b]}/audit/ro/sub
  echo root >"$ro/c.txt"
  chown -R root:root "$ro"
  chmod 555 "$ro"
  areq 12 COPY /audit/tree/ -H "Destination: $AU_P/audit/ro/" -H 'Overwrite: T'
}
