"""One remoting TCP connection: bytes in through FrameDecoder, responses matched by opaque.

The asyncio shell around ``framing``/``command`` (mirrors ``NettyRemotingAbstract``'s
``responseTable`` and ``processRequestCommand``). Both ends of a connection may send requests
(protocol.md §1.1), so the same class serves the server side and the client side: responses go
to the waiting future of their opaque; requests go to ``dispatch``, which the owner provides.
A frame that cannot be decoded closes this connection only, with a log line naming the peer.

Requests a peer sent before resetting the connection are served even so (``keep_unread``, the
server side): the event loop closes a transport as soon as a write fails, and bytes still in
the kernel's receive queue would be lost with it. A client that closes with answers unread
resets the connection (rocketmq-client-go does, after sending "oneway" requests that are
ordinary ones), so the answer to one request can fail while the next requests wait unread.
Java reads them on its I/O threads before that happens; here the connection keeps a duplicate
of its socket and, on a connection lost with an error, reads what is left and dispatches it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, cast

from pyrmq.common.service import TaskGroup
from pyrmq.remoting.codes import FLAG_ONEWAY, FLAG_RESPONSE
from pyrmq.remoting.command import DEFAULT_MAX_FRAME_BYTES, RemotingCommand, encode
from pyrmq.remoting.errors import RemotingConnectError, RemotingTimeoutError
from pyrmq.remoting.framing import FrameDecoder, FrameError

log = logging.getLogger(__name__)

#: At most this much is read from a reset connection's receive queue.
MAX_UNREAD_BYTES = 16 * 1024 * 1024
#: Opaques are one process-wide counter, as in Java; wrapped into i32 when encoded.
_opaque_counter = itertools.count(1)

Dispatch = Callable[["RemotingConnection", RemotingCommand], Awaitable[None] | None]
CloseCallback = Callable[["RemotingConnection"], None]


class RemotingConnection(asyncio.Protocol):
    """A framed, multiplexed remoting connection."""

    def __init__(
        self,
        dispatch: Dispatch | None = None,
        on_close: CloseCallback | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        keep_unread: bool = False,
    ) -> None:
        self._dispatch = dispatch
        self._keep_unread = keep_unread
        #: A duplicate of the socket's descriptor (``keep_unread``), closed with the connection.
        self._shadow: socket.socket | None = None
        self._on_close = on_close
        self._decoder = FrameDecoder(max_frame_bytes)
        self._pending: dict[int, asyncio.Future[RemotingCommand]] = {}
        self._transport: asyncio.Transport | None = None
        self._closed = asyncio.get_running_loop().create_future()
        self.tasks = TaskGroup("remoting-connection")
        self.peer = "?"
        self.local = "?"
        #: loop time of the last byte read or written (idle detection).
        self.last_io_s = asyncio.get_running_loop().time()

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self.peer = _format_addr(transport.get_extra_info("peername"))
        self.local = _format_addr(transport.get_extra_info("sockname"))
        sock = transport.get_extra_info("socket")
        if self._keep_unread and sock is not None:
            try:
                self._shadow = socket.socket(fileno=os.dup(sock.fileno()))
            except OSError as exc:  # out of descriptors: serve the connection without it
                log.warning("no duplicate descriptor for %s: %s", self.peer, exc)
            else:
                self._shadow.setblocking(False)

    def data_received(self, data: bytes) -> None:
        self.last_io_s = asyncio.get_running_loop().time()
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        try:
            commands = self._decoder.feed(data)
        except FrameError as exc:
            self._refuse(str(exc))
            return
        for cmd in commands:
            if cmd.flag & FLAG_RESPONSE:
                self._complete(cmd)
            elif self._dispatch is not None:
                result = self._dispatch(self, cmd)
                if result is not None:
                    self.tasks.spawn(_await(result), name=f"request-{cmd.code}")
        if self._decoder.error is not None:
            self._refuse(self._decoder.error)

    def _refuse(self, reason: str) -> None:
        """The peer sent bytes that are not frames: answer what came before, then close."""
        log.warning("closing connection from %s: %s", self.peer, reason)
        if self._transport is not None:
            self._transport.pause_reading()
            self._transport.close()  # close, not abort: answers already written still go out

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        shadow, self._shadow = self._shadow, None
        if shadow is not None:
            with shadow:
                if exc is not None:
                    self._serve_unread(shadow)
        error = RemotingConnectError(f"connection to {self.peer} closed")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        if not self._closed.done():
            self._closed.set_result(None)
        if self._on_close is not None:
            self._on_close(self)

    def _serve_unread(self, shadow: socket.socket) -> None:
        """Dispatch the requests still in the receive queue of a connection lost with an error
        (their answers have nowhere to go and are dropped)."""
        unread = 0
        while unread < MAX_UNREAD_BYTES:
            try:
                data = shadow.recv(256 * 1024)
            except OSError:  # nothing left (EAGAIN), or the reset itself once the data is read
                break
            if not data:
                break
            unread += len(data)
            self._feed(data)
        if unread:
            log.info("served %d bytes %s sent before its connection was reset", unread, self.peer)

    # ------------------------------------------------------------------ sending

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def send(self, cmd: RemotingCommand) -> None:
        """Write one command now; silently dropped if the connection is already gone."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(encode(cmd))
            self.last_io_s = asyncio.get_running_loop().time()

    async def invoke(self, cmd: RemotingCommand, timeout_s: float) -> RemotingCommand:
        """Send a request and wait for the response of its opaque."""
        if not self.is_open:
            raise RemotingConnectError(f"connection to {self.peer} is closed")
        cmd.opaque = _next_opaque()
        cmd.flag &= ~FLAG_ONEWAY
        future: asyncio.Future[RemotingCommand] = asyncio.get_running_loop().create_future()
        self._pending[cmd.opaque] = future
        try:
            self.send(cmd)
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise RemotingTimeoutError(
                f"no response from {self.peer} to request {cmd.code} within {timeout_s}s"
            ) from None
        finally:
            self._pending.pop(cmd.opaque, None)

    def oneway(self, cmd: RemotingCommand) -> None:
        """Send a request that gets no response."""
        if not self.is_open:
            raise RemotingConnectError(f"connection to {self.peer} is closed")
        cmd.opaque = _next_opaque()
        cmd.flag |= FLAG_ONEWAY
        self.send(cmd)

    def _complete(self, cmd: RemotingCommand) -> None:
        future = self._pending.get(cmd.opaque)
        if future is None:
            log.debug("response %d from %s matches no request (timed out?)", cmd.opaque, self.peer)
        elif not future.done():
            future.set_result(cmd)

    # ------------------------------------------------------------------ closing

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    async def close(self) -> None:
        """Close the socket, cancel this connection's request tasks, wait until it is gone."""
        if self._transport is not None:
            self._transport.close()
        await self.tasks.close()
        await self._closed


async def _await(result: Awaitable[None]) -> None:
    await result


def _next_opaque() -> int:
    return ((next(_opaque_counter) + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def _format_addr(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)
