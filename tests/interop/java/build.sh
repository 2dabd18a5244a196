#!/bin/sh
# Builds the Java interop driver and brings the reference Apache RocketMQ jars (client, tools,
# namesrv, broker 4.9.7) from Maven Central: .cache/interop/java/{target/driver.jar,lib/*.jar},
# Maven's local repository in .cache/m2. Skipped when the jar is newer than every input.
set -eu
repo=$(cd "$(dirname "$0")/../../.." && pwd)
src="$repo/tests/interop/java"
out="$repo/.cache/interop/java"
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  echo "interop java: java and mvn are needed (not found on PATH)" >&2
  exit 1
fi
jar="$out/target/driver.jar"
if [ -f "$jar" ] && [ -d "$out/lib" ] && [ -z "$(find "$src" -newer "$jar" -type f | head -1)" ]; then
  exit 0
fi
echo "interop java: building the driver (first time: Maven downloads about 60 MB)" >&2
rm -rf "$out/lib"
mvn -q -B -f "$src/pom.xml" -Dmaven.repo.local="$repo/.cache/m2" package
test -f "$jar"
