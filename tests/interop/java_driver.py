"""Runs the Java interop driver (tests/interop/java, Apache RocketMQ's own client 4.9.7).

``run_java(scenario, namesrv, *args)`` starts one JVM for one scenario, waits for it with a
timeout (killed past it), and returns the JSON lines it printed. The client's own log goes to a
temp dir instead of ~/logs.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest

from tests.interop.tools import CACHE, Event, driver, of, required, run_events

__all__ = ["Event", "java_binary", "java_classpath", "of", "run_java"]


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
        return run_events(f"java {scenario}", command, timeout_s)
