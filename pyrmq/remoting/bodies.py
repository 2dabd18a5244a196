"""JSON bodies of the NameServer protocol and their fastjson wire forms (protocol.md §3.5).

Convention, the same for every body:

* a ``@dataclass(slots=True)`` with snake_case attributes;
* ``obj.to_wire()`` gives the mapping fastjson would write: camelCase properties in alphabetical
  order (fastjson sorts bean properties), nulls left out, map keys kept as Java typed them
  (``int`` broker ids, ``MessageQueue`` keys as ``FrozenKey``);
* ``Cls.from_wire(value)`` reads a parsed value leniently, like fastjson filling a bean: unknown
  keys ignored, missing keys defaulted, numbers and booleans given as strings accepted, keys in
  legacy (``{0:..}``) or standard (``{"0":..}``) form;
* module functions ``encode_<body>(obj, standard=False) -> bytes`` and
  ``decode_<body>(data) -> Body`` are the entry points; decoders raise ``ValueError``
  (``JsonError`` for bad JSON, ``BodyError`` for JSON of the wrong shape).

The property sets are 4.9.x's; 5.x additions (``enableActingMaster``, ``stateVersion``,
``attributes``, static-topic mappings) are accepted on input and not emitted. Properties-text
bodies (``key=value`` lines) live in ``pyrmq.common.config``. Sans-IO.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Self, TypeVar

from pyrmq.common.constants import MASTER_ID
from pyrmq.remoting.fastjson import FrozenKey, dumps_legacy, dumps_standard, loads

__all__ = [
    "BodyError",
    "BrokerData",
    "ClusterInfo",
    "DataVersion",
    "KVTable",
    "MessageQueue",
    "QueueData",
    "RegisterBrokerBody",
    "TopicConfig",
    "TopicConfigSerializeWrapper",
    "TopicList",
    "TopicOffset",
    "TopicRouteData",
    "TopicStatsTable",
    "decode_cluster_info",
    "decode_data_version",
    "decode_kv_table",
    "decode_register_broker_body",
    "decode_topic_config",
    "decode_topic_config_serialize_wrapper",
    "decode_topic_list",
    "decode_topic_route_data",
    "decode_topic_stats_table",
    "encode_cluster_info",
    "encode_data_version",
    "encode_kv_table",
    "encode_register_broker_body",
    "encode_register_broker_body_compressed",
    "encode_topic_config",
    "encode_topic_config_serialize_wrapper",
    "encode_topic_list",
    "encode_topic_route_data",
    "encode_topic_stats_table",
]


class BodyError(ValueError):
    """A body that is valid JSON but cannot be read as the expected type."""


# ----------------------------------------------------------------------------------- coercion
# fastjson converts between scalar kinds when filling a typed field; these mirror what it
# accepts (TypeUtils.castToInt/castToBoolean/castToString) closely enough for the wire.


def _obj(value: Any, what: str) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    if isinstance(value, FrozenKey):
        return value.to_dict()
    raise BodyError(f"{what}: expected a JSON object, got {type(value).__name__}")


def _arr(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    raise BodyError(f"{what}: expected a JSON array, got {type(value).__name__}")


def _int(value: Any, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, int):  # bool included: fastjson casts true to 1
        return int(value)
    if isinstance(value, float) and math.isfinite(value):
        return int(value)  # fastjson truncates, as Java's (int) cast does
    if isinstance(value, str):
        return _int_from_text(value, default)
    raise BodyError(f"expected an integer, got {value!r}")


def _int_from_text(text: str, default: int) -> int:
    text = text.strip()
    if not text or text == "null":  # fastjson casts "" to null: the field keeps its default
        return default
    try:
        return int(text)
    except ValueError:
        raise BodyError(f"expected an integer, got {text!r}") from None


def _str(value: Any, default: str = "") -> str:
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise BodyError(f"expected a string, got {value!r}")


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


_TRUE: Final = frozenset({"true", "1", "y", "t"})
_FALSE: Final = frozenset({"false", "0", "n", "f"})


def _bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool | int):
        return value != 0
    text = _str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if not text or text == "null":
        return default
    raise BodyError(f"expected a boolean, got {value!r}")


def _str_list(value: Any, what: str) -> list[str]:
    return [_str(item) for item in _arr(value, what)]


def _root(data: bytes | str, what: str) -> Mapping[Any, Any]:
    value = loads(data)
    if not isinstance(value, Mapping):
        raise BodyError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def _encode(wire: Any, standard: bool) -> bytes:
    return dumps_standard(wire) if standard else dumps_legacy(wire)


class _Wire:
    """What every body provides (for the generic helpers)."""

    __slots__ = ()

    def to_wire(self) -> dict[Any, Any]:
        raise NotImplementedError

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        raise NotImplementedError


_W = TypeVar("_W", bound=_Wire)


def _decode(cls: type[_W], data: bytes | str) -> _W:
    return cls.from_wire(_root(data, cls.__name__))


def _table(
    value: Any, what: str, read: Callable[[Any], _W], key: Callable[[Any], Any] = _str
) -> dict[Any, _W]:
    return {key(k): read(v) for k, v in _obj(value, what).items()}


# ----------------------------------------------------------------------------------- versions


@dataclass(slots=True, frozen=True)
class DataVersion(_Wire):
    """A broker's topic-config generation; equal versions mean "topics unchanged" (4.9.x compares
    timestamp and counter). 5.x ``stateVersion`` is read but neither compared nor written.
    Missing fields read as 0 (Java would take the current time for ``timestamp``)."""

    timestamp: int = 0
    counter: int = 0
    state_version: int = field(default=0, compare=False)

    def next_version(self, now_ms: int) -> DataVersion:
        """``DataVersion.nextVersion()``: counter + 1, timestamp = now."""
        return DataVersion(now_ms, self.counter + 1, self.state_version)

    def to_wire(self) -> dict[Any, Any]:
        return {"counter": self.counter, "timestamp": self.timestamp}

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "DataVersion")
        return cls(_int(d.get("timestamp")), _int(d.get("counter")), _int(d.get("stateVersion")))


# ----------------------------------------------------------------------------------- topics


@dataclass(slots=True)
class TopicConfig(_Wire):
    """A broker's topic (``TopicConfig.java``); defaults are Java's."""

    topic_name: str
    read_queue_nums: int = 16
    write_queue_nums: int = 16
    perm: int = 6
    topic_filter_type: str = "SINGLE_TAG"
    topic_sys_flag: int = 0
    order: bool = False

    def to_wire(self) -> dict[Any, Any]:
        return {
            "order": self.order,
            "perm": self.perm,
            "readQueueNums": self.read_queue_nums,
            "topicFilterType": self.topic_filter_type,
            "topicName": self.topic_name,
            "topicSysFlag": self.topic_sys_flag,
            "writeQueueNums": self.write_queue_nums,
        }

    @classmethod
    def from_wire(cls, value: Any, default_name: str = "") -> Self:
        d = _obj(value, "TopicConfig")
        return cls(
            topic_name=_str(d.get("topicName"), default_name),
            read_queue_nums=_int(d.get("readQueueNums"), 16),
            write_queue_nums=_int(d.get("writeQueueNums"), 16),
            perm=_int(d.get("perm"), 6),
            topic_filter_type=_str(d.get("topicFilterType"), "SINGLE_TAG"),
            topic_sys_flag=_int(d.get("topicSysFlag")),
            order=_bool(d.get("order")),
        )


@dataclass(slots=True)
class TopicConfigSerializeWrapper(_Wire):
    """All topics of a broker with their generation (GET_ALL_TOPIC_CONFIG body, register body)."""

    topic_config_table: dict[str, TopicConfig] = field(default_factory=dict)
    data_version: DataVersion = field(default_factory=DataVersion)

    def to_wire(self) -> dict[Any, Any]:
        table = {name: tc.to_wire() for name, tc in self.topic_config_table.items()}
        return {"dataVersion": self.data_version.to_wire(), "topicConfigTable": table}

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "TopicConfigSerializeWrapper")
        table = {
            _str(name): TopicConfig.from_wire(tc, _str(name))
            for name, tc in _obj(d.get("topicConfigTable"), "topicConfigTable").items()
        }
        return cls(table, DataVersion.from_wire(d.get("dataVersion")))


@dataclass(slots=True)
class RegisterBrokerBody(_Wire):
    """REGISTER_BROKER body (§3.5.5)."""

    topic_config_serialize_wrapper: TopicConfigSerializeWrapper = field(
        default_factory=TopicConfigSerializeWrapper
    )
    filter_server_list: list[str] = field(default_factory=list)

    def to_wire(self) -> dict[Any, Any]:
        return {
            "filterServerList": list(self.filter_server_list),
            "topicConfigSerializeWrapper": self.topic_config_serialize_wrapper.to_wire(),
        }

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "RegisterBrokerBody")
        wrapper = TopicConfigSerializeWrapper.from_wire(d.get("topicConfigSerializeWrapper"))
        return cls(wrapper, _str_list(d.get("filterServerList"), "filterServerList"))


# ----------------------------------------------------------------------------------- routes


@dataclass(slots=True)
class QueueData(_Wire):
    """One broker name's queues of a topic."""

    broker_name: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_sys_flag: int = 0

    def to_wire(self) -> dict[Any, Any]:
        return {
            "brokerName": self.broker_name,
            "perm": self.perm,
            "readQueueNums": self.read_queue_nums,
            "topicSysFlag": self.topic_sys_flag,
            "writeQueueNums": self.write_queue_nums,
        }

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "QueueData")
        # NameServers before 4.9.0 spell it topicSynFlag.
        sys_flag = d.get("topicSysFlag", d.get("topicSynFlag"))
        return cls(
            broker_name=_str(d.get("brokerName")),
            read_queue_nums=_int(d.get("readQueueNums")),
            write_queue_nums=_int(d.get("writeQueueNums")),
            perm=_int(d.get("perm")),
            topic_sys_flag=_int(sys_flag),
        )


