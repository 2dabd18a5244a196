"""ConsumerManager / ProducerManager: registration, notifications, closes and expiry."""

from __future__ import annotations

import pytest

from pyrmq.broker.client_manager import (
    CHANNEL_EXPIRED_TIMEOUT_MS,
    ClientChannelInfo,
    ConsumerManager,
    ProducerManager,
)
from pyrmq.common.clock import FakeClock
from pyrmq.remoting.heartbeat import Connection, SubscriptionData, build_subscription_data


class FakeChannel:
    """Stands in for RemotingConnection: ``peer`` and an ``is_open`` property. Instances
    compare equal to each other on purpose: the managers must use identity."""

    def __init__(self, peer: str, is_open: bool = True) -> None:
        self.peer = peer
        self.open = is_open

    @property
    def is_open(self) -> bool:
        return self.open

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeChannel)

    def __hash__(self) -> int:
        return 0


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[object]]] = []

    def __call__(self, group: str, channels: list[object]) -> None:
        self.calls.append((group, channels))


def _info(clock: FakeClock, channel: object, client_id: str) -> ClientChannelInfo:
    return ClientChannelInfo(channel, client_id, "JAVA", 397, clock.now_ms())


def _subs(*topics: str, version: int = 1) -> list[SubscriptionData]:
    return [build_subscription_data(t, "*", sub_version=version) for t in topics]


def _consumers() -> tuple[ConsumerManager, FakeClock, Recorder]:
    clock = FakeClock()
    recorder = Recorder()
    return ConsumerManager(clock, recorder), clock, recorder


def _register(
    manager: ConsumerManager,
    info: ClientChannelInfo,
    subs: list[SubscriptionData],
    group: str = "G",
    notify: bool = True,
) -> bool:
    return manager.register_consumer(
        group, info, "CONSUME_PASSIVELY", "CLUSTERING", "CONSUME_FROM_LAST_OFFSET", subs, notify
    )


# ----------------------------------------------------------------------------------- consumers


def test_client_channel_info_address_and_connection() -> None:
    clock = FakeClock()
    info = _info(clock, FakeChannel("10.0.0.1:5000"), "c1")
    assert info.client_addr == "10.0.0.1:5000"
    assert info.to_connection() == Connection("c1", "10.0.0.1:5000", "JAVA", 397)
    assert _info(clock, object(), "c2").client_addr == ""


def test_register_notifies_when_membership_changes() -> None:
    manager, _, recorder = _consumers()
    ch1, ch2 = FakeChannel("a:1"), FakeChannel("b:2")

    assert _register(manager, _info(FakeClock(), ch1, "c1"), _subs("T", "%RETRY%G")) is True
    assert recorder.calls == [("G", [ch1])]

    assert _register(manager, _info(FakeClock(), ch1, "c1"), _subs("T", "%RETRY%G")) is False
    assert len(recorder.calls) == 1  # the periodic heartbeat changes nothing

    assert _register(manager, _info(FakeClock(), ch2, "c2"), _subs("T", "%RETRY%G")) is True
    group, channels = recorder.calls[-1]
    assert group == "G" and channels[0] is ch1 and channels[1] is ch2  # identity, not __eq__

    info = manager.get_consumer_group_info("G")
    assert info is not None
    assert info.all_client_ids() == ["c1", "c2"]
    assert info.consume_type == "CONSUME_PASSIVELY" and info.message_model == "CLUSTERING"
    assert info.consume_from_where == "CONSUME_FROM_LAST_OFFSET"
    assert set(info.subscription_table) == {"T", "%RETRY%G"}


def test_register_without_notify_flag() -> None:
    manager, clock, recorder = _consumers()
    assert _register(manager, _info(clock, FakeChannel("a:1"), "c1"), _subs("T"), notify=False)
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("second", "changed", "kept_version"),
    [
        (_subs("T", version=1), False, 1),
        (_subs("T", version=5), False, 5),  # newer version replaces, not a membership change
        (_subs("T", version=0), False, 1),  # older version ignored
        (_subs("T", "U", version=1), True, 1),  # topic added
        ([], True, None),  # topic removed
    ],
)
def test_subscription_updates(
    second: list[SubscriptionData], changed: bool, kept_version: int | None
) -> None:
    manager, clock, recorder = _consumers()
    info = _info(clock, FakeChannel("a:1"), "c1")
    _register(manager, info, _subs("T", version=1))
    assert _register(manager, info, second) is changed
    assert len(recorder.calls) == (2 if changed else 1)
    sub = manager.find_subscription_data("G", "T")
    assert (sub.sub_version if sub else None) == kept_version


