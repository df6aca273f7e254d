#!/usr/bin/env bash
# build/install.sh end to end in a temp root (LIQBOX_ROOT) with a stand-in
# systemctl that really runs `liqbox run` on loopback: fresh install,
# upgrade with online backup, rollback with and without a schema change,
# and the refusals (bad checksum, not root, no systemctl).
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/lib.sh
repo=$(pwd)
t=$(mktemp -d /tmp/liqbox-install-check.XXXXXX)
cleanup() {
  if [ -f "$t/root/run/liqbox.pid" ]; then kill "$(cat "$t/root/run/liqbox.pid")" 2>/dev/null || true; fi
  rm -rf "$t"
}
trap cleanup EXIT
fail() { echo "install check: FAIL: $*" >&2; exit 1; }
ok() { echo "install check: ok: $*"; }

# Two releases of this commit that differ only in their version name.
VERSION=1.0.0 build/release.sh -a amd64 -o "$t/r1" >/dev/null
VERSION=2.0.0 build/release.sh -a amd64 -o "$t/r2" >/dev/null
v1=$t/r1/liqbox-1.0.0-linux-amd64
v2=$t/r2/liqbox-2.0.0-linux-amd64
# A "0.9.0" whose log layout is one schema older: the real binary behind a
# wrapper that reports schema N-1, to drive the restore-on-rollback path.
mkdir -p "$t/r0"
v0=$t/r0/liqbox-0.9.0-linux-amd64
cp "$v1" "$t/r0/real"
cat >"$v0" <<EOF
#!/usr/bin/env bash
if [ "\${1:-}" = version ]; then
  "$t/r0/real" version | sed -e 's/^liqbox 1.0.0/liqbox 0.9.0/' -e 's/^schema \([0-9]*\)/echo schema \$((\1-1))/e'
  exit
fi
exec "$t/r0/real" "\$@"
EOF
chmod +x "$v0"
(cd "$t/r0" && sha256sum liqbox-0.9.0-linux-amd64 >SHA256SUMS)

# Fresh root, no systemctl stand-in: files only.
fresh=$t/fresh
LIQBOX_ROOT=$fresh build/install.sh "$v1" >"$t/fresh.log"
[ -x "$fresh/usr/local/bin/liqbox" ] || fail "binary not installed"
[ "$(stat -c %a "$fresh/etc/liqbox/liqbox.env")" = 600 ] || fail "env file not 0600"
cmp -s build/liqbox.service "$fresh/etc/systemd/system/liqbox.service" || fail "unit not installed"
"$fresh/usr/local/bin/liqbox" config check "$fresh/etc/liqbox/liqbox.conf" >/dev/null || fail "default config does not check"
grep -q "skipped systemctl restart" "$t/fresh.log" || fail "service steps not reported as skipped"
ok "fresh install: binary, 0600 env template, unit, default config"

# The box: a config on loopback only (nothing leaves the machine), and a
# systemctl stand-in that runs the installed binary like the unit does.
root=$t/root
port=$(free_port)
mkdir -p "$root/etc/liqbox" "$root/run"
"$v1" config init | sed \
  -e "s#^listen = .*#listen = 127.0.0.1:$port#" \
  -e "s#^data_dir = .*#data_dir = /var/lib/liqbox#" \
  -e "s#^enabled = true#enabled = false#" \
  -e "s#^stream_url =\$#stream_url = ws://127.0.0.1:1/ws#" \
  -e "s#^inverse_stream_url =\$#inverse_stream_url = ws://127.0.0.1:1/ws#" \
  -e "s#^rest_url =\$#rest_url = http://127.0.0.1:1#" \
  -e "s#^api_url = .*#api_url = http://127.0.0.1:1#" \
  -e "s#^base_url = .*#base_url = http://127.0.0.1:1/v1#" >"$root/etc/liqbox/liqbox.conf"
# One venue on (to a closed loopback port), so the service has a stream.
awk '/^\[venue.binance-usdm\]/{v=1} /^\[/{if($0!~/binance-usdm/)v=0} v&&/^enabled = false/{$0="enabled = true"} {print}' \
  "$root/etc/liqbox/liqbox.conf" >"$t/c" && mv "$t/c" "$root/etc/liqbox/liqbox.conf"
cat >"$t/systemctl" <<EOF
#!/usr/bin/env bash
root=$root
pidf=\$root/run/liqbox.pid
echo "systemctl \$*" >>\$root/run/systemctl.log
stop() { if [ -f \$pidf ]; then kill \$(cat \$pidf) 2>/dev/null; while kill -0 \$(cat \$pidf) 2>/dev/null; do sleep 0.1; done; rm -f \$pidf; fi; }
case \$1 in
  daemon-reload|enable) ;;
  stop) stop ;;
  start|restart) stop
    # The unit's ExecStartPre and ExecStart, with the paths under the root.
    \$root/usr/local/bin/liqbox config check \$root/etc/liqbox/liqbox.conf >/dev/null || exit 1
    \$root/usr/local/bin/liqbox run --config \$root/etc/liqbox/liqbox.conf --data-dir \$root/var/lib/liqbox >>\$root/run/liqbox.log 2>&1 &
    echo \$! >\$pidf ;;
  is-active) [ -f \$pidf ] && kill -0 \$(cat \$pidf) 2>/dev/null ;;
  status) tail -20 \$root/run/liqbox.log ;;
  *) echo "systemctl stand-in: \$1?" >&2; exit 1 ;;
esac
EOF
chmod +x "$t/systemctl"
export LIQBOX_ROOT=$root LIQBOX_SYSTEMCTL=$t/systemctl LIQBOX_HEALTH_WAIT=20
bin=$root/usr/local/bin/liqbox
db=$root/var/lib/liqbox/liqbox.db
ver() { "$bin" version | head -1; }