@dataclass(slots=True)
class BrokerData(_Wire):
    """A broker name's addresses by broker id (0 = master)."""

    cluster: str
    broker_name: str
    broker_addrs: dict[int, str] = field(default_factory=dict)

    def select_broker_addr(self) -> str | None:
        """The master's address, else the lowest-id slave's (Java picks a random one)."""
        master = self.broker_addrs.get(MASTER_ID)
        if master is not None:
            return master
        return self.broker_addrs[min(self.broker_addrs)] if self.broker_addrs else None

    def to_wire(self) -> dict[Any, Any]:
        # HashMap<Long,String> iterates small ids in ascending order; keep that.
        addrs = {broker_id: self.broker_addrs[broker_id] for broker_id in sorted(self.broker_addrs)}
        return {"brokerAddrs": addrs, "brokerName": self.broker_name, "cluster": self.cluster}

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "BrokerData")
        addrs = {
            _int(broker_id): _str(addr)
            for broker_id, addr in _obj(d.get("brokerAddrs"), "brokerAddrs").items()
        }
        return cls(_str(d.get("cluster")), _str(d.get("brokerName")), addrs)


@dataclass(slots=True)
class TopicRouteData(_Wire):
    """GET_ROUTEINFO_BY_TOPIC body (§3.5.1)."""

    queue_datas: list[QueueData] = field(default_factory=list)
    broker_datas: list[BrokerData] = field(default_factory=list)
    filter_server_table: dict[str, list[str]] = field(default_factory=dict)
    order_topic_conf: str | None = None

    def to_wire(self) -> dict[Any, Any]:
        wire: dict[Any, Any] = {
            "brokerDatas": [bd.to_wire() for bd in self.broker_datas],
            "filterServerTable": {k: list(v) for k, v in self.filter_server_table.items()},
        }
        if self.order_topic_conf is not None:
            wire["orderTopicConf"] = self.order_topic_conf
        wire["queueDatas"] = [qd.to_wire() for qd in self.queue_datas]
        return wire

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "TopicRouteData")
        filters = _obj(d.get("filterServerTable"), "filterServerTable")
        return cls(
            queue_datas=[QueueData.from_wire(q) for q in _arr(d.get("queueDatas"), "queueDatas")],
            broker_datas=[
                BrokerData.from_wire(b) for b in _arr(d.get("brokerDatas"), "brokerDatas")
            ],
            filter_server_table={
                _str(k): _str_list(v, "filter servers") for k, v in filters.items()
            },
            order_topic_conf=_opt_str(d.get("orderTopicConf")),
        )


