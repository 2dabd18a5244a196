"""Mixed clusters: a Java broker registered with a pyrmq NameServer, a pyrmq broker registered
with a Java NameServer. In both, one cluster holds a broker of each kind; a topic created on
both gets one route naming both, and clients of both kinds send to and consume from both.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from pyrmq.client import Admin, ConsumeStatus, Message, MessageExt, Producer, PushConsumer
from tests.integration.test_e2e import deployment, wait_for
from tests.interop.java_driver import of, run_java
from tests.interop.java_server import JavaDeployment, start_java_namesrv
from tests.support.processes import ServerProcess, write_properties

pytestmark = pytest.mark.cluster


def start_pyrmq_broker(root: Path, name: str, namesrv_addr: str, **extra: object) -> ServerProcess:
    """A pyrmq broker (store ``root/name``) registering with any NameServer."""
    settings: dict[str, object] = {
        "brokerClusterName": "DefaultCluster",
        "brokerName": name,
        "brokerId": 0,
        "brokerIP1": "127.0.0.1",
        "listenPort": 0,
        "namesrvAddr": namesrv_addr,
        "storePathRootDir": root / name,
        "mappedFileSizeCommitLog": 16 * 1024 * 1024,
        "maxHashSlotNum": 100_000,
        "maxIndexNum": 400_000,
        "autoCreateTopicEnable": "true",
        **extra,
    }
    conf = write_properties(root / f"{name}.properties", **settings)
    return ServerProcess("mqbroker", ["-c", str(conf)], root / f"{name}-run").wait_ready()


async def check_both_brokers_serve(namesrv_addr: str, topic: str) -> None:
    """Topic on both brokers: one route names both; pyrmq and Java clients reach both."""
    async with Admin(namesrv_addr) as admin:
        cluster = await admin.cluster_info()
        assert sorted(cluster.cluster_addr_table["DefaultCluster"]) == ["broker-j", "broker-p"]
        await admin.create_topic("DefaultCluster", topic, 2)
        for _ in range(50):
            route = await admin.topic_route(topic)
            if len(route.queue_datas) == 2:
                break
            await asyncio.sleep(0.2)
        assert sorted(q.broker_name for q in route.queue_datas) == ["broker-j", "broker-p"]
    producer = Producer("mixed-p", namesrv_addr)
    await producer.start()
    try:
        results = [await producer.send(Message(topic, f"py-{i}".encode())) for i in range(8)]
    finally:
        await producer.shutdown()
    assert Counter(r.message_queue.broker_name for r in results) == {"broker-j": 4, "broker-p": 4}
    java_sent = of(
        await asyncio.to_thread(run_java, "send", namesrv_addr, topic, "sync", 8), "sent"
    )
    assert Counter(s["broker"] for s in java_sent) == {"broker-j": 4, "broker-p": 4}
    got: list[MessageExt] = []
    consumer = PushConsumer("mixed-c", namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(topic, "*")
    consumer.register_listener(lambda msgs: got.extend(msgs) or ConsumeStatus.CONSUME_SUCCESS)
    await consumer.start()
    try:
        await wait_for(lambda: len(got) >= 16, 30)
        await asyncio.sleep(0.5)
    finally:
        await consumer.shutdown()
    expected = [f"py-{i}" for i in range(8)] + [f"java-sync-{i}" for i in range(8)]
    assert sorted(m.body.decode() for m in got) == sorted(expected)
    java_got = of(
        await asyncio.to_thread(
            run_java, "consume", namesrv_addr, topic, "mixed-j", "TAG", "*", 16, 30
        ),
        "msg",
    )
    assert sorted(m["body"] for m in java_got) == sorted(expected)


@pytest.mark.compat(
    feature="Java broker + pyrmq broker on a pyrmq NameServer",
    client="pyrmq client",
    server="Java + pyrmq servers",
)
async def test_java_broker_registers_with_a_pyrmq_namesrv(tmp_path: Path) -> None:
    (tmp_path / "py").mkdir()
    with deployment(tmp_path / "py") as running:
        running.start_broker("broker-p", "127.0.0.1", autoCreateTopicEnable="true")
        java = JavaDeployment(tmp_path / "java", running.namesrv_addr)
        try:
            java.start_broker("broker-j")
            await check_both_brokers_serve(running.namesrv_addr, "MixedOnPyNamesrv")
        finally:
            java.stop_all()


@pytest.mark.compat(
    feature="pyrmq broker + Java broker on a Java NameServer",
    client="pyrmq client",
    server="Java + pyrmq servers",
)
async def test_pyrmq_broker_registers_with_a_java_namesrv(tmp_path: Path) -> None:
    java = start_java_namesrv(tmp_path / "java")
    pyrmq_broker: ServerProcess | None = None
    try:
        java.start_broker("broker-j")
        pyrmq_broker = start_pyrmq_broker(tmp_path, "broker-p", java.namesrv_addr)
        await check_both_brokers_serve(java.namesrv_addr, "MixedOnJavaNamesrv")
    finally:
        if pyrmq_broker is not None:
            pyrmq_broker.stop()
        java.stop_all()
