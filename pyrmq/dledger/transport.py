"""PeerTransport: carries the Raft core's messages between the peers of a DLedger group.

Mirrors the transport half of DLedger's ``DLedgerRpcNettyService`` (one Netty client and server
per node, peers from ``dLegerPeers``), cut down to what a message-passing Raft core needs:
one-way, opaque payloads. The core encodes and decodes its messages (and matches answers to
requests); this module only moves bytes, and owns the sockets and tasks that do it.

Wire format. Each connection is one-way: the connecting side writes, the accepting side reads.
Every frame is a 4-byte big-endian length followed by that many payload bytes. The first frame
of a connection is a hello, ``HELLO_MAGIC group \\n sender \\n receiver`` (UTF-8), so the
accepting side knows whose messages follow and can refuse strangers: an unknown sender, a
different group or receiver, a malformed or oversized frame close that one connection (with a
log line); the other peers carry on.

Loss. Raft tolerates lost messages (the leader re-sends on its next heartbeat or push), so
``send`` never blocks or raises. It drops, and counts, what it cannot pass on at once: while
the link to the peer is not connected, or while more than ``max_queued_bytes`` wait to be
written to it. Each link connects on its first ``send`` and then keeps itself connected,
retrying with a backoff of ``backoff_min_s`` doubling to ``backoff_max_s``.

Efficiency. Frames sent to a peer during one turn of the event loop are written together by one
callback at the start of the next (one ``writelines``), not one syscall per message. Reading,
frames are cut from the received chunk directly and each payload is copied once, into the
``bytes`` handed to ``on_message``; only a frame that spans chunks is buffered (one more copy).

Port 0. A transport may listen on port 0; ``address`` gives the bound one after ``start``.
Peers whose port is not known yet may be given with port 0 (or left out) and filled in
later with ``set_peer_address``; nothing is sent to a peer at port 0, and a hello from a peer
not in the map yet is refused (its link retries until the map names it).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable, Mapping
from typing import Any, cast

from pyrmq.common.service import TaskGroup
from pyrmq.dledger.peers import Address

__all__ = [
    "HELLO_MAGIC",
    "MAX_FRAME_BYTES",
    "MAX_HELLO_BYTES",
    "MAX_QUEUED_BYTES",
    "FrameReader",
    "PeerFrameError",
    "PeerTransport",
    "decode_hello",
    "encode_frame",
    "encode_hello",
]

log = logging.getLogger(__name__)

#: Largest payload accepted or sent. A RocketMQ message is at most 4 MiB (maxMessageSize) and a
#: DLedger batch push bundles a few KiB of entries; 64 MiB is far above both, and still stops a
#: garbage length word from making a reader buffer gigabytes.
MAX_FRAME_BYTES = 64 * 1024 * 1024
#: Bytes allowed to wait for one peer's socket before messages to it are dropped.
MAX_QUEUED_BYTES = 64 * 1024 * 1024
#: A hello is three short names; anything longer is not a peer.
MAX_HELLO_BYTES = 1024
HELLO_MAGIC = b"pyrmq-dledger/1\n"

_LENGTH = struct.Struct(">I")
_HEADER = _LENGTH.size

#: Called with (sender id, payload) for every message received.
MessageHandler = Callable[[str, bytes], None]


class PeerFrameError(ValueError):
    """The byte stream of a peer connection is not valid; the connection must be closed."""


# --------------------------------------------------------------------------- sans-IO codec


def encode_frame(payload: bytes) -> bytes:
    """One frame: length word + payload (tests and the hello; ``send`` avoids the copy)."""
    return _LENGTH.pack(len(payload)) + payload


def encode_hello(group: str, sender: str, receiver: str) -> bytes:
    """The first frame of a connection, naming the group, who sends and to whom."""
    return encode_frame(HELLO_MAGIC + f"{group}\n{sender}\n{receiver}".encode())


def decode_hello(payload: bytes) -> tuple[str, str, str]:
    """(group, sender, receiver) from a hello payload; PeerFrameError if it is not one."""
    if not payload.startswith(HELLO_MAGIC):
        raise PeerFrameError("first frame is not a hello")
    try:
        group, sender, receiver = payload[len(HELLO_MAGIC) :].decode().split("\n")
    except (UnicodeDecodeError, ValueError):
        raise PeerFrameError("malformed hello") from None
    return group, sender, receiver


class FrameReader:
    """Cuts a byte stream into payloads; the first frame may have a smaller limit (the hello).

    After an error (``error`` is set) the reader takes nothing more: the stream has lost its
    framing and the connection must be closed. Payloads completed before the bad frame are
    still returned.
    """

    __slots__ = ("_buffer", "_limit", "_needed", "error", "max_frame_bytes")

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES, first_frame_max: int = 0) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._limit = first_frame_max or max_frame_bytes
        self._buffer = bytearray()
        #: Buffered bytes needed before the next frame is complete (skip parsing until then).
        self._needed = _HEADER
        self.error: str | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the payloads it completes, in order."""
        if self.error is not None:
            return []
        buffer = self._buffer
        if not buffer:
            payloads, used = self._split(data)
            if used < len(data) and self.error is None:
                buffer += memoryview(data)[used:]
            return payloads
        buffer += data
        if len(buffer) < self._needed:
            return []
        payloads, used = self._split(buffer)
        if self.error is not None:
            buffer.clear()
        else:
            del buffer[:used]
        return payloads

    def _split(self, data: bytes | bytearray) -> tuple[list[bytes], int]:
        """Payloads of the whole frames in ``data``, and how many bytes they took."""
        payloads: list[bytes] = []
        pos, end = 0, len(data)
        with memoryview(data) as view:
            while end - pos >= _HEADER:
                (length,) = _LENGTH.unpack_from(data, pos)
                if length > self._limit:
                    self.error = f"frame of {length} bytes exceeds the limit of {self._limit}"
                    return payloads, end
                stop = pos + _HEADER + length
                if stop > end:
                    self._needed = stop - pos
                    return payloads, pos
                payloads.append(bytes(view[pos + _HEADER : stop]))
                self._limit = self.max_frame_bytes
                pos = stop
        self._needed = _HEADER
        return payloads, pos


