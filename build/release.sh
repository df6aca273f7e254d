#!/usr/bin/env bash
# Build the release binaries of one commit for every box liqbox runs on:
#   dist/liqbox-<version>-linux-amd64, -linux-arm64, -linux-armv7, SHA256SUMS
#
# usage: build/release.sh [-o DIR] [-a "amd64 arm64 armv7"] [REF]
#
# The build is reproducible: the source is the commit itself (git archive,
# so uncommitted edits in the tree never leak into a release), the paths are
# trimmed, the build date is the commit's time (not now), there is no cgo,
# VCS stamping or build id, so the same commit built with the same Go gives
# the same bytes anywhere. VERSION=x.y.z overrides the version name.
set -euo pipefail

out=dist
arches="amd64 arm64 armv7"
while getopts "o:a:h" opt; do
  case $opt in
    o) out=$OPTARG ;;
    a) arches=$OPTARG ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
ref=${1:-HEAD}

repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse --verify "$ref^{commit}")
# The commit time in UTC: stable for the commit, unlike the clock.
build_date=$(TZ=UTC git -C "$repo" show -s --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd "$commit")
if [ -n "${VERSION:-}" ]; then
  version=$VERSION
elif tag=$(git -C "$repo" describe --tags --exact-match --match 'v[0-9]*' "$commit" 2>/dev/null); then
  version=${tag#v}
else
  # Go's pseudo-version shape: sorts by time, names the commit.
  version="0.0.0-$(TZ=UTC git -C "$repo" show -s --date=format-local:%Y%m%d%H%M%S --format=%cd "$commit")-${commit:0:12}"
fi

src=$(mktemp -d "${TMPDIR:-/tmp}/liqbox-release.XXXXXX")
trap 'rm -rf "$src"' EXIT
git -C "$repo" archive "$commit" | tar -x -C "$src"

mkdir -p "$out"
out=$(cd "$out" && pwd)
ldflags="-s -w -buildid= -X github.com/liqbox/liqbox/buildinfo.version=$version -X github.com/liqbox/liqbox/buildinfo.commit=$commit -X github.com/liqbox/liqbox/buildinfo.date=$build_date"
names=()
for a in $arches; do
  case $a in
    amd64) goarch=amd64 goarm= ;;
    arm64) goarch=arm64 goarm= ;;
    armv7) goarch=arm goarm=7 ;;
    *) echo "release: unknown arch $a (amd64, arm64, armv7)" >&2; exit 2 ;;
  esac
  name="liqbox-$version-linux-$a"
  (cd "$src" && env CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm GOFLAGS=-mod=readonly GOTOOLCHAIN=local \
    go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out/$name" .)
  names+=("$name")
done
(cd "$out" && sha256sum "${names[@]}" > SHA256SUMS)
echo "liqbox $version ($commit, $build_date, $(go env GOVERSION)) in $out:"
(cd "$out" && for n in "${names[@]}"; do printf '  %-44s %s bytes\n' "$n" "$(stat -c %s "$n")"; done)