build/install.sh "$v0" >"$t/i0.log" || { cat "$t/i0.log" "$root/run/liqbox.log"; fail "install 0.9.0"; }
[ "$(ver)" = "liqbox 0.9.0" ] || fail "0.9.0 not installed: $(ver)"
grep -q "healthz says ok" "$t/i0.log" || fail "no health check after install"
[ -s "$db" ] || fail "the service did not create its log"
ok "install 0.9.0 with the service running and /healthz ok"

build/install.sh "$v1" >"$t/i1.log" || { cat "$t/i1.log"; fail "upgrade to 1.0.0"; }
[ "$(ver)" = "liqbox 1.0.0" ] || fail "1.0.0 not installed"
[ "$("$bin.prev" version | head -1)" = "liqbox 0.9.0" ] || fail "0.9.0 not kept as liqbox.prev"
b1=$(ls "$root"/var/backups/liqbox/liqbox-0.9.0-*.db) || fail "no backup before the upgrade"
grep -q "backed up the log" "$t/i1.log" || fail "backup not reported"
ok "upgrade 0.9.0 -> 1.0.0: online backup $(basename "$b1"), previous binary kept, healthy"

build/install.sh "$v2" >"$t/i2.log" || { cat "$t/i2.log"; fail "upgrade to 2.0.0"; }
[ "$(ver)" = "liqbox 2.0.0" ] || fail "2.0.0 not installed"
build/install.sh --rollback >"$t/rb1.log" || { cat "$t/rb1.log"; fail "rollback to 1.0.0"; }
[ "$(ver)" = "liqbox 1.0.0" ] || fail "rollback did not restore 1.0.0"
grep -q "schema unchanged" "$t/rb1.log" || fail "rollback with the same schema touched the log"
ok "rollback 2.0.0 -> 1.0.0, same schema: log kept, healthy"
build/install.sh --rollback >"$t/rb-again.log" 2>&1 && fail "a second rollback without an upgrade should refuse"
grep -q "no previous binary" "$t/rb-again.log" || fail "second rollback: unclear refusal"
ok "second rollback refuses clearly"

# Back to the schema-changing path: 0.9.0 (schema N-1) -> 1.0.0 -> rollback.
rm -f "$bin.rolledback"
build/install.sh "$v0" >/dev/null && build/install.sh "$v1" >"$t/i3.log" || { cat "$t/i3.log"; fail "re-upgrade"; }
b3=$(sed -n 's/^backup=//p' "$root/var/backups/liqbox/last-upgrade")
build/install.sh --rollback >"$t/rb2.log" || { cat "$t/rb2.log"; fail "rollback across a schema change"; }
[ "$(ver)" = "liqbox 0.9.0" ] || fail "rollback did not restore 0.9.0"
grep -q "restored the log from" "$t/rb2.log" || fail "schema change: backup not restored"
ls "$db".schema*-* >/dev/null 2>&1 || fail "the newer log was not kept aside"
"$t/systemctl" is-active || fail "service not running after the restore"
[ -n "$b3" ] || fail "no backup recorded"
ok "rollback across a schema change: backup restored, newer log kept aside, healthy"

# Refusals.
cp "$v2" "$t/r2/liqbox-2.0.0-linux-amd64.bad"
printf 'x' >>"$t/r2/liqbox-2.0.0-linux-amd64.bad"
sed 's/liqbox-2.0.0-linux-amd64$/liqbox-2.0.0-linux-amd64.bad/' "$t/r2/SHA256SUMS" >"$t/r2/SUMS.bad"
build/install.sh "$t/r2/liqbox-2.0.0-linux-amd64.bad" "$t/r2/SUMS.bad" >"$t/bad.log" 2>&1 && fail "installed a binary with a bad checksum"
grep -q "checksum mismatch" "$t/bad.log" || fail "bad checksum: unclear refusal"
[ "$(ver)" = "liqbox 0.9.0" ] || fail "a refused install changed the binary"
ok "bad checksum refused, nothing changed"

unset LIQBOX_ROOT LIQBOX_SYSTEMCTL
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  setpriv --reuid=65534 --regid=65534 --clear-groups bash build/install.sh "$v2" >"$t/nonroot.log" 2>&1 && fail "ran as non-root"
else
  bash build/install.sh "$v2" >"$t/nonroot.log" 2>&1 && [ "$(id -u)" -ne 0 ] && fail "ran as non-root"
fi
if [ "$(id -u)" -ne 0 ] || command -v setpriv >/dev/null; then
  grep -q "must run as root" "$t/nonroot.log" || fail "non-root: unclear refusal: $(cat "$t/nonroot.log")"
  ok "non-root refused clearly"
fi
if [ "$(id -u)" -eq 0 ]; then
  mkdir "$t/path"
  for f in /usr/bin/* /bin/*; do [ "$(basename "$f")" = systemctl ] || ln -sf "$f" "$t/path/" 2>/dev/null || true; done
  rm -f "$t/path/systemctl"
  PATH=$t/path bash build/install.sh "$v2" >"$t/nosd.log" 2>&1 && fail "ran without systemctl"
  grep -q "systemctl not found" "$t/nosd.log" || fail "no systemctl: unclear refusal: $(cat "$t/nosd.log")"
  ok "missing systemctl refused clearly"
fi

# The unit file: systemd's own verifier, when this machine has it.
if command -v systemd-analyze >/dev/null; then
  sed "s#/usr/local/bin/liqbox#$v1#g" build/liqbox.service >"$t/liqbox.service"
  out=$(systemd-analyze verify "$t/liqbox.service" 2>&1) || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify warns: $out"
  ok "systemd-analyze verify: clean"
else
  echo "install check: systemd-analyze not installed; unit not verified"
fi
