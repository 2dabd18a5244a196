"""Queue selectors for ordered sending: the application picks the queue from the publish list.

Owns the ``MessageQueueSelector`` protocol a producer's ``send_orderly`` calls (protocol.md
§6.2, "Ordered sending") and the stock selectors: ``SelectMessageQueueByHash`` (Java's
``abs(arg.hashCode() % n)``, so a Python and a Java producer put the same key on the same queue)
and ``SelectMessageQueueByRandom``. ``java_hash_code`` reproduces ``Object.hashCode`` for the
argument types a key usually has. Mirrors ``producer/selector/*``. Pure.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from pyrmq.common.message import Message, tag_hash
from pyrmq.remoting.bodies import MessageQueue

__all__ = [
    "MessageQueueSelector",
    "SelectMessageQueueByHash",
    "SelectMessageQueueByRandom",
    "java_hash_code",
]

_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1


class MessageQueueSelector(Protocol):
    """``select(mqs, msg, arg)`` -> one of ``mqs`` (the topic's publish queues, in route order)."""

    def select(self, mqs: Sequence[MessageQueue], msg: Message, arg: object) -> MessageQueue: ...


def _to_int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x8000_0000 else value


def java_hash_code(arg: object) -> int:
    """``arg.hashCode()`` as Java computes it for the boxed equivalent of ``arg``.

    ``str`` -> ``String.hashCode``; ``bool`` -> ``Boolean.hashCode`` (1231/1237); ``int`` in the
    32-bit range -> ``Integer.hashCode`` (the value), beyond it ``Long.hashCode``
    (``value ^ value >>> 32``); ``bytes`` -> ``String.hashCode`` of its Latin-1 text. Anything
    else has no Java counterpart: Python's ``hash`` folded to 32 bits (stable within a process).
    """
    if isinstance(arg, bool):
        return 1231 if arg else 1237
    if isinstance(arg, int):
        if _INT_MIN <= arg <= _INT_MAX:
            return arg
        bits = arg & 0xFFFF_FFFF_FFFF_FFFF
        return _to_int32(bits ^ (bits >> 32))
    if isinstance(arg, str):
        return tag_hash(arg)
    if isinstance(arg, bytes):
        return tag_hash(arg.decode("latin-1"))
    return _to_int32(hash(arg))


def _java_rem(a: int, n: int) -> int:
    """Java's ``%``: the sign of the dividend (Python's follows the divisor)."""
    r = abs(a) % n
    return -r if a < 0 else r


class SelectMessageQueueByHash:
    """``SelectMessageQueueByHash``: ``abs(hashCode(arg) % n)`` — equal args, equal queue."""

    def select(self, mqs: Sequence[MessageQueue], msg: Message, arg: object) -> MessageQueue:
        if not mqs:
            raise ValueError("no message queue to select from")
        return mqs[abs(_java_rem(java_hash_code(arg), len(mqs)))]


class SelectMessageQueueByRandom:
    """``SelectMessageQueueByRandom``: any queue (ordering per key is not kept)."""

    def select(self, mqs: Sequence[MessageQueue], msg: Message, arg: object) -> MessageQueue:
        if not mqs:
            raise ValueError("no message queue to select from")
        return random.choice(list(mqs))
