"""Fixtures for interop tests: a pyrmq NameServer + broker as processes started through bin/,
and Apache RocketMQ's own NameServer + Broker (Java) configured the same way.

The official clients (Java, Go, Node, C++) are driven as separate programs against pyrmq, and
pyrmq's client against Java; each module gets its own deployment in a temp dir, stopped by PID
at the end.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.integration.test_e2e import Deployment, deployment
from tests.interop import compat
from tests.interop.java_server import JavaDeployment, start_java_namesrv

#: (feature, client, server, outcome) of every compat-marked test run in this session.
_outcomes: list[tuple[str, str, str, str]] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    marker = item.get_closest_marker("compat")
    if marker is not None and (report.when == "call" or not report.passed):
        if hasattr(report, "wasxfail"):
            outcome = "FAIL (known)" if report.skipped else "pass"
        else:
            outcome = "pass" if report.passed else "skip" if report.skipped else "FAIL"
        kwargs = marker.kwargs
        # A module whose tests run once per client names it with a ``compat_client`` fixture.
        client = kwargs.get("client") or getattr(item, "funcargs", {}).get("compat_client", "?")
        _outcomes.append((kwargs["feature"], client, kwargs["server"], outcome))
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """docs/compatibility.md from this run's outcomes (earlier runs' other cells kept)."""
    if _outcomes:
        compat.record(_outcomes)


#: Every delay level one second, so delay and retry scenarios finish in seconds.
FAST_LEVELS = " ".join(["1s"] * 18)


@pytest.fixture(scope="module")
def pyrmq_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A pyrmq NameServer and one master (``broker-a`` on 127.0.0.1) that creates topics.

    Fast for tests: every delay level is 1 s, transaction check-backs start after 1 s.
    """
    with deployment(tmp_path_factory.mktemp("pyrmq")) as running:
        running.start_broker(
            "broker-a",
            "127.0.0.1",
            autoCreateTopicEnable="true",
            enablePropertyFilter="true",
            messageDelayLevel=FAST_LEVELS,
            transactionTimeOut=1000,
            transactionCheckInterval=1000,
        )
        yield running


@pytest.fixture(scope="module")
def java_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JavaDeployment]:
    """Apache RocketMQ's NameServer and one Broker (``broker-j``), as the pyrmq fixture."""
    running = start_java_namesrv(tmp_path_factory.mktemp("java"))
    try:
        running.start_broker("broker-j")
        yield running
    finally:
        running.stop_all()
