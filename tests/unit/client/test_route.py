"""Route -> publish/subscribe queue lists (§5.4), template routes, round-robin queue choice."""

from __future__ import annotations

from pyrmq.client.route import (
    TopicPublishInfo,
    broker_addrs,
    master_addr,
    publish_queues,
    subscribe_queues,
    with_default_queue_nums,
)
from pyrmq.remoting.bodies import BrokerData, MessageQueue, QueueData, TopicRouteData

A = BrokerData("C", "broker-a", {0: "10.0.0.1:10911", 1: "10.0.0.2:10911"})
B = BrokerData("C", "broker-b", {0: "10.0.0.3:10911"})
SLAVE_ONLY = BrokerData("C", "broker-c", {1: "10.0.0.4:10911"})


def route(
    *queue_datas: QueueData, brokers: tuple[BrokerData, ...] = (A, B, SLAVE_ONLY)
) -> TopicRouteData:
    return TopicRouteData(queue_datas=list(queue_datas), broker_datas=list(brokers))


def ids(queues: list[MessageQueue]) -> list[tuple[str, int]]:
    return [(mq.broker_name, mq.queue_id) for mq in queues]


def test_publish_queues_are_writable_queues_of_brokers_with_a_master_sorted_by_name() -> None:
    r = route(QueueData("broker-b", 4, 2, 6), QueueData("broker-a", 4, 3, 6))
    assert ids(publish_queues("T", r)) == [
        ("broker-a", 0), ("broker-a", 1), ("broker-a", 2), ("broker-b", 0), ("broker-b", 1),
    ]  # fmt: skip
    assert all(mq.topic == "T" for mq in publish_queues("T", r))


def test_publish_skips_unwritable_masterless_and_unknown_brokers() -> None:
    r = route(
        QueueData("broker-a", 4, 4, 4),  # read-only
        QueueData("broker-b", 2, 2, 6),
        QueueData("broker-c", 2, 2, 6),  # only a slave left
        QueueData("broker-x", 2, 2, 6),  # no BrokerData at all
    )
    assert ids(publish_queues("T", r)) == [("broker-b", 0), ("broker-b", 1)]


def test_order_topic_conf_replaces_the_queue_data() -> None:
    r = route(QueueData("broker-a", 8, 8, 6), QueueData("broker-b", 8, 8, 6))
    r.order_topic_conf = "broker-b:2;broker-a:1"
    assert ids(publish_queues("T", r)) == [("broker-b", 0), ("broker-b", 1), ("broker-a", 0)]
    assert TopicPublishInfo.from_route("T", r).order_topic


def test_subscribe_queues_are_readable_queues_even_without_master() -> None:
    r = route(
        QueueData("broker-a", 2, 4, 6),
        QueueData("broker-b", 3, 3, 2),  # write-only
        QueueData("broker-c", 1, 1, 4),
    )
    assert sorted(ids(sorted(subscribe_queues("T", r)))) == [
        ("broker-a", 0), ("broker-a", 1), ("broker-c", 0),
    ]  # fmt: skip


def test_master_and_broker_addresses() -> None:
    r = route(QueueData("broker-a", 1, 1, 6))
    assert master_addr(r, "broker-a") == "10.0.0.1:10911"
    assert master_addr(r, "broker-c") is None
    assert master_addr(r, "nope") is None
    assert broker_addrs(r)["broker-a"] == {0: "10.0.0.1:10911", 1: "10.0.0.2:10911"}
    assert set(broker_addrs(r)) == {"broker-a", "broker-b", "broker-c"}


def test_template_route_is_cut_to_default_queue_nums() -> None:
    r = with_default_queue_nums(
        route(QueueData("broker-a", 8, 8, 7), QueueData("broker-b", 2, 2, 7)), 4
    )
    assert [(q.read_queue_nums, q.write_queue_nums) for q in r.queue_datas] == [(4, 4), (2, 2)]
    assert [q.perm for q in r.queue_datas] == [7, 7]


def test_select_round_robins_over_the_queue_list() -> None:
    info = TopicPublishInfo.from_route(
        "T", route(QueueData("broker-a", 2, 2, 6), QueueData("broker-b", 2, 2, 6)), 5
    )
    picks = [info.select() for _ in range(8)]
    assert ids(picks) == ids(info.queues[2:] + info.queues + info.queues[:2])


def test_select_on_retry_avoids_the_last_broker() -> None:
    info = TopicPublishInfo.from_route(
        "T", route(QueueData("broker-a", 3, 3, 6), QueueData("broker-b", 1, 1, 6))
    )
    for _ in range(10):
        assert info.select("broker-a").broker_name == "broker-b"
        assert info.select("broker-b").broker_name == "broker-a"


def test_select_with_a_single_broker_falls_back_to_it() -> None:
    info = TopicPublishInfo.from_route("T", route(QueueData("broker-a", 2, 2, 6)))
    assert info.select("broker-a").broker_name == "broker-a"


def test_empty_publish_info_is_not_ok() -> None:
    info = TopicPublishInfo.from_route("T", route(QueueData("broker-a", 2, 2, 4)))
    assert not info.ok
