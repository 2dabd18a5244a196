"""The blocking facade: its own loop thread, driven from plain code (here: a worker thread)."""

from __future__ import annotations

import asyncio
import threading

from pyrmq.client import (
    BlockingProducer,
    BlockingPushConsumer,
    ConsumeStatus,
    Message,
    MessageExt,
    SendStatus,
)
from pyrmq.client.consumer.rebalance import retry_topic
from tests.unit.client.fakes import FakeBroker, FakeNamesrv, route_of, wait_until


async def test_blocking_producer(namesrv: FakeNamesrv, broker_a: FakeBroker) -> None:
    namesrv.routes["T"] = route_of(broker_a)

    def plain_code() -> list[SendStatus]:
        with BlockingProducer("PG", namesrv.addr) as producer:
            statuses = [producer.send(Message("T", b"hi")).send_status]
            statuses.append(producer.send_async(Message("T", b"a")).result(5).send_status)
            statuses.append(
                producer.send_batch([Message("T", b"b1"), Message("T", b"b2")]).send_status
            )
            producer.send_oneway(Message("T", b"c"))
        return statuses

    # The fake servers live on this loop: run the blocking code off it.
    statuses = await asyncio.to_thread(plain_code)
    assert statuses == [SendStatus.SEND_OK] * 3
    await wait_until(lambda: len(broker_a.sends) == 4)
    assert not [t for t in threading.enumerate() if t.name.startswith("pyrmq-")]


async def test_blocking_consumer(namesrv: FakeNamesrv, broker_a: FakeBroker) -> None:
    namesrv.routes["T"] = route_of(broker_a, read=1)
    namesrv.routes[retry_topic("CG")] = route_of(broker_a, read=1)
    broker_a.store("T", 0, b"one")
    got = threading.Event()
    seen: list[bytes] = []

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        seen.extend(m.body for m in msgs)
        got.set()
        return ConsumeStatus.CONSUME_SUCCESS

    def plain_code() -> None:
        consumer = BlockingPushConsumer(
            "CG", namesrv.addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
        )
        consumer.subscribe("T", "*")
        consumer.register_listener(listener)
        with consumer:
            assert got.wait(5)

    await asyncio.to_thread(plain_code)
    assert seen == [b"one"]
    assert broker_a.offsets[("CG", "T", 0)] == 1
