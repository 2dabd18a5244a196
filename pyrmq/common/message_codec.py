"""Message byte layouts: stored records, batch bodies, message ids, body CRC and compression.

Mirrors ``MessageDecoder`` (stored record encode/decode, ``encodeMessages``/``decodeMessages``,
``createMessageId``/``decodeMessageId``), ``MessageClientIDSetter`` (UNIQ_KEY) and the ZLIB
``Compressor`` of RocketMQ 4.9.8, plus the 5.1+ V2 record magic (``MessageVersion``) so 5.x stores
and bodies can be read. Layouts: protocol.md §4.4-§4.7 and §4.9, store.md §2.2. Sans-IO: values
and bytes in, values and bytes out; every malformed input raises ``MessageDecodeError``.
"""

from __future__ import annotations

import ipaddress
import itertools
import struct
import zlib
from collections.abc import Iterable
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Final, TypeAlias

from pyrmq.common.clock import Clock
from pyrmq.common.message import (
    BORNHOST_V6_FLAG,
    COMPRESSED_FLAG,
    COMPRESSION_TYPE_ZLIB,
    STOREHOSTADDRESS_V6_FLAG,
    HostPort,
    Message,
    MessageExt,
    get_compression_type,
    properties_to_string,
    string_to_properties,
)

__all__ = [
    "BLANK_MAGIC_CODE",
    "MAGIC_CODE_V1",
    "MAGIC_CODE_V2",
    "MessageDecodeError",
    "MessageEncodeError",
    "UniqueIdGenerator",
    "body_crc",
    "compress_body",
    "decode_batch",
    "decode_offset_msg_id",
    "decode_stored_message",
    "decode_stored_messages",
    "decompress_body",
    "encode_batch",
    "encode_stored_message",
    "offset_msg_id",
    "unique_id",
    "unique_id_timestamp",
]

ReadableBuffer: TypeAlias = bytes | bytearray | memoryview

#: MessageDecoder.MESSAGE_MAGIC_CODE (-626843481): 1-byte topic length. All 4.x records.
MAGIC_CODE_V1: Final = 0xDAA320A7
#: MessageDecoder.MESSAGE_MAGIC_CODE_V2 (-626843477, 5.1.0+): 2-byte topic length.
MAGIC_CODE_V2: Final = 0xDAA320AB
#: End-of-file filler of a commitlog segment; never a message.
BLANK_MAGIC_CODE: Final = 0xCBD43194

#: Longest topic a V1 record can hold: its length field is a signed byte.
_V1_MAX_TOPIC_BYTES: Final = 127
_MAX_I16: Final = 32767
_HOST_V6_FLAGS: Final = BORNHOST_V6_FLAG | STOREHOSTADDRESS_V6_FLAG
#: Offset of SYSFLAG, which decides the host field widths and so the rest of the layout.
_SYS_FLAG_POS: Final = 36

_SIZE_MAGIC = struct.Struct(">iI")
_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_PORT_OFFSET = struct.Struct(">iq")
_BATCH_HEAD = struct.Struct(">iiiii")
_UNIQ_FIXED = struct.Struct(">HI")
_UNIQ_TIME = struct.Struct(">I")


def _prefix_struct(born_ip_len: int, store_ip_len: int) -> struct.Struct:
    # TOTALSIZE, MAGIC, BODYCRC, QUEUEID, FLAG, QUEUEOFFSET, PHYSICALOFFSET, SYSFLAG,
    # BORNTIMESTAMP, BORNHOST ip+port, STORETIMESTAMP, STOREHOST ip+port, RECONSUMETIMES,
    # PREPARED_TRANSACTION_OFFSET, BODYLENGTH: everything before the body, in one unpack.
    return struct.Struct(f">iIiiiqqiq{born_ip_len}siq{store_ip_len}siiqi")


#: The fixed fields before the body, by the two IPv6 bits of SYSFLAG.
_PREFIXES: Final = {
    0: _prefix_struct(4, 4),
    BORNHOST_V6_FLAG: _prefix_struct(16, 4),
    STOREHOSTADDRESS_V6_FLAG: _prefix_struct(4, 16),
    _HOST_V6_FLAGS: _prefix_struct(16, 16),
}
_MIN_PREFIX: Final = _PREFIXES[0].size


