#!/usr/bin/env bash
# The test suite and the demo on arm64 and armv7, under Debian's
# qemu-user-static (.ci/run installs it). Measured on the 2-core machine:
# 86 s (arm64) and 100 s (armv7) for the suite, build included; 16–19 s per demo.
#
# The suite runs with -short. Tests that start a child process of the
# target architecture skip themselves then (TestFaultsSIGKILL,
# TestFaultsBusSIGKILL, TestFaultsDowntimeIsAGap and TestVersionOfAPlainBuild
# build and exec liqbox; store's TestCrashRecovery and
# TestPreviousRunAcrossStops re-exec their test binary): that needs the
# kernel's binfmt_misc to hand the child to qemu, a host-wide change a CI job
# should not make. So do the long wall-clock tests (canary limits, model
# outages, sparse alert minutes, the bench patterns), which wait on the clock
# the same way on every architecture. All of them run natively in
# `go test ./...`; everything that depends on the architecture (alignment,
# 32-bit int overflow, endianness-free encoding, the decoders, the log) runs
# here.
set -euo pipefail
cd "$(dirname "$0")/../.."
t=$(mktemp -d /tmp/liqbox-qemu.XXXXXX)
trap 'rm -rf "$t"' EXIT

for target in arm64:qemu-aarch64-static arm:qemu-arm-static; do
  arch=${target%%:*} emu=${target#*:}
  command -v "$emu" >/dev/null || { echo "qemu check: $emu missing (apt-get install qemu-user-static)" >&2; exit 1; }
  export GOARCH=$arch GOARM=7
  s=$SECONDS
  go test -count=1 -short -exec "$emu" ./...
  echo "qemu check: go test on $arch: $((SECONDS - s)) s"

  s=$SECONDS
  CGO_ENABLED=0 go build -trimpath -o "$t/liqbox-$arch" .
  out=$t/demo-$arch.out
  if ! "$emu" "$t/liqbox-$arch" demo --duration 10s --listen 127.0.0.1:0 --speed 50 --min-usd 0 >"$out" 2>"$t/demo-$arch.err"; then
    cat "$t/demo-$arch.err" >&2
    echo "qemu check: FAIL: demo on $arch exited non-zero" >&2
    exit 1
  fi
  alerts=$(grep -c " liquidated " "$out" || true)
  logged=$(sed -n 's/.* \([0-9][0-9]*\) distinct events logged.*/\1/p' "$t/demo-$arch.err")
  if [ "$alerts" -lt 1 ] || [ "${logged:-0}" -lt 1 ]; then
    cat "$out" "$t/demo-$arch.err" >&2
    echo "qemu check: FAIL: demo on $arch printed $alerts alert lines, logged ${logged:-0} events" >&2
    exit 1
  fi
  echo "qemu check: demo on $arch: exit 0, $alerts alert lines, $logged events logged ($((SECONDS - s)) s)"
  unset GOARCH GOARM
done