# --------------------------------------------------------------------------- inbound


class _Inbound(asyncio.Protocol):
    """One accepted connection: a hello, then messages from that peer."""

    def __init__(self, owner: PeerTransport) -> None:
        self._owner = owner
        self._reader = FrameReader(owner.max_frame_bytes, MAX_HELLO_BYTES)
        self._transport: asyncio.Transport | None = None
        self.sender: str | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.where = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only look like them.
        self._transport = cast(asyncio.Transport, transport)
        self.where = _peer_name(transport)
        if not self._owner._inbound_opened(self):
            self._transport.abort()  # accepted while stopping

    def data_received(self, data: bytes) -> None:
        payloads = self._reader.feed(data)
        for payload in payloads:
            if self.sender is None:
                if not self._hello(payload):
                    return
            else:
                self._owner._deliver(self.sender, payload)
        if self._reader.error is not None:
            self.reject(self._reader.error)

    def _hello(self, payload: bytes) -> bool:
        try:
            self.sender = self._owner._accept_hello(payload, self)
        except PeerFrameError as exc:
            self.reject(str(exc))
            return False
        return True

    def reject(self, reason: str) -> None:
        log.warning(
            "dledger %s: closing connection from %s (%s): %s",
            self._owner.self_id,
            self.sender or "unidentified peer",
            self.where,
            reason,
        )
        self.abort()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._inbound_closed(self)
        if not self.closed.done():
            self.closed.set_result(None)


# --------------------------------------------------------------------------- outbound