class MessageDecodeError(ValueError):
    """Bytes that are not a valid stored record / batch entry / id; the reason says why."""


class MessageEncodeError(ValueError):
    """A value that cannot be written in the layout (topic or properties too long, bad host)."""


# --- CRC and compression ---------------------------------------------------------------------


def body_crc(body: ReadableBuffer) -> int:
    """``UtilAll.crc32``: CRC32 masked to 31 bits (the record's BODYCRC, pitfall §8.6)."""
    return zlib.crc32(body) & 0x7FFFFFFF


def compress_body(body: bytes, level: int = 5) -> bytes:
    """ZLIB-compress a body (RFC 1950 stream, Java ``Deflater``); 5 is the Java default level.

    The caller marks the message with ``message.mark_compressed(sys_flag)``.
    """
    return zlib.compress(body, level)


def decompress_body(body: ReadableBuffer, sys_flag: int = COMPRESSED_FLAG) -> bytes:
    """Undo ``compress_body``; ``sys_flag`` picks the algorithm (type 0 or 3 = ZLIB).

    LZ4 and ZSTD (types 1, 2) are not in the stdlib and raise. Like Java's
    ``InflaterInputStream``, bytes after the end of the stream are ignored.
    """
    try:
        kind = get_compression_type(sys_flag)
    except ValueError as exc:
        raise MessageDecodeError(str(exc)) from None
    if kind != COMPRESSION_TYPE_ZLIB:
        raise MessageDecodeError(f"compression type {kind} (LZ4=1, ZSTD=2) is not supported")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(body)
    except zlib.error as exc:
        raise MessageDecodeError(f"compressed body is not a zlib stream: {exc}") from None
    if not inflater.eof:
        raise MessageDecodeError("compressed body ends before its zlib stream does")
    return data


# --- hosts and offset message ids ------------------------------------------------------------


@lru_cache(maxsize=256)
def _ip_bytes(host: str) -> bytes:
    # A broker writes the same few hosts over and over: parse each literal once.
    try:
        return ipaddress.ip_address(host).packed
    except ValueError:
        raise MessageEncodeError(f"host {host!r} is not an IPv4 or IPv6 address") from None


def _ip_text(packed: bytes) -> str:
    if len(packed) == 4:
        return ".".join(map(str, packed))
    return str(ipaddress.IPv6Address(packed))


def _msg_id(ip: bytes, port: int, offset: int) -> str:
    try:
        return (ip + _PORT_OFFSET.pack(port, offset)).hex().upper()
    except struct.error as exc:
        raise MessageEncodeError(f"port {port} or offset {offset} out of range: {exc}") from None


def offset_msg_id(store_host: HostPort, commit_log_offset: int) -> str:
    """The broker's msgId: uppercase hex of store IP ‖ port (i32) ‖ commitlog offset (i64).

    32 characters for an IPv4 store host, 56 for IPv6 (``MessageDecoder.createMessageId``).
    """
    return _msg_id(_ip_bytes(store_host[0]), store_host[1], commit_log_offset)


def decode_offset_msg_id(msg_id: str) -> tuple[str, int, int]:
    """(store host, port, commitlog offset) of an offset msgId (``decodeMessageId``).

    Like Java, 32 characters mean IPv4 and anything else IPv6; a port outside 0-65535 is refused
    as ``InetSocketAddress`` refuses it, which is what makes a UNIQ_KEY fail fast here.
    """
    try:
        raw = bytes.fromhex(msg_id)
    except ValueError:
        raise MessageDecodeError(f"msgId {msg_id!r} is not hexadecimal") from None
    ip_len = 4 if len(msg_id) == 32 else 16
    if len(raw) != ip_len + _PORT_OFFSET.size:
        raise MessageDecodeError(f"msgId {msg_id!r} has {len(raw)} bytes, not 16 or 28")
    port, offset = _PORT_OFFSET.unpack_from(raw, ip_len)
    if not 0 <= port <= 0xFFFF:
        raise MessageDecodeError(f"msgId {msg_id!r} holds port {port}, not an offset msgId")
    return _ip_text(raw[:ip_len]), port, offset