def test_lookups() -> None:
    manager, clock, _ = _consumers()
    ch1 = FakeChannel("a:1")
    _register(manager, _info(clock, ch1, "c1"), _subs("T", "%RETRY%G"), group="G")
    _register(manager, _info(clock, FakeChannel("b:2"), "c2"), _subs("T"), group="H")
    assert sorted(manager.groups()) == ["G", "H"]
    assert manager.query_topic_consume_by_who("T") == {"G", "H"}
    assert manager.query_topic_consume_by_who("%RETRY%G") == {"G"}
    assert manager.query_topic_consume_by_who("X") == set()
    found = manager.find_channel("G", "c1")
    assert found is not None and found.channel is ch1
    assert manager.find_channel("G", "c2") is None and manager.find_channel("Z", "c1") is None
    assert manager.find_subscription_data("Z", "T") is None
    assert manager.get_consumer_group_info("Z") is None


def test_consumer_connection_body() -> None:
    manager, clock, _ = _consumers()
    _register(manager, _info(clock, FakeChannel("a:1"), "c1"), _subs("T"))
    info = manager.get_consumer_group_info("G")
    assert info is not None
    body = info.consumer_connection()
    assert body.connection_set == [Connection("c1", "a:1", "JAVA", 397)]
    assert set(body.subscription_table) == {"T"}
    assert (body.consume_type, body.message_model, body.consume_from_where) == (
        "CONSUME_PASSIVELY",
        "CLUSTERING",
        "CONSUME_FROM_LAST_OFFSET",
    )


def test_same_channel_new_client_id_replaces_the_entry() -> None:
    manager, clock, _ = _consumers()
    channel = FakeChannel("a:1")
    _register(manager, _info(clock, channel, "old"), _subs("T"))
    assert _register(manager, _info(clock, channel, "new"), _subs("T")) is False
    info = manager.get_consumer_group_info("G")
    assert info is not None and info.all_client_ids() == ["new"]


def test_unregister_consumer() -> None:
    manager, clock, recorder = _consumers()
    ch1, ch2 = FakeChannel("a:1"), FakeChannel("b:2")
    info1, info2 = _info(clock, ch1, "c1"), _info(clock, ch2, "c2")
    _register(manager, info1, _subs("T"))
    _register(manager, info2, _subs("T"))
    recorder.calls.clear()

    manager.unregister_consumer("G", info1, True)
    assert recorder.calls == [("G", [ch2])]
    manager.unregister_consumer("G", info2, True)
    assert manager.get_consumer_group_info("G") is None  # emptied group removed
    assert len(recorder.calls) == 1  # nobody left to notify
    manager.unregister_consumer("G", info2, True)  # unknown group: nothing happens


def test_unregister_without_notify() -> None:
    manager, clock, recorder = _consumers()
    info1 = _info(clock, FakeChannel("a:1"), "c1")
    _register(manager, info1, _subs("T"))
    _register(manager, _info(clock, FakeChannel("b:2"), "c2"), _subs("T"))
    recorder.calls.clear()
    manager.unregister_consumer("G", info1, False)
    assert recorder.calls == []


def test_channel_close_leaves_every_group() -> None:
    manager, clock, recorder = _consumers()
    shared, other = FakeChannel("a:1"), FakeChannel("b:2")
    _register(manager, _info(clock, shared, "c1"), _subs("T"), group="G")
    _register(manager, _info(clock, other, "c2"), _subs("T"), group="G")
    _register(manager, _info(clock, shared, "c1"), _subs("U"), group="H")
    recorder.calls.clear()

    assert manager.do_channel_close_event(shared) == ["G", "H"]

    assert recorder.calls == [("G", [other])]  # H has nobody left to tell
    assert manager.get_consumer_group_info("H") is None
    info = manager.get_consumer_group_info("G")
    assert info is not None and info.all_channels() == [other]
    assert manager.do_channel_close_event(shared) == []


