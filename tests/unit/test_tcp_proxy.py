"""tests.support.tcp_proxy: forwarding, a silent block that holds bytes, a resetting block, stop.

Sync tests use blocking sockets and a threaded echo server, as a test driving broker processes
would; one async test checks the proxy from inside a running event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.support.tcp_proxy import TcpProxy

QUIET_S = 0.3  # how long "nothing arrives" is watched


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        while data := sock.recv(65536):
            sock.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def proxy(echo_port: int) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", echo_port) as running:
        yield running


def dial(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(5)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        data = sock.recv(size - len(chunks))
        if not data:
            raise EOFError(f"closed after {len(chunks)} of {size} bytes")
        chunks += data
    return bytes(chunks)


def assert_silent(sock: socket.socket) -> None:
    sock.settimeout(QUIET_S)
    with pytest.raises(TimeoutError):
        sock.recv(1)
    sock.settimeout(5)


def assert_closed(sock: socket.socket) -> None:
    with contextlib.suppress(ConnectionResetError):  # an abort may arrive as a reset
        assert sock.recv(1) == b""


def test_forwards_both_ways(proxy: TcpProxy) -> None:
    with dial(proxy.port) as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
        big = bytes(range(256)) * 16384  # 4 MiB each way: flow control on both sides
        sender = threading.Thread(target=sock.sendall, args=(big,))
        sender.start()
        assert recv_exactly(sock, len(big)) == big
        sender.join()
    assert proxy.port > 0


def test_block_holds_traffic_and_heal_delivers_it_in_order(proxy: TcpProxy) -> None:
    with dial(proxy.port) as old:
        old.sendall(b"a")
        assert recv_exactly(old, 1) == b"a"
        proxy.block()
        assert proxy.blocked
        old.sendall(b"held")
        assert_silent(old)
        with dial(proxy.port) as new:  # accepted, but goes nowhere
            new.sendall(b"new")
            assert_silent(new)
            assert proxy.connection_count() == 2
            proxy.heal()
            assert recv_exactly(old, 4) == b"held"
            assert recv_exactly(new, 3) == b"new"
        old.sendall(b"z")
        assert recv_exactly(old, 1) == b"z"


def test_block_with_reset_closes_and_refuses_until_heal(proxy: TcpProxy) -> None:
    with dial(proxy.port) as old:
        old.sendall(b"a")
        assert recv_exactly(old, 1) == b"a"
        proxy.block(reset=True)
        assert_closed(old)
    with dial(proxy.port) as refused:
        assert_closed(refused)
    proxy.heal()
    with dial(proxy.port) as new:
        new.sendall(b"back")
        assert recv_exactly(new, 4) == b"back"


def test_a_connection_to_a_dead_target_is_closed(echo_port: int) -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        dead_port = spare.getsockname()[1]  # bound, never listening: connects are refused
        with TcpProxy("127.0.0.1", dead_port) as proxy, dial(proxy.port) as sock:
            assert_closed(sock)


def test_stop_frees_the_port_and_ends_the_thread(echo_port: int) -> None:
    proxy = TcpProxy("127.0.0.1", echo_port)
    port = proxy.start()
    held = dial(port)
    proxy.block()
    proxy.stop()
    with held:
        assert_closed(held)
    assert not any(thread.name == "tcp-proxy" for thread in threading.enumerate())
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    proxy.stop()  # twice is fine
    with pytest.raises(RuntimeError, match="not started"):
        proxy.block()


async def test_usable_from_a_running_event_loop(proxy: TcpProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        writer.write(b"one")
        assert await reader.readexactly(3) == b"one"
        proxy.block()
        writer.write(b"two")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(QUIET_S):
                await reader.readexactly(3)
        proxy.heal()
        assert await reader.readexactly(3) == b"two"
    finally:
        writer.close()
        await writer.wait_closed()
