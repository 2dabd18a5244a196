"""The broker's JSON metadata files under ``<storePathRootDir>/config/`` (store.md §5.7).

Owns the file formats and their load/persist, nothing else (the managers' logic lives with the
broker). Mirrors the persistence half of four Java classes (file — here — Java 4.9.8):

* ``topics.json`` — ``TopicsFile`` — ``TopicConfigManager`` (via ``TopicConfigSerializeWrapper``);
* ``consumerOffset.json`` — ``ConsumerOffsetFile`` — ``ConsumerOffsetManager``;
* ``subscriptionGroup.json`` — ``SubscriptionGroupFile`` — ``SubscriptionGroupManager``;
* ``delayOffset.json`` — ``DelayOffsetFile`` — ``ScheduleMessageService``
  (``DelayOffsetSerializeWrapper``).

Each class has ``encode(pretty=True)`` (the bytes a 4.9 broker writes: ``ConfigManager.persist``
calls ``encode(true)``, fastjson's PrettyFormat; ``pretty=False`` gives the compact form the
same objects take in remoting bodies), ``decode`` (standard JSON or fastjson's legacy form with
bare integer keys; unknown keys — 5.x's ``dataVersion`` in offset files, ``forbiddenTable``,
``attributes`` … — ignored), ``load`` (falls back to ``.bak``, then to an empty file) and
``persist`` (``common.persist.write_atomic``). ``load``/``persist`` block; async callers use an
executor.

fastjson 1.2.69 PrettyFormat, as verified by compiling fastjson from its 1.2.69 tag and
serialising beans with these files' properties (``JSON.toJSONString(obj, true)``), and by
reading ``JSONSerializer.println``, ``JavaBeanSerializer.write`` and ``MapSerializer.write``:

* the indent unit is one tab; a "new line" is ``\\n`` plus one tab per open object;
* ``{`` is followed by a new line before each string-keyed entry (bean property or ``Map``
  entry), entries are separated by ``,`` directly before that new line, and a non-empty object
  closes with a new line at the outer depth, then ``}``;
* pairs are ``"key":value`` — no space anywhere; strings are escaped as in compact output;
* integer-keyed map entries get **no** new line: ``{0:12,1:9`` then the closing new line, so
  ``"t@g":{0:12,1:9\\n\\t\\t}``;
* an empty map is ``{}``; there is no trailing newline at the end of the document.

(A bean whose properties are all null would print ``{\\n\\t\\n}``; ours never are.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final, Self

from pyrmq.common.persist import load as load_with_backup
from pyrmq.common.persist import write_atomic
from pyrmq.remoting.bodies import BodyError, DataVersion, TopicConfig, TopicConfigSerializeWrapper
from pyrmq.remoting.fastjson import dumps_legacy, loads
from pyrmq.store.config import MessageStoreConfig

__all__ = [
    "TOPIC_GROUP_SEPARATOR",
    "ConsumerOffsetFile",
    "DelayOffsetFile",
    "MetadataPaths",
    "SubscriptionGroupConfig",
    "SubscriptionGroupFile",
    "TopicsFile",
    "dumps_pretty",
    "metadata_paths",
    "offset_key",
    "split_offset_key",
]

#: ``ConsumerOffsetManager.TOPIC_GROUP_SEPARATOR``: offset keys are ``topic@group``.
TOPIC_GROUP_SEPARATOR: Final = "@"


# ----------------------------------------------------------------------------------- pretty JSON


def dumps_pretty(value: Any) -> bytes:
    """fastjson 1.2.69 PrettyFormat output of nested mappings (facts in the module docstring).

    Mappings are written in their own order; scalars exactly as ``dumps_legacy`` writes them.
    Arrays are not supported (no metadata file of 4.9 has one).
    """
    out: list[bytes] = []
    _write_pretty(value, 0, out)
    return b"".join(out)


def _write_pretty(value: Any, depth: int, out: list[bytes]) -> None:
    if isinstance(value, list | tuple | set | frozenset):
        raise TypeError("dumps_pretty does not write arrays")
    if not isinstance(value, Mapping):
        out.append(dumps_legacy(value))
        return
    out.append(b"{")
    for index, (key, item) in enumerate(value.items()):
        if index:
            out.append(b",")
        if isinstance(key, str):  # MapSerializer breaks the line only before string keys
            out.append(_new_line(depth + 1))
        out.append(dumps_legacy(key))
        out.append(b":")
        _write_pretty(item, depth + 1, out)
    if value:
        out.append(_new_line(depth))
    out.append(b"}")


def _new_line(depth: int) -> bytes:
    return b"\n" + b"\t" * depth


# ----------------------------------------------------------------------------------- coercion
# fastjson fills typed fields leniently (numbers given as strings, booleans as 0/1); these do
# the same and raise BodyError (a ValueError, so load falls back to .bak) on anything else.


def _mapping(value: Any, what: str) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    raise BodyError(f"{what}: expected a JSON object, got {type(value).__name__}")


def _int(value: Any, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, int):  # bool included: fastjson casts true to 1
        return int(value)
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            pass
    raise BodyError(f"expected an integer, got {value!r}")


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool | int):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        if not text:
            return default
    raise BodyError(f"expected a boolean, got {value!r}")


def _str(value: Any, default: str = "") -> str:
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a bare numeric key read by the legacy parser
    raise BodyError(f"expected a string, got {value!r}")


def _int_table(value: Any, what: str) -> dict[int, int]:
    """A ``Map<Integer, Long>``: keys bare (``{0:12}``) or quoted (``{"0":12}``)."""
    return {_int(key): _int(offset) for key, offset in _mapping(value, what).items()}


def _sorted_int_table(table: Mapping[int, int]) -> dict[int, int]:
    # Java iterates a ConcurrentHashMap<Integer, Long> by bucket, which is ascending order for
    # keys below the table size — always the case for queue ids and delay levels.
    return dict(sorted(table.items()))


# ----------------------------------------------------------------------------------- base


class _MetadataFile:
    """encode/decode/load/persist on top of each file's ``to_wire``/``from_wire``."""

    __slots__ = ()
    FILE_NAME: ClassVar[str]

    def to_wire(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_wire(cls, value: Mapping[Any, Any]) -> Self:
        raise NotImplementedError

    def encode(self, pretty: bool = True) -> bytes:
        """The file's bytes as a 4.9 broker writes them (pretty) or the compact body form."""
        wire = self.to_wire()
        return dumps_pretty(wire) if pretty else dumps_legacy(wire)

    @classmethod
    def decode(cls, data: bytes | str) -> Self:
        """Parse either JSON dialect; raises ``ValueError`` when it is not this file's shape.

        JSON ``null`` is refused too (Java would keep its defaults without reading ``.bak``;
        refusing sends ``load`` to the ``.bak``, which is never worse).
        """
        root = loads(data)
        if not isinstance(root, Mapping):
            raise BodyError(f"{cls.__name__}: expected a JSON object, got {type(root).__name__}")
        return cls.from_wire(root)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """The file at ``path``, else its ``.bak``, else an empty one (``ConfigManager.load``)."""
        loaded = load_with_backup(path, cls.decode)
        return loaded if loaded is not None else cls()

    def persist(self, path: str | Path) -> None:
        """Write crash-safely (tmp + fsync + rename), keeping the previous file as ``.bak``."""
        write_atomic(path, self.encode())


# ----------------------------------------------------------------------------------- topics.json


@dataclass(slots=True)
class TopicsFile(_MetadataFile):
    """``topics.json``: ``{"dataVersion":{..},"topicConfigTable":{name: TopicConfig}}``."""

    FILE_NAME: ClassVar[str] = "topics.json"

    topic_config_table: dict[str, TopicConfig] = field(default_factory=dict)
    data_version: DataVersion = field(default_factory=DataVersion)

    def to_wire(self) -> dict[str, Any]:
        return TopicConfigSerializeWrapper(self.topic_config_table, self.data_version).to_wire()

    @classmethod
    def from_wire(cls, value: Mapping[Any, Any]) -> Self:
        wrapper = TopicConfigSerializeWrapper.from_wire(value)
        return cls(wrapper.topic_config_table, wrapper.data_version)


# ----------------------------------------------------------------------------------- offsets


def offset_key(topic: str, group: str) -> str:
    """The ``consumerOffset.json`` key of a topic and a consumer group."""
    return topic + TOPIC_GROUP_SEPARATOR + group


def split_offset_key(key: str) -> tuple[str, str] | None:
    """(topic, group) of an offset key, or None when Java would skip it.

    Java splits with ``String.split("@")`` (trailing empty parts dropped) and uses keys with
    exactly two parts; topic and group names cannot contain ``@`` (their validation pattern is
    ``[%|a-zA-Z0-9_-]+``), so real keys always split cleanly.
    """
    parts = key.split(TOPIC_GROUP_SEPARATOR)
    while parts and not parts[-1]:
        parts.pop()
    if len(parts) != 2:
        return None
    return parts[0], parts[1]


@dataclass(slots=True)
class ConsumerOffsetFile(_MetadataFile):
    """``consumerOffset.json``: ``{"offsetTable":{"topic@group":{queueId: nextOffset}}}``."""

    FILE_NAME: ClassVar[str] = "consumerOffset.json"

    offset_table: dict[str, dict[int, int]] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        table = {key: _sorted_int_table(queues) for key, queues in self.offset_table.items()}
        return {"offsetTable": table}

    @classmethod
    def from_wire(cls, value: Mapping[Any, Any]) -> Self:
        raw = _mapping(value.get("offsetTable"), "offsetTable")
        table = {_str(key): _int_table(queues, "offsetTable entry") for key, queues in raw.items()}
        return cls(table)


# ----------------------------------------------------------------------------------- groups


@dataclass(slots=True)
class SubscriptionGroupConfig:
    """A consumer group's settings (``SubscriptionGroupConfig``, 4.9.8 fields and defaults)."""

    group_name: str
    consume_enable: bool = True
    consume_from_min_enable: bool = True
    consume_broadcast_enable: bool = True
    retry_queue_nums: int = 1
    retry_max_times: int = 16
    broker_id: int = 0  # MixAll.MASTER_ID
    which_broker_when_consume_slowly: int = 1
    notify_consumer_ids_changed_enable: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {  # fastjson's order: properties sorted by name
            "brokerId": self.broker_id,
            "consumeBroadcastEnable": self.consume_broadcast_enable,
            "consumeEnable": self.consume_enable,
            "consumeFromMinEnable": self.consume_from_min_enable,
            "groupName": self.group_name,
            "notifyConsumerIdsChangedEnable": self.notify_consumer_ids_changed_enable,
            "retryMaxTimes": self.retry_max_times,
            "retryQueueNums": self.retry_queue_nums,
            "whichBrokerWhenConsumeSlowly": self.which_broker_when_consume_slowly,
        }

    @classmethod
    def from_wire(cls, value: Any, default_name: str = "") -> Self:
        """Read leniently; 5.x additions (``groupRetryPolicy``, ``attributes`` …) are ignored."""
        d = _mapping(value, "SubscriptionGroupConfig")
        return cls(
            group_name=_str(d.get("groupName"), default_name),
            consume_enable=_bool(d.get("consumeEnable"), True),
            consume_from_min_enable=_bool(d.get("consumeFromMinEnable"), True),
            consume_broadcast_enable=_bool(d.get("consumeBroadcastEnable"), True),
            retry_queue_nums=_int(d.get("retryQueueNums"), 1),
            retry_max_times=_int(d.get("retryMaxTimes"), 16),
            broker_id=_int(d.get("brokerId"), 0),
            which_broker_when_consume_slowly=_int(d.get("whichBrokerWhenConsumeSlowly"), 1),
            notify_consumer_ids_changed_enable=_bool(d.get("notifyConsumerIdsChangedEnable"), True),
        )


@dataclass(slots=True)
class SubscriptionGroupFile(_MetadataFile):
    """``subscriptionGroup.json``: ``{"dataVersion":{..},"subscriptionGroupTable":{..}}``."""

    FILE_NAME: ClassVar[str] = "subscriptionGroup.json"

    subscription_group_table: dict[str, SubscriptionGroupConfig] = field(default_factory=dict)
    data_version: DataVersion = field(default_factory=DataVersion)

    def to_wire(self) -> dict[str, Any]:
        table = {name: group.to_wire() for name, group in self.subscription_group_table.items()}
        return {"dataVersion": self.data_version.to_wire(), "subscriptionGroupTable": table}

    @classmethod
    def from_wire(cls, value: Mapping[Any, Any]) -> Self:
        raw = _mapping(value.get("subscriptionGroupTable"), "subscriptionGroupTable")
        table = {
            _str(name): SubscriptionGroupConfig.from_wire(group, _str(name))
            for name, group in raw.items()
        }
        return cls(table, DataVersion.from_wire(value.get("dataVersion")))


# ----------------------------------------------------------------------------------- delay


@dataclass(slots=True)
class DelayOffsetFile(_MetadataFile):
    """``delayOffset.json``: ``{"offsetTable":{level: offset}}`` — per delay level (1-based),
    the next consume-queue offset to scan in ``SCHEDULE_TOPIC_XXXX`` queue level−1."""

    FILE_NAME: ClassVar[str] = "delayOffset.json"

    offset_table: dict[int, int] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"offsetTable": _sorted_int_table(self.offset_table)}

    @classmethod
    def from_wire(cls, value: Mapping[Any, Any]) -> Self:
        return cls(_int_table(value.get("offsetTable"), "offsetTable"))


# ----------------------------------------------------------------------------------- paths


@dataclass(frozen=True, slots=True)
class MetadataPaths:
    """Where the four files live (``BrokerPathConfigHelper``/``StorePathConfigHelper``)."""

    topics: Path
    consumer_offset: Path
    subscription_group: Path
    delay_offset: Path


def metadata_paths(config: MessageStoreConfig) -> MetadataPaths:
    """``<storePathRootDir>/config/<name>`` for each metadata file."""
    directory = config.config_path
    return MetadataPaths(
        topics=directory / TopicsFile.FILE_NAME,
        consumer_offset=directory / ConsumerOffsetFile.FILE_NAME,
        subscription_group=directory / SubscriptionGroupFile.FILE_NAME,
        delay_offset=directory / DelayOffsetFile.FILE_NAME,
    )
