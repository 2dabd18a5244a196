"""Custom headers: one dataclass per Java ``CommandCustomHeader``, bound to extFields in one place.

A header class is a slotted dataclass with snake_case attributes; its ext key is the camelCase
form of the attribute, or ``metadata={"ext": "clientID"}`` where Java's field name is odd.
Attributes without a default are required (Java's ``@CFNotNull``). ``from_ext_fields`` parses
values the way Java's ``decodeCommandCustomHeader`` does (``parseInt``/``parseLong``,
``parseBoolean``: only a case-insensitive "true" is true, so cpp's ``"1"`` is false) and
``to_ext_fields`` writes Java's ``toString`` forms. Unknown ext keys are ignored.

Mirrors ``RemotingCommand.decodeCommandCustomHeader``/``makeCustomHeaderToNet`` and the
``protocol/header`` classes (protocol.md §1.10, §3). Sans-IO.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

_INT_RE = re.compile(r"[-+]?[0-9]+\Z")


class HeaderError(ValueError):
    """A required ext field is missing or a value does not parse; answered with a remark."""


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str
    key: str
    parse: Callable[[str], Any]
    required: bool


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _parse_int(text: str) -> int:
    if not _INT_RE.match(text):
        raise ValueError(f"{text!r} is not an integer")
    return int(text)


def _parse_bool(text: str) -> bool:
    return text.lower() == "true"


_PARSERS: dict[Any, Callable[[str], Any]] = {str: str, int: _parse_int, bool: _parse_bool}


def _parser_for(hint: Any) -> Callable[[str], Any]:
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    base = args[0] if args else hint
    try:
        return _PARSERS[base]
    except KeyError:
        raise TypeError(f"unsupported header field type {hint!r}") from None


_SLOTS: dict[type, tuple[_Slot, ...]] = {}


def _slots(cls: type) -> tuple[_Slot, ...]:
    slots = _SLOTS.get(cls)
    if slots is None:
        slots = _SLOTS[cls] = _build_slots(cls)
    return slots


def _build_slots(cls: type) -> tuple[_Slot, ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        _Slot(
            name=f.name,
            key=f.metadata.get("ext", _camel(f.name)),
            parse=_parser_for(hints[f.name]),
            required=f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    )


def from_ext_fields(cls: type[T], ext_fields: dict[str, str] | None) -> T:
    """Build header ``cls`` from a command's ext map; HeaderError names the bad field."""
    ext = ext_fields or {}
    values: dict[str, Any] = {}
    for slot in _slots(cls):
        text = ext.get(slot.key)
        if text is None:
            if slot.required:
                raise HeaderError(f"the custom field <{slot.key}> is null")
            continue
        try:
            values[slot.name] = slot.parse(text)
        except ValueError as exc:
            raise HeaderError(f"bad value for <{slot.key}>: {exc}") from None
    return cls(**values)


def to_ext_fields(header: object) -> dict[str, str]:
    """The ext map Java would send for ``header``: None fields omitted."""
    ext: dict[str, str] = {}
    for slot in _slots(type(header)):
        value = getattr(header, slot.name)
        if value is None:
            continue
        if value is True or value is False:
            ext[slot.key] = "true" if value else "false"
        else:
            ext[slot.key] = str(value)
    return ext


def ext_key(name: str) -> dict[str, str]:
    """Metadata for a field whose Java name is not the camelCase of its attribute."""
    return {"ext": name}


# --------------------------------------------------------------------------- NameServer


@dataclass(slots=True)
class RegisterBrokerRequestHeader:
    broker_name: str
    broker_addr: str
    cluster_name: str
    ha_server_addr: str
    broker_id: int
    compressed: bool = False
    body_crc32: int = 0


@dataclass(slots=True)
class RegisterBrokerResponseHeader:
    ha_server_addr: str | None = None
    master_addr: str | None = None