def test_scan_not_active_channel() -> None:
    manager, clock, recorder = _consumers()
    stale, fresh = FakeChannel("a:1"), FakeChannel("b:2")
    _register(manager, _info(clock, stale, "c1"), _subs("T"), group="G")
    _register(manager, _info(clock, stale, "c1"), _subs("T"), group="H")
    _register(manager, _info(clock, fresh, "c2"), _subs("T"), group="G")
    recorder.calls.clear()

    clock.advance(CHANNEL_EXPIRED_TIMEOUT_MS)
    _register(manager, _info(clock, fresh, "c2"), _subs("T"), group="G")  # heartbeat refreshes
    assert manager.scan_not_active_channel() == []  # exactly 120 s: still alive

    clock.advance(1)
    expired = manager.scan_not_active_channel()

    assert len(expired) == 1 and expired[0] is stale  # once, though it was in two groups
    assert manager.get_consumer_group_info("H") is None
    info = manager.get_consumer_group_info("G")
    assert info is not None and info.all_channels() == [fresh]
    assert recorder.calls == []  # Java does not notify on expiry


# ----------------------------------------------------------------------------------- producers


def test_producer_register_and_lookups() -> None:
    clock = FakeClock()
    manager = ProducerManager(clock)
    ch1, ch2 = FakeChannel("a:1"), FakeChannel("b:2")
    manager.register_producer("P", _info(clock, ch1, "c1"))
    manager.register_producer("P", _info(clock, ch2, "c2"))
    manager.register_producer("P", _info(clock, ch1, "c1"))  # a heartbeat: no duplicate
    assert manager.groups() == ["P"]
    assert [i.client_id for i in manager.get_channel_infos("P")] == ["c1", "c2"]
    assert manager.find_channel("c2") is ch2
    assert manager.find_channel("nobody") is None
    assert manager.get_channel_infos("Q") == []


def test_get_available_channel_round_robin_and_liveness() -> None:
    clock = FakeClock()
    manager = ProducerManager(clock)
    channels = [FakeChannel(f"h:{n}") for n in range(3)]
    for n, channel in enumerate(channels):
        manager.register_producer("P", _info(clock, channel, f"c{n}"))

    picked = [manager.get_available_channel("P") for _ in range(6)]
    assert {id(c) for c in picked} == {id(c) for c in channels}

    channels[0].open = channels[1].open = False
    assert all(manager.get_available_channel("P") is channels[2] for _ in range(6))
    channels[2].open = False
    assert manager.get_available_channel("P") is None
    assert manager.get_available_channel("Missing") is None
    assert manager.get_available_channel(None) is None


def test_producer_unregister_close_and_scan() -> None:
    clock = FakeClock()
    manager = ProducerManager(clock)
    ch1, ch2 = FakeChannel("a:1"), FakeChannel("b:2")
    info1 = _info(clock, ch1, "c1")
    manager.register_producer("P", info1)
    manager.register_producer("Q", _info(clock, ch1, "c1"))
    manager.register_producer("P", _info(clock, ch2, "c2"))

    manager.unregister_producer("Q", info1)
    assert manager.groups() == ["P"] and manager.find_channel("c1") is None
    manager.unregister_producer("Missing", info1)

    assert manager.do_channel_close_event(ch1) == ["P"]
    assert [i.client_id for i in manager.get_channel_infos("P")] == ["c2"]

    clock.advance(CHANNEL_EXPIRED_TIMEOUT_MS + 1)
    expired = manager.scan_not_active_channel()
    assert len(expired) == 1 and expired[0] is ch2
    assert manager.groups() == [] and manager.find_channel("c2") is None


def test_producer_heartbeat_keeps_the_channel_alive() -> None:
    clock = FakeClock()
    manager = ProducerManager(clock)
    channel = FakeChannel("a:1")
    manager.register_producer("P", _info(clock, channel, "c1"))
    clock.advance(100_000)
    manager.register_producer("P", _info(clock, channel, "c1"))
    clock.advance(100_000)
    assert manager.scan_not_active_channel() == []
    assert manager.get_available_channel("P") is channel
