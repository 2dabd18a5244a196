#!/bin/sh
# Builds the C++ client interop drivers: one venv per C++ core, each made with the machine's
# python3 and holding a `rocketmq` binding that bundles the core (librocketmq.so), with driver.py
# copied beside it:
#   .cache/interop/cpp   PyPI `rocketmq` 0.4.4, a manylinux wheel: the 1.x core
#                        (requirements-core1.txt)
#   .cache/interop/cpp2  PyPI `rocketmq-python-cvs` 2.1.0.3, an sdist whose setup.py only copies
#                        the binding and a prebuilt 2.1.0 core (requirements-core2.txt)
# Both install the import package `rocketmq`, hence two venvs. Nothing is downloaded but the
# pinned packages (--require-hashes), through pip, from the package index. A second run with the
# same requirements and python3 only refreshes driver.py. Exit 1, saying why, when a core cannot
# be had.
set -eu
cd "$(dirname "$0")/../../.."
REPO=$(pwd)
SRC=tests/interop/cpp

fail() {
  echo "interop cpp: $*" >&2
  exit 1
}

PYTHON=$(command -v python3 || true)
[ -n "$PYTHON" ] || fail "python3 is not installed: the C++ client is driven through its Python binding"
# Both packages carry one librocketmq.so, built for Linux x86_64.
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) fail "the rocketmq bindings ship librocketmq.so for Linux x86_64 only (this is $(uname -s)-$(uname -m))" ;;
esac

# The binding loads rocketmq/librocketmq.so at import: prove the core is there and which it is
# (a 2.x core exports SetPushConsumerMessageTrace and Show*Version; the 1.x core does not).
CHECK='
import ctypes, os, sys
import rocketmq.client, rocketmq.ffi as f
want = sys.argv[1]
if not hasattr(f.dll, "SetPushConsumerMessageTrace"):
    version = "1.x"
else:
    f.dll.ShowProducerVersion.argtypes = [ctypes.c_void_p]
    f.dll.ShowProducerVersion.restype = ctypes.c_char_p
    version = f.dll.ShowProducerVersion(f.dll.CreateProducer(b"interop-cpp-build")).decode()
print("interop cpp: C++ core", f._DYLIB_PATH, "--", version)
sys.stdout.flush()
os._exit(0 if version.startswith(want) else 2)
'

# build_core OUT REQUIREMENTS SDIST WANT: a venv in OUT from REQUIREMENTS, where SDIST (if not
# empty) is the one package installed from its sdist, after the pinned build backend
# (REQUIREMENTS' line "setuptools==..."), without build isolation so nothing unpinned is fetched;
# its core's version must start with WANT.
build_core() {
  out=$1 reqs=$SRC/$2 sdist=$3 want=$4
  venv=$out/venv stamp=$out/venv.stamp
  mkdir -p "$out"
  # What the venv depends on: the pinned requirements and the interpreter it was made with.
  wanted=$( { cat "$reqs"; "$PYTHON" -c 'import sys; print(sys.version)'; } | cksum)
  if [ "$wanted" != "$(cat "$stamp" 2>/dev/null || true)" ] || [ ! -x "$venv/bin/python" ]; then
    echo "interop cpp: creating $venv with $("$PYTHON" --version 2>&1)"
    rm -rf "$venv" "$stamp"
    "$PYTHON" -m venv "$venv" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
    pip() {
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --cache-dir "$REPO/.cache/pip" --require-hashes --only-binary=:all: "$@"
    }
    if [ -n "$sdist" ]; then
      grep '^setuptools==' "$reqs" > "$out/build-requirements.txt"
      pip -r "$out/build-requirements.txt" \
        || fail "pip could not install the pinned setuptools wheel of $reqs"
      pip --no-binary="$sdist" --no-build-isolation --no-deps -r "$reqs" \
        || fail "pip could not install $reqs (the $sdist sdist from PyPI)"
    else
      pip -r "$reqs" || fail "pip could not install $reqs"
    fi
    "$venv/bin/python" -c "$CHECK" "$want" \
      || fail "$reqs installed but its librocketmq.so does not load or is not a $want core"
    echo "$wanted" > "$stamp"
  else
    echo "interop cpp: $venv is up to date"
  fi
  if ! cmp -s "$SRC/driver.py" "$out/driver.py"; then
    cp "$SRC/driver.py" "$out/driver.py.tmp"
    mv "$out/driver.py.tmp" "$out/driver.py"
    echo "interop cpp: driver at $out/driver.py"
  fi
}

build_core .cache/interop/cpp requirements-core1.txt "" "1.x"
build_core .cache/interop/cpp2 requirements-core2.txt rocketmq-python-cvs "CPP CORE VERSION: 2."