# --- stored record: decode -------------------------------------------------------------------


def _read_header(buf: ReadableBuffer, offset: int) -> tuple[int, int]:
    """TOTALSIZE and the topic-length width, after checking the magic and the available bytes."""
    available = len(buf) - offset
    if available < _SIZE_MAGIC.size:
        raise MessageDecodeError(f"truncated record: {available} bytes, need 8 for size+magic")
    size, magic = _SIZE_MAGIC.unpack_from(buf, offset)
    if magic == MAGIC_CODE_V1:
        topic_len_size = 1
    elif magic == MAGIC_CODE_V2:
        topic_len_size = 2
    elif magic == BLANK_MAGIC_CODE:
        raise MessageDecodeError("BLANK magic: end-of-file filler, not a message")
    else:
        raise MessageDecodeError(f"bad magic code {magic:#010x} at offset {offset}")
    if size > available:
        raise MessageDecodeError(f"truncated record: TOTALSIZE {size}, {available} bytes left")
    if size < _MIN_PREFIX + topic_len_size + 2:
        raise MessageDecodeError(f"TOTALSIZE {size} is smaller than the fixed fields")
    return size, topic_len_size


def _skip(pos: int, length: int, end: int, what: str) -> int:
    """Position after a ``length``-byte field at ``pos`` that must end by ``end``."""
    if length < 0 or pos + length > end:
        raise MessageDecodeError(f"{what} length {length} runs past the record end")
    return pos + length


def _read_length(buf: ReadableBuffer, pos: int, end: int, width: int, what: str) -> int:
    if pos + width > end:
        raise MessageDecodeError(f"{what} length field runs past the record end")
    field = _I8 if width == 1 else _I16
    value: int = field.unpack_from(buf, pos)[0]
    return value


def _read_tail(
    view: memoryview, pos: int, end: int, body_len: int, topic_len_size: int
) -> tuple[int, str, dict[str, str]]:
    """Body start, topic and properties; checks the fields add up to TOTALSIZE exactly."""
    body_pos = pos
    pos = _skip(pos, body_len, end, "body")
    topic_len = _read_length(view, pos, end, topic_len_size, "topic")
    pos += topic_len_size
    topic_pos, pos = pos, _skip(pos, topic_len, end, "topic")
    props_len = _read_length(view, pos, end, 2, "properties")
    props_pos, pos = pos + 2, _skip(pos + 2, props_len, end, "properties")
    if pos != end:
        raise MessageDecodeError(f"fields end {end - pos} bytes before TOTALSIZE says")
    try:
        topic = str(view[topic_pos : topic_pos + topic_len], "utf-8")
        props = string_to_properties(str(view[props_pos:pos], "utf-8"))
    except UnicodeDecodeError as exc:
        raise MessageDecodeError(f"topic or properties are not UTF-8: {exc}") from None
    return body_pos, topic, props


def _read_body(body: memoryview, sys_flag: int, read_body: bool, decompress: bool) -> bytes:
    if not read_body:
        return b""
    if decompress and sys_flag & COMPRESSED_FLAG:
        return decompress_body(body, sys_flag)
    return bytes(body)


