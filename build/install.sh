#!/usr/bin/env bash
# Install or upgrade liqbox on this box, or roll the last upgrade back.
#
# usage: install.sh BINARY [SHA256SUMS]   install or upgrade (SHA256SUMS
#                                         defaults to the one next to BINARY)
#        install.sh --rollback            previous binary back, and the
#                                         pre-upgrade log if the schema changed
#
# An upgrade: checks BINARY against SHA256SUMS and that it runs here; checks
# the config with it; takes an online backup of the log with the running
# version's `liqbox backup` (bbolt hot backup, the service keeps running);
# keeps the old binary as liqbox.prev; installs the unit, the default config
# and the secrets template when absent; daemon-reload, restart, /healthz.
#
# Needs root and systemd. For tests, LIQBOX_ROOT=DIR installs under DIR
# without root, and LIQBOX_SYSTEMCTL=CMD replaces systemctl (without it the
# service steps are skipped and said so). LIQBOX_HEALTH_WAIT=SECONDS bounds
# the wait for /healthz (default 60).
set -euo pipefail

root=${LIQBOX_ROOT:-}
bin=$root/usr/local/bin/liqbox
prev=$bin.prev
etc=$root/etc/liqbox
conf=$etc/liqbox.conf
envfile=$etc/liqbox.env
unit=$root/etc/systemd/system/liqbox.service
datadir=$root/var/lib/liqbox
backups=$root/var/backups/liqbox
state=$backups/last-upgrade
here=$(cd "$(dirname "$0")" && pwd)
health_wait=${LIQBOX_HEALTH_WAIT:-60}

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# systemctl, or the test's stand-in, or nothing (test mode only).
sysctl() {
  if [ -n "${LIQBOX_SYSTEMCTL:-}" ]; then
    $LIQBOX_SYSTEMCTL "$@"
  elif [ -z "$root" ]; then
    systemctl "$@"
  else
    say "(LIQBOX_ROOT mode, no LIQBOX_SYSTEMCTL: skipped systemctl $*)"
  fi
}

# Refuse before touching anything when the rights or systemd are missing.
refuse() {
  if [ -z "$root" ]; then
    [ "$(id -u)" -eq 0 ] || die "must run as root: it writes /usr/local/bin, /etc/liqbox and the unit, and restarts the service (try: sudo $0 $*)"
    command -v systemctl >/dev/null || die "systemctl not found: this script manages liqbox as a systemd service; on a box without systemd copy the binary and run 'liqbox run' under your supervisor"
  fi
}

preflight() {
  mkdir -p "$(dirname "$bin")" "$etc" "$(dirname "$unit")" "$datadir"
  mkdir -p -m 0700 "$backups"
}

# field NAME FILE: a line "NAME value" of `liqbox version`.
field() { "$2" version 2>/dev/null | sed -n "s/^$1 //p"; }

# The address /healthz answers on, from the config ("" when HTTP is off).
health_addr() {
  local listen
  listen=$("$bin" config check "$conf" | sed -n 's/^  http: //p')
  [ -n "$listen" ] || return 0
  local host=${listen%:*} port=${listen##*:}
  case $host in "" | 0.0.0.0 | "[::]" | "::") host=127.0.0.1 ;; esac
  echo "$host $port"
}

# healthz HOST PORT: prints the status code and body of GET /healthz.
healthz() {
  local host=${1#[} port=$2
  host=${host%]}
  exec 3<>"/dev/tcp/$host/$port" || return 1
  printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
  local resp
  resp=$(timeout 5 cat <&3) || true
  exec 3<&-
  printf '%s\n' "$resp" | tr -d '\r' | sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p; /^$/,$p'
}

# Wait until the unit is active and /healthz says 200.
check_health() {
  if [ -n "$root" ] && [ -z "${LIQBOX_SYSTEMCTL:-}" ]; then
    return 0
  fi
  local addr out
  addr=$(health_addr)
  for _ in $(seq 1 "$health_wait"); do
    if sysctl is-active --quiet liqbox; then
      if [ -z "$addr" ]; then
        say "liqbox is active (HTTP is off: no /healthz to ask)"
        return 0
      fi
      # shellcheck disable=SC2086
      if out=$(healthz $addr 2>/dev/null) && [ "$(printf '%s\n' "$out" | head -1)" = 200 ]; then
        say "liqbox is active and /healthz says ok"
        return 0
      fi
    fi
    sleep 1
  done
  printf '%s\n' "${out:-}" | sed 1d >&2
  sysctl status --no-pager liqbox >&2 || true
  return 1
}

install_files() {
  local new=$1
  if [ ! -e "$conf" ]; then
    "$new" config init >"$conf.tmp"
    chmod 0644 "$conf.tmp"
    mv "$conf.tmp" "$conf"
    say "wrote the default config to $conf: edit it, then 'liqbox config check $conf'"
  fi
  if [ ! -e "$envfile" ]; then
    install -m 0600 "$here/liqbox.env.example" "$envfile"
    say "installed the secrets template $envfile (0600): set TELEGRAM_BOT_TOKEN and HOLYSHEEP_API_KEY there"
  elif [ "$(stat -c %a "$envfile")" != 600 ]; then
    chmod 0600 "$envfile"
    say "$envfile holds secrets: made it mode 0600"
  fi
  if [ ! -e "$unit" ]; then
    install -m 0644 "$here/liqbox.service" "$unit"
    say "installed $unit"
    unit_new=1
  elif ! cmp -s "$here/liqbox.service" "$unit"; then
    say "note: $unit differs from this release's; left as is (put local changes in 'systemctl edit liqbox' and copy $here/liqbox.service over it)"
  fi
}

