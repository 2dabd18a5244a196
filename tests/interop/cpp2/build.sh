#!/bin/sh
# Builds the C++ 2.x core interop driver: a venv of its own (.cache/interop/cpp2/venv, made with the
# machine's python3) holding PyPI `rocketmq-python-cvs`, whose package bundles a prebuilt
# rocketmq-client-cpp 2.1.0 core (librocketmq.so), plus driver.py copied beside it. Its own venv:
# the package installs the import package `rocketmq`, as PyPI `rocketmq` (the 1.x core, cpp/) does.
# Nothing is downloaded but the two pinned packages of requirements.txt, through pip, from the
# package index. A second run with the same requirements.txt and python3 only refreshes driver.py.
# Exit 1, saying why, when the 2.x core cannot be had.
set -eu
cd "$(dirname "$0")/../../.."
REPO=$(pwd)
SRC=tests/interop/cpp2
OUT=.cache/interop/cpp2
VENV=$OUT/venv
STAMP=$OUT/venv.stamp

fail() {
  echo "interop cpp2: $*" >&2
  exit 1
}

PYTHON=$(command -v python3 || true)
[ -n "$PYTHON" ] || fail "python3 is not installed: the C++ 2.x core is driven through its Python binding"
# The package carries one librocketmq.so, built for Linux x86_64.
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) fail "PyPI rocketmq-python-cvs ships librocketmq.so for Linux x86_64 only (this is $(uname -s)-$(uname -m))" ;;
esac

mkdir -p "$OUT"
# What the venv depends on: the pinned requirements and the interpreter it was made with.
want=$( { cat "$SRC/requirements.txt"; "$PYTHON" -c 'import sys; print(sys.version)'; } | cksum)
have=$(cat "$STAMP" 2>/dev/null || true)

if [ "$want" != "$have" ] || [ ! -x "$VENV/bin/python" ]; then
  echo "interop cpp2: creating $VENV with $("$PYTHON" --version 2>&1)"
  rm -rf "$VENV" "$STAMP"
  "$PYTHON" -m venv "$VENV" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
  pip() {
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      --cache-dir "$REPO/.cache/pip" --require-hashes "$@"
  }
  # rocketmq-python-cvs exists only as an sdist: its build backend first, as a pinned wheel...
  grep '^setuptools==' "$SRC/requirements.txt" > "$OUT/build-requirements.txt"
  pip --only-binary=:all: -r "$OUT/build-requirements.txt" \
    || fail "pip could not install the pinned setuptools wheel of $SRC/requirements.txt"
  # ...then the sdist, built with that backend (setup.py copies the binding and the .so).
  pip --only-binary=:all: --no-binary=rocketmq-python-cvs --no-build-isolation --no-deps \
    -r "$SRC/requirements.txt" \
    || fail "pip could not install $SRC/requirements.txt (the rocketmq-python-cvs sdist from PyPI)"
  # The binding loads rocketmq/librocketmq.so at import: prove the C++ core is there and is 2.x.
  "$VENV/bin/python" -c '
import ctypes, os, sys
import rocketmq.client, rocketmq.ffi as f
f.dll.ShowProducerVersion.argtypes = [ctypes.c_void_p]
f.dll.ShowProducerVersion.restype = ctypes.c_char_p
handle = f.dll.CreateProducer(b"interop-cpp2-build")
version = f.dll.ShowProducerVersion(handle).decode()
print("interop cpp2: C++ core", f._DYLIB_PATH, "--", version)
sys.stdout.flush()
os._exit(0 if version.startswith("CPP CORE VERSION: 2.") else 2)
' || fail "rocketmq-python-cvs installed but its librocketmq.so does not load or is not a 2.x core"
  echo "$want" > "$STAMP"
else
  echo "interop cpp2: $VENV is up to date"
fi

if ! cmp -s "$SRC/driver.py" "$OUT/driver.py"; then
  cp "$SRC/driver.py" "$OUT/driver.py.tmp"
  mv "$OUT/driver.py.tmp" "$OUT/driver.py"
  echo "interop cpp2: driver at $OUT/driver.py"
fi
