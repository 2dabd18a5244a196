"""The broker's message filter for pulls: TAG by hash code, SQL92 over the stored properties.

Mirrors 4.9.8 ``ExpressionMessageFilter`` (the two checks ``DefaultMessageStore.getMessage``
makes per message, protocol.md §4.8): TAG subscriptions are decided on the consume queue's
tag hash alone; SQL92 subscriptions pass the consume queue (4.9.8 would consult a bloom filter
in the consume-queue extension, off by default) and are evaluated against the properties of
the commitlog record, read straight from the record (``MessageDecoder.decodeProperties``, §4.4).
``build_filter`` adds the processor's checks (``PullMessageProcessor``): the expression must
compile, and SQL92 needs ``enablePropertyFilter``. Compiled expressions are cached per
(topic, group, expression), as Java's ``ConsumerFilterManager`` keeps one per topic and group.
Synchronous and free of I/O: it only reads the record it is given.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from typing import Final

from pyrmq.common.filter_sql import SqlExpression, SqlParseError, compile_sql
from pyrmq.common.message import BORNHOST_V6_FLAG, STOREHOSTADDRESS_V6_FLAG, string_to_properties
from pyrmq.common.message_codec import MAGIC_CODE_V1, MAGIC_CODE_V2
from pyrmq.remoting.codes import ResponseCode
from pyrmq.remoting.heartbeat import EXPRESSION_SQL92, SUB_ALL, SubscriptionData

__all__ = [
    "PROPERTY_FILTER_DISABLED",
    "ExpressionMessageFilter",
    "SqlFilterCache",
    "build_filter",
    "filter_error_code",
    "record_properties",
]

#: The remark (and start of it) a broker with ``enablePropertyFilter=false`` answers.
PROPERTY_FILTER_DISABLED: Final = "The broker does not support consumer to filter message by "
#: PullMessageProcessor's remark for an expression that does not compile (ours adds why).
PARSE_FAILED: Final = "parse the consumer's subscription failed"

_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")
_I8 = struct.Struct(">b")
#: Fixed record offsets (§4.4): MAGICCODE, SYSFLAG, and BODYLENGTH with IPv4 hosts.
_MAGIC_POS: Final = 4
_SYS_FLAG_POS: Final = 36
_BODY_LENGTH_POS_V4: Final = 84
#: An IPv6 host field is 20 bytes instead of 8.
_V6_EXTRA: Final = 12


def _int32(value: int) -> int:
    """Java ``Long.intValue()``: the consume queue keeps a long, the code set ints."""
    return ((value + 2**31) % 2**32) - 2**31


def record_properties(record: memoryview | bytes) -> dict[str, str] | None:
    """The properties of a stored record, reading only what leads to them; None if the
    record is malformed. Unlike Java's ``decodeProperties`` it also reads V2 (2-byte topic
    length) records. Invalid UTF-8 is replaced, as Java's ``new String(bytes, UTF_8)`` does.
    """
    size = len(record)
    if size < _BODY_LENGTH_POS_V4 + 4:
        return None
    magic = _U32.unpack_from(record, _MAGIC_POS)[0]
    if magic not in (MAGIC_CODE_V1, MAGIC_CODE_V2):
        return None
    sys_flag = _I32.unpack_from(record, _SYS_FLAG_POS)[0]
    pos = _BODY_LENGTH_POS_V4
    pos += _V6_EXTRA if sys_flag & BORNHOST_V6_FLAG else 0
    pos += _V6_EXTRA if sys_flag & STOREHOSTADDRESS_V6_FLAG else 0
    topic_len_field = _I8 if magic == MAGIC_CODE_V1 else _I16
    if pos + 4 > size:
        return None
    body_len = _I32.unpack_from(record, pos)[0]
    pos += 4 + body_len
    if body_len < 0 or pos + topic_len_field.size > size:
        return None
    topic_len = topic_len_field.unpack_from(record, pos)[0]
    pos += topic_len_field.size + topic_len
    if topic_len < 0 or pos + 2 > size:
        return None
    props_len = _I16.unpack_from(record, pos)[0]
    pos += 2
    if props_len < 0 or pos + props_len > size:
        return None
    text = str(record[pos : pos + props_len], "utf-8", "replace")
    return string_to_properties(text)


class ExpressionMessageFilter:
    """The store's ``MessageFilter`` for one pull (``pyrmq.store.ports.MessageFilter``).

    ``sql`` is the compiled SQL92 expression of a SQL92 subscription; a SQL92 subscription
    without one lets everything through, as Java does when it has no compiled filter data.
    """

    __slots__ = ("_codes", "_match_all", "_tag_type", "sql", "subscription")

    def __init__(self, subscription: SubscriptionData, sql: SqlExpression | None = None) -> None:
        self.subscription = subscription
        self.sql = sql
        # Class-filter mode (obsolete) and unknown cases select everything on both checks.
        self._tag_type = subscription.is_tag_type and not subscription.class_filter_mode
        self._match_all = subscription.sub_string in (SUB_ALL, "")
        # Codes arrive as ints from the heartbeat JSON; a frozenset makes the check O(1).
        self._codes = frozenset(_int32(code) for code in subscription.code_set)

    def is_matched_by_consume_queue(self, tags_code: int | None) -> bool:
        """TAG: the tag hash is one of the subscription's (``*`` and untagged units pass);
        SQL92: always (it is decided on the commitlog record)."""
        if not self._tag_type or tags_code is None or self._match_all:
            return True
        return _int32(tags_code) in self._codes

    def is_matched_by_commit_log(self, record: memoryview) -> bool:
        """SQL92: the expression is TRUE for the record's properties; TAG: always."""
        if self._tag_type or self.sql is None or self.subscription.class_filter_mode:
            return True
        properties = record_properties(record)
        if properties is None:  # a record we cannot read cannot satisfy a condition
            return False
        return self.sql.evaluate(properties)


