"""Message values: the user message, the stored message, property names, sysFlag bits, tag hash.

Owns what a message *is*, independent of any byte layout: ``Message`` (Java ``Message``),
``MessageExt`` (Java ``MessageExt``: everything a commitlog record carries), the reserved property
names (``MessageConst``, 4.9.8 set), the properties string (``MessageDecoder.
messageProperties2String`` / ``string2messageProperties``, protocol.md §4.1), the sysFlag bits and
helpers (``MessageSysFlag``, §4.3) and the tag hash used for filtering (Java ``String.hashCode``,
§4.8). The byte layouts live in ``pyrmq.common.message_codec``. Stdlib only, sans-IO.
"""

from __future__ import annotations

import array
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias

__all__ = [
    "BORNHOST_V6_FLAG",
    "COMPRESSED_FLAG",
    "COMPRESSION_LZ4_TYPE",
    "COMPRESSION_TYPE_COMPARATOR",
    "COMPRESSION_TYPE_LZ4",
    "COMPRESSION_TYPE_ZLIB",
    "COMPRESSION_TYPE_ZSTD",
    "COMPRESSION_ZLIB_TYPE",
    "COMPRESSION_ZSTD_TYPE",
    "INNER_BATCH_FLAG",
    "KEY_SEPARATOR",
    "MULTI_TAGS_FLAG",
    "NAME_VALUE_SEPARATOR",
    "NEED_UNWRAP_FLAG",
    "PROPERTY_SEPARATOR",
    "RESERVED_PROPERTY_NAMES",
    "STOREHOSTADDRESS_V6_FLAG",
    "TRANSACTION_COMMIT_TYPE",
    "TRANSACTION_NOT_TYPE",
    "TRANSACTION_PREPARED_TYPE",
    "TRANSACTION_ROLLBACK_TYPE",
    "HostPort",
    "Message",
    "MessageExt",
    "clear_compressed_flag",
    "get_compression_type",
    "get_transaction_value",
    "mark_compressed",
    "properties_to_string",
    "reset_transaction_value",
    "string_to_properties",
    "tag_hash",
]

#: A socket address as (IPv4 or IPv6 literal, port), e.g. ``("127.0.0.1", 10911)``.
HostPort: TypeAlias = tuple[str, int]

# --- MessageConst (4.9.8): reserved property names -------------------------------------------

PROPERTY_KEYS: Final = "KEYS"
PROPERTY_TAGS: Final = "TAGS"
PROPERTY_WAIT_STORE_MSG_OK: Final = "WAIT"
PROPERTY_DELAY_TIME_LEVEL: Final = "DELAY"
PROPERTY_RETRY_TOPIC: Final = "RETRY_TOPIC"
PROPERTY_REAL_TOPIC: Final = "REAL_TOPIC"
PROPERTY_REAL_QUEUE_ID: Final = "REAL_QID"
PROPERTY_TRANSACTION_PREPARED: Final = "TRAN_MSG"
PROPERTY_PRODUCER_GROUP: Final = "PGROUP"
PROPERTY_MIN_OFFSET: Final = "MIN_OFFSET"
PROPERTY_MAX_OFFSET: Final = "MAX_OFFSET"
PROPERTY_BUYER_ID: Final = "BUYER_ID"
PROPERTY_ORIGIN_MESSAGE_ID: Final = "ORIGIN_MESSAGE_ID"
PROPERTY_TRANSFER_FLAG: Final = "TRANSFER_FLAG"
PROPERTY_CORRECTION_FLAG: Final = "CORRECTION_FLAG"
PROPERTY_MQ2_FLAG: Final = "MQ2_FLAG"
PROPERTY_RECONSUME_TIME: Final = "RECONSUME_TIME"
PROPERTY_MSG_REGION: Final = "MSG_REGION"
PROPERTY_TRACE_SWITCH: Final = "TRACE_ON"
PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX: Final = "UNIQ_KEY"
PROPERTY_MAX_RECONSUME_TIMES: Final = "MAX_RECONSUME_TIMES"
PROPERTY_CONSUME_START_TIMESTAMP: Final = "CONSUME_START_TIME"
PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET: Final = "TRAN_PREPARED_QUEUE_OFFSET"
PROPERTY_TRANSACTION_CHECK_TIMES: Final = "TRANSACTION_CHECK_TIMES"
PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS: Final = "CHECK_IMMUNITY_TIME_IN_SECONDS"
PROPERTY_INSTANCE_ID: Final = "INSTANCE_ID"
PROPERTY_CORRELATION_ID: Final = "CORRELATION_ID"
PROPERTY_MESSAGE_REPLY_TO_CLIENT: Final = "REPLY_TO_CLIENT"
PROPERTY_MESSAGE_TTL: Final = "TTL"
PROPERTY_REPLY_MESSAGE_ARRIVE_TIME: Final = "ARRIVE_TIME"
PROPERTY_PUSH_REPLY_TIME: Final = "PUSH_REPLY_TIME"
PROPERTY_CLUSTER: Final = "CLUSTER"
PROPERTY_MESSAGE_TYPE: Final = "MSG_TYPE"
PROPERTY_INNER_MULTI_DISPATCH: Final = "INNER_MULTI_DISPATCH"
PROPERTY_INNER_MULTI_QUEUE_OFFSET: Final = "INNER_MULTI_QUEUE_OFFSET"
# 4.9.8 has no __CRC32#, DUP_INFO, TIMER_*, POP_* ... (5.x only, protocol.md §4.2); a 4.9 peer
# treats them as ordinary user properties, so they need no constant here.