class _Outbound(asyncio.Protocol):
    """The socket of one link: written by the link, never read (peers answer on their own)."""

    def __init__(self, link: _Link) -> None:
        self._link = link
        self._transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only look like them.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        log.warning(
            "dledger %s: %s sent data on a send-only link", self._link.owner_id, self._link.peer_id
        )
        if self._transport is not None:
            self._transport.abort()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class _Link:
    """The connection to one peer: queues a turn's frames, reconnects with backoff."""

    def __init__(self, owner: PeerTransport, peer_id: str) -> None:
        self._owner = owner
        self.owner_id = owner.self_id
        self.peer_id = peer_id
        self.transport: asyncio.Transport | None = None
        self.protocol: _Outbound | None = None
        self.dropped = 0
        self._chunks: list[bytes] = []
        self._queued_bytes = 0
        self._queued_messages = 0
        self._flush_scheduled = False
        self._failures = 0

    # ------------------------------------------------------------------ sending

    def send(self, payload: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            self.dropped += 1
            return
        size = _HEADER + len(payload)
        if (
            transport.get_write_buffer_size() + self._queued_bytes + size
            > self._owner.max_queued_bytes
        ):
            self.dropped += 1
            return
        self._chunks.append(_LENGTH.pack(len(payload)))
        self._chunks.append(payload)
        self._queued_bytes += size
        self._queued_messages += 1
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        chunks, self._chunks = self._chunks, []
        messages, self._queued_messages, self._queued_bytes = self._queued_messages, 0, 0
        transport = self.transport
        if transport is None or transport.is_closing():
            self.dropped += messages
            return
        transport.writelines(chunks)

    # ------------------------------------------------------------------ connecting

    async def run(self) -> None:
        """Connect, wait for the connection to end, back off, again; until cancelled."""
        delay_s = self._owner.backoff_min_s
        loop = asyncio.get_running_loop()
        while True:
            protocol = await self._connect()
            if protocol is not None:
                started = loop.time()
                try:
                    await protocol.lost
                finally:
                    self._disconnected()
                if loop.time() - started >= self._owner.backoff_max_s:
                    delay_s = self._owner.backoff_min_s
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, self._owner.backoff_max_s)

    async def _connect(self) -> _Outbound | None:
        host, port = self._owner.peer_address(self.peer_id)
        if port == 0:
            return None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._owner.connect_timeout_s):
                transport, protocol = await loop.create_connection(
                    lambda: _Outbound(self), host, port
                )
        except (OSError, TimeoutError) as exc:
            self._connect_failed(host, port, exc)
            return None
        self._connected(transport, protocol)
        return protocol

    def _connected(self, transport: asyncio.Transport, protocol: _Outbound) -> None:
        owner = self._owner
        transport.write(encode_hello(owner.group, owner.self_id, self.peer_id))
        self.transport, self.protocol = transport, protocol
        self._failures = 0
        log.info(
            "dledger %s: connected to %s at %s", owner.self_id, self.peer_id, _peer_name(transport)
        )

    def _connect_failed(self, host: str, port: int, exc: BaseException) -> None:
        self._failures += 1
        # The first failure is news; the retries that follow every second are not.
        level = logging.INFO if self._failures == 1 else logging.DEBUG
        log.log(
            level,
            "dledger %s: cannot connect to %s at %s:%d: %s (retrying)",
            self.owner_id,
            self.peer_id,
            host,
            port,
            str(exc) or type(exc).__name__,
        )

    def _disconnected(self) -> None:
        transport, self.transport, self.protocol = self.transport, None, None
        if transport is not None:
            transport.abort()
            log.info("dledger %s: link to %s closed", self.owner_id, self.peer_id)

    def abort(self) -> None:
        """Drop the current connection (stop, or the peer moved); ``run`` reconnects."""
        if self.transport is not None:
            self.transport.abort()


# --------------------------------------------------------------------------- the service


