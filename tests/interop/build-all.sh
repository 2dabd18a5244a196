#!/bin/sh
# Builds every interop driver: runs tests/interop/<kind>/build.sh for each kind (java, go, node,
# cpp). Each script installs what it needs from the registries into gitignored folders under
# .cache/ and leaves its driver under .cache/interop/<kind>/; a kind whose toolchain is missing
# says so and is skipped, unless PYRMQ_INTEROP_REQUIRED=1 (CI), where that is a failure.
set -u
cd "$(dirname "$0")/../.."
failed=""
for script in tests/interop/*/build.sh; do
  kind=$(basename "$(dirname "$script")")
  if ! sh "$script"; then
    echo "interop: building the $kind driver failed" >&2
    failed="$failed $kind"
  fi
done
if [ -n "$failed" ]; then
  if [ "${PYRMQ_INTEROP_REQUIRED:-0}" = "1" ]; then
    echo "interop: not built:$failed (required: PYRMQ_INTEROP_REQUIRED=1)" >&2
    exit 1
  fi
  echo "interop: not built:$failed; their tests will be skipped" >&2
fi
exit 0
