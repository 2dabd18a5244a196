"""Which client channels belong to which producer and consumer groups (from HEART_BEAT).

Mirrors ``ClientChannelInfo``, ``ConsumerGroupInfo``, ``ConsumerManager`` and
``ProducerManager`` (Java 4.9.8; protocol.md §3.3). A channel is an opaque token — the broker
passes its ``RemotingConnection`` — compared by identity; its address comes from its ``peer``
attribute and its liveness from ``is_open`` when it has them. Synchronous, no asyncio: the
broker calls it from its event loop and does the network work (NOTIFY_CONSUMER_IDS_CHANGED,
closing expired channels) itself, through the ``on_ids_changed`` callback and the lists the
scans return.

Consumer-id change notifications: Java's listener sends NOTIFY_CONSUMER_IDS_CHANGED to every
channel of the group after the event; here ``on_ids_changed(group, channels)`` gets the
group's remaining channels, and is not called when none remain (nobody to tell).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pyrmq.common.clock import Clock
from pyrmq.remoting.heartbeat import Connection, ConsumerConnection, SubscriptionData

__all__ = [
    "CHANNEL_EXPIRED_TIMEOUT_MS",
    "ClientChannelInfo",
    "ConsumerGroupInfo",
    "ConsumerManager",
    "ProducerManager",
]

log = logging.getLogger(__name__)

#: A channel that has not sent a heartbeat for this long is dropped (clients send every 30 s).
CHANNEL_EXPIRED_TIMEOUT_MS = 120_000
# ProducerManager.GET_AVAILABLE_CHANNEL_RETRY_COUNT
_AVAILABLE_CHANNEL_TRIES = 3

IdsChanged = Callable[[str, list[object]], None]


def _is_active(channel: object) -> bool:
    """``Channel.isActive()``: the token's ``is_open`` (property or method); tokens without
    one count as open."""
    state = getattr(channel, "is_open", True)
    return bool(state() if callable(state) else state)


@dataclass(slots=True, eq=False)
class ClientChannelInfo:
    """One client connection as registered by a heartbeat; equality is identity."""

    channel: object
    client_id: str
    language: str
    version: int
    last_update_timestamp: int

    @property
    def client_addr(self) -> str:
        return str(getattr(self.channel, "peer", ""))

    def to_connection(self) -> Connection:
        """The ``Connection`` element of GET_CONSUMER/PRODUCER_CONNECTION_LIST bodies."""
        return Connection(self.client_id, self.client_addr, self.language, self.version)


def _channels(infos: Iterable[ClientChannelInfo]) -> list[object]:
    return [info.channel for info in infos]


# ----------------------------------------------------------------------------------- consumers


@dataclass(slots=True, eq=False)
class ConsumerGroupInfo:
    """A consumer group's live channels and its subscriptions (the last heartbeat's view)."""

    group_name: str
    consume_type: str
    message_model: str
    consume_from_where: str
    subscription_table: dict[str, SubscriptionData] = field(default_factory=dict)
    # id(channel) → info: identity semantics whatever the token's __eq__/__hash__ are; the
    # info holds the channel, so the id stays unique while the entry exists.
    channel_info_table: dict[int, ClientChannelInfo] = field(default_factory=dict)
    last_update_timestamp: int = 0

    def all_channels(self) -> list[object]:
        return _channels(self.channel_info_table.values())

    def all_client_ids(self) -> list[str]:
        return [info.client_id for info in self.channel_info_table.values()]

    def all_channel_infos(self) -> list[ClientChannelInfo]:
        return list(self.channel_info_table.values())

    def find_channel(self, client_id: str) -> ClientChannelInfo | None:
        for info in self.channel_info_table.values():
            if info.client_id == client_id:
                return info
        return None

    def find_subscription_data(self, topic: str) -> SubscriptionData | None:
        return self.subscription_table.get(topic)

    def subscribe_topics(self) -> set[str]:
        return set(self.subscription_table)

    def consumer_connection(self) -> ConsumerConnection:
        """GET_CONSUMER_CONNECTION_LIST (203) body of this group."""
        return ConsumerConnection(
            [info.to_connection() for info in self.channel_info_table.values()],
            dict(self.subscription_table),
            self.consume_type,
            self.message_model,
            self.consume_from_where,
        )

    def remove_channel(self, channel: object) -> ClientChannelInfo | None:
        return self.channel_info_table.pop(id(channel), None)

    def update_channel(
        self,
        info: ClientChannelInfo,
        consume_type: str,
        message_model: str,
        consume_from_where: str,
        now_ms: int,
    ) -> bool:
        """Adopt the heartbeat's settings and refresh the channel; True if it is new."""
        self.consume_type = consume_type
        self.message_model = message_model
        self.consume_from_where = consume_from_where
        key = id(info.channel)
        old = self.channel_info_table.get(key)
        is_new = old is None
        if old is None or old.client_id != info.client_id:
            if old is not None:  # Java logs this as a [BUG]: one channel, two client ids
                log.error(
                    "consumer channel of group %s changed client id %s -> %s",
                    self.group_name,
                    old.client_id,
                    info.client_id,
                )
            self.channel_info_table[key] = info
            old = info
        self.last_update_timestamp = now_ms
        old.last_update_timestamp = now_ms
        return is_new

    def update_subscription(self, subscriptions: Iterable[SubscriptionData], now_ms: int) -> bool:
        """Adopt the heartbeat's subscriptions; True if a topic was added or removed.

        A newer ``sub_version`` of a known topic replaces the stored one without counting as
        a change (Java's rule: it triggers no rebalance notification).
        """
        changed = False
        incoming = {sub.topic: sub for sub in subscriptions}
        for topic, sub in incoming.items():
            old = self.subscription_table.get(topic)
            if old is None:
                self.subscription_table[topic] = sub
                changed = True
            elif sub.sub_version > old.sub_version:
                self.subscription_table[topic] = sub
        for topic in [t for t in self.subscription_table if t not in incoming]:
            log.info("group %s no longer subscribes %s", self.group_name, topic)
            del self.subscription_table[topic]
            changed = True
        self.last_update_timestamp = now_ms
        return changed


