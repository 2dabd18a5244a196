"""RemotingClient: one connection per address, invoke with timeout, oneway, reconnect.

Mirrors ``NettyRemotingClient``: connections are opened on first use and opened again on the next
call after they close; requests the peer sends back on our connection (broker -> client:
NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE, ...) go through the same handler table
mechanism as the server's. Holds no protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from pyrmq.remoting.command import DEFAULT_MAX_FRAME_BYTES, RemotingCommand
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.errors import RemotingConnectError, RemotingTimeoutError, error_for
from pyrmq.remoting.server import Handler, RequestDispatcher

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 3.0
DEFAULT_CONNECT_TIMEOUT_S = 3.0


def split_addr(addr: str) -> tuple[str, int]:
    """``host:port`` (the last colon separates, so bracket-free IPv6 hosts also work)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address {addr!r} is not host:port")
    return host.strip("[]"), int(port)


class RemotingClient:
    """Shared connections to many addresses."""

    def __init__(
        self,
        handlers: Mapping[int, Handler] | None = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.dispatcher = RequestDispatcher(handlers or {})
        self.connect_timeout_s = connect_timeout_s
        self.max_frame_bytes = max_frame_bytes
        self._connections: dict[str, RemotingConnection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._closed = False

    async def connection(self, addr: str) -> RemotingConnection:
        """The open connection to ``addr``, connecting (again) when there is none."""
        conn = self._connections.get(addr)
        if conn is not None and conn.is_open:
            return conn
        lock = self._locks.setdefault(addr, asyncio.Lock())
        async with lock:
            conn = self._connections.get(addr)
            if conn is not None and conn.is_open:
                return conn
            conn = await self._connect(addr)
            self._connections[addr] = conn
            return conn

    async def _connect(self, addr: str) -> RemotingConnection:
        if self._closed:
            raise RemotingConnectError("client is closed")
        host, port = split_addr(addr)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, conn = await loop.create_connection(
                    lambda: RemotingConnection(self.dispatcher, None, self.max_frame_bytes),
                    host,
                    port,
                )
        except (OSError, TimeoutError) as exc:
            raise RemotingConnectError(f"cannot connect to {addr}: {exc}") from None
        return conn

    async def invoke(
        self, addr: str, request: RemotingCommand, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> RemotingCommand:
        """Send ``request`` to ``addr`` and return the response, whatever its code."""
        conn = await self.connection(addr)
        return await conn.invoke(request, timeout_s)

    async def invoke_ok(
        self,
        addr: str,
        request: RemotingCommand,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        ok_codes: tuple[int, ...] = (0,),
    ) -> RemotingCommand:
        """``invoke``, raising the mapped MQResponseError for a code not in ``ok_codes``."""
        response = await self.invoke(addr, request, timeout_s)
        if response.code not in ok_codes:
            raise error_for(response.code, response.remark)
        return response

    async def oneway(self, addr: str, request: RemotingCommand) -> None:
        conn = await self.connection(addr)
        conn.oneway(request)

    def close_connection(self, addr: str) -> None:
        conn = self._connections.pop(addr, None)
        if conn is not None:
            conn.abort()

    async def close(self) -> None:
        self._closed = True
        conns = list(self._connections.values())
        self._connections.clear()
        await asyncio.gather(*(conn.close() for conn in conns))


__all__ = ["RemotingClient", "RemotingConnectError", "RemotingTimeoutError", "split_addr"]
