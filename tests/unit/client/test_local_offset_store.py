"""LocalFileOffsetStore: the legacy offsets.json format, atomic writes, merge, load, fallback."""

from __future__ import annotations

from pathlib import Path

from pyrmq.client.consumer.local_offset_store import (
    LocalFileOffsetStore,
    decode_offset_file,
    encode_offset_file,
)
from pyrmq.client.consumer.offset_store import OFFSET_NOT_FOUND, ReadOffsetType
from pyrmq.remoting.bodies import MessageQueue

MQ0 = MessageQueue("T", "broker-a", 0)
MQ1 = MessageQueue("T", "broker-a", 1)
MQ2 = MessageQueue("U", "broker-b", 3)

#: What Java's LocalFileOffsetStore writes (fastjson, pretty-printed with tabs).
JAVA_FILE = (
    b'{\n\t"offsetTable":{{\n\t\t\t"brokerName":"broker-a",\n\t\t\t"queueId":0,\n'
    b'\t\t\t"topic":"T"\n\t\t}:42,{\n\t\t\t"brokerName":"broker-b",\n\t\t\t"queueId":3,\n'
    b'\t\t\t"topic":"U"\n\t\t}:7\n\t}\n}'
)


def test_file_format_is_fastjson_legacy_with_object_keys() -> None:
    data = encode_offset_file({MQ0: 42, MQ2: 7})
    assert data == (
        b'{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:42,'
        b'{"brokerName":"broker-b","queueId":3,"topic":"U"}:7}}'
    )
    assert decode_offset_file(data) == {MQ0: 42, MQ2: 7}


def test_reads_java_pretty_printed_file_and_standard_json_keys() -> None:
    assert decode_offset_file(JAVA_FILE) == {MQ0: 42, MQ2: 7}
    key = b'{\\"brokerName\\":\\"broker-a\\",\\"queueId\\":1,\\"topic\\":\\"T\\"}'
    standard = b'{"offsetTable":{"' + key + b'":5}}'
    assert decode_offset_file(standard) == {MQ1: 5}
    assert decode_offset_file(b"{}") == {}


def test_path_layout(tmp_path: Path) -> None:
    store = LocalFileOffsetStore("G", "10.0.0.1@app", tmp_path)
    assert store.path == tmp_path / "10.0.0.1@app" / "G" / "offsets.json"
    default = LocalFileOffsetStore("G", "id")
    assert default.path == Path.home() / ".rocketmq_offsets" / "id" / "G" / "offsets.json"


async def test_persist_merges_and_a_new_store_resumes(tmp_path: Path) -> None:
    store = LocalFileOffsetStore("G", "c1", tmp_path)
    store.update_offset(MQ0, 10)
    store.update_offset(MQ1, 4)
    await store.persist_all([MQ0])  # only the queues asked for are written
    assert decode_offset_file(store.path.read_bytes()) == {MQ0: 10}
    await store.persist(MQ1)
    store.update_offset(MQ0, 12)
    await store.persist_all([MQ0, MQ1])
    assert decode_offset_file(store.path.read_bytes()) == {MQ0: 12, MQ1: 4}
    assert decode_offset_file(store.path.with_name("offsets.json.bak").read_bytes()) == {
        MQ0: 10, MQ1: 4,
    }  # fmt: skip

    restarted = LocalFileOffsetStore("G", "c1", tmp_path)
    restarted.load()
    assert restarted.offset_table == {MQ0: 12, MQ1: 4}
    assert await restarted.read_offset(MQ0, ReadOffsetType.READ_FROM_MEMORY) == 12
    fresh = LocalFileOffsetStore("G", "c1", tmp_path)
    assert await fresh.read_offset(MQ1, ReadOffsetType.READ_FROM_MEMORY) == OFFSET_NOT_FOUND
    assert await fresh.read_offset(MQ1, ReadOffsetType.READ_FROM_STORE) == 4
    assert await fresh.read_offset(MQ2, ReadOffsetType.MEMORY_FIRST_THEN_STORE) == OFFSET_NOT_FOUND
    assert LocalFileOffsetStore("G", "other", tmp_path).path != store.path


async def test_increase_only_and_remove(tmp_path: Path) -> None:
    store = LocalFileOffsetStore("G", "c1", tmp_path)
    store.update_offset(MQ0, 10)
    store.update_offset(MQ0, 8, increase_only=True)
    assert store.offset_table[MQ0] == 10
    store.update_offset(MQ0, 8)
    assert store.offset_table[MQ0] == 8
    store.remove_offset(MQ0)
    await store.persist_all([MQ0])  # nothing known: nothing written
    assert not store.path.exists()


async def test_a_torn_file_falls_back_to_the_backup(tmp_path: Path) -> None:
    store = LocalFileOffsetStore("G", "c1", tmp_path)
    store.update_offset(MQ0, 1)
    await store.persist_all([MQ0])
    store.update_offset(MQ0, 2)
    await store.persist_all([MQ0])
    store.path.write_bytes(b'{"offsetTable":{{"bro')  # not what write_atomic leaves, but be safe
    restarted = LocalFileOffsetStore("G", "c1", tmp_path)
    restarted.load()
    assert restarted.offset_table == {MQ0: 1}
