#!/bin/sh
# Builds the C++ client interop driver: a venv of its own (.cache/interop/cpp/venv, made with the
# machine's python3) holding PyPI `rocketmq`, whose manylinux wheel bundles the rocketmq-client-cpp
# core (librocketmq.so), plus driver.py copied beside it. Nothing is downloaded but that wheel,
# through pip, from the package index. A second run with the same requirements.txt and python3 only
# refreshes driver.py. Exit 1, saying why, when the C++ core cannot be had.
set -eu
cd "$(dirname "$0")/../../.."
REPO=$(pwd)
SRC=tests/interop/cpp
OUT=.cache/interop/cpp
VENV=$OUT/venv
STAMP=$OUT/venv.stamp

fail() {
  echo "interop cpp: $*" >&2
  exit 1
}

PYTHON=$(command -v python3 || true)
[ -n "$PYTHON" ] || fail "python3 is not installed: the C++ client is driven through its Python binding"
# The wheel is manylinux x86_64 only: there is no librocketmq.so for another platform on PyPI.
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) fail "PyPI rocketmq ships librocketmq.so for Linux x86_64 only (this is $(uname -s)-$(uname -m))" ;;
esac

mkdir -p "$OUT"
# What the venv depends on: the pinned requirements and the interpreter it was made with.
want=$( { cat "$SRC/requirements.txt"; "$PYTHON" -c 'import sys; print(sys.version)'; } | cksum)
have=$(cat "$STAMP" 2>/dev/null || true)

if [ "$want" != "$have" ] || [ ! -x "$VENV/bin/python" ]; then
  echo "interop cpp: creating $VENV with $("$PYTHON" --version 2>&1)"
  rm -rf "$VENV" "$STAMP"
  "$PYTHON" -m venv "$VENV" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --cache-dir "$REPO/.cache/pip" --only-binary=:all: --require-hashes \
    -r "$SRC/requirements.txt" \
    || fail "pip could not install $SRC/requirements.txt (the rocketmq wheel from PyPI)"
  # The binding loads rocketmq/librocketmq.so at import: prove the C++ core is really there.
  "$VENV/bin/python" -c 'import rocketmq.client, rocketmq.ffi as f; print("interop cpp: C++ core", f._DYLIB_PATH)' \
    || fail "the rocketmq wheel installed but its C++ core (librocketmq.so) does not load"
  echo "$want" > "$STAMP"
else
  echo "interop cpp: $VENV is up to date"
fi

if ! cmp -s "$SRC/driver.py" "$OUT/driver.py"; then
  cp "$SRC/driver.py" "$OUT/driver.py.tmp"
  mv "$OUT/driver.py.tmp" "$OUT/driver.py"
  echo "interop cpp: driver at $OUT/driver.py"
fi
