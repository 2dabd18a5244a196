"""MessageStore end to end on real files: put, dispatch, get, recovery, flush, cleanup, queries."""

from __future__ import annotations

import asyncio
import shutil
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyrmq.common.clock import FakeClock
from pyrmq.common.message import TRANSACTION_PREPARED_TYPE, tag_hash
from pyrmq.common.message_codec import decode_offset_msg_id, decode_stored_message
from pyrmq.store.checkpoint import StoreLockedError, abort_file_exists
from pyrmq.store.commitlog import MessageExtBrokerInner
from pyrmq.store.config import BrokerRole, FlushDiskType, MessageStoreConfig
from pyrmq.store.message_store import MessageStore
from pyrmq.store.results import GetMessageStatus, PutMessageStatus

TOPIC = "TopicTest"
SEGMENT = 4096


def make_config(root: Path, **overrides: object) -> MessageStoreConfig:
    config = MessageStoreConfig(
        store_path_root_dir=str(root),
        mapped_file_size_commit_log=SEGMENT,
        mapped_file_size_consume_queue=10 * 20,
        max_hash_slot_num=64,
        max_index_num=256,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def msg(seq: int, queue_id: int = 0, topic: str = TOPIC, **props: str) -> MessageExtBrokerInner:
    properties = {
        "TAGS": "TagA" if seq % 2 == 0 else "TagB",
        "KEYS": f"k{seq} shared",
        "UNIQ_KEY": f"UNIQ{seq:012d}",
        **props,
    }
    return MessageExtBrokerInner(
        topic=topic,
        queue_id=queue_id,
        body=f"body-{seq}".encode(),
        properties=properties,
        born_timestamp=1_700_000_000_000,
        born_host=("127.0.0.1", 50000),
        store_host=("127.0.0.1", 10911),
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000_000)


async def open_store(config: MessageStoreConfig, clock: FakeClock) -> MessageStore:
    store = MessageStore(config, clock)
    store.load()
    await store.start()
    return store


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[MessageStore]:
    opened = await open_store(make_config(tmp_path / "store"), clock)
    yield opened
    await opened.shutdown()


async def put_many(
    store: MessageStore, clock: FakeClock, count: int, queues: int = 1, first: int = 0
) -> list[int]:
    offsets = []
    for seq in range(first, first + count):
        clock.advance(10)
        result = await store.put_message(msg(seq, seq % queues))
        assert result.status is PutMessageStatus.PUT_OK
        assert result.append is not None
        offsets.append(result.append.wrote_offset)
    store.reput.do_reput()
    return offsets


def read_queue(
    store: MessageStore, queue_id: int = 0, topic: str = TOPIC, offset: int = 0
) -> list[str]:
    bodies = []
    while True:
        result = store.get_message("g", topic, queue_id, offset, 8)
        assert result is not None
        if result.status is not GetMessageStatus.FOUND:
            return bodies
        bodies.extend(
            decode_stored_message(record, check_crc=True)[0].body.decode()
            for record in result.messages
        )
        offset = result.next_begin_offset
        result.release()


# --------------------------------------------------------------------------- put and get


async def test_put_dispatch_get_returns_the_commitlog_bytes(
    store: MessageStore, clock: FakeClock
) -> None:
    offsets = await put_many(store, clock, 30, queues=3)
    result = store.get_message("g", TOPIC, 1, 0, 4)
    assert result is not None and result.status is GetMessageStatus.FOUND
    assert (result.message_count, result.next_begin_offset) == (4, 4)
    assert (result.min_offset, result.max_offset) == (0, 10)
    first = result.messages[0]
    assert bytes(first) == bytes(store.look_message_by_offset(offsets[1]) or b"")
    decoded, _ = decode_stored_message(first)
    assert (decoded.queue_id, decoded.queue_offset, decoded.body) == (1, 0, b"body-1")
    result.release()
    assert read_queue(store, 2) == [f"body-{i}" for i in range(2, 30, 3)]


async def test_get_status_codes(store: MessageStore, clock: FakeClock) -> None:
    await put_many(store, clock, 5)

    def status(queue_id: int, offset: int) -> tuple[GetMessageStatus, int]:
        result = store.get_message("g", TOPIC, queue_id, offset, 32)
        assert result is not None
        return result.status, result.next_begin_offset

    assert status(7, 0) == (GetMessageStatus.NO_MATCHED_LOGIC_QUEUE, 0)
    assert status(0, 5) == (GetMessageStatus.OFFSET_OVERFLOW_ONE, 5)
    assert status(0, 9) == (GetMessageStatus.OFFSET_OVERFLOW_BADLY, 5)
    assert status(0, 2) == (GetMessageStatus.FOUND, 5)


async def test_pull_batch_limits(tmp_path: Path, clock: FakeClock) -> None:
    store = await open_store(
        make_config(tmp_path, max_transfer_count_on_message_in_memory=3), clock
    )
    try:
        await put_many(store, clock, 10)
        result = store.get_message("g", TOPIC, 0, 0, 32)
        assert result is not None
        assert (result.message_count, result.next_begin_offset) == (3, 3)
        result.release()
    finally:
        await store.shutdown()


async def test_tag_filter_skips_units(store: MessageStore, clock: FakeClock) -> None:
    await put_many(store, clock, 10)

    class OnlyTagB:
        def is_matched_by_consume_queue(self, tags_code: int | None) -> bool:
            return tags_code == tag_hash("TagB")

        def is_matched_by_commit_log(self, record: memoryview) -> bool:
            return True

    result = store.get_message("g", TOPIC, 0, 0, 32, OnlyTagB())
    assert result is not None
    bodies = [decode_stored_message(r)[0].body for r in result.messages]
    assert bodies == [f"body-{i}".encode() for i in range(1, 10, 2)]
    assert result.queue_offsets == [1, 3, 5, 7, 9]
    result.release()


async def test_refused_puts(tmp_path: Path, clock: FakeClock) -> None:
    slave = await open_store(make_config(tmp_path / "s", broker_role=BrokerRole.SLAVE), clock)
    try:
        assert (await slave.put_message(msg(0))).status is PutMessageStatus.SERVICE_NOT_AVAILABLE
    finally:
        await slave.shutdown()
    store = await open_store(make_config(tmp_path / "m", max_message_size=10), clock)
    try:
        too_big = msg(0)
        too_big.body = b"x" * 11
        assert (await store.put_message(too_big)).status is PutMessageStatus.MESSAGE_ILLEGAL
        assert (await store.put_message(msg(0, topic="T" * 128))).status is (
            PutMessageStatus.MESSAGE_ILLEGAL
        )
        await put_many(store, clock, 1)
        store.disk_full = True
        refused = await store.put_message(msg(1))
        assert refused.status is PutMessageStatus.SERVICE_NOT_AVAILABLE
        assert read_queue(store) == ["body-0"]  # reads go on
    finally:
        store.disk_full = False
        await store.shutdown()


async def test_second_store_on_the_same_directory_is_refused(
    store: MessageStore, clock: FakeClock
) -> None:
    with pytest.raises(StoreLockedError):
        MessageStore(store.config, clock).load()


async def test_prepared_transaction_is_indexed_but_not_queued(
    store: MessageStore, clock: FakeClock
) -> None:
    prepared = msg(1, **{"TRAN_MSG": "true"})
    prepared.sys_flag = TRANSACTION_PREPARED_TYPE
    result = await store.put_message(prepared)
    assert result.ok and result.append is not None and result.append.logics_offset == 0
    store.reput.do_reput()
    assert store.get_max_offset_in_queue(TOPIC, 0) == 0
    assert len(store.query_message(TOPIC, "k1", 10, 0, 2**62)) == 1


# --------------------------------------------------------------------------- lookups


async def test_lookups_by_offset_time_key_and_msg_id(store: MessageStore, clock: FakeClock) -> None:
    before = clock.now_ms()
    await put_many(store, clock, 20)
    assert store.get_min_offset_in_queue(TOPIC, 0) == 0
    assert store.get_max_offset_in_queue(TOPIC, 0) == 20
    assert store.get_earliest_message_time(TOPIC, 0) == before + 10
    assert store.get_offset_in_queue_by_time(TOPIC, 0, before + 10 * 8) == 7
    assert store.get_message_store_timestamp(TOPIC, 0, 3) == before + 40

    records = store.query_message(TOPIC, "k7", 32, 0, 2**62)
    assert [decode_stored_message(r)[0].body for r in records] == [b"body-7"]
    # The index keeps whole seconds (timeDiff): all 20 were stored in the first second.
    shared = store.query_message(TOPIC, "shared", 32, before, before + 1000)
    assert sorted(decode_stored_message(r)[0].body for r in shared) == sorted(
        f"body-{i}".encode() for i in range(20)
    )
    assert store.query_message(TOPIC, "shared", 32, before + 2000, before + 9000) == []
    capped = store.query_message(TOPIC, "shared", 5, before, before + 1000)
    assert len(capped) == 5
    by_uniq = store.query_message(TOPIC, "UNIQ000000000003", 32, 0, 2**62)
    decoded = decode_stored_message(by_uniq[0])[0]
    assert decoded.body == b"body-3"
    host, port, phy = decode_offset_msg_id(decoded.msg_id)
    assert (host, port) == ("127.0.0.1", 10911)
    assert bytes(store.look_message_by_offset(phy) or b"") == bytes(by_uniq[0])
    for view in records + shared + by_uniq + capped:
        view.release()


# --------------------------------------------------------------------------- recovery


async def test_clean_restart_keeps_queue_offsets_and_recovers_normally(
    tmp_path: Path, clock: FakeClock
) -> None:
    config = make_config(tmp_path)
    store = await open_store(config, clock)
    await put_many(store, clock, 60, queues=2)  # several 4 KiB segments
    assert len(store.commitlog.mapped_file_queue.files) > 2
    await store.shutdown()
    assert not abort_file_exists(config.abort_path)

    again = await open_store(make_config(tmp_path), clock)
    try:
        assert again.last_exit_ok
        result = await again.put_message(msg(60, 0))
        assert result.append is not None and result.append.logics_offset == 30
        again.reput.do_reput()
        assert read_queue(again, 0) == [f"body-{i}" for i in range(0, 61, 2)]
    finally:
        await again.shutdown()


def crash_copy(store: MessageStore, target: Path) -> Path:
    """What a kill -9 leaves: the files as they are, abort file included, lock released."""
    shutil.copytree(store.config.root, target, ignore=shutil.ignore_patterns("lock"))
    return target


async def test_abnormal_recovery_rebuilds_lost_consume_queues(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = await open_store(make_config(tmp_path / "a"), clock)
    try:
        await put_many(store, clock, 40, queues=2)
        crashed = crash_copy(store, tmp_path / "crashed")
    finally:
        await store.shutdown()
    shutil.rmtree(crashed / "consumequeue")
    recovered = await open_store(make_config(crashed), clock)
    try:
        assert not recovered.last_exit_ok
        assert read_queue(recovered, 1) == [f"body-{i}" for i in range(1, 40, 2)]
        result = await recovered.put_message(msg(40, 0))
        assert result.append is not None and result.append.logics_offset == 20
    finally:
        await recovered.shutdown()


async def test_torn_commitlog_tail_truncates_consume_queues(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = await open_store(make_config(tmp_path / "a"), clock)
    try:
        offsets = await put_many(store, clock, 10)
        crashed = crash_copy(store, tmp_path / "crashed")
    finally:
        await store.shutdown()
    # Tear the last record: zero its second half (the page never reached the disk).
    last = sorted((crashed / "commitlog").iterdir())[-1]
    data = bytearray(last.read_bytes())
    cut = offsets[-1] % SEGMENT + 20
    data[cut:] = bytes(len(data) - cut)
    last.write_bytes(bytes(data))
    recovered = await open_store(make_config(crashed), clock)
    try:
        assert recovered.commitlog.max_offset() == offsets[-1]
        assert recovered.get_max_offset_in_queue(TOPIC, 0) == 9
        assert read_queue(recovered) == [f"body-{i}" for i in range(9)]
    finally:
        await recovered.shutdown()


# --------------------------------------------------------------------------- flush


async def test_sync_flush_acknowledges_after_the_group_commit(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = await open_store(make_config(tmp_path, flush_disk_type=FlushDiskType.SYNC_FLUSH), clock)
    try:
        results = await asyncio.gather(*(store.put_message(msg(i)) for i in range(50)))
        assert all(r.status is PutMessageStatus.PUT_OK for r in results)
        last = max(r.append.next_offset for r in results if r.append is not None)
        assert store.commitlog.mapped_file_queue.flushed_where >= last
    finally:
        await store.shutdown()


async def test_sync_flush_timeout_is_reported(tmp_path: Path, clock: FakeClock) -> None:
    store = await open_store(
        make_config(tmp_path, flush_disk_type=FlushDiskType.SYNC_FLUSH, sync_flush_timeout=50),
        clock,
    )
    try:
        # The store's one flush thread is busy elsewhere: the flush cannot happen in time.
        blocker = store.executor.submit(time.sleep, 0.5)
        result = await store.put_message(msg(0))
        assert result.status is PutMessageStatus.FLUSH_DISK_TIMEOUT
        assert result.append is not None  # the message is stored all the same
        await asyncio.wrap_future(blocker)
    finally:
        await store.shutdown()


# --------------------------------------------------------------------------- cleanup


async def test_cleanup_deletes_old_segments_and_moves_queue_minimums(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = await open_store(make_config(tmp_path, file_reserved_time=0, delete_when="04"), clock)
    try:
        await put_many(store, clock, 120, queues=2)
        segments = len(store.commitlog.mapped_file_queue.files)
        store.cleanup.local_hour = lambda: 4
        store.cleanup.disk_usage = lambda path: 0.10
        deleted = store.cleanup.run_once()
        assert deleted == min(segments - 1, 10)
        first_kept = store.commitlog.min_offset()
        assert first_kept > 0
        min_offset = store.get_min_offset_in_queue(TOPIC, 0)
        assert min_offset > 0
        old = store.get_message("g", TOPIC, 0, 0, 8)
        assert old is not None and old.status is GetMessageStatus.OFFSET_TOO_SMALL
        assert old.next_begin_offset == min_offset
        assert read_queue(store, 0, offset=min_offset)[-1] == "body-118"
    finally:
        await store.shutdown()


async def test_disk_over_warning_level_refuses_puts_until_it_drops(
    store: MessageStore, clock: FakeClock
) -> None:
    usage = {"ratio": 0.95}
    store.cleanup.disk_usage = lambda path: usage["ratio"]
    store.cleanup.local_hour = lambda: 12
    store.cleanup.run_once()
    assert (await store.put_message(msg(0))).status is PutMessageStatus.SERVICE_NOT_AVAILABLE
    usage["ratio"] = 0.5
    store.cleanup.run_once()
    assert (await store.put_message(msg(0))).ok


# --------------------------------------------------------------------------- independent decode

_CQ_UNIT = struct.Struct(">qiq")


def java_hash(text: str) -> int:
    h = 0
    for unit in struct.unpack(f">{len(text.encode('utf-16-be')) // 2}H", text.encode("utf-16-be")):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def spec_records(commitlog_dir: Path, segment: int) -> list[dict[str, object]]:
    """Walk the commitlog as store.md §2 describes it, without any pyrmq code."""
    records = []
    for path in sorted(commitlog_dir.iterdir()):
        data = path.read_bytes()
        assert len(data) == segment
        pos = 0
        while pos + 8 <= segment:
            total, magic = struct.unpack_from(">iI", data, pos)
            if magic == 0xCBD43194:  # BLANK: the rest of the file is filler
                assert total == segment - pos and total >= 8
                break
            if magic != 0xDAA320A7:
                break
            (
                queue_id,
                _flag,
                queue_offset,
                physical,
                sys_flag,
                _born,
                _born_ip,
                _born_port,
                store_ts,
            ) = struct.unpack_from(">iiqqiq4sIq", data, pos + 12)
            body_len = struct.unpack_from(">i", data, pos + 84)[0]
            body = data[pos + 88 : pos + 88 + body_len]
            topic_len = data[pos + 88 + body_len]
            topic = data[pos + 89 + body_len : pos + 89 + body_len + topic_len].decode()
            p = pos + 89 + body_len + topic_len
            prop_len = struct.unpack_from(">h", data, p)[0]
            props = dict(
                kv.split("\x01")
                for kv in data[p + 2 : p + 2 + prop_len].decode().split("\x02")
                if kv
            )
            assert total == 91 + body_len + topic_len + prop_len
            assert physical == int(path.name) + pos
            records.append(
                {
                    "offset": physical,
                    "size": total,
                    "queue_id": queue_id,
                    "queue_offset": queue_offset,
                    "topic": topic,
                    "props": props,
                    "body": body,
                    "store_ts": store_ts,
                    "sys_flag": sys_flag,
                }
            )
            pos += total
    return records


async def test_files_decode_with_an_independent_decoder(tmp_path: Path, clock: FakeClock) -> None:
    config = make_config(tmp_path)
    store = await open_store(config, clock)
    await put_many(store, clock, 80, queues=3)
    await store.shutdown()

    records = spec_records(config.commit_log_path, SEGMENT)
    assert [r["body"] for r in records] == [f"body-{i}".encode() for i in range(80)]
    # Consume queues: unit q of queue i points at the q-th record of that queue.
    for queue_id in range(3):
        expected = [r for r in records if r["queue_id"] == queue_id]
        qdir = config.consume_queue_path / TOPIC / str(queue_id)
        raw = b"".join(p.read_bytes() for p in sorted(qdir.iterdir()))
        names = [int(p.name) for p in sorted(qdir.iterdir())]
        assert names == [i * config.consume_queue_file_size for i in range(len(names))]
        units = [u for u in _CQ_UNIT.iter_unpack(raw) if u[1] > 0][: len(expected)]
        assert len(units) == len(expected)
        for q, (unit, record) in enumerate(zip(units, expected, strict=True)):
            assert record["queue_offset"] == q
            props = record["props"]
            assert isinstance(props, dict)
            assert unit == (record["offset"], record["size"], java_hash(props["TAGS"]))
    # Index: every key's slot chain reaches its record.
    (index_file,) = sorted(config.index_path.iterdir())
    data = index_file.read_bytes()
    slots, entries = config.max_hash_slot_num, config.max_index_num
    assert len(data) == 40 + slots * 4 + entries * 20
    count = struct.unpack_from(">i", data, 36)[0]
    assert count == 1 + 80 * 3  # UNIQ_KEY + two KEYS tokens each; indexCount starts at 1

    def chain(key: str) -> list[int]:
        key_hash = abs(java_hash(key)) if java_hash(key) != -(1 << 31) else 0
        entry = struct.unpack_from(">i", data, 40 + (key_hash % slots) * 4)[0]
        found = []
        while 0 < entry <= count:
            h, phy, _diff, prev = struct.unpack_from(">iqii", data, 40 + slots * 4 + entry * 20)
            if h == key_hash:
                found.append(phy)
            entry = prev
        return found

    for record in records[::7]:
        props = record["props"]
        assert isinstance(props, dict)
        assert record["offset"] in chain(f"{TOPIC}#{props['UNIQ_KEY']}")
        assert record["offset"] in chain(f"{TOPIC}#{props['KEYS'].split()[0]}")
