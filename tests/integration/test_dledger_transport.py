"""PeerTransport over real TCP on 127.0.0.1: order per link, reconnects, bad peers, bounds, stop.

Three transports listen on port 0 and are wired together afterwards with set_peer_address.
The frame codec (FrameReader, hello) is checked first, without sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

import pytest

from pyrmq.dledger.transport import (
    HELLO_MAGIC,
    MAX_FRAME_BYTES,
    MAX_HELLO_BYTES,
    MAX_QUEUED_BYTES,
    FrameReader,
    PeerFrameError,
    PeerTransport,
    decode_hello,
    encode_frame,
    encode_hello,
)
from tests.support.tcp_proxy import TcpProxy

GROUP = "rocketmq-broker-m1"
IDS = ("n0", "n1", "n2")


# --------------------------------------------------------------------------- codec, no sockets


def test_reader_cuts_frames_across_any_chunking() -> None:
    payloads = [b"", b"a", b"hello", bytes(range(256)) * 40]
    stream = b"".join(encode_frame(p) for p in payloads)
    for chunk in (1, 3, 4, 5, 7, 1000, len(stream)):
        reader = FrameReader()
        got: list[bytes] = []
        for start in range(0, len(stream), chunk):
            got += reader.feed(stream[start : start + chunk])
        assert got == payloads
        assert reader.buffered == 0
        assert reader.error is None


def test_reader_returns_bytes_not_views_of_its_buffer() -> None:
    reader = FrameReader()
    assert reader.feed(encode_frame(b"abc")[:5]) == []
    (payload,) = reader.feed(b"bc" + encode_frame(b"x")[:2])
    assert type(payload) is bytes
    assert payload == b"abc"
    assert reader.feed(encode_frame(b"x")[2:]) == [b"x"]


def test_reader_limits_the_first_frame_then_the_rest() -> None:
    reader = FrameReader(max_frame_bytes=100, first_frame_max=10)
    assert reader.feed(encode_frame(b"0123456789") + encode_frame(b"y" * 100)) == [
        b"0123456789",
        b"y" * 100,
    ]
    reader = FrameReader(max_frame_bytes=100, first_frame_max=10)
    assert reader.feed(encode_frame(b"y" * 11)) == []
    assert reader.error == "frame of 11 bytes exceeds the limit of 10"


def test_reader_keeps_frames_before_a_bad_one_then_takes_nothing() -> None:
    reader = FrameReader(max_frame_bytes=8)
    assert reader.feed(encode_frame(b"ok")[:3]) == []
    bad = struct.pack(">I", 9) + b"z" * 9
    assert reader.feed(encode_frame(b"ok")[3:] + bad) == [b"ok"]
    assert reader.error is not None
    assert reader.buffered == 0
    assert reader.feed(encode_frame(b"later")) == []


def test_hello_round_trip_and_rejects() -> None:
    frame = encode_hello(GROUP, "n1", "n0")
    assert FrameReader().feed(frame) == [frame[4:]]
    assert decode_hello(frame[4:]) == (GROUP, "n1", "n0")
    for payload in (b"GET / HTTP/1.1", HELLO_MAGIC + b"n1\nn0", HELLO_MAGIC + b"\xff\n\n"):
        with pytest.raises(PeerFrameError):
            decode_hello(payload)


# --------------------------------------------------------------------------- helpers


class Inbox:
    """Records what one transport receives, per sender."""

    def __init__(self) -> None:
        self.by_sender: dict[str, list[bytes]] = defaultdict(list)
        self.changed = asyncio.Event()

    def __call__(self, sender: str, payload: bytes) -> None:
        self.by_sender[sender].append(payload)
        self.changed.set()

    def numbers(self, sender: str) -> list[int]:
        return [int(p) for p in self.by_sender[sender] if p.isdigit()]


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the conditions have no event to wait on
            await asyncio.sleep(0.01)


def has_at_least(inbox: Inbox, sender: str, count: int) -> Callable[[], bool]:
    return lambda: len(inbox.numbers(sender)) >= count


async def connect(src: PeerTransport, dst: str) -> None:
    """Open the link src -> dst (a first send does; that probe itself is dropped)."""
    src.send(dst, b"probe")
    await eventually(lambda: src.is_connected(dst))


def make(
    self_id: str,
    inbox: Inbox,
    port: int = 0,
    max_frame_bytes: int = MAX_FRAME_BYTES,
    max_queued_bytes: int = MAX_QUEUED_BYTES,
) -> PeerTransport:
    peers = {peer: ("127.0.0.1", 0) for peer in IDS}
    peers[self_id] = ("127.0.0.1", port)
    return PeerTransport(
        self_id,
        peers,
        inbox,
        group=GROUP,
        max_frame_bytes=max_frame_bytes,
        max_queued_bytes=max_queued_bytes,
        backoff_min_s=0.02,
        backoff_max_s=0.2,
    )


def wire(transports: dict[str, PeerTransport]) -> None:
    """Port 0: each listener's port is known only after start; tell every other node."""
    for node in transports.values():
        for other in transports.values():
            if other is not node:
                node.set_peer_address(other.self_id, *other.address)


