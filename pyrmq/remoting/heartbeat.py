"""Client-registration bodies: HEART_BEAT, consumer/producer connections, consume stats.

Mirrors the Java 4.9.8 beans of ``common.protocol.heartbeat`` (``HeartbeatData``,
``ProducerData``, ``ConsumerData``, ``SubscriptionData``), ``FilterAPI.buildSubscriptionData``,
``protocol.body.Connection``/``ConsumerConnection``/``ProducerConnection``,
``GetConsumerListByGroupResponseBody`` and ``admin.ConsumeStats``/``OffsetWrapper``
(protocol.md §3.5.3, §3.5.7, §3.5.8, §3.5.9). Sans-IO; follows the conventions of
``pyrmq.remoting.bodies`` (``to_wire``/``from_wire`` dataclasses, ``encode_x``/``decode_x``).

Dialects on input: Java and ali-ons write enums by name; the rocketmq-client-cpp cores write
them as integer ordinals (``"consumeType":1``), leave out ``tagsSet``/``codeSet``/
``classFilterMode``/``expressionType`` when they are empty or default, and send ``subVersion``
as a string. Decoders accept all of that and always expose enum *names*. Output is Java's
legacy JSON: properties in alphabetical order, enums by name. Java writes ``Set``s in hash
order; we write them in the order held, which no reader depends on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Self

from pyrmq.common.message import tag_hash

# The remoting package's shared coercion rules (what fastjson accepts when filling a bean).
from pyrmq.remoting.bodies import BodyError, MessageQueue, _arr, _bool, _int, _obj, _str
from pyrmq.remoting.fastjson import dumps_legacy, loads

__all__ = [
    "BROADCASTING",
    "CLUSTERING",
    "CONSUME_ACTIVELY",
    "CONSUME_FROM_FIRST_OFFSET",
    "CONSUME_FROM_LAST_OFFSET",
    "CONSUME_FROM_TIMESTAMP",
    "CONSUME_FROM_WHERE_NAMES",
    "CONSUME_PASSIVELY",
    "CONSUME_TYPE_NAMES",
    "EXPRESSION_SQL92",
    "EXPRESSION_TAG",
    "MESSAGE_MODEL_NAMES",
    "SUB_ALL",
    "Connection",
    "ConsumeStats",
    "ConsumerConnection",
    "ConsumerData",
    "HeartbeatData",
    "OffsetWrapper",
    "ProducerConnection",
    "ProducerData",
    "SubscriptionData",
    "build_subscription_data",
    "decode_consume_stats",
    "decode_consumer_connection",
    "decode_consumer_id_list",
    "decode_heartbeat",
    "decode_producer_connection",
    "encode_consume_stats",
    "encode_consumer_connection",
    "encode_consumer_id_list",
    "encode_heartbeat",
    "encode_producer_connection",
]

# ----------------------------------------------------------------------------------- enums
# Names in ordinal order: index = the integer a cpp client sends (Java enum ordinals, 4.9.8;
# CONSUME_POP is 5.x's third ConsumeType).

CONSUME_ACTIVELY: Final = "CONSUME_ACTIVELY"  # pull consumer
CONSUME_PASSIVELY: Final = "CONSUME_PASSIVELY"  # push consumer
CONSUME_TYPE_NAMES: Final = (CONSUME_ACTIVELY, CONSUME_PASSIVELY, "CONSUME_POP")

BROADCASTING: Final = "BROADCASTING"
CLUSTERING: Final = "CLUSTERING"
MESSAGE_MODEL_NAMES: Final = (BROADCASTING, CLUSTERING)

CONSUME_FROM_LAST_OFFSET: Final = "CONSUME_FROM_LAST_OFFSET"
CONSUME_FROM_FIRST_OFFSET: Final = "CONSUME_FROM_FIRST_OFFSET"
CONSUME_FROM_TIMESTAMP: Final = "CONSUME_FROM_TIMESTAMP"
CONSUME_FROM_WHERE_NAMES: Final = (
    CONSUME_FROM_LAST_OFFSET,
    "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",  # deprecated
    "CONSUME_FROM_MIN_OFFSET",  # deprecated
    "CONSUME_FROM_MAX_OFFSET",  # deprecated
    CONSUME_FROM_FIRST_OFFSET,
    CONSUME_FROM_TIMESTAMP,
)

#: ExpressionType.TAG / SQL92; SubscriptionData.SUB_ALL.
EXPRESSION_TAG: Final = "TAG"
EXPRESSION_SQL92: Final = "SQL92"
SUB_ALL: Final = "*"


def _enum_name(value: Any, names: tuple[str, ...], what: str) -> str:
    """An enum property as its name: given by name, or by ordinal (cpp). ``""`` when absent
    (Java's null), a name we do not know is kept as sent."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        raise BodyError(f"{what}: expected an enum name or ordinal, got {value!r}")
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        return value
    ordinal = _int(value)
    if not 0 <= ordinal < len(names):
        raise BodyError(f"{what}: ordinal {ordinal} out of range")
    return names[ordinal]


def _put_enum(wire: dict[str, Any], key: str, name: str) -> None:
    if name:  # fastjson omits a null enum; "" is our null
        wire[key] = name


def _float(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            result = float(value.strip() or 0.0)
        except ValueError:
            raise BodyError(f"expected a number, got {value!r}") from None
        if math.isfinite(result):
            return result
    raise BodyError(f"expected a number, got {value!r}")


def _unique(items: Iterable[Any]) -> list[Any]:
    # Java holds these in a HashSet: duplicates collapse; keep first-seen order.
    return list(dict.fromkeys(items))


def _int32(value: int) -> int:
    """Java ``long.intValue()``: the low 32 bits, signed."""
    return ((value + 2**31) % 2**32) - 2**31


def _root(data: bytes | str, what: str) -> dict[Any, Any]:
    value = loads(data)
    if not isinstance(value, dict):
        raise BodyError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


# ----------------------------------------------------------------------------------- subscription


@dataclass(slots=True)
class SubscriptionData:
    """One topic a consumer group subscribes to (``SubscriptionData.java``).

    ``sub_version`` is the time the client built it; the broker refuses pulls that carry an
    older version than the heartbeat copy (protocol.md §3.3).
    """

    topic: str
    sub_string: str = SUB_ALL
    tags_set: list[str] = field(default_factory=list)
    code_set: list[int] = field(default_factory=list)
    sub_version: int = 0
    expression_type: str = EXPRESSION_TAG
    class_filter_mode: bool = False

    @property
    def is_tag_type(self) -> bool:
        """``ExpressionType.isTagType``: null, empty and ``TAG`` all mean tag filtering."""
        return self.expression_type in ("", EXPRESSION_TAG)

    def matches_tag(self, tags: str | None) -> bool:
        """The client's re-filter of pulled messages (``PullAPIWrapper.processPullResult``).

        The broker filters by hash code only, so colliding tags get through; the client keeps a
        message when it subscribes everything or the message's TAGS is one of its tags.
        """
        if self.class_filter_mode or not self.tags_set:
            return True
        return tags is not None and tags in self.tags_set

    def matches_tags_code(self, tags_code: int | None) -> bool:
        """The broker's consume-queue filter (``ExpressionMessageFilter.isMatchedByConsumeQueue``).

        SQL92 subscriptions pass here; they are evaluated against the properties later.
        """
        if self.class_filter_mode or not self.is_tag_type:
            return True
        if tags_code is None or self.sub_string == SUB_ALL:
            return True
        return _int32(tags_code) in self.code_set

    def to_wire(self) -> dict[str, Any]:
        return {
            "classFilterMode": self.class_filter_mode,
            "codeSet": list(self.code_set),
            "expressionType": self.expression_type,
            "subString": self.sub_string,
            "subVersion": self.sub_version,
            "tagsSet": list(self.tags_set),
            "topic": self.topic,
        }

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "SubscriptionData")
        return cls(
            topic=_str(d.get("topic")),
            sub_string=_str(d.get("subString"), SUB_ALL),
            tags_set=_unique(_str(tag) for tag in _arr(d.get("tagsSet"), "tagsSet")),
            code_set=_unique(_int(code) for code in _arr(d.get("codeSet"), "codeSet")),
            sub_version=_int(d.get("subVersion")),
            expression_type=_str(d.get("expressionType")) or EXPRESSION_TAG,
            class_filter_mode=_bool(d.get("classFilterMode")),
        )


def build_subscription_data(
    topic: str,
    expression: str | None,
    *,
    expression_type: str = EXPRESSION_TAG,
    sub_version: int | None = None,
) -> SubscriptionData:
    """``FilterAPI.build``: a TAG expression ``"A || B"`` becomes the trimmed tags and their
    Java hash codes; ``None``, ``""`` and ``"*"`` subscribe everything. SQL92 expressions are
    kept as text (no tags). ``sub_version`` defaults to now in milliseconds, as Java's does."""
    version = time.time_ns() // 1_000_000 if sub_version is None else sub_version
    if expression_type not in ("", EXPRESSION_TAG):
        if not expression:
            raise ValueError(f"a {expression_type} expression cannot be empty")
        return SubscriptionData(topic, expression, [], [], version, expression_type)
    if not expression or expression == SUB_ALL:
        return SubscriptionData(topic, SUB_ALL, [], [], version)
    tags = _unique(tag.strip() for tag in expression.split("||") if tag.strip())
    return SubscriptionData(topic, expression, tags, _unique(map(tag_hash, tags)), version)


# ----------------------------------------------------------------------------------- heartbeat


@dataclass(slots=True)
class ProducerData:
    group_name: str

    def to_wire(self) -> dict[str, Any]:
        return {"groupName": self.group_name}

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        return cls(_str(_obj(value, "ProducerData").get("groupName")))


@dataclass(slots=True)
class ConsumerData:
    """One consumer group of a client instance; enum fields hold names (``""`` = absent)."""

    group_name: str
    consume_type: str
    message_model: str
    consume_from_where: str
    subscription_data_set: list[SubscriptionData] = field(default_factory=list)
    unit_mode: bool = False

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {}
        _put_enum(wire, "consumeFromWhere", self.consume_from_where)
        _put_enum(wire, "consumeType", self.consume_type)
        wire["groupName"] = self.group_name
        _put_enum(wire, "messageModel", self.message_model)
        wire["subscriptionDataSet"] = [sub.to_wire() for sub in self.subscription_data_set]
        wire["unitMode"] = self.unit_mode
        return wire

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "ConsumerData")
        subs = _arr(d.get("subscriptionDataSet"), "subscriptionDataSet")
        return cls(
            group_name=_str(d.get("groupName")),
            consume_type=_enum_name(d.get("consumeType"), CONSUME_TYPE_NAMES, "consumeType"),
            message_model=_enum_name(d.get("messageModel"), MESSAGE_MODEL_NAMES, "messageModel"),
            consume_from_where=_enum_name(
                d.get("consumeFromWhere"), CONSUME_FROM_WHERE_NAMES, "consumeFromWhere"
            ),
            subscription_data_set=[SubscriptionData.from_wire(sub) for sub in subs],
            unit_mode=_bool(d.get("unitMode")),
        )


