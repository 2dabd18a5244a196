"""Apache RocketMQ's Java client against a pyrmq master/slave pair (SYNC_MASTER, processes).

The Java producer's sends are all SEND_OK, so the slave acknowledged each of them; the master
is then killed with SIGKILL and a Java consumer of a new group reads every message from the
slave (the route names only brokerId 1), as with a Java pair.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from pyrmq.client import Message, Producer, SendStatus
from tests.integration.test_e2e import deployment, wait_for
from tests.interop.java_driver import of, run_java
from tests.interop.test_mixed_clusters import start_pyrmq_broker

pytestmark = pytest.mark.cluster

TOPIC = "JavaOnPyHA"


async def probe_until_replicated(namesrv: str) -> int:
    """Sends until one is SEND_OK (a slave is connected and acknowledging); how many sent."""
    producer = Producer("ha-probe", namesrv)
    await producer.start()
    try:
        for probes in range(1, 200):
            result = await producer.send(Message(TOPIC, b"probe"))
            if result.send_status is SendStatus.SEND_OK:
                return probes
            await asyncio.sleep(0.1)
    finally:
        await producer.shutdown()
    raise AssertionError("the slave never acknowledged")


@pytest.mark.timeout(180)
@pytest.mark.compat(
    feature="HA pair: SYNC sends, then consume from the slave after the master died",
    client="Java client 4.9.7",
    server="pyrmq",
)
async def test_java_client_on_a_pyrmq_sync_master_and_its_slave(tmp_path: Path) -> None:
    with deployment(tmp_path) as running:
        pair = {"brokerName": "broker-s", "autoCreateTopicEnable": "true"}
        master = start_pyrmq_broker(
            tmp_path, "master", running.namesrv_addr, brokerRole="SYNC_MASTER", **pair
        )
        slave = start_pyrmq_broker(
            tmp_path, "slave", running.namesrv_addr, brokerId=1, brokerRole="SLAVE", **pair
        )
        try:
            probes = await probe_until_replicated(running.namesrv_addr)
            sent = of(
                await asyncio.to_thread(run_java, "send", running.namesrv_addr, TOPIC, "sync", 50),
                "sent",
            )
            assert [s["status"] for s in sent] == ["SEND_OK"] * 50
            topics = tmp_path / "slave" / "config" / "topics.json"
            await wait_for(lambda: topics.exists() and TOPIC in topics.read_text(), 30)
            os.kill(master.pid, signal.SIGKILL)
            master.wait_exit()
            got = of(
                await asyncio.to_thread(
                    run_java,
                    "consume",
                    running.namesrv_addr,
                    TOPIC,
                    "java-ha-c",
                    "TAG",
                    "*",
                    50 + probes,
                    60,
                    timeout_s=120,
                ),
                "msg",
            )
        finally:
            master.stop()
            slave.stop()
    bodies = sorted(m["body"] for m in got)
    assert bodies == sorted(["probe"] * probes + [f"java-sync-{i}" for i in range(50)])
    assert {m["msgId"] for m in got if m["body"] != "probe"} == {s["msgId"] for s in sent}
