"""The pure send pieces: checks, compression, retry-topic header fields, batches, results."""

from __future__ import annotations

import pytest

from pyrmq.client.api import SendResponse
from pyrmq.client.errors import MQClientError
from pyrmq.client.sending import (
    RETRIABLE_SEND_CODES,
    SendStatus,
    build_header,
    check_message,
    prepare_batch,
    prepare_message,
    send_result,
)
from pyrmq.common.message import Message, string_to_properties
from pyrmq.common.message_codec import decode_batch, decompress_body
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.headers import SendMessageResponseHeader, to_ext_fields

MAX = 4 * 1024 * 1024


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        ("", b"x"),
        ("  ", b"x"),
        ("T" * 128, b"x"),
        ("bad topic", b"x"),
        ("a/b", b"x"),
        ("SCHEDULE_TOPIC_XXXX", b"x"),
        ("OFFSET_MOVED_EVENT", b"x"),
        ("T", b""),
        ("T", b"x" * (MAX + 1)),
    ],
)
def test_check_message_refuses(topic: str, body: bytes) -> None:
    with pytest.raises(MQClientError):
        check_message(Message(topic, body), MAX)


def test_check_message_accepts_legal_names() -> None:
    check_message(Message("%RETRY%group_1|x-y", b"x"), MAX)
    check_message(Message("T" * 127, b"x" * MAX), MAX)


def test_retriable_codes_are_the_49_list() -> None:
    assert set(RETRIABLE_SEND_CODES) == {17, 14, 1, 16, 204, 205}


@pytest.mark.parametrize(("size", "compressed"), [(4095, False), (4096, True), (10_000, True)])
def test_compression_threshold(size: int, compressed: bool) -> None:
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    prepared = prepare_message(Message("T", body, properties={"UNIQ_KEY": "K"}), 4096)
    if compressed:
        assert prepared.sys_flag == 0x301  # COMPRESSED + ZLIB type bits
        assert decompress_body(prepared.body, prepared.sys_flag) == body
    else:
        assert prepared.sys_flag == 0
        assert prepared.body == body
    assert prepared.msg_id == "K"


def test_prepare_does_not_touch_the_message() -> None:
    msg = Message("T", b"y" * 5000, properties={"UNIQ_KEY": "K"})
    prepare_message(msg, 4096)
    assert msg.body == b"y" * 5000


def test_transaction_prepared_flag() -> None:
    prepared = prepare_message(Message("T", b"x", properties={"TRAN_MSG": "true"}), 4096)
    assert prepared.sys_flag == 0x4


def test_retry_topic_counts_move_from_properties_to_header() -> None:
    msg = Message(
        "%RETRY%G", b"x", properties={"RECONSUME_TIME": "3", "MAX_RECONSUME_TIMES": "16", "A": "1"}
    )
    prepared = prepare_message(msg, 4096)
    assert (prepared.reconsume_times, prepared.max_reconsume_times) == (3, 16)
    assert string_to_properties(prepared.properties) == {"A": "1"}


def test_header_has_every_v2_field() -> None:
    prepared = prepare_message(Message("T", b"x", flag=7, properties={"TAGS": "A"}), 4096)
    header = build_header(prepared, "PG", MessageQueue("T", "broker-a", 3), 1234)
    assert to_ext_fields(header) == {
        "a": "PG", "b": "T", "c": "TBW102", "d": "4", "e": "3", "f": "0", "g": "1234", "h": "7",
        "i": "TAGS\x01A", "j": "0", "k": "false", "m": "false", "n": "broker-a",
    }  # fmt: skip


def test_batch_body_and_header() -> None:
    msgs = [Message("T", f"m{i}".encode(), properties={"UNIQ_KEY": f"K{i}"}) for i in range(3)]
    prepared = prepare_batch(msgs, MAX)
    assert prepared.batch and prepared.msg_id == "K0,K1,K2"
    assert [m.body for m in decode_batch(prepared.body, topic="T")] == [b"m0", b"m1", b"m2"]
    assert string_to_properties(prepared.properties) == {"WAIT": "true"}
    header = build_header(prepared, "PG", MessageQueue("T", "b", 0), 1)
    assert header.m is True


@pytest.mark.parametrize(
    "msgs",
    [
        [],
        [Message("T", b"a"), Message("U", b"b")],
        [Message("T", b"a"), Message("T", b"b", properties={"WAIT": "false"})],
        [Message("T", b"a", properties={"DELAY": "3"})],
        [Message("%RETRY%G", b"a")],
        [Message("T", b"")],
    ],
)
def test_batch_rules(msgs: list[Message]) -> None:
    with pytest.raises(MQClientError):
        prepare_batch(msgs, MAX)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (0, SendStatus.SEND_OK),
        (10, SendStatus.FLUSH_DISK_TIMEOUT),
        (12, SendStatus.FLUSH_SLAVE_TIMEOUT),
        (11, SendStatus.SLAVE_NOT_AVAILABLE),
    ],
)
def test_send_result_status_mapping(code: int, status: SendStatus) -> None:
    prepared = prepare_message(Message("T", b"x", properties={"UNIQ_KEY": "U"}), 4096)
    response = SendResponse(code, SendMessageResponseHeader("OFFSETID", 2, 41), "R", False)
    result = send_result(response, prepared, MessageQueue("T", "broker-a", 0))
    assert result.send_status is status
    assert (result.msg_id, result.offset_msg_id, result.queue_offset) == ("U", "OFFSETID", 41)
    assert result.message_queue == MessageQueue("T", "broker-a", 2)  # the queue the broker wrote
    assert (result.region_id, result.trace_on) == ("R", False)
