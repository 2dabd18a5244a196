"""The Raft core's peer messages and their msgpack wire form.

Mirrors DLedger's ``protocol`` package in meaning (``VoteRequest``/``VoteResponse``,
``AppendEntryRequest``/``AppendEntryResponse``, ``HeartBeatRequest``,
``LeadershipTransferRequest``), not in bytes: DLedger speaks JSON over RocketMQ remoting, which
only DLedger peers ever read, so a pyrmq group uses one compact msgpack array per message:
``[tag, src, dst, term, *fields]``, an entry being ``[index, term, pos, magic, channel, body]``.

This module owns the message classes (frozen, slotted, one per Raft RPC) and the codec.
``decode`` trusts nothing: every malformed input raises ``ValueError`` naming what was wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Final

import msgpack  # type: ignore[import-untyped]

from pyrmq.dledger.log_store import Entry

__all__ = [
    "AppendRequest",
    "AppendResponse",
    "Message",
    "TimeoutNow",
    "VoteRequest",
    "VoteResponse",
    "decode",
    "encode",
]


@dataclass(frozen=True, slots=True)
class VoteRequest:
    """RequestVote (Raft §5.2). ``pre_vote``: a trial round at ``term`` that changes no state
    (thesis §9.6); ``transfer``: sent after ``TimeoutNow``, so voters ignore their leader lease."""

    src: str
    dst: str
    term: int
    last_index: int
    last_term: int
    pre_vote: bool = False
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class VoteResponse:
    """A vote (or pre-vote) answer; ``term`` is the voter's, or the asked term for a granted
    pre-vote (the voter did not move to it)."""

    src: str
    dst: str
    term: int
    granted: bool
    pre_vote: bool = False


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """AppendEntries (Raft §5.3); no entries = heartbeat. ``prev_term`` is -1 when
    ``prev_index`` is -1 (nothing precedes the first entry)."""

    src: str
    dst: str
    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit_index: int


@dataclass(frozen=True, slots=True)
class AppendResponse:
    """The answer to an ``AppendRequest``.

    On success ``match_index`` is the last index known to equal the leader's log; on
    rejection it is the rejected ``prev_index`` (so the leader can tell a stale rejection from
    a current one). ``end_index`` is a back-off hint: the highest index the follower may share
    with the leader (its last index, or just before its conflicting suffix)."""

    src: str
    dst: str
    term: int
    success: bool
    match_index: int
    end_index: int


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leadership transfer (thesis §3.10): the receiver starts an election at once."""

    src: str
    dst: str
    term: int


Message = VoteRequest | VoteResponse | AppendRequest | AppendResponse | TimeoutNow

# ---------------------------------------------------------------------------------------------
# Codec. One table drives both directions: a message's tag and, per field, a checker that
# returns the decoded value or raises ValueError. Tags are part of the wire format: never reuse.

_Check = Callable[[str, Any], Any]


def _int(name: str, value: Any) -> int:
    # bool is an int subclass in Python; on the wire they are distinct msgpack types.
    if type(value) is not int:
        raise ValueError(f"field {name!r} must be an int, got {type(value).__name__}")
    return value


def _bool(name: str, value: Any) -> bool:
    if type(value) is not bool:
        raise ValueError(f"field {name!r} must be a bool, got {type(value).__name__}")
    return value


def _str(name: str, value: Any) -> str:
    if type(value) is not str:
        raise ValueError(f"field {name!r} must be a str, got {type(value).__name__}")
    return value


_ENTRY_INTS: Final = ("index", "term", "pos", "magic", "channel")


def _entry(name: str, value: Any) -> Entry:
    if type(value) is not list or len(value) != 6:
        raise ValueError(f"{name} must be a 6-item array [index, term, pos, magic, channel, body]")
    index, term, pos, magic, channel = (
        _int(f"{name}.{field}", v) for field, v in zip(_ENTRY_INTS, value[:5], strict=True)
    )
    body = value[5]
    if type(body) is not bytes:
        raise ValueError(f"field '{name}.body' must be bytes, got {type(body).__name__}")
    return Entry(index=index, term=term, body=body, pos=pos, magic=magic, channel=channel)


def _entries(name: str, value: Any) -> tuple[Entry, ...]:
    if type(value) is not list:
        raise ValueError(f"field {name!r} must be an array, got {type(value).__name__}")
    return tuple(_entry(f"{name}[{i}]", item) for i, item in enumerate(value))


#: Checker by field annotation (annotations are strings here: PEP 563).
_CHECKS: Final[dict[str, _Check]] = {
    "str": _str,
    "int": _int,
    "bool": _bool,
    "tuple[Entry, ...]": _entries,
}

_TAGS: Final[dict[type, int]] = {
    VoteRequest: 1,
    VoteResponse: 2,
    AppendRequest: 3,
    AppendResponse: 4,
    TimeoutNow: 5,
}
_BY_TAG: Final[dict[int, type]] = {tag: cls for cls, tag in _TAGS.items()}


def _layout(cls: type) -> tuple[tuple[str, _Check], ...]:
    """(field name, checker) in declaration order."""
    return tuple((f.name, _CHECKS[str(f.type)]) for f in fields(cls))


_LAYOUTS: Final[dict[type, tuple[tuple[str, _Check], ...]]] = {cls: _layout(cls) for cls in _TAGS}


def _wire_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [[e.index, e.term, e.pos, e.magic, e.channel, e.body] for e in value]
    return value


def encode(msg: Message) -> bytes:
    """``msg`` as one msgpack array ``[tag, *fields]``."""
    cls = type(msg)
    values = [_wire_value(getattr(msg, name)) for name, _ in _LAYOUTS[cls]]
    packed: bytes = msgpack.packb([_TAGS[cls], *values], use_bin_type=True)
    return packed


def _unpack(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, use_list=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        # Truncated input, trailing bytes, reserved type bytes, bad UTF-8, ...
        raise ValueError(f"not a msgpack message: {exc or type(exc).__name__}") from exc


def decode(data: bytes) -> Message:
    """The message ``encode`` turned into ``data``; ``ValueError`` if ``data`` is not one."""
    items = _unpack(data)
    if type(items) is not list:
        raise ValueError(f"message must be an array, got {type(items).__name__}")
    if not items:
        raise ValueError("message is an empty array")
    tag = items[0]
    cls = _BY_TAG.get(tag) if type(tag) is int else None
    if cls is None:
        raise ValueError(f"unknown message type tag {tag!r}")
    layout = _LAYOUTS[cls]
    if len(items) != len(layout) + 1:
        raise ValueError(
            f"{cls.__name__} needs {len(layout)} fields, got {len(items) - 1}",
        )
    kwargs = {
        name: check(name, value) for (name, check), value in zip(layout, items[1:], strict=True)
    }
    message: Message = cls(**kwargs)
    return message