@dataclass(slots=True)
class HeartbeatData:
    """HEART_BEAT body: every producer and consumer group of one client instance.

    5.x's ``heartbeatFingerprint``/``withoutSub`` are ignored on input and not written.
    """

    client_id: str
    producer_data_set: list[ProducerData] = field(default_factory=list)
    consumer_data_set: list[ConsumerData] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {
            "clientID": self.client_id,
            "consumerDataSet": [consumer.to_wire() for consumer in self.consumer_data_set],
            "producerDataSet": [producer.to_wire() for producer in self.producer_data_set],
        }

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "HeartbeatData")
        producers = _arr(d.get("producerDataSet"), "producerDataSet")
        consumers = _arr(d.get("consumerDataSet"), "consumerDataSet")
        return cls(
            client_id=_str(d.get("clientID")),
            producer_data_set=[ProducerData.from_wire(p) for p in producers],
            consumer_data_set=[ConsumerData.from_wire(c) for c in consumers],
        )


# ----------------------------------------------------------------------------------- connections


@dataclass(slots=True)
class Connection:
    """One client channel as the broker sees it (``protocol.body.Connection``)."""

    client_id: str
    client_addr: str
    language: str
    version: int

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"clientAddr": self.client_addr, "clientId": self.client_id}
        _put_enum(wire, "language", self.language)
        wire["version"] = self.version
        return wire

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "Connection")
        return cls(
            client_id=_str(d.get("clientId")),
            client_addr=_str(d.get("clientAddr")),
            language=_str(d.get("language")),
            version=_int(d.get("version")),
        )


