"""Disk compatibility: a store written by one implementation is opened by the other.

pyrmq writes a store (commitlog, consume queues, index, config/*.json, checkpoint) and stops;
Apache RocketMQ's Java broker 4.9.7 is started on the same directory, and the other way round.
Both run with the same segment sizes. On the reader: a group that had consumed the first 20
messages on the writer resumes with exactly the 10 it had not seen (consumer offsets carried in
consumerOffset.json), a new group gets all 30 with bodies, keys and properties intact at the
queue offsets the writer's sends named, and a key written before the switch is found through
the index. The same both ways for a DLedger store (a group of one: DLedger's entry and index
files, its term and checkpoint files, consume queues pointing into the entries).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pyrmq.client import (
    Admin,
    ConsumeStatus,
    Message,
    MessageExt,
    Producer,
    PushConsumer,
    QueryClient,
    SendResult,
)
from tests.integration.test_e2e import deployment, wait_for
from tests.interop.java_server import JavaDeployment, free_port

pytestmark = pytest.mark.cluster

TOPIC = "DiskCompat"
#: Both implementations get exactly these store settings (``Deployment.start_broker`` gives a
#: pyrmq broker the same sizes and the store ``<root>/<brokerName>``).
STORE = {
    "mappedFileSizeCommitLog": 16 * 1024 * 1024,
    "maxHashSlotNum": 100_000,
    "maxIndexNum": 400_000,
    "defaultTopicQueueNums": 4,
    "autoCreateTopicEnable": "true",
}


def message(i: int) -> Message:
    msg = Message(TOPIC, f"disk-{i}".encode())
    msg.tags = "TagA" if i % 2 == 0 else "TagB"
    msg.keys = [f"dk-{i}"]
    msg.properties["idx"] = str(i)
    return msg


async def send(namesrv: str, first: int, count: int) -> dict[int, SendResult]:
    producer = Producer("disk-p", namesrv)
    await producer.start()
    try:
        return {i: await producer.send(message(i)) for i in range(first, first + count)}
    finally:
        await producer.shutdown()


async def consume(namesrv: str, group: str, expect: int, grace_s: float = 1.5) -> list[MessageExt]:
    got: list[MessageExt] = []
    consumer = PushConsumer(group, namesrv, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(TOPIC, "*")
    consumer.register_listener(lambda msgs: got.extend(msgs) or ConsumeStatus.CONSUME_SUCCESS)
    await consumer.start()
    try:
        await wait_for(lambda: len(got) >= expect, 30)
        await asyncio.sleep(grace_s)  # anything extra (already consumed) shows up here
    finally:
        await consumer.shutdown()  # persists the group's offsets on the broker
    return got


async def write_side(namesrv: str) -> dict[int, SendResult]:
    sent = await send(namesrv, 0, 20)
    assert len(await consume(namesrv, "disk-old", 20)) == 20
    sent.update(await send(namesrv, 20, 10))
    return sent


async def read_side(namesrv: str, sent: dict[int, SendResult]) -> None:
    resumed = await consume(namesrv, "disk-old", 10)
    assert sorted(m.body for m in resumed) == sorted(f"disk-{i}".encode() for i in range(20, 30))
    everything = await consume(namesrv, "disk-new", 30)
    assert len(everything) == 30
    for m in everything:
        i = int(m.properties["idx"])
        assert (m.body, m.tags, m.keys) == (
            f"disk-{i}".encode(),
            "TagA" if i % 2 == 0 else "TagB",
            [f"dk-{i}"],
        )
        assert m.properties["UNIQ_KEY"] == sent[i].msg_id
        assert (m.queue_id, m.queue_offset) == (
            sent[i].message_queue.queue_id,
            sent[i].queue_offset,
        )
    async with QueryClient(namesrv) as query:
        found = await query.query_message(TOPIC, "dk-3", 32, 0, int(time.time() * 1000) + 60_000)
        assert [m.body for m in found] == [b"disk-3"]
        by_uniq = await query.query_message_by_uniq_key(TOPIC, sent[7].msg_id)
        assert by_uniq is not None and by_uniq.body == b"disk-7"


def java_store(root: Path) -> dict[str, object]:
    return {"storePathRootDir": root, "storePathCommitLog": root / "commitlog", **STORE}


@pytest.mark.compat(
    feature="store written by pyrmq, opened by Java",
    client="pyrmq client",
    server="Java + pyrmq servers",
)
async def test_java_broker_opens_a_pyrmq_store(tmp_path: Path) -> None:
    with deployment(tmp_path) as running:
        running.start_broker("broker-d", "127.0.0.1", autoCreateTopicEnable="true")
        sent = await write_side(running.namesrv_addr)
        running.brokers.pop("broker-d").stop()  # SIGTERM: a clean shutdown
        java = JavaDeployment(tmp_path / "java", running.namesrv_addr)
        try:
            java.start_broker("broker-d", **java_store(tmp_path / "broker-d"))
            await read_side(running.namesrv_addr, sent)
        finally:
            java.stop_all()


@pytest.mark.compat(
    feature="store written by Java, opened by pyrmq",
    client="pyrmq client",
    server="Java + pyrmq servers",
)
async def test_pyrmq_broker_opens_a_java_store(tmp_path: Path) -> None:
    with deployment(tmp_path) as running:
        java = JavaDeployment(tmp_path / "java", running.namesrv_addr)
        try:
            java.start_broker("broker-d", **java_store(tmp_path / "broker-d"))
            sent = await write_side(running.namesrv_addr)
        finally:
            java.stop_all()  # SIGTERM: a clean shutdown
        running.start_broker("broker-d", "127.0.0.1", autoCreateTopicEnable="true")
        await read_side(running.namesrv_addr, sent)


async def wait_master(namesrv: str) -> None:
    """A DLedger broker registers as master (brokerId 0) once it won its election."""
    async with Admin(namesrv) as admin:
        for _ in range(300):
            cluster = await admin.cluster_info()
            broker = cluster.broker_addr_table.get("broker-d")
            if broker is not None and 0 in broker.broker_addrs:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("broker-d never became master")


def dledger(port: int) -> dict[str, object]:
    """A DLedger group of one (the writer and the reader take turns on one address)."""
    return {
        "enableDLegerCommitLog": "true",
        "dLegerGroup": "broker-d",
        "dLegerPeers": f"n0-127.0.0.1:{port}",
        "dLegerSelfId": "n0",
    }


@pytest.mark.compat(
    feature="DLedger store written by pyrmq, opened by Java",
    client="pyrmq client",
    server="Java + pyrmq servers",
)
async def test_java_dledger_broker_opens_a_pyrmq_dledger_store(tmp_path: Path) -> None:
    group = dledger(free_port())
    with deployment(tmp_path) as running:
        running.start_broker("broker-d", "127.0.0.1", autoCreateTopicEnable="true", **group)
        await wait_master(running.namesrv_addr)
        sent = await write_side(running.namesrv_addr)
        running.brokers.pop("broker-d").stop()  # SIGTERM: a clean shutdown
        java = JavaDeployment(tmp_path / "java", running.namesrv_addr)
        try:
            java.start_broker("broker-d", **java_store(tmp_path / "broker-d"), **group)
            await wait_master(running.namesrv_addr)
            await read_side(running.namesrv_addr, sent)
        finally:
            java.stop_all()


@pytest.mark.compat(
    feature="DLedger store written by Java, opened by pyrmq",
    client="pyrmq client",
    server="Java + pyrmq servers",
)
async def test_pyrmq_dledger_broker_opens_a_java_dledger_store(tmp_path: Path) -> None:
    group = dledger(free_port())
    with deployment(tmp_path) as running:
        java = JavaDeployment(tmp_path / "java", running.namesrv_addr)
        try:
            java.start_broker("broker-d", **java_store(tmp_path / "broker-d"), **group)
            await wait_master(running.namesrv_addr)
            sent = await write_side(running.namesrv_addr)
        finally:
            java.stop_all()  # SIGTERM: a clean shutdown
        running.start_broker("broker-d", "127.0.0.1", autoCreateTopicEnable="true", **group)
        await wait_master(running.namesrv_addr)
        await read_side(running.namesrv_addr, sent)
