"""HAService: the master's side of classic HA (store.md §6.2-§6.3).

Mirrors 4.9's ``HAService`` (accept loop, ``push2SlaveMaxOffset``, ``isSlaveOK``),
``HAConnection`` (one read loop taking slave acks, one write loop streaming commitlog bytes)
and ``GroupTransferService`` (the SYNC_MASTER wait), as the store's ``ReplicationGate``.
Waits are ``store.offset_waiters.OffsetWaiters`` released by acks, not polling. Owns the
listening socket, every slave connection and all their tasks; ``stop`` closes them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from pyrmq.common.service import TaskGroup
from pyrmq.ha.codec import HAProtocolError, ReportDecoder, encode_frame_header, encode_heartbeat
from pyrmq.ha.idle import IdleWatchdog
from pyrmq.store.commitlog import CommitLog
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.message_store import MessageStore
from pyrmq.store.offset_waiters import OffsetWaiters
from pyrmq.store.results import PutMessageStatus

log = logging.getLogger(__name__)

#: Java's write thread waits this long for new data before looking again.
IDLE_WAIT_S = 0.1
#: After new data, the transfer loop waits this long for more before sending: frames carry more
#: messages, so there are fewer frames and acks (both sides spend CPU per frame), at the cost
#: of up to 1 ms more for a SYNC send (Java's transfer thread also batches, by its 100 ms waits).
TRANSFER_COALESCE_S = 0.001
_READ_SIZE = 64 * 1024


def start_offset(commitlog: CommitLog, requested: int, segment_size: int) -> int:
    """Where a slave's stream starts: its offset, or the master's last segment if it has none."""
    if requested != 0:
        return requested
    master_max = commitlog.max_offset()
    return max(master_max - master_max % segment_size, 0)


class HAConnection:
    """One slave: reads its acks, streams commitlog bytes to it (Java ``HAConnection``)."""

    def __init__(
        self,
        service: HAService,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._service = service
        self._reader = reader
        self._writer = writer
        self._config = service.config
        self._commitlog = service.store.commitlog
        self.peer = str(writer.get_extra_info("peername"))
        self.slave_request_offset = -1
        self.slave_ack_offset = -1
        self._requested = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._ticker: asyncio.TimerHandle | None = None
        self._tick_s = IDLE_WAIT_S
        self._tasks = TaskGroup(f"ha-conn-{self.peer}")

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        log.info("HA slave %s connected", self.peer)
        transfer = self._tasks.spawn(self._transfer(), f"ha-transfer-{self.peer}")
        try:
            await self._read_acks()
        except (OSError, HAProtocolError, TimeoutError) as exc:
            log.info("HA slave %s: closing: %r", self.peer, exc)
        finally:
            transfer.cancel()
            await self.close()

    def abort(self) -> None:
        """Drop the socket now, discarding unsent data (the stream restarts on reconnect)."""
        self._writer.transport.abort()

    async def close(self) -> None:
        self._service.connection_closed(self)
        self.abort()
        await self._tasks.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    # ------------------------------------------------------------------ read: acks

    async def _read_acks(self) -> None:
        decoder = ReportDecoder()
        with IdleWatchdog(self._config.ha_housekeeping_interval / 1000, self._writer) as watchdog:
            while True:
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    if watchdog.expired:
                        raise TimeoutError("no report from the slave within haHousekeepingInterval")
                    return
                watchdog.touch()
                values = decoder.feed(data)
                if values:
                    self._on_report(values[-1])

    def _on_report(self, offset: int) -> None:
        if offset > self._commitlog.max_offset():
            raise HAProtocolError(f"slave offset {offset} is beyond the master's max")
        if self.slave_request_offset < 0:
            self.slave_request_offset = offset
            self._requested.set()
        self.slave_ack_offset = offset
        self._service.on_ack(offset)

    # ------------------------------------------------------------------ write: transfer

    async def _transfer(self) -> None:
        try:
            await self._stream()
        except OSError as exc:
            log.info("HA slave %s: write failed: %r", self.peer, exc)
            self.abort()  # the read loop then sees EOF and cleans up

    async def _stream(self) -> None:
        await self._requested.wait()
        segment = self._config.mapped_file_size_commit_log
        next_offset = start_offset(self._commitlog, self.slave_request_offset, segment)
        log.info("HA slave %s: transfer starts at %d", self.peer, next_offset)
        heartbeat_s = self._config.ha_send_heartbeat_interval / 1000
        last_write = time.monotonic()
        self._tick_s = min(IDLE_WAIT_S, heartbeat_s)
        self._tick()
        try:
            while True:
                sent = await self._send_chunk(next_offset)
                if sent:
                    next_offset += sent
                    last_write = time.monotonic()
                    continue
                if time.monotonic() - last_write >= heartbeat_s:
                    self._writer.write(encode_heartbeat(next_offset))
                    await self._writer.drain()
                    last_write = time.monotonic()
                await self._wakeup.wait()  # an append, or the ticker
                self._wakeup.clear()
                await asyncio.sleep(TRANSFER_COALESCE_S)
        finally:
            if self._ticker is not None:
                self._ticker.cancel()

    async def _send_chunk(self, offset: int) -> int:
        """Send up to one batch from ``offset`` (never past its segment); bytes sent."""
        data = self._commitlog.get_data(offset)
        if data is None:
            return 0
        try:
            body = bytes(data[: self._config.ha_transfer_batch_size])
        finally:
            data.release()
        self._writer.write(encode_frame_header(offset, len(body)) + body)
        await self._writer.drain()
        return len(body)

    def _tick(self) -> None:
        """Wake the transfer loop every ``IDLE_WAIT_S`` (Java's timed wait; one timer in all)."""
        self._wakeup.set()
        self._ticker = asyncio.get_running_loop().call_later(self._tick_s, self._tick)


class HAService:
    """The master's HA listener and the SYNC_MASTER ``ReplicationGate``."""

    def __init__(
        self, store: MessageStore, config: MessageStoreConfig, host: str, port: int
    ) -> None:
        self.store = store
        self.config = config
        self.host = host
        self.port = port
        #: Max offset acked by any slave; monotone, survives disconnects (Java behaviour).
        self.push2slave_max_offset = 0
        self.connections: set[HAConnection] = set()
        self._server: asyncio.Server | None = None
        self._tasks = TaskGroup("ha-service")
        #: SYNC sends waiting for a slave ack; FLUSH_SLAVE_TIMEOUT after ``slaveTimeout``.
        self._waiters = OffsetWaiters(
            config.slave_timeout / 1000, PutMessageStatus.FLUSH_SLAVE_TIMEOUT
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen; ``self.port`` becomes the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("HA service listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.abort()
        await self._tasks.close()
        for conn in list(self.connections):
            await conn.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._waiters.fail_all(PutMessageStatus.SLAVE_NOT_AVAILABLE)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = HAConnection(self, reader, writer)
        self.connections.add(conn)
        self._tasks.spawn(conn.run(), f"ha-conn-{conn.peer}")

    def connection_closed(self, conn: HAConnection) -> None:
        self.connections.discard(conn)

    # ------------------------------------------------------------------ appends and acks

    def notify_append(self) -> None:
        """New commitlog data: wake every slave's transfer loop (call after each put)."""
        for conn in self.connections:
            conn.wake()

    def on_ack(self, offset: int) -> None:
        if offset <= self.push2slave_max_offset:
            return
        self.push2slave_max_offset = offset
        self._waiters.release(offset)

    # ------------------------------------------------------------------ ReplicationGate

    def is_slave_ok(self, next_offset: int) -> bool:
        """Java ``isSlaveOK``: a slave is connected and not too far behind."""
        behind = next_offset - self.push2slave_max_offset
        return bool(self.connections) and behind < self.config.ha_slave_fallbehind_max

    async def wait_replicated(self, next_offset: int) -> PutMessageStatus:
        """PUT_OK once a slave acked ``next_offset``; SLAVE_NOT_AVAILABLE / FLUSH_SLAVE_TIMEOUT."""
        if not self.is_slave_ok(next_offset):
            return PutMessageStatus.SLAVE_NOT_AVAILABLE
        if self.push2slave_max_offset >= next_offset:
            return PutMessageStatus.PUT_OK
        return await self._waiters.wait(next_offset)
