"""Message values and layouts against the shared vectors: properties, stored records, pull and
batch bodies, ids, tag hash, CRC, compression; corruption and hypothesis round trips."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrmq.common.clock import FakeClock
from pyrmq.common.message import (
    BORNHOST_V6_FLAG,
    COMPRESSED_FLAG,
    COMPRESSION_TYPE_LZ4,
    COMPRESSION_TYPE_ZLIB,
    PROPERTY_INNER_MULTI_DISPATCH,
    PROPERTY_KEYS,
    RESERVED_PROPERTY_NAMES,
    STOREHOSTADDRESS_V6_FLAG,
    TRANSACTION_COMMIT_TYPE,
    TRANSACTION_PREPARED_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
    Message,
    MessageExt,
    clear_compressed_flag,
    get_compression_type,
    get_transaction_value,
    mark_compressed,
    properties_to_string,
    reset_transaction_value,
    string_to_properties,
    tag_hash,
)
from pyrmq.common.message_codec import (
    BLANK_MAGIC_CODE,
    MAGIC_CODE_V1,
    MAGIC_CODE_V2,
    MessageDecodeError,
    MessageEncodeError,
    UniqueIdGenerator,
    body_crc,
    compress_body,
    decode_batch,
    decode_offset_msg_id,
    decode_stored_message,
    decode_stored_messages,
    decompress_body,
    encode_batch,
    encode_stored_message,
    offset_msg_id,
    unique_id,
    unique_id_timestamp,
)
from tests.support.vectors import hex_bytes

UNIQ_1 = "7F00000104D21B6D35860001E2400001"
PULL_SPLIT = 197  # the first record of pull_body_two_messages.hex is stored_message.hex


def vector(source: tuple[str, int, int | None]) -> bytes:
    """Bytes of a vector file, or of a slice of it."""
    name, start, end = source
    return hex_bytes(name)[start:end]


# --- properties string -----------------------------------------------------------------------

VECTOR_PROPS = {
    "TAGS": "TagA",
    "KEYS": "order-1 order-2",
    "WAIT": "true",
    "UNIQ_KEY": UNIQ_1,
}

#: (properties, encoded text, trailing_separator): drives both directions.
PROPERTIES_TABLE: list[tuple[dict[str, str], str | None, bool]] = [
    (VECTOR_PROPS, None, True),  # None: message_properties.hex
    ({"A": "1", "B": "2"}, "A\x011\x02B\x012", False),  # 4.9.8: last separator deleted
    ({"A": "1", "B": "2"}, "A\x011\x02B\x012\x02", True),  # 5.2+
    ({"中文": "值 v"}, "中文\x01值 v", False),
    ({}, "", False),
    ({}, "", True),
]


@pytest.mark.parametrize(("props", "text", "trailing"), PROPERTIES_TABLE)
def test_properties_string_both_ways(
    props: dict[str, str], text: str | None, trailing: bool
) -> None:
    data = hex_bytes("message_properties.hex") if text is None else text.encode()
    assert properties_to_string(props, trailing_separator=trailing).encode() == data
    assert string_to_properties(data.decode()) == props


def test_properties_default_is_the_4_9_8_form_without_final_separator() -> None:
    assert properties_to_string({"A": "1"}) == "A\x011"


@pytest.mark.parametrize(
    ("text", "props"),
    [
        ("A\x011\x02", {"A": "1"}),
        ("A\x011", {"A": "1"}),
        ("A\x01\x02B\x012", {"B": "2"}),  # empty value dropped
        ("\x01v\x02B\x012", {"B": "2"}),  # empty name dropped
        ("K\x01v\x01w", {"K": "v\x01w"}),  # the value keeps later ␁
        ("ab\x02\x02AB", {}),  # no ␁ at all
        ("A\x01", {}),
        ("\x02\x02A\x011\x02\x02", {"A": "1"}),
        ("A\x011\x02A\x012", {"A": "2"}),  # the last repeat wins
    ],
)
def test_properties_decoding_is_tolerant_like_java(text: str, props: dict[str, str]) -> None:
    assert string_to_properties(text) == props


_CHARS = st.characters(exclude_characters="\x01\x02", codec="utf-8")
_PROPS = st.dictionaries(st.text(_CHARS, min_size=1), st.text(_CHARS, min_size=1), max_size=8)


@given(_PROPS, st.booleans())
def test_properties_round_trip(props: dict[str, str], trailing: bool) -> None:
    text = properties_to_string(props, trailing_separator=trailing)
    assert string_to_properties(text) == props


# --- stored records --------------------------------------------------------------------------

STORED_1 = MessageExt(
    topic="TopicTest",
    body=b"Hello RocketMQ",
    properties=VECTOR_PROPS,
    store_size=197,
    born_timestamp=1700000000000,
    born_host=("127.0.0.1", 50000),
    store_timestamp=1700000000123,
    store_host=("127.0.0.1", 10911),
    msg_id="7F00000100002A9F0000000000000000",
    body_crc=0x69C865ED,
)
STORED_2 = replace(
    STORED_1,
    body=b"Hi",
    properties={"TAGS": "TagB", "WAIT": "true", "UNIQ_KEY": "7F00000104D21B6D35860001E2410002"},
    store_size=164,
    queue_offset=1,
    commit_log_offset=197,
    born_timestamp=1700000000001,
    store_timestamp=1700000000124,
    msg_id="7F00000100002A9F00000000000000C5",
    body_crc=0x4D170E0E,
)

#: (message, where its bytes are): drives decode and byte-exact encode.
STORED_TABLE = [
    pytest.param(STORED_1, ("stored_message.hex", 0, None), id="stored_message"),
    pytest.param(STORED_1, ("pull_body_two_messages.hex", 0, PULL_SPLIT), id="pull-1"),
    pytest.param(STORED_2, ("pull_body_two_messages.hex", PULL_SPLIT, None), id="pull-2"),
]


@pytest.mark.parametrize(("msg", "source"), STORED_TABLE)
def test_stored_record_decodes_every_field(msg: MessageExt, source: tuple[str, int, int]) -> None:
    data = vector(source)
    assert decode_stored_message(data, check_crc=True) == (msg, len(data))


@pytest.mark.parametrize(("msg", "source"), STORED_TABLE)
def test_stored_record_encodes_byte_for_byte(msg: MessageExt, source: tuple[str, int, int]) -> None:
    assert encode_stored_message(msg, trailing_separator=True) == vector(source)


def test_stored_vector_fixed_fields() -> None:
    data = hex_bytes("stored_message.hex")
    assert struct.unpack_from(">iI", data) == (197, MAGIC_CODE_V1)
    assert len(encode_stored_message(STORED_1)) == 196  # 4.9.8 form: one separator fewer


def test_pull_body_gives_both_records_and_msg_ids() -> None:
    body = hex_bytes("pull_body_two_messages.hex")
    messages = decode_stored_messages(body, check_crc=True)
    assert messages == [STORED_1, STORED_2]
    assert [m.msg_id for m in messages] == [
        "7F00000100002A9F0000000000000000",
        "7F00000100002A9F00000000000000C5",
    ]
    assert decode_stored_message(body, PULL_SPLIT) == (STORED_2, 164)


def test_pull_body_bad_tail_raises_or_stops_like_java() -> None:
    body = hex_bytes("pull_body_two_messages.hex") + bytes(8)
    with pytest.raises(MessageDecodeError, match="bad magic"):
        decode_stored_messages(body)
    assert decode_stored_messages(body, stop_at_error=True) == [STORED_1, STORED_2]


def test_read_body_false_skips_the_body() -> None:
    msg, _ = decode_stored_message(hex_bytes("stored_message.hex"), read_body=False)
    assert msg == replace(STORED_1, body=b"")


# --- corruption ------------------------------------------------------------------------------

BODY_POS = 88  # IPv4 hosts, V1


@pytest.mark.parametrize("index", range(len(b"Hello RocketMQ")))
@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_any_flipped_body_byte_fails_the_crc_check(index: int, mask: int) -> None:
    data = bytearray(hex_bytes("stored_message.hex"))
    data[BODY_POS + index] ^= mask
    with pytest.raises(MessageDecodeError, match="CRC"):
        decode_stored_message(data, check_crc=True)
    assert decode_stored_message(data)[0].body != STORED_1.body  # unchecked: decodes as is


def test_truncation_at_every_length_raises() -> None:
    data = hex_bytes("stored_message.hex")
    for length in range(len(data)):
        with pytest.raises(MessageDecodeError):
            decode_stored_message(data[:length])


@pytest.mark.parametrize(
    ("magic", "reason"), [(0, "bad magic"), (0xDAA320A8, "bad magic"), (BLANK_MAGIC_CODE, "BLANK")]
)
def test_bad_magic_raises(magic: int, reason: str) -> None:
    data = bytearray(hex_bytes("stored_message.hex"))
    struct.pack_into(">I", data, 4, magic)
    with pytest.raises(MessageDecodeError, match=reason):
        decode_stored_message(data)


@pytest.mark.parametrize(
    ("position", "fmt", "value", "reason"),
    [
        (0, ">i", 198, "before TOTALSIZE"),  # TOTALSIZE larger than the fields
        (0, ">i", 196, "past the record end"),  # TOTALSIZE smaller than the fields
        (0, ">i", 50, "smaller than the fixed fields"),
        (84, ">i", -1, "body length -1"),
        (84, ">i", 1000, "body length 1000"),
        (102, ">b", -1, "topic length -1"),
        (112, ">h", 84, "properties length 84"),
    ],
)
def test_inconsistent_lengths_raise(position: int, fmt: str, value: int, reason: str) -> None:
    data = bytearray(hex_bytes("stored_message.hex")) + b"\x00"
    struct.pack_into(fmt, data, position, value)
    with pytest.raises(MessageDecodeError, match=reason):
        decode_stored_message(data)


def test_invalid_utf8_topic_raises() -> None:
    data = bytearray(hex_bytes("stored_message.hex"))
    data[103] = 0xFF
    with pytest.raises(MessageDecodeError, match="UTF-8"):
        decode_stored_message(data)


# --- V2 magic, IPv6 hosts, encode limits -----------------------------------------------------


def test_long_topic_is_written_as_v2_and_read_back() -> None:
    msg = replace(STORED_1, topic="%RETRY%" + "g" * 200)
    data = encode_stored_message(msg)
    assert struct.unpack_from(">I", data, 4) == (MAGIC_CODE_V2,)
    assert struct.unpack_from(">h", data, BODY_POS + 14) == (207,)
    assert decode_stored_message(data)[0] == replace(msg, store_size=len(data))
    with pytest.raises(MessageEncodeError, match="V1"):
        encode_stored_message(msg, magic=MAGIC_CODE_V1)


def test_short_topic_may_be_forced_to_v2() -> None:
    data = encode_stored_message(STORED_1, magic=MAGIC_CODE_V2, trailing_separator=True)
    assert len(data) == 198
    assert decode_stored_message(data)[0] == replace(STORED_1, store_size=198)


def test_ipv6_hosts_widen_the_record_and_set_the_sys_flag() -> None:
    msg = replace(STORED_1, born_host=("::1", 50000), store_host=("fe80::2", 10911))
    data = encode_stored_message(msg, trailing_separator=True)
    decoded, size = decode_stored_message(data, check_crc=True)
    assert size == len(data) == 197 + 2 * 12
    assert decoded.sys_flag == BORNHOST_V6_FLAG | STOREHOSTADDRESS_V6_FLAG
    assert (decoded.born_host, decoded.store_host) == (msg.born_host, msg.store_host)
    assert len(decoded.msg_id) == 56
    assert decode_offset_msg_id(decoded.msg_id) == ("fe80::2", 10911, 0)


def test_sys_flag_host_bits_follow_the_addresses() -> None:
    msg = replace(STORED_1, sys_flag=BORNHOST_V6_FLAG | TRANSACTION_COMMIT_TYPE)
    decoded, size = decode_stored_message(encode_stored_message(msg))
    assert (decoded.sys_flag, size) == (TRANSACTION_COMMIT_TYPE, 196)


@pytest.mark.parametrize(
    "change",
    [
        {"born_host": ("broker-a", 1)},
        {"properties": {"K": "v" * 40000}},
        {"queue_id": 2**31},
        {"store_host": ("127.0.0.1", 2**32)},
    ],
)
def test_values_that_do_not_fit_raise(change: dict[str, object]) -> None:
    with pytest.raises(MessageEncodeError):
        encode_stored_message(replace(STORED_1, **change))  # type: ignore[arg-type]


def test_recompute_crc_false_writes_the_given_crc() -> None:
    data = encode_stored_message(replace(STORED_1, body_crc=7), recompute_crc=False)
    assert struct.unpack_from(">i", data, 8) == (7,)
    with pytest.raises(MessageDecodeError, match="CRC"):
        decode_stored_message(data, check_crc=True)


_I32 = st.integers(-(2**31), 2**31 - 1)
_I64 = st.integers(-(2**63), 2**63 - 1)
_HOSTS = st.tuples(st.ip_addresses().map(str), st.integers(0, 65535))


@st.composite
def stored_messages(draw: st.DrawFn) -> MessageExt:
    born, store = draw(_HOSTS), draw(_HOSTS)
    v6_bits = (BORNHOST_V6_FLAG if ":" in born[0] else 0) | (
        STOREHOSTADDRESS_V6_FLAG if ":" in store[0] else 0
    )
    sys_flag = draw(st.integers(0, 2**31 - 1)) & ~0x30 | v6_bits
    return MessageExt(
        topic=draw(st.text(max_size=200)),
        body=draw(st.binary(max_size=64)),
        flag=draw(_I32),
        properties=draw(_PROPS),
        queue_id=draw(_I32),
        queue_offset=draw(_I64),
        sys_flag=sys_flag,
        born_timestamp=draw(_I64),
        born_host=born,
        store_timestamp=draw(_I64),
        store_host=store,
        commit_log_offset=draw(_I64),
        reconsume_times=draw(_I32),
        prepared_transaction_offset=draw(_I64),
    )


@given(stored_messages(), st.booleans(), st.binary(max_size=4))
def test_stored_record_round_trip(msg: MessageExt, trailing: bool, before: bytes) -> None:
    data = encode_stored_message(msg, trailing_separator=trailing)
    expected = replace(
        msg,
        store_size=len(data),
        body_crc=body_crc(msg.body),
        msg_id=offset_msg_id(msg.store_host, msg.commit_log_offset),
    )
    assert decode_stored_message(before + data, len(before), check_crc=True) == (
        expected,
        len(data),
    )
    assert encode_stored_message(expected, trailing_separator=trailing) == data


# --- batch body ------------------------------------------------------------------------------

BATCH = [
    Message("", b"m1", 0, {"WAIT": "true", "UNIQ_KEY": "7F00000104D21B6D35860001E2400002"}),
    Message("", b"m2", 0, {"WAIT": "true", "UNIQ_KEY": "7F00000104D21B6D35860001E2400003"}),
]
BATCH_TABLE = [pytest.param(BATCH, ("batch_body.hex", 0, None), id="batch_body")]


@pytest.mark.parametrize(("messages", "source"), BATCH_TABLE)
def test_batch_body_both_ways(messages: list[Message], source: tuple[str, int, int]) -> None:
    data = vector(source)
    assert decode_batch(data) == messages
    assert encode_batch(messages, trailing_separator=True) == data
    assert [struct.unpack_from(">i", data, at)[0] for at in (0, 76)] == [76, 76]


def test_batch_topic_comes_from_the_caller() -> None:
    decoded = decode_batch(hex_bytes("batch_body.hex"), topic="TopicTest")
    assert [m.topic for m in decoded] == ["TopicTest", "TopicTest"]


def test_batch_truncation_and_bad_lengths_raise() -> None:
    data = hex_bytes("batch_body.hex")
    for length in range(1, len(data)):
        if length != 76:
            with pytest.raises(MessageDecodeError):
                decode_batch(data[:length])
    corrupt = bytearray(data)
    struct.pack_into(">i", corrupt, 16, -5)
    with pytest.raises(MessageDecodeError, match="body length -5"):
        decode_batch(corrupt)


@given(
    st.lists(st.builds(Message, st.just(""), st.binary(max_size=32), _I32, _PROPS), max_size=5),
    st.booleans(),
)
def test_batch_round_trip(messages: list[Message], trailing: bool) -> None:
    assert decode_batch(encode_batch(messages, trailing_separator=trailing)) == messages


# --- small values ----------------------------------------------------------------------------

TAG_HASHES = [
    ("TagA", 2598919),
    ("TagB", 2598920),
    ("*", 42),
    ("order", 106006350),
    ("中文", 646394),
    ("polygenelubricants", -2147483648),
    ("", 0),
    ("\U0001f600", 31 * 0xD83D + 0xDE00),  # one character, two UTF-16 units
]


@pytest.mark.parametrize(("tag", "expected"), TAG_HASHES)
def test_tag_hash(tag: str, expected: int) -> None:
    assert tag_hash(tag) == expected


def java_string_hash(text: str) -> int:
    """Reference: String.hashCode over the UTF-16 encoding."""
    units = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i : i + 2], "big")) % 2**32
    return h - 2**32 if h >= 2**31 else h


@given(st.text())
def test_tag_hash_matches_the_utf16_reference(tag: str) -> None:
    assert tag_hash(tag) == java_string_hash(tag)


@pytest.mark.parametrize(
    ("body", "expected"), [(b"Hello RocketMQ", 1774740973), (b"Hi", 1293356558), (b"", 0)]
)
def test_body_crc(body: bytes, expected: int) -> None:
    assert body_crc(body) == expected


OFFSET_MSG_IDS = [
    (("127.0.0.1", 10911), 197, "7F00000100002A9F00000000000000C5"),
    (("127.0.0.1", 10911), 0, "7F00000100002A9F0000000000000000"),
    (("::1", 10911), 1, "0" * 30 + "01" + "00002A9F" + "0" * 15 + "1"),
]


@pytest.mark.parametrize(("host", "offset", "msg_id"), OFFSET_MSG_IDS)
def test_offset_msg_id_both_ways(host: tuple[str, int], offset: int, msg_id: str) -> None:
    assert offset_msg_id(host, offset) == msg_id
    assert decode_offset_msg_id(msg_id) == (*host, offset)
    assert decode_offset_msg_id(msg_id.lower()) == (*host, offset)


@pytest.mark.parametrize(
    ("msg_id", "reason"),
    [(UNIQ_1, "port"), ("XYZ", "hexadecimal"), ("7F00000100002A9F", "bytes"), ("", "bytes")],
)
def test_bad_offset_msg_ids_raise(msg_id: str, reason: str) -> None:
    with pytest.raises(MessageDecodeError, match=reason):
        decode_offset_msg_id(msg_id)


# --- UNIQ_KEY --------------------------------------------------------------------------------

LOOPBACK = bytes([127, 0, 0, 1])
NOV_2023_UTC = int(datetime(2023, 11, 1, tzinfo=UTC).timestamp() * 1000)


def test_unique_id_layout() -> None:
    assert unique_id(LOOPBACK, 1234, 0x1B6D3586, 123456, 1) == UNIQ_1
    assert unique_id(LOOPBACK, 1234 + 65536, -1, -1, 65537).endswith("04D2FFFFFFFFFFFFFFFF0001")


def test_generator_gives_the_vector_and_counts() -> None:
    clock = FakeClock(NOV_2023_UTC + 123456)
    ids = UniqueIdGenerator(LOOPBACK, 1234, 0x1B6D3586, clock, counter=1, tz=UTC)
    assert ids.next_id() == UNIQ_1
    assert ids.next_id() == UNIQ_1[:-4] + "0002"


def test_generator_restarts_the_time_part_each_month_and_wraps_the_counter() -> None:
    clock = FakeClock(NOV_2023_UTC + 123456)
    ids = UniqueIdGenerator(LOOPBACK, 1234, 0x1B6D3586, clock, counter=0xFFFF, tz=UTC)
    assert ids.next_id().endswith("0001E240FFFF")
    clock.advance(30 * 86_400_000)  # 2023-12-01 00:02:03.456 UTC
    assert ids.next_id().endswith("0001E2400000")


def test_generator_pins_a_small_step_back_over_the_month_start_to_zero() -> None:
    clock = FakeClock(NOV_2023_UTC + 100)
    ids = UniqueIdGenerator(LOOPBACK, 1, 2, clock, tz=UTC)
    clock.advance(-600)
    assert ids.next_id().endswith("000000000000")


def test_generator_refuses_odd_ip_lengths() -> None:
    with pytest.raises(ValueError, match="4 or 16"):
        UniqueIdGenerator(b"\x01\x02", 1, 2, FakeClock(), tz=UTC)


def test_unique_id_timestamp_picks_this_or_last_month() -> None:
    assert unique_id_timestamp(UNIQ_1, NOV_2023_UTC + 200_000, UTC) == NOV_2023_UTC + 123456
    october = int(datetime(2023, 10, 1, tzinfo=UTC).timestamp() * 1000)
    assert unique_id_timestamp(UNIQ_1, NOV_2023_UTC + 100, UTC) == october + 123456


# --- compression -----------------------------------------------------------------------------


def test_compression_round_trip_and_flag() -> None:
    body = b"RocketMQ " * 1000
    packed = compress_body(body)
    assert zlib.decompress(packed) == body
    assert decompress_body(packed) == body
    flag = mark_compressed(TRANSACTION_PREPARED_TYPE)
    assert flag == 0x305
    assert get_compression_type(flag) == COMPRESSION_TYPE_ZLIB
    assert get_compression_type(COMPRESSED_FLAG) == COMPRESSION_TYPE_ZLIB  # type 0 = ZLIB
    assert clear_compressed_flag(flag) == 0x304


def test_compressed_record_is_inflated_on_request() -> None:
    body = b"x" * 5000
    msg = replace(STORED_1, body=compress_body(body), sys_flag=mark_compressed(0))
    data = encode_stored_message(msg)
    assert decode_stored_message(data, check_crc=True)[0].body == msg.body
    inflated = decode_stored_message(data, check_crc=True, decompress=True)[0]
    assert (inflated.body, inflated.sys_flag) == (body, msg.sys_flag)


@pytest.mark.parametrize(
    ("body", "sys_flag", "reason"),
    [
        (b"not zlib", COMPRESSED_FLAG, "not a zlib stream"),
        (zlib.compress(b"x" * 100)[:-3], COMPRESSED_FLAG, "ends before"),
        (zlib.compress(b"x"), mark_compressed(0, COMPRESSION_TYPE_LZ4), "not supported"),
        (zlib.compress(b"x"), 0x701, "unknown compression type"),
    ],
)
def test_bad_compressed_bodies_raise(body: bytes, sys_flag: int, reason: str) -> None:
    with pytest.raises(MessageDecodeError, match=reason):
        decompress_body(body, sys_flag)


# --- Message helpers and sysFlag -------------------------------------------------------------


def test_message_property_helpers() -> None:
    msg = Message("TopicTest")
    assert (msg.tags, msg.keys, msg.uniq_key, msg.wait_store_msg_ok, msg.delay_time_level) == (
        None,
        [],
        None,
        True,
        0,
    )
    msg.tags = "TagA"
    msg.keys = ["k1", "k2"]
    msg.uniq_key = UNIQ_1
    msg.properties.update(WAIT="FALSE", DELAY="3")
    assert msg.properties[PROPERTY_KEYS] == "k1 k2"
    assert (msg.tags, msg.keys, msg.wait_store_msg_ok, msg.delay_time_level) == (
        "TagA",
        ["k1", "k2"],
        False,
        3,
    )
    msg.tags = None
    msg.keys = []
    assert msg.properties == {"UNIQ_KEY": UNIQ_1, "WAIT": "FALSE", "DELAY": "3"}


def test_transaction_bits() -> None:
    flag = COMPRESSED_FLAG | TRANSACTION_PREPARED_TYPE
    assert get_transaction_value(flag) == TRANSACTION_PREPARED_TYPE
    assert reset_transaction_value(flag, TRANSACTION_ROLLBACK_TYPE) == 0xD
    assert reset_transaction_value(0xD, TRANSACTION_COMMIT_TYPE) == 0x9


def test_reserved_names_are_4_9_8_string_hash_set() -> None:
    assert len(RESERVED_PROPERTY_NAMES) == 31
    assert PROPERTY_KEYS in RESERVED_PROPERTY_NAMES
    assert PROPERTY_INNER_MULTI_DISPATCH not in RESERVED_PROPERTY_NAMES
