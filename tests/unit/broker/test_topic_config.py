"""TopicConfigManager: 4.9 system topics, auto-creation (§5.6), admin changes, topics.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.topic_config import (
    NOT_ALLOWED_SEND_TOPICS,
    TopicConfigManager,
    is_not_allowed_send_topic,
    is_system_topic,
    validate_topic,
)
from pyrmq.common.clock import FakeClock
from pyrmq.remoting.bodies import DataVersion, TopicConfig
from pyrmq.store.metadata import TopicsFile

START_MS = 1_700_000_000_000


def _config(**overrides: Any) -> BrokerConfig:
    values: dict[str, Any] = {"broker_name": "broker-a", "broker_i_p1": "127.0.0.1"}
    values.update(overrides)
    return BrokerConfig(**values)


class Changes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def _manager(tmp_path: Path, **overrides: Any) -> tuple[TopicConfigManager, FakeClock, Changes]:
    clock = FakeClock(START_MS)
    manager = TopicConfigManager(_config(**overrides), tmp_path / "config" / "topics.json", clock)
    changes = Changes()
    manager.on_change = changes
    return manager, clock, changes


def _summary(manager: TopicConfigManager) -> dict[str, tuple[int, int, int]]:
    return {
        name: (tc.read_queue_nums, tc.write_queue_nums, tc.perm)
        for name, tc in manager.topic_config_table.items()
    }


# ----------------------------------------------------------------------------------- system topics

DEFAULT_SYSTEM_TOPICS = {
    "SELF_TEST_TOPIC": (1, 1, 6),
    "TBW102": (8, 8, 7),
    "BenchmarkTest": (1024, 1024, 6),
    "DefaultCluster": (16, 16, 7),
    "broker-a": (1, 1, 7),
    "OFFSET_MOVED_EVENT": (1, 1, 6),
    "SCHEDULE_TOPIC_XXXX": (18, 18, 6),
    "DefaultCluster_REPLY_TOPIC": (1, 1, 6),
}


def test_default_system_topics(tmp_path: Path) -> None:
    manager, _, changes = _manager(tmp_path)
    assert _summary(manager) == DEFAULT_SYSTEM_TOPICS
    assert manager.data_version == DataVersion(START_MS, 0)
    assert changes.count == 0
    assert not manager.topics_path.exists()  # nothing written until something changes


@pytest.mark.parametrize(
    ("overrides", "added", "removed"),
    [
        ({"auto_create_topic_enable": False}, {}, {"TBW102"}),
        ({"default_topic_queue_nums": 4}, {"TBW102": (4, 4, 7)}, set()),
        ({"cluster_topic_enable": False}, {"DefaultCluster": (16, 16, 1)}, set()),
        ({"broker_topic_enable": False}, {"broker-a": (1, 1, 1)}, set()),
        ({"trace_topic_enable": True}, {"RMQ_SYS_TRACE_TOPIC": (1, 1, 6)}, set()),
        (
            {"trace_topic_enable": True, "msg_trace_topic_name": "MyTrace"},
            {"MyTrace": (1, 1, 6)},
            set(),
        ),
        (
            {"broker_cluster_name": "c1"},
            {"c1": (16, 16, 7), "c1_REPLY_TOPIC": (1, 1, 6)},
            {"DefaultCluster", "DefaultCluster_REPLY_TOPIC"},
        ),
    ],
)
def test_system_topics_follow_the_broker_config(
    tmp_path: Path,
    overrides: dict[str, Any],
    added: dict[str, tuple[int, int, int]],
    removed: set[str],
) -> None:
    manager, _, _ = _manager(tmp_path, **overrides)
    expected = {k: v for k, v in DEFAULT_SYSTEM_TOPICS.items() if k not in removed} | added
    assert _summary(manager) == expected


@pytest.mark.parametrize(
    ("topic", "system"),
    [
        ("TBW102", True),
        ("SCHEDULE_TOPIC_XXXX", True),
        ("RMQ_SYS_TRANS_HALF_TOPIC", True),
        ("RMQ_SYS_TRACE_TOPIC", True),
        ("rmq_sys_anything", True),
        ("DefaultCluster", True),  # this broker's own system topics
        ("broker-a", True),
        ("DefaultCluster_REPLY_TOPIC", True),
        ("TopicTest", False),
        ("%RETRY%g", False),
    ],
)
def test_is_system_topic(tmp_path: Path, topic: str, system: bool) -> None:
    manager, _, _ = _manager(tmp_path)
    assert manager.is_system_topic(topic) is system


def test_static_is_system_topic_knows_only_the_fixed_set() -> None:
    assert is_system_topic("TBW102") and is_system_topic("rmq_sys_x")
    assert not is_system_topic("DefaultCluster")


def test_not_allowed_send_topics() -> None:
    assert (
        frozenset(
            {
                "SCHEDULE_TOPIC_XXXX",
                "RMQ_SYS_TRANS_HALF_TOPIC",
                "RMQ_SYS_TRANS_OP_HALF_TOPIC",
                "TRANS_CHECK_MAX_TIME_TOPIC",
                "SELF_TEST_TOPIC",
                "OFFSET_MOVED_EVENT",
            }
        )
        == NOT_ALLOWED_SEND_TOPICS
    )
    assert is_not_allowed_send_topic("SCHEDULE_TOPIC_XXXX")
    assert not is_not_allowed_send_topic("TBW102")
    assert not is_not_allowed_send_topic("RMQ_SYS_TRACE_TOPIC")


BLANK = "The specified topic is blank."
ILLEGAL = "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
TOO_LONG = "The specified topic is longer than topic max length."


@pytest.mark.parametrize(
    ("topic", "error"),
    [
        ("TopicTest", None),
        ("%RETRY%group-1_a|b", None),
        ("TBW102", None),  # the TBW102 ban is client-side only
        ("a" * 127, None),
        ("a" * 128, TOO_LONG),
        ("", BLANK),
        ("   ", BLANK),
        (None, BLANK),
        ("a b", ILLEGAL),
        ("topic.dot", ILLEGAL),
        ("caf\u00e9", ILLEGAL),
        ("t@g", ILLEGAL),
        ("é" * 200, ILLEGAL),  # characters are checked before the length
    ],
)
def test_validate_topic(topic: str | None, error: str | None) -> None:
    assert validate_topic(topic) == error


# ----------------------------------------------------------------------------------- auto-creation


@pytest.mark.parametrize(
    ("overrides", "template", "client_nums", "expected"),
    [
        ({}, "TBW102", 4, (4, 4, 6)),
        ({}, "TBW102", 16, (8, 8, 6)),  # min(client default, template write queues)
        ({"default_topic_queue_nums": 2}, "TBW102", 4, (2, 2, 6)),
        ({}, "TBW102", -3, (0, 0, 6)),
        ({}, "DefaultCluster", 32, (16, 16, 6)),  # any inheritable template works
        ({}, "broker-a", 4, (1, 1, 6)),
        ({"cluster_topic_enable": False}, "DefaultCluster", 4, (4, 4, 0)),
        ({"auto_create_topic_enable": False}, "TBW102", 4, None),  # no TBW102 at all
        ({}, "SCHEDULE_TOPIC_XXXX", 4, None),  # template without INHERIT
        ({}, "NoSuchTemplate", 4, None),
    ],
)
def test_create_topic_in_send_message_method(
    tmp_path: Path,
    overrides: dict[str, Any],
    template: str,
    client_nums: int,
    expected: tuple[int, int, int] | None,
) -> None:
    manager, clock, changes = _manager(tmp_path, **overrides)
    clock.advance(5)

    created = manager.create_topic_in_send_message_method("NewTopic", template, client_nums, 0)

    if expected is None:
        assert created is None
        assert manager.select("NewTopic") is None
        assert manager.data_version.counter == 0 and changes.count == 0
        assert not manager.topics_path.exists()
        return
    assert created is not None and manager.select("NewTopic") is created
    assert (created.read_queue_nums, created.write_queue_nums, created.perm) == expected
    assert manager.data_version == DataVersion(START_MS + 5, 1)
    assert changes.count == 1
    assert TopicsFile.load(manager.topics_path).topic_config_table["NewTopic"] == created


def test_created_topic_takes_sys_flag_and_filter_type_of_the_template(tmp_path: Path) -> None:
    manager, _, _ = _manager(tmp_path)
    manager.update_topic_config(TopicConfig("Tmpl", 4, 4, 7, topic_filter_type="MULTI_TAG"))
    created = manager.create_topic_in_send_message_method("T", "Tmpl", 8, topic_sys_flag=1)
    assert created == TopicConfig("T", 4, 4, 6, "MULTI_TAG", 1)


def test_existing_topic_is_returned_unchanged(tmp_path: Path) -> None:
    manager, _, changes = _manager(tmp_path)
    manager.update_topic_config(TopicConfig("T", 2, 2, 4))
    version = manager.data_version
    found = manager.create_topic_in_send_message_method("T", "TBW102", 8, 0)
    assert found == TopicConfig("T", 2, 2, 4)
    assert manager.data_version == version and changes.count == 0


def test_stale_tbw102_from_the_file_is_demoted_when_auto_create_is_off(tmp_path: Path) -> None:
    path = tmp_path / "config" / "topics.json"
    TopicsFile({"TBW102": TopicConfig("TBW102", 8, 8, 7)}, DataVersion(1, 1)).persist(path)
    manager = TopicConfigManager(_config(auto_create_topic_enable=False), path, FakeClock())
    manager.load()
    assert manager.create_topic_in_send_message_method("T", "TBW102", 4, 0) is None
    tbw = manager.select("TBW102")
    assert tbw is not None and tbw.perm == 6


def test_create_topic_in_send_message_back_method(tmp_path: Path) -> None:
    manager, clock, changes = _manager(tmp_path)
    clock.advance(7)
    retry = manager.create_topic_in_send_message_back_method("%RETRY%g", 1, 6, 0)
    assert retry == TopicConfig("%RETRY%g", 1, 1, 6)
    assert manager.data_version == DataVersion(START_MS + 7, 1) and changes.count == 1
    again = manager.create_topic_in_send_message_back_method("%RETRY%g", 4, 2, 0)
    assert again is retry and manager.data_version.counter == 1 and changes.count == 1
    dlq = manager.create_topic_in_send_message_back_method("%DLQ%g", 1, 6, 2)
    assert dlq.topic_sys_flag == 2 and changes.count == 2
    assert set(TopicsFile.load(manager.topics_path).topic_config_table) >= {"%RETRY%g", "%DLQ%g"}


def test_create_topic_of_tran_check_max_time(tmp_path: Path) -> None:
    manager, _, changes = _manager(tmp_path)
    topic = manager.create_topic_of_tran_check_max_time(1, 6)
    assert topic == TopicConfig("TRANS_CHECK_MAX_TIME_TOPIC", 1, 1, 6)
    assert changes.count == 1


def test_without_on_change_nothing_is_called(tmp_path: Path) -> None:
    manager, _, _ = _manager(tmp_path)
    manager.on_change = None
    assert manager.create_topic_in_send_message_method("T", "TBW102", 4, 0) is not None


# ----------------------------------------------------------------------------------- admin


def test_update_and_delete_bump_the_version_and_persist(tmp_path: Path) -> None:
    manager, clock, changes = _manager(tmp_path)
    clock.advance(1)
    manager.update_topic_config(TopicConfig("T", 4, 4, 6))
    assert manager.data_version == DataVersion(START_MS + 1, 1)
    clock.advance(1)
    manager.update_topic_config(TopicConfig("T", 8, 8, 6))
    assert manager.data_version == DataVersion(START_MS + 2, 2)
    assert TopicsFile.load(manager.topics_path).topic_config_table["T"].read_queue_nums == 8

    assert manager.delete_topic_config("T") is True
    assert manager.select("T") is None and manager.data_version.counter == 3
    assert "T" not in TopicsFile.load(manager.topics_path).topic_config_table
    assert manager.delete_topic_config("T") is False
    assert manager.data_version.counter == 3
    assert changes.count == 0  # the admin processors re-register themselves


def test_update_order_topic_config(tmp_path: Path) -> None:
    manager, _, changes = _manager(tmp_path)
    manager.update_topic_config(TopicConfig("A"))
    manager.update_topic_config(TopicConfig("B", order=True))
    counter = manager.data_version.counter

    manager.update_order_topic_config({"A": "broker-a:4", "Unknown": "broker-a:8"})
    assert manager.is_order_topic("A") and not manager.is_order_topic("B")
    assert not manager.is_order_topic("Unknown") and manager.select("Unknown") is None
    assert manager.data_version.counter == counter + 1

    manager.update_order_topic_config({"A": "broker-a:4"})  # no change: no new version
    manager.update_order_topic_config(None)
    assert manager.data_version.counter == counter + 1
    assert changes.count == 0


def test_build_serialize_wrapper(tmp_path: Path) -> None:
    manager, _, _ = _manager(tmp_path)
    manager.update_topic_config(TopicConfig("T"))
    wrapper = manager.build_serialize_wrapper()
    assert wrapper.data_version == manager.data_version
    assert set(wrapper.topic_config_table) == set(DEFAULT_SYSTEM_TOPICS) | {"T"}
    manager.update_topic_config(TopicConfig("U"))
    assert "U" not in wrapper.topic_config_table  # a snapshot


# ----------------------------------------------------------------------------------- files


def test_persist_then_load_gives_the_same_state(tmp_path: Path) -> None:
    manager, clock, _ = _manager(tmp_path)
    manager.update_topic_config(TopicConfig("T", 3, 5, 4, "MULTI_TAG", 1, True))
    manager.create_topic_in_send_message_back_method("%RETRY%g", 1, 6, 0)
    clock.advance(1000)

    reloaded = TopicConfigManager(manager.broker_config, manager.topics_path, clock)
    reloaded.load()

    assert reloaded.topic_config_table == manager.topic_config_table
    assert reloaded.data_version == manager.data_version


JAVA_TOPICS_JSON = (
    b'{\n\t"dataVersion":{\n\t\t"counter":12,\n\t\t"timestamp":1690000000000\n\t},\n'
    b'\t"topicConfigTable":{\n'
    b'\t\t"TopicTest":{\n\t\t\t"order":false,\n\t\t\t"perm":6,\n\t\t\t"readQueueNums":4,\n'
    b'\t\t\t"topicFilterType":"SINGLE_TAG",\n\t\t\t"topicName":"TopicTest",\n'
    b'\t\t\t"topicSysFlag":0,\n\t\t\t"writeQueueNums":4\n\t\t},\n'
    b'\t\t"TBW102":{\n\t\t\t"order":false,\n\t\t\t"perm":7,\n\t\t\t"readQueueNums":16,\n'
    b'\t\t\t"topicFilterType":"SINGLE_TAG",\n\t\t\t"topicName":"TBW102",\n'
    b'\t\t\t"topicSysFlag":0,\n\t\t\t"writeQueueNums":16\n\t\t}\n\t}\n}'
)


def test_a_java_topics_file_merges_over_the_system_topics(tmp_path: Path) -> None:
    manager, _, _ = _manager(tmp_path)
    manager.topics_path.parent.mkdir(parents=True)
    manager.topics_path.write_bytes(JAVA_TOPICS_JSON)

    manager.load()

    assert manager.data_version == DataVersion(1690000000000, 12)
    summary = _summary(manager)
    assert summary["TopicTest"] == (4, 4, 6)
    assert summary["TBW102"] == (16, 16, 7)  # the file wins over the constructor's
    assert summary["SCHEDULE_TOPIC_XXXX"] == (18, 18, 6)


def test_load_without_a_file_keeps_the_initial_state(tmp_path: Path) -> None:
    manager, _, _ = _manager(tmp_path)
    manager.load()
    assert _summary(manager) == DEFAULT_SYSTEM_TOPICS
    assert manager.data_version == DataVersion(START_MS, 0)


def test_load_falls_back_to_the_backup(tmp_path: Path) -> None:
    manager, _, _ = _manager(tmp_path)
    manager.update_topic_config(TopicConfig("First"))
    manager.update_topic_config(TopicConfig("Second"))  # the previous file becomes .bak
    manager.topics_path.write_bytes(b"{not json")

    reloaded = TopicConfigManager(manager.broker_config, manager.topics_path, FakeClock())
    reloaded.load()

    assert reloaded.select("First") is not None and reloaded.select("Second") is None
    assert reloaded.data_version.counter == 1
