"""RemotingServer and RemotingClient over real TCP: matching, timeouts, errors, reconnect."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator

import pytest

from pyrmq.remoting.client import RemotingClient
from pyrmq.remoting.codes import ResponseCode, SerializeType
from pyrmq.remoting.command import RemotingCommand, encode, request
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.errors import (
    RemotingConnectError,
    RemotingTimeoutError,
    TopicNotExistError,
)
from pyrmq.remoting.server import Handler, RemotingServer

ECHO, SLOW, NEVER, BOOM, NOT_FOUND, ONEWAY_SINK, BUSY = 1001, 1002, 1003, 1004, 1005, 1006, 1007


class Handlers:
    def __init__(self) -> None:
        self.oneway_seen: list[str] = []
        self.never = asyncio.Event()

    def table(self) -> dict[int, Handler]:
        return {
            ECHO: self.echo,
            SLOW: self.slow,
            NEVER: self.never_answer,
            BOOM: self.boom,
            NOT_FOUND: lambda conn, req: req.response(ResponseCode.TOPIC_NOT_EXIST, "no topic"),
            ONEWAY_SINK: self.sink,
            BUSY: self.busy,
        }

    def echo(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        return req.response(ResponseCode.SUCCESS, ext_fields=req.ext_fields, body=req.body)

    async def slow(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        await asyncio.sleep(0.2)
        return req.response(ResponseCode.SUCCESS, "slow")

    async def never_answer(self, conn: RemotingConnection, req: RemotingCommand) -> None:
        await self.never.wait()

    def boom(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        raise RuntimeError("handler exploded")

    def busy(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        time.sleep(0.2)  # holds the event loop, as a slow request would
        return req.response(ResponseCode.SUCCESS)

    def sink(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        self.oneway_seen.append(req.ext("v") or "")
        return req.response(ResponseCode.SUCCESS)  # must not be sent for a oneway request


@pytest.fixture
def handlers() -> Handlers:
    return Handlers()


@pytest.fixture
async def server(handlers: Handlers) -> AsyncIterator[RemotingServer]:
    remoting_server = RemotingServer(handlers.table(), host="127.0.0.1", port=0)
    await remoting_server.start()
    yield remoting_server
    await remoting_server.stop()


@pytest.fixture
async def client() -> AsyncIterator[RemotingClient]:
    remoting_client = RemotingClient()
    yield remoting_client
    await remoting_client.close()


def addr(server: RemotingServer) -> str:
    return f"127.0.0.1:{server.port}"


async def test_responses_are_matched_by_opaque_even_out_of_order(
    server: RemotingServer, client: RemotingClient
) -> None:
    slow = asyncio.ensure_future(client.invoke(addr(server), request(SLOW)))
    fast = [client.invoke(addr(server), request(ECHO, {"i": str(i)})) for i in range(20)]
    echoed = await asyncio.gather(*fast)
    assert [r.ext("i") for r in echoed] == [str(i) for i in range(20)]
    assert not slow.done()  # the fast answers overtook it
    assert (await slow).remark == "slow"


async def test_invoke_times_out_and_the_connection_stays_usable(
    server: RemotingServer, client: RemotingClient
) -> None:
    with pytest.raises(RemotingTimeoutError):
        await client.invoke(addr(server), request(NEVER), timeout_s=0.1)
    assert (await client.invoke(addr(server), request(ECHO))).code == ResponseCode.SUCCESS


async def test_handler_exception_becomes_system_error(
    server: RemotingServer, client: RemotingClient
) -> None:
    response = await client.invoke(addr(server), request(BOOM))
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert "handler exploded" in (response.remark or "")


async def test_invoke_ok_maps_codes_to_exceptions(
    server: RemotingServer, client: RemotingClient
) -> None:
    with pytest.raises(TopicNotExistError) as raised:
        await client.invoke_ok(addr(server), request(NOT_FOUND))
    assert raised.value.remark == "no topic"
    assert raised.value.response_code == ResponseCode.TOPIC_NOT_EXIST


async def test_oneway_is_processed_and_not_answered(
    server: RemotingServer, client: RemotingClient, handlers: Handlers
) -> None:
    await client.oneway(addr(server), request(ONEWAY_SINK, {"v": "x"}))
    # An echo sent after the oneway on the same connection is answered after it was processed.
    await client.invoke(addr(server), request(ECHO))
    assert handlers.oneway_seen == ["x"]


async def test_async_handler_answers_in_the_request_serialize_type(
    server: RemotingServer, client: RemotingClient
) -> None:
    req = request(SLOW, serialize_type=SerializeType.ROCKETMQ)
    response = await client.invoke(addr(server), req)
    assert (response.serialize_type, response.remark) == (SerializeType.ROCKETMQ, "slow")


async def test_connect_refused_is_a_connect_error(client: RemotingClient) -> None:
    probe = RemotingServer({}, host="127.0.0.1", port=0)
    await probe.start()
    port = probe.port
    await probe.stop()  # nothing listens there any more
    with pytest.raises(RemotingConnectError):
        await client.invoke(f"127.0.0.1:{port}", request(ECHO))


async def test_client_reconnects_after_the_server_restarts(
    handlers: Handlers, client: RemotingClient
) -> None:
    first = RemotingServer(handlers.table(), host="127.0.0.1", port=0)
    await first.start()
    port = first.port
    assert (await client.invoke(f"127.0.0.1:{port}", request(ECHO))).code == 0
    pending = asyncio.ensure_future(client.invoke(f"127.0.0.1:{port}", request(NEVER)))
    await asyncio.sleep(0.05)
    await first.stop()
    with pytest.raises(RemotingConnectError):
        await pending  # in flight when the connection closed
    second = RemotingServer(handlers.table(), host="127.0.0.1", port=port)
    await second.start()
    try:
        assert (await client.invoke(f"127.0.0.1:{port}", request(ECHO))).code == 0
    finally:
        await second.stop()


async def test_oversized_frame_closes_only_the_sender(handlers: Handlers) -> None:
    small = RemotingServer(handlers.table(), host="127.0.0.1", port=0, max_frame_bytes=4096)
    await small.start()
    good, bad = RemotingClient(), RemotingClient()
    try:
        target = f"127.0.0.1:{small.port}"
        assert (await good.invoke(target, request(ECHO))).code == 0
        with pytest.raises(RemotingConnectError):
            await bad.invoke(target, request(ECHO, body=b"x" * 5000))
        assert (await good.invoke(target, request(ECHO, body=b"y" * 3000))).body == b"y" * 3000
    finally:
        await good.close()
        await bad.close()
        await small.stop()


async def test_stop_cancels_handlers_still_running(
    handlers: Handlers, client: RemotingClient
) -> None:
    srv = RemotingServer(handlers.table(), host="127.0.0.1", port=0)
    await srv.start()
    pending = asyncio.ensure_future(client.invoke(addr(srv), request(NEVER), timeout_s=5))
    await asyncio.sleep(0.05)
    (conn,) = srv.connections
    assert len(conn.tasks) == 1
    await srv.stop()
    assert len(conn.tasks) == 0
    with pytest.raises(RemotingConnectError):
        await pending


async def test_graceful_stop_answers_requests_in_flight(
    handlers: Handlers, client: RemotingClient
) -> None:
    srv = RemotingServer(handlers.table(), host="127.0.0.1", port=0)
    await srv.start()
    pending = asyncio.ensure_future(client.invoke(addr(srv), request(SLOW), timeout_s=5))
    await asyncio.sleep(0.05)
    await srv.stop(grace_s=2.0)  # the slow handler (0.2 s) finishes and is answered
    assert (await pending).remark == "slow"
    with pytest.raises(RemotingConnectError):  # and nothing is accepted any more
        await client.invoke(addr(srv), request(ECHO))


def reset_after_requests(port: int) -> None:
    """A client like rocketmq-client-go at shutdown: it leaves an answer unread, sends more
    requests while the server is busy, and closes (with unread data: a reset)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(encode(request(ECHO)))
        time.sleep(0.05)  # the echo's answer arrives and stays unread
        sock.sendall(encode(request(BUSY)))
        time.sleep(0.05)  # the server holds its loop in the busy handler
        for i in range(5):
            sock.sendall(encode(request(ONEWAY_SINK, {"v": str(i)})))


async def test_requests_sent_before_a_reset_are_still_served(
    server: RemotingServer, handlers: Handlers
) -> None:
    client = threading.Thread(target=reset_after_requests, args=(server.port,))
    client.start()
    try:
        # The busy answer's write fails (the client reset the connection meanwhile): the loop
        # closes the transport with the five requests still unread in the socket.
        for _ in range(100):
            if len(handlers.oneway_seen) == 5:
                break
            await asyncio.sleep(0.02)
        assert handlers.oneway_seen == ["0", "1", "2", "3", "4"]
    finally:
        client.join(5)
