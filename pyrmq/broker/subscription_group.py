"""Consumer-group settings (retry queues, max retries, enable flags), ``subscriptionGroup.json``.

Mirrors ``SubscriptionGroupManager`` (Java 4.9.8; protocol.md §3.5.10): the system groups a
4.9.8 broker creates, auto-creation of unknown groups on first use (HEART_BEAT, pull,
send-back) when ``autoCreateSubscriptionGroup`` is on — ``CID_RMQ_SYS_*`` groups always —
and admin updates/deletes. Every change bumps ``data_version`` and is persisted at once.
Synchronous; the file format is ``pyrmq.store.metadata.SubscriptionGroupFile``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from pyrmq.broker.config import BrokerConfig
from pyrmq.common.clock import Clock
from pyrmq.remoting.bodies import DataVersion
from pyrmq.store.metadata import SubscriptionGroupConfig, SubscriptionGroupFile

__all__ = [
    "CID_ONSAPI_OWNER_GROUP",
    "CID_ONSAPI_PERMISSION_GROUP",
    "CID_ONSAPI_PULL_GROUP",
    "CID_RMQ_SYS_PREFIX",
    "CID_SYS_RMQ_TRANS",
    "FILTERSRV_CONSUMER_GROUP",
    "ONS_HTTP_PROXY_GROUP",
    "SELF_TEST_CONSUMER_GROUP",
    "SYSTEM_GROUPS",
    "TOOLS_CONSUMER_GROUP",
    "SubscriptionGroupManager",
    "is_sys_consumer_group",
]

log = logging.getLogger(__name__)

# MixAll's group names.
TOOLS_CONSUMER_GROUP: Final = "TOOLS_CONSUMER"
FILTERSRV_CONSUMER_GROUP: Final = "FILTERSRV_CONSUMER"
SELF_TEST_CONSUMER_GROUP: Final = "SELF_TEST_C_GROUP"
ONS_HTTP_PROXY_GROUP: Final = "CID_ONS-HTTP-PROXY"
CID_ONSAPI_PULL_GROUP: Final = "CID_ONSAPI_PULL"
CID_ONSAPI_PERMISSION_GROUP: Final = "CID_ONSAPI_PERMISSION"
CID_ONSAPI_OWNER_GROUP: Final = "CID_ONSAPI_OWNER"
CID_RMQ_SYS_PREFIX: Final = "CID_RMQ_SYS_"
#: The transaction checker's group; 4.9.8 does not pre-create it (5.x does), but as a
#: ``CID_RMQ_SYS_`` group it is auto-created on first use whatever the broker config says.
CID_SYS_RMQ_TRANS: Final = "CID_RMQ_SYS_TRANS"

#: The groups ``SubscriptionGroupManager.init()`` creates in 4.9.8, all with default settings
#: (the ONS ones set consumeBroadcastEnable, which is the default anyway).
SYSTEM_GROUPS: Final = (
    TOOLS_CONSUMER_GROUP,
    FILTERSRV_CONSUMER_GROUP,
    SELF_TEST_CONSUMER_GROUP,
    ONS_HTTP_PROXY_GROUP,
    CID_ONSAPI_PULL_GROUP,
    CID_ONSAPI_PERMISSION_GROUP,
    CID_ONSAPI_OWNER_GROUP,
)


def is_sys_consumer_group(group: str) -> bool:
    """``MixAll.isSysConsumerGroup``."""
    return group.startswith(CID_RMQ_SYS_PREFIX)


class SubscriptionGroupManager:
    def __init__(self, broker_config: BrokerConfig, path: Path, clock: Clock) -> None:
        self.broker_config = broker_config
        self.path = Path(path)
        self.clock = clock
        self.data_version = DataVersion(clock.now_ms(), 0)
        self.subscription_group_table: dict[str, SubscriptionGroupConfig] = {
            group: SubscriptionGroupConfig(group) for group in SYSTEM_GROUPS
        }

    # ------------------------------------------------------------------ persistence

    def load(self) -> None:
        """Merge the file (or its ``.bak``) over the system groups and adopt its version."""
        loaded = SubscriptionGroupFile.load(self.path)
        self.subscription_group_table.update(loaded.subscription_group_table)
        if loaded.subscription_group_table or loaded.data_version != DataVersion():
            self.data_version = loaded.data_version
        log.info(
            "loaded %d subscription groups from %s", len(loaded.subscription_group_table), self.path
        )

    def persist(self) -> None:
        self._file().persist(self.path)

    def encode_all(self) -> bytes:
        """GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) body (compact legacy JSON)."""
        return self._file().encode(pretty=False)

    def _file(self) -> SubscriptionGroupFile:
        return SubscriptionGroupFile(dict(self.subscription_group_table), self.data_version)

    def _changed(self) -> None:
        self.data_version = self.data_version.next_version(self.clock.now_ms())
        self.persist()

    # ------------------------------------------------------------------ lookups

    def find_subscription_group_config(self, group: str) -> SubscriptionGroupConfig | None:
        """The group's settings, auto-created with defaults when allowed; None otherwise
        (the request then fails with SUBSCRIPTION_GROUP_NOT_EXIST)."""
        config = self.subscription_group_table.get(group)
        if config is not None:
            return config
        if not (self.broker_config.auto_create_subscription_group or is_sys_consumer_group(group)):
            return None
        config = SubscriptionGroupConfig(group)
        self.subscription_group_table[group] = config
        log.info("auto create a subscription group %s", group)
        self._changed()
        return config

    def contains(self, group: str) -> bool:
        return group in self.subscription_group_table

    # ------------------------------------------------------------------ administration

    def update_subscription_group_config(self, config: SubscriptionGroupConfig) -> None:
        """UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: store (replace) the group's settings."""
        old = self.subscription_group_table.get(config.group_name)
        self.subscription_group_table[config.group_name] = config
        log.info("%s subscription group %s", "update" if old else "create", config)
        self._changed()

    def disable_consume(self, group: str) -> None:
        """Stop a group from consuming (slow-consumer protection). Like Java: version bumped,
        not persisted until the next change."""
        config = self.subscription_group_table.get(group)
        if config is not None:
            config.consume_enable = False
            self.data_version = self.data_version.next_version(self.clock.now_ms())

    def delete_subscription_group_config(self, group: str) -> bool:
        """DELETE_SUBSCRIPTIONGROUP; False when the group did not exist (nothing changes)."""
        if self.subscription_group_table.pop(group, None) is None:
            log.warning("delete subscription group failed, %s does not exist", group)
            return False
        self._changed()
        return True
