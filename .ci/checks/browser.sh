#!/usr/bin/env bash
# Loads the status page of a running `liqbox demo --relay` in Debian's
# headless chromium: asserts that live liquidation rows, the venue state,
# the stage latencies, the race of the direct feed against the relay and
# whether each venue's figures and the chart's sum are complete or a lower
# bound, and the top assets across venues with their lower-bound marks were
# rendered from the JSON API, and saves a screenshot
# to $CI_ARTIFACTS (or /tmp) for a human to look at.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/lib.sh
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium not installed (Debian package chromium)" >&2; exit 1; }

work=$(mktemp -d /tmp/liqbox-browser.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
out=${CI_ARTIFACTS:-/tmp}
mkdir -p "$out"

go build -o "$work/liqbox" .
port=$(free_port)
"$work/liqbox" demo --duration 60s --speed 50 --relay --listen "127.0.0.1:$port" --min-usd 1k >"$work/demo.out" 2>"$work/demo.err" &
pid=$!
url="http://127.0.0.1:$port/"

# Live rows exist once the loopback exchange has played some frames.
for _ in $(seq 1 150); do
  if curl -fsS "${url}api/recent?n=1" 2>/dev/null | grep -q '"seq"'; then break; fi
  sleep 0.1
done
curl -fsS "${url}api/recent?n=1" | grep -q '"seq"' || { echo "demo produced no events" >&2; cat "$work/demo.err" >&2; exit 1; }

chrome() {
  local profile
  profile=$(mktemp -d "$work/profile.XXXXXX")
  timeout 90 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --window-size=1400,900 --virtual-time-budget=6000 "$@" 2>>"$work/chrome.err"
}

chrome --dump-dom "$url" >"$work/dom.html" || { tail -20 "$work/chrome.err" >&2; exit 1; }
rows=$(grep -oE '<tr class="(long|short)[a-z ]* ev"' "$work/dom.html" | wc -l)
echo "status page rendered $rows live liquidation rows"
fail=0
[ "$rows" -ge 1 ] || { echo "no live rows in the rendered page" >&2; fail=1; }
grep -q '<td class="state-live">live</td>' "$work/dom.html" || { echo "venue state not rendered as live" >&2; fail=1; }
grep -q '>exchange to receive<' "$work/dom.html" || { echo "stage latencies not rendered" >&2; fail=1; }
grep -q 'class="badge ok">healthy<' "$work/dom.html" || { echo "health badge not rendered as healthy" >&2; fail=1; }
grep -q '<section id="sources-section">' "$work/dom.html" && grep -qE '<tr><td>binance-usdm</td><td class="num">[1-9]' "$work/dom.html" ||
  { echo "the race of the direct feed against the relay not rendered" >&2; fail=1; }
grep -q '<td>binance-usdm</td><td class="cov-sampled">lower bound: Binance sends at most 1 liquidation per symbol per second</td>' "$work/dom.html" ||
  { echo "binance-usdm's figures not labelled a lower bound" >&2; fail=1; }
grep -qE '<div class="dim" id="chartcov">totals are a lower bound: [a-z, -]*binance-usdm' "$work/dom.html" ||
  { echo "the chart's sum not labelled a lower bound" >&2; fail=1; }
grep -qE '<tbody id="assetrows"><tr><td>[A-Z0-9]+</td><td class="num( cov-sampled)?">≥?\$[0-9]' "$work/dom.html" ||
  { echo "the top assets not rendered" >&2; fail=1; }
grep -qE '<div class="dim" id="assetscov">totals are a lower bound: [a-z, -]*binance-usdm' "$work/dom.html" ||
  { echo "the top assets' sum not labelled a lower bound" >&2; fail=1; }
if [ "$fail" -ne 0 ]; then cp "$work/dom.html" "$out/liqbox-status-dom.html"; echo "DOM saved to $out/liqbox-status-dom.html" >&2; exit 1; fi

chrome --screenshot="$out/liqbox-status.png" "$url" >/dev/null
[ -s "$out/liqbox-status.png" ] || { echo "no screenshot" >&2; exit 1; }
echo "screenshot: $out/liqbox-status.png"
