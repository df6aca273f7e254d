#!/usr/bin/env bash
# Lints the live /metrics of a running `liqbox demo` with promtool.
# Fails on parse errors and on any lint problem of a liqbox_ metric;
# prints (without failing) lint notes about the Go runtime metrics whose
# names the metrics library fixes (go_cgo_calls_count and the like).
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/lib.sh
command -v promtool >/dev/null || { echo "promtool not installed (Debian package prometheus)" >&2; exit 1; }

work=$(mktemp -d /tmp/liqbox-promtool.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/liqbox" .
port=$(free_port)
"$work/liqbox" demo --duration 15s --speed 50 --listen "127.0.0.1:$port" --min-usd 1k >"$work/demo.out" 2>"$work/demo.err" &
pid=$!

# Wait until events have flowed, so histograms and per-stream series exist.
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/api/status" 2>/dev/null | grep -q '"last_seq": [1-9]'; then break; fi
  sleep 0.1
done
sleep 3
curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics.txt"
echo "scraped $(grep -vc '^#' "$work/metrics.txt") samples, $(grep -c '^# TYPE liqbox_' "$work/metrics.txt") liqbox metric families"

for want in liqbox_stage_exchange_to_receive_seconds_bucket liqbox_ingest_frames_total \
            liqbox_pipeline_duplicates_total liqbox_store_commit_seconds_bucket go_goroutines process_resident_memory_bytes; do
  grep -q "^$want" "$work/metrics.txt" || { echo "missing metric $want" >&2; exit 1; }
done

set +e
promtool check metrics <"$work/metrics.txt" >"$work/lint.txt" 2>&1
rc=$?
set -e
case $rc in
  0) echo "promtool: clean" ;;
  3) ;; # lint problems: judged below
  *) cat "$work/lint.txt" >&2; echo "promtool check metrics failed (exit $rc)" >&2; exit 1 ;;
esac
if grep -q '^liqbox_' "$work/lint.txt"; then
  grep '^liqbox_' "$work/lint.txt" >&2
  echo "promtool: liqbox metrics break Prometheus conventions" >&2
  exit 1
fi
if [ -s "$work/lint.txt" ]; then
  echo "promtool warnings (library-defined names, not failing):"
  sed 's/^/  /' "$work/lint.txt"
fi
echo "promtool: ok"
