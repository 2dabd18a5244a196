"""Apache RocketMQ's Java client against a pyrmq DLedger group of three, through a failover.

The group runs as processes through bin/ (the DLedger process tests' harness). The Java driver
sends one message at a time with no client retries and routes polled every second; after 200
acknowledgements the master is killed with SIGKILL. The Java client's sends go on at the new
master within seconds, and every send it saw acknowledged is consumed afterwards, each at
exactly the queue position its result named.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from pyrmq.client.admin import Admin
from tests.integration.test_dledger_cluster import (
    TOPIC,
    assert_one_position_each,
    consume_all,
    dledger_cluster,
    store_host,
    wait_master,
    wait_topic_everywhere,
)
from tests.interop.java_driver import Event, java_binary, java_classpath

pytestmark = pytest.mark.cluster


class JavaSender:
    """The driver's ``failover`` scenario as a running process; its events as they come."""

    def __init__(self, namesrv: str, count: int, timeout_s: int, logs: str) -> None:
        self.events: list[Event] = []
        self.proc = subprocess.Popen(
            [
                java_binary(), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                f"-Drocketmq.client.logRoot={logs}", f"-Duser.home={logs}",
                "-cp", java_classpath(), "pyrmq.interop.Driver",
                "failover", namesrv, TOPIC, str(count), str(timeout_s),
            ],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def acks(self) -> list[Event]:
        return [e for e in list(self.events) if e["event"] == "ack"]

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            self._reader.join(5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()


def wait_until(predicate: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout_s}s")


@pytest.mark.timeout(240)
@pytest.mark.compat(
    feature="DLedger group: failover under load", client="Java client 4.9.7", server="pyrmq"
)
async def test_java_producer_follows_a_new_dledger_master(tmp_path: Path) -> None:
    with dledger_cluster(tmp_path) as (cluster, _), tempfile.TemporaryDirectory() as logs:
        async with Admin(cluster.namesrv_addr) as admin:
            master = await wait_master(admin, cluster)
            await admin.create_topic("RaftCluster", TOPIC, 4)
            await wait_topic_everywhere(cluster)
        old_host = cluster.brokers[master].addr
        sender = JavaSender(cluster.namesrv_addr, 1500, 90, logs)
        try:
            wait_until(lambda: len(sender.acks()) >= 200, 60)
            os.kill(cluster.brokers[master].pid, 9)
            killed_at = time.monotonic()
            wait_until(
                lambda: any(store_host(e["offsetMsgId"]) != old_host for e in sender.acks()), 30
            )
            failover_s = time.monotonic() - killed_at
        finally:
            assert sender.wait(120) == 0
        acks = sender.acks()
        assert {e["status"] for e in acks} == {"SEND_OK"}
        assert len({store_host(e["offsetMsgId"]) for e in acks}) == 2  # old and new master
        print(f"java client failover {failover_s:.2f} s, {len(acks)} acks")
        assert failover_s < 15
        acked = {e["body"].encode(): (e["queueId"], e["queueOffset"]) for e in acks}
        seen = await consume_all(cluster, set(acked))
        assert_one_position_each(seen, acked)
