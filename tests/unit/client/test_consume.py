"""ConsumeService: workers, sync vs async listeners, dropped queues, send-back, local retries."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from pyrmq.client.consumer.consume import ConsumeService, ConsumeStatus, Listener
from pyrmq.client.consumer.offset_store import RemoteBrokerOffsetStore
from pyrmq.client.consumer.process_queue import ProcessQueue
from pyrmq.client.instance import ClientInstance
from pyrmq.common.clock import FakeClock
from pyrmq.common.message import MessageExt
from pyrmq.remoting.bodies import MessageQueue
from tests.unit.client.fakes import wait_until

MQ = MessageQueue("T", "broker-a", 0)


@pytest.fixture
async def store() -> AsyncIterator[RemoteBrokerOffsetStore]:
    instance = ClientInstance("127.0.0.1:9", "t")  # never contacted: offsets stay in memory
    yield RemoteBrokerOffsetStore("G", instance.api, instance.master_addr_or_refresh)
    await instance.shutdown()


async def run(
    store: RemoteBrokerOffsetStore, listener: Listener, pq: ProcessQueue, n: int = 3, **kw: object
) -> ConsumeService:
    service = ConsumeService("G", listener, store, FakeClock(), **kw)  # type: ignore[arg-type]
    await service.start()
    msgs = [MessageExt("T", f"m{i}".encode(), queue_offset=i) for i in range(n)]
    pq.put_messages(msgs)
    service.submit(MQ, pq, msgs)
    return service


async def test_sync_listener_runs_in_worker_threads(store: RemoteBrokerOffsetStore) -> None:
    threads: set[int] = set()

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        threads.add(threading.get_ident())
        return ConsumeStatus.CONSUME_SUCCESS

    pq = ProcessQueue()
    service = await run(store, listener, pq)
    await wait_until(lambda: store.offset_table.get(MQ) == 3)
    assert threading.get_ident() not in threads
    await service.shutdown()


async def test_async_callables_run_on_the_loop(store: RemoteBrokerOffsetStore) -> None:
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    class Listener:
        async def __call__(self, msgs: list[MessageExt]) -> ConsumeStatus:
            threads.add(threading.get_ident())
            return ConsumeStatus.CONSUME_SUCCESS

    service = await run(store, Listener(), ProcessQueue(), consume_batch_size=2)
    await wait_until(lambda: store.offset_table.get(MQ) == 3)
    assert threads == {loop_thread}
    await service.shutdown()


async def test_concurrency_is_bounded(store: RemoteBrokerOffsetStore) -> None:
    running, peak = 0, 0

    async def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return ConsumeStatus.CONSUME_SUCCESS

    service = await run(store, listener, ProcessQueue(), n=20, max_concurrency=3)
    await wait_until(lambda: store.offset_table.get(MQ) == 20)
    assert peak == 3
    await service.shutdown()


async def test_results_for_a_dropped_queue_are_ignored(store: RemoteBrokerOffsetStore) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        started.set()
        await release.wait()
        return ConsumeStatus.CONSUME_SUCCESS

    pq = ProcessQueue()
    service = await run(store, listener, pq, n=1)
    await started.wait()
    pq.dropped = True  # the rebalance gave the queue to another consumer meanwhile
    release.set()
    await asyncio.sleep(0.02)
    assert MQ not in store.offset_table
    assert pq.msg_count == 1
    await service.shutdown()


async def test_shutdown_lets_running_listeners_finish(store: RemoteBrokerOffsetStore) -> None:
    async def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        await asyncio.sleep(0.05)
        return ConsumeStatus.CONSUME_SUCCESS

    service = await run(store, listener, ProcessQueue(), n=1)
    await asyncio.sleep(0.01)
    await service.shutdown(grace_s=1.0)
    assert store.offset_table.get(MQ) == 1


async def test_bad_return_values_mean_retry(store: RemoteBrokerOffsetStore) -> None:
    calls: list[int] = []

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        calls.append(msgs[0].reconsume_times)
        return "ok" if len(calls) == 1 else ConsumeStatus.CONSUME_SUCCESS  # type: ignore[return-value]

    service = await run(store, listener, ProcessQueue(), n=1, reconsume_delay_s=0.01)
    await wait_until(lambda: store.offset_table.get(MQ) == 1)
    assert calls == [0, 1]
    await service.shutdown()


async def test_failures_are_sent_back_and_count_as_consumed(store: RemoteBrokerOffsetStore) -> None:
    sent_back: list[tuple[bytes, MessageQueue]] = []

    async def send_back(msg: MessageExt, mq: MessageQueue) -> bool:
        sent_back.append((msg.body, mq))
        return msg.body != b"m1"  # m1 cannot be sent back: retried here

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        return (
            ConsumeStatus.RECONSUME_LATER
            if msgs[0].reconsume_times == 0
            else ConsumeStatus.CONSUME_SUCCESS
        )

    pq = ProcessQueue()
    service = await run(store, listener, pq, send_back=send_back, reconsume_delay_s=0.05)
    await wait_until(lambda: len(sent_back) == 3)
    assert store.offset_table.get(MQ, 0) <= 1  # m1 still waits for its local retry
    await wait_until(lambda: store.offset_table.get(MQ) == 3)
    assert sorted(body for body, _ in sent_back) == [b"m0", b"m1", b"m2"]
    assert {mq for _, mq in sent_back} == {MQ}
    await service.shutdown()


async def test_broadcasting_failures_are_dropped(store: RemoteBrokerOffsetStore) -> None:
    calls: list[bytes] = []

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        calls.extend(m.body for m in msgs)
        return ConsumeStatus.RECONSUME_LATER

    service = await run(store, listener, ProcessQueue(), broadcasting=True)
    await wait_until(lambda: store.offset_table.get(MQ) == 3)
    await asyncio.sleep(0.02)
    assert sorted(calls) == [b"m0", b"m1", b"m2"]
    await service.shutdown()