@dataclass(slots=True)
class ConsumerConnection:
    """GET_CONSUMER_CONNECTION_LIST (203) body: a group's channels and subscriptions."""

    connection_set: list[Connection] = field(default_factory=list)
    subscription_table: dict[str, SubscriptionData] = field(default_factory=dict)
    consume_type: str = ""
    message_model: str = ""
    consume_from_where: str = ""

    def compute_min_version(self) -> int:
        """The oldest client version in the group (Java: Integer.MAX_VALUE when empty)."""
        return min((c.version for c in self.connection_set), default=2**31 - 1)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"connectionSet": [c.to_wire() for c in self.connection_set]}
        _put_enum(wire, "consumeFromWhere", self.consume_from_where)
        _put_enum(wire, "consumeType", self.consume_type)
        _put_enum(wire, "messageModel", self.message_model)
        wire["subscriptionTable"] = {t: s.to_wire() for t, s in self.subscription_table.items()}
        return wire

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "ConsumerConnection")
        table = _obj(d.get("subscriptionTable"), "subscriptionTable")
        return cls(
            connection_set=[
                Connection.from_wire(c) for c in _arr(d.get("connectionSet"), "connectionSet")
            ],
            subscription_table={_str(t): SubscriptionData.from_wire(s) for t, s in table.items()},
            consume_type=_enum_name(d.get("consumeType"), CONSUME_TYPE_NAMES, "consumeType"),
            message_model=_enum_name(d.get("messageModel"), MESSAGE_MODEL_NAMES, "messageModel"),
            consume_from_where=_enum_name(
                d.get("consumeFromWhere"), CONSUME_FROM_WHERE_NAMES, "consumeFromWhere"
            ),
        )


