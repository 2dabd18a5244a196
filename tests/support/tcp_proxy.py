"""TcpProxy: a TCP forwarder that tests can partition (``block``) and reconnect (``heal``).

It runs its own event loop in its own thread, so the same object serves an asyncio test (whose
loop keeps running while the proxy forwards) and a plain test driving broker processes. Every
method is synchronous and returns within milliseconds; do not call them from the proxy's own
thread (its callbacks).

Put one proxy in front of each address a node should be cut off from (for DLedger: one per
directed link, the peer's DLedger port) and give the nodes the proxies' ports.

Block semantics (default, ``block()``): a silent partition. Nothing is closed and nothing is
lost: the proxy stops reading from both sides of every connection, so bytes pile up in the
kernels' socket buffers and then in the sender's own queue, as when a real network stops
acknowledging; new connections are accepted (the client sees a successful connect) and held
without reaching the target. ``heal()`` lets everything through again: held connections are
connected to the target and every byte held arrives, late but in order — what TCP does after
a partition shorter than its retransmission timeout. (Bytes the proxy had already handed to a
socket before the block may still arrive during it.)

``block(reset=True)`` is the loud variant: every current connection is closed at once and new
ones are closed as soon as they are accepted, until ``heal()`` — like a crashed peer or a
firewall answering with resets.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar, cast

from pyrmq.common.service import TaskGroup

__all__ = ["TcpProxy"]

_T = TypeVar("_T")
#: How long a proxy method waits for its thread.
_CALL_TIMEOUT_S = 10.0


class _Side(asyncio.Protocol):
    """One socket of a proxied connection: the accepted one or the one to the target."""

    def __init__(self, conn: _Connection, is_client: bool) -> None:
        self.conn = conn
        self.is_client = is_client
        self.transport: asyncio.Transport | None = None
        self.write_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.is_client:
            self.conn.proxy.accepted(self.conn)

    def data_received(self, data: bytes) -> None:
        self.conn.forward(self, data)

    def eof_received(self) -> bool:
        self.conn.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.close()

    # Flow control: when this side cannot keep up, stop reading from the other.
    def pause_writing(self) -> None:
        self.write_paused = True
        self.conn.update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.conn.update_reading()

    def set_reading(self, wanted: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing() or transport.is_reading() == wanted:
            return
        if wanted:
            transport.resume_reading()
        else:
            transport.pause_reading()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _Connection:
    """An accepted client and, once connected, its socket to the target."""

    def __init__(self, proxy: _ProxyCore) -> None:
        self.proxy = proxy
        self.client = _Side(self, is_client=True)
        self.upstream: _Side | None = None
        #: Bytes read but not yet written on (blocked, or the target not connected yet).
        self.held: list[tuple[_Side, bytes]] = []
        self.connecting = False
        self.closed = False

    def other(self, side: _Side) -> _Side | None:
        return self.upstream if side is self.client else self.client

    def forward(self, side: _Side, data: bytes) -> None:
        target = self.other(side)
        if self.proxy.blocked or target is None or target.transport is None or self.held:
            self.held.append((side, data))
            return
        target.transport.write(data)

    def release(self) -> None:
        """Write what was held, in order, then read again (heal, or the target connected)."""
        held, self.held = self.held, []
        for side, data in held:
            target = self.other(side)
            if target is not None and target.transport is not None:
                target.transport.write(data)
        self.update_reading()

    def update_reading(self) -> None:
        upstream = self.upstream
        ready = not self.proxy.blocked and upstream is not None and not self.closed
        self.client.set_reading(ready and upstream is not None and not upstream.write_paused)
        if upstream is not None:
            upstream.set_reading(ready and not self.client.write_paused)

    def connected(self, upstream: _Side) -> None:
        self.connecting = False
        if self.closed:
            upstream.abort()
            return
        self.upstream = upstream
        self.release()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.client.abort()
        if self.upstream is not None:
            self.upstream.abort()
        self.proxy.connections.discard(self)


class _ProxyCore:
    """The proxy's state, touched only on its own loop."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.blocked = False
        self.resetting = False
        self.connections: set[_Connection] = set()
        self.tasks = TaskGroup("tcp-proxy")
        self.server: asyncio.Server | None = None

    def new_client(self) -> _Side:
        conn = _Connection(self)
        self.connections.add(conn)
        return conn.client

    def accepted(self, conn: _Connection) -> None:
        if self.resetting:
            conn.close()
            return
        conn.update_reading()  # paused until the target is connected
        if not self.blocked:
            self._connect(conn)

    def _connect(self, conn: _Connection) -> None:
        if conn.connecting or conn.upstream is not None or conn.closed:
            return
        conn.connecting = True
        self.tasks.spawn(self._dial(conn), "tcp-proxy-dial")

    async def _dial(self, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(
                lambda: _Side(conn, is_client=False), *self.target
            )
        except OSError:
            conn.connecting = False
            conn.close()  # the target is down: so is this connection
            return
        conn.connected(upstream)

    def block(self, reset: bool) -> None:
        self.blocked = True
        self.resetting = reset
        for conn in list(self.connections):
            if reset:
                conn.close()
            else:
                conn.update_reading()

    def heal(self) -> None:
        self.blocked = False
        self.resetting = False
        for conn in list(self.connections):
            if conn.upstream is None:
                self._connect(conn)
            else:
                conn.release()

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self.new_client, host, port)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            conn.close()
        await self.tasks.close()
        if self.server is not None:
            await self.server.wait_closed()
        await asyncio.sleep(0)  # let the aborted transports close their sockets


class TcpProxy:
    """Forwards ``listen_host:port`` to ``target_host:target_port`` until ``stop``."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        self.listen_host = listen_host
        self._listen_port = listen_port
        self._core = _ProxyCore((target_host, target_port))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> int:
        """Start the thread and listen; returns the port (OS-chosen unless one was given)."""
        if self._thread is not None:
            raise RuntimeError("proxy already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        try:
            self.port = self._call(self._core.start(self.listen_host, self._listen_port))
        except BaseException:
            self._shutdown_loop()
            raise
        return self.port

    def stop(self) -> None:
        """Close every connection and the listener, end the thread; the port is free after."""
        if self._loop is None:
            return
        try:
            self._call(self._core.stop())
        finally:
            self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_CALL_TIMEOUT_S)
        loop.close()

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ partition

    def block(self, reset: bool = False) -> None:
        """Cut the link: held silently (default) or with resets; see the module docstring."""
        self._run(lambda: self._core.block(reset))

    def heal(self) -> None:
        """Let bytes and new connections through again."""
        self._run(self._core.heal)

    @property
    def blocked(self) -> bool:
        return self._core.blocked

    def connection_count(self) -> int:
        """Connections accepted and not closed yet (held ones included)."""
        return self._run(lambda: len(self._core.connections))

    # ------------------------------------------------------------------ thread hand-off

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        try:
            loop = self._require_loop()
        except RuntimeError:
            coro.close()
            raise
        return asyncio.run_coroutine_threadsafe(coro, loop).result(_CALL_TIMEOUT_S)

    def _run(self, func: Callable[[], _T]) -> _T:
        async def call() -> _T:
            return func()

        return self._call(call())

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("proxy not started")
        if threading.current_thread() is self._thread:
            raise RuntimeError("TcpProxy methods are for other threads, not its own callbacks")
        return self._loop
