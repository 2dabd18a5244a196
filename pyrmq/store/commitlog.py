"""CommitLog: the one append-only log every message of every topic is written to.

Mirrors RocketMQ 4.9.8's ``CommitLog`` with its ``DefaultAppendMessageCallback`` and
``MessageExtEncoder`` (store.md §2, §5.3, §5.5): encoding a message into its record and
appending it (queue offsets, delay-topic rewrite, the BLANK end-of-file filler), batches,
``checkMessageAndReturnSize`` (``check_record``), reads by offset, and normal/abnormal recovery.
Flushing, consume queues, the index and the checkpoint belong to others: recovery only reports
the end of valid data and re-dispatches through a callback.

Synchronous and lock-free on purpose: the event loop is the only writer, so "inside the put
lock" is simply "inside ``put_message``". The hot path (store.md §2.7) is one struct pack, one
join and one copy into the map per record; topic and host encodings are cached.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeAlias, cast

from pyrmq.common.clock import Clock
from pyrmq.common.message import (
    BORNHOST_V6_FLAG,
    PROPERTY_DELAY_TIME_LEVEL,
    PROPERTY_KEYS,
    PROPERTY_REAL_QUEUE_ID,
    PROPERTY_REAL_TOPIC,
    PROPERTY_TAGS,
    PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
    STOREHOSTADDRESS_V6_FLAG,
    TRANSACTION_PREPARED_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
    HostPort,
    properties_to_string,
    string_to_properties,
    tag_hash,
)
from pyrmq.common.message_codec import BLANK_MAGIC_CODE, MAGIC_CODE_V1, MAGIC_CODE_V2
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.dispatch_request import DispatchRequest
from pyrmq.store.mapped_file import MappedFile
from pyrmq.store.mapped_file_queue import MappedFileQueue
from pyrmq.store.results import AppendMessageResult, AppendMessageStatus, PutMessageStatus

log = logging.getLogger(__name__)

__all__ = [
    "END_FILE_MIN_BLANK_LENGTH",
    "SCHEDULE_TOPIC",
    "CommitLog",
    "MessageExtBatch",
    "MessageExtBrokerInner",
    "check_message",
    "check_messages",
    "parse_record",
]

ReadableBuffer: TypeAlias = bytes | bytearray | memoryview

#: TopicValidator.RMQ_SYS_SCHEDULE_TOPIC: where delayed messages wait (store.md §5.5).
SCHEDULE_TOPIC: Final = "SCHEDULE_TOPIC_XXXX"
#: A record is accepted only if this many bytes remain after it (room for the BLANK header).
END_FILE_MIN_BLANK_LENGTH: Final = 8
#: The properties length field is a signed short; a V1 topic length a signed byte.
MAX_PROPERTIES_LENGTH: Final = 32767
MAX_TOPIC_LENGTH: Final = 127
#: 4.9.5+: the body is limited by maxMessageSize, the whole record by that plus 64 KiB.
RECORD_RESERVE: Final = 64 * 1024

_HOST_V6_FLAGS: Final = BORNHOST_V6_FLAG | STOREHOSTADDRESS_V6_FLAG
_CRC_MASK: Final = 0x7FFFFFFF
_SYS_FLAG_POS: Final = 36
#: Start of BORNHOST; STORETIMESTAMP follows it (8 or 20 bytes later).
_BORN_HOST_POS: Final = 48
#: Batch wire entry: TOTALSIZE, MAGIC, BODYCRC (all ignored), FLAG, BODYLENGTH.
_BATCH_ITEM_HEAD: Final = struct.Struct(">12xii")
_BATCH_ITEM_HEAD_SIZE: Final = 20
_SIZE_MAGIC: Final = struct.Struct(">iI")
_I8: Final = struct.Struct(">b")
_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")
_I64: Final = struct.Struct(">q")
_PROPERTY_SEPARATOR_BYTE: Final = 0x02
#: Integer.parseInt's grammar (ASCII digits; Java also takes other Unicode digits, never sent).
_JAVA_INT: Final = re.compile(r"[+-]?[0-9]+")
#: The layout cache is dropped when it grows past this (many clients or topics).
_CACHE_LIMIT: Final = 4096


def _prefix_struct(born_len: int, store_len: int) -> struct.Struct:
    # Everything before the body, hosts as pre-packed ip+port bytes: TOTALSIZE, MAGIC, BODYCRC,
    # QUEUEID, FLAG, QUEUEOFFSET, PHYSICALOFFSET, SYSFLAG, BORNTIMESTAMP, BORNHOST,
    # STORETIMESTAMP, STOREHOST, RECONSUMETIMES, PREPARED_TRANSACTION_OFFSET, BODYLENGTH.
    return struct.Struct(f">iIiiiqqiq{born_len}sq{store_len}siqi")


#: The fields before the body, by the two IPv6 bits of SYSFLAG: 88 bytes, +12 per IPv6 host
#: (the 91-byte overhead of store.md §2.2 less the two length fields that follow the body).
_PREFIXES: Final = {
    0: _prefix_struct(8, 8),
    BORNHOST_V6_FLAG: _prefix_struct(20, 8),
    STOREHOSTADDRESS_V6_FLAG: _prefix_struct(8, 20),
    _HOST_V6_FLAGS: _prefix_struct(20, 20),
}


# --- messages to put ------------------------------------------------------------------------


@dataclass(slots=True)
class MessageExtBrokerInner:
    """Java ``MessageExtBrokerInner``: one message on its way into the commitlog.

    ``properties_string`` is what gets stored (the broker pre-encodes it, e.g. without WAIT);
    when None it is computed from ``properties`` in 4.9 form. ``put_message`` updates the
    message as Java does: store timestamp, IPv6 bits of ``sys_flag``, and for a delayed
    message topic, queue id, properties and properties string.
    """

    topic: str
    queue_id: int
    body: bytes
    flag: int = 0
    properties: dict[str, str] = field(default_factory=dict)
    properties_string: str | None = None
    sys_flag: int = 0
    born_timestamp: int = 0
    born_host: HostPort = ("0.0.0.0", 0)
    store_host: HostPort = ("0.0.0.0", 0)
    reconsume_times: int = 0
    prepared_transaction_offset: int = 0
    tags_code: int = 0
    store_timestamp: int = 0


@dataclass(slots=True)
class MessageExtBatch:
    """Java ``MessageExtBatch``: a SEND_BATCH_MESSAGE body for one topic and queue.

    ``body`` is the batch wire format (store.md §2.8); ``properties_string`` holds the request's
    own properties, which 4.9.7+ appends to every entry's properties.
    """

    topic: str
    queue_id: int
    body: bytes
    sys_flag: int = 0
    born_timestamp: int = 0
    born_host: HostPort = ("0.0.0.0", 0)
    store_host: HostPort = ("0.0.0.0", 0)
    properties_string: str = ""
    reconsume_times: int = 0
    store_timestamp: int = 0


def _java_length(text: str) -> int:
    """Java ``String.length``: UTF-16 code units."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _java_parse_int(text: str) -> int | None:
    """``Integer.parseInt``, None where Java throws NumberFormatException."""
    if not _JAVA_INT.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**31) <= value < 2**31 else None