#: Separates the keys inside the KEYS property.
KEY_SEPARATOR: Final = " "
NAME_VALUE_SEPARATOR: Final = "\x01"
PROPERTY_SEPARATOR: Final = "\x02"

#: MessageConst.STRING_HASH_SET: names ``Message.putUserProperty`` refuses. It is 4.9.8's set
#: exactly, which is *not* every constant above (e.g. INNER_MULTI_DISPATCH is missing there).
RESERVED_PROPERTY_NAMES: Final = frozenset(
    {
        PROPERTY_TRACE_SWITCH,
        PROPERTY_MSG_REGION,
        PROPERTY_KEYS,
        PROPERTY_TAGS,
        PROPERTY_WAIT_STORE_MSG_OK,
        PROPERTY_DELAY_TIME_LEVEL,
        PROPERTY_RETRY_TOPIC,
        PROPERTY_REAL_TOPIC,
        PROPERTY_REAL_QUEUE_ID,
        PROPERTY_TRANSACTION_PREPARED,
        PROPERTY_PRODUCER_GROUP,
        PROPERTY_MIN_OFFSET,
        PROPERTY_MAX_OFFSET,
        PROPERTY_BUYER_ID,
        PROPERTY_ORIGIN_MESSAGE_ID,
        PROPERTY_TRANSFER_FLAG,
        PROPERTY_CORRECTION_FLAG,
        PROPERTY_MQ2_FLAG,
        PROPERTY_RECONSUME_TIME,
        PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
        PROPERTY_MAX_RECONSUME_TIMES,
        PROPERTY_CONSUME_START_TIMESTAMP,
        PROPERTY_INSTANCE_ID,
        PROPERTY_CORRELATION_ID,
        PROPERTY_MESSAGE_REPLY_TO_CLIENT,
        PROPERTY_MESSAGE_TTL,
        PROPERTY_REPLY_MESSAGE_ARRIVE_TIME,
        PROPERTY_PUSH_REPLY_TIME,
        PROPERTY_CLUSTER,
        PROPERTY_MESSAGE_TYPE,
        PROPERTY_INNER_MULTI_QUEUE_OFFSET,
    }
)

# --- MessageSysFlag (4.9.8; bits 6-10 exist from 4.9.4 on) -----------------------------------