class ConsumerManager:
    def __init__(self, clock: Clock, on_ids_changed: IdsChanged) -> None:
        self.clock = clock
        self.on_ids_changed = on_ids_changed
        self.consumer_table: dict[str, ConsumerGroupInfo] = {}

    # ------------------------------------------------------------------ lookups

    def groups(self) -> list[str]:
        return list(self.consumer_table)

    def get_consumer_group_info(self, group: str) -> ConsumerGroupInfo | None:
        return self.consumer_table.get(group)

    def find_channel(self, group: str, client_id: str) -> ClientChannelInfo | None:
        info = self.consumer_table.get(group)
        return info.find_channel(client_id) if info is not None else None

    def find_subscription_data(self, group: str, topic: str) -> SubscriptionData | None:
        info = self.consumer_table.get(group)
        return info.find_subscription_data(topic) if info is not None else None

    def query_topic_consume_by_who(self, topic: str) -> set[str]:
        """Groups with a live subscription to ``topic``."""
        return {g for g, info in self.consumer_table.items() if topic in info.subscription_table}

    # ------------------------------------------------------------------ changes

    def register_consumer(
        self,
        group: str,
        client_channel_info: ClientChannelInfo,
        consume_type: str,
        message_model: str,
        consume_from_where: str,
        subscriptions: Iterable[SubscriptionData],
        is_notify_consumer_ids_changed: bool,
    ) -> bool:
        """A heartbeat's consumer group entry; True when the channel is new to the group or
        a subscribed topic was added/removed (then, if asked, the group is notified)."""
        now = self.clock.now_ms()
        info = self.consumer_table.get(group)
        if info is None:
            info = ConsumerGroupInfo(group, consume_type, message_model, consume_from_where)
            self.consumer_table[group] = info
        channel_changed = info.update_channel(
            client_channel_info, consume_type, message_model, consume_from_where, now
        )
        subscription_changed = info.update_subscription(subscriptions, now)
        changed = channel_changed or subscription_changed
        if changed and is_notify_consumer_ids_changed:
            self._notify(group, info)
        return changed

    def unregister_consumer(
        self, group: str, client_channel_info: ClientChannelInfo, is_notify: bool
    ) -> None:
        """UNREGISTER_CLIENT for a consumer group: drop the channel (and an emptied group)."""
        info = self.consumer_table.get(group)
        if info is None:
            return
        info.remove_channel(client_channel_info.channel)
        if not info.channel_info_table:
            del self.consumer_table[group]
            log.info("consumer group %s has no connection left, removed", group)
        if is_notify:
            self._notify(group, info)

    def do_channel_close_event(self, channel: object) -> list[str]:
        """A connection closed: remove it from every group; the groups it was in are
        notified and returned."""
        changed = []
        for group, info in list(self.consumer_table.items()):
            if info.remove_channel(channel) is None:
                continue
            changed.append(group)
            if not info.channel_info_table:
                del self.consumer_table[group]
                log.info("consumer group %s has no connection left, removed", group)
            self._notify(group, info)
        return changed

    def scan_not_active_channel(self) -> list[object]:
        """Drop channels silent for more than 120 s and return them for the caller to close.

        Like Java, the group's other members are not notified (their own 20 s rebalance
        catches up), and closing the returned channels finds nothing left to remove.
        """
        tables = ((g, info.channel_info_table) for g, info in self.consumer_table.items())
        expired = _expire(self.clock.now_ms(), tables, "consumer")
        for group in [g for g, info in self.consumer_table.items() if not info.channel_info_table]:
            log.warning("consumer group %s: every channel expired, removed", group)
            del self.consumer_table[group]
        return expired

    def _notify(self, group: str, info: ConsumerGroupInfo) -> None:
        channels = info.all_channels()
        if channels:
            self.on_ids_changed(group, channels)