def check_message(msg: MessageExtBrokerInner) -> PutMessageStatus | None:
    """``DefaultMessageStore.checkMessage``: None when the message may be put.

    Lengths are Java chars, as there; the UTF-8 byte limit of the properties is enforced by
    ``put_message`` (PROPERTIES_SIZE_EXCEEDED), as the 4.9 encoder does.
    """
    if _java_length(msg.topic) > MAX_TOPIC_LENGTH:
        return PutMessageStatus.MESSAGE_ILLEGAL
    text = msg.properties_string
    if text is not None and _java_length(text) > MAX_PROPERTIES_LENGTH:
        return PutMessageStatus.MESSAGE_ILLEGAL
    return None


def check_messages(batch: MessageExtBatch, max_message_size: int) -> PutMessageStatus | None:
    """``checkMessages`` plus the refusals of ``asyncPutMessages``: None when it may be put.

    Batches may not be transactional nor delayed (a DELAY in the request's properties).
    """
    if _java_length(batch.topic) > MAX_TOPIC_LENGTH or len(batch.body) > max_message_size:
        return PutMessageStatus.MESSAGE_ILLEGAL
    if batch.sys_flag & TRANSACTION_ROLLBACK_TYPE:
        return PutMessageStatus.MESSAGE_ILLEGAL
    delay = string_to_properties(batch.properties_string).get(PROPERTY_DELAY_TIME_LEVEL)
    if delay is not None:
        level = _java_parse_int(delay)
        if level is None or level > 0:
            return PutMessageStatus.MESSAGE_ILLEGAL
    return None


# --- encodings of topics and hosts ----------------------------------------------------------


def _encode_topic(topic: str) -> tuple[int, bytes] | None:
    """(magic, topic-length field + UTF-8 topic); V2 when the length does not fit a V1 byte."""
    data = topic.encode()
    if len(data) <= MAX_TOPIC_LENGTH:
        return MAGIC_CODE_V1, _I8.pack(len(data)) + data
    if len(data) <= MAX_PROPERTIES_LENGTH:
        return MAGIC_CODE_V2, _I16.pack(len(data)) + data
    return None


