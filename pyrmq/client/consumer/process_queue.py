"""ProcessQueue: one assigned queue's pulled-but-not-yet-consumed messages.

Owns the in-flight cache of a queue (protocol.md §6.3, §6.6): messages by queue offset, their
count and body bytes (flow control), the span between the oldest and newest (the concurrency
window), and the offset that may be committed: the smallest offset still in flight, or one past
the highest offset ever cached when nothing is. Consumption is therefore at-least-once: an
offset is never committed past a message that has not been consumed. Mirrors ``ProcessQueue``
(concurrent mode). Pure: the caller passes ``now_ms``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pyrmq.common.message import PROPERTY_MAX_OFFSET, MessageExt

__all__ = ["PULL_MAX_IDLE_MS", "ProcessQueue"]

#: A queue not pulled for this long is dropped by rebalance (``pullMaxIdleTime``).
PULL_MAX_IDLE_MS = 120_000


@dataclass(slots=True)
class ProcessQueue:
    msgs: dict[int, MessageExt] = field(default_factory=dict)
    msg_size: int = 0
    #: Highest queue offset ever cached (-1: none yet).
    queue_offset_max: int = -1
    #: Messages the broker holds behind the last pulled one (MAX_OFFSET - last offset).
    msg_acc_cnt: int = 0
    dropped: bool = False
    last_pull_ms: int = 0
    last_consume_ms: int = 0

    @property
    def msg_count(self) -> int:
        return len(self.msgs)

    def put_messages(self, msgs: Iterable[MessageExt]) -> int:
        """Cache pulled messages; returns how many were new (a re-pull may repeat some)."""
        added = 0
        last: MessageExt | None = None
        for msg in msgs:
            last = msg
            if msg.queue_offset in self.msgs:
                continue
            self.msgs[msg.queue_offset] = msg
            self.msg_size += len(msg.body)
            self.queue_offset_max = max(self.queue_offset_max, msg.queue_offset)
            added += 1
        if last is not None:
            max_offset = last.properties.get(PROPERTY_MAX_OFFSET)
            if max_offset is not None and int(max_offset) - last.queue_offset > 0:
                self.msg_acc_cnt = int(max_offset) - last.queue_offset
        return added

    def remove_messages(self, msgs: Iterable[MessageExt], now_ms: int = 0) -> int:
        """Forget consumed messages; returns the offset now safe to commit, -1 when the cache
        was already empty (nothing to say)."""
        self.last_consume_ms = now_ms
        if not self.msgs:
            return -1
        for msg in msgs:
            if self.msgs.pop(msg.queue_offset, None) is not None:
                self.msg_size -= len(msg.body)
        if not self.msgs:
            self.msg_size = 0
            return self.queue_offset_max + 1
        return min(self.msgs)

    def committable_offset(self) -> int:
        """The offset to commit given what is cached now; -1 before anything was cached."""
        if self.msgs:
            return min(self.msgs)
        return self.queue_offset_max + 1 if self.queue_offset_max >= 0 else -1

    @property
    def max_span(self) -> int:
        """Offset distance between the newest and the oldest message in flight."""
        if not self.msgs:
            return 0
        return max(self.msgs) - min(self.msgs)

    def is_pull_expired(self, now_ms: int) -> bool:
        return now_ms - self.last_pull_ms > PULL_MAX_IDLE_MS

    def clear(self) -> None:
        self.msgs.clear()
        self.msg_size = 0