@dataclass(slots=True)
class UnRegisterBrokerRequestHeader:
    broker_name: str
    broker_addr: str
    cluster_name: str
    broker_id: int


@dataclass(slots=True)
class QueryDataVersionRequestHeader:
    broker_name: str
    broker_addr: str
    cluster_name: str
    broker_id: int


@dataclass(slots=True)
class QueryDataVersionResponseHeader:
    changed: bool


@dataclass(slots=True)
class GetRouteInfoRequestHeader:
    topic: str
    accept_standard_json_only: bool | None = None


@dataclass(slots=True)
class PutKVConfigRequestHeader:
    namespace: str
    key: str
    value: str


@dataclass(slots=True)
class GetKVConfigRequestHeader:
    namespace: str
    key: str


@dataclass(slots=True)
class GetKVConfigResponseHeader:
    value: str | None = None


@dataclass(slots=True)
class DeleteKVConfigRequestHeader:
    namespace: str
    key: str


@dataclass(slots=True)
class GetKVListByNamespaceRequestHeader:
    namespace: str


@dataclass(slots=True)
class DeleteTopicFromNamesrvRequestHeader:
    topic: str
    cluster_name: str | None = None


@dataclass(slots=True)
class GetTopicsByClusterRequestHeader:
    cluster: str


@dataclass(slots=True)
class WipeWritePermOfBrokerRequestHeader:
    broker_name: str


@dataclass(slots=True)
class WipeWritePermOfBrokerResponseHeader:
    wipe_topic_count: int


@dataclass(slots=True)
class AddWritePermOfBrokerRequestHeader:
    broker_name: str


@dataclass(slots=True)
class AddWritePermOfBrokerResponseHeader:
    add_topic_count: int


# --------------------------------------------------------------------------- producer


@dataclass(slots=True)
class SendMessageRequestHeaderV2:
    """SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE: Java's one-letter field names (protocol.md §3.2)."""

    a: str  # producerGroup
    b: str  # topic
    c: str  # defaultTopic
    d: int  # defaultTopicQueueNums
    e: int  # queueId
    f: int  # sysFlag
    g: int  # bornTimestamp
    h: int  # flag
    i: str | None = None  # properties
    j: int | None = None  # reconsumeTimes
    k: bool | None = None  # unitMode
    l: int | None = None  # noqa: E741  maxReconsumeTimes
    m: bool | None = None  # batch
    n: str | None = field(default=None)  # brokerName (4.9.5+)


@dataclass(slots=True)
class SendMessageRequestHeader:
    """SEND_MESSAGE (10) / SEND_REPLY_MESSAGE (324): the V1 long field names."""

    producer_group: str
    topic: str
    default_topic: str
    default_topic_queue_nums: int
    queue_id: int
    sys_flag: int
    born_timestamp: int
    flag: int
    properties: str | None = None
    reconsume_times: int | None = None
    unit_mode: bool | None = None
    batch: bool | None = None
    max_reconsume_times: int | None = None
    broker_name: str | None = field(default=None, metadata=ext_key("bname"))

    @classmethod
    def from_v2(cls, v2: SendMessageRequestHeaderV2) -> SendMessageRequestHeader:
        """SendMessageRequestHeaderV2.createSendMessageRequestHeaderV1."""
        return cls(
            v2.a, v2.b, v2.c, v2.d, v2.e, v2.f, v2.g, v2.h, v2.i, v2.j, v2.k, v2.m, v2.l, v2.n
        )


@dataclass(slots=True)
class SendMessageResponseHeader:
    msg_id: str
    queue_id: int
    queue_offset: int
    transaction_id: str | None = None


@dataclass(slots=True)
class PullMessageRequestHeader:
    consumer_group: str
    topic: str
    queue_id: int
    queue_offset: int
    max_msg_nums: int
    sys_flag: int
    commit_offset: int
    suspend_timeout_millis: int
    sub_version: int
    subscription: str | None = None
    expression_type: str | None = None
    max_msg_bytes: int | None = None


