"""RemotingServer: listens, and answers each request through a code -> handler table.

Mirrors ``NettyRemotingServer`` + ``NettyRemotingAbstract.processRequestCommand``: the handler of
a request's code builds the response; the server forces opaque, RESPONSE flag and the request's
serialize type onto it; oneway requests get nothing back. What the handlers do not answer:
an unknown code gets REQUEST_CODE_NOT_SUPPORTED, a bad header SYSTEM_ERROR with the reason,
a handler crash SYSTEM_ERROR with a short description. Holds no protocol of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from pyrmq.common.service import PeriodicTask
from pyrmq.remoting.codes import FLAG_ONEWAY, FLAG_RESPONSE, ResponseCode, request_name
from pyrmq.remoting.command import DEFAULT_MAX_FRAME_BYTES, RemotingCommand
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.headers import HeaderError

log = logging.getLogger(__name__)

HandlerResult = RemotingCommand | None | Awaitable[RemotingCommand | None]
#: A handler gets the connection (peer address, a way to send requests back) and the request.
#: It may answer synchronously (fast path, no task) or return an awaitable.
Handler = Callable[[RemotingConnection, RemotingCommand], HandlerResult]
ConnectionListener = Callable[[RemotingConnection], None]


def not_supported(request: RemotingCommand) -> RemotingCommand:
    return request.response(
        ResponseCode.REQUEST_CODE_NOT_SUPPORTED, f" request type {request.code} not supported"
    )


class RequestDispatcher:
    """The code -> handler table and the error replies around it (no sockets)."""

    def __init__(self, handlers: Mapping[int, Handler]) -> None:
        self.handlers = dict(handlers)

    def __call__(
        self, conn: RemotingConnection, request: RemotingCommand
    ) -> Awaitable[None] | None:
        handler = self.handlers.get(request.code)
        if handler is None:
            log.warning("%s sent unsupported request code %s", conn.peer, request.code)
            self._reply(conn, request, not_supported(request))
            return None
        try:
            result = handler(conn, request)
        except Exception as exc:  # noqa: BLE001 - any handler failure becomes SYSTEM_ERROR
            self._reply(conn, request, self._error(conn, request, exc))
            return None
        if result is None or isinstance(result, RemotingCommand):
            self._reply(conn, request, result)
            return None
        return self._finish(conn, request, result)

    async def _finish(
        self,
        conn: RemotingConnection,
        request: RemotingCommand,
        pending: Awaitable[RemotingCommand | None],
    ) -> None:
        try:
            response = await pending
        except Exception as exc:  # noqa: BLE001 - any handler failure becomes SYSTEM_ERROR
            response = self._error(conn, request, exc)
        self._reply(conn, request, response)

    @staticmethod
    def _error(
        conn: RemotingConnection, request: RemotingCommand, exc: Exception
    ) -> RemotingCommand:
        if isinstance(exc, HeaderError):
            log.warning("bad %s header from %s: %s", request_name(request.code), conn.peer, exc)
            return request.response(ResponseCode.SYSTEM_ERROR, str(exc))
        log.exception("%s from %s failed", request_name(request.code), conn.peer)
        return request.response(ResponseCode.SYSTEM_ERROR, f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _reply(
        conn: RemotingConnection, request: RemotingCommand, response: RemotingCommand | None
    ) -> None:
        if response is None or request.flag & FLAG_ONEWAY:
            return
        response.opaque = request.opaque
        response.flag |= FLAG_RESPONSE
        response.serialize_type = request.serialize_type
        conn.send(response)


class RemotingServer:
    """A listening socket whose connections share one dispatcher."""

    def __init__(
        self,
        handlers: Mapping[int, Handler],
        host: str = "0.0.0.0",
        port: int = 0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        on_disconnect: ConnectionListener | None = None,
        channel_max_idle_s: float = 0.0,
    ) -> None:
        self.dispatcher = RequestDispatcher(handlers)
        self.channel_max_idle_s = channel_max_idle_s
        self.host = host
        self._port = port
        self.max_frame_bytes = max_frame_bytes
        self._on_disconnect = on_disconnect
        self._server: asyncio.Server | None = None
        self.connections: set[RemotingConnection] = set()
        self._idle_check: PeriodicTask | None = None

    @property
    def port(self) -> int:
        """The bound port (the OS's choice when constructed with 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._new_connection, self.host, self._port, reuse_address=True
        )
        if self.channel_max_idle_s > 0:
            interval_s = min(self.channel_max_idle_s / 4, 5.0)
            self._idle_check = PeriodicTask("remoting-idle-check", self.close_idle, interval_s)
            self._idle_check.start()

    def close_idle(self) -> int:
        """Close connections with no traffic either way for ``channel_max_idle_s``
        (Netty's IdleStateHandler ALL_IDLE as NettyRemotingServer sets it up)."""
        deadline = asyncio.get_running_loop().time() - self.channel_max_idle_s
        idle = [conn for conn in self.connections if conn.last_io_s < deadline]
        for conn in idle:
            log.info("closing connection from %s: idle for %gs", conn.peer, self.channel_max_idle_s)
            conn.abort()
        return len(idle)

    def _new_connection(self) -> RemotingConnection:
        conn = RemotingConnection(
            self.dispatcher, self._connection_closed, self.max_frame_bytes, keep_unread=True
        )
        self.connections.add(conn)
        return conn

    def _connection_closed(self, conn: RemotingConnection) -> None:
        self.connections.discard(conn)
        if self._on_disconnect is not None:
            self._on_disconnect(conn)

    async def stop(self, grace_s: float = 0.0) -> None:
        """Stop accepting; give requests in flight up to ``grace_s`` to finish (their answers
        are sent); then close every connection, cancelling what is left."""
        if self._idle_check is not None:
            await self._idle_check.stop()
        if self._server is not None:
            self._server.close()
        if grace_s > 0:
            await asyncio.gather(*(conn.tasks.wait(grace_s) for conn in list(self.connections)))
        await asyncio.gather(*(conn.close() for conn in list(self.connections)))
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