def decode_stored_message(
    buf: ReadableBuffer,
    offset: int = 0,
    *,
    read_body: bool = True,
    check_crc: bool = False,
    decompress: bool = False,
) -> tuple[MessageExt, int]:
    """Decode the record at ``offset``; return it and its size (TOTALSIZE).

    ``msg_id`` is filled with the offset msgId. ``check_crc`` verifies BODYCRC against the body
    as stored (non-empty bodies only, as ``checkMessageAndReturnSize``); ``decompress`` inflates a
    body whose sysFlag bit 0 is set (the sysFlag is left as stored, like ``MessageDecoder``).
    Stricter than Java's ``decode``: the fields must add up to TOTALSIZE exactly.
    """
    view = memoryview(buf)
    size, topic_len_size = _read_header(view, offset)
    sys_flag: int = _I32.unpack_from(view, offset + _SYS_FLAG_POS)[0]
    prefix = _PREFIXES[sys_flag & _HOST_V6_FLAGS]
    end = offset + size
    if prefix.size + topic_len_size + 2 > size:
        raise MessageDecodeError(f"TOTALSIZE {size} is smaller than the fixed fields")
    (
        _, _, crc, queue_id, flag, queue_offset, phys, _, born_ts, born_ip, born_port,
        store_ts, store_ip, store_port, reconsume, prepared, body_len,
    ) = prefix.unpack_from(view, offset)  # fmt: skip
    body_pos, topic, props = _read_tail(view, offset + prefix.size, end, body_len, topic_len_size)
    body_view = view[body_pos : body_pos + body_len]
    if check_crc and body_len > 0 and body_crc(body_view) != crc:
        raise MessageDecodeError(f"body CRC {body_crc(body_view)} does not match BODYCRC {crc}")
    return MessageExt(
        topic=topic,
        body=_read_body(body_view, sys_flag, read_body, decompress),
        flag=flag,
        properties=props,
        queue_id=queue_id,
        store_size=size,
        queue_offset=queue_offset,
        sys_flag=sys_flag,
        born_timestamp=born_ts,
        born_host=(_ip_text(born_ip), born_port),
        store_timestamp=store_ts,
        store_host=(_ip_text(store_ip), store_port),
        msg_id=_msg_id(store_ip, store_port, phys),
        commit_log_offset=phys,
        body_crc=crc,
        reconsume_times=reconsume,
        prepared_transaction_offset=prepared,
    ), size


def decode_stored_messages(
    buf: ReadableBuffer,
    *,
    read_body: bool = True,
    check_crc: bool = False,
    decompress: bool = False,
    stop_at_error: bool = False,
) -> list[MessageExt]:
    """Every record of a pull / query body (records back to back).

    A bad record raises, unless ``stop_at_error``: then, like Java's ``MessageDecoder.decodes``,
    the records before it are returned and the rest of the body is ignored.
    """
    messages: list[MessageExt] = []
    pos = 0
    while pos < len(buf):
        try:
            msg, size = decode_stored_message(
                buf, pos, read_body=read_body, check_crc=check_crc, decompress=decompress
            )
        except MessageDecodeError:
            if stop_at_error:
                break
            raise
        messages.append(msg)
        pos += size
    return messages


# --- stored record: encode -------------------------------------------------------------------


def _topic_magic(topic: bytes, magic: int | None) -> int:
    """The magic to write: V1 unless the topic does not fit its signed-byte length.

    5.1+ brokers switch to V2 when the topic has more than 127 *chars*; topic names are ASCII
    (``TopicValidator``), so counting UTF-8 bytes gives the same answer and never writes a
    V1 record whose length byte would overflow.
    """
    if magic is None:
        return MAGIC_CODE_V1 if len(topic) <= _V1_MAX_TOPIC_BYTES else MAGIC_CODE_V2
    if magic == MAGIC_CODE_V1 and len(topic) > _V1_MAX_TOPIC_BYTES:
        raise MessageEncodeError(f"topic of {len(topic)} bytes does not fit a V1 record")
    if magic == MAGIC_CODE_V2 and len(topic) > _MAX_I16:
        raise MessageEncodeError(f"topic of {len(topic)} bytes does not fit a V2 record")
    if magic not in (MAGIC_CODE_V1, MAGIC_CODE_V2):
        raise MessageEncodeError(f"magic {magic:#x} is neither V1 nor V2")
    return magic


def _properties_bytes(props: dict[str, str], trailing_separator: bool) -> bytes:
    data = properties_to_string(props, trailing_separator=trailing_separator).encode()
    if len(data) > _MAX_I16:
        raise MessageEncodeError(f"properties of {len(data)} bytes exceed {_MAX_I16}")
    return data


