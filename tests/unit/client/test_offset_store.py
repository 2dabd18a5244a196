"""RemoteBrokerOffsetStore against a fake broker: read (-1/-2), increase-only, persist."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pyrmq.client.consumer.offset_store import (
    OFFSET_NOT_FOUND,
    OFFSET_READ_FAILED,
    ReadOffsetType,
    RemoteBrokerOffsetStore,
)
from pyrmq.client.instance import ClientInstance
from pyrmq.remoting.bodies import MessageQueue
from tests.unit.client.fakes import FakeBroker, FakeNamesrv, route_of, wait_until

MQ0 = MessageQueue("T", "broker-a", 0)
MQ1 = MessageQueue("T", "broker-a", 1)


@pytest.fixture
async def instance(namesrv: FakeNamesrv, broker_a: FakeBroker) -> AsyncIterator[ClientInstance]:
    namesrv.routes["T"] = route_of(broker_a)
    client = ClientInstance(namesrv.addr, "i")
    yield client
    await client.shutdown()


@pytest.fixture
def store(instance: ClientInstance) -> RemoteBrokerOffsetStore:
    return RemoteBrokerOffsetStore("G", instance.api, instance.master_addr_or_refresh)


async def test_read_from_broker(store: RemoteBrokerOffsetStore, broker_a: FakeBroker) -> None:
    assert await store.read_offset(MQ0, ReadOffsetType.READ_FROM_STORE) == OFFSET_NOT_FOUND
    broker_a.offsets[("G", "T", 0)] = 17
    assert await store.read_offset(MQ0, ReadOffsetType.READ_FROM_STORE) == 17
    assert store.offset_table[MQ0] == 17  # remembered
    assert await store.read_offset(MQ1, ReadOffsetType.READ_FROM_MEMORY) == OFFSET_NOT_FOUND
    assert await store.read_offset(MQ0, ReadOffsetType.READ_FROM_MEMORY) == 17
    broker_a.offsets[("G", "T", 1)] = 3
    assert await store.read_offset(MQ1, ReadOffsetType.MEMORY_FIRST_THEN_STORE) == 3


async def test_unreachable_broker_reads_as_failure(
    store: RemoteBrokerOffsetStore, broker_a: FakeBroker
) -> None:
    await broker_a.stop()
    assert await store.read_offset(MQ0, ReadOffsetType.READ_FROM_STORE) == OFFSET_READ_FAILED
    unknown = MessageQueue("T", "broker-zz", 0)
    assert await store.read_offset(unknown, ReadOffsetType.READ_FROM_STORE) == OFFSET_READ_FAILED


def test_increase_only(store: RemoteBrokerOffsetStore) -> None:
    store.update_offset(MQ0, 10)
    store.update_offset(MQ0, 8, increase_only=True)
    assert store.offset_table[MQ0] == 10
    store.update_offset(MQ0, 12, increase_only=True)
    store.update_offset(MQ0, 5)
    assert store.offset_table[MQ0] == 5


async def test_persist_oneway_and_sync(
    store: RemoteBrokerOffsetStore, broker_a: FakeBroker
) -> None:
    await store.persist(MQ0)  # nothing in memory: nothing sent
    store.update_offset(MQ0, 4)
    await store.persist(MQ0)
    await wait_until(lambda: broker_a.offsets.get(("G", "T", 0)) == 4)
    store.update_offset(MQ0, 6)
    await store.persist(MQ0, oneway=False)
    assert broker_a.offsets[("G", "T", 0)] == 6
    assert [(u[3], u[4]) for u in broker_a.offset_updates] == [(4, True), (6, False)]


async def test_persist_all_forgets_unassigned(
    store: RemoteBrokerOffsetStore, broker_a: FakeBroker
) -> None:
    store.update_offset(MQ0, 1)
    store.update_offset(MQ1, 2)
    await store.persist_all([MQ1])
    await wait_until(lambda: len(broker_a.offset_updates) == 1)
    assert broker_a.offset_updates[0][2:4] == (1, 2)
    assert set(store.offset_table) == {MQ1}
