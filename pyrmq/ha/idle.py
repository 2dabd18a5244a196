"""IdleWatchdog: closes an HA connection that has been silent for too long.

Java's HAConnection and HAClient drop a peer silent for ``haHousekeepingInterval``. A timer per
read would cost a timer handle per frame on the replication hot path, so reads only note the
time and one timer, re-armed as needed, checks it; on expiry the transport is aborted, which
ends the pending read with EOF and lets the owner see ``expired``.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

log = logging.getLogger(__name__)


class IdleWatchdog:
    """Aborts ``writer``'s transport when ``touch`` has not been called for ``timeout_s``."""

    def __init__(self, timeout_s: float, writer: asyncio.StreamWriter) -> None:
        self._timeout_s = timeout_s
        self._writer = writer
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self.expired = False

    def touch(self) -> None:
        self._last = self._loop.time()

    def __enter__(self) -> IdleWatchdog:
        self._timer = self._loop.call_at(self._last + self._timeout_s, self._check)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        deadline = self._last + self._timeout_s
        if self._loop.time() < deadline:
            self._timer = self._loop.call_at(deadline, self._check)
            return
        self._timer = None
        self.expired = True
        log.info(
            "HA peer %s silent for %.1f s", self._writer.get_extra_info("peername"), self._timeout_s
        )
        self._writer.transport.abort()
