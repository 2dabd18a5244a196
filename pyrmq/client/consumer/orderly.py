"""ConsumeOrderlyService: one queue's messages to the listener one batch at a time, in order.

Owns orderly consumption (protocol.md §6.5, §6.6): at most one consume request per queue runs
(a per-queue lock, plus the ProcessQueue's ``consuming`` flag so a pull only dispatches when no
request is pending); a request takes the next messages in offset order, calls the listener while
the queue is locked (clustering: the broker lock confirmed within the last 30 s) and not dropped,
and on SUCCESS commits them — the committed offset is the one after the last message consumed
in order. SUSPEND_CURRENT_QUEUE_A_MOMENT (or an exception) puts the batch back and tries it
again after ``suspend_s`` (``suspendCurrentQueueTimeMillis``, 1 s) with ``reconsume_times``
raised; past ``max_reconsume_times`` (default unlimited) a message goes to the retry topic
(where the broker moves it to the DLQ) and counts as consumed. A queue found unlocked is locked
again (``try_lock``) before its request is retried. The ProcessQueue's ``consume_lock`` is held
around each listener call so that giving a queue up can wait for the batch in progress.
Mirrors ``ConsumeMessageOrderlyService``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from enum import Enum
from typing import Any

from pyrmq.client.consumer.consume import invoke_listener, is_async_listener, reset_retry_topic
from pyrmq.client.consumer.offset_store import OffsetStore
from pyrmq.client.consumer.process_queue import ProcessQueue
from pyrmq.common.clock import Clock
from pyrmq.common.message import (
    PROPERTY_CONSUME_START_TIMESTAMP,
    PROPERTY_RECONSUME_TIME,
    MessageExt,
)
from pyrmq.common.service import TaskGroup
from pyrmq.remoting.bodies import MessageQueue

__all__ = ["ConsumeOrderlyService", "ConsumeOrderlyStatus", "OrderlyListener"]

log = logging.getLogger(__name__)

#: A request hands the queue back to the pool after this long (``MAX_TIME_CONSUME_CONTINUOUSLY``).
MAX_TIME_CONSUME_CONTINUOUSLY_S = 60.0
#: Delays of re-submitted requests (Java: 10 ms, 100 ms, 3 s after a failed re-lock).
RESUBMIT_S = 0.01
TRY_LOCK_LATER_S = 0.1
LOCK_FAILED_RETRY_S = 3.0


class ConsumeOrderlyStatus(Enum):
    """``ConsumeOrderlyStatus`` (the deprecated ROLLBACK / COMMIT are not offered)."""

    SUCCESS = "SUCCESS"
    SUSPEND_CURRENT_QUEUE_A_MOMENT = "SUSPEND_CURRENT_QUEUE_A_MOMENT"


#: The application's orderly listener: sync or async.
OrderlyListener = Callable[
    [list[MessageExt]], ConsumeOrderlyStatus | Awaitable[ConsumeOrderlyStatus]
]
#: Locks one queue at the broker; True if we hold it.
TryLock = Callable[[MessageQueue], Awaitable[bool]]
#: Re-sends a message past its max reconsume times to the retry topic; False if impossible.
Resend = Callable[[MessageExt], Awaitable[bool]]


class ConsumeOrderlyService:
    def __init__(
        self,
        group: str,
        listener: OrderlyListener,
        offset_store: OffsetStore,
        clock: Clock,
        *,
        try_lock: TryLock | None,
        resend: Resend | None = None,
        max_concurrency: int = 20,
        consume_batch_size: int = 1,
        suspend_s: float = 1.0,
        max_reconsume_times: int = -1,
        sync_listener_in_thread: bool = True,
    ) -> None:
        """``try_lock`` None means broadcasting: queues are consumed without broker locks."""
        if max_concurrency < 1 or consume_batch_size < 1:
            raise ValueError("max_concurrency and consume_batch_size must be at least 1")
        self.group = group
        self.listener = listener
        self.offset_store = offset_store
        self.clock = clock
        self.try_lock = try_lock
        self.resend = resend
        self.consume_batch_size = consume_batch_size
        self.suspend_s = suspend_s
        #: -1: unlimited (Java: Integer.MAX_VALUE for orderly consumers)
        self.max_reconsume_times = max_reconsume_times
        self._in_thread = sync_listener_in_thread and not is_async_listener(listener)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._queue_locks: dict[MessageQueue, asyncio.Lock] = {}
        self._requests = TaskGroup(f"consume-orderly-{group}")
        self._stopped = False
        #: Listener calls in progress (shutdown waits for them, not for sleeping retries).
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def clustering(self) -> bool:
        return self.try_lock is not None

    async def start(self) -> None:
        self._stopped = False

    def submit(self, mq: MessageQueue, pq: ProcessQueue) -> None:
        """A pull brought messages and no request of ``mq`` is pending: start one."""
        self._spawn(self._run(mq, pq), mq)

    def _submit_later(self, mq: MessageQueue, pq: ProcessQueue, delay_s: float) -> None:
        self._spawn(self._later(mq, pq, delay_s), mq)

    def _spawn(self, coro: Coroutine[Any, Any, None], mq: MessageQueue) -> None:
        if self._stopped:
            coro.close()
            return
        self._requests.spawn(coro, f"consume-orderly-{mq}")

    async def _later(self, mq: MessageQueue, pq: ProcessQueue, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self._run(mq, pq)

    async def shutdown(self, grace_s: float = 1.0) -> None:
        """No new requests; running listeners get ``grace_s`` to finish; then cancel."""
        self._stopped = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_s):
                await self._idle.wait()
        await self._requests.close()

    def forget(self, mq: MessageQueue) -> None:
        """``mq`` was given up: its request lock is not needed any more."""
        lock = self._queue_locks.get(mq)
        if lock is not None and not lock.locked():
            del self._queue_locks[mq]

    # ------------------------------------------------------------------ one request

    def _usable(self, pq: ProcessQueue) -> bool:
        return not self.clustering or (pq.locked and not pq.is_lock_expired(self.clock.now_ms()))

    async def _run(self, mq: MessageQueue, pq: ProcessQueue) -> None:
        """``ConsumeRequest.run``: consume ``mq`` in order while we may, then hand it back."""
        if pq.dropped:
            return
        lock = self._queue_locks.setdefault(mq, asyncio.Lock())
        async with lock:
            if not self._usable(pq):
                if not pq.dropped:
                    self._try_lock_later(mq, pq, TRY_LOCK_LATER_S)
                return
            loop = asyncio.get_running_loop()
            began = loop.time()
            while not pq.dropped and not self._stopped:
                if not self._usable(pq):
                    self._try_lock_later(mq, pq, RESUBMIT_S)
                    return
                if loop.time() - began > MAX_TIME_CONSUME_CONTINUOUSLY_S:
                    self._submit_later(mq, pq, RESUBMIT_S)  # let other queues have a turn
                    return
                msgs = pq.take_messages(self.consume_batch_size)
                if not msgs:
                    return  # take_messages cleared ``consuming``: the next pull dispatches
                if not await self._consume_batch(mq, pq, msgs):
                    return

    async def _consume_batch(
        self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]
    ) -> bool:
        """Listener + ``processConsumeResult``; False when the request must stop here."""
        now = str(self.clock.now_ms())
        for msg in msgs:
            reset_retry_topic(msg, self.group)
            msg.properties[PROPERTY_CONSUME_START_TIMESTAMP] = now
        async with pq.consume_lock:
            if pq.dropped or self._stopped:
                return False
            async with self._slots:
                self._busy += 1
                self._idle.clear()
                try:
                    status = await self._call_listener(mq, msgs)
                finally:
                    self._busy -= 1
                    if not self._busy:
                        self._idle.set()
            suspend = status is ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
            if suspend and await self._suspend(msgs):
                pq.make_messages_to_consume_again(msgs)
                self._submit_later(mq, pq, self.suspend_s)
                return False
            # Committed even if the queue was dropped meanwhile: we still hold its lock (the
            # rebalance waits for this consume lock before persisting and unlocking).
            offset = pq.commit()
            if offset >= 0 and not pq.released:
                self.offset_store.update_offset(mq, offset)
        return True

    async def _call_listener(
        self, mq: MessageQueue, msgs: list[MessageExt]
    ) -> ConsumeOrderlyStatus:
        try:
            result = await invoke_listener(self.listener, msgs, self._in_thread)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("[%s] orderly listener failed on %s", self.group, mq)
            return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
        if not isinstance(result, ConsumeOrderlyStatus):
            log.warning("[%s] orderly listener returned %r: suspending %s", self.group, result, mq)
            return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
        return result

    async def _suspend(self, msgs: list[MessageExt]) -> bool:
        """``checkReconsumeTimes``: True if the batch must be consumed again (each message's
        ``reconsume_times`` raised); a message past the max is re-sent to the retry topic and,
        if that worked, counts as consumed."""
        suspend = False
        for msg in msgs:
            past_max = 0 <= self.max_reconsume_times <= msg.reconsume_times
            if past_max and self.resend is not None:
                msg.properties[PROPERTY_RECONSUME_TIME] = str(msg.reconsume_times)
                if await self.resend(msg):
                    continue
            suspend = True
            msg.reconsume_times += 1
        return suspend

    def _try_lock_later(self, mq: MessageQueue, pq: ProcessQueue, delay_s: float) -> None:
        self._spawn(self._try_lock_then_run(mq, pq, delay_s), mq)

    async def _try_lock_then_run(self, mq: MessageQueue, pq: ProcessQueue, delay_s: float) -> None:
        """``tryLockLaterAndReconsume``: lock again, then consume soon (or after 3 s)."""
        await asyncio.sleep(delay_s)
        if pq.dropped:
            return
        locked = self.try_lock is not None and await self.try_lock(mq)
        await asyncio.sleep(RESUBMIT_S if locked else LOCK_FAILED_RETRY_S)
        await self._run(mq, pq)
