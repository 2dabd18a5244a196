#!/bin/sh
# Builds the Node.js interop driver: installs ali-ons (pinned by package-lock.json) with `npm ci`
# into .cache/interop/node/ and puts driver.js beside it. A re-run whose package.json,
# package-lock.json and Node major version are unchanged skips npm and only refreshes driver.js.
# Needs node and npm; without them it says so and exits 1.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
out="$repo/.cache/interop/node"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "interop/node: node and npm are needed to build the ali-ons driver" \
    "(Node.js >= 16 with npm >= 7, which reads lockfile v3)" >&2
  exit 1
fi

mkdir -p "$out"
stamp="node $(node -p 'process.versions.node.split(".")[0]') $(cksum <"$here/package.json") $(cksum <"$here/package-lock.json")"
if [ -d "$out/node_modules/ali-ons" ] && [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
  if ! cmp -s "$here/driver.js" "$out/driver.js"; then
    cp "$here/driver.js" "$out/driver.js"
  fi
  echo "interop/node: up to date ($out)"
  exit 0
fi

rm -f "$out/.stamp" "$out/driver.js"
cp "$here/package.json" "$here/package-lock.json" "$out/"
(cd "$out" && npm ci --cache "$repo/.cache/npm" --no-audit --no-fund --loglevel=error)
cp "$here/driver.js" "$out/driver.js"
printf '%s\n' "$stamp" >"$out/.stamp"
echo "interop/node: built ($out)"
