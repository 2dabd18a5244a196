"""ProcessQueue: one assigned queue's pulled-but-not-yet-consumed messages.

Owns the in-flight cache of a queue (protocol.md §6.3, §6.6): messages by queue offset, their
count and body bytes (flow control), the span between the oldest and newest (the concurrency
window), and the offset that may be committed: the smallest offset still in flight, or one past
the highest offset ever cached when nothing is. Consumption is therefore at-least-once: an
offset is never committed past a message that has not been consumed.

Orderly mode (§6.5) adds: the broker lock this client holds on the queue (``locked``, renewed
every 20 s, trusted for 30 s), the ``consuming`` flag (a consume request for the queue is
running or scheduled, so a pull must not start another), and a second table of the messages
handed to the listener and not yet committed (``take_messages`` / ``commit`` /
``make_messages_to_consume_again``), and the lock an orderly listener call holds. Mirrors
``ProcessQueue``. No I/O: the caller passes ``now_ms``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyrmq.common.message import PROPERTY_MAX_OFFSET, MessageExt

__all__ = ["LOCK_MAX_LIVE_MS", "PULL_MAX_IDLE_MS", "ProcessQueue"]

#: A queue not pulled for this long is dropped by rebalance (``pullMaxIdleTime``).
PULL_MAX_IDLE_MS = 120_000
#: How long a broker lock is trusted without renewal (``rocketmq.client.rebalance.
#: lockMaxLiveTime``); the broker keeps it 60 s, so a client stops well before another may start.
LOCK_MAX_LIVE_MS = 30_000


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
    # ---- orderly mode
    #: Messages handed to an orderly listener, not yet committed (``consumingMsgOrderlyTreeMap``).
    consuming_msgs: dict[int, MessageExt] = field(default_factory=dict)
    #: A consume request of this queue is running or scheduled (orderly).
    consuming: bool = False
    locked: bool = False
    last_lock_ms: int = 0
    #: Held around each orderly listener call; giving the queue up waits for it.
    consume_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)
    #: Set once the queue was given up (offset persisted, lock released): late orderly results
    #: must not touch the offset store any more.
    released: bool = False

    @property
    def msg_count(self) -> int:
        """Cached messages, those an orderly listener holds included (flow control)."""
        return len(self.msgs) + len(self.consuming_msgs)

    def put_messages(self, msgs: Iterable[MessageExt]) -> int:
        """Cache pulled messages; returns how many were new (a re-pull may repeat some)."""
        added = 0
        last: MessageExt | None = None
        for msg in msgs:
            last = msg
            if msg.queue_offset in self.msgs or msg.queue_offset in self.consuming_msgs:
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
        self.consuming_msgs.clear()
        self.msg_size = 0

    # ------------------------------------------------------------------ orderly

    def is_lock_expired(self, now_ms: int) -> bool:
        return now_ms - self.last_lock_ms > LOCK_MAX_LIVE_MS

    def set_locked(self, locked: bool, now_ms: int) -> None:
        self.locked = locked
        if locked:
            self.last_lock_ms = now_ms

    def start_consuming(self) -> bool:
        """After a pull: True when a consume request must be dispatched (messages wait and none
        is running); the flag then stays up until ``take_messages`` finds nothing."""
        if self.msgs and not self.consuming:
            self.consuming = True
            return True
        return False

    def take_messages(self, batch_size: int) -> list[MessageExt]:
        """The next ``batch_size`` messages in offset order, moved to the consuming table; an
        empty list (and ``consuming`` cleared) when nothing waits."""
        if not self.msgs:
            self.consuming = False
            return []
        taken: list[MessageExt] = []
        for offset in sorted(self.msgs)[:batch_size]:
            msg = self.msgs.pop(offset)
            self.consuming_msgs[offset] = msg
            taken.append(msg)
        return taken

    def commit(self) -> int:
        """The taken messages are consumed: forget them; the offset after the last one, or -1
        when nothing was taken."""
        if not self.consuming_msgs:
            return -1
        offset = max(self.consuming_msgs) + 1
        self.msg_size -= sum(len(m.body) for m in self.consuming_msgs.values())
        self.consuming_msgs.clear()
        if not self.msgs:
            self.msg_size = 0
        return offset

    def make_messages_to_consume_again(self, msgs: Iterable[MessageExt]) -> None:
        """SUSPEND: put taken messages back, so the next ``take_messages`` returns them first."""
        for msg in msgs:
            self.consuming_msgs.pop(msg.queue_offset, None)
            self.msgs[msg.queue_offset] = msg
