"""The broker's topic table: system topics, auto-creation, order flags, ``topics.json``.

Mirrors ``TopicConfigManager`` and the name rules of ``TopicValidator`` (Java 4.9.8;
protocol.md §5.5, §5.6). Synchronous and single-threaded: the broker calls it from its event
loop; ``persist`` writes a small file with fsync (like Java, which persists under its lock).
File format and crash-safe writing live in ``pyrmq.store.metadata.TopicsFile``.

Every change bumps ``data_version`` (counter + 1, timestamp = now); the NameServer compares it
to decide whether to re-read the broker's topics. When the manager itself creates a topic
(a send to an unknown topic, a retry/DLQ topic, the transaction check-max topic) it calls
``on_change`` so the broker re-registers at once, as Java's ``registerBrokerAll`` there.
Administrative changes (``update_topic_config``/``delete_topic_config``) are re-registered by
their request processors, and order flags come *from* a registration, so those do not call it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from pyrmq.broker.config import BrokerConfig
from pyrmq.common.clock import Clock
from pyrmq.common.constants import (
    AUTO_CREATE_TOPIC_KEY_TOPIC,
    PERM_INHERIT,
    PERM_READ,
    PERM_WRITE,
)
from pyrmq.remoting.bodies import DataVersion, TopicConfig, TopicConfigSerializeWrapper
from pyrmq.store.metadata import TopicsFile

__all__ = [
    "NOT_ALLOWED_SEND_TOPICS",
    "REPLY_TOPIC_POSTFIX",
    "RMQ_SYS_BENCHMARK_TOPIC",
    "RMQ_SYS_OFFSET_MOVED_EVENT",
    "RMQ_SYS_SCHEDULE_TOPIC",
    "RMQ_SYS_SELF_TEST_TOPIC",
    "RMQ_SYS_TRACE_TOPIC",
    "RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "SCHEDULE_TOPIC_QUEUE_NUM",
    "SYSTEM_TOPICS",
    "SYSTEM_TOPIC_PREFIX",
    "TOPIC_MAX_LENGTH",
    "TopicConfigManager",
    "is_not_allowed_send_topic",
    "is_system_topic",
    "validate_topic",
]

log = logging.getLogger(__name__)

RMQ_SYS_SCHEDULE_TOPIC: Final = "SCHEDULE_TOPIC_XXXX"
RMQ_SYS_BENCHMARK_TOPIC: Final = "BenchmarkTest"
RMQ_SYS_TRANS_HALF_TOPIC: Final = "RMQ_SYS_TRANS_HALF_TOPIC"
RMQ_SYS_TRACE_TOPIC: Final = "RMQ_SYS_TRACE_TOPIC"
RMQ_SYS_TRANS_OP_HALF_TOPIC: Final = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC: Final = "TRANS_CHECK_MAX_TIME_TOPIC"
RMQ_SYS_SELF_TEST_TOPIC: Final = "SELF_TEST_TOPIC"
RMQ_SYS_OFFSET_MOVED_EVENT: Final = "OFFSET_MOVED_EVENT"
SYSTEM_TOPIC_PREFIX: Final = "rmq_sys_"
REPLY_TOPIC_POSTFIX: Final = "REPLY_TOPIC"
SCHEDULE_TOPIC_QUEUE_NUM: Final = 18  # one queue per delay level
TOPIC_MAX_LENGTH: Final = 127

#: TopicValidator's static SYSTEM_TOPIC_SET (each broker adds its cluster/broker-name topics).
SYSTEM_TOPICS: Final = frozenset(
    {
        AUTO_CREATE_TOPIC_KEY_TOPIC,
        RMQ_SYS_SCHEDULE_TOPIC,
        RMQ_SYS_BENCHMARK_TOPIC,
        RMQ_SYS_TRANS_HALF_TOPIC,
        RMQ_SYS_TRACE_TOPIC,
        RMQ_SYS_TRANS_OP_HALF_TOPIC,
        RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC,
        RMQ_SYS_SELF_TEST_TOPIC,
        RMQ_SYS_OFFSET_MOVED_EVENT,
    }
)

#: Producers get NO_PERMISSION for these (TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET).
NOT_ALLOWED_SEND_TOPICS: Final = frozenset(
    {
        RMQ_SYS_SCHEDULE_TOPIC,
        RMQ_SYS_TRANS_HALF_TOPIC,
        RMQ_SYS_TRANS_OP_HALF_TOPIC,
        RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC,
        RMQ_SYS_SELF_TEST_TOPIC,
        RMQ_SYS_OFFSET_MOVED_EVENT,
    }
)

_VALID_CHARS: Final = frozenset(
    "%|_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def validate_topic(topic: str | None) -> str | None:
    """``TopicValidator.validateTopic``: the SYSTEM_ERROR remark, or None when the name is fine.

    (The TBW102 ban is a client-side check in 4.9.8; the broker accepts the name.)
    """
    if topic is None or not topic.strip():
        return "The specified topic is blank."
    if not _VALID_CHARS.issuperset(topic):
        return "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
    if len(topic) > TOPIC_MAX_LENGTH:
        return "The specified topic is longer than topic max length."
    return None


def is_system_topic(topic: str) -> bool:
    """The static part of ``TopicValidator.isSystemTopic`` (see the manager's method)."""
    return topic in SYSTEM_TOPICS or topic.startswith(SYSTEM_TOPIC_PREFIX)


def is_not_allowed_send_topic(topic: str) -> bool:
    return topic in NOT_ALLOWED_SEND_TOPICS


def _is_inherited(perm: int) -> bool:
    return bool(perm & PERM_INHERIT)


class TopicConfigManager:
    """Owns ``topic_config_table`` and ``data_version``; see the module docstring."""

    def __init__(self, broker_config: BrokerConfig, topics_path: Path, clock: Clock) -> None:
        self.broker_config = broker_config
        self.topics_path = Path(topics_path)
        self.clock = clock
        self.topic_config_table: dict[str, TopicConfig] = {}
        self.data_version = DataVersion(clock.now_ms(), 0)
        #: Set by the broker controller: re-register with the NameServers now.
        self.on_change: Callable[[], None] | None = None
        # Java adds every topic created here to TopicValidator's global system set.
        self._own_system_topics: set[str] = set()
        self._create_system_topics()

    # ------------------------------------------------------------------ construction

    def _create_system_topics(self) -> None:
        """The topics a 4.9.8 broker creates in its constructor (before loading the file)."""
        cfg = self.broker_config
        rw = PERM_READ | PERM_WRITE
        self._add_system(TopicConfig(RMQ_SYS_SELF_TEST_TOPIC, 1, 1))
        if cfg.auto_create_topic_enable:
            nums = cfg.default_topic_queue_nums
            self._add_system(
                TopicConfig(AUTO_CREATE_TOPIC_KEY_TOPIC, nums, nums, PERM_INHERIT | rw)
            )
        self._add_system(TopicConfig(RMQ_SYS_BENCHMARK_TOPIC, 1024, 1024))
        # Cluster and broker-name topics carry INHERIT so that a send naming them as the
        # template can auto-create topics on this cluster / this broker only.
        cluster_perm = PERM_INHERIT | (rw if cfg.cluster_topic_enable else 0)
        self._add_system(TopicConfig(cfg.broker_cluster_name, 16, 16, cluster_perm))
        broker_perm = PERM_INHERIT | (rw if cfg.broker_topic_enable else 0)
        self._add_system(TopicConfig(cfg.broker_name, 1, 1, broker_perm))
        self._add_system(TopicConfig(RMQ_SYS_OFFSET_MOVED_EVENT, 1, 1))
        queues = SCHEDULE_TOPIC_QUEUE_NUM
        self._add_system(TopicConfig(RMQ_SYS_SCHEDULE_TOPIC, queues, queues))
        if cfg.trace_topic_enable:
            self._add_system(TopicConfig(cfg.msg_trace_topic_name, 1, 1))
        reply_topic = f"{cfg.broker_cluster_name}_{REPLY_TOPIC_POSTFIX}"
        self._add_system(TopicConfig(reply_topic, 1, 1))

    def _add_system(self, config: TopicConfig) -> None:
        self._own_system_topics.add(config.topic_name)
        self.topic_config_table[config.topic_name] = config

    # ------------------------------------------------------------------ persistence

    def load(self) -> None:
        """Merge ``topics.json`` (or its ``.bak``) over the system topics; adopt its version."""
        loaded = TopicsFile.load(self.topics_path)
        self.topic_config_table.update(loaded.topic_config_table)
        if loaded.topic_config_table or loaded.data_version != DataVersion():
            self.data_version = loaded.data_version
        log.info("loaded %d topics from %s", len(loaded.topic_config_table), self.topics_path)

    def persist(self) -> None:
        TopicsFile(dict(self.topic_config_table), self.data_version).persist(self.topics_path)

    def _changed(self) -> None:
        self.data_version = self.data_version.next_version(self.clock.now_ms())
        self.persist()

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # ------------------------------------------------------------------ queries

    def select(self, topic: str) -> TopicConfig | None:
        return self.topic_config_table.get(topic)

    def is_order_topic(self, topic: str) -> bool:
        config = self.topic_config_table.get(topic)
        return config is not None and config.order

    def is_system_topic(self, topic: str) -> bool:
        """``TopicValidator.isSystemTopic`` as this broker sees it: the static set, the
        ``rmq_sys_`` prefix and the topics this broker created as system topics (its cluster
        and broker-name topics, the reply and trace topics)."""
        return is_system_topic(topic) or topic in self._own_system_topics

    def build_serialize_wrapper(self) -> TopicConfigSerializeWrapper:
        """All topics and the version, for REGISTER_BROKER and GET_ALL_TOPIC_CONFIG."""
        return TopicConfigSerializeWrapper(dict(self.topic_config_table), self.data_version)

    # ------------------------------------------------------------------ auto-creation

    def create_topic_in_send_message_method(
        self,
        topic: str,
        default_topic: str,
        client_default_queue_nums: int,
        topic_sys_flag: int = 0,
    ) -> TopicConfig | None:
        """A send to an unknown topic (§5.6): create it from the template ``default_topic``.

        Only a template with PERM_INHERIT creates anything; queues = min(client default,
        template write queues), perm = template perm without INHERIT. None when the template
        is missing or not inheritable (the sender gets TOPIC_NOT_EXIST).
        """
        existing = self.topic_config_table.get(topic)
        if existing is not None:
            return existing
        template = self.topic_config_table.get(default_topic)
        if template is None:
            log.warning("cannot create topic %s: template %s does not exist", topic, default_topic)
            return None
        if (
            default_topic == AUTO_CREATE_TOPIC_KEY_TOPIC
            and not self.broker_config.auto_create_topic_enable
        ):
            # Java demotes a TBW102 left over from an earlier run (loaded from topics.json)
            # so that it no longer creates topics.
            template.perm = PERM_READ | PERM_WRITE
        if not _is_inherited(template.perm):
            log.warning(
                "cannot create topic %s: template %s has perm %d without INHERIT",
                topic,
                default_topic,
                template.perm,
            )
            return None
        queue_nums = max(0, min(client_default_queue_nums, template.write_queue_nums))
        config = TopicConfig(
            topic,
            read_queue_nums=queue_nums,
            write_queue_nums=queue_nums,
            perm=template.perm & ~PERM_INHERIT,
            topic_filter_type=template.topic_filter_type,
            topic_sys_flag=topic_sys_flag,
        )
        self._create(config, f"from template {default_topic}")
        return config

    def create_topic_in_send_message_back_method(
        self, topic: str, queue_nums: int, perm: int, topic_sys_flag: int = 0
    ) -> TopicConfig:
        """The topic, created with exactly these settings when missing (``%RETRY%``/``%DLQ%``
        topics, the 4.9 transaction topics)."""
        existing = self.topic_config_table.get(topic)
        if existing is not None:
            return existing
        config = TopicConfig(topic, queue_nums, queue_nums, perm, topic_sys_flag=topic_sys_flag)
        self._create(config, "on demand")
        return config

    def create_topic_of_tran_check_max_time(self, queue_nums: int, perm: int) -> TopicConfig:
        """``TRANS_CHECK_MAX_TIME_TOPIC``, where half messages checked too often end up."""
        return self.create_topic_in_send_message_back_method(
            RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC, queue_nums, perm, 0
        )

    def _create(self, config: TopicConfig, how: str) -> None:
        log.info("create new topic %s %s: %s", config.topic_name, how, config)
        self.topic_config_table[config.topic_name] = config
        self._changed()
        self._notify()

    # ------------------------------------------------------------------ administration

    def update_topic_config(self, config: TopicConfig) -> None:
        """UPDATE_AND_CREATE_TOPIC: store (replace) the config."""
        old = self.topic_config_table.get(config.topic_name)
        self.topic_config_table[config.topic_name] = config
        log.info("%s topic config %s", "update" if old else "create", config)
        self._changed()

    def delete_topic_config(self, topic: str) -> bool:
        """DELETE_TOPIC_IN_BROKER; False when the topic did not exist (nothing changes)."""
        if self.topic_config_table.pop(topic, None) is None:
            log.warning("delete topic config failed, topic %s does not exist", topic)
            return False
        self._changed()
        return True

    def update_order_topic_config(self, order_topics: Mapping[str, str] | None) -> None:
        """Apply the NameServer's ORDER_TOPIC_CONFIG (topic → ``broker:queues;…``) from a
        registration answer: listed topics become order topics, all others stop being."""
        if order_topics is None:
            return
        changed = False
        for name, config in self.topic_config_table.items():
            want = name in order_topics
            if config.order != want:
                config.order = want
                changed = True
                log.info("update order topic config, topic=%s, order=%s", name, want)
        if changed:
            self._changed()
