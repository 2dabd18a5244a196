"""ClientInstance: client id, route cache and broker table, heartbeats, unregister, notify."""

from __future__ import annotations

import os
import re

from pyrmq.client.config import ClientConfig, build_client_id
from pyrmq.client.instance import ClientInstance
from pyrmq.remoting.bodies import BrokerData, MessageQueue, TopicRouteData
from pyrmq.remoting.codes import RequestCode
from pyrmq.remoting.command import request
from pyrmq.remoting.heartbeat import ConsumerData
from tests.unit.client.fakes import FakeBroker, FakeNamesrv, dead_addr, route_of, wait_until


def test_client_id_like_java() -> None:
    cid = build_client_id("10.1.2.3", "DEFAULT")
    assert re.fullmatch(rf"10\.1\.2\.3@{os.getpid()}#\d+", cid)
    assert build_client_id("10.1.2.3", "DEFAULT") != cid  # each client object is distinct
    assert build_client_id("10.1.2.3", "inst") == "10.1.2.3@inst"
    assert build_client_id("10.1.2.3", "inst", "unit") == "10.1.2.3@inst@unit"


async def test_local_ip_is_the_address_towards_the_namesrv(namesrv: FakeNamesrv) -> None:
    instance = ClientInstance(namesrv.addr, "x")
    assert instance.client_ip == "127.0.0.1"
    assert instance.client_id == "127.0.0.1@x"
    await instance.shutdown()


class Recorder:
    """A minimal producer/consumer plugged into the instance (its protocols)."""

    def __init__(self, group: str, topics: list[str]) -> None:
        self.group = group
        self.topics = topics
        self.routes: dict[str, TopicRouteData] = {}
        self.subscribe_info: dict[str, set[MessageQueue]] = {}
        self.rebalances = 0
        self.persists = 0

    def publish_topics(self) -> list[str]:
        return self.topics

    def update_publish_info(self, topic: str, route: TopicRouteData) -> None:
        self.routes[topic] = route

    def consumer_data(self) -> ConsumerData:
        return ConsumerData(
            self.group, "CONSUME_PASSIVELY", "CLUSTERING", "CONSUME_FROM_LAST_OFFSET"
        )

    def subscribed_topics(self) -> list[str]:
        return self.topics

    def update_subscribe_info(self, topic: str, queues: set[MessageQueue]) -> None:
        self.subscribe_info[topic] = queues

    async def do_rebalance(self) -> None:
        self.rebalances += 1

    async def persist_offsets(self) -> None:
        self.persists += 1


async def test_routes_reach_producers_consumers_and_the_broker_table(
    namesrv: FakeNamesrv, broker_a: FakeBroker, broker_b: FakeBroker
) -> None:
    namesrv.routes["T"] = route_of(broker_a, broker_b, read=2)
    instance = ClientInstance(f"{dead_addr()};{namesrv.addr}", "i")
    producer, consumer = Recorder("PG", ["T"]), Recorder("CG", ["T"])
    instance.register_producer(producer)
    instance.register_consumer(consumer)
    assert await instance.update_topic_route("T")
    assert not await instance.update_topic_route("missing")
    assert producer.routes["T"] == namesrv.routes["T"]
    assert len(consumer.subscribe_info["T"]) == 4
    assert instance.master_addr("broker-b") == broker_b.addr
    assert instance.any_broker_addr("T") in {broker_a.addr, broker_b.addr}
    # A broker gone from every route is forgotten.
    namesrv.routes["T"] = route_of(broker_a)
    await instance.refresh_all_routes()
    assert set(instance.broker_addr_table) == {"broker-a"}
    await instance.shutdown()


async def test_subscribe_addr_falls_back_to_a_slave(namesrv: FakeNamesrv) -> None:
    instance = ClientInstance(namesrv.addr, "i")
    instance.apply_route(
        "T", TopicRouteData(broker_datas=[BrokerData("C", "b", {0: "m:1", 1: "s:1", 2: "t:1"})])
    )
    assert instance.subscribe_addr("b", 0) == ("m:1", 0)
    assert instance.subscribe_addr("b", 1) == ("s:1", 1)
    assert instance.subscribe_addr("b", 5) == ("m:1", 0)
    assert instance.subscribe_addr("nope", 0) is None
    await instance.shutdown()


