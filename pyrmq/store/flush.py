"""Commitlog flushing: ASYNC_FLUSH's periodic service and SYNC_FLUSH's group commit.

Mirrors ``CommitLog.FlushRealTimeService`` and ``CommitLog.GroupCommitService`` (store.md §5.4).
msync is blocking, so every flush runs on the store's single-thread executor, never on the
event loop. Group commit: puts register a future for the offset their bytes end at; one flush
pass (which covers everything appended so far) resolves every waiter it reached, so many puts
share one msync. A waiter not reached within ``syncFlushTimeout`` gets FLUSH_DISK_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from concurrent.futures import Executor

from pyrmq.common.clock import Clock
from pyrmq.common.service import TaskGroup
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.mapped_file_queue import MappedFileQueue
from pyrmq.store.results import PutMessageStatus

log = logging.getLogger(__name__)

#: GroupCommitService flushes at least this often while requests wait (Java: 10 ms loop).
GROUP_COMMIT_IDLE_S = 0.01


class AsyncFlushService:
    """ASYNC_FLUSH: every flushIntervalCommitLog, flush if enough pages are dirty; everything
    every flushCommitLogThoroughInterval, then report the flushed store time."""

    def __init__(
        self,
        queue: MappedFileQueue,
        config: MessageStoreConfig,
        executor: Executor,
        clock: Clock,
        on_thorough_flush: Callable[[int], None],
    ) -> None:
        self._queue = queue
        self._config = config
        self._executor = executor
        self._clock = clock
        self._on_thorough_flush = on_thorough_flush
        self._tasks = TaskGroup("flush-commitlog")
        self._last_thorough_ms = clock.now_ms()

    def start(self) -> None:
        self._tasks.spawn(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._config.flush_interval_commit_log / 1000)
            await self.flush_once()

    async def flush_once(self) -> None:
        now_ms = self._clock.now_ms()
        least_pages = self._config.flush_commit_log_least_pages
        if now_ms >= self._last_thorough_ms + self._config.flush_commit_log_thorough_interval:
            self._last_thorough_ms = now_ms
            least_pages = 0
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._queue.flush, least_pages)
        if least_pages == 0 and self._queue.store_timestamp:
            self._on_thorough_flush(self._queue.store_timestamp)

    async def stop(self) -> None:
        """Stop the loop, then flush everything once more (Java retries up to 10 times)."""
        await self._tasks.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._flush_all)

    def _flush_all(self) -> None:
        for _ in range(10):
            if not self._queue.flush(0):
                break


class GroupCommitService:
    """SYNC_FLUSH: ``wait_flushed(next_offset)`` returns once a flush covered that offset."""

    def __init__(
        self,
        queue: MappedFileQueue,
        config: MessageStoreConfig,
        executor: Executor,
        on_flush: Callable[[int], None],
    ) -> None:
        self._queue = queue
        self._config = config
        self._executor = executor
        self._on_flush = on_flush
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()
        self._wakeup = asyncio.Event()
        self._tasks = TaskGroup("group-commit")

    def start(self) -> None:
        self._tasks.spawn(self._run())

    async def wait_flushed(self, next_offset: int) -> PutMessageStatus:
        """PUT_OK once bytes up to ``next_offset`` are synced, else FLUSH_DISK_TIMEOUT."""
        if self._queue.flushed_where >= next_offset:
            return PutMessageStatus.PUT_OK
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (next_offset, next(self._sequence), future))
        self._wakeup.set()
        try:
            async with asyncio.timeout(self._config.sync_flush_timeout / 1000):
                await asyncio.shield(future)
        except TimeoutError:
            log.warning("sync flush of offset %d timed out", next_offset)
            return PutMessageStatus.FLUSH_DISK_TIMEOUT
        return PutMessageStatus.PUT_OK

    def wake(self) -> None:
        """A put that does not wait (WAIT=false) still asks for a flush soon."""
        self._wakeup.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiters:
                self._wakeup.clear()
                try:
                    async with asyncio.timeout(GROUP_COMMIT_IDLE_S):
                        await self._wakeup.wait()
                except TimeoutError:
                    pass
            await loop.run_in_executor(self._executor, self._flush_to_end)
            self._resolve(self._queue.flushed_where)

    def _flush_to_end(self) -> None:
        # A waiter's bytes may sit in the next file: flush until nothing moves (Java: 2 tries).
        for _ in range(3):
            if not self._queue.flush(0):
                break
        if self._queue.store_timestamp:
            self._on_flush(self._queue.store_timestamp)

    def _resolve(self, flushed_where: int) -> None:
        waiters = self._waiters
        while waiters and waiters[0][0] <= flushed_where:
            _, _, future = heapq.heappop(waiters)
            if not future.done():
                future.set_result(None)

    async def stop(self) -> None:
        await self._tasks.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._flush_to_end)
        self._resolve(self._queue.flushed_where)
        for _, _, future in self._waiters:
            future.cancel()
        self._waiters.clear()