def _expire(
    now_ms: int,
    tables: Iterable[tuple[str, dict[int, ClientChannelInfo]]],
    kind: str,
) -> list[object]:
    """Remove expired infos from each group's table; the distinct channels removed."""
    expired: dict[int, object] = {}
    for group, table in tables:
        for key, info in list(table.items()):
            if now_ms - info.last_update_timestamp > CHANNEL_EXPIRED_TIMEOUT_MS:
                log.warning(
                    "%s group %s: channel %s (%s) expired",
                    kind,
                    group,
                    info.client_addr,
                    info.client_id,
                )
                del table[key]
                expired[id(info.channel)] = info.channel
    return list(expired.values())


# ----------------------------------------------------------------------------------- producers


class ProducerManager:
    """Producer groups' channels: for transaction checks (CHECK_TRANSACTION_STATE goes to a
    channel of the half message's PGROUP) and request-reply (by client id).

    Unlike 4.9.8, a group whose last channel goes is removed rather than kept empty.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.group_channel_table: dict[str, dict[int, ClientChannelInfo]] = {}
        self.client_channel_table: dict[str, object] = {}
        self._round_robin = itertools.count(1)

    def groups(self) -> list[str]:
        return list(self.group_channel_table)

    def get_channel_infos(self, group: str) -> list[ClientChannelInfo]:
        return list(self.group_channel_table.get(group, {}).values())

    def find_channel(self, client_id: str) -> object | None:
        return self.client_channel_table.get(client_id)

    def register_producer(self, group: str, info: ClientChannelInfo) -> None:
        table = self.group_channel_table.setdefault(group, {})
        found = table.get(id(info.channel))
        if found is None:
            table[id(info.channel)] = info
            self.client_channel_table[info.client_id] = info.channel
            log.info("new producer connected, group %s client %s", group, info.client_id)
        else:
            found.last_update_timestamp = self.clock.now_ms()

    def unregister_producer(self, group: str, info: ClientChannelInfo) -> None:
        table = self.group_channel_table.get(group)
        if not table:
            return
        table.pop(id(info.channel), None)
        self.client_channel_table.pop(info.client_id, None)
        if not table:
            del self.group_channel_table[group]

    def do_channel_close_event(self, channel: object) -> list[str]:
        """Remove a closed connection from every group; the groups it was in."""
        changed = []
        for group, table in list(self.group_channel_table.items()):
            info = table.pop(id(channel), None)
            if info is None:
                continue
            changed.append(group)
            self.client_channel_table.pop(info.client_id, None)
        self._drop_empty_groups()
        return changed

    def scan_not_active_channel(self) -> list[object]:
        """Drop channels silent for more than 120 s; return them for the caller to close."""
        expired = _expire(self.clock.now_ms(), self.group_channel_table.items(), "producer")
        expired_ids = {id(channel) for channel in expired}
        for client_id, channel in list(self.client_channel_table.items()):
            if id(channel) in expired_ids:
                del self.client_channel_table[client_id]
        self._drop_empty_groups()
        return expired

    def get_available_channel(self, group: str | None) -> object | None:
        """A channel of ``group`` to send CHECK_TRANSACTION_STATE on: round-robin over the
        group, trying up to three for an open one (Java also wants it writable)."""
        if group is None:
            return None
        channels = _channels(self.group_channel_table.get(group, {}).values())
        if not channels:
            log.warning("no producer channel for group %s", group)
            return None
        index = next(self._round_robin) % len(channels)
        for offset in range(_AVAILABLE_CHANNEL_TRIES):
            channel = channels[(index + offset) % len(channels)]
            if _is_active(channel):
                return channel
        return None

    def _drop_empty_groups(self) -> None:
        for group in [g for g, table in self.group_channel_table.items() if not table]:
            del self.group_channel_table[group]
