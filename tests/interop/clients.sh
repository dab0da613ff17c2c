# shellcheck shell=bash
# The client phases (curl with every method, cadaver scripted, rclone as a WebDAV client) for
# the servers tests/interop/servers.sh adds (issue 15), sourced by servers.sh; the phases
# themselves are run.sh's (phase_curl, phase_cadaver, phase_rclone), unchanged, so every
# server is held to what Apache and nginx are: the same answers direct and through davaudit,
# a locked PUT refused with 423, files out equal to files in.
#
# Where they make sense: the general-purpose WebDAV servers (lighttpd, rclone serve webdav,
# WsgiDAV). Not the CalDAV/CardDAV servers: Radicale and Xandikos keep only iCalendar and
# vCard items (a PUT of a plain file is 400 in Radicale), and neither implements LOCK; they
# get calendar clients' traffic instead (phase_audit_caldav, phase_identity_caldav).

# clients_make_sense B: true for the servers that store arbitrary files and lock them.
clients_make_sense() {
  case $1 in
    lighttpd | rclone | wsgidav) return 0 ;;
    *) return 1 ;;
  esac
}

# run_clients B: the three client phases against B through its davaudit (curl direct too).
run_clients() {
  local b=$1
  clients_make_sense "$b" || return 0
  log "== $b: curl, every method through davaudit"
  phase_curl "$b"
  log "== $b: cadaver (scripted)"
  phase_cadaver "$b"
  log "== $b: rclone (tree in, check, tree out)"
  phase_rclone "$b"
}
