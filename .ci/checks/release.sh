#!/usr/bin/env bash
# build/release.sh is reproducible: the release of HEAD built twice, the
# second time from another temp path, with an empty build cache (amd64, so
# it stays under a minute) and a different clock, gives identical bytes;
# and every binary is within the 15 MB budget and carries its version.
set -euo pipefail
cd "$(dirname "$0")/../.."
t=$(mktemp -d /tmp/liqbox-release-check.XXXXXX)
trap 'rm -rf "$t"' EXIT

# Pinned: other commits may land while this runs.
commit=$(git rev-parse HEAD)
s=$SECONDS
build/release.sh -o "$t/a" "$commit" >/dev/null
echo "release check: first build (3 arches): $((SECONDS - s)) s"
sleep 1 # a different clock second: the build date must not depend on it
s=$SECONDS
mkdir "$t/tmp" "$t/cache"
TMPDIR=$t/tmp GOCACHE=$t/cache build/release.sh -a amd64 -o "$t/cold" "$commit" >/dev/null
echo "release check: amd64 again from an empty build cache: $((SECONDS - s)) s"
(cd "$t/cold" && sha256sum -c --ignore-missing "$t/a/SHA256SUMS") || { echo "release check: FAIL: a cold-cache build differs" >&2; exit 1; }
TMPDIR=$t/tmp build/release.sh -o "$t/b" "$commit" >/dev/null
(cd "$t/b" && sha256sum -c "$t/a/SHA256SUMS") || { echo "release check: FAIL: two builds of one commit differ" >&2; exit 1; }
cmp "$t/a/SHA256SUMS" "$t/b/SHA256SUMS" || { echo "release check: FAIL: SHA256SUMS differ" >&2; exit 1; }

for f in "$t"/a/liqbox-*-linux-*; do
  size=$(stat -c %s "$f")
  [ "$size" -le $((15 * 1024 * 1024)) ] || { echo "release check: FAIL: $(basename "$f") is $size bytes, over 15 MB" >&2; exit 1; }
  if file "$f" 2>/dev/null | grep -q 'dynamically linked'; then
    echo "release check: FAIL: $(basename "$f") is dynamically linked" >&2; exit 1
  fi
  echo "release check: $(basename "$f"): $size bytes"
done
"$t"/a/liqbox-*-linux-amd64 version | grep -qx "commit $commit" || { echo "release check: FAIL: commit not stamped" >&2; exit 1; }
echo "release check: ok: identical bytes, stamped with $commit"
