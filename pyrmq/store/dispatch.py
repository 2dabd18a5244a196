"""ReputMessageService: reads new commitlog records and dispatches them to CQ and index.

Mirrors ``DefaultMessageStore.ReputMessageService`` (store.md §5.5). ``do_reput`` is plain
code: from ``reput_from_offset`` it parses records with the commitlog's one parser
(``check_record``, the same one recovery uses) and hands each to the dispatchers in order.
The asyncio loop around it runs when woken by an append (or an HA append on a slave), so
dispatch happens in batches after puts instead of in the put path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from pyrmq.common.service import TaskGroup
from pyrmq.store.commitlog import CommitLog
from pyrmq.store.dispatch_request import DispatchRequest

log = logging.getLogger(__name__)

Dispatcher = Callable[[DispatchRequest], None]

#: Java's reput thread sleeps 1 ms between rounds; we also poll this often as a safety net.
REPUT_POLL_S = 0.05


class ReputMessageService:
    def __init__(
        self,
        commitlog: CommitLog,
        dispatchers: Sequence[Dispatcher],
        is_master: Callable[[], bool],
        on_dispatched: Callable[[DispatchRequest], None] | None = None,
    ) -> None:
        self.commitlog = commitlog
        self.dispatchers = list(dispatchers)
        self.is_master = is_master
        self.on_dispatched = on_dispatched
        self.reput_from_offset = 0
        self._wakeup = asyncio.Event()
        self._tasks = TaskGroup("reput")

    def behind(self) -> int:
        return self.commitlog.max_offset() - self.reput_from_offset

    def do_reput(self) -> int:
        """Dispatch everything readable now; the number of messages dispatched."""
        count = 0
        min_offset = self.commitlog.min_offset()
        if min_offset >= 0 and self.reput_from_offset < min_offset:
            log.warning(
                "reput offset %d is below the commitlog's min %d (expired files)",
                self.reput_from_offset,
                min_offset,
            )
            self.reput_from_offset = min_offset
        while self.reput_from_offset < self.commitlog.max_offset():
            data = self.commitlog.get_data(self.reput_from_offset)
            if data is None:
                break
            try:
                dispatched, stop = self._dispatch_buffer(data)
            finally:
                data.release()
            count += dispatched
            if stop:
                break
        return count

    def _dispatch_buffer(self, data: memoryview) -> tuple[int, bool]:
        """Dispatch one segment's readable bytes; (messages, whether to stop this round)."""
        pos = 0
        count = 0
        size = len(data)
        while pos < size:
            req = self.commitlog.check_record(data, pos, check_crc=False)
            if req.success and req.msg_size > 0:
                for dispatcher in self.dispatchers:
                    dispatcher(req)
                if self.on_dispatched is not None:
                    self.on_dispatched(req)
                pos += req.msg_size
                count += 1
            elif req.success:  # BLANK: the rest of this file is filler
                self.reput_from_offset = self.commitlog.roll_next_file(self.reput_from_offset + pos)
                return count, False
            elif req.msg_size > 0:
                log.error(
                    "[BUG] record at %d does not add up; skipping %d bytes",
                    self.reput_from_offset + pos,
                    req.msg_size,
                )
                pos += req.msg_size
            else:
                self.reput_from_offset += pos
                if self.is_master():
                    log.error(
                        "[BUG] unreadable data at %d on a master; skipping to the end "
                        "of readable data",
                        self.reput_from_offset,
                    )
                    self.reput_from_offset += size - pos
                return count, True
        self.reput_from_offset += pos
        return count, False

    # ------------------------------------------------------------------ service

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        self._tasks.spawn(self._run())

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(REPUT_POLL_S):
                    await self._wakeup.wait()
            except TimeoutError:
                pass
            self._wakeup.clear()
            self.do_reput()

    async def stop(self) -> None:
        await self._tasks.close()
        self.do_reput()
