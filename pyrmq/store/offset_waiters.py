"""OffsetWaiters: puts waiting until the log reaches their offset (replicated, committed).

The wait behind a SYNC_MASTER's answer (``ha.master.HAService``, Java's GroupTransferService)
and a DLedger leader's (``dledger.node.DLedgerNode``, DLedger's quorum-ack futures): each put
waits for the offset its bytes end at; whoever learns the new mark (a slave's ack, a commit)
calls ``release`` and every wait at or below it gets PUT_OK. Timeouts are one sweep timer for
all waits (Java re-checks every second), not a timer per put: a wait older than ``timeout_s``
gets ``timeout_status`` within one sweep interval. Owns that timer; ``fail_all`` stops it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

from pyrmq.store.results import PutMessageStatus

#: How often expired waits are answered (a timeout fires this late at most).
SWEEP_INTERVAL_S = 0.05

#: (offset, arrival sequence, deadline, future), a heap by offset.
_Waiter = tuple[int, int, float, "asyncio.Future[PutMessageStatus]"]


class OffsetWaiters:
    """Futures keyed by log offset, released by a rising mark, expired by one sweep timer."""

    def __init__(self, timeout_s: float, timeout_status: PutMessageStatus) -> None:
        self._timeout_s = timeout_s
        self._timeout_status = timeout_status
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._sweep: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._waiters)

    async def wait(self, offset: int) -> PutMessageStatus:
        """PUT_OK once ``release`` reaches ``offset``; else the timeout or ``fail_all`` status."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[PutMessageStatus] = loop.create_future()
        deadline = loop.time() + self._timeout_s
        heapq.heappush(self._waiters, (offset, next(self._seq), deadline, fut))
        if self._sweep is None:
            self._sweep = loop.call_later(SWEEP_INTERVAL_S, self._expire)
        return await fut

    def release(self, reached: int) -> None:
        """PUT_OK to every wait for an offset at or below ``reached``."""
        waiters = self._waiters
        while waiters and waiters[0][0] <= reached:
            fut = heapq.heappop(waiters)[3]
            if not fut.done():
                fut.set_result(PutMessageStatus.PUT_OK)

    def fail_all(self, status: PutMessageStatus) -> None:
        """Answer every wait ``status`` now (the gate is closing, or can no longer deliver)."""
        for waiter in self._waiters:
            if not waiter[3].done():
                waiter[3].set_result(status)
        self._waiters.clear()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None

    def _expire(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        kept: list[_Waiter] = []
        for waiter in self._waiters:
            fut = waiter[3]
            if fut.done():
                continue
            if waiter[2] <= now:
                fut.set_result(self._timeout_status)
            else:
                kept.append(waiter)
        heapq.heapify(kept)
        self._waiters = kept
        self._sweep = loop.call_later(SWEEP_INTERVAL_S, self._expire) if kept else None
