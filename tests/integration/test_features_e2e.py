"""Messaging features against broker processes: orderly, retry to DLQ, delay across a restart,
query after a restart. Processes are started through bin/ and stopped by PID."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrmq.client import (
    ConsumeOrderlyStatus,
    ConsumeStatus,
    Message,
    MessageExt,
    Producer,
    PushConsumer,
    QueryClient,
    SelectMessageQueueByHash,
)
from tests.integration.test_e2e import Deployment, deployment, wait_for

pytestmark = pytest.mark.cluster

FAST_LEVELS = " ".join(["1s"] * 18)


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Deployment]:
    with deployment(tmp_path) as running:
        running.start_broker("broker-a", "127.0.0.1", messageDelayLevel=FAST_LEVELS)
        yield running


def orderly_consumer(addr: str, seen: dict[str, list[int]], topic: str) -> PushConsumer:
    consumer = PushConsumer("orderly", addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(topic, "*")

    def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        for m in msgs:
            seen[m.properties["KEYS"]].append(int(m.properties["seq"]))
        return ConsumeOrderlyStatus.SUCCESS

    consumer.register_listener_orderly(listener)
    return consumer


async def test_orderly_per_key_order_while_consumers_join_and_leave(tmp_path: Path) -> None:
    with deployment(tmp_path) as running:
        running.start_broker("broker-a", "127.0.0.1", defaultTopicQueueNums=8)
        producer = Producer("pg", running.namesrv_addr, default_topic_queue_nums=8)
        await producer.start()
        seen: dict[str, list[int]] = defaultdict(list)
        keys = [f"order-{k}" for k in range(200)]
        per_key = 250  # 50,000 messages
        selector = SelectMessageQueueByHash()

        async def send_key(key: str) -> None:
            for seq in range(per_key):  # one key's messages in order, as an order's steps
                msg = Message("Orders", b"x", properties={"KEYS": key, "seq": str(seq)})
                await producer.send_orderly(msg, selector, key)

        first = orderly_consumer(running.namesrv_addr, seen, "Orders")
        second = orderly_consumer(running.namesrv_addr, seen, "Orders")
        third = orderly_consumer(running.namesrv_addr, seen, "Orders")
        try:
            await first.start()
            await second.start()
            sending = asyncio.ensure_future(asyncio.gather(*(send_key(k) for k in keys)))
            await asyncio.sleep(1.0)
            await third.start()  # joins while messages flow
            await asyncio.sleep(1.0)
            await first.shutdown()  # and one leaves
            await sending
            total = len(keys) * per_key
            await wait_for(lambda: sum(len(set(v)) for v in seen.values()) >= total, 120)
        finally:
            for consumer in (first, second, third):
                await consumer.shutdown()
            await producer.shutdown()
        for key in keys:
            order = list(dict.fromkeys(seen[key]))  # a rebalance may deliver again: first seen
            assert order == list(range(per_key)), key


async def test_retry_three_deliveries_then_dlq_after_sixteen_retries(single: Deployment) -> None:
    producer = Producer("pg", single.namesrv_addr)
    await producer.start()
    deliveries: dict[str, list[int]] = defaultdict(list)

    def flaky(msgs: list[MessageExt]) -> ConsumeStatus:
        for m in msgs:
            deliveries[m.body.decode()].append(m.reconsume_times)
            if m.body.startswith(b"always") or len(deliveries[m.body.decode()]) <= 2:
                return ConsumeStatus.RECONSUME_LATER
        return ConsumeStatus.CONSUME_SUCCESS

    consumer = PushConsumer(
        "retrying", single.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    consumer.subscribe("Work", "*")
    consumer.register_listener(flaky)
    dlq = PushConsumer(
        "dlq-reader", single.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    dlq.subscribe("%DLQ%retrying", "*")
    dead: list[MessageExt] = []
    dlq.register_listener(lambda msgs: dead.extend(msgs) or ConsumeStatus.CONSUME_SUCCESS)
    try:
        await producer.send(Message("Work", b"twice"))
        await producer.send(Message("Work", b"always"))
        await consumer.start()
        await wait_for(lambda: len(deliveries["twice"]) >= 3, 30)
        await wait_for(lambda: len(deliveries["always"]) >= 17, 90)
        await dlq.start()
        await wait_for(lambda: len(dead) >= 1, 30)
    finally:
        await consumer.shutdown()
        await dlq.shutdown()
        await producer.shutdown()
    assert deliveries["twice"] == [0, 1, 2]  # RECONSUME_TIME of each delivery
    assert deliveries["always"] == list(range(17))  # the first try, then 16 retries
    assert [m.body for m in dead] == [b"always"]


async def test_delay_level_two_survives_a_broker_restart(tmp_path: Path) -> None:
    with deployment(tmp_path) as running:
        broker = running.start_broker("broker-a", "127.0.0.1")  # default levels: 2 = 5 s
        port = broker.port
        producer = Producer("pg", running.namesrv_addr)
        await producer.start()
        arrived: dict[str, float] = {}
        sent_at: dict[str, float] = {}
        consumer = PushConsumer(
            "delayed", running.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
        )
        consumer.subscribe("Later", "*")

        def listener(msgs: list[MessageExt]) -> ConsumeStatus:
            for m in msgs:
                arrived.setdefault(m.body.decode(), time.monotonic())
            return ConsumeStatus.CONSUME_SUCCESS

        consumer.register_listener(listener)
        try:
            await producer.send(Message("Later", b"warmup"))  # the topic exists before
            await consumer.start()
            await wait_for(lambda: "warmup" in arrived, 30)
            for i in range(10):
                name = f"d{i}"
                sent_at[name] = time.monotonic()
                await producer.send(Message("Later", name.encode(), properties={"DELAY": "2"}))
            running.brokers["broker-a"].stop()  # SIGTERM in the middle of the delay
            running.start_broker("broker-a", "127.0.0.1", port)
            await wait_for(lambda: all(n in arrived for n in sent_at), 30)
        finally:
            await consumer.shutdown()
            await producer.shutdown()
        for name, at in sent_at.items():
            assert arrived[name] - at >= 5.0, name  # not before its level's 5 s


async def test_query_by_key_and_msg_id_after_a_restart(single: Deployment) -> None:
    producer = Producer("pg", single.namesrv_addr)
    await producer.start()
    try:
        result = await producer.send(
            Message("Findable", b"needle", properties={"KEYS": "order-77"})
        )
    finally:
        await producer.shutdown()
    broker = single.brokers["broker-a"]
    port = broker.port
    broker.stop()
    single.start_broker("broker-a", "127.0.0.1", port, messageDelayLevel=FAST_LEVELS)
    async with QueryClient(single.namesrv_addr) as query:
        now_ms = int(time.time() * 1000)
        by_key = await query.query_message("Findable", "order-77", 32, 0, now_ms + 60_000)
        assert [m.body for m in by_key] == [b"needle"]
        assert result.offset_msg_id is not None
        by_id = await query.view_message(result.offset_msg_id)
        assert by_id.body == b"needle"
        by_uniq = await query.query_message_by_uniq_key("Findable", result.msg_id)
        assert by_uniq is not None and by_uniq.body == b"needle"


async def test_broadcast_members_each_get_everything_and_resume_locally(
    single: Deployment, tmp_path: Path
) -> None:
    producer = Producer("pg", single.namesrv_addr)
    await producer.start()
    seen: dict[str, list[bytes]] = defaultdict(list)
    offsets = tmp_path / "offsets"

    def member(name: str) -> PushConsumer:
        consumer = PushConsumer(
            "fanout",
            single.namesrv_addr,
            message_model="BROADCASTING",
            consume_from_where="CONSUME_FROM_FIRST_OFFSET",
            instance_name=name,
            offset_store_dir=str(offsets),
        )
        consumer.subscribe("News", "*")
        consumer.register_listener(
            lambda msgs: seen[name].extend(m.body for m in msgs) or ConsumeStatus.CONSUME_SUCCESS
        )
        return consumer

    members = [member(f"m{i}") for i in range(3)]
    try:
        await producer.send(Message("News", b"n0"))
        for consumer in members:
            await consumer.start()
        for i in range(1, 30):
            await producer.send(Message("News", f"n{i}".encode()))
        expected = {f"n{i}".encode() for i in range(30)}
        await wait_for(lambda: all(set(seen[f"m{i}"]) == expected for i in range(3)), 30)
        await members[0].shutdown()  # writes its local offsets
        seen["m0"].clear()
        for i in range(30, 40):
            await producer.send(Message("News", f"n{i}".encode()))
        members[0] = member("m0")
        await members[0].start()  # resumes from its file: only the new ten
        await wait_for(lambda: len(seen["m0"]) >= 10, 30)
        await asyncio.sleep(0.5)
        assert sorted(seen["m0"]) == sorted(f"n{i}".encode() for i in range(30, 40))
    finally:
        for consumer in members:
            await consumer.shutdown()
        await producer.shutdown()
