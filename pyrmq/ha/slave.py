"""HAClient: the slave's side of classic HA (store.md §6.2).

Mirrors 4.9's ``HAService.HAClient``: connect to the master's HA address, report the local
commitlog max offset at once (as 5.x does), after every append that grew it and every
``haSendHeartbeatInterval``; apply each frame at exactly the local max offset (else drop the
connection and reconnect), then wake the store's reput so the slave builds its own consume
queues and index. Owns its connection and tasks; ``stop`` closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from pyrmq.common.service import TaskGroup
from pyrmq.ha.codec import Frame, FrameDecoder, HAProtocolError, encode_report
from pyrmq.ha.idle import IdleWatchdog
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.message_store import MessageStore

log = logging.getLogger(__name__)

_READ_SIZE = 4 * 1024 * 1024
_CONNECT_TIMEOUT_S = 3.0


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"bad HA address {address!r}")
    return host, int(port)


def append_to_commitlog(store: MessageStore, offset: int, body: bytes) -> None:
    """Java ``appendToCommitLog``: write ``body`` at log ``offset`` (one segment) and wake reput."""
    queue = store.commitlog.mapped_file_queue
    mapped = queue.last_mapped_file(offset)
    position = offset - mapped.file_from_offset
    if position != mapped.wrote_position or position + len(body) > mapped.file_size:
        raise HAProtocolError(
            f"frame [{offset}, +{len(body)}) does not continue segment {mapped.path.name} "
            f"at {mapped.wrote_position}"
        )
    mapped.append(body)
    store.reput.wake()


class HAClient:
    """Replicates the master's commitlog into this slave's store."""

    def __init__(
        self,
        store: MessageStore,
        master_ha_addr_getter: Callable[[], str | None],
        config: MessageStoreConfig,
        reconnect_interval_s: float = 5.0,
    ) -> None:
        self._store = store
        self._master_addr = master_ha_addr_getter
        self._config = config
        self._reconnect_interval_s = reconnect_interval_s
        self._tasks = TaskGroup("ha-client")
        self._writer: asyncio.StreamWriter | None = None
        self.reported_offset = -1
        #: Connections made so far (tests and metrics).
        self.connect_count = 0

    def start(self) -> None:
        self._tasks.spawn(self._run(), "ha-client")

    async def stop(self) -> None:
        await self._tasks.close()

    async def _run(self) -> None:
        while True:
            address = self._master_addr()
            if address:
                try:
                    await self._session(address)
                except (OSError, HAProtocolError, TimeoutError, ValueError) as exc:
                    log.info("HA client: connection to %s ended: %r", address, exc)
            await asyncio.sleep(self._reconnect_interval_s)

    # ------------------------------------------------------------------ one connection

    async def _session(self, address: str) -> None:
        host, port = split_address(address)
        async with asyncio.timeout(_CONNECT_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(host, port)
        self.connect_count += 1
        log.info("HA client connected to %s", address)
        heartbeat = TaskGroup("ha-client-heartbeat")
        try:
            await self._report(writer, force=True)
            heartbeat.spawn(self._heartbeat(writer))
            await self._receive(reader, writer)
        finally:
            writer.transport.abort()  # a report still queued is worthless now
            await heartbeat.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _heartbeat(self, writer: asyncio.StreamWriter) -> None:
        interval_s = self._config.ha_send_heartbeat_interval / 1000
        while True:
            await asyncio.sleep(interval_s)
            with contextlib.suppress(OSError):
                await self._report(writer, force=True)

    async def _report(self, writer: asyncio.StreamWriter, force: bool) -> None:
        current = self._store.commitlog.max_offset()
        if force or current > self.reported_offset:
            self.reported_offset = current
            writer.write(encode_report(current))
            await writer.drain()

    async def _receive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        with IdleWatchdog(self._config.ha_housekeeping_interval / 1000, writer) as watchdog:
            while True:
                data = await reader.read(_READ_SIZE)
                if not data:
                    if watchdog.expired:
                        raise TimeoutError("nothing from the master within haHousekeepingInterval")
                    return
                watchdog.touch()
                for frame in decoder.feed(data):
                    self._apply(frame)
                await self._report(writer, force=False)

    def _apply(self, frame: Frame) -> None:
        local_max = self._store.commitlog.max_offset()
        if local_max != 0 and local_max != frame.offset:
            raise HAProtocolError(f"master sent offset {frame.offset}, slave is at {local_max}")
        if not frame.is_heartbeat:
            append_to_commitlog(self._store, frame.offset, frame.body)
