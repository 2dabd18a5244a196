"""Runs the Java interop driver (tests/interop/java, Apache RocketMQ's own client 4.9.7).

``run_java(scenario, namesrv, *args)`` starts one JVM for one scenario, waits for it with a
timeout (killed past it), and returns the JSON lines it printed. The client's own log goes to a
temp dir instead of ~/logs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from typing import Any

import pytest

from tests.interop.tools import CACHE, driver, required

Event = dict[str, Any]


def java_classpath() -> str:
    jar = driver("java", "target/driver.jar")
    return f"{jar}:{CACHE / 'java' / 'lib'}/*"


def java_binary() -> str:
    java = shutil.which("java")
    if java is None:
        reason = "java is not on PATH"
        if required():
            pytest.fail(reason)
        pytest.skip(reason)
    return java


def run_java(scenario: str, namesrv: str, *args: object, timeout_s: float = 60.0) -> list[Event]:
    """The events the scenario printed; fails the test on a non-zero exit or a timeout."""
    with tempfile.TemporaryDirectory(prefix="pyrmq-java-") as logs:
        command = [
            java_binary(),
            "-Xms64m",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Drocketmq.client.logRoot={logs}",
            "-Drocketmq.client.logLevel=WARN",
            f"-Duser.home={logs}",
            "-cp",
            java_classpath(),
            "pyrmq.interop.Driver",
            scenario,
            namesrv,
            *map(str, args),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"java {scenario} ran past {timeout_s}s; stdout: {exc.stdout!r}")
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0:
        pytest.fail(
            f"java {scenario} exited {done.returncode}\nstdout:\n{done.stdout}\n"
            f"stderr:\n{done.stderr[-4000:]}"
        )
    return events


def of(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.get("event") == kind]