# Keep the three newest backups.
prune_backups() {
  local old
  old=$(ls -1t "$backups"/liqbox-*.db 2>/dev/null | tail -n +4) || true
  [ -z "$old" ] || rm -f $old
}

cmd_install() {
  local new=$1 sums=${2:-}
  [ -f "$new" ] || die "no such binary: $new"
  [ -n "$sums" ] || sums=$(dirname "$new")/SHA256SUMS
  [ -f "$sums" ] || die "no checksum file $sums: give it as the second argument"
  local name want got
  name=$(basename "$new")
  want=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1 }' "$sums")
  [ -n "$want" ] || die "$sums has no line for $name"
  got=$(sha256sum "$new" | cut -d' ' -f1)
  [ "$want" = "$got" ] || die "checksum mismatch for $name: $sums says $want, the file is $got; not installing"
  say "checksum ok: $name"
  local newver
  newver=$("$new" version 2>&1 | head -1) || die "$name does not run on this box ($(uname -m)): $newver"
  preflight "$@"

  install_files "$new"
  "$new" config check "$conf" >/dev/null || die "the new binary rejects $conf (see above); nothing changed"

  if [ -e "$bin" ] && cmp -s "$new" "$bin"; then
    say "$newver is already installed; restarting"
    sysctl daemon-reload
    sysctl restart liqbox
    check_health || die "liqbox is not healthy"
    return
  fi

  # An online, consistent copy of the log before anything changes, made by
  # the version that wrote it.
  local backup="" db oldver="" oldschema=""
  db=$("$new" config check "$conf" | sed -n 's/^  log: //p')
  db=$root${db#"$root"}
  if [ -e "$bin" ]; then
    oldver=$(field liqbox "$bin")
    oldschema=$(field schema "$bin")
  fi
  if [ -s "$db" ]; then
    backup=$backups/liqbox-${oldver:-unknown}-$(date -u +%Y%m%dT%H%M%SZ).db
    local by=$new
    if [ -e "$bin" ] && "$bin" help 2>/dev/null | grep -q '^  backup '; then by=$bin; fi
    "$by" backup --db "$db" --out "$backup" >/dev/null || die "cannot back up $db; nothing changed"
    chmod 0600 "$backup"
    say "backed up the log to $backup"
    prune_backups
  fi

  # The old binary stays as liqbox.prev; the new one goes in by rename, so
  # the running process keeps its file and a crash mid-way leaves one or
  # the other, never half of each.
  if [ -e "$bin" ]; then
    cp -p "$bin" "$prev.tmp" && mv -f "$prev.tmp" "$prev"
  fi
  install -m 0755 "$new" "$bin.tmp"
  mv -f "$bin.tmp" "$bin"
  {
    echo "prev_version=${oldver}"
    echo "prev_schema=${oldschema}"
    echo "new_version=$(field liqbox "$bin")"
    echo "new_schema=$(field schema "$bin")"
    echo "backup=${backup}"
    echo "db=${db}"
  } >"$state.tmp"
  mv -f "$state.tmp" "$state"
  say "installed $newver as $bin${oldver:+ (was $oldver, kept as $prev)}"

  sysctl daemon-reload
  if [ -n "${unit_new:-}" ]; then sysctl enable liqbox; fi
  sysctl restart liqbox
  check_health || die "liqbox is not healthy after the upgrade; 'journalctl -u liqbox' says why; '$0 --rollback' puts $oldver back"
}

cmd_rollback() {
  preflight "$@"
  [ -e "$prev" ] || die "no previous binary $prev to roll back to"
  [ -f "$state" ] || die "no record of the last upgrade ($state)"
  local prev_version prev_schema new_version new_schema backup db
  # shellcheck disable=SC1090
  . "$state"
  local cur_schema want_schema
  cur_schema=$(field schema "$bin")
  want_schema=$(field schema "$prev")
  sysctl stop liqbox
  if [ "$cur_schema" != "$want_schema" ]; then
    # The log may be in a layout the previous binary cannot read: put the
    # pre-upgrade backup back, and keep the newer file beside it.
    [ -n "$backup" ] && [ -f "$backup" ] || die "schema changed (${want_schema:-?} -> ${cur_schema:-?}) but the backup ${backup:-?} is missing; the service is stopped; restore a backup to $db by hand"
    local aside
    aside=$db.schema${cur_schema:-unknown}-$(date -u +%Y%m%dT%H%M%SZ)
    if [ -e "$db" ]; then mv -f "$db" "$aside"; fi
    cp -p "$backup" "$db.tmp"
    # The service's (dynamic) user must own it, like the directory.
    chown --reference="$(dirname "$db")" "$db.tmp" 2>/dev/null || true
    mv -f "$db.tmp" "$db"
    say "schema ${cur_schema:-?} -> ${want_schema:-?}: restored the log from $backup; the log written since is kept as $aside"
  else
    say "schema unchanged (${cur_schema:-?}): the log stays as it is"
  fi
  mv -f "$bin" "$bin.rolledback"
  mv -f "$prev" "$bin"
  rm -f "$state"
  say "rolled back to $(field liqbox "$bin") (the rolled-back binary is $bin.rolledback)"
  sysctl daemon-reload
  sysctl start liqbox
  check_health || die "liqbox is not healthy after the rollback; see 'journalctl -u liqbox'"
}

case ${1:-} in
  --rollback) [ $# -eq 1 ] || usage; refuse "$@"; cmd_rollback ;;
  "" | -h | --help) usage ;;
  -*) usage ;;
  *) [ $# -le 2 ] || usage; refuse "$@"; cmd_install "$@" ;;
esac