class PeerTransport:
    """Listens on this node's DLedger address and keeps one send link per other peer.

    ``peers`` maps every id of the group, this node's included, to its address; ``on_message``
    is called on the event loop with (sender id, payload) for each message, in the order the
    sender sent them on its link.
    """

    def __init__(
        self,
        self_id: str,
        peers: Mapping[str, Address],
        on_message: MessageHandler,
        *,
        group: str = "",
        max_frame_bytes: int = MAX_FRAME_BYTES,
        max_queued_bytes: int = MAX_QUEUED_BYTES,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 1.0,
        connect_timeout_s: float = 3.0,
    ) -> None:
        if self_id not in peers:
            raise ValueError(f"self id {self_id!r} is not among the peers ({', '.join(peers)})")
        self.self_id = self_id
        self.group = group
        self.max_frame_bytes = max_frame_bytes
        self.max_queued_bytes = max_queued_bytes
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.connect_timeout_s = connect_timeout_s
        self._peers = dict(peers)
        self._on_message = on_message
        self._links: dict[str, _Link] = {}
        self._inbound: dict[_Inbound, None] = {}
        self._senders: dict[str, _Inbound] = {}
        self._server: asyncio.Server | None = None
        self._tasks = TaskGroup(f"dledger-transport-{self_id}")
        self._running = False

    # ------------------------------------------------------------------ addresses

    @property
    def address(self) -> Address:
        """This node's address; after ``start`` with port 0, the port actually bound."""
        return self._peers[self.self_id]

    @property
    def peers(self) -> dict[str, Address]:
        return dict(self._peers)

    def peer_address(self, peer_id: str) -> Address:
        return self._peers[peer_id]

    def set_peer_address(self, peer_id: str, host: str, port: int) -> None:
        """Add a peer or move it (e.g. once its port-0 listener is bound).

        A connected link to the old address is dropped and reconnects to the new one.
        """
        if peer_id == self.self_id:
            raise ValueError(f"cannot move this node ({peer_id!r}) after it was created")
        if self._peers.get(peer_id) == (host, port):
            return
        self._peers[peer_id] = (host, port)
        link = self._links.get(peer_id)
        if link is not None:
            link.abort()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on this node's address (OSError if it cannot be bound).

        A transport starts once: after ``stop`` make a new one.
        """
        host, port = self.address
        loop = asyncio.get_running_loop()
        self._running = True
        try:
            self._server = await loop.create_server(lambda: _Inbound(self), host, port)
        except BaseException:
            self._running = False
            raise
        bound_port = self._server.sockets[0].getsockname()[1]
        self._peers[self.self_id] = (host, bound_port)
        log.info("dledger %s: listening on %s:%d", self.self_id, host, bound_port)

    async def stop(self) -> None:
        """Close the listener, every connection and every task; waits until they are gone."""
        self._running = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        closing = [inbound.closed for inbound in self._inbound]
        closing += [link.protocol.lost for link in self._links.values() if link.protocol]
        for inbound in list(self._inbound):
            inbound.abort()
        await self._tasks.close()  # each link's run() aborts its socket as it unwinds
        self._links.clear()
        if closing:  # the sockets are closed once connection_lost has run
            await asyncio.wait(closing, timeout=1.0)
        if server is not None:
            await server.wait_closed()

    # ------------------------------------------------------------------ sending

    def send(self, dst: str, payload: bytes) -> None:
        """Queue ``payload`` for peer ``dst``; drop it if that cannot be done at once."""
        link = self._links.get(dst)
        if link is None:
            link = self._open_link(dst)
            if link is None:
                return
        if len(payload) > self.max_frame_bytes:
            link.dropped += 1
            log.warning(
                "dledger %s: dropped a %d-byte message to %s: larger than %d",
                self.self_id,
                len(payload),
                dst,
                self.max_frame_bytes,
            )
            return
        link.send(payload)

    def _open_link(self, dst: str) -> _Link | None:
        if not self._running or dst == self.self_id or dst not in self._peers:
            log.debug("dledger %s: no link to %r; message dropped", self.self_id, dst)
            return None
        link = _Link(self, dst)
        self._links[dst] = link
        self._tasks.spawn(link.run(), f"dledger-link-{self.self_id}-{dst}")
        return link

    def is_connected(self, dst: str) -> bool:
        """True while the link to ``dst`` has a connection (the peer may still refuse it)."""
        link = self._links.get(dst)
        return link is not None and link.transport is not None and not link.transport.is_closing()

    def dropped(self, dst: str) -> int:
        """Messages to ``dst`` dropped so far (not connected, queue full, too large)."""
        link = self._links.get(dst)
        return link.dropped if link is not None else 0

    # ------------------------------------------------------------------ receiving

    def _inbound_opened(self, inbound: _Inbound) -> bool:
        if not self._running:
            return False
        self._inbound[inbound] = None
        return True

    def _inbound_closed(self, inbound: _Inbound) -> None:
        self._inbound.pop(inbound, None)
        if inbound.sender is not None and self._senders.get(inbound.sender) is inbound:
            del self._senders[inbound.sender]

    def _accept_hello(self, payload: bytes, inbound: _Inbound) -> str:
        group, sender, receiver = decode_hello(payload)
        if group != self.group:
            raise PeerFrameError(f"hello for group {group!r}, this is {self.group!r}")
        if receiver != self.self_id:
            raise PeerFrameError(f"hello for {receiver!r}, this is {self.self_id!r}")
        if sender == self.self_id or sender not in self._peers:
            raise PeerFrameError(f"hello from unknown peer {sender!r}")
        previous = self._senders.get(sender)
        self._senders[sender] = inbound
        if previous is not None:
            # The peer reconnected (it restarted, or its link broke): the old socket is stale.
            previous.abort()
        return sender

    def _deliver(self, sender: str, payload: bytes) -> None:
        try:
            self._on_message(sender, payload)
        except Exception:
            log.exception(
                "dledger %s: message handler failed on a message from %s", self.self_id, sender
            )


def _peer_name(transport: asyncio.BaseTransport) -> str:
    peer: Any = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
