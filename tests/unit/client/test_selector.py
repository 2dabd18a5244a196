"""Queue selectors: Java's hashCode of the argument, abs(hash % n), and ordered sends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pyrmq.client import Message, MQClientError, Producer, SelectMessageQueueByHash
from pyrmq.client.config import ClientConfig
from pyrmq.client.selector import SelectMessageQueueByRandom, java_hash_code
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.codes import ResponseCode
from tests.unit.client.fakes import FakeBroker, FakeNamesrv, route_of

QUEUES = [MessageQueue("T", "broker-a", i) for i in range(8)]


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("hello", 99162322),  # "hello".hashCode()
        ("polygenelubricants", -(2**31)),  # the classic Integer.MIN_VALUE string
        ("order-1", -1207111310),
        ("", 0),
        (42, 42),  # Integer.hashCode
        (-1, -1),
        ((1 << 32) + 5, 4),  # Long.hashCode: value ^ (value >>> 32)
        (-(1 << 40), -256),
        (True, 1231),
        (False, 1237),
        (b"hello", 99162322),
    ],
)
def test_java_hash_code(arg: object, expected: int) -> None:
    assert java_hash_code(arg) == expected


def test_hash_selector_takes_abs_of_java_remainder() -> None:
    select = SelectMessageQueueByHash().select
    msg = Message("T", b"x")
    assert select(QUEUES, msg, "hello") is QUEUES[99162322 % 8]
    # Negative hash: Java's remainder is negative, then abs: |-1207111310 % 8| = 6.
    assert select(QUEUES, msg, "order-1") is QUEUES[6]
    # Integer.MIN_VALUE % 3 == -2 in Java; abs -> 2 (abs(MIN_VALUE) would overflow in Java).
    assert select(QUEUES[:3], msg, "polygenelubricants") is QUEUES[2]
    assert select(QUEUES, msg, 13) is QUEUES[5]
    with pytest.raises(ValueError):
        select([], msg, "k")


def test_equal_args_always_pick_the_same_queue() -> None:
    select = SelectMessageQueueByHash().select
    picks = {select(QUEUES, Message("T", b"x"), f"order-{i % 5}") for i in range(100)}
    assert len(picks) <= 5
    assert SelectMessageQueueByRandom().select(QUEUES, Message("T", b"x"), None) in QUEUES


@pytest.fixture
async def producer(
    namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> AsyncIterator[Producer]:
    namesrv.routes["T"] = route_of(broker_a, read=4)
    p = Producer("PG", namesrv.addr, client_config=fast_config)
    await p.start()
    yield p
    await p.shutdown()


async def test_send_orderly_uses_the_selected_queue(
    producer: Producer, broker_a: FakeBroker
) -> None:
    selector = SelectMessageQueueByHash()
    results = [
        await producer.send_orderly(Message("T", f"{i}".encode()), selector, "order-1")
        for i in range(3)
    ]
    results.append(await producer.send(Message("T", b"3"), selector=selector, arg="order-1"))
    queue = QUEUES[6 % 4]  # |-1207111310 % 4| = 2
    assert {r.message_queue for r in results} == {MessageQueue("T", "broker-a", queue.queue_id)}
    assert [r.queue_offset for r in results] == [0, 1, 2, 3]


async def test_send_orderly_does_not_retry_elsewhere(
    producer: Producer, broker_a: FakeBroker
) -> None:
    broker_a.send_codes = [ResponseCode.SYSTEM_ERROR]
    with pytest.raises(MQClientError):
        await producer.send_orderly(Message("T", b"x"), SelectMessageQueueByHash(), 1)
    assert len(broker_a.sends) == 1


async def test_a_selector_must_pick_a_queue_of_the_topic(producer: Producer) -> None:
    class Wrong:
        def select(self, mqs: object, msg: Message, arg: object) -> MessageQueue:
            return MessageQueue("Other", "broker-a", 0)

    with pytest.raises(MQClientError, match="not a queue of T"):
        await producer.send_orderly(Message("T", b"x"), Wrong(), None)  # type: ignore[arg-type]