class SqlFilterCache:
    """Compiled SQL92 expressions by (topic, group, expression), failures included, LRU.

    A pull compiles nothing after the first one of its group: the heartbeat copy of a
    subscription keeps the same text until the consumer changes it.
    """

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str, str], SqlExpression | SqlParseError] = (
            OrderedDict()
        )

    def compile(self, topic: str, group: str, expression: str) -> SqlExpression:
        """The compiled expression; raises its ``SqlParseError`` (cached too)."""
        key = (topic, group, expression)
        entry = self._entries.get(key)
        if entry is None:
            try:
                entry = compile_sql(expression)
            except SqlParseError as exc:
                entry = exc
            self._entries[key] = entry
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        if isinstance(entry, SqlParseError):
            raise entry
        return entry

    def __len__(self) -> int:
        return len(self._entries)


#: The broker-wide cache ``build_filter`` uses when given none.
DEFAULT_CACHE: Final = SqlFilterCache()


def build_filter(
    subscription: SubscriptionData,
    enable_property_filter: bool,
    *,
    group: str = "",
    cache: SqlFilterCache | None = None,
) -> ExpressionMessageFilter | str:
    """The filter for a pull of ``subscription``, or the remark to refuse it with.

    TAG subscriptions always get a filter. A SQL92 one must compile first (else the parse
    failure, code SUBSCRIPTION_PARSE_FAILED), then needs ``enable_property_filter`` (else
    ``PROPERTY_FILTER_DISABLED + type``, code SYSTEM_ERROR) — Java's order. Any other type is
    a parse failure (Java finds no filter for it). ``filter_error_code`` maps a remark to its
    code.
    """
    if subscription.is_tag_type or subscription.class_filter_mode:
        return ExpressionMessageFilter(subscription)
    expression_type = subscription.expression_type
    if expression_type != EXPRESSION_SQL92:
        return f"{PARSE_FAILED}: unsupported expression type {expression_type}"
    try:
        sql = (cache or DEFAULT_CACHE).compile(subscription.topic, group, subscription.sub_string)
    except SqlParseError as exc:
        return f"{PARSE_FAILED}: {exc}"
    if not enable_property_filter:
        return PROPERTY_FILTER_DISABLED + expression_type
    return ExpressionMessageFilter(subscription, sql)


def filter_error_code(remark: str) -> int:
    """The response code for a ``build_filter`` refusal."""
    if remark.startswith(PROPERTY_FILTER_DISABLED):
        return ResponseCode.SYSTEM_ERROR
    return ResponseCode.SUBSCRIPTION_PARSE_FAILED
