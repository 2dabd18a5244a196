"""Admin against fake servers: topic creation (broker or cluster), routes, offsets."""

from __future__ import annotations

import pytest

from pyrmq.client import Admin, MQClientError
from pyrmq.remoting.bodies import BrokerData, ClusterInfo, MessageQueue
from pyrmq.remoting.errors import TopicNotExistError
from tests.unit.client.fakes import FakeBroker, FakeNamesrv, route_of

MQ = MessageQueue("T", "broker-a", 0)


async def test_create_topic_on_a_broker(namesrv: FakeNamesrv, broker_a: FakeBroker) -> None:
    async with Admin(namesrv.addr) as admin:
        assert await admin.create_topic(broker_a.addr, "N", 3) == [broker_a.addr]
    ext = broker_a.created_topics[0]
    assert (ext["topic"], ext["readQueueNums"], ext["writeQueueNums"], ext["perm"]) == (
        "N",
        "3",
        "3",
        "6",
    )
    assert (ext["defaultTopic"], ext["topicFilterType"], ext["order"]) == (
        "TBW102",
        "SINGLE_TAG",
        "false",
    )


async def test_create_topic_on_every_master_of_a_cluster(
    namesrv: FakeNamesrv, broker_a: FakeBroker, broker_b: FakeBroker
) -> None:
    namesrv.cluster = ClusterInfo(
        {
            "broker-a": BrokerData("C", "broker-a", {0: broker_a.addr}),
            "broker-b": BrokerData("C", "broker-b", {1: broker_b.addr}),  # slave only
        },
        {"C": ["broker-b", "broker-a"]},
    )
    async with Admin(namesrv.addr) as admin:
        assert await admin.create_topic("C", "N", 2, perm=4) == [broker_a.addr]
        with pytest.raises(MQClientError):
            await admin.create_topic("nope", "N", 2)
    assert broker_a.created_topics[0]["perm"] == "4"
    assert not broker_b.created_topics


async def test_routes_and_offsets(namesrv: FakeNamesrv, broker_a: FakeBroker) -> None:
    namesrv.routes["T"] = route_of(broker_a, read=2)
    for _ in range(3):
        broker_a.store("T", 0, b"m")
    async with Admin(namesrv.addr) as admin:
        assert await admin.topic_route("T") == namesrv.routes["T"]
        assert await admin.fetch_subscribe_queues("T") == [MQ, MessageQueue("T", "broker-a", 1)]
        with pytest.raises(TopicNotExistError):
            await admin.topic_route("nope")
        assert await admin.max_offset(MQ) == 3
        assert await admin.min_offset(MQ) == 0
        assert await admin.search_offset(MQ, 1_700_000_000_002) == 2
        assert await admin.consumer_offset("G", MQ) == -1
        await admin.update_consumer_offset("G", MQ, 2)
        assert await admin.consumer_offset("G", MQ) == 2
        with pytest.raises(MQClientError):
            await admin.max_offset(MessageQueue("T", "broker-zz", 0))