def other_tasks() -> set[asyncio.Task[object]]:
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current}


class Trio:
    def __init__(self) -> None:
        self.inboxes = {peer: Inbox() for peer in IDS}
        self.nodes = {peer: make(peer, self.inboxes[peer]) for peer in IDS}

    async def stop(self) -> None:
        for node in self.nodes.values():
            await node.stop()


@pytest.fixture
async def trio() -> AsyncIterator[Trio]:
    group = Trio()
    for node in group.nodes.values():
        await node.start()
    wire(group.nodes)
    yield group
    await group.stop()
    assert other_tasks() == set()


# --------------------------------------------------------------------------- delivery


async def test_messages_arrive_in_order_on_every_link(trio: Trio) -> None:
    for src in IDS:
        for dst in IDS:
            if src != dst:
                await connect(trio.nodes[src], dst)
    count = 2000
    for i in range(count):
        for src in IDS:
            for dst in IDS:
                if src != dst:
                    trio.nodes[src].send(dst, str(i).encode())
    expected = list(range(count))
    for dst in IDS:
        inbox = trio.inboxes[dst]
        for src in IDS:
            if src != dst:
                await eventually(has_at_least(inbox, src, count))
                assert inbox.numbers(src) == expected
    assert all(trio.nodes[src].dropped(dst) == 1 for src in IDS for dst in IDS if src != dst)


async def test_large_and_empty_payloads_arrive_intact(trio: Trio) -> None:
    big = bytes(range(256)) * (32 * 1024)  # 8 MiB
    await connect(trio.nodes["n0"], "n1")
    trio.nodes["n0"].send("n1", big)
    trio.nodes["n0"].send("n1", b"")
    trio.nodes["n0"].send("n1", b"after")
    inbox = trio.inboxes["n1"]
    await eventually(lambda: b"after" in inbox.by_sender["n0"])
    assert inbox.by_sender["n0"] == [big, b"", b"after"]


