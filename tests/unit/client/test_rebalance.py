"""RebalanceImpl against a fake broker's consumer list: allocation, drops, start offsets (§6.9)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from pyrmq.client.consumer.offset_store import RemoteBrokerOffsetStore
from pyrmq.client.consumer.process_queue import PULL_MAX_IDLE_MS, ProcessQueue
from pyrmq.client.consumer.rebalance import RebalanceImpl, parse_consume_timestamp, retry_topic
from pyrmq.client.instance import ClientInstance
from pyrmq.client.route import subscribe_queues
from pyrmq.common.clock import FakeClock
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.heartbeat import build_subscription_data
from tests.unit.client.fakes import FakeBroker, FakeNamesrv, route_of, wait_until


@dataclass
class Pulls:
    started: dict[MessageQueue, int] = field(default_factory=dict)
    stopped: list[MessageQueue] = field(default_factory=list)

    def start(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        self.started[mq] = offset

    def stop(self, mq: MessageQueue) -> None:
        self.stopped.append(mq)


@pytest.fixture
async def instance(namesrv: FakeNamesrv, broker_a: FakeBroker) -> AsyncIterator[ClientInstance]:
    namesrv.routes["T"] = route_of(broker_a, read=4)
    namesrv.routes[retry_topic("G")] = route_of(broker_a, read=1)
    client = ClientInstance(namesrv.addr, "me")
    await client.update_topic_route("T")
    yield client
    await client.shutdown()


def make(
    instance: ClientInstance, pulls: Pulls, where: str = "CONSUME_FROM_LAST_OFFSET", **kw: object
) -> RebalanceImpl:
    store = RemoteBrokerOffsetStore("G", instance.api, instance.master_addr_or_refresh)
    clock = FakeClock()
    rebalance = RebalanceImpl(
        "G", instance, store, pulls.start, pulls.stop, now_ms=clock.now_ms,
        consume_from_where=where, **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    rebalance.subscriptions["T"] = build_subscription_data("T", "*")
    rebalance.update_subscribe_info("T", subscribe_queues("T", instance.route_table["T"]))
    return rebalance


def mqs(*ids: int, topic: str = "T") -> set[MessageQueue]:
    return {MessageQueue(topic, "broker-a", i) for i in ids}


async def test_allocation_follows_the_consumer_list(
    instance: ClientInstance, broker_a: FakeBroker
) -> None:
    pulls = Pulls()
    rebalance = make(instance, pulls)
    broker_a.consumer_ids["G"] = ["127.0.0.1@me", "127.0.0.1@other"]
    for i in range(4):
        for _ in range(i + 2):
            broker_a.store("T", i, b"m")
    assert await rebalance.rebalance_by_topic("T")
    assert set(rebalance.process_queue_table) == mqs(0, 1)
    # CONSUME_FROM_LAST_OFFSET, no committed offset: start at the queue's max offset.
    assert pulls.started == {
        MessageQueue("T", "broker-a", 0): 2,
        MessageQueue("T", "broker-a", 1): 3,
    }
    assert not await rebalance.rebalance_by_topic("T")  # unchanged
    broker_a.consumer_ids["G"] = ["127.0.0.1@aaa", "127.0.0.1@me"]
    rebalance.offset_store.update_offset(MessageQueue("T", "broker-a", 0), 1)
    assert await rebalance.rebalance_by_topic("T")
    assert set(rebalance.process_queue_table) == mqs(2, 3)
    assert set(pulls.stopped) == mqs(0, 1)
    # The dropped queue's offset went to the broker before it was forgotten.
    await wait_until(lambda: broker_a.offsets.get(("G", "T", 0)) == 1)
    assert MessageQueue("T", "broker-a", 0) not in rebalance.offset_store.offset_table


async def test_without_consumer_list_nothing_changes(instance: ClientInstance) -> None:
    rebalance = make(instance, Pulls())
    assert not await rebalance.rebalance_by_topic("T")  # broker: "no consumer for this group"
    assert not await rebalance.rebalance_by_topic("unknown-topic")


async def test_committed_offset_wins(instance: ClientInstance, broker_a: FakeBroker) -> None:
    pulls = Pulls()
    rebalance = make(instance, pulls, "CONSUME_FROM_FIRST_OFFSET")
    broker_a.consumer_ids["G"] = ["127.0.0.1@me"]
    broker_a.offsets[("G", "T", 2)] = 42
    await rebalance.rebalance_by_topic("T")
    assert pulls.started[MessageQueue("T", "broker-a", 2)] == 42
    assert pulls.started[MessageQueue("T", "broker-a", 0)] == 0  # FIRST: no offset -> 0


async def test_from_timestamp_searches(instance: ClientInstance, broker_a: FakeBroker) -> None:
    pulls = Pulls()
    for _ in range(5):
        broker_a.store("T", 0, b"m")  # store timestamps 1_700_000_000_000 + offset
    rebalance = make(
        instance, pulls, "CONSUME_FROM_TIMESTAMP", consume_timestamp_ms=1_700_000_000_003
    )
    broker_a.consumer_ids["G"] = ["127.0.0.1@me"]
    await rebalance.rebalance_by_topic("T")
    assert pulls.started[MessageQueue("T", "broker-a", 0)] == 3
    assert pulls.started[MessageQueue("T", "broker-a", 1)] == 0  # empty queue: max = 0


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CONSUME_FROM_LAST_OFFSET", 0),
        ("CONSUME_FROM_TIMESTAMP", 3),
        ("CONSUME_FROM_FIRST_OFFSET", 0),
    ],
)
async def test_retry_topic_start_offsets(
    instance: ClientInstance, broker_a: FakeBroker, where: str, expected: int
) -> None:
    topic = retry_topic("G")
    for _ in range(3):
        broker_a.store(topic, 0, b"m")
    pulls = Pulls()
    rebalance = make(instance, pulls, where)
    mq = MessageQueue(topic, "broker-a", 0)
    assert await rebalance.compute_pull_from_where(mq) == expected


async def test_broker_unreachable_means_no_start(
    instance: ClientInstance, broker_a: FakeBroker
) -> None:
    pulls = Pulls()
    rebalance = make(instance, pulls)
    await broker_a.stop()
    assert await rebalance.compute_pull_from_where(MessageQueue("T", "broker-a", 0)) == -1
    assert not await rebalance.update_process_queue_table("T", mqs(0))
    assert pulls.started == {}


async def test_unsubscribed_topics_and_idle_queues_are_dropped(
    instance: ClientInstance, broker_a: FakeBroker
) -> None:
    pulls = Pulls()
    rebalance = make(instance, pulls)
    broker_a.consumer_ids["G"] = ["127.0.0.1@me"]
    await rebalance.do_rebalance()
    assert set(rebalance.process_queue_table) == mqs(0, 1, 2, 3)
    stale = rebalance.process_queue_table[MessageQueue("T", "broker-a", 3)]
    stale.last_pull_ms -= PULL_MAX_IDLE_MS + 1
    await rebalance.rebalance_by_topic("T")
    assert (
        stale.dropped
        and rebalance.process_queue_table[MessageQueue("T", "broker-a", 3)] is not stale
    )
    del rebalance.subscriptions["T"]
    await rebalance.do_rebalance()
    assert rebalance.process_queue_table == {}


def test_consume_timestamp_format() -> None:
    from datetime import datetime

    expected = int(datetime(2024, 1, 2, 3, 4, 5).timestamp() * 1000)
    assert parse_consume_timestamp("20240102030405") == expected
    with pytest.raises(ValueError):
        parse_consume_timestamp("2024-01-02")


async def test_unknown_consume_from_where(instance: ClientInstance) -> None:
    with pytest.raises(ValueError):
        make(instance, Pulls(), "CONSUME_FROM_NOWHERE")