def _encode_host(host: HostPort) -> tuple[bytes, bool]:
    """(ip ‖ port as written in a record, is IPv6). ValueError for a bad address or port.

    An IPv4-mapped IPv6 peer (what a dual-stack socket reports) is written as IPv4, because
    Java's ``InetAddress`` turns such an address into an ``Inet4Address``.
    """
    address = ipaddress.ip_address(host[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    try:
        port = _I32.pack(host[1])
    except struct.error as exc:
        raise ValueError(f"port {host[1]} out of range") from exc
    return address.packed + port, address.version == 6


# --- reading a record -----------------------------------------------------------------------


def _end_of_data() -> DispatchRequest:
    return DispatchRequest(msg_size=-1, success=False)


def _tags_code(topic: str, props: dict[str, str], store_timestamp: int, levels: list[int]) -> int:
    """The consume-queue tagsCode: the tag hash, or for a delayed SCHEDULE_TOPIC_XXXX record
    its deliver time (level clamped to the max). ValueError for a non-numeric DELAY, as
    ``Integer.parseInt`` throws inside Java's try."""
    tags = props.get(PROPERTY_TAGS)
    code = tag_hash(tags) if tags else 0
    text = props.get(PROPERTY_DELAY_TIME_LEVEL) if topic == SCHEDULE_TOPIC else None
    if text is not None:
        level = _java_parse_int(text)
        if level is None:
            raise ValueError(f"DELAY {text!r} is not a number")
        level = min(level, len(levels))
        if level > 0:
            code = store_timestamp + levels[level - 1]
    return code


def _read_tail(
    view: memoryview, p: int, size: int, topic_len_size: int
) -> tuple[int, str, dict[str, str], int] | None:
    """Topic and properties after the body at ``p``: (topic length, topic, properties,
    properties length), or None where Java's reads would throw."""
    n = len(view)
    if p + topic_len_size > n:
        return None
    topic_len: int = (_I8 if topic_len_size == 1 else _I16).unpack_from(view, p)[0]
    p += topic_len_size
    if topic_len < 0 or topic_len > size or p + topic_len + 2 > n:
        return None
    # Java decodes with replacement, never failing; so does this.
    topic = str(view[p : p + topic_len], "utf-8", "replace")
    p += topic_len
    props_len: int = _I16.unpack_from(view, p)[0]
    p += 2
    if props_len <= 0:
        # Java skips a non-positive length and counts it as 0.
        return topic_len, topic, {}, 0
    if props_len > size or p + props_len > n:
        return None
    props = string_to_properties(str(view[p : p + props_len], "utf-8", "replace"))
    return topic_len, topic, props, props_len


def parse_record(
    buf: ReadableBuffer, pos: int, check_crc: bool, delay_levels_ms: list[int]
) -> DispatchRequest:
    """``checkMessageAndReturnSize`` of the record at ``pos``; never raises.

    BLANK → (0, success); bad magic, short or torn data → (-1, failure); fields that do not add
    up to TOTALSIZE → (TOTALSIZE, failure) so a reader can skip it; body CRC mismatch (when
    ``check_crc`` and the body is not empty) → (-1, failure). V1 and V2 records, either host
    family. ``delay_levels_ms`` gives the tagsCode (deliver time) of SCHEDULE_TOPIC_XXXX records.
    """
    try:
        return _parse_record(memoryview(buf), pos, check_crc, delay_levels_ms)
    except ValueError:
        return _end_of_data()  # a non-numeric DELAY: Java's parseInt throws inside its try
    except (struct.error, IndexError, TypeError):
        # The explicit bounds checks make this unreachable; it keeps the promise anyway.
        return _end_of_data()


def _parse_record(
    view: memoryview, pos: int, check_crc: bool, levels: list[int]
) -> DispatchRequest:
    n = len(view)
    if pos < 0 or pos + 8 > n:
        return _end_of_data()
    size, magic = _SIZE_MAGIC.unpack_from(view, pos)
    if magic == BLANK_MAGIC_CODE:
        return DispatchRequest(msg_size=0, success=True)
    if magic not in (MAGIC_CODE_V1, MAGIC_CODE_V2) or size < 0 or pos + _SYS_FLAG_POS + 4 > n:
        return _end_of_data()
    prefix = _PREFIXES[_I32.unpack_from(view, pos + _SYS_FLAG_POS)[0] & _HOST_V6_FLAGS]
    p = pos + prefix.size
    if p > n:
        return _end_of_data()
    (
        _, _, crc, queue_id, _, queue_offset, phy, sys_flag, _, _, store_ts, _, _, prepared,
        body_len,
    ) = prefix.unpack_from(view, pos)  # fmt: skip
    body_len = max(body_len, 0)  # Java neither reads nor counts a negative body length
    if body_len > size or p + body_len > n:
        return _end_of_data()
    if check_crc and body_len and zlib.crc32(view[p : p + body_len]) & _CRC_MASK != crc:
        log.warning("body CRC mismatch in the record at %d", pos)
        return _end_of_data()
    topic_len_size = 1 if magic == MAGIC_CODE_V1 else 2
    tail = _read_tail(view, p + body_len, size, topic_len_size)
    if tail is None:
        return _end_of_data()
    topic_len, topic, props, props_len = tail
    tags_code = _tags_code(topic, props, store_ts, levels)
    if size != prefix.size + body_len + topic_len_size + topic_len + 2 + props_len:
        log.error("[BUG] record at %d: fields do not add up to TOTALSIZE %d", pos, size)
        return DispatchRequest(msg_size=size, success=False)
    return DispatchRequest(
        msg_size=size,
        success=True,
        topic=topic,
        queue_id=queue_id,
        commit_log_offset=phy,
        tags_code=tags_code,
        store_timestamp=store_ts,
        consume_queue_offset=queue_offset,
        keys=props.get(PROPERTY_KEYS),
        uniq_key=props.get(PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX),
        sys_flag=sys_flag,
        prepared_transaction_offset=prepared,
        body_crc=crc,
    )


def _first_store_timestamp(view: memoryview) -> int | None:
    """STORETIMESTAMP of the record at the start of a file; None if it is not a message."""
    if len(view) < _BORN_HOST_POS + 20 + 8:
        return None
    if _SIZE_MAGIC.unpack_from(view, 0)[1] not in (MAGIC_CODE_V1, MAGIC_CODE_V2):
        return None
    born_len = 20 if _I32.unpack_from(view, _SYS_FLAG_POS)[0] & BORNHOST_V6_FLAG else 8
    value: int = _I64.unpack_from(view, _BORN_HOST_POS + born_len)[0]
    return value


# --- the commitlog --------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class _Layout:
    """How records of one (topic, born host, store host) are laid out: fixed per put."""

    prefix: struct.Struct
    #: The IPv6 bits of SYSFLAG these hosts need.
    v6_flags: int
    born: bytes
    store: bytes
    magic: int
    topic_field: bytes
    #: Bytes of a record besides body and properties.
    fixed: int
    #: Hex of the store host's ip ‖ port: the fixed half of every offset msgId.
    id_prefix: str


def _make_layout(topic: str, born_host: HostPort, store_host: HostPort) -> _Layout | None:
    """None when the topic cannot be written at all; ValueError for a bad host."""
    encoded_topic = _encode_topic(topic)
    if encoded_topic is None:
        return None
    born, born_v6 = _encode_host(born_host)
    store, store_v6 = _encode_host(store_host)
    v6 = (BORNHOST_V6_FLAG if born_v6 else 0) | (STOREHOSTADDRESS_V6_FLAG if store_v6 else 0)
    prefix = _PREFIXES[v6]
    magic, topic_field = encoded_topic
    fixed = prefix.size + len(topic_field) + 2
    return _Layout(prefix, v6, born, store, magic, topic_field, fixed, store.hex().upper())


class CommitLog:
    """The commitlog of one store: segments under ``config.commit_log_path``."""

    #: False here; True for a log whose owner flushes, recovers and cleans its files (DLedger).
    self_managed = False

    def __init__(self, config: MessageStoreConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._file_size = config.mapped_file_size_commit_log
        self._delay_levels = config.delay_levels_ms()
        self.mapped_file_queue = MappedFileQueue(config.commit_log_path, self._file_size)
        #: "topic-queueId" → next queue offset, assigned at append time (store.md §2.7).
        self.topic_queue_table: dict[str, int] = {}
        self._layouts: dict[tuple[str, HostPort, HostPort], _Layout] = {}

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> None:
        """Map the segments on disk (ValueError when a file has another segment size)."""
        self.mapped_file_queue.load()

    def shutdown(self) -> None:
        self.mapped_file_queue.shutdown()

    def flush_all(self) -> None:
        """Flush every written byte (the final flush at shutdown)."""
        while self.mapped_file_queue.flush(0):
            pass

    def has_data_files(self) -> bool:
        return bool(self.mapped_file_queue.files)

    def writable(self) -> bool:
        """Whether puts may append now (a DLedger log: only on a leader not handing over)."""
        return True

    def set_topic_queue_table(self, table: dict[str, int]) -> None:
        """Install the queue offsets rebuilt from the consume queues after recovery."""
        self.topic_queue_table = table

    # ------------------------------------------------------------------ offsets and reads

    def min_offset(self) -> int:
        return self.mapped_file_queue.min_offset()

    def max_offset(self) -> int:
        return self.mapped_file_queue.max_offset()

    def roll_next_file(self, offset: int) -> int:
        """Start of the segment after the one holding ``offset``."""
        return offset + self._file_size - offset % self._file_size

    def get_data(self, offset: int) -> memoryview | None:
        """Readable bytes from ``offset`` to the end of its segment's data (for dispatch).

        None when no segment holds ``offset`` or nothing is readable there yet. The view pins
        the map: release it when done.
        """
        mapped = self.mapped_file_queue.find_mapped_file_by_offset(offset, offset == 0)
        if mapped is None:
            return None
        pos = offset % self._file_size
        return mapped.slice(pos) if pos < mapped.read_position else None

    def get_message(self, offset: int, size: int) -> memoryview | None:
        """``size`` bytes at ``offset``, or None unless all of them are readable."""
        mapped = self.mapped_file_queue.find_mapped_file_by_offset(offset, offset == 0)
        if mapped is None:
            return None
        pos = offset % self._file_size
        return mapped.slice(pos, size) if pos + size <= mapped.read_position else None

    def pickup_store_timestamp(self, offset: int, size: int) -> int:
        """STORETIMESTAMP of the record at ``offset``, -1 if it cannot be read."""
        if offset < self.min_offset():
            return -1
        view = self.get_message(offset, size)
        if view is None:
            return -1
        with view:
            timestamp = _first_store_timestamp(view)
        return -1 if timestamp is None else timestamp

    def check_record(
        self, view: ReadableBuffer, pos: int, check_crc: bool, read_body: bool = False
    ) -> DispatchRequest:
        """``checkMessageAndReturnSize`` (see ``parse_record``).

        ``read_body`` is Java's flag; here the body is read exactly when its CRC is checked,
        so it changes nothing and exists for parity.
        """
        return parse_record(view, pos, check_crc, self._delay_levels)

    # ------------------------------------------------------------------ put: shared

    def _layout(
        self, topic: str, born_host: HostPort, store_host: HostPort
    ) -> _Layout | AppendMessageStatus:
        """The cached layout for these names (one dict lookup on the hot path)."""
        key = (topic, born_host, store_host)
        layout = self._layouts.get(key)
        if layout is None:
            try:
                made = _make_layout(topic, born_host, store_host)
            except ValueError:
                return AppendMessageStatus.UNKNOWN_ERROR
            if made is None:
                return AppendMessageStatus.MESSAGE_SIZE_EXCEEDED
            if len(self._layouts) >= _CACHE_LIMIT:
                self._layouts.clear()
            layout = self._layouts[key] = made
        return layout

    def _place(self, length: int) -> tuple[MappedFile | None, int, bool] | None:
        """(file, physical offset, needs a BLANK first) for ``length`` bytes of records.

        Nothing is written yet, so an encoding error later leaves the log untouched. None when
        the records could not fit even an empty segment.
        """
        mapped = self.mapped_file_queue.last_mapped_file()
        phy = mapped.file_from_offset + mapped.wrote_position
        if length + END_FILE_MIN_BLANK_LENGTH <= mapped.free_bytes:
            return mapped, phy, False
        if length + END_FILE_MIN_BLANK_LENGTH > self._file_size:
            return None
        return mapped, self.roll_next_file(phy), True

    def _write(
        self, mapped: MappedFile | None, phy: int, spill: bool, data: bytes, timestamp: int
    ) -> int:
        """Write one record placed at ``phy`` by ``_place``; the offset it landed at (``phy``;
        a log that places records itself, as DLedger's, returns its own)."""
        assert mapped is not None
        if spill:
            self._fill_blank(mapped)
            mapped = self.mapped_file_queue.last_mapped_file()
        mapped.append(data)
        mapped.store_timestamp = timestamp
        return phy

    def _fill_blank(self, mapped: MappedFile) -> None:
        """End a segment: [TOTALSIZE = free bytes][BLANK magic], the rest left as it is."""
        header = _SIZE_MAGIC.pack(mapped.free_bytes, BLANK_MAGIC_CODE)
        # Every record leaves >= 8 bytes free, so the header fits; the slice only keeps a
        # store written by something else from crashing the put.
        mapped.append(header[: mapped.free_bytes])
        mapped.mark_full()

    # ------------------------------------------------------------------ put: single message

    def _rewrite_delay(self, msg: MessageExtBrokerInner) -> bool:
        """Move a delayed message to SCHEDULE_TOPIC_XXXX (store.md §5.5); False if DELAY is
        not a number (Java's put throws there)."""
        level = _java_parse_int(msg.properties[PROPERTY_DELAY_TIME_LEVEL])
        if level is None:
            return False
        max_level = len(self._delay_levels)
        if level <= 0 or max_level == 0:
            return True
        props = msg.properties
        if level > max_level:
            level = max_level
            props[PROPERTY_DELAY_TIME_LEVEL] = str(level)
        props[PROPERTY_REAL_TOPIC] = msg.topic
        props[PROPERTY_REAL_QUEUE_ID] = str(msg.queue_id)
        msg.properties_string = properties_to_string(props)
        msg.topic = SCHEDULE_TOPIC
        msg.queue_id = level - 1
        return True

    def put_message(self, msg: MessageExtBrokerInner) -> AppendMessageResult:
        """Append one message (store.md §2.7); the result says where and under which msgId.

        MESSAGE_SIZE_EXCEEDED: body over maxMessageSize, record over that + 64 KiB or larger
        than a segment; PROPERTIES_SIZE_EXCEEDED: properties over 32767 UTF-8 bytes;
        UNKNOWN_ERROR: a field out of range, a bad host or a non-numeric DELAY.
        """
        consumable = not msg.sys_flag & TRANSACTION_PREPARED_TYPE  # NOT or COMMIT
        delayed = consumable and PROPERTY_DELAY_TIME_LEVEL in msg.properties
        if delayed and not self._rewrite_delay(msg):
            return AppendMessageResult(AppendMessageStatus.UNKNOWN_ERROR)
        text = msg.properties_string
        if text is None:
            text = msg.properties_string = properties_to_string(msg.properties)
        props, body = text.encode(), msg.body
        if len(props) > MAX_PROPERTIES_LENGTH:
            return AppendMessageResult(AppendMessageStatus.PROPERTIES_SIZE_EXCEEDED)
        if len(body) > self._config.max_message_size:
            return AppendMessageResult(AppendMessageStatus.MESSAGE_SIZE_EXCEEDED)
        layout = self._layout(msg.topic, msg.born_host, msg.store_host)
        if not isinstance(layout, _Layout):
            return AppendMessageResult(layout)
        length = layout.fixed + len(body) + len(props)
        place = None
        if length <= self._config.max_message_size + RECORD_RESERVE:
            place = self._place(length)
        if place is None:
            return AppendMessageResult(AppendMessageStatus.MESSAGE_SIZE_EXCEEDED)
        mapped, phy, spill = place
        key = f"{msg.topic}-{msg.queue_id}"
        queue_offset = self.topic_queue_table.get(key, 0) if consumable else 0
        sys_flag = (msg.sys_flag & ~_HOST_V6_FLAGS) | layout.v6_flags
        now = self._clock.now_ms()
        try:
            head = layout.prefix.pack(
                length, layout.magic, zlib.crc32(body) & _CRC_MASK, msg.queue_id, msg.flag,
                queue_offset, phy, sys_flag, msg.born_timestamp, layout.born, now, layout.store,
                msg.reconsume_times, msg.prepared_transaction_offset, len(body),
            )  # fmt: skip
        except struct.error:
            return AppendMessageResult(AppendMessageStatus.UNKNOWN_ERROR)
        msg.sys_flag, msg.store_timestamp = sys_flag, now
        record = b"".join((head, body, layout.topic_field, _I16.pack(len(props)), props))
        phy = self._write(mapped, phy, spill, record, now)
        if consumable:
            self.topic_queue_table[key] = queue_offset + 1
        else:
            # Java registers the key even for PREPARED/ROLLBACK, which never advance it.
            self.topic_queue_table.setdefault(key, 0)
        msg_id = f"{layout.id_prefix}{phy:016X}"
        return AppendMessageResult(
            AppendMessageStatus.PUT_OK, phy, length, msg_id, now, queue_offset
        )

    # ------------------------------------------------------------------ put: batch

    def put_messages(self, batch: MessageExtBatch) -> AppendMessageResult:
        """Append every entry of a batch as its own record (store.md §2.8), all in one segment.

        Consecutive queue and physical offsets, one store timestamp; ``msg_id`` lists the
        offset msgIds comma-separated, ``logics_offset`` is the first queue offset. Statuses as
        ``put_message``; a malformed batch body or a transactional batch → UNKNOWN_ERROR (the
        caller refuses the latter with ``check_messages`` first, as MESSAGE_ILLEGAL).
        """
        prepared = self._batch_entries(batch)
        if isinstance(prepared, AppendMessageResult):
            return prepared
        entries, key = prepared
        tail = self.mapped_file_queue.last_mapped_file()
        encoded = entries.encode(tail.file_from_offset + tail.wrote_position)
        if isinstance(encoded, AppendMessageStatus):
            return AppendMessageResult(encoded)
        place = self._place(encoded.total)
        if place is None:
            return AppendMessageResult(AppendMessageStatus.MESSAGE_SIZE_EXCEEDED)
        mapped, phy, spill = place
        if spill:
            # All or nothing per segment: encode again for the next one (once a segment).
            encoded = cast(_EncodedBatch, entries.encode(phy))
        batch.store_timestamp = entries.store_timestamp
        self._write(mapped, phy, spill, b"".join(encoded.parts), entries.store_timestamp)
        self.topic_queue_table[key] = entries.queue_offset + len(encoded.offsets)
        return AppendMessageResult(
            AppendMessageStatus.PUT_OK, phy, encoded.total,
            ",".join([f"{entries.layout.id_prefix}{offset:016X}" for offset in encoded.offsets]),
            entries.store_timestamp, entries.queue_offset, len(encoded.offsets),
        )  # fmt: skip

    def _batch_entries(
        self, batch: MessageExtBatch
    ) -> tuple[_BatchEntries, str] | AppendMessageResult:
        """A batch's checks; its entries (encodable at any offset) and its queue key."""
        if batch.sys_flag & TRANSACTION_ROLLBACK_TYPE:
            return AppendMessageResult(AppendMessageStatus.UNKNOWN_ERROR)
        batch_props = batch.properties_string.encode()
        if len(batch_props) > MAX_PROPERTIES_LENGTH:
            return AppendMessageResult(AppendMessageStatus.PROPERTIES_SIZE_EXCEEDED)
        if len(batch.body) > self._config.max_message_size:
            return AppendMessageResult(AppendMessageStatus.MESSAGE_SIZE_EXCEEDED)
        layout = self._layout(batch.topic, batch.born_host, batch.store_host)
        if not isinstance(layout, _Layout):
            return AppendMessageResult(layout)
        key = f"{batch.topic}-{batch.queue_id}"
        entries = _BatchEntries(
            layout, batch, batch_props, self._clock.now_ms(), self.topic_queue_table.get(key, 0)
        )
        return entries, key

    # ------------------------------------------------------------------ recovery

    def _scan(self, index: int, dispatch: Callable[[DispatchRequest], None] | None) -> int:
        """Walk the records from the start of file ``index``; return the end of valid data.

        A BLANK moves to the next file (its start does not count as data until a record is
        read there); the first failure of any kind ends the scan.
        """
        files = self.mapped_file_queue.files
        check_crc = self._config.check_crc_on_recover
        mapped, pos = files[index], 0
        while True:
            request = parse_record(mapped.view, pos, check_crc, self._delay_levels)
            if not request.success:
                log.info("recovery: valid data of %s ends at %d", mapped.path.name, pos)
                break
            if request.msg_size > 0:
                pos += request.msg_size
                if dispatch is not None:
                    dispatch(request)
                continue
            index += 1
            if index >= len(files):
                break
            mapped, pos = files[index], 0
        return mapped.file_from_offset + pos

    def recover(
        self,
        last_exit_ok: bool,
        max_phy_offset_of_cq: int,
        min_timestamp: int,
        dispatch: Callable[[DispatchRequest], None],
    ) -> int:
        """Normal recovery after a clean exit, abnormal after a crash; the end of valid data."""
        if last_exit_ok:
            return self.recover_normally(max_phy_offset_of_cq)
        return self.recover_abnormally(max_phy_offset_of_cq, min_timestamp, dispatch)

    def _truncate(self, process_offset: int) -> int:
        # Later segments go, the containing one is cut; flushed/committed follow.
        self.mapped_file_queue.truncate_dirty_files(process_offset)
        return process_offset

    def recover_normally(self, max_phy_offset_of_cq: int) -> int:
        """Recovery after a clean shutdown: scan from the 3rd-to-last file, truncate, return the
        end of valid data (the caller truncates consume queues if ``max_phy_offset_of_cq`` is
        at or past it, and destroys them when the log has no files).

        ===========================  ==================================================
        case                         result
        ===========================  ==================================================
        clean end                    first all-zero header (magic 0) ends the scan
        BLANK at the end of a file   continue at the next file's start
        BLANK in the last file       end = the BLANK's position (it is rewritten later)
        torn tail                    bad magic / short / fields ≠ TOTALSIZE: end before it
        bad CRC mid-file             (checkCRCOnRecover) end before that record; later
                                     files are deleted
        all-zero region              magic 0 → end
        empty directory              0, nothing to truncate
        last file exactly full       a file always ends in a BLANK ≥ 8 bytes, so this is
                                     "BLANK in the last file"
        ===========================  ==================================================
        """
        files = self.mapped_file_queue.files
        if not files:
            log.info("no commitlog files: the consume queues must go too")
            return self._truncate(0)
        offset = self._scan(max(0, len(files) - 3), None)
        self._log_cq_overlap(max_phy_offset_of_cq, offset)
        return self._truncate(offset)

    def recover_abnormally(
        self,
        max_phy_offset_of_cq: int,
        min_timestamp: int,
        dispatch: Callable[[DispatchRequest], None],
    ) -> int:
        """Recovery after a crash: like ``recover_normally`` (same table of cases), but start at
        the newest file whose first record is a message stored at or before ``min_timestamp``
        (checkpoint minTimestamp, or minTimestampIndex when the index must be safe; else the
        first file) and re-dispatch every valid record through ``dispatch`` (the consume queue
        and index skip what they already hold).
        """
        files = self.mapped_file_queue.files
        if not files:
            log.info("no commitlog files: the consume queues must go too")
            return self._truncate(0)
        offset = self._scan(self._abnormal_start(min_timestamp), dispatch)
        self._log_cq_overlap(max_phy_offset_of_cq, offset)
        return self._truncate(offset)

    def _abnormal_start(self, min_timestamp: int) -> int:
        """isMappedFileMatchedRecover, newest file first; the first file when none matches."""
        files = self.mapped_file_queue.files
        for index in range(len(files) - 1, -1, -1):
            stored = _first_store_timestamp(files[index].view)
            if stored is not None and stored != 0 and stored <= min_timestamp:
                log.info("abnormal recovery starts at %s", files[index].path.name)
                return index
        return 0

    @staticmethod
    def _log_cq_overlap(max_phy_offset_of_cq: int, process_offset: int) -> None:
        if max_phy_offset_of_cq >= process_offset:
            log.warning(
                "maxPhyOffsetOfConsumeQueue %d >= processOffset %d: consume queues need truncating",
                max_phy_offset_of_cq,
                process_offset,
            )


@dataclass(slots=True)
class _EncodedBatch:
    parts: list[bytes | memoryview]
    offsets: list[int]
    total: int


class _BatchEntries:
    """The entries of one batch request, encodable at a given physical offset."""

    __slots__ = ("batch", "batch_props", "layout", "queue_offset", "store_timestamp")

    def __init__(
        self,
        layout: _Layout,
        batch: MessageExtBatch,
        batch_props: bytes,
        store_timestamp: int,
        queue_offset: int,
    ) -> None:
        self.layout = layout
        self.batch = batch
        self.batch_props = batch_props
        self.store_timestamp = store_timestamp
        self.queue_offset = queue_offset

    def encode(self, phy: int) -> _EncodedBatch | AppendMessageStatus:
        """The records starting at ``phy``: parts to join, their offsets, total length.

        The batched hot path, one tight loop: entry header, body CRC, one pack per record;
        bodies and properties stay views of the request until the single join. Entry
        properties are kept byte for byte, the request's appended after a separator when the
        entry's do not already end in one (4.9.7).
        """
        layout, batch, batch_props = self.layout, self.batch, self.batch_props
        pack, magic, fixed, store = layout.prefix.pack, layout.magic, layout.fixed, layout.store
        queue_id, born_ts, born, reconsume = (
            batch.queue_id, batch.born_timestamp, layout.born, batch.reconsume_times
        )  # fmt: skip
        sys_flag = (batch.sys_flag & ~_HOST_V6_FLAGS) | layout.v6_flags
        now, queue_offset, topic_field = self.store_timestamp, self.queue_offset, layout.topic_field
        # Globals bound to locals: this loop runs once per message of every batch.
        unpack_head, unpack_i16, pack_i16, crc32 = (
            _BATCH_ITEM_HEAD.unpack_from, _I16.unpack_from, _I16.pack, zlib.crc32
        )  # fmt: skip
        sep_props = b"\x02" + batch_props
        view = memoryview(batch.body)
        parts: list[bytes | memoryview] = []
        offsets: list[int] = []
        n, pos, start = len(view), 0, phy
        try:
            while pos < n:
                flag, body_len = unpack_head(view, pos)
                body_pos = pos + _BATCH_ITEM_HEAD_SIZE
                body_end = body_pos + body_len
                props_len: int = unpack_i16(view, body_end)[0] if body_len >= 0 else -1
                pos = body_end + 2 + props_len
                if props_len < 0 or pos > n:
                    return AppendMessageStatus.UNKNOWN_ERROR
                extra = batch_props
                if props_len and batch_props and view[pos - 1] != _PROPERTY_SEPARATOR_BYTE:
                    extra = sep_props
                total_props = props_len + len(extra)
                if total_props > MAX_PROPERTIES_LENGTH:
                    return AppendMessageStatus.PROPERTIES_SIZE_EXCEEDED
                body = view[body_pos:body_end]
                length = fixed + body_len + total_props
                parts += (
                    pack(
                        length, magic, crc32(body) & _CRC_MASK, queue_id, flag, queue_offset,
                        phy, sys_flag, born_ts, born, now, store, reconsume, 0, body_len,
                    ),
                    body, topic_field, pack_i16(total_props), view[body_end + 2 : pos], extra,
                )  # fmt: skip
                offsets.append(phy)
                phy += length
                queue_offset += 1
        except struct.error:
            # An entry header running past the body's end, or a batch field out of range.
            return AppendMessageStatus.UNKNOWN_ERROR
        return _EncodedBatch(parts, offsets, phy - start)
