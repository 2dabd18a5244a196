"""The Raft peer messages' msgpack codec: round trips and malformed input."""

from __future__ import annotations

import re

import msgpack  # type: ignore[import-untyped]
import pytest

from pyrmq.dledger.log_store import Entry
from pyrmq.dledger.messages import (
    AppendRequest,
    AppendResponse,
    Message,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
    decode,
    encode,
)

E1 = Entry(index=7, term=3, body=b"hello", pos=1024)
E2 = Entry(index=8, term=4, body=b"", pos=1077, magic=1, channel=2)
BIG = Entry(index=2**40, term=2**31, body=bytes(range(256)) * 40, pos=2**62)

ROUND_TRIP: list[Message] = [
    VoteRequest("n0", "n1", 5, last_index=10, last_term=4),
    VoteRequest("n0", "n1", 6, last_index=-1, last_term=-1, pre_vote=True),
    VoteRequest("n2", "n0", 9, last_index=3, last_term=2, transfer=True),
    VoteResponse("n1", "n0", 5, granted=True),
    VoteResponse("n1", "n0", 6, granted=False, pre_vote=True),
    AppendRequest("n0", "n1", 5, prev_index=-1, prev_term=-1, entries=(), commit_index=-1),
    AppendRequest("n0", "n1", 5, prev_index=6, prev_term=3, entries=(E1, E2), commit_index=6),
    AppendRequest("n0", "n1", 2**40, 2**40 - 1, 7, (BIG,), 2**40 - 1),
    AppendResponse("n1", "n0", 5, success=True, match_index=8, end_index=8),
    AppendResponse("n1", "n0", 5, success=False, match_index=6, end_index=2),
    TimeoutNow("n0", "n2", 11),
    VoteRequest("ñ-ü", "节点", 0, 0, 0),
]


@pytest.mark.parametrize("msg", ROUND_TRIP, ids=lambda m: type(m).__name__)
def test_round_trip(msg: Message) -> None:
    data = encode(msg)
    assert isinstance(data, bytes)
    assert decode(data) == msg


def test_entries_keep_every_field() -> None:
    msg = decode(encode(AppendRequest("a", "b", 1, 6, 3, (E1, E2), 6)))
    assert isinstance(msg, AppendRequest)
    assert msg.entries == (E1, E2)
    assert msg.entries[1].channel == 2
    assert isinstance(msg.entries, tuple)


def test_wire_form_is_a_tagged_array() -> None:
    assert msgpack.unpackb(encode(TimeoutNow("a", "b", 3))) == [5, "a", "b", 3]


def _packed(*items: object) -> bytes:
    data: bytes = msgpack.packb(list(items), use_bin_type=True)
    return data


GOOD_APPEND = encode(AppendRequest("n0", "n1", 5, 6, 3, (E1,), 6))

MALFORMED: list[tuple[str, bytes, str]] = [
    ("empty", b"", "not a msgpack message"),
    ("truncated", GOOD_APPEND[:-3], "not a msgpack message"),
    ("trailing bytes", GOOD_APPEND + b"\x00", "not a msgpack message"),
    ("reserved byte", b"\xc1", "not a msgpack message"),
    ("not an array", msgpack.packb({"tag": 1}), "message must be an array, got dict"),
    ("empty array", _packed(), "message is an empty array"),
    ("unknown tag", _packed(99, "a", "b", 1), "unknown message type tag 99"),
    ("tag is a string", _packed("1", "a", "b", 1), "unknown message type tag"),
    ("tag is a bool", _packed(True, "a", "b", 1, 0, 0, False, False), "unknown message type"),
    ("too few fields", _packed(5, "a", "b"), "TimeoutNow needs 3 fields, got 2"),
    ("too many fields", _packed(5, "a", "b", 1, 2), "TimeoutNow needs 3 fields, got 4"),
    ("src not str", _packed(5, b"a", "b", 1), "field 'src' must be a str"),
    ("term not int", _packed(5, "a", "b", 1.5), "field 'term' must be an int"),
    ("term is a bool", _packed(5, "a", "b", True), "field 'term' must be an int"),
    ("flag not bool", _packed(2, "a", "b", 1, 1, False), "field 'granted' must be a bool"),
    ("entries not array", _packed(3, "a", "b", 1, 0, 0, "x", 0), "field 'entries' must be"),
    ("entry too short", _packed(3, "a", "b", 1, 0, 0, [[1, 2, 3]], 0), "entries[0] must be"),
    (
        "entry body not bytes",
        _packed(3, "a", "b", 1, 0, 0, [[1, 1, 0, 1, 0, "text"]], 0),
        "field 'entries[0].body' must be bytes",
    ),
    (
        "entry index not int",
        _packed(3, "a", "b", 1, 0, 0, [[None, 1, 0, 1, 0, b""]], 0),
        "field 'entries[0].index' must be an int",
    ),
    ("bad utf-8", b"\x94\x05\xa1\xff\xa1b\x01", "not a msgpack message"),
]


@pytest.mark.parametrize(("case", "data", "error"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_input_raises_value_error(case: str, data: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        decode(data)


def test_every_truncation_of_a_message_is_rejected() -> None:
    for cut in range(len(GOOD_APPEND)):
        with pytest.raises(ValueError):
            decode(GOOD_APPEND[:cut])
