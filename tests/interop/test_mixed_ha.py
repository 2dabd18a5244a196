"""Mixed HA: a Java slave follows a pyrmq SYNC_MASTER, and a pyrmq slave a Java SYNC_MASTER.

Master and slave share a brokerName on a pyrmq NameServer; the slave learns the master's HA
address from its registration, as in RocketMQ. Every send is SEND_OK (a SYNC_MASTER answers
only once the slave acknowledged it, so the slave's acks are understood), the two commitlogs
end byte for byte identical, and with the master stopped a fresh group consumes every message
from the slave.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pyrmq.client import (
    ConsumeStatus,
    Message,
    MessageExt,
    MQClientError,
    Producer,
    PushConsumer,
    SendStatus,
)
from pyrmq.remoting.errors import RemotingError
from tests.integration.test_e2e import Deployment, deployment, wait_for
from tests.interop.java_server import JavaDeployment, free_port
from tests.interop.test_mixed_clusters import start_pyrmq_broker

pytestmark = pytest.mark.cluster

TOPIC = "MixedHA"
COUNT = 200
SEGMENT = 16 * 1024 * 1024  # Deployment.start_broker uses this size; Java gets it too


def java_settings(root: Path, slave: bool) -> dict[str, object]:
    return {
        "brokerName": "broker-h",
        "brokerId": 1 if slave else 0,
        "brokerRole": "SLAVE" if slave else "SYNC_MASTER",
        "storePathRootDir": root,
        "storePathCommitLog": root / "commitlog",
        "mappedFileSizeCommitLog": SEGMENT,
    }


async def send_all(namesrv: str) -> list[bytes]:
    """Probe until a send is SEND_OK (until a slave is connected a SYNC_MASTER stores but
    answers SLAVE_NOT_AVAILABLE; a Java slave reports its offset 5 s after connecting, and
    until then sends wait), then COUNT sends that must all be SEND_OK; every body the master
    stored, sorted."""
    producer = Producer("ha-mixed-p", namesrv)
    await producer.start()
    probes = 0
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            probes += 1
            try:
                result = await producer.send(Message(TOPIC, b"probe"))
            except (
                MQClientError,
                RemotingError,
            ):  # a connected slave that has not reported yet: no answer
                continue
            if result.send_status is SendStatus.SEND_OK:
                break
            await asyncio.sleep(0.1)
        for i in range(COUNT):
            result = await producer.send(Message(TOPIC, f"ha-{i}".encode()))
            assert result.send_status is SendStatus.SEND_OK
    finally:
        await producer.shutdown()
    return sorted([b"probe"] * probes + [f"ha-{i}".encode() for i in range(COUNT)])


def commitlog(store: Path) -> bytes:
    """The commitlog's bytes up to its last record (Java allocates the next segment ahead)."""
    files = sorted((store / "commitlog").iterdir())
    return b"".join(f.read_bytes() for f in files).rstrip(b"\0")


def first_difference(a: bytes, b: bytes) -> str:
    at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    return f"data ends {len(a)}/{len(b)}, first difference at {at}"


async def wait_identical(master: Path, slave: Path) -> None:
    for _ in range(100):
        if commitlog(master) == commitlog(slave):
            return
        await asyncio.sleep(0.1)
    a, b = commitlog(master), commitlog(slave)
    assert a == b, first_difference(a, b)


async def wait_topic_synced(slave_store: Path) -> None:
    """A slave serves a topic once its metadata sync (every 10 s) copied it from the master."""
    topics = slave_store / "config" / "topics.json"
    await wait_for(lambda: topics.exists() and TOPIC in topics.read_text(), 30)


async def consume_from_slave(namesrv: str, expect: int) -> list[bytes]:
    got: list[MessageExt] = []
    consumer = PushConsumer("ha-mixed-c", namesrv, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(TOPIC, "*")
    consumer.register_listener(lambda msgs: got.extend(msgs) or ConsumeStatus.CONSUME_SUCCESS)
    await consumer.start()
    try:
        await wait_for(lambda: len(got) >= expect, 40)
        await asyncio.sleep(0.5)
    finally:
        await consumer.shutdown()
    return sorted(m.body for m in got)


def start_pyrmq(running: Deployment, slave: bool) -> None:
    """On a configured port, as in production: then it also serves the VIP channel (port - 2)
    that a Java slave's metadata sync uses."""
    running.brokers["broker-h"] = start_pyrmq_broker(
        running.root,
        "broker-h",
        running.namesrv_addr,
        listenPort=free_port(also=(-2, 1)),
        brokerId=1 if slave else 0,
        brokerRole="SLAVE" if slave else "SYNC_MASTER",
    )


@pytest.mark.compat(
    feature="HA: Java slave follows a pyrmq SYNC_MASTER",
    client="pyrmq client",
    server="Java + pyrmq servers",
)
async def test_java_slave_follows_a_pyrmq_master(tmp_path: Path) -> None:
    with deployment(tmp_path) as running:
        start_pyrmq(running, slave=False)
        java = JavaDeployment(tmp_path / "java", running.namesrv_addr)
        try:
            java.start_broker("broker-h-s", **java_settings(tmp_path / "java-slave", slave=True))
            stored = await send_all(running.namesrv_addr)
            await wait_identical(tmp_path / "broker-h", tmp_path / "java-slave")
            await wait_topic_synced(tmp_path / "java-slave")  # over the master's VIP channel
            running.brokers.pop("broker-h").stop()
            assert await consume_from_slave(running.namesrv_addr, len(stored)) == stored
        finally:
            java.stop_all()


@pytest.mark.compat(
    feature="HA: pyrmq slave follows a Java SYNC_MASTER",
    client="pyrmq client",
    server="Java + pyrmq servers",
)
async def test_pyrmq_slave_follows_a_java_master(tmp_path: Path) -> None:
    with deployment(tmp_path) as running:
        java = JavaDeployment(tmp_path / "java", running.namesrv_addr)
        try:
            java.start_broker("broker-h-m", **java_settings(tmp_path / "java-master", slave=False))
            start_pyrmq(running, slave=True)
            stored = await send_all(running.namesrv_addr)
            await wait_identical(tmp_path / "java-master", tmp_path / "broker-h")
            await wait_topic_synced(tmp_path / "broker-h")
        finally:
            java.stop_all()
        assert await consume_from_slave(running.namesrv_addr, len(stored)) == stored
