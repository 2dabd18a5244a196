"""ConsumeOrderlyService: one batch per queue at a time, offset order, SUSPEND, locks, commits."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest

from pyrmq.client.consumer.local_offset_store import LocalFileOffsetStore
from pyrmq.client.consumer.orderly import (
    ConsumeOrderlyService,
    ConsumeOrderlyStatus,
    OrderlyListener,
)
from pyrmq.client.consumer.process_queue import LOCK_MAX_LIVE_MS, ProcessQueue
from pyrmq.common.clock import FakeClock
from pyrmq.common.message import MessageExt
from pyrmq.remoting.bodies import MessageQueue
from tests.unit.client.fakes import wait_until

MQS = [MessageQueue("T", "broker-a", i) for i in range(3)]


@pytest.fixture
def store(tmp_path: object) -> LocalFileOffsetStore:
    # Any OffsetStore will do: this one keeps offsets in memory until persisted.
    return LocalFileOffsetStore("G", "c", str(tmp_path))


def messages(mq: MessageQueue, start: int, n: int) -> list[MessageExt]:
    return [
        MessageExt(mq.topic, f"{mq.queue_id}:{i}".encode(), queue_id=mq.queue_id, queue_offset=i)
        for i in range(start, start + n)
    ]


def locked_pq(clock: FakeClock) -> ProcessQueue:
    pq = ProcessQueue()
    pq.set_locked(True, clock.now_ms())
    return pq


def feed(
    service: ConsumeOrderlyService, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]
) -> None:
    """What the pull loop does with a FOUND result."""
    pq.put_messages(msgs)
    if pq.start_consuming():
        service.submit(mq, pq)


@pytest.fixture
async def clock() -> AsyncIterator[FakeClock]:
    yield FakeClock()


async def make(
    store: LocalFileOffsetStore, clock: FakeClock, listener: OrderlyListener, **kw: object
) -> ConsumeOrderlyService:
    kw.setdefault("try_lock", None)
    service = ConsumeOrderlyService("G", listener, store, clock, **kw)  # type: ignore[arg-type]
    await service.start()
    return service


async def test_each_queue_in_order_one_batch_at_a_time(
    store: LocalFileOffsetStore, clock: FakeClock
) -> None:
    seen: dict[int, list[int]] = defaultdict(list)
    running: dict[int, int] = defaultdict(int)
    overlap: list[int] = []
    peak = 0

    async def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        nonlocal peak
        qid = msgs[0].queue_id
        running[qid] += 1
        if running[qid] > 1:
            overlap.append(qid)
        peak = max(peak, sum(running.values()))
        await asyncio.sleep(0.001)
        seen[qid].extend(m.queue_offset for m in msgs)
        running[qid] -= 1
        return ConsumeOrderlyStatus.SUCCESS

    service = await make(store, clock, listener, consume_batch_size=3)
    pqs = {mq: ProcessQueue() for mq in MQS}
    for start in range(0, 30, 10):  # several pulls per queue, while requests run
        for mq in MQS:
            feed(service, mq, pqs[mq], messages(mq, start, 10))
        await asyncio.sleep(0.002)
    await wait_until(lambda: all(len(seen[mq.queue_id]) == 30 for mq in MQS))
    assert all(seen[mq.queue_id] == list(range(30)) for mq in MQS)
    assert not overlap and peak > 1  # queues in parallel, never one queue twice
    assert all(store.offset_table[mq] == 30 for mq in MQS)
    await service.shutdown()


async def test_suspend_retries_the_same_batch_later(
    store: LocalFileOffsetStore, clock: FakeClock
) -> None:
    calls: list[tuple[list[int], list[int]]] = []

    def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:  # sync: a worker thread
        calls.append(([m.queue_offset for m in msgs], [m.reconsume_times for m in msgs]))
        if len(calls) <= 2:
            return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
        return ConsumeOrderlyStatus.SUCCESS

    service = await make(store, clock, listener, consume_batch_size=2, suspend_s=0.05)
    mq, pq = MQS[0], ProcessQueue()
    feed(service, mq, pq, messages(mq, 0, 3))
    await wait_until(lambda: store.offset_table.get(mq) == 3)
    assert calls[:3] == [([0, 1], [0, 0]), ([0, 1], [1, 1]), ([0, 1], [2, 2])]
    assert calls[3] == ([2], [0])
    await service.shutdown()


async def test_exceptions_suspend_and_nothing_is_committed_meanwhile(
    store: LocalFileOffsetStore, clock: FakeClock
) -> None:
    attempts = 0

    async def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("boom")
        return ConsumeOrderlyStatus.SUCCESS

    service = await make(store, clock, listener, suspend_s=0.2)
    mq, pq = MQS[0], ProcessQueue()
    feed(service, mq, pq, messages(mq, 0, 2))
    await asyncio.sleep(0.05)
    assert attempts == 1 and mq not in store.offset_table  # the queue waits for offset 0
    await wait_until(lambda: store.offset_table.get(mq) == 2)
    await service.shutdown()


async def test_past_max_reconsume_times_the_message_is_resent_and_skipped(
    store: LocalFileOffsetStore, clock: FakeClock
) -> None:
    resent: list[tuple[int, str]] = []

    async def resend(msg: MessageExt) -> bool:
        resent.append((msg.reconsume_times, msg.properties["RECONSUME_TIME"]))
        return True

    def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT

    service = await make(
        store, clock, listener, suspend_s=0.01, max_reconsume_times=2, resend=resend
    )
    mq, pq = MQS[0], ProcessQueue()
    feed(service, mq, pq, messages(mq, 0, 1))
    await wait_until(lambda: store.offset_table.get(mq) == 1)
    assert resent == [(2, "2")]
    await service.shutdown()


async def test_clustering_consumes_only_while_locked(
    store: LocalFileOffsetStore, clock: FakeClock
) -> None:
    events: list[str] = []

    async def try_lock(mq: MessageQueue) -> bool:
        events.append("lock")
        pq.set_locked(True, clock.now_ms())  # the broker granted it (as QueueLocker records)
        return True

    def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        events.extend(f"consume {m.queue_offset}" for m in msgs)
        return ConsumeOrderlyStatus.SUCCESS

    service = await make(store, clock, listener, try_lock=try_lock)
    mq, pq = MQS[0], locked_pq(clock)
    clock.advance(LOCK_MAX_LIVE_MS + 1)  # the lock was not renewed: no longer trusted
    feed(service, mq, pq, messages(mq, 0, 2))
    await wait_until(lambda: len(events) == 3)
    assert events == ["lock", "consume 0", "consume 1"]
    pq.locked = False  # lost to another consumer (a lock renewal was refused)
    feed(service, mq, pq, messages(mq, 2, 1))
    await wait_until(lambda: len(events) == 5)
    assert events[3:] == ["lock", "consume 2"]
    await service.shutdown()


async def test_dropped_queues_are_not_consumed(
    store: LocalFileOffsetStore, clock: FakeClock
) -> None:
    seen: list[int] = []

    def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        seen.extend(m.queue_offset for m in msgs)
        return ConsumeOrderlyStatus.SUCCESS

    service = await make(store, clock, listener)
    mq, pq = MQS[0], ProcessQueue()
    pq.dropped = True
    feed(service, mq, pq, messages(mq, 0, 2))
    await asyncio.sleep(0.02)
    assert seen == []
    await service.shutdown()


async def test_shutdown_waits_for_the_running_listener(
    store: LocalFileOffsetStore, clock: FakeClock
) -> None:
    async def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        await asyncio.sleep(0.05)
        return ConsumeOrderlyStatus.SUCCESS

    service = await make(store, clock, listener)
    mq, pq = MQS[0], ProcessQueue()
    feed(service, mq, pq, messages(mq, 0, 1))
    await asyncio.sleep(0.01)
    await service.shutdown(grace_s=1.0)
    assert store.offset_table.get(mq) == 1
