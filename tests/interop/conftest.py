"""Fixtures for interop tests: a pyrmq NameServer + broker as processes started through bin/.

The official clients (Java, Go, Node, C++) are driven as separate programs against it; each
module gets its own deployment in a temp dir, stopped by PID at the end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_e2e import Deployment, deployment

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