def encode_stored_message(
    msg: MessageExt,
    *,
    magic: int | None = None,
    trailing_separator: bool = False,
    recompute_crc: bool = True,
) -> bytes:
    """The commitlog record of ``msg`` (``MessageDecoder.encode`` / the broker's encoder).

    TOTALSIZE is computed (``store_size`` and ``msg_id`` are ignored); BODYCRC is computed from
    the body unless ``recompute_crc=False`` (then ``msg.body_crc`` is written). The IPv6 bits of
    SYSFLAG are set from the host addresses, as ``CommitLog.putMessage`` does, so a host of
    either family is always written coherently. The body is written as given (already
    compressed if sysFlag bit 0 says so). ``trailing_separator``: see ``properties_to_string``.
    """
    topic = msg.topic.encode()
    magic = _topic_magic(topic, magic)
    props = _properties_bytes(msg.properties, trailing_separator)
    born_ip, store_ip = _ip_bytes(msg.born_host[0]), _ip_bytes(msg.store_host[0])
    sys_flag = msg.sys_flag & ~_HOST_V6_FLAGS
    sys_flag |= (BORNHOST_V6_FLAG if len(born_ip) == 16 else 0) | (
        STOREHOSTADDRESS_V6_FLAG if len(store_ip) == 16 else 0
    )
    prefix = _PREFIXES[sys_flag & _HOST_V6_FLAGS]
    topic_len = (_I8 if magic == MAGIC_CODE_V1 else _I16).pack(len(topic))
    size = prefix.size + len(msg.body) + len(topic_len) + len(topic) + 2 + len(props)
    crc = body_crc(msg.body) if recompute_crc else msg.body_crc
    try:
        head = prefix.pack(
            size, magic, crc, msg.queue_id, msg.flag, msg.queue_offset, msg.commit_log_offset,
            sys_flag, msg.born_timestamp, born_ip, msg.born_host[1], msg.store_timestamp,
            store_ip, msg.store_host[1], msg.reconsume_times, msg.prepared_transaction_offset,
            len(msg.body),
        )  # fmt: skip
    except struct.error as exc:
        raise MessageEncodeError(f"a field is out of range for its width: {exc}") from None
    return b"".join((head, msg.body, topic_len, topic, _I16.pack(len(props)), props))


# --- batch body (SEND_BATCH_MESSAGE) ---------------------------------------------------------


def _encode_batch_entry(msg: Message, trailing_separator: bool) -> bytes:
    props = _properties_bytes(msg.properties, trailing_separator)
    size = _BATCH_HEAD.size + len(msg.body) + 2 + len(props)
    try:
        # MAGICCODE and BODYCRC are written as 0: the broker ignores the first and computes
        # the second (encodeMessage).
        head = _BATCH_HEAD.pack(size, 0, 0, msg.flag, len(msg.body))
    except struct.error as exc:
        raise MessageEncodeError(f"flag {msg.flag} is out of range: {exc}") from None
    return b"".join((head, msg.body, _I16.pack(len(props)), props))


def encode_batch(messages: Iterable[Message], *, trailing_separator: bool = False) -> bytes:
    """``MessageDecoder.encodeMessages``: one entry per message; topics are not written."""
    return b"".join(_encode_batch_entry(msg, trailing_separator) for msg in messages)


def _decode_batch_entry(view: memoryview, pos: int, topic: str) -> tuple[Message, int]:
    end = len(view)
    if pos + _BATCH_HEAD.size > end:
        raise MessageDecodeError(f"truncated batch entry at {pos}: {end - pos} bytes left")
    _, _, _, flag, body_len = _BATCH_HEAD.unpack_from(view, pos)
    body_pos = pos + _BATCH_HEAD.size
    pos = _skip(body_pos, body_len, end, "batch entry body")
    props_len = _read_length(view, pos, end, 2, "batch entry properties")
    props_pos, pos = pos + 2, _skip(pos + 2, props_len, end, "batch entry properties")
    try:
        props = string_to_properties(str(view[props_pos:pos], "utf-8"))
    except UnicodeDecodeError as exc:
        raise MessageDecodeError(f"batch entry properties are not UTF-8: {exc}") from None
    return Message(topic, bytes(view[body_pos : body_pos + body_len]), flag, props), pos