async def test_the_route_fetched_last_names_a_brokers_addresses(namesrv: FakeNamesrv) -> None:
    # A DLedger failover: T's fresh route names the new master; %RETRY%g's older route still
    # names the dead one, and must not bring it back whatever the table's order.
    instance = ClientInstance(namesrv.addr, "i")
    old = TopicRouteData(broker_datas=[BrokerData("C", "b", {0: "dead:1", 2: "n1:1", 3: "n2:1"})])
    new = TopicRouteData(broker_datas=[BrokerData("C", "b", {0: "n2:1", 2: "n1:1"})])
    instance.apply_route("T", old)
    instance.apply_route("%RETRY%g", old)
    instance.apply_route("T", new)
    assert instance.subscribe_addr("b", 0) == ("n2:1", 0)
    assert instance.master_addr("b") == "n2:1"
    await instance.shutdown()


async def test_heartbeats_masters_only_without_consumers(
    namesrv: FakeNamesrv, broker_a: FakeBroker, broker_b: FakeBroker
) -> None:
    # broker_b plays broker-a's slave here.
    route = route_of(broker_a)
    route.broker_datas[0].broker_addrs[1] = broker_b.addr
    namesrv.routes["T"] = route
    instance = ClientInstance(namesrv.addr, "i")
    instance.register_producer(Recorder("PG", ["T"]))
    await instance.update_topic_route("T")
    await instance.send_heartbeat_to_all_brokers()
    assert len(broker_a.heartbeats) == 1 and not broker_b.heartbeats
    assert [p.group_name for p in broker_a.heartbeats[0].producer_data_set] == [
        "CLIENT_INNER_PRODUCER", "PG",
    ]  # fmt: skip
    assert instance.broker_versions[broker_a.addr] == 409
    instance.register_consumer(Recorder("CG", ["T"]))
    await instance.send_heartbeat_to_all_brokers()
    assert len(broker_a.heartbeats) == 2 and len(broker_b.heartbeats) == 1
    assert broker_b.heartbeats[0].consumer_data_set[0].group_name == "CG"
    await instance.shutdown()


async def test_timers_heartbeat_at_once_and_persist_and_rebalance(
    namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    namesrv.routes["T"] = route_of(broker_a)
    instance = ClientInstance(namesrv.addr, "i", config=fast_config)
    consumer = Recorder("CG", ["T"])
    instance.register_consumer(consumer)
    await instance.update_topic_route("T")
    await instance.start()
    await wait_until(lambda: len(broker_a.heartbeats) >= 1)
    await wait_until(lambda: consumer.rebalances >= 2 and consumer.persists >= 2)
    await instance.shutdown()
    # Shutdown persisted once more and unregistered the group from every broker.
    assert broker_a.unregisters == [(instance.client_id, None, "CG")]


async def test_notify_consumer_ids_changed_rebalances_at_once(
    namesrv: FakeNamesrv, broker_a: FakeBroker
) -> None:
    namesrv.routes["T"] = route_of(broker_a)
    instance = ClientInstance(namesrv.addr, "i", config=ClientConfig(rebalance_interval_s=60))
    consumer = Recorder("CG", ["T"])
    instance.register_consumer(consumer)
    await instance.start()
    await instance.update_topic_route("T")
    await instance.send_heartbeat_to_all_brokers()  # the fake broker notifies new members
    await wait_until(lambda: consumer.rebalances >= 1)
    before = consumer.rebalances
    conn = broker_a.consumers["CG"][instance.client_id]
    conn.oneway(request(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, {"consumerGroup": "CG"}))
    await wait_until(lambda: consumer.rebalances > before)
    await instance.shutdown()


async def test_route_refresh_requests_are_deduplicated(
    namesrv: FakeNamesrv, broker_a: FakeBroker
) -> None:
    namesrv.routes["T"] = route_of(broker_a)
    instance = ClientInstance(namesrv.addr, "i")
    await instance.start()
    for _ in range(5):
        instance.request_route_refresh("T")
    await wait_until(lambda: "T" in instance.route_table)
    assert namesrv.route_requests.count("T") == 1
    await instance.shutdown()