COMPRESSED_FLAG: Final = 0x1
MULTI_TAGS_FLAG: Final = 0x2
TRANSACTION_NOT_TYPE: Final = 0x0
TRANSACTION_PREPARED_TYPE: Final = 0x4
TRANSACTION_COMMIT_TYPE: Final = 0x8
TRANSACTION_ROLLBACK_TYPE: Final = 0xC
BORNHOST_V6_FLAG: Final = 0x10
STOREHOSTADDRESS_V6_FLAG: Final = 0x20
NEED_UNWRAP_FLAG: Final = 0x40
INNER_BATCH_FLAG: Final = 0x80
COMPRESSION_LZ4_TYPE: Final = 0x100
COMPRESSION_ZSTD_TYPE: Final = 0x200
COMPRESSION_ZLIB_TYPE: Final = 0x300
COMPRESSION_TYPE_COMPARATOR: Final = 0x700

#: CompressionType values (what bits 8-10 hold).
COMPRESSION_TYPE_LZ4: Final = 1
COMPRESSION_TYPE_ZSTD: Final = 2
COMPRESSION_TYPE_ZLIB: Final = 3


def get_transaction_value(flag: int) -> int:
    """The transaction type bits (one of the TRANSACTION_*_TYPE values)."""
    return flag & TRANSACTION_ROLLBACK_TYPE


def reset_transaction_value(flag: int, transaction_type: int) -> int:
    """``flag`` with its transaction type replaced by ``transaction_type``."""
    return (flag & ~TRANSACTION_ROLLBACK_TYPE) | transaction_type


def clear_compressed_flag(flag: int) -> int:
    return flag & ~COMPRESSED_FLAG


def mark_compressed(flag: int, compression_type: int = COMPRESSION_TYPE_ZLIB) -> int:
    """Set bit 0 and the type bits, as a 4.9.4+ producer does after compressing a body."""
    return flag | COMPRESSED_FLAG | (compression_type << 8)


def get_compression_type(flag: int) -> int:
    """The COMPRESSION_TYPE_* of ``flag``; type 0 means ZLIB (clients before the type bits).

    Raises ValueError for the unassigned values 4-7, as ``CompressionType.findByValue`` does.
    """
    value = (flag & COMPRESSION_TYPE_COMPARATOR) >> 8
    if value == 0:
        return COMPRESSION_TYPE_ZLIB
    if value > COMPRESSION_TYPE_ZLIB:
        raise ValueError(f"unknown compression type {value} in sysFlag {flag:#x}")
    return value


# --- properties string -----------------------------------------------------------------------


def properties_to_string(props: Mapping[str, str], *, trailing_separator: bool = False) -> str:
    """``name␁value␂`` for each entry, in the mapping's order.

    ``trailing_separator=False`` (the default) is 4.9.8: ``messageProperties2String`` deletes the
    last ␂ (``sb.deleteCharAt``). 5.2+ keep it (``True``); the shared vectors are in that form.
    Java decoders accept both. Empty values are written (and dropped again by every decoder).
    """
    text = "".join(f"{name}\x01{value}\x02" for name, value in props.items())
    return text if trailing_separator else text[:-1]


def string_to_properties(text: str) -> dict[str, str]:
    """Parse a properties string as ``string2messageProperties`` does.

    Tolerant: a segment (between ␂s) counts only if it has a ␁ that is neither its first nor its
    last character, so empty names and empty values vanish and a missing final ␂ is fine; the
    value is everything after the first ␁ (it may contain more ␁). A repeated name keeps the
    last value.
    """
    props: dict[str, str] = {}
    for segment in text.split("\x02"):
        sep = segment.find("\x01")
        # find() == -1 fails the first test; 0 is an empty name; len-1 an empty value.
        if 0 < sep < len(segment) - 1:
            props[segment[:sep]] = segment[sep + 1 :]
    return props


# --- tag hash --------------------------------------------------------------------------------