async def test_a_failing_handler_does_not_break_the_link(
    trio: Trio, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[bytes] = []

    def handler(sender: str, payload: bytes) -> None:
        seen.append(payload)
        if payload == b"boom":
            raise RuntimeError("handler exploded")

    trio.nodes["n1"]._on_message = handler
    await connect(trio.nodes["n0"], "n1")
    for payload in (b"1", b"boom", b"2"):
        trio.nodes["n0"].send("n1", payload)
    await eventually(lambda: b"2" in seen)
    assert seen == [b"1", b"boom", b"2"]
    assert "message handler failed on a message from n0" in caplog.text


# --------------------------------------------------------------------------- failures


async def test_reconnects_after_the_peer_restarts(trio: Trio) -> None:
    n0 = trio.nodes["n0"]
    await connect(n0, "n1")
    n0.send("n1", b"before")
    await eventually(lambda: b"before" in trio.inboxes["n1"].by_sender["n0"])
    port = trio.nodes["n1"].address[1]

    await trio.nodes["n1"].stop()
    await eventually(lambda: not n0.is_connected("n1"))
    dropped = n0.dropped("n1")
    n0.send("n1", b"lost")
    assert n0.dropped("n1") == dropped + 1

    inbox = Inbox()
    restarted = make("n1", inbox, port=port)
    trio.nodes["n1"] = restarted
    await restarted.start()
    wire(trio.nodes)
    await eventually(lambda: n0.is_connected("n1"))
    for i in range(100):
        n0.send("n1", str(i).encode())
    await eventually(lambda: len(inbox.numbers("n0")) == 100)
    assert inbox.numbers("n0") == list(range(100))
    assert b"lost" not in inbox.by_sender["n0"]
    # And the other way: n0 takes the restarted n1's new connection.
    await connect(restarted, "n0")
    restarted.send("n0", b"back")
    await eventually(lambda: b"back" in trio.inboxes["n0"].by_sender["n1"])


async def test_a_moved_peer_is_reached_at_its_new_address(trio: Trio) -> None:
    n0 = trio.nodes["n0"]
    await connect(n0, "n2")
    await trio.nodes["n2"].stop()
    inbox = Inbox()
    moved = make("n2", inbox)  # a new port-0 listener: a different port
    trio.nodes["n2"] = moved
    await moved.start()
    wire(trio.nodes)
    await eventually(lambda: n0.is_connected("n2"))
    n0.send("n2", b"found")
    await eventually(lambda: inbox.by_sender["n0"] == [b"found"])


async def test_a_silent_partition_holds_messages_until_it_heals(trio: Trio) -> None:
    n0, inbox = trio.nodes["n0"], trio.inboxes["n1"]
    with TcpProxy(*trio.nodes["n1"].address) as proxy:
        n0.set_peer_address("n1", "127.0.0.1", proxy.port)
        await connect(n0, "n1")
        n0.send("n1", b"0")
        await eventually(lambda: inbox.numbers("n0") == [0])
        proxy.block()
        for i in range(1, 51):
            n0.send("n1", str(i).encode())
        await asyncio.sleep(0.3)
        assert inbox.numbers("n0") == [0]
        assert n0.is_connected("n1")  # a silent partition: the sender cannot tell
        proxy.heal()
        await eventually(lambda: len(inbox.numbers("n0")) == 51)
        assert inbox.numbers("n0") == list(range(51))


async def test_a_resetting_partition_drops_and_the_link_comes_back(trio: Trio) -> None:
    n0, inbox = trio.nodes["n0"], trio.inboxes["n1"]
    with TcpProxy(*trio.nodes["n1"].address) as proxy:
        n0.set_peer_address("n1", "127.0.0.1", proxy.port)
        await connect(n0, "n1")
        proxy.block(reset=True)
        await eventually(lambda: not n0.is_connected("n1"))
        dropped = n0.dropped("n1")
        n0.send("n1", b"lost")
        assert n0.dropped("n1") == dropped + 1
        proxy.heal()

        def delivered() -> bool:
            n0.send("n1", b"again")
            return b"again" in inbox.by_sender["n0"]

        await eventually(delivered)
        assert b"lost" not in inbox.by_sender["n0"]


async def raw_connection_is_closed(port: int, data: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        # An abort may arrive as a reset rather than an end of stream.
        async with asyncio.timeout(5):
            with contextlib.suppress(ConnectionResetError):
                assert await reader.read() == b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionResetError):
            await writer.wait_closed()


BAD_OPENINGS: list[tuple[str, bytes, str]] = [
    ("not a hello", encode_frame(b"GET / HTTP/1.1\r\n"), "first frame is not a hello"),
    ("unknown peer", encode_hello(GROUP, "n7", "n0"), "hello from unknown peer 'n7'"),
    ("self", encode_hello(GROUP, "n0", "n0"), "hello from unknown peer 'n0'"),
    ("other receiver", encode_hello(GROUP, "n1", "n2"), "hello for 'n2', this is 'n0'"),
    ("other group", encode_hello("other", "n1", "n0"), "hello for group 'other'"),
    ("huge hello", struct.pack(">I", MAX_HELLO_BYTES + 1), "exceeds the limit of 1024"),
    (
        "huge frame after hello",
        encode_hello(GROUP, "n2", "n0") + struct.pack(">I", 0xFFFFFFFF),
        "frame of 4294967295 bytes exceeds the limit of 67108864",
    ),
]


async def test_bad_connections_are_closed_and_the_others_carry_on(
    trio: Trio, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pyrmq.dledger.transport")
    n0, n1 = trio.nodes["n0"], trio.nodes["n1"]
    await connect(n1, "n0")
    for i, (_, opening, reason) in enumerate(BAD_OPENINGS):
        await raw_connection_is_closed(n0.address[1], opening)
        assert reason in caplog.text
        n1.send("n0", str(i).encode())
    inbox = trio.inboxes["n0"]
    await eventually(lambda: len(inbox.numbers("n1")) == len(BAD_OPENINGS))
    assert inbox.numbers("n1") == list(range(len(BAD_OPENINGS)))
    assert n1.is_connected("n0")


async def test_send_never_raises_and_counts_what_it_drops(trio: Trio) -> None:
    n0 = trio.nodes["n0"]
    n0.send("n9", b"to nobody")  # unknown id
    n0.send("n0", b"to myself")
    assert n0.dropped("n9") == 0
    assert n0.dropped("n0") == 0
    small = make("n0", Inbox(), max_frame_bytes=16)
    small.send("n1", b"before start")
    await small.start()
    small.set_peer_address("n1", *trio.nodes["n1"].address)
    await connect(small, "n1")
    small.send("n1", b"x" * 17)  # over max_frame_bytes
    assert small.dropped("n1") == 2  # the probe and the oversized one
    await small.stop()
    small.send("n1", b"after stop")
    assert len(small._tasks) == 0


async def test_a_peer_that_does_not_read_makes_messages_drop_not_queue() -> None:
    stalled: list[asyncio.StreamWriter] = []

    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.pause_reading()  # type: ignore[attr-defined]
        stalled.append(writer)

    sink = await asyncio.start_server(never_read, "127.0.0.1", 0)
    sink_port = sink.sockets[0].getsockname()[1]
    bound = 1024 * 1024
    node = make("n0", Inbox(), max_queued_bytes=bound)
    await node.start()
    node.set_peer_address("n1", "127.0.0.1", sink_port)
    try:
        await connect(node, "n1")
        chunk = b"q" * 65536
        for _ in range(2000):  # 128 MiB offered, far more than socket buffers + bound
            node.send("n1", chunk)
            await asyncio.sleep(0)
        assert node.dropped("n1") > 1000
        link = node._links["n1"]
        assert link.transport is not None
        assert link.transport.get_write_buffer_size() <= bound
    finally:
        await node.stop()
        for writer in stalled:
            writer.close()
        sink.close()
        await sink.wait_closed()
        await asyncio.sleep(0.01)  # let the closed sockets go


async def test_stop_closes_everything_and_frees_the_port() -> None:
    inboxes = {peer: Inbox() for peer in IDS}
    nodes = {peer: make(peer, inboxes[peer]) for peer in IDS}
    for node in nodes.values():
        await node.start()
    wire(nodes)
    for src in IDS:
        for dst in IDS:
            if src != dst:
                await connect(nodes[src], dst)
    ports = [node.address[1] for node in nodes.values()]
    for node in nodes.values():
        await node.stop()
    assert other_tasks() == set()
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
