"""PushConsumer against fake servers: orderly (queue locks) and broadcasting (local offsets)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pyrmq.client import BROADCASTING, ConsumeOrderlyStatus, ConsumeStatus, MessageExt, PushConsumer
from pyrmq.client.config import ClientConfig
from pyrmq.client.consumer.local_offset_store import decode_offset_file
from pyrmq.client.consumer.rebalance import retry_topic
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.codes import RequestCode
from tests.unit.client.fakes import FakeBroker, FakeNamesrv, route_of, wait_until

GROUP = "CG"
Q = [MessageQueue("T", "broker-a", i) for i in range(2)]


@pytest.fixture
def routes(namesrv: FakeNamesrv, broker_a: FakeBroker) -> None:
    namesrv.routes["T"] = route_of(broker_a, read=2)
    namesrv.routes[retry_topic(GROUP)] = route_of(broker_a, read=1)


def consumer_for(namesrv: FakeNamesrv, config: ClientConfig, **kw: Any) -> PushConsumer:
    kw.setdefault("consume_from_where", "CONSUME_FROM_FIRST_OFFSET")
    return PushConsumer(GROUP, namesrv.addr, client_config=config, pull_retry_delay_s=0.05, **kw)


def pulled_queues(broker: FakeBroker) -> set[int]:
    return {p.queue_id for p in broker.pulls if p.topic == "T"}


# ----------------------------------------------------------------------------------- orderly


async def test_orderly_locks_before_pulling_and_unlocks_after_persisting(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    for i in range(6):
        broker_a.store("T", i % 2, f"m{i}".encode())
    broker_a.refuse_locks.add(Q[1])  # another member holds queue 1
    seen: list[tuple[int, int]] = []

    def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        seen.extend((m.queue_id, m.queue_offset) for m in msgs)
        return ConsumeOrderlyStatus.SUCCESS

    consumer = consumer_for(namesrv, fast_config, lock_interval_s=0.05)
    consumer.subscribe("T")
    consumer.register_listener_orderly(listener)
    await consumer.start()
    await wait_until(lambda: len(seen) == 3)
    assert seen == [(0, 0), (0, 1), (0, 2)]
    assert pulled_queues(broker_a) == {0}  # queue 1 is neither locked nor pulled
    assert broker_a.lock_requests[0][1] in (
        [Q[0]],
        [Q[1]],
        [MessageQueue(retry_topic(GROUP), "broker-a", 0)],
    )
    await wait_until(lambda: any(len(mqs) > 1 for _, mqs in broker_a.lock_requests))  # renewal
    broker_a.refuse_locks.discard(Q[1])
    consumer.instance.rebalance_now()
    await wait_until(lambda: len(seen) == 6)
    assert seen[3:] == [(1, 0), (1, 1), (1, 2)]
    await consumer.shutdown()
    held = {mq for (group, mq), holder in broker_a.locks.items() if group == GROUP}
    assert not held  # all unlocked at shutdown
    # Offsets reach the broker (answered) before the locks go: the next owner reads them.
    first_unlock = broker_a.requests.index(RequestCode.UNLOCK_BATCH_MQ)
    updates = [
        i for i, code in enumerate(broker_a.requests) if code == RequestCode.UPDATE_CONSUMER_OFFSET
    ]
    assert updates and max(updates) < first_unlock
    assert broker_a.offsets[(GROUP, "T", 0)] == 3 and broker_a.offsets[(GROUP, "T", 1)] == 3


async def test_orderly_queue_whose_lock_renewal_fails_stops_pulling(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    seen: list[int] = []

    def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        seen.extend(m.queue_offset for m in msgs)
        return ConsumeOrderlyStatus.SUCCESS

    consumer = consumer_for(namesrv, fast_config, lock_interval_s=0.05)
    consumer.subscribe("T")
    consumer.register_listener_orderly(listener)
    await consumer.start()
    await wait_until(lambda: Q[0] in consumer.rebalance.process_queue_table)
    broker_a.refuse_locks.add(Q[0])
    del broker_a.locks[(GROUP, Q[0])]  # taken away (expired on the broker)
    pq = consumer.rebalance.process_queue_table[Q[0]]
    await wait_until(lambda: not pq.locked)
    await asyncio.sleep(0.1)  # the long poll in progress ends
    broker_a.store("T", 0, b"late")
    await asyncio.sleep(0.2)
    assert seen == []
    broker_a.refuse_locks.discard(Q[0])
    await wait_until(lambda: seen == [0])
    await consumer.shutdown()


async def test_orderly_suspend_retries_in_place(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    calls: list[tuple[bytes, int]] = []

    def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        calls.extend((m.body, m.reconsume_times) for m in msgs)
        if len(calls) == 1:
            return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
        return ConsumeOrderlyStatus.SUCCESS

    broker_a.store("T", 0, b"a")
    broker_a.store("T", 0, b"b")
    consumer = consumer_for(namesrv, fast_config, suspend_current_queue_s=0.05)
    consumer.subscribe("T")
    consumer.register_listener_orderly(listener)
    await consumer.start()
    await wait_until(lambda: len(calls) == 3)
    assert calls == [(b"a", 0), (b"a", 1), (b"b", 0)]
    assert not broker_a.send_backs and not [s for s in broker_a.sends if s.header.b != "T"]
    await consumer.shutdown()


# ----------------------------------------------------------------------------- broadcasting


async def test_broadcasting_takes_every_queue_and_keeps_offsets_locally(
    routes: None,
    namesrv: FakeNamesrv,
    broker_a: FakeBroker,
    fast_config: ClientConfig,
    tmp_path: Path,
) -> None:
    broker_a.consumer_ids[GROUP] = ["another@member", "zzz@member"]  # not used to allocate
    for i in range(4):
        broker_a.store("T", i % 2, f"m{i}".encode())
    got: list[bytes] = []

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        got.extend(m.body for m in msgs)
        return ConsumeStatus.RECONSUME_LATER if b"m1" in got[-1:] else ConsumeStatus.CONSUME_SUCCESS

    consumer = consumer_for(
        namesrv, fast_config, message_model=BROADCASTING, offset_store_dir=tmp_path
    )
    consumer.subscribe("T")
    consumer.register_listener(listener)
    await consumer.start()
    await wait_until(lambda: len(got) == 4)
    await asyncio.sleep(0.05)
    assert sorted(got) == [b"m0", b"m1", b"m2", b"m3"]  # m1 failed: dropped, not retried
    data = broker_a.heartbeats[-1].consumer_data_set[0]
    assert data.message_model == "BROADCASTING"
    assert [s.topic for s in data.subscription_data_set] == ["T"]  # no retry topic
    assert set(consumer.rebalance.process_queue_table) == set(Q)
    assert not any(p.sys_flag & 0x1 for p in broker_a.pulls)  # offsets never go to the broker
    assert not broker_a.send_backs and len(broker_a.sends) == 0
    await consumer.shutdown()
    assert not broker_a.offset_updates
    path = tmp_path / consumer.instance.client_id / GROUP / "offsets.json"
    assert decode_offset_file(path.read_bytes()) == {Q[0]: 2, Q[1]: 2}


async def test_message_model_is_checked(namesrv: FakeNamesrv) -> None:
    with pytest.raises(ValueError, match="message_model"):
        PushConsumer(GROUP, namesrv.addr, message_model="SOMETIMES")