def tag_hash(tag: str) -> int:
    """Java ``String.hashCode``: ``h = 31*h + unit`` over UTF-16 code units, signed 32-bit.

    The broker filters TAG subscriptions by this value (consume queue tagsCode, §4.8), so a
    character outside the BMP must count as its two surrogate units, like Java's ``char``.
    It is also the index's key hash, computed for every dispatched key: iterating over bytes
    (ASCII) or 16-bit units and masking once at the end costs ~40% less than per step.
    """
    units: bytes | array.array[int] = (
        tag.encode() if tag.isascii() else array.array("H", tag.encode(_UTF16_NATIVE))
    )
    h = 0
    if len(units) <= _UNMASKED_MAX:
        for unit in units:
            h = h * 31 + unit
    else:  # keep the intermediate integer small for long strings
        for unit in units:
            h = (h * 31 + unit) & 0xFFFFFFFF
    h &= 0xFFFFFFFF
    return h - 0x1_0000_0000 if h & 0x8000_0000 else h


#: array("H") reads native-order 16-bit units.
_UTF16_NATIVE = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"
#: Up to this many units the unmasked sum stays a few hundred bits: cheaper than masking.
_UNMASKED_MAX = 256


# --- messages --------------------------------------------------------------------------------


@dataclass(slots=True)
class Message:
    """Java ``Message``: what a producer sends. Properties carry tags, keys and everything else.

    Unlike Java's constructors this one does not add ``WAIT=true``: absent means true anyway, and
    decoded messages must come back with exactly the properties they were sent with.
    """

    topic: str
    body: bytes = b""
    flag: int = 0
    properties: dict[str, str] = field(default_factory=dict)

    def _put(self, name: str, value: str | None) -> None:
        if value is None:
            self.properties.pop(name, None)
        else:
            self.properties[name] = value

    @property
    def tags(self) -> str | None:
        return self.properties.get(PROPERTY_TAGS)

    @tags.setter
    def tags(self, value: str | None) -> None:
        self._put(PROPERTY_TAGS, value)

    @property
    def keys(self) -> list[str]:
        """The KEYS property split on ``KEY_SEPARATOR`` (empty pieces dropped)."""
        text = self.properties.get(PROPERTY_KEYS, "")
        return [key for key in text.split(KEY_SEPARATOR) if key]

    @keys.setter
    def keys(self, value: Iterable[str]) -> None:
        self._put(PROPERTY_KEYS, KEY_SEPARATOR.join(value) or None)

    @property
    def uniq_key(self) -> str | None:
        """The client message id (UNIQ_KEY, protocol.md §4.7), if the producer set one."""
        return self.properties.get(PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)

    @uniq_key.setter
    def uniq_key(self, value: str | None) -> None:
        self._put(PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX, value)

    @property
    def wait_store_msg_ok(self) -> bool:
        """WAIT: absent means true; Java reads it with ``Boolean.parseBoolean``."""
        value = self.properties.get(PROPERTY_WAIT_STORE_MSG_OK)
        return value is None or value.lower() == "true"

    @property
    def delay_time_level(self) -> int:
        """DELAY as an int; 0 when absent (Java ``getDelayTimeLevel``)."""
        value = self.properties.get(PROPERTY_DELAY_TIME_LEVEL)
        return int(value) if value else 0


@dataclass(slots=True)
class MessageExt(Message):
    """Java ``MessageExt``: a message as stored, with every field of the commitlog record.

    ``msg_id`` is the offset msgId (store host + commitlog offset), as the broker-side Java
    decoder fills it; the client-visible id is ``uniq_key``. ``store_size`` and ``body_crc`` are
    what was read; the encoder recomputes both.
    """

    queue_id: int = 0
    store_size: int = 0
    queue_offset: int = 0
    sys_flag: int = 0
    born_timestamp: int = 0
    born_host: HostPort = ("0.0.0.0", 0)
    store_timestamp: int = 0
    store_host: HostPort = ("0.0.0.0", 0)
    msg_id: str = ""
    commit_log_offset: int = 0
    body_crc: int = 0
    reconsume_times: int = 0
    prepared_transaction_offset: int = 0
