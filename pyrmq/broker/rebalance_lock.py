"""RebalanceLockManager: which client holds which queue of a group, for orderly consumers.

Mirrors 4.9.8 ``RebalanceLockManager`` (protocol.md §6.5): a queue is granted to a client id
when it is free, its lock expired (``rocketmq.broker.rebalance.lockMaxLiveTime`` = 60 s), or the
client already holds it; a lock is renewed by locking again and released by UNLOCK_BATCH_MQ.
Plain tables over (group, MessageQueue) with the time passed in; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyrmq.remoting.bodies import MessageQueue

LOCK_MAX_LIVE_TIME_MS = 60_000


@dataclass(slots=True)
class LockEntry:
    client_id: str
    last_update_timestamp: int

    def is_expired(self, now_ms: int) -> bool:
        return now_ms - self.last_update_timestamp > LOCK_MAX_LIVE_TIME_MS


class RebalanceLockManager:
    def __init__(self) -> None:
        self._table: dict[str, dict[MessageQueue, LockEntry]] = {}

    def try_lock_batch(
        self, group: str, mqs: Iterable[MessageQueue], client_id: str, now_ms: int
    ) -> set[MessageQueue]:
        """Lock what can be locked for ``client_id``; the queues it now holds."""
        locks = self._table.setdefault(group, {})
        granted: set[MessageQueue] = set()
        for mq in mqs:
            entry = locks.get(mq)
            if entry is None or entry.client_id == client_id or entry.is_expired(now_ms):
                locks[mq] = LockEntry(client_id, now_ms)
                granted.add(mq)
        return granted

    def unlock_batch(self, group: str, mqs: Iterable[MessageQueue], client_id: str) -> None:
        locks = self._table.get(group)
        if locks is None:
            return
        for mq in mqs:
            entry = locks.get(mq)
            if entry is not None and entry.client_id == client_id:
                del locks[mq]

    def is_locked(self, group: str, mq: MessageQueue, client_id: str, now_ms: int) -> bool:
        entry = self._table.get(group, {}).get(mq)
        return entry is not None and entry.client_id == client_id and not entry.is_expired(now_ms)