def decode_batch(body: ReadableBuffer, *, topic: str = "") -> list[Message]:
    """``MessageDecoder.decodeMessages``: the entries of a batch body, given ``topic``.

    Read field by field: TOTALSIZE, MAGICCODE and BODYCRC are ignored, as the Java broker and
    decoder ignore them.
    """
    view = memoryview(body)
    messages: list[Message] = []
    pos = 0
    while pos < len(view):
        msg, pos = _decode_batch_entry(view, pos, topic)
        messages.append(msg)
    return messages


# --- UNIQ_KEY (MessageClientIDSetter) --------------------------------------------------------


def unique_id(ip: bytes, pid: int, class_loader_hash: int, ms_in_month: int, counter: int) -> str:
    """The UNIQ_KEY layout: IP (4/16) ‖ pid (u16) ‖ class-loader hash (i32) ‖ ms into the month
    (i32) ‖ counter (u16), uppercase hex. Out-of-range numbers are truncated as Java's casts do.
    """
    fixed = _UNIQ_FIXED.pack(pid & 0xFFFF, class_loader_hash & 0xFFFFFFFF)
    return (ip + fixed).hex().upper() + f"{ms_in_month & 0xFFFFFFFF:08X}{counter & 0xFFFF:04X}"


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _month_bounds(now_ms: int, tz: tzinfo | None) -> tuple[int, int]:
    """Start of the month containing ``now_ms`` and of the next one (``tz`` None = local time)."""
    start = datetime.fromtimestamp(now_ms / 1000, tz).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    if start.month == 12:
        following = start.replace(year=start.year + 1, month=1)
    else:
        following = start.replace(month=start.month + 1)
    return _epoch_ms(start), _epoch_ms(following)


def _to_i32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 0x1_0000_0000 if value & 0x8000_0000 else value


class UniqueIdGenerator:
    """``MessageClientIDSetter.createUniqID`` for one client: ids unique per process and month.

    ``ip``/``pid``/``class_loader_hash`` make the fixed prefix; the clock gives the time part
    (milliseconds since the start of the current month, ``tz`` None = local time as Java's
    ``Calendar``); the counter starts at ``counter`` and wraps at 16 bits.
    """

    __slots__ = ("_clock", "_counter", "_next_start", "_prefix", "_start", "_tz")

    def __init__(
        self,
        ip: bytes,
        pid: int,
        class_loader_hash: int,
        clock: Clock,
        *,
        counter: int = 0,
        tz: tzinfo | None = None,
    ) -> None:
        if len(ip) not in (4, 16):
            raise ValueError(f"ip must be 4 or 16 bytes, not {len(ip)}")
        self._prefix = (ip + _UNIQ_FIXED.pack(pid & 0xFFFF, class_loader_hash & 0xFFFFFFFF)).hex()
        self._prefix = self._prefix.upper()
        self._clock = clock
        self._counter = itertools.count(counter)
        self._tz = tz
        self._start, self._next_start = _month_bounds(clock.now_ms(), tz)

    def next_id(self) -> str:
        now = self._clock.now_ms()
        if now >= self._next_start:
            self._start, self._next_start = _month_bounds(now, self._tz)
        diff = _to_i32(now - self._start)
        if -1_000_000 < diff < 0:
            # The clock stepped back over the month start (NTP): Java pins the id to 0 ms.
            diff = 0
        count = next(self._counter)
        return f"{self._prefix}{diff & 0xFFFFFFFF:08X}{count & 0xFFFF:04X}"


def unique_id_timestamp(uniq_id: str, now_ms: int, tz: tzinfo | None = None) -> int:
    """Approximate creation time (epoch ms) of a UNIQ_KEY, as ``getNearlyTimeFromID``.

    The id holds only ms into *some* month: this month's if that is not in the future of
    ``now_ms``, else last month's.
    """
    raw = bytes.fromhex(uniq_id)
    ip_len = 16 if len(raw) == 28 else 4
    span: int = _UNIQ_TIME.unpack_from(raw, ip_len + _UNIQ_FIXED.size)[0]
    start = _month_bounds(now_ms, tz)[0]
    if start + span >= now_ms:
        start = _month_bounds(start - 1, tz)[0]
    return start + span