@dataclass(slots=True)
class ProducerConnection:
    """GET_PRODUCER_CONNECTION_LIST (204) body."""

    connection_set: list[Connection] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {"connectionSet": [c.to_wire() for c in self.connection_set]}

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "ProducerConnection")
        return cls([Connection.from_wire(c) for c in _arr(d.get("connectionSet"), "connectionSet")])


# ----------------------------------------------------------------------------------- stats


@dataclass(slots=True)
class OffsetWrapper:
    """One queue's progress for a group (``admin.OffsetWrapper``). ``pull_offset`` is 5.x's:
    read when present, written only when set."""

    broker_offset: int = 0
    consumer_offset: int = 0
    last_timestamp: int = 0
    pull_offset: int | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "brokerOffset": self.broker_offset,
            "consumerOffset": self.consumer_offset,
            "lastTimestamp": self.last_timestamp,
        }
        if self.pull_offset is not None:
            wire["pullOffset"] = self.pull_offset
        return wire

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "OffsetWrapper")
        pull = d.get("pullOffset")
        return cls(
            broker_offset=_int(d.get("brokerOffset")),
            consumer_offset=_int(d.get("consumerOffset")),
            last_timestamp=_int(d.get("lastTimestamp")),
            pull_offset=None if pull is None else _int(pull),
        )


@dataclass(slots=True)
class ConsumeStats:
    """GET_CONSUME_STATS (208) body; MessageQueue map keys travel as JSON objects (§3.5.8)."""

    offset_table: dict[MessageQueue, OffsetWrapper] = field(default_factory=dict)
    consume_tps: float = 0.0

    def compute_total_diff(self) -> int:
        """Messages not yet consumed over all queues (broker offset − consumer offset)."""
        return sum(w.broker_offset - w.consumer_offset for w in self.offset_table.values())

    def to_wire(self) -> dict[Any, Any]:
        table = {mq.to_key(): wrapper.to_wire() for mq, wrapper in self.offset_table.items()}
        # float() so that an int tps is still written "0.0", as a Java double is.
        return {"consumeTps": float(self.consume_tps), "offsetTable": table}

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "ConsumeStats")
        table = _obj(d.get("offsetTable"), "offsetTable")
        return cls(
            {MessageQueue.from_key(k): OffsetWrapper.from_wire(v) for k, v in table.items()},
            _float(d.get("consumeTps")),
        )


# ----------------------------------------------------------------------------------- codecs


def encode_heartbeat(heartbeat: HeartbeatData) -> bytes:
    return dumps_legacy(heartbeat.to_wire())


def decode_heartbeat(data: bytes | str) -> HeartbeatData:
    return HeartbeatData.from_wire(_root(data, "HeartbeatData"))


def encode_consumer_connection(connection: ConsumerConnection) -> bytes:
    return dumps_legacy(connection.to_wire())


def decode_consumer_connection(data: bytes | str) -> ConsumerConnection:
    return ConsumerConnection.from_wire(_root(data, "ConsumerConnection"))


def encode_producer_connection(connection: ProducerConnection) -> bytes:
    return dumps_legacy(connection.to_wire())


def decode_producer_connection(data: bytes | str) -> ProducerConnection:
    return ProducerConnection.from_wire(_root(data, "ProducerConnection"))


def encode_consumer_id_list(client_ids: Iterable[str]) -> bytes:
    """GET_CONSUMER_LIST_BY_GROUP (38) body ``{"consumerIdList":[..]}``."""
    return dumps_legacy({"consumerIdList": list(client_ids)})


def decode_consumer_id_list(data: bytes | str) -> list[str]:
    ids = _root(data, "GetConsumerListByGroupResponseBody").get("consumerIdList")
    return [_str(client_id) for client_id in _arr(ids, "consumerIdList")]


def encode_consume_stats(stats: ConsumeStats) -> bytes:
    return dumps_legacy(stats.to_wire())


def decode_consume_stats(data: bytes | str) -> ConsumeStats:
    return ConsumeStats.from_wire(_root(data, "ConsumeStats"))
