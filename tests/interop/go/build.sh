#!/bin/sh
# Builds the Go interop driver (tests/interop/go/main.go, on the official
# github.com/apache/rocketmq-client-go/v2) to .cache/interop/go/driver.
#
# Modules come from the Go module proxy of `go env GOPROXY`, verified against the committed
# go.sum; the module and build caches stay inside the repo under .cache/go/ (gitignored; the
# module cache is left writable, so `rm -rf .cache` works). Skips the build when the driver is
# newer than every source file. Exits 1 when `go` is missing.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
OUT="$REPO/.cache/interop/go/driver"

if ! command -v go >/dev/null 2>&1; then
  echo "interop/go: the 'go' toolchain is not on PATH; install Go >= 1.21 to build the Go driver" >&2
  exit 1
fi

if [ -x "$OUT" ] && [ -z "$(find "$HERE" -type f -newer "$OUT" | head -n 1)" ]; then
  echo "interop/go: $OUT is up to date"
  exit 0
fi

GOPATH="$REPO/.cache/go"
GOMODCACHE="$REPO/.cache/go/mod"
GOCACHE="$REPO/.cache/go/build"
GOFLAGS="-mod=readonly -modcacherw -buildvcs=false -trimpath"
GOTOOLCHAIN=local
export GOPATH GOMODCACHE GOCACHE GOFLAGS GOTOOLCHAIN

mkdir -p "$(dirname "$OUT")"
echo "interop/go: building $OUT with $(go version) (GOPROXY=$(go env GOPROXY))"
cd "$HERE"
go build -o "$OUT.tmp.$$" .
mv -f "$OUT.tmp.$$" "$OUT"
echo "interop/go: built $OUT"
