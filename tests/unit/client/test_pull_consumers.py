"""PullConsumer and LitePullConsumer against fake servers: request flags, statuses, offsets."""

from __future__ import annotations

from typing import Any

import pytest

from pyrmq.client import LitePullConsumer, MQClientError, PullConsumer, PullStatus
from pyrmq.client.config import ClientConfig
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.codes import ResponseCode
from tests.unit.client.fakes import FakeBroker, FakeNamesrv, route_of, wait_until

MQ0 = MessageQueue("T", "broker-a", 0)
MQ1 = MessageQueue("T", "broker-a", 1)


@pytest.fixture
def routes(namesrv: FakeNamesrv, broker_a: FakeBroker) -> None:
    namesrv.routes["T"] = route_of(broker_a, read=2)


async def test_pull_statuses_and_request(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    for tag in ["A", "B", "A"]:
        broker_a.store("T", 0, tag.encode(), TAGS=tag)
    async with PullConsumer("PC", namesrv.addr, client_config=fast_config) as consumer:
        assert await consumer.fetch_subscribe_message_queues("T") == {MQ0, MQ1}
        found = await consumer.pull(MQ0, "A", 0, 32)
        assert found.status is PullStatus.FOUND
        assert [m.body for m in found.msgs] == [b"A", b"A"]  # B filtered again by the client
        assert (found.next_begin_offset, found.min_offset, found.max_offset) == (3, 0, 3)
        assert (await consumer.pull(MQ0, "*", 3, 32)).status is PullStatus.NO_NEW_MSG
        moved = await consumer.pull(MQ0, "*", 9, 32)
        assert (moved.status, moved.next_begin_offset) == (PullStatus.OFFSET_ILLEGAL, 3)
        broker_a.pull_script[("T", 1)] = [(ResponseCode.PULL_RETRY_IMMEDIATELY, 5)]
        assert (await consumer.pull(MQ1, "*", 0, 32)).status is PullStatus.NO_MATCHED_MSG
        with pytest.raises(MQClientError):
            await consumer.pull(MQ0, "*", -1, 32)
        request = broker_a.pulls[0]
        # SUBSCRIPTION only: answered at once, no commit; TAG subscriptions send subVersion 0.
        assert (request.sys_flag, request.subscription, request.sub_version) == (0x4, "A", 0)
        assert request.suspend_timeout_millis == 20000 and request.max_msg_nums == 32
        await consumer.pull_block_if_not_found(MQ0, "*", 0, 1)
        assert broker_a.pulls[-1].sys_flag == 0x6
        assert await consumer.max_offset(MQ0) == 3 and await consumer.min_offset(MQ0) == 0
        assert await consumer.fetch_consume_offset(MQ0) == -1
        consumer.update_consume_offset(MQ0, 2)
        data = consumer.consumer_data()  # what its heartbeats carry
        assert (data.consume_type, data.message_model) == ("CONSUME_ACTIVELY", "CLUSTERING")
        assert [s.topic for s in data.subscription_data_set] == ["T"]  # topics pulled so far
    assert broker_a.offsets[("PC", "T", 0)] == 2  # persisted at shutdown


def lite(namesrv: FakeNamesrv, config: ClientConfig, **kw: Any) -> LitePullConsumer:
    return LitePullConsumer("LC", namesrv.addr, client_config=config, **kw)


async def test_lite_pull_assign_poll_seek_commit(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    for i in range(5):
        broker_a.store("T", 0, f"m{i}".encode())
    broker_a.offsets[("LC", "T", 0)] = 1  # the group's committed offset
    consumer = lite(namesrv, fast_config, enable_auto_commit=False, pull_batch_size=2)
    consumer.assign([MQ0])
    await consumer.start()
    got = []
    while len(got) < 4:
        got.extend(m.body for m in await consumer.poll(2.0))
    assert got == [b"m1", b"m2", b"m3", b"m4"]  # from the committed offset, in batches of 2
    request = broker_a.pulls[0]
    assert request.sys_flag == 0x16 and request.max_msg_nums == 2  # SUSPEND|SUBSCRIPTION|LITE
    await consumer.commit_sync()
    assert broker_a.offsets[("LC", "T", 0)] == 5
    await consumer.seek(MQ0, 3)
    assert [m.body for m in await consumer.poll(2.0)] == [b"m3", b"m4"]
    with pytest.raises(MQClientError, match="illegal"):
        await consumer.seek(MQ0, 6)
    with pytest.raises(MQClientError, match="not assigned"):
        await consumer.seek(MQ1, 0)
    assert consumer.assignment() == {MQ0}
    await consumer.shutdown()


async def test_lite_pull_subscribe_rebalances_and_auto_commits(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    for i in range(6):
        broker_a.store("T", i % 2, f"m{i}".encode())
    consumer = lite(
        namesrv,
        fast_config,
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        auto_commit_interval_s=0.0,
    )
    consumer.subscribe("T", "*")
    with pytest.raises(MQClientError):
        consumer.assign([MQ0])
    await consumer.start()
    got: set[bytes] = set()
    for _ in range(20):
        got.update(m.body for m in await consumer.poll(0.5))
        if len(got) == 6:
            break
    assert got == {f"m{i}".encode() for i in range(6)}
    assert consumer.assignment() == {MQ0, MQ1}
    await consumer.poll(0.01)  # commits on entry
    await wait_until(lambda: broker_a.offsets.get(("LC", "T", 0)) == 3)
    assert broker_a.offsets[("LC", "T", 1)] == 3
    data = broker_a.heartbeats[-1].consumer_data_set[0]
    assert (data.consume_type, [s.topic for s in data.subscription_data_set]) == (
        "CONSUME_ACTIVELY", ["T"],
    )  # fmt: skip
    await consumer.shutdown()


async def test_lite_pull_poll_times_out_empty(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    consumer = lite(namesrv, fast_config)
    consumer.assign([MQ1])
    with pytest.raises(MQClientError):
        await consumer.poll(0.01)  # not started
    await consumer.start()
    assert await consumer.poll(0.05) == []
    await consumer.shutdown()
