"""QueueLocker: an orderly consumer's broker-side queue locks (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ).

Owns the lock traffic of one orderly clustering group member (protocol.md §3.5.6, §6.5): lock one
queue before it is taken on (rebalance), lock all held queues per broker every 20 s (each
ProcessQueue learns whether it is still locked, and when it was last confirmed — the client
trusts a lock 30 s), unlock a queue given up and, at shutdown, all of them. Requests go to the
master of the queue's broker. Mirrors ``RebalanceImpl.lock``/``lockAll``/``unlock``/
``unlockAll``. The ProcessQueue table is read through a callable, so the locker holds no state.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from pyrmq.client.api import ClientAPI
from pyrmq.client.consumer.process_queue import ProcessQueue
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.errors import RemotingError

__all__ = ["LOCK_TIMEOUT_S", "QueueLocker"]

log = logging.getLogger(__name__)

#: Timeout of LOCK_BATCH_MQ / UNLOCK_BATCH_MQ (Java: 1000 ms).
LOCK_TIMEOUT_S = 1.0

#: (topic, broker name) -> that broker's master address, fetching the route if needed.
FindMaster = Callable[[str, str], Awaitable[str | None]]


def _by_broker(mqs: list[MessageQueue]) -> dict[str, list[MessageQueue]]:
    table: dict[str, list[MessageQueue]] = {}
    for mq in mqs:
        table.setdefault(mq.broker_name, []).append(mq)
    return table


class QueueLocker:
    def __init__(
        self,
        group: str,
        client_id: str,
        api: ClientAPI,
        find_master: FindMaster,
        process_queues: Callable[[], Mapping[MessageQueue, ProcessQueue]],
        now_ms: Callable[[], int],
    ) -> None:
        self.group = group
        self.client_id = client_id
        self._api = api
        self._find_master = find_master
        self._process_queues = process_queues
        self._now_ms = now_ms

    async def _lock_batch(self, mqs: list[MessageQueue]) -> set[MessageQueue] | None:
        """The subset of ``mqs`` (one broker's) we hold now; None when the broker could not say."""
        addr = await self._find_master(mqs[0].topic, mqs[0].broker_name)
        if addr is None:
            log.warning("[%s] no master of %s to lock queues on", self.group, mqs[0].broker_name)
            return None
        try:
            return await self._api.lock_batch_mq(
                addr, self.group, self.client_id, mqs, LOCK_TIMEOUT_S
            )
        except (RemotingError, ValueError) as exc:
            log.warning("[%s] locking %d queues on %s failed: %s", self.group, len(mqs), addr, exc)
            return None

    async def lock(self, mq: MessageQueue) -> bool:
        """Lock ``mq`` (before taking it on); True if we hold it."""
        locked = await self._lock_batch([mq])
        if locked is None:
            return False
        now = self._now_ms()
        table = self._process_queues()
        for held in locked:
            pq = table.get(held)
            if pq is not None:
                pq.set_locked(True, now)
        ok = mq in locked
        log.info("[%s] lock of %s %s", self.group, mq, "OK" if ok else "refused")
        return ok

    async def lock_all(self) -> None:
        """Renew the locks of every queue we hold (every 20 s); a queue the broker refuses is
        marked unlocked, so it is neither pulled nor consumed until a later renewal succeeds."""
        table = self._process_queues()
        for mqs in _by_broker(list(table)).values():
            locked = await self._lock_batch(mqs)
            if locked is None:
                continue  # keep what we knew; the 30 s client-side expiry still applies
            now = self._now_ms()
            for mq in mqs:
                pq = table.get(mq)
                if pq is None:
                    continue
                if mq in locked:
                    if not pq.locked:
                        log.info("[%s] %s locked again", self.group, mq)
                    pq.set_locked(True, now)
                elif pq.locked:
                    log.warning("[%s] %s lost its lock", self.group, mq)
                    pq.set_locked(False, now)

    async def unlock(self, mq: MessageQueue, *, oneway: bool = False) -> None:
        await self._unlock_batch([mq], oneway)

    async def unlock_all(self, *, oneway: bool = False) -> None:
        """Give up every queue lock (shutdown); the ProcessQueues are marked unlocked."""
        table = self._process_queues()
        for mqs in _by_broker(list(table)).values():
            if await self._unlock_batch(mqs, oneway):
                for mq in mqs:
                    pq = table.get(mq)
                    if pq is not None:
                        pq.locked = False

    async def _unlock_batch(self, mqs: list[MessageQueue], oneway: bool) -> bool:
        addr = await self._find_master(mqs[0].topic, mqs[0].broker_name)
        if addr is None:
            return False
        try:
            await self._api.unlock_batch_mq(
                addr, self.group, self.client_id, mqs, LOCK_TIMEOUT_S, oneway=oneway
            )
        except RemotingError as exc:
            log.warning("[%s] unlocking %s on %s failed: %s", self.group, mqs, addr, exc)
            return False
        log.info("[%s] unlocked %s", self.group, mqs)
        return True
