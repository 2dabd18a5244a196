"""CommitLog on real files with tiny (4 KiB) segments: appends read back field by field with the
independent codec, the shared byte vectors, BLANK filling at the min-space boundary, batches,
size limits, the delay rewrite, check_record (table + hypothesis fuzz) and crash recovery at
every byte of the last records."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrmq.common.clock import FakeClock
from pyrmq.common.message import (
    BORNHOST_V6_FLAG,
    COMPRESSED_FLAG,
    MULTI_TAGS_FLAG,
    STOREHOSTADDRESS_V6_FLAG,
    TRANSACTION_COMMIT_TYPE,
    TRANSACTION_PREPARED_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
    Message,
    MessageExt,
    properties_to_string,
    tag_hash,
)
from pyrmq.common.message_codec import (
    BLANK_MAGIC_CODE,
    MAGIC_CODE_V1,
    MAGIC_CODE_V2,
    body_crc,
    decode_stored_message,
    encode_batch,
    offset_msg_id,
)
from pyrmq.store.commitlog import (
    SCHEDULE_TOPIC,
    CommitLog,
    MessageExtBatch,
    MessageExtBrokerInner,
    check_message,
    check_messages,
    parse_record,
)
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.dispatch_request import DispatchRequest
from pyrmq.store.results import AppendMessageResult, AppendMessageStatus, PutMessageStatus
from tests.support.vectors import hex_bytes

FILE = 4096
BORN = ("127.0.0.1", 50000)
STORE = ("127.0.0.1", 10911)
START_MS = 1_700_000_000_000
DELAYS = MessageStoreConfig().delay_levels_ms()
SIZE_MAGIC = struct.Struct(">iI")


# --- helpers ---------------------------------------------------------------------------------


def make_config(root: Path, file_size: int = FILE, **overrides: Any) -> MessageStoreConfig:
    config = MessageStoreConfig(
        store_path_root_dir=str(root), mapped_file_size_commit_log=file_size
    )
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


def open_log(root: Path, clock: FakeClock | None = None, **config: Any) -> CommitLog:
    commitlog = CommitLog(make_config(root, **config), clock or FakeClock(START_MS))
    commitlog.load()
    return commitlog


def inner(
    topic: str = "TopicTest", queue_id: int = 0, body: bytes = b"hello", **fields: Any
) -> MessageExtBrokerInner:
    fields.setdefault("properties", {"TAGS": "TagA", "KEYS": "k1 k2"})
    fields.setdefault("born_timestamp", START_MS - 5)
    fields.setdefault("born_host", BORN)
    fields.setdefault("store_host", STORE)
    return MessageExtBrokerInner(topic, queue_id, body, **fields)


def put_ok(commitlog: CommitLog, msg: MessageExtBrokerInner) -> AppendMessageResult:
    result = commitlog.put_message(msg)
    assert result.status is AppendMessageStatus.PUT_OK, result
    return result


def raw(commitlog: CommitLog, offset: int, size: int) -> bytes:
    view = commitlog.get_message(offset, size)
    assert view is not None
    with view:
        return bytes(view)


def read_back(commitlog: CommitLog, result: AppendMessageResult) -> MessageExt:
    msg, size = decode_stored_message(raw(commitlog, result.wrote_offset, result.wrote_bytes))
    assert size == result.wrote_bytes
    return msg


def walk(commitlog: CommitLog) -> list[DispatchRequest]:
    """Every record from the first offset on, as the reput service reads them."""
    found: list[DispatchRequest] = []
    offset, end = commitlog.min_offset(), commitlog.max_offset()
    while 0 <= offset < end:
        view = commitlog.get_data(offset)
        assert view is not None
        with view:
            request = commitlog.check_record(view, 0, check_crc=True)
        assert request.success, (offset, request)
        if request.msg_size == 0:
            offset = commitlog.roll_next_file(offset)
            continue
        assert request.commit_log_offset == offset
        found.append(request)
        offset += request.msg_size
    return found


def segment_files(root: Path) -> list[Path]:
    return sorted((root / "commitlog").iterdir())


def fixed_overhead(commitlog: CommitLog, **fields: Any) -> int:
    """Record size of an empty-bodied message like ``inner(**fields)`` (puts it)."""
    return put_ok(commitlog, inner(body=b"", **fields)).wrote_bytes


# --- byte compatibility with the shared vectors ----------------------------------------------


def vector_properties(record: bytes) -> str:
    """The properties string of a V1/IPv4 record, exactly as stored."""
    body_len = struct.unpack_from(">i", record, 84)[0]
    topic_len = record[88 + body_len]
    start = 88 + body_len + 1 + topic_len + 2
    return record[start:].decode()


def test_records_equal_the_shared_vectors(tmp_path: Path) -> None:
    pull = hex_bytes("pull_body_two_messages.hex")
    first, second = hex_bytes("stored_message.hex"), pull[197:]
    clock = FakeClock(1_700_000_000_123)
    commitlog = open_log(tmp_path, clock)
    one = inner(
        body=b"Hello RocketMQ",
        properties_string=vector_properties(first),
        born_timestamp=1_700_000_000_000,
    )
    result = put_ok(commitlog, one)
    clock.advance(1)
    two = inner(
        body=b"Hi", properties_string=vector_properties(second), born_timestamp=1_700_000_000_001
    )
    result2 = put_ok(commitlog, two)
    assert raw(commitlog, 0, commitlog.max_offset()) == pull
    assert result.msg_id == "7F00000100002A9F0000000000000000"
    assert result2.msg_id == "7F00000100002A9F00000000000000C5"
    assert (result2.wrote_offset, result2.wrote_bytes, result2.logics_offset) == (197, 164, 1)


# --- single appends --------------------------------------------------------------------------


def test_append_reads_back_field_by_field(tmp_path: Path) -> None:
    clock = FakeClock(START_MS)
    commitlog = open_log(tmp_path, clock)
    msg = inner(
        "OrderTopic",
        3,
        bytes(range(200)),
        flag=-7,
        sys_flag=COMPRESSED_FLAG | MULTI_TAGS_FLAG | TRANSACTION_COMMIT_TYPE,
        reconsume_times=2,
        prepared_transaction_offset=123_456,
        properties={"TAGS": "a||b", "UNIQ_KEY": "ABC", "KEYS": "x"},
    )
    put_ok(commitlog, inner())
    clock.advance(42)
    result = put_ok(commitlog, msg)
    stored = read_back(commitlog, result)
    assert stored.topic == "OrderTopic" and stored.queue_id == 3
    assert stored.body == bytes(range(200)) and stored.body_crc == body_crc(bytes(range(200)))
    assert stored.flag == -7
    assert stored.sys_flag == COMPRESSED_FLAG | MULTI_TAGS_FLAG | TRANSACTION_COMMIT_TYPE
    assert stored.properties == {"TAGS": "a||b", "UNIQ_KEY": "ABC", "KEYS": "x"}
    assert stored.queue_offset == 0 and result.logics_offset == 0
    assert stored.commit_log_offset == result.wrote_offset > 0
    assert stored.store_size == result.wrote_bytes
    assert stored.born_timestamp == START_MS - 5 and stored.born_host == BORN
    assert stored.store_timestamp == result.store_timestamp == START_MS + 42
    assert stored.store_host == STORE
    assert stored.reconsume_times == 2 and stored.prepared_transaction_offset == 123_456
    assert stored.msg_id == result.msg_id == offset_msg_id(STORE, result.wrote_offset)
    assert msg.store_timestamp == START_MS + 42
    assert msg.properties_string == properties_to_string(msg.properties)


def test_properties_string_is_stored_verbatim(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    # The broker strips WAIT from the string it stores but keeps it in the map (4.9.1+).
    msg = inner(properties={"TAGS": "A", "WAIT": "true"}, properties_string="TAGS\x01A")
    result = put_ok(commitlog, msg)
    assert raw(commitlog, result.wrote_offset, result.wrote_bytes).endswith(b"\x00\x06TAGS\x01A")


def test_queue_offsets_count_per_topic_and_queue(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    order = [("A", 0), ("A", 1), ("B", 0), ("A", 0), ("A", 0), ("B", 0), ("A", 1)]
    offsets = [put_ok(commitlog, inner(t, q)).logics_offset for t, q in order]
    assert offsets == [0, 0, 0, 1, 2, 1, 1]
    assert commitlog.topic_queue_table == {"A-0": 3, "A-1": 2, "B-0": 2}
    assert [r.consume_queue_offset for r in walk(commitlog)] == offsets


def test_prepared_and_rollback_get_queue_offset_zero(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    kinds = [0, 0, TRANSACTION_PREPARED_TYPE, TRANSACTION_ROLLBACK_TYPE, TRANSACTION_COMMIT_TYPE]
    offsets = [put_ok(commitlog, inner(sys_flag=kind)).logics_offset for kind in kinds]
    assert offsets == [0, 1, 0, 0, 2]
    assert commitlog.topic_queue_table == {"TopicTest-0": 3}
    put_ok(commitlog, inner("Half", sys_flag=TRANSACTION_PREPARED_TYPE))
    assert commitlog.topic_queue_table["Half-0"] == 0  # registered, never advanced


def test_store_timestamps_come_from_the_clock(tmp_path: Path) -> None:
    clock = FakeClock(START_MS)
    commitlog = open_log(tmp_path, clock)
    stamps = []
    for step in (0, 5, 0, 1000):
        clock.advance(step)
        stamps.append(put_ok(commitlog, inner()).store_timestamp)
    assert stamps == [START_MS, START_MS + 5, START_MS + 5, START_MS + 1005]
    assert [r.store_timestamp for r in walk(commitlog)] == stamps
    last = commitlog.mapped_file_queue.last
    assert last is not None and last.store_timestamp == START_MS + 1005


@pytest.mark.parametrize(
    ("born", "store", "flags", "id_length"),
    [
        (("::1", 5000), STORE, BORNHOST_V6_FLAG, 32),
        (BORN, ("fe80::1", 10911), STOREHOSTADDRESS_V6_FLAG, 56),
        (("2001:db8::7", 1), ("2001:db8::8", 2), BORNHOST_V6_FLAG | STOREHOSTADDRESS_V6_FLAG, 56),
    ],
)
def test_ipv6_hosts(
    tmp_path: Path, born: tuple[str, int], store: tuple[str, int], flags: int, id_length: int
) -> None:
    commitlog = open_log(tmp_path)
    # A stale IPv6 bit on an IPv4 host is cleared: the bits follow the addresses.
    msg = inner(born_host=born, store_host=store, sys_flag=BORNHOST_V6_FLAG)
    result = put_ok(commitlog, msg)
    stored = read_back(commitlog, result)
    assert stored.sys_flag == flags == msg.sys_flag
    assert (stored.born_host, stored.store_host) == (born, store)
    assert len(result.msg_id) == id_length and result.msg_id == stored.msg_id
    ipv4 = put_ok(open_log(tmp_path / "probe"), inner()).wrote_bytes
    assert result.wrote_bytes == ipv4 + 12 * bin(flags).count("1")
    request = walk(commitlog)[0]
    assert request.sys_flag == flags and request.tags_code == tag_hash("TagA")


def test_ipv4_mapped_peer_is_written_as_ipv4(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    result = put_ok(commitlog, inner(born_host=("::ffff:10.0.0.9", 7)))
    stored = read_back(commitlog, result)
    assert stored.born_host == ("10.0.0.9", 7) and stored.sys_flag == 0


def test_bad_host_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    result = commitlog.put_message(inner(born_host=("not-an-ip", 1)))
    assert result.status is AppendMessageStatus.UNKNOWN_ERROR
    assert commitlog.put_message(inner(flag=2**31)).status is AppendMessageStatus.UNKNOWN_ERROR
    assert commitlog.max_offset() == 0 and commitlog.topic_queue_table == {}


def test_long_topic_gets_a_v2_record(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    topic = "T" * 200
    result = put_ok(commitlog, inner(topic))
    record = raw(commitlog, result.wrote_offset, result.wrote_bytes)
    assert SIZE_MAGIC.unpack_from(record)[1] == MAGIC_CODE_V2
    request = commitlog.check_record(record, 0, check_crc=True)
    assert request.success and request.topic == topic and request.msg_size == len(record)
    assert read_back(commitlog, result).topic == topic
    short = put_ok(commitlog, inner("T" * 127))
    magic = SIZE_MAGIC.unpack_from(raw(commitlog, short.wrote_offset, 8))[1]
    assert magic == MAGIC_CODE_V1


# --- end of file: BLANK filler and the min-space rule ----------------------------------------


def fill_to_free(commitlog: CommitLog, free: int) -> None:
    """Put one message sized so that exactly ``free`` bytes remain in the first file."""
    overhead = fixed_overhead(commitlog)
    body = FILE - overhead - free - overhead
    put_ok(commitlog, inner(body=b"f" * body))
    last = commitlog.mapped_file_queue.last
    assert last is not None and last.free_bytes == free


def test_record_fits_when_exactly_eight_bytes_remain(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    length = len(b"hello") + fixed_overhead(open_log(tmp_path / "probe"))
    fill_to_free(commitlog, length + 8)
    result = put_ok(commitlog, inner())
    assert result.wrote_offset + result.wrote_bytes == FILE - 8
    nxt = put_ok(commitlog, inner())
    assert nxt.wrote_offset == FILE
    assert SIZE_MAGIC.unpack_from(raw(commitlog, FILE - 8, 8)) == (8, BLANK_MAGIC_CODE)


def test_one_byte_short_writes_the_filler_and_rolls(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    length = len(b"hello") + fixed_overhead(open_log(tmp_path / "probe"))
    fill_to_free(commitlog, length + 7)
    result = put_ok(commitlog, inner())
    assert result.wrote_offset == FILE and result.logics_offset == 2
    blank_at = FILE - (length + 7)
    assert SIZE_MAGIC.unpack_from(raw(commitlog, blank_at, 8)) == (length + 7, BLANK_MAGIC_CODE)
    first = commitlog.mapped_file_queue.files[0]
    assert first.is_full
    assert [p.name for p in segment_files(tmp_path)] == [f"{0:020d}", f"{FILE:020d}"]


def test_every_full_file_ends_with_a_blank_and_no_record_spans_files(tmp_path: Path) -> None:
    rng = random.Random(7)
    commitlog = open_log(tmp_path)
    for i in range(300):
        put_ok(commitlog, inner(f"T{i % 3}", body=rng.randbytes(rng.randrange(0, 900))))
    files = commitlog.mapped_file_queue.files
    assert len(files) > 5
    for mapped in files[:-1]:
        pos = 0
        while True:
            request = parse_record(mapped.view, pos, True, DELAYS)
            assert request.success
            if request.msg_size == 0:
                break
            pos += request.msg_size
            assert pos <= FILE - 8
        assert SIZE_MAGIC.unpack_from(mapped.view, pos) == (FILE - pos, BLANK_MAGIC_CODE)
        assert FILE - pos >= 8
    assert len(walk(commitlog)) == 300


def test_record_larger_than_a_segment_is_refused_without_writing(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    put_ok(commitlog, inner())
    before = commitlog.max_offset()
    result = commitlog.put_message(inner(body=b"x" * FILE))
    assert result.status is AppendMessageStatus.MESSAGE_SIZE_EXCEEDED
    assert commitlog.max_offset() == before and len(commitlog.mapped_file_queue.files) == 1
    assert commitlog.topic_queue_table == {"TopicTest-0": 1}


# --- size limits and check_message -----------------------------------------------------------


def test_body_limit_is_max_message_size(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path, file_size=64 * 1024, max_message_size=1000)
    assert put_ok(commitlog, inner(body=b"b" * 1000)).wrote_bytes > 1000
    result = commitlog.put_message(inner(body=b"b" * 1001))
    assert result.status is AppendMessageStatus.MESSAGE_SIZE_EXCEEDED


def test_record_limit_is_body_limit_plus_64_kib(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path, file_size=256 * 1024, max_message_size=10)
    props = {"P": "v" * 32_000}
    assert put_ok(commitlog, inner("t" * 32_000, properties=props)).wrote_bytes < 65_546
    props = {"P": "v" * 32_765}
    result = commitlog.put_message(inner("t" * 32_767, body=b"0123456789", properties=props))
    assert result.status is AppendMessageStatus.MESSAGE_SIZE_EXCEEDED


def test_properties_limit_is_32767_utf8_bytes(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path, file_size=128 * 1024)
    fits = inner(properties_string="K\x01" + "v" * 32_765)
    assert put_ok(commitlog, fits).wrote_bytes > 32_767
    over = inner(properties_string="K\x01" + "v" * 32_766)
    status = commitlog.put_message(over).status
    assert status is AppendMessageStatus.PROPERTIES_SIZE_EXCEEDED
    # 20,000 chars but 40,000 UTF-8 bytes: checkMessage lets it through, the encoder does not.
    wide = inner(properties_string="K\x01" + "é" * 19_998)
    assert check_message(wide) is None
    status = commitlog.put_message(wide).status
    assert status is AppendMessageStatus.PROPERTIES_SIZE_EXCEEDED


def test_check_message() -> None:
    assert check_message(inner("t" * 127)) is None
    assert check_message(inner("t" * 128)) is PutMessageStatus.MESSAGE_ILLEGAL
    too_long = inner(properties_string="x" * 32_768)
    assert check_message(too_long) is PutMessageStatus.MESSAGE_ILLEGAL
    # Java counts UTF-16 units: an astral character is two.
    assert check_message(inner("t" * 63 + "😀" * 32)) is None
    assert check_message(inner("t" * 64 + "😀" * 32)) is PutMessageStatus.MESSAGE_ILLEGAL


# --- delay rewrite ---------------------------------------------------------------------------


def test_delayed_message_goes_to_the_schedule_topic(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    msg = inner(
        "Real",
        2,
        properties={"TAGS": "A", "DELAY": "3", "WAIT": "true"},
        properties_string="TAGS\x01A\x02DELAY\x013",
    )
    result = put_ok(commitlog, msg)
    stored = read_back(commitlog, result)
    assert (stored.topic, stored.queue_id) == (SCHEDULE_TOPIC, 2)
    assert stored.properties == {
        "TAGS": "A",
        "DELAY": "3",
        "WAIT": "true",  # re-serialised from the map, so WAIT comes back (store.md §2.5)
        "REAL_TOPIC": "Real",
        "REAL_QID": "2",
    }
    assert (msg.topic, msg.queue_id) == (SCHEDULE_TOPIC, 2)
    assert commitlog.topic_queue_table == {f"{SCHEDULE_TOPIC}-2": 1}
    request = walk(commitlog)[0]
    assert request.tags_code == result.store_timestamp + 10_000


def test_delay_level_is_clamped_to_the_max(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    result = put_ok(commitlog, inner(properties={"DELAY": "99"}))
    stored = read_back(commitlog, result)
    assert stored.queue_id == 17 and stored.properties["DELAY"] == "18"
    assert walk(commitlog)[0].tags_code == result.store_timestamp + 2 * 3_600_000


@pytest.mark.parametrize(
    ("sys_flag", "delay"),
    [(TRANSACTION_PREPARED_TYPE, "3"), (TRANSACTION_ROLLBACK_TYPE, "3"), (0, "0"), (0, "-2")],
)
def test_no_rewrite_for_prepared_or_level_zero(tmp_path: Path, sys_flag: int, delay: str) -> None:
    commitlog = open_log(tmp_path)
    result = put_ok(commitlog, inner(sys_flag=sys_flag, properties={"DELAY": delay}))
    assert read_back(commitlog, result).topic == "TopicTest"


def test_non_numeric_delay_is_an_error(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    status = commitlog.put_message(inner(properties={"DELAY": "soon"})).status
    assert status is AppendMessageStatus.UNKNOWN_ERROR
    assert commitlog.max_offset() == 0


# --- batches ---------------------------------------------------------------------------------


def batch_of(messages: list[Message], **fields: Any) -> MessageExtBatch:
    fields.setdefault("born_host", BORN)
    fields.setdefault("store_host", STORE)
    fields.setdefault("born_timestamp", START_MS - 1)
    return MessageExtBatch("BatchTopic", 1, encode_batch(messages), **fields)


def test_batch_entries_become_consecutive_records(tmp_path: Path) -> None:
    clock = FakeClock(START_MS)
    commitlog = open_log(tmp_path, clock)
    put_ok(commitlog, inner("BatchTopic", 1))
    items = [Message("BatchTopic", f"m{i}".encode(), i, {"UNIQ_KEY": f"U{i}"}) for i in range(5)]
    clock.advance(9)
    result = commitlog.put_messages(batch_of(items, reconsume_times=1))
    assert result.status is AppendMessageStatus.PUT_OK
    assert (result.msg_num, result.logics_offset, result.store_timestamp) == (5, 1, START_MS + 9)
    records = walk(commitlog)[1:]
    offsets = [r.commit_log_offset for r in records]
    assert offsets[0] == result.wrote_offset
    assert sum(r.msg_size for r in records) == result.wrote_bytes
    assert [a + r.msg_size for a, r in zip(offsets, records, strict=False)][:-1] == offsets[1:]
    assert [r.consume_queue_offset for r in records] == [1, 2, 3, 4, 5]
    assert {r.store_timestamp for r in records} == {START_MS + 9}
    assert result.msg_id == ",".join(offset_msg_id(STORE, offset) for offset in offsets)
    for i, request in enumerate(records):
        stored, _ = decode_stored_message(
            raw(commitlog, request.commit_log_offset, request.msg_size)
        )
        assert (stored.topic, stored.queue_id, stored.flag, stored.body) == (
            "BatchTopic", 1, i, f"m{i}".encode()
        )  # fmt: skip
        assert stored.reconsume_times == 1 and stored.uniq_key == f"U{i}"
    assert commitlog.topic_queue_table == {"BatchTopic-1": 6}


@pytest.mark.parametrize(
    ("trailing", "item_props", "expected"),
    [
        (False, {"A": "1"}, b"A\x011\x02C\x01x"),
        (True, {"A": "1"}, b"A\x011\x02C\x01x"),
        (False, {}, b"C\x01x"),
    ],
)
def test_batch_request_properties_are_appended(
    tmp_path: Path, trailing: bool, item_props: dict[str, str], expected: bytes
) -> None:
    commitlog = open_log(tmp_path)
    body = encode_batch([Message("B", b"m", 0, item_props)], trailing_separator=trailing)
    batch = MessageExtBatch("B", 0, body, born_host=BORN, store_host=STORE)
    batch.properties_string = "C\x01x"
    result = commitlog.put_messages(batch)
    assert result.status is AppendMessageStatus.PUT_OK
    record = raw(commitlog, result.wrote_offset, result.wrote_bytes)
    assert record.endswith(struct.pack(">h", len(expected)) + expected)


def test_batch_is_all_or_nothing_per_file(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    items = [Message("BatchTopic", b"x" * 100) for _ in range(8)]
    probe = open_log(tmp_path / "probe")
    size = probe.put_messages(batch_of(items)).wrote_bytes
    one = size // 8
    fill_to_free(commitlog, size + 7)  # one entry fits easily, the whole batch does not
    assert one + 8 < size + 7
    result = commitlog.put_messages(batch_of(items))
    assert result.status is AppendMessageStatus.PUT_OK and result.wrote_offset == FILE
    assert result.logics_offset == 0 and result.msg_num == 8
    blank = SIZE_MAGIC.unpack_from(raw(commitlog, FILE - size - 7, 8))
    assert blank == (size + 7, BLANK_MAGIC_CODE)
    records = walk(commitlog)
    assert [r.commit_log_offset for r in records[2:]] == [FILE + i * one for i in range(8)]


def test_batch_size_and_shape_errors_write_nothing(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path, max_message_size=300)
    small = [Message("B", b"x")]
    too_big = batch_of([Message("B", b"x" * 100) for _ in range(3)])
    assert len(too_big.body) > 300
    status = commitlog.put_messages(too_big).status
    assert status is AppendMessageStatus.MESSAGE_SIZE_EXCEEDED
    torn = batch_of(small)
    torn.body = torn.body[:-1]
    assert commitlog.put_messages(torn).status is AppendMessageStatus.UNKNOWN_ERROR
    torn.body = torn.body[:10]
    assert commitlog.put_messages(torn).status is AppendMessageStatus.UNKNOWN_ERROR
    half = batch_of(small, sys_flag=TRANSACTION_PREPARED_TYPE)
    assert commitlog.put_messages(half).status is AppendMessageStatus.UNKNOWN_ERROR
    too_wide = batch_of(small, properties_string="K\x01" + "v" * 32_766)
    status = commitlog.put_messages(too_wide).status
    assert status is AppendMessageStatus.PROPERTIES_SIZE_EXCEEDED
    assert commitlog.max_offset() == 0


def test_check_messages() -> None:
    ok = batch_of([Message("B", b"x")])
    assert check_messages(ok, 1000) is None
    assert check_messages(ok, 10) is PutMessageStatus.MESSAGE_ILLEGAL
    bad = [
        batch_of([Message("B", b"x")], sys_flag=TRANSACTION_COMMIT_TYPE),
        batch_of([Message("B", b"x")], properties_string="DELAY\x012"),
        batch_of([Message("B", b"x")], properties_string="DELAY\x01x"),
    ]
    for batch in bad:
        assert check_messages(batch, 1000) is PutMessageStatus.MESSAGE_ILLEGAL
    long_topic = batch_of([Message("B", b"x")])
    long_topic.topic = "t" * 128
    assert check_messages(long_topic, 1000) is PutMessageStatus.MESSAGE_ILLEGAL


# --- reads -----------------------------------------------------------------------------------


def test_offsets_and_reads(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    assert (commitlog.min_offset(), commitlog.max_offset()) == (-1, 0)
    assert commitlog.get_data(0) is None and commitlog.get_message(0, 1) is None
    first = put_ok(commitlog, inner())
    assert (commitlog.min_offset(), commitlog.max_offset()) == (0, first.wrote_bytes)
    data = commitlog.get_data(0)
    assert data is not None and len(data) == first.wrote_bytes
    data.release()
    assert commitlog.get_data(first.wrote_bytes) is None
    assert commitlog.get_message(0, first.wrote_bytes + 1) is None
    assert commitlog.pickup_store_timestamp(0, first.wrote_bytes) == START_MS
    assert commitlog.pickup_store_timestamp(FILE * 3, 100) == -1
    assert commitlog.roll_next_file(0) == FILE
    assert commitlog.roll_next_file(FILE - 1) == FILE
    assert commitlog.roll_next_file(FILE) == 2 * FILE


def test_load_refuses_a_file_of_another_size(tmp_path: Path) -> None:
    (tmp_path / "commitlog").mkdir()
    (tmp_path / "commitlog" / f"{0:020d}").write_bytes(bytes(100))
    with pytest.raises(ValueError, match="segment size"):
        open_log(tmp_path)


# --- check_record ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    commitlog = open_log(tmp_path_factory.mktemp("record"))
    msg = inner(properties={"TAGS": "TagA", "KEYS": "k1 k2", "UNIQ_KEY": "U1"})
    result = put_ok(commitlog, msg)
    return raw(commitlog, result.wrote_offset, result.wrote_bytes)


def patched(data: bytes, pos: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, pos, value)
    return bytes(out)


def test_check_record_good(record: bytes) -> None:
    request = parse_record(record, 0, True, DELAYS)
    assert request.success and request.msg_size == len(record)
    assert (request.topic, request.queue_id, request.commit_log_offset) == ("TopicTest", 0, 0)
    assert request.tags_code == tag_hash("TagA") == 2598919
    assert (request.keys, request.uniq_key) == ("k1 k2", "U1")
    assert request.store_timestamp == START_MS and request.body_crc == body_crc(b"hello")
    assert parse_record(bytes(3) + record, 3, True, DELAYS).msg_size == len(record)


def test_check_record_without_tags_or_properties(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    result = put_ok(commitlog, inner(properties={}))
    request = parse_record(raw(commitlog, 0, result.wrote_bytes), 0, True, DELAYS)
    assert request.success and request.tags_code == 0 and request.keys is None


@pytest.mark.parametrize(
    ("name", "mutate", "check_crc", "size", "success"),
    [
        ("blank", lambda r: SIZE_MAGIC.pack(500, BLANK_MAGIC_CODE), True, 0, True),
        ("bad magic", lambda r: patched(r, 4, ">I", 0x12345678), True, -1, False),
        ("zero region", lambda r: bytes(len(r)), True, -1, False),
        ("too short", lambda r: r[:7], True, -1, False),
        ("torn", lambda r: r[:-1], True, -1, False),
        ("negative size", lambda r: patched(r, 0, ">i", -5), True, -1, False),
        ("size too big", lambda r: patched(r, 0, ">i", len(r) + 4) + bytes(4), True, -2, False),
        ("size too small", lambda r: patched(r, 0, ">i", len(r) - 1), True, -3, False),
        ("body crc off", lambda r: patched(r, 8, ">i", 1), True, -1, False),
        ("body crc unchecked", lambda r: patched(r, 8, ">i", 1), False, None, True),
        ("topic length", lambda r: patched(r, 88 + 5, ">b", -1), True, -1, False),
    ],
)
def test_check_record_table(
    record: bytes,
    name: str,
    mutate: Callable[[bytes], bytes],
    check_crc: bool,
    size: int | None,
    success: bool,
) -> None:
    request = parse_record(mutate(record), 0, check_crc, DELAYS)
    # -2/-3 stand for "the declared TOTALSIZE" (Java returns it so the reader can skip).
    expected = {None: len(record), -2: len(record) + 4, -3: len(record) - 1}.get(size, size)
    assert (request.msg_size, request.success) == (expected, success), name


def test_check_record_delay_tags_code(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    result = put_ok(commitlog, inner(SCHEDULE_TOPIC, properties={"DELAY": "2", "TAGS": "X"}))
    data = raw(commitlog, 0, result.wrote_bytes)
    assert parse_record(data, 0, True, DELAYS).tags_code == START_MS + 5000
    # Not the schedule topic: the tag hash stays.
    other = put_ok(commitlog, inner(properties={"DELAY": "0", "TAGS": "X"}))
    data = raw(commitlog, other.wrote_offset, other.wrote_bytes)
    assert parse_record(data, 0, True, DELAYS).tags_code == tag_hash("X")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.integers(-5, 300), st.booleans())
def test_check_record_never_raises_on_noise(data: bytes, pos: int, check_crc: bool) -> None:
    request = parse_record(data, pos, check_crc, DELAYS)
    assert isinstance(request, DispatchRequest)
    if request.success and request.msg_size > 0:
        assert pos + request.msg_size <= len(data)


GOOD = bytes.fromhex(
    "000000C5DAA320A769C865ED0000000000000000000000000000000000000000"
    "00000000000000000000018BCFE568007F0000010000C3500000018BCFE5687B"
    "7F00000100002A9F0000000000000000000000000000000E48656C6C6F20526F"
    "636B65744D5109546F706963546573740053544147530154616741024B455953"
    "016F726465722D31206F726465722D320257414954017472756502554E49515F"
    "4B45590137463030303030313034443231423644333538363030303145323430"
    "3030303102"
)


@settings(max_examples=600, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), max_size=6),
    st.integers(0, len(GOOD)),
    st.booleans(),
)
def test_check_record_never_raises_on_damaged_records(
    edits: list[tuple[int, int]], cut: int, check_crc: bool
) -> None:
    data = bytearray(GOOD)
    for index, value in edits:
        data[index] = value
    request = parse_record(bytes(data[:cut]), 0, check_crc, DELAYS)
    assert isinstance(request, DispatchRequest)
    if request.success and request.msg_size > 0:
        assert request.msg_size <= cut


def test_good_vector_parses() -> None:
    request = parse_record(GOOD, 0, True, DELAYS)
    assert request.success and request.msg_size == len(GOOD) == 197


# --- recovery --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    start: int
    size: int
    #: Where the properties bytes begin: after it nothing is checked (no CRC covers them).
    props_start: int

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass
class Golden:
    root: Path
    files: dict[str, bytes]
    records: list[Written]
    first_timestamps: list[int]

    def restore(self) -> None:
        directory = self.root / "commitlog"
        for path in directory.iterdir():
            path.unlink()
        for name, data in self.files.items():
            (directory / name).write_bytes(data)

    def cut(self, offset: int) -> None:
        """A torn write: every byte from ``offset`` to the end of its file becomes zero."""
        path = self.root / "commitlog" / f"{offset - offset % FILE:020d}"
        data = bytearray(path.read_bytes())
        data[offset % FILE :] = bytes(FILE - offset % FILE)
        path.write_bytes(bytes(data))

    def poke(self, offset: int, mask: int) -> None:
        path = self.root / "commitlog" / f"{offset - offset % FILE:020d}"
        data = bytearray(path.read_bytes())
        data[offset % FILE] ^= mask
        path.write_bytes(bytes(data))

    def expected_end(self, cut: int) -> int:
        """End of valid data after ``cut``: a record survives when its checked part (all
        but the properties bytes) lies before the cut."""
        for written in self.records:
            if cut < written.props_start:
                return written.start
        return self.records[-1].end


def write_golden(root: Path, count: int = 70, seed: int = 3) -> Golden:
    rng = random.Random(seed)
    clock = FakeClock(START_MS)
    commitlog = open_log(root, clock)
    records, first_timestamps = [], []
    for i in range(count):
        clock.advance(1000)
        # Bodies without zero bytes and non-empty properties: zeroing any tail changes them.
        body = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 300)))
        props = {"TAGS": f"T{i}", "KEYS": f"key-{i}"}
        files_before = len(commitlog.mapped_file_queue.files)
        result = put_ok(commitlog, inner(f"Topic{i % 2}", i % 3, body, properties=props))
        if len(commitlog.mapped_file_queue.files) != files_before:
            first_timestamps.append(result.store_timestamp)
        props_len = len(properties_to_string(props).encode())
        end = result.wrote_offset + result.wrote_bytes
        records.append(Written(result.wrote_offset, result.wrote_bytes, end - props_len))
    files = {path.name: path.read_bytes() for path in segment_files(root)}
    commitlog.shutdown()
    assert len(files) >= 4
    return Golden(root, files, records, first_timestamps)


@pytest.fixture
def golden(tmp_path: Path) -> Golden:
    return write_golden(tmp_path)


def recover(
    golden: Golden, abnormal: bool, min_timestamp: int = 0, check_crc: bool = True
) -> tuple[CommitLog, int, list[DispatchRequest]]:
    commitlog = open_log(golden.root, check_crc_on_recover=check_crc)
    dispatched: list[DispatchRequest] = []
    if abnormal:
        offset = commitlog.recover_abnormally(10**12, min_timestamp, dispatched.append)
    else:
        offset = commitlog.recover_normally(10**12)
    return commitlog, offset, dispatched


def assert_reads_back(golden: Golden, commitlog: CommitLog, end: int) -> None:
    survivors = [w for w in golden.records if w.end <= end]
    assert [(r.commit_log_offset, r.msg_size) for r in walk(commitlog)] == [
        (w.start, w.size) for w in survivors
    ]
    for written in survivors:
        data = raw(commitlog, written.start, written.size)
        name = f"{written.start - written.start % FILE:020d}"
        original = golden.files[name][written.start % FILE : written.start % FILE + written.size]
        checked = written.props_start - written.start
        assert data[:checked] == original[:checked]


def last_records(golden: Golden, count: int) -> Iterator[int]:
    """Every byte offset of the last ``count`` records, and the end of the last one."""
    yield from range(golden.records[-count].start, golden.records[-1].end + 1)


@pytest.mark.parametrize("abnormal", [False, True], ids=["normal", "abnormal"])
def test_recovery_after_a_torn_write_at_every_byte(golden: Golden, abnormal: bool) -> None:
    """Zero the log from every byte of the last three records on. The survivors are the
    records wholly before the cut, plus the cut one when only its properties bytes were hit:
    4.9 has no checksum over topic or properties (only BODYCRC and the length fields), so
    RocketMQ itself accepts such a record, and so must a faithful recovery."""
    for cut in last_records(golden, 3):
        golden.restore()
        golden.cut(cut)
        commitlog, offset, dispatched = recover(golden, abnormal)
        expected = golden.expected_end(cut)
        assert offset == expected == commitlog.max_offset(), cut
        assert_reads_back(golden, commitlog, expected)
        if abnormal:  # min_timestamp 0 matches no file: everything from the first file
            assert [r.commit_log_offset for r in dispatched] == [
                w.start for w in golden.records if w.end <= expected
            ]
        commitlog.shutdown()


def test_append_after_recovery_continues_at_the_process_offset(golden: Golden) -> None:
    golden.cut(golden.records[-2].start + 30)
    commitlog, offset, _ = recover(golden, abnormal=False)
    assert offset == golden.records[-2].start
    result = put_ok(commitlog, inner("After"))
    assert result.wrote_offset in (offset, commitlog.roll_next_file(offset))
    commitlog.shutdown()
    reopened, offset2, _ = recover(golden, abnormal=False)
    assert offset2 == result.wrote_offset + result.wrote_bytes
    assert walk(reopened)[-1].topic == "After"
    reopened.shutdown()


def checked_bytes(written: Written) -> set[int]:
    """Record-relative bytes a 4.9 reader validates: TOTALSIZE, magic, BODYCRC, the IPv6 bits
    of SYSFLAG, BODYLENGTH, body, topic length and properties length."""
    body_len = written.props_start - written.start - 2 - 1 - len("Topic0") - 88
    checked = set(range(0, 12)) | {39} | set(range(84, 88 + body_len))
    topic_len_at = 88 + body_len
    props_len_at = topic_len_at + 1 + len("Topic0")
    return checked | {topic_len_at, props_len_at, props_len_at + 1}


@pytest.mark.parametrize("check_crc", [True, False])
def test_flipped_byte_in_the_last_record(golden: Golden, check_crc: bool) -> None:
    last = golden.records[-1]
    checked = checked_bytes(last)
    for index in range(last.size):
        golden.restore()
        golden.poke(last.start + index, 0xFF)
        commitlog, offset, _ = recover(golden, abnormal=False, check_crc=check_crc)
        body_end = last.props_start - 2 - len("Topic0") - 1 - last.start
        crc_only = index in range(8, 12) or index in range(88, body_end)
        detected = index in checked and (check_crc or not crc_only)
        assert offset == (last.start if detected else last.end), index
        commitlog.shutdown()


def test_bad_crc_mid_file_cuts_the_log_there(golden: Golden) -> None:
    files = sorted(golden.files)
    second_to_last = int(files[-2])
    victim = next(w for w in golden.records if w.start > second_to_last + 200)
    golden.poke(victim.start + 88, 0x01)  # first body byte
    commitlog, offset, _ = recover(golden, abnormal=False)
    assert offset == victim.start == commitlog.max_offset()
    assert [m.file_from_offset for m in commitlog.mapped_file_queue.files] == [
        int(name) for name in files[:-1]
    ]
    assert [p.name for p in segment_files(golden.root)] == files[:-1]
    assert_reads_back(golden, commitlog, offset)
    commitlog.shutdown()


def test_normal_recovery_starts_at_the_third_to_last_file(golden: Golden) -> None:
    files = sorted(golden.files)
    assert len(files) >= 4
    damaged = next(w for w in golden.records if w.start > 100)  # in the first file
    golden.poke(damaged.start + 88, 0x01)
    commitlog, offset, _ = recover(golden, abnormal=False)
    assert offset == golden.records[-1].end  # the first file is not scanned
    commitlog.shutdown()
    commitlog, offset, dispatched = recover(golden, abnormal=True, min_timestamp=0)
    assert offset == damaged.start  # abnormal recovery started at the first file
    assert len(dispatched) == golden.records.index(damaged)
    commitlog.shutdown()


def test_abnormal_recovery_picks_the_start_file_by_timestamp(golden: Golden) -> None:
    starts = [int(name) for name in sorted(golden.files)]
    stamps = golden.first_timestamps
    assert len(stamps) == len(starts)
    cases = [(stamps[0] - 1, 0), (stamps[1], 1), (stamps[2] - 1, 1), (stamps[-1] + 10**6, -1)]
    for min_timestamp, index in cases:
        golden.restore()
        commitlog, offset, dispatched = recover(golden, abnormal=True, min_timestamp=min_timestamp)
        assert dispatched[0].commit_log_offset == starts[index], min_timestamp
        assert dispatched[-1].commit_log_offset == golden.records[-1].start
        assert offset == golden.records[-1].end
        commitlog.shutdown()
    # A file whose first record has STORETIMESTAMP 0 never matches.
    golden.restore()
    path = golden.root / "commitlog" / f"{starts[-1]:020d}"
    data = bytearray(path.read_bytes())
    data[56:64] = bytes(8)  # STORETIMESTAMP of an IPv4-born record
    path.write_bytes(bytes(data))
    commitlog, _, dispatched = recover(golden, abnormal=True, min_timestamp=10**15)
    assert dispatched[0].commit_log_offset == starts[-2]
    commitlog.shutdown()


def test_recovering_an_empty_directory(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    assert commitlog.recover_normally(100) == 0
    dispatched: list[DispatchRequest] = []
    assert commitlog.recover_abnormally(100, START_MS, dispatched.append) == 0
    assert dispatched == [] and commitlog.max_offset() == 0
    assert put_ok(commitlog, inner()).wrote_offset == 0


def test_last_file_ending_in_a_blank(golden: Golden) -> None:
    files = sorted(golden.files)
    (golden.root / "commitlog" / files[-1]).unlink()  # the file after the BLANK never made it
    prior = int(files[-2])
    in_prior = [w for w in golden.records if prior <= w.start < int(files[-1])]
    commitlog, offset, _ = recover(golden, abnormal=False)
    assert offset == in_prior[-1].end  # the BLANK's position: it is rewritten later
    assert not commitlog.mapped_file_queue.files[-1].is_full
    result = put_ok(commitlog, inner(body=b"z" * 2000))
    assert result.wrote_offset == int(files[-1])
    assert walk(commitlog)[-1].commit_log_offset == result.wrote_offset
    commitlog.shutdown()


def test_new_file_that_is_all_zeros(golden: Golden) -> None:
    files = sorted(golden.files)
    last_start = int(files[-1])
    for abnormal in (False, True):
        golden.restore()
        golden.cut(last_start)
        commitlog, offset, _ = recover(golden, abnormal=abnormal)
        assert offset == last_start and len(commitlog.mapped_file_queue.files) == len(files)
        commitlog.shutdown()


def test_set_topic_queue_table(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    commitlog.set_topic_queue_table({"TopicTest-0": 41})
    assert put_ok(commitlog, inner()).logics_offset == 41
    assert commitlog.topic_queue_table == {"TopicTest-0": 42}


def test_check_record_non_numeric_delay_in_schedule_topic(tmp_path: Path) -> None:
    commitlog = open_log(tmp_path)
    # PREPARED is never rewritten, so the odd DELAY reaches the log as given.
    msg = inner(SCHEDULE_TOPIC, sys_flag=TRANSACTION_PREPARED_TYPE, properties={"DELAY": "x"})
    result = put_ok(commitlog, msg)
    request = parse_record(raw(commitlog, 0, result.wrote_bytes), 0, True, DELAYS)
    assert (request.msg_size, request.success) == (-1, False)