@dataclass(slots=True)
class ClusterInfo(_Wire):
    """GET_BROKER_CLUSTER_INFO body (§3.5.2); Java always sends it as legacy JSON."""

    broker_addr_table: dict[str, BrokerData] = field(default_factory=dict)
    cluster_addr_table: dict[str, list[str]] = field(default_factory=dict)

    def to_wire(self) -> dict[Any, Any]:
        return {
            "brokerAddrTable": {k: bd.to_wire() for k, bd in self.broker_addr_table.items()},
            "clusterAddrTable": {k: list(v) for k, v in self.cluster_addr_table.items()},
        }

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "ClusterInfo")
        clusters = _obj(d.get("clusterAddrTable"), "clusterAddrTable")
        return cls(
            _table(d.get("brokerAddrTable"), "brokerAddrTable", BrokerData.from_wire),
            {_str(k): _str_list(v, "cluster members") for k, v in clusters.items()},
        )


# ----------------------------------------------------------------------------------- small


@dataclass(slots=True)
class KVTable(_Wire):
    """``{"table":{k:v}}`` (KV lists, broker runtime info, ORDER_TOPIC_CONFIG)."""

    table: dict[str, str] = field(default_factory=dict)

    def to_wire(self) -> dict[Any, Any]:
        return {"table": dict(self.table)}

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        table = _obj(_obj(value, "KVTable").get("table"), "table")
        return cls({_str(k): _str(v) for k, v in table.items()})


