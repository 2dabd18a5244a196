"""ConsumeService: runs the listener on pulled messages with a bounded number of workers.

Owns concurrent consumption (protocol.md §6.6): chunks of ``consume_batch_size`` messages go
through a queue to ``max_concurrency`` workers; a sync listener runs in a worker thread (it may
block), an async one on the loop; on CONSUME_SUCCESS the messages leave their ProcessQueue and
the queue's committable offset goes to the offset store. Messages of a dropped queue (now some
other consumer's) are neither consumed nor committed. Mirrors
``ConsumeMessageConcurrentlyService``:

RECONSUME_LATER (or a listener exception, or a bad return value) in clustering mode sends each
message back (``send_back``: CONSUMER_SEND_MSG_BACK, else a re-send to ``%RETRY%<group>``); a
message sent back counts as consumed, so the offset moves on and the retry comes through the
retry topic. A message that could not be sent back at all stays in the ProcessQueue and is
consumed again locally after ``reconsume_delay_s`` (Java: 5 s). In broadcasting mode failures
are logged and dropped — Java does not retry them either.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from pyrmq.client.consumer.offset_store import OffsetStore
from pyrmq.client.consumer.process_queue import ProcessQueue
from pyrmq.common.clock import Clock
from pyrmq.common.message import (
    PROPERTY_CONSUME_START_TIMESTAMP,
    PROPERTY_RETRY_TOPIC,
    MessageExt,
)
from pyrmq.common.service import TaskGroup
from pyrmq.remoting.bodies import MessageQueue

__all__ = [
    "ConsumeService",
    "ConsumeStatus",
    "Listener",
    "SendBack",
    "invoke_listener",
    "is_async_listener",
    "reset_retry_topic",
]

log = logging.getLogger(__name__)


class ConsumeStatus(Enum):
    """``ConsumeConcurrentlyStatus``."""

    CONSUME_SUCCESS = "CONSUME_SUCCESS"
    RECONSUME_LATER = "RECONSUME_LATER"


#: The application's listener: sync or async, returns how the batch went.
Listener = Callable[[list[MessageExt]], ConsumeStatus | Awaitable[ConsumeStatus]]
#: Sends a failed message of a queue back for a retry; False when that was impossible.
SendBack = Callable[[MessageExt, MessageQueue], Awaitable[bool]]


def is_async_listener(fn: object) -> bool:
    """An ``async def`` function, or an object whose ``__call__`` is one."""
    call = getattr(fn, "__call__", None)  # noqa: B004 - we want the method, not callable()
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)


async def invoke_listener(
    listener: Callable[..., object], msgs: list[MessageExt], in_thread: bool
) -> object:
    """Call ``listener(msgs)`` (in a worker thread when ``in_thread``), awaiting an awaitable
    result; exceptions propagate."""
    if in_thread:
        result = await asyncio.to_thread(listener, msgs)
    else:
        result = listener(msgs)
    if inspect.isawaitable(result):
        result = await result
    return result


def reset_retry_topic(msg: MessageExt, group: str) -> None:
    """A message redelivered through ``%RETRY%<group>`` shows its original topic."""
    retry_topic = msg.properties.get(PROPERTY_RETRY_TOPIC)
    if retry_topic and msg.topic == f"%RETRY%{group}":
        msg.topic = retry_topic


@dataclass(slots=True)
class _Request:
    mq: MessageQueue
    pq: ProcessQueue
    msgs: list[MessageExt]


class ConsumeService:
    def __init__(
        self,
        group: str,
        listener: Listener,
        offset_store: OffsetStore,
        clock: Clock,
        *,
        max_concurrency: int = 20,
        consume_batch_size: int = 1,
        send_back: SendBack | None = None,
        broadcasting: bool = False,
        reconsume_delay_s: float = 5.0,
        sync_listener_in_thread: bool = True,
    ) -> None:
        if max_concurrency < 1 or consume_batch_size < 1:
            raise ValueError("max_concurrency and consume_batch_size must be at least 1")
        self.group = group
        self.listener = listener
        self.offset_store = offset_store
        self.clock = clock
        self.max_concurrency = max_concurrency
        self.consume_batch_size = consume_batch_size
        self.send_back = send_back
        self.broadcasting = broadcasting
        self.reconsume_delay_s = reconsume_delay_s
        self.sync_listener_in_thread = sync_listener_in_thread
        self._in_thread = sync_listener_in_thread and not is_async_listener(listener)
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._workers = TaskGroup(f"consume-{group}")
        self._retries = TaskGroup(f"consume-{group}-retry")
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        for i in range(self.max_concurrency):
            self._workers.spawn(self._worker(), f"consume-{self.group}-{i}")

    def submit(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        """Queue pulled messages for consumption, ``consume_batch_size`` at a time."""
        size = self.consume_batch_size
        for start in range(0, len(msgs), size):
            self._queue.put_nowait(_Request(mq, pq, msgs[start : start + size]))

    @property
    def idle(self) -> bool:
        return self._busy == 0 and self._queue.empty()

    async def shutdown(self, grace_s: float = 1.0) -> None:
        """Stop retries; give running listeners ``grace_s`` to finish; then cancel the rest."""
        await self._retries.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_s):
                await self._idle.wait()
        await self._workers.close()

    async def _worker(self) -> None:
        while True:
            request = await self._queue.get()
            self._busy += 1
            self._idle.clear()
            try:
                await self.consume(request.mq, request.pq, request.msgs)
            finally:
                self._busy -= 1
                if not self._busy:
                    self._idle.set()

    async def consume(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        """Run the listener on ``msgs`` and apply the outcome (``ConsumeRequest.run``)."""
        if pq.dropped:
            return
        now = str(self.clock.now_ms())
        for msg in msgs:
            reset_retry_topic(msg, self.group)
            msg.properties[PROPERTY_CONSUME_START_TIMESTAMP] = now
        status = await self._call_listener(mq, msgs)
        if pq.dropped:
            # The queue went to another consumer meanwhile: it will consume these again.
            log.info(
                "[%s] %s dropped: consume result of %d messages ignored", self.group, mq, len(msgs)
            )
            return
        if status is ConsumeStatus.CONSUME_SUCCESS:
            self._done(mq, pq, msgs)
        else:
            await self._reconsume_later(mq, pq, msgs)

    async def _call_listener(self, mq: MessageQueue, msgs: list[MessageExt]) -> ConsumeStatus:
        try:
            result = await invoke_listener(self.listener, msgs, self._in_thread)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("[%s] listener failed on %d messages of %s", self.group, len(msgs), mq)
            return ConsumeStatus.RECONSUME_LATER
        if not isinstance(result, ConsumeStatus):
            log.warning("[%s] listener returned %r: treated as RECONSUME_LATER", self.group, result)
            return ConsumeStatus.RECONSUME_LATER
        return result

    def _done(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        offset = pq.remove_messages(msgs, self.clock.now_ms())
        if offset >= 0 and not pq.dropped:
            self.offset_store.update_offset(mq, offset, increase_only=True)

    async def _reconsume_later(
        self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]
    ) -> None:
        """``processConsumeResult`` for a failed batch."""
        if self.broadcasting:
            log.warning(
                "[%s] broadcasting: %d failed messages of %s are dropped: %s",
                self.group,
                len(msgs),
                mq,
                [m.uniq_key or m.msg_id for m in msgs],
            )
            self._done(mq, pq, msgs)
            return
        sent: list[MessageExt] = []
        failed: list[MessageExt] = []
        for msg in msgs:
            if self.send_back is not None and await self.send_back(msg, mq):
                sent.append(msg)
            else:
                msg.reconsume_times += 1
                failed.append(msg)
        if pq.dropped:
            return  # the new owner consumes them again from the committed offset
        self._done(mq, pq, sent)
        if failed:
            self._retries.spawn(self._submit_later(mq, pq, failed), f"consume-{self.group}-later")

    async def _submit_later(
        self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]
    ) -> None:
        await asyncio.sleep(self.reconsume_delay_s)
        if not pq.dropped:
            self._queue.put_nowait(_Request(mq, pq, msgs))
