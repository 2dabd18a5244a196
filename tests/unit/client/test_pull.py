"""Pull pieces: header flags, status mapping, decoding + client tag filter, flow control."""

from __future__ import annotations

import pytest

from pyrmq.client.api import PullResponse
from pyrmq.client.consumer.process_queue import ProcessQueue
from pyrmq.client.consumer.pull import (
    FlowLimits,
    PullStatus,
    build_pull_header,
    flow_control_reason,
    process_pull_response,
)
from pyrmq.common.message import MessageExt
from pyrmq.common.message_codec import compress_body, encode_stored_message
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.headers import PullMessageResponseHeader
from pyrmq.remoting.heartbeat import build_subscription_data

MQ = MessageQueue("T", "broker-a", 1)


def record(offset: int, body: bytes = b"hi", sys_flag: int = 0, **props: str) -> bytes:
    return encode_stored_message(
        MessageExt(
            "T", body, properties=dict(props), queue_id=1, queue_offset=offset, sys_flag=sys_flag,
            store_host=("127.0.0.1", 10911), commit_log_offset=100 * offset,
        )
    )  # fmt: skip


def response(code: int, body: bytes = b"", next_offset: int = 7) -> PullResponse:
    return PullResponse(code, PullMessageResponseHeader(1, next_offset, 2, 9), body)


@pytest.mark.parametrize(
    ("commit", "to_master", "flag", "sent"),
    [(0, True, 0x2, 0), (42, True, 0x3, 42), (42, False, 0x2, 0), (-1, True, 0x2, 0)],
)
def test_header_flags(commit: int, to_master: bool, flag: int, sent: int) -> None:
    sub = build_subscription_data("T", "A || B", sub_version=123)
    header = build_pull_header("G", MQ, 5, sub, 32, commit, to_master=to_master)
    assert (header.sys_flag, header.commit_offset) == (flag, sent)
    assert (header.topic, header.queue_id, header.queue_offset, header.max_msg_nums) == (
        "T",
        1,
        5,
        32,
    )
    assert (header.subscription, header.sub_version, header.expression_type) == (
        "A || B",
        123,
        "TAG",
    )
    assert header.suspend_timeout_millis == 15000


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (19, PullStatus.NO_NEW_MSG),
        (20, PullStatus.NO_MATCHED_MSG),
        (21, PullStatus.OFFSET_ILLEGAL),
    ],
)
def test_status_mapping_without_messages(code: int, status: PullStatus) -> None:
    result = process_pull_response(response(code), build_subscription_data("T", "*"))
    assert (result.status, result.next_begin_offset, result.messages) == (status, 7, [])
    assert (result.min_offset, result.max_offset, result.suggest_which_broker_id) == (2, 9, 1)


def test_found_decodes_filters_and_annotates() -> None:
    body = record(3, TAGS="A") + record(4, TAGS="B") + record(5) + record(6, TAGS="C")
    result = process_pull_response(response(0, body), build_subscription_data("T", "A || C"))
    assert result.status is PullStatus.FOUND
    assert result.decoded_count == 4
    assert [m.queue_offset for m in result.messages] == [3, 6]
    assert result.messages[0].properties["MIN_OFFSET"] == "2"
    assert result.messages[0].properties["MAX_OFFSET"] == "9"


def test_star_keeps_everything_even_untagged() -> None:
    body = record(3, TAGS="A") + record(4)
    result = process_pull_response(response(0, body), build_subscription_data("T", "*"))
    assert [m.queue_offset for m in result.messages] == [3, 4]


def test_compressed_bodies_come_back_plain() -> None:
    plain = b"z" * 5000
    body = record(3, compress_body(plain), sys_flag=0x301)
    [msg] = process_pull_response(response(0, body), build_subscription_data("T", "*")).messages
    assert msg.body == plain
    assert msg.sys_flag & 0x1 == 0


def test_a_broken_tail_keeps_the_records_before_it() -> None:
    body = record(3) + record(4)[:20]
    result = process_pull_response(response(0, body), build_subscription_data("T", "*"))
    assert [m.queue_offset for m in result.messages] == [3]


def test_flow_control_reasons() -> None:
    limits = FlowLimits(max_cached_msgs=2, max_cached_mib=1, max_span=5)
    pq = ProcessQueue()
    assert flow_control_reason(pq, limits) is None
    pq.put_messages([MessageExt("T", b"x", queue_offset=i) for i in range(3)])
    assert "cached messages" in (flow_control_reason(pq, limits) or "")
    pq = ProcessQueue()
    pq.put_messages([MessageExt("T", b"x" * (1024 * 1024 + 1), queue_offset=0)])
    assert "cached bytes" in (flow_control_reason(pq, limits) or "")
    pq = ProcessQueue()
    pq.put_messages([MessageExt("T", b"x", queue_offset=0), MessageExt("T", b"x", queue_offset=9)])
    assert "span" in (flow_control_reason(pq, limits) or "")