@dataclass(slots=True)
class TopicList(_Wire):
    """``{"brokerAddr":..,"topicList":[..]}``; ``brokerAddr`` only for the system topic list."""

    topic_list: list[str] = field(default_factory=list)
    broker_addr: str | None = None

    def to_wire(self) -> dict[Any, Any]:
        wire: dict[Any, Any] = {}
        if self.broker_addr is not None:
            wire["brokerAddr"] = self.broker_addr
        wire["topicList"] = list(self.topic_list)
        return wire

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "TopicList")
        return cls(_str_list(d.get("topicList"), "topicList"), _opt_str(d.get("brokerAddr")))


# ----------------------------------------------------------------------------------- queues


@dataclass(slots=True, frozen=True, order=True)
class MessageQueue(_Wire):
    """``(topic, brokerName, queueId)``; hashable, ordered like Java's ``compareTo``.

    Map keys of this type travel as JSON objects in legacy JSON (``to_key``/``from_key``).
    """

    topic: str
    broker_name: str
    queue_id: int

    def to_wire(self) -> dict[Any, Any]:
        return {"brokerName": self.broker_name, "queueId": self.queue_id, "topic": self.topic}

    def to_key(self) -> FrozenKey:
        """The map-key form ``dumps_legacy`` writes as ``{{"brokerName":..}:v}``."""
        return FrozenKey(tuple(self.to_wire().items()))

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "MessageQueue")
        return cls(_str(d.get("topic")), _str(d.get("brokerName")), _int(d.get("queueId")))

    @classmethod
    def from_key(cls, key: Any) -> Self:
        """A map key as parsed: an object key (legacy) or its JSON text (standard JSON)."""
        return cls.from_wire(loads(key) if isinstance(key, str) else key)


