"""ConsumerOffsetManager: commits, queries, removal, consumerOffset.json as Java writes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrmq.broker.consumer_offset import ConsumerOffsetManager
from pyrmq.remoting.fastjson import loads


def _manager(tmp_path: Path) -> ConsumerOffsetManager:
    return ConsumerOffsetManager(tmp_path / "config" / "consumerOffset.json")


# (group, topic, queue, offset) commits applied in order.
COMMITS = [
    ("GroupA", "TopicTest", 0, 12),
    ("GroupA", "TopicTest", 1, 9),
    ("GroupA", "%RETRY%GroupA", 0, 0),
    ("GroupB", "TopicTest", 0, 3),
    ("GroupB", "Other", 2, -1),  # ali-ons commits -1 for queues it never consumed
]


def _filled(tmp_path: Path) -> ConsumerOffsetManager:
    manager = _manager(tmp_path)
    for group, topic, queue, offset in COMMITS:
        manager.commit_offset("127.0.0.1:5000", group, topic, queue, offset)
    return manager


@pytest.mark.parametrize(
    ("group", "topic", "queue", "expected"),
    [
        ("GroupA", "TopicTest", 0, 12),
        ("GroupA", "TopicTest", 1, 9),
        ("GroupA", "TopicTest", 2, -1),
        ("GroupA", "%RETRY%GroupA", 0, 0),
        ("GroupB", "TopicTest", 0, 3),
        ("GroupB", "Other", 2, -1),
        ("GroupC", "TopicTest", 0, -1),
        ("GroupA", "Nothing", 0, -1),
    ],
)
def test_query_offset(tmp_path: Path, group: str, topic: str, queue: int, expected: int) -> None:
    assert _filled(tmp_path).query_offset(group, topic, queue) == expected


def test_commit_overwrites_even_backwards(tmp_path: Path) -> None:
    manager = _filled(tmp_path)
    manager.commit_offset("h", "GroupA", "TopicTest", 0, 20)
    assert manager.query_offset("GroupA", "TopicTest", 0) == 20
    manager.commit_offset("h", "GroupA", "TopicTest", 0, 5)  # a reset: allowed, logged
    assert manager.query_offset("GroupA", "TopicTest", 0) == 5


def test_query_offset_table_is_a_copy(tmp_path: Path) -> None:
    manager = _filled(tmp_path)
    table = manager.query_offset_table("GroupA", "TopicTest")
    assert table == {0: 12, 1: 9}
    table[0] = 99
    assert manager.query_offset("GroupA", "TopicTest", 0) == 12
    assert manager.query_offset_table("GroupZ", "TopicTest") == {}


def test_which_topic_and_which_group(tmp_path: Path) -> None:
    manager = _filled(tmp_path)
    manager.offset_table["broken-key-without-separator"] = {0: 1}
    manager.offset_table["a@b@c"] = {0: 1}
    assert manager.which_topic_by_consumer("GroupA") == {"TopicTest", "%RETRY%GroupA"}
    assert manager.which_topic_by_consumer("GroupB") == {"TopicTest", "Other"}
    assert manager.which_topic_by_consumer("Nobody") == set()
    assert manager.which_group_by_topic("TopicTest") == {"GroupA", "GroupB"}
    assert manager.which_group_by_topic("Other") == {"GroupB"}
    assert manager.which_group_by_topic("broken-key-without-separator") == set()


def test_clean_offset_by_topic(tmp_path: Path) -> None:
    manager = _filled(tmp_path)
    manager.clean_offset_by_topic("TopicTest")
    assert set(manager.offset_table) == {"%RETRY%GroupA@GroupA", "Other@GroupB"}


def test_remove_offset_of_a_group(tmp_path: Path) -> None:
    manager = _filled(tmp_path)
    manager.commit_offset("h", "GroupAA", "TopicTest", 0, 1)  # a name containing "GroupA"
    manager.remove_offset("GroupA")
    assert set(manager.offset_table) == {"TopicTest@GroupB", "Other@GroupB", "TopicTest@GroupAA"}


def test_clone_offset(tmp_path: Path) -> None:
    manager = _filled(tmp_path)
    manager.clone_offset("GroupA", "GroupNew", "TopicTest")
    assert manager.query_offset_table("GroupNew", "TopicTest") == {0: 12, 1: 9}
    manager.commit_offset("h", "GroupNew", "TopicTest", 0, 50)
    assert manager.query_offset("GroupA", "TopicTest", 0) == 12  # an independent copy
    manager.clone_offset("Missing", "GroupX", "TopicTest")
    assert manager.query_offset_table("GroupX", "TopicTest") == {}


# ----------------------------------------------------------------------------------- files


def test_commits_do_not_write_until_persist(tmp_path: Path) -> None:
    manager = _filled(tmp_path)
    assert not manager.path.exists()
    manager.persist()
    assert manager.path.exists()


def test_persist_then_load_gives_the_same_state(tmp_path: Path) -> None:
    manager = _filled(tmp_path)
    manager.persist()
    reloaded = ConsumerOffsetManager(manager.path)
    reloaded.load()
    assert reloaded.offset_table == manager.offset_table


def test_written_file_is_java_pretty_format(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    manager.commit_offset("h", "g", "t", 1, 9)
    manager.commit_offset("h", "g", "t", 0, 12)
    manager.persist()
    assert manager.path.read_bytes() == b'{\n\t"offsetTable":{\n\t\t"t@g":{0:12,1:9\n\t\t}\n\t}\n}'


JAVA_OFFSET_FILE = (
    b'{\n\t"offsetTable":{\n\t\t"%RETRY%GroupA@GroupA":{0:0\n\t\t},\n'
    b'\t\t"TopicTest@GroupA":{0:250,1:248,2:251,3:249\n\t\t}\n\t}\n}'
)


def test_a_java_offset_file_with_bare_integer_keys_loads(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    manager.path.parent.mkdir(parents=True)
    manager.path.write_bytes(JAVA_OFFSET_FILE)
    manager.load()
    assert manager.query_offset_table("GroupA", "TopicTest") == {0: 250, 1: 248, 2: 251, 3: 249}
    assert manager.query_offset("GroupA", "%RETRY%GroupA", 0) == 0


def test_a_5x_offset_file_with_data_version_loads(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    manager.path.parent.mkdir(parents=True)
    manager.path.write_bytes(
        b'{"dataVersion":{"counter":1,"stateVersion":0,"timestamp":1},'
        b'"offsetTable":{"t@g":{"0":5}}}'
    )
    manager.load()
    assert manager.query_offset("g", "t", 0) == 5


def test_load_without_a_file_is_empty(tmp_path: Path) -> None:
    manager = _filled(tmp_path)
    manager.load()
    assert manager.offset_table == {}


def test_encode_all_is_the_compact_legacy_body(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    manager.commit_offset("h", "GroupA", "TopicTest", 1, 9)
    manager.commit_offset("h", "GroupA", "TopicTest", 0, 12)
    body = manager.encode_all()
    assert body == b'{"offsetTable":{"TopicTest@GroupA":{0:12,1:9}}}'
    assert loads(body) == {"offsetTable": {"TopicTest@GroupA": {0: 12, 1: 9}}}