@dataclass(slots=True)
class PullMessageResponseHeader:
    suggest_which_broker_id: int
    next_begin_offset: int
    min_offset: int
    max_offset: int


@dataclass(slots=True)
class QueryConsumerOffsetRequestHeader:
    consumer_group: str
    topic: str
    queue_id: int
    set_zero_if_not_found: bool | None = None


@dataclass(slots=True)
class QueryConsumerOffsetResponseHeader:
    offset: int


@dataclass(slots=True)
class UpdateConsumerOffsetRequestHeader:
    consumer_group: str
    topic: str
    queue_id: int
    commit_offset: int


@dataclass(slots=True)
class TopicQueueRequestHeader:
    """GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32)."""

    topic: str
    queue_id: int


@dataclass(slots=True)
class OffsetResponseHeader:
    offset: int


@dataclass(slots=True)
class SearchOffsetRequestHeader:
    topic: str
    queue_id: int
    timestamp: int


@dataclass(slots=True)
class GetEarliestMsgStoretimeResponseHeader:
    timestamp: int


@dataclass(slots=True)
class UnregisterClientRequestHeader:
    client_id: str = field(metadata=ext_key("clientID"))
    producer_group: str | None = None
    consumer_group: str | None = None


@dataclass(slots=True)
class GetConsumerListByGroupRequestHeader:
    consumer_group: str


@dataclass(slots=True)
class NotifyConsumerIdsChangedRequestHeader:
    consumer_group: str


@dataclass(slots=True)
class CreateTopicRequestHeader:
    """UPDATE_AND_CREATE_TOPIC (17)."""

    topic: str
    default_topic: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_filter_type: str
    topic_sys_flag: int | None = None
    order: bool = False


@dataclass(slots=True)
class DeleteTopicRequestHeader:
    topic: str


@dataclass(slots=True)
class GetTopicStatsInfoRequestHeader:
    topic: str


@dataclass(slots=True)
class GetConsumeStatsRequestHeader:
    consumer_group: str
    topic: str | None = None


@dataclass(slots=True)
class GetConsumerConnectionListRequestHeader:
    consumer_group: str


@dataclass(slots=True)
class GetBrokerConfigResponseHeader:
    version: str


@dataclass(slots=True)
class QueryMessageRequestHeader:
    topic: str
    key: str
    max_num: int
    begin_timestamp: int
    end_timestamp: int


@dataclass(slots=True)
class QueryMessageResponseHeader:
    index_last_update_timestamp: int
    index_last_update_phyoffset: int


@dataclass(slots=True)
class ViewMessageRequestHeader:
    offset: int


@dataclass(slots=True)
class ConsumerSendMsgBackRequestHeader:
    offset: int
    group: str
    delay_level: int
    origin_msg_id: str | None = None
    origin_topic: str | None = None
    unit_mode: bool = False
    max_reconsume_times: int | None = None


@dataclass(slots=True)
class EndTransactionRequestHeader:
    """END_TRANSACTION (37), producer -> broker (``EndTransactionRequestHeader``)."""

    producer_group: str
    tran_state_table_offset: int
    commit_log_offset: int
    #: TRANSACTION_NOT_TYPE (0), TRANSACTION_COMMIT_TYPE (8) or TRANSACTION_ROLLBACK_TYPE (12).
    commit_or_rollback: int
    msg_id: str
    from_transaction_check: bool = False
    transaction_id: str | None = None
    #: RpcRequestHeader.bname (4.9.8 clients send it; unused by the broker).
    bname: str | None = None


@dataclass(slots=True)
class CheckTransactionStateRequestHeader:
    """CHECK_TRANSACTION_STATE (39), broker -> producer."""

    tran_state_table_offset: int
    commit_log_offset: int
    msg_id: str | None = None
    transaction_id: str | None = None
    offset_msg_id: str | None = None
    bname: str | None = None