@dataclass(slots=True)
class TopicOffset(_Wire):
    """A queue's offsets (``admin/TopicOffset.java``)."""

    min_offset: int = 0
    max_offset: int = 0
    last_update_timestamp: int = 0

    def to_wire(self) -> dict[Any, Any]:
        return {
            "lastUpdateTimestamp": self.last_update_timestamp,
            "maxOffset": self.max_offset,
            "minOffset": self.min_offset,
        }

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        d = _obj(value, "TopicOffset")
        return cls(
            _int(d.get("minOffset")), _int(d.get("maxOffset")), _int(d.get("lastUpdateTimestamp"))
        )


@dataclass(slots=True)
class TopicStatsTable(_Wire):
    """GET_TOPIC_STATS_INFO body (§3.5.8): offsets per MessageQueue (an object map key)."""

    offset_table: dict[MessageQueue, TopicOffset] = field(default_factory=dict)

    def to_wire(self) -> dict[Any, Any]:
        return {"offsetTable": {mq.to_key(): to.to_wire() for mq, to in self.offset_table.items()}}

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        table = _obj(value, "TopicStatsTable").get("offsetTable")
        return cls(_table(table, "offsetTable", TopicOffset.from_wire, MessageQueue.from_key))


# ----------------------------------------------------------------------------------- codecs


def encode_data_version(version: DataVersion, standard: bool = False) -> bytes:
    return _encode(version.to_wire(), standard)


def decode_data_version(data: bytes | str) -> DataVersion:
    return _decode(DataVersion, data)


def encode_topic_config(config: TopicConfig, standard: bool = False) -> bytes:
    return _encode(config.to_wire(), standard)


def decode_topic_config(data: bytes | str) -> TopicConfig:
    return _decode(TopicConfig, data)


def encode_topic_config_serialize_wrapper(
    wrapper: TopicConfigSerializeWrapper, standard: bool = False
) -> bytes:
    return _encode(wrapper.to_wire(), standard)


def decode_topic_config_serialize_wrapper(data: bytes | str) -> TopicConfigSerializeWrapper:
    return _decode(TopicConfigSerializeWrapper, data)


def encode_register_broker_body(body: RegisterBrokerBody, standard: bool = False) -> bytes:
    return _encode(body.to_wire(), standard)


def decode_register_broker_body(data: bytes, compressed: bool = False) -> RegisterBrokerBody:
    """The JSON form, or with ``compressed`` (request ext ``compressed=true``) the zlib form."""
    if compressed:
        return _decode_compressed_register_body(data)
    return _decode(RegisterBrokerBody, data)


def encode_topic_route_data(route: TopicRouteData, standard: bool = False) -> bytes:
    """Legacy JSON (``{0:"addr"}``) unless the client asked for standard JSON (§3.1)."""
    return _encode(route.to_wire(), standard)


def decode_topic_route_data(data: bytes | str) -> TopicRouteData:
    return _decode(TopicRouteData, data)


def encode_cluster_info(info: ClusterInfo, standard: bool = False) -> bytes:
    return _encode(info.to_wire(), standard)


def decode_cluster_info(data: bytes | str) -> ClusterInfo:
    return _decode(ClusterInfo, data)


def encode_kv_table(table: KVTable, standard: bool = False) -> bytes:
    return _encode(table.to_wire(), standard)


def decode_kv_table(data: bytes | str) -> KVTable:
    return _decode(KVTable, data)


def encode_topic_list(topics: TopicList, standard: bool = False) -> bytes:
    return _encode(topics.to_wire(), standard)


def decode_topic_list(data: bytes | str) -> TopicList:
    return _decode(TopicList, data)


