"""Producer against a fake NameServer and two fake brokers answering SEND_MESSAGE_V2 (§3.2)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pyrmq.client import Message, MQClientError, Producer, SendResult, SendStatus
from pyrmq.client.config import ClientConfig
from pyrmq.common.message import string_to_properties
from pyrmq.common.message_codec import decode_batch, decompress_body
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.errors import MQResponseError
from tests.unit.client.fakes import FakeBroker, FakeNamesrv, route_of, wait_until


@pytest.fixture
async def producer(
    namesrv: FakeNamesrv, broker_a: FakeBroker, broker_b: FakeBroker, fast_config: ClientConfig
) -> AsyncIterator[Producer]:
    namesrv.routes["T"] = route_of(broker_a, broker_b, read=2)
    p = Producer("PG", namesrv.addr, client_config=fast_config, send_timeout_s=2.0)
    await p.start()
    yield p
    await p.shutdown()


async def test_round_robin_over_all_publish_queues(
    producer: Producer, broker_a: FakeBroker, broker_b: FakeBroker
) -> None:
    results = [await producer.send(Message("T", f"m{i}".encode())) for i in range(8)]
    order = [(r.message_queue.broker_name, r.message_queue.queue_id) for r in results]
    cycle = [("broker-a", 0), ("broker-a", 1), ("broker-b", 0), ("broker-b", 1)]
    start = cycle.index(order[0])
    assert order == (cycle[start:] + cycle[:start]) * 2
    assert len(broker_a.sends) == len(broker_b.sends) == 4


async def test_result_ids_and_headers(
    producer: Producer, broker_a: FakeBroker, broker_b: FakeBroker
) -> None:
    msg = Message("T", b"hello", flag=3, properties={"TAGS": "A", "KEYS": "k1 k2"})
    result = await producer.send(msg)
    assert result.send_status is SendStatus.SEND_OK
    assert msg.uniq_key is not None and len(msg.uniq_key) == 32
    assert result.msg_id == msg.uniq_key
    [received] = broker_a.sends + broker_b.sends
    header = received.header
    assert (header.a, header.b, header.c, header.d, header.h, header.j, header.m) == (
        "PG", "T", "TBW102", 4, 3, 0, False,
    )  # fmt: skip
    assert header.n == result.message_queue.broker_name
    assert string_to_properties(header.i or "") == msg.properties
    broker = broker_a if broker_a.sends else broker_b
    assert result.offset_msg_id == broker.queues[("T", header.e)].messages[0].msg_id
    assert result.queue_offset == 0


@pytest.mark.parametrize("code", [17, 14, 1, 16, 204, 205])
async def test_retriable_code_retries_on_the_other_broker(
    producer: Producer, broker_a: FakeBroker, broker_b: FakeBroker, code: int
) -> None:
    broker_a.send_codes = [code] * 100  # broker-a always refuses
    results = [await producer.send(Message("T", f"m{i}".encode())) for i in range(4)]
    assert {r.message_queue.broker_name for r in results} == {"broker-b"}
    assert len(broker_b.sends) == 4
    # Round robin lands on broker-a for some first attempts; each is retried on broker-b
    # right away, never on broker-a again.
    assert 1 <= len(broker_a.sends) <= 4


@pytest.mark.parametrize("code", [2, 13, 26])
async def test_non_retriable_code_is_raised_after_one_attempt(
    producer: Producer, broker_a: FakeBroker, broker_b: FakeBroker, code: int
) -> None:
    broker_a.send_codes, broker_b.send_codes = [code], [code]
    with pytest.raises(MQResponseError) as info:
        await producer.send(Message("T", b"x"))
    assert info.value.response_code == code
    assert len(broker_a.sends) + len(broker_b.sends) == 1


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (10, SendStatus.FLUSH_DISK_TIMEOUT),
        (12, SendStatus.FLUSH_SLAVE_TIMEOUT),
        (11, SendStatus.SLAVE_NOT_AVAILABLE),
    ],
)
async def test_store_problems_are_returned_not_retried(
    producer: Producer, broker_a: FakeBroker, broker_b: FakeBroker, code: int, status: SendStatus
) -> None:
    broker_a.send_codes, broker_b.send_codes = [code], [code]
    result = await producer.send(Message("T", b"x"))
    assert result.send_status is status
    assert len(broker_a.sends) + len(broker_b.sends) == 1


async def test_every_attempt_failing_raises_with_the_last_code(
    producer: Producer, broker_a: FakeBroker, broker_b: FakeBroker
) -> None:
    broker_a.send_codes, broker_b.send_codes = [14] * 3, [14] * 3
    with pytest.raises(MQClientError) as info:
        await producer.send(Message("T", b"x"))
    assert info.value.response_code == 14
    assert len(broker_a.sends) + len(broker_b.sends) == 3
    # Attempts alternate brokers: never twice in a row on the same one.
    assert {len(broker_a.sends), len(broker_b.sends)} == {1, 2}


async def test_network_failure_retries_on_the_other_broker(
    namesrv: FakeNamesrv, broker_a: FakeBroker, broker_b: FakeBroker, fast_config: ClientConfig
) -> None:
    namesrv.routes["T"] = route_of(broker_a, broker_b, read=1)
    await broker_a.stop()  # its address stays in the route but nobody answers there
    async with Producer("PG", namesrv.addr, client_config=fast_config) as p:
        results = [await p.send(Message("T", b"x")) for _ in range(4)]
    assert {r.message_queue.broker_name for r in results} == {"broker-b"}
    assert len(broker_b.sends) == 4


async def test_unknown_topic_uses_the_tbw102_route(
    namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    namesrv.routes["TBW102"] = route_of(broker_a, read=8, perm=7)
    async with Producer("PG", namesrv.addr, client_config=fast_config) as p:
        queues = await p.fetch_publish_queues("NEW")
        assert queues == [MessageQueue("NEW", "broker-a", i) for i in range(4)]
        await p.send(Message("NEW", b"x"))
    header = broker_a.sends[0].header
    assert (header.b, header.c, header.d) == ("NEW", "TBW102", 4)
    assert namesrv.route_requests[:2] == ["NEW", "TBW102"]


async def test_no_route_at_all(namesrv: FakeNamesrv, fast_config: ClientConfig) -> None:
    async with Producer("PG", namesrv.addr, client_config=fast_config) as p:
        with pytest.raises(MQClientError, match="no route"):
            await p.send(Message("NOPE", b"x"))


async def test_large_bodies_are_compressed(
    producer: Producer, broker_a: FakeBroker, broker_b: FakeBroker
) -> None:
    body = b"0123456789" * 1000
    await producer.send(Message("T", body))
    [received] = broker_a.sends + broker_b.sends
    assert received.header.f & 0x1 and len(received.body) < len(body)
    assert decompress_body(received.body, received.header.f) == body


async def test_pinned_queue(producer: Producer, broker_b: FakeBroker) -> None:
    result = await producer.send(Message("T", b"x"), queue=MessageQueue("T", "broker-b", 1))
    assert result.message_queue == MessageQueue("T", "broker-b", 1)
    assert broker_b.sends[0].header.e == 1


async def test_send_async_future_and_callback(
    producer: Producer, broker_a: FakeBroker, broker_b: FakeBroker
) -> None:
    seen: list[tuple[SendResult | None, BaseException | None]] = []
    future = producer.send_async(Message("T", b"x"), lambda r, e: seen.append((r, e)))
    result = await future
    assert result.send_status is SendStatus.SEND_OK
    await wait_until(lambda: len(seen) == 1)
    assert seen == [(result, None)]
    broker_a.send_codes, broker_b.send_codes = [13], [13]
    failing = producer.send_async(Message("T", b"x"), lambda r, e: seen.append((r, e)))
    with pytest.raises(MQResponseError):
        await failing
    await wait_until(lambda: len(seen) == 2)
    assert seen[1][0] is None and isinstance(seen[1][1], MQResponseError)


async def test_shutdown_waits_for_async_sends(
    namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    namesrv.routes["T"] = route_of(broker_a)
    p = Producer("PG", namesrv.addr, client_config=fast_config)
    await p.start()
    futures = [p.send_async(Message("T", b"x")) for _ in range(5)]
    await p.shutdown()
    assert all(f.done() and f.result().send_status is SendStatus.SEND_OK for f in futures)
    assert len(broker_a.sends) == 5


async def test_oneway(producer: Producer, broker_a: FakeBroker, broker_b: FakeBroker) -> None:
    await producer.send_oneway(Message("T", b"x"))
    await wait_until(lambda: len(broker_a.sends) + len(broker_b.sends) == 1)


async def test_batch(producer: Producer, broker_a: FakeBroker, broker_b: FakeBroker) -> None:
    msgs = [Message("T", f"m{i}".encode()) for i in range(3)]
    result = await producer.send_batch(msgs)
    assert result.msg_id == ",".join(m.uniq_key or "" for m in msgs)
    assert result.offset_msg_id.count(",") == 2
    [received] = broker_a.sends + broker_b.sends
    assert received.code == 320 and received.header.m is True
    assert [m.body for m in decode_batch(received.body, topic="T")] == [b"m0", b"m1", b"m2"]


async def test_invalid_message_and_state(producer: Producer, namesrv: FakeNamesrv) -> None:
    with pytest.raises(MQClientError):
        await producer.send(Message("T", b""))
    idle = Producer("PG2", namesrv.addr)
    with pytest.raises(MQClientError, match="not running"):
        await idle.send(Message("T", b"x"))
    await idle.shutdown()


async def test_unregisters_at_shutdown(
    namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    namesrv.routes["T"] = route_of(broker_a)
    p = Producer("PG", namesrv.addr, client_config=fast_config)
    await p.start()
    await p.send(Message("T", b"x"))
    await p.shutdown()
    assert broker_a.unregisters == [(p.instance.client_id, "PG", None)]