def encode_topic_stats_table(stats: TopicStatsTable, standard: bool = False) -> bytes:
    return _encode(stats.to_wire(), standard)


def decode_topic_stats_table(data: bytes | str) -> TopicStatsTable:
    return _decode(TopicStatsTable, data)


# ----------------------------------------------------------------------------------- compressed
# RegisterBrokerBody.encode(true)/decode(data, true): a zlib stream of
#   i32 len + DataVersion JSON, i32 count, count × (i32 len + topic line),
#   i32 len + filterServerList JSON, and from 5.x brokers i32 n + n × (i32 len + mapping JSON).
# A topic line is "name readQueueNums writeQueueNums perm topicFilterType" (5.x appends " " and
# the attributes JSON); topicSysFlag and order do not travel. All integers big-endian.

# Far above any real broker's topic table; stops a small zlib bomb from eating memory.
_MAX_INFLATED: Final = 256 * 1024 * 1024
_INT32: Final = struct.Struct(">i")


def encode_register_broker_body_compressed(body: RegisterBrokerBody) -> bytes:
    """Java's compressed layout. Java brokers do not send it by default and pyrmq never does:
    this exists for tests and Java-compatibility tools only."""
    wrapper = body.topic_config_serialize_wrapper
    out = bytearray()
    _put_chunk(out, encode_data_version(wrapper.data_version))
    out += _INT32.pack(len(wrapper.topic_config_table))
    for config in wrapper.topic_config_table.values():
        _put_chunk(out, _topic_config_line(config).encode("utf-8"))
    _put_chunk(out, dumps_legacy(list(body.filter_server_list)))
    return zlib.compress(bytes(out), 9)  # Deflater.BEST_COMPRESSION


def _put_chunk(out: bytearray, chunk: bytes) -> None:
    out += _INT32.pack(len(chunk))
    out += chunk


def _topic_config_line(config: TopicConfig) -> str:
    return " ".join(
        (
            config.topic_name,
            str(config.read_queue_nums),
            str(config.write_queue_nums),
            str(config.perm),
            config.topic_filter_type,
        )
    )


def _topic_config_from_line(line: str) -> TopicConfig:
    fields = line.split(" ")
    if len(fields) < 5:
        raise BodyError(f"compressed register body: bad topic line {line!r}")
    name, read, write, perm, filter_type = fields[:5]  # a 6th field (5.x attributes) is ignored
    return TopicConfig(
        name, _int(read), _int(write), _int(perm), topic_filter_type=filter_type or "SINGLE_TAG"
    )


def _decode_compressed_register_body(data: bytes) -> RegisterBrokerBody:
    reader = _ChunkReader(_inflate(data))
    version = DataVersion.from_wire(_root(reader.chunk(), "DataVersion"))
    table: dict[str, TopicConfig] = {}
    for _ in range(reader.int32()):
        config = _topic_config_from_line(reader.chunk().decode("utf-8", "replace"))
        table[config.topic_name] = config
    filters = _lenient_str_list(reader.chunk())
    return RegisterBrokerBody(TopicConfigSerializeWrapper(table, version), filters)


def _lenient_str_list(chunk: bytes) -> list[str]:
    # Java logs and falls back to an empty list when the filter server list does not parse.
    try:
        return _str_list(loads(chunk), "filterServerList")
    except ValueError:
        return []


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, _MAX_INFLATED)
    except zlib.error as exc:
        raise BodyError(f"compressed register body: {exc}") from None
    if inflater.unconsumed_tail:
        raise BodyError("compressed register body: inflates beyond the size limit")
    return raw


class _ChunkReader:
    """Reads the length-prefixed pieces of the inflated stream; a short read is an error."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise BodyError("compressed register body: truncated")
        piece = self.data[self.pos : self.pos + count]
        self.pos += count
        return piece

    def int32(self) -> int:
        value: int = _INT32.unpack(self.take(4))[0]
        return value

    def chunk(self) -> bytes:
        return self.take(self.int32())
