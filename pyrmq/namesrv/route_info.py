"""RouteInfoManager: the NameServer's tables, as plain data and pure functions of them.

Mirrors 4.9.x ``RouteInfoManager`` (protocol.md §5): clusterAddrTable, brokerAddrTable,
topicQueueTable, brokerLiveTable (keyed by broker address, fixed expiry) and filterServerTable.
Time comes in as ``now_ms`` and a broker's connection is an opaque ``channel`` token, so every
rule here (registration, role switch, expiry, removal, route composition, write permission) is
tested without sockets or clocks. The asyncio shell is ``controller.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pyrmq.common.constants import (
    MASTER_ID,
    PERM_READ,
    PERM_WRITE,
    TOPIC_SYS_FLAG_UNIT,
    TOPIC_SYS_FLAG_UNIT_SUB,
)
from pyrmq.remoting.bodies import (
    BrokerData,
    ClusterInfo,
    DataVersion,
    QueueData,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicList,
    TopicRouteData,
)

log = logging.getLogger(__name__)

#: 4.9.x ``BROKER_CHANNEL_EXPIRED_TIME``: a broker not heard from for 120 s is removed.
BROKER_CHANNEL_EXPIRED_TIME_MS = 120_000


@dataclass(slots=True)
class BrokerLiveInfo:
    last_update_timestamp: int
    data_version: DataVersion
    channel: object
    ha_server_addr: str


@dataclass(slots=True)
class RegisterBrokerResult:
    ha_server_addr: str | None = None
    master_addr: str | None = None


@dataclass(slots=True)
class RouteInfoManager:
    """The NameServer's route tables; every method is a pure step over them."""

    cluster_addr_table: dict[str, set[str]] = field(default_factory=dict)
    broker_addr_table: dict[str, BrokerData] = field(default_factory=dict)
    topic_queue_table: dict[str, dict[str, QueueData]] = field(default_factory=dict)
    broker_live_table: dict[str, BrokerLiveInfo] = field(default_factory=dict)
    filter_server_table: dict[str, list[str]] = field(default_factory=dict)
    broker_expired_ms: int = BROKER_CHANNEL_EXPIRED_TIME_MS

    # ------------------------------------------------------------------ registration

    def register_broker(
        self,
        cluster_name: str,
        broker_addr: str,
        broker_name: str,
        broker_id: int,
        ha_server_addr: str,
        wrapper: TopicConfigSerializeWrapper | None,
        filter_server_list: list[str] | None,
        channel: object,
        now_ms: int,
    ) -> RegisterBrokerResult:
        """REGISTER_BROKER (protocol.md §5.2); also the periodic liveness refresh."""
        self.cluster_addr_table.setdefault(cluster_name, set()).add(broker_name)
        broker_data = self.broker_addr_table.get(broker_name)
        first = broker_data is None
        if broker_data is None:
            broker_data = BrokerData(cluster=cluster_name, broker_name=broker_name, broker_addrs={})
            self.broker_addr_table[broker_name] = broker_data
        addrs = broker_data.broker_addrs
        # A role switch (slave -> master) re-registers the same address under another id.
        for stale_id in [
            bid for bid, addr in addrs.items() if addr == broker_addr and bid != broker_id
        ]:
            del addrs[stale_id]
        old_addr = addrs.get(broker_id)
        addrs[broker_id] = broker_addr
        first = first or old_addr is None
        data_version = wrapper.data_version if wrapper is not None else DataVersion(0, 0)
        # Routes come only from masters, and only when their topics changed.
        if (
            wrapper is not None
            and broker_id == MASTER_ID
            and (first or self.is_broker_topic_config_changed(broker_addr, data_version))
        ):
            for topic_config in wrapper.topic_config_table.values():
                self._create_and_update_queue_data(broker_name, topic_config)
        self.broker_live_table[broker_addr] = BrokerLiveInfo(
            now_ms, data_version, channel, ha_server_addr
        )
        if filter_server_list is not None:
            self._set_filter_servers(broker_addr, filter_server_list)
        return self._register_result(broker_data, broker_id)

    def _set_filter_servers(self, broker_addr: str, servers: list[str]) -> None:
        if servers:
            self.filter_server_table[broker_addr] = servers
        else:
            self.filter_server_table.pop(broker_addr, None)

    def _register_result(self, broker_data: BrokerData, broker_id: int) -> RegisterBrokerResult:
        """A slave learns its master's address and HA address, if the master is alive."""
        if broker_id == MASTER_ID:
            return RegisterBrokerResult()
        master_addr = broker_data.broker_addrs.get(MASTER_ID)
        live = self.broker_live_table.get(master_addr) if master_addr else None
        if live is None:
            return RegisterBrokerResult()
        return RegisterBrokerResult(ha_server_addr=live.ha_server_addr, master_addr=master_addr)

    def _create_and_update_queue_data(self, broker_name: str, topic_config: TopicConfig) -> None:
        queue_data = QueueData(
            broker_name=broker_name,
            read_queue_nums=topic_config.read_queue_nums,
            write_queue_nums=topic_config.write_queue_nums,
            perm=topic_config.perm,
            topic_sys_flag=topic_config.topic_sys_flag,
        )
        by_broker = self.topic_queue_table.setdefault(topic_config.topic_name, {})
        old = by_broker.get(broker_name)
        if old is not None and old != queue_data:
            log.info(
                "topic %s changed on %s: %s -> %s",
                topic_config.topic_name,
                broker_name,
                old,
                queue_data,
            )
        by_broker[broker_name] = queue_data

    def is_broker_topic_config_changed(self, broker_addr: str, data_version: DataVersion) -> bool:
        previous = self.query_broker_topic_config(broker_addr)
        return previous is None or previous != data_version

    def query_broker_topic_config(self, broker_addr: str) -> DataVersion | None:
        live = self.broker_live_table.get(broker_addr)
        return live.data_version if live is not None else None

    def update_broker_info_update_timestamp(self, broker_addr: str, now_ms: int) -> None:
        live = self.broker_live_table.get(broker_addr)
        if live is not None:
            live.last_update_timestamp = now_ms

    # ------------------------------------------------------------------ removal

    def unregister_broker(
        self, cluster_name: str, broker_addr: str, broker_name: str, broker_id: int
    ) -> None:
        """UNREGISTER_BROKER: drop this address; the broker name goes when it has none left."""
        self.broker_live_table.pop(broker_addr, None)
        self.filter_server_table.pop(broker_addr, None)
        broker_data = self.broker_addr_table.get(broker_name)
        if broker_data is None:
            return
        broker_data.broker_addrs.pop(broker_id, None)
        if not broker_data.broker_addrs:
            self._remove_broker_name(broker_name, cluster_name)

    def _remove_broker_name(self, broker_name: str, cluster_name: str | None) -> None:
        self.broker_addr_table.pop(broker_name, None)
        for name, members in list(self.cluster_addr_table.items()):
            if cluster_name is not None and name != cluster_name:
                continue
            if broker_name in members:
                members.discard(broker_name)
                if not members:
                    del self.cluster_addr_table[name]
                break
        self._remove_topics_of(broker_name)

    def _remove_topics_of(self, broker_name: str) -> None:
        for topic, by_broker in list(self.topic_queue_table.items()):
            by_broker.pop(broker_name, None)
            if not by_broker:
                del self.topic_queue_table[topic]

    def scan_not_active_broker(self, now_ms: int) -> list[tuple[str, object]]:
        """Remove brokers silent for too long; return (address, channel) of each, to close."""
        expired = [
            (addr, live.channel)
            for addr, live in self.broker_live_table.items()
            if live.last_update_timestamp + self.broker_expired_ms < now_ms
        ]
        for addr, _ in expired:
            log.warning(
                "broker %s expired: no registration for %d ms", addr, self.broker_expired_ms
            )
            self._remove_broker_addr(addr)
        return expired

    def on_channel_destroy(self, channel: object) -> str | None:
        """A broker's connection closed: remove the broker registered through it, if any."""
        for addr, live in self.broker_live_table.items():
            if live.channel is channel:
                log.info("broker %s channel closed, removing it", addr)
                self._remove_broker_addr(addr)
                return addr
        return None

    def _remove_broker_addr(self, broker_addr: str) -> None:
        self.broker_live_table.pop(broker_addr, None)
        self.filter_server_table.pop(broker_addr, None)
        for broker_name, broker_data in list(self.broker_addr_table.items()):
            found = [bid for bid, addr in broker_data.broker_addrs.items() if addr == broker_addr]
            if not found:
                continue
            for broker_id in found:
                del broker_data.broker_addrs[broker_id]
            if not broker_data.broker_addrs:
                self._remove_broker_name(broker_name, None)
            return

    # ------------------------------------------------------------------ queries

    def pickup_topic_route_data(self, topic: str) -> TopicRouteData | None:
        """The route of ``topic``, or None (-> TOPIC_NOT_EXIST) without queue or broker data."""
        by_broker = self.topic_queue_table.get(topic)
        if not by_broker:
            return None
        broker_datas: list[BrokerData] = []
        filter_servers: dict[str, list[str]] = {}
        for broker_name in sorted(by_broker):
            broker_data = self.broker_addr_table.get(broker_name)
            if broker_data is None:
                continue
            broker_datas.append(_copy_broker_data(broker_data))
            for addr in broker_data.broker_addrs.values():
                if addr in self.filter_server_table:
                    filter_servers[addr] = list(self.filter_server_table[addr])
        if not broker_datas:
            return None
        return TopicRouteData(
            queue_datas=[_copy_queue_data(qd) for qd in by_broker.values()],
            broker_datas=broker_datas,
            filter_server_table=filter_servers,
            order_topic_conf=None,
        )

    def get_all_cluster_info(self) -> ClusterInfo:
        return ClusterInfo(
            broker_addr_table={
                name: _copy_broker_data(bd) for name, bd in self.broker_addr_table.items()
            },
            cluster_addr_table={
                name: sorted(members) for name, members in self.cluster_addr_table.items()
            },
        )

    def get_all_topic_list(self) -> TopicList:
        return TopicList(topic_list=list(self.topic_queue_table), broker_addr=None)

    def get_topics_by_cluster(self, cluster: str) -> TopicList:
        members = self.cluster_addr_table.get(cluster, set())
        topics = [
            topic
            for topic, by_broker in self.topic_queue_table.items()
            if any(name in by_broker for name in members)
        ]
        return TopicList(topic_list=topics, broker_addr=None)

    def get_system_topic_list(self) -> TopicList:
        """Cluster names and broker names (each is a topic), plus one broker to ask for more."""
        topics: list[str] = []
        for cluster, members in self.cluster_addr_table.items():
            topics.append(cluster)
            topics.extend(sorted(members))
        broker_addr = None
        for broker_data in self.broker_addr_table.values():
            if broker_data.broker_addrs:
                # Java takes the first key of a HashMap<Long, String>: the lowest broker id.
                broker_addr = broker_data.broker_addrs[min(broker_data.broker_addrs)]
                break
        return TopicList(topic_list=_unique(topics), broker_addr=broker_addr)

    def get_unit_topics(self) -> TopicList:
        return self._topics_where(lambda flag: bool(flag & TOPIC_SYS_FLAG_UNIT))

    def get_has_unit_sub_topic_list(self) -> TopicList:
        return self._topics_where(lambda flag: bool(flag & TOPIC_SYS_FLAG_UNIT_SUB))

    def get_has_unit_sub_un_unit_topic_list(self) -> TopicList:
        return self._topics_where(
            lambda flag: not flag & TOPIC_SYS_FLAG_UNIT and bool(flag & TOPIC_SYS_FLAG_UNIT_SUB)
        )

    def _topics_where(self, predicate: Callable[[int], bool]) -> TopicList:
        # Like Java, only the first QueueData of each topic is looked at.
        topics = [
            topic
            for topic, by_broker in self.topic_queue_table.items()
            if by_broker and predicate(next(iter(by_broker.values())).topic_sys_flag)
        ]
        return TopicList(topic_list=topics, broker_addr=None)

    # ------------------------------------------------------------------ admin

    def delete_topic(self, topic: str, cluster_name: str | None = None) -> None:
        """DELETE_TOPIC_IN_NAMESRV: the whole topic, or only its queues on one cluster."""
        if not cluster_name:
            self.topic_queue_table.pop(topic, None)
            return
        by_broker = self.topic_queue_table.get(topic)
        if by_broker is None:
            return
        for broker_name in self.cluster_addr_table.get(cluster_name, set()):
            by_broker.pop(broker_name, None)
        if not by_broker:
            del self.topic_queue_table[topic]

    def wipe_write_perm_of_broker(self, broker_name: str) -> int:
        """Clear PERM_WRITE on every queue of ``broker_name``; the number of topics touched."""
        return self._set_perm(broker_name, lambda perm: perm & ~PERM_WRITE)

    def add_write_perm_of_broker(self, broker_name: str) -> int:
        """Give every queue of ``broker_name`` read and write permission back."""
        return self._set_perm(broker_name, lambda perm: PERM_READ | PERM_WRITE)

    def _set_perm(self, broker_name: str, change: Callable[[int], int]) -> int:
        count = 0
        for by_broker in self.topic_queue_table.values():
            queue_data = by_broker.get(broker_name)
            if queue_data is not None:
                queue_data.perm = change(queue_data.perm)
                count += 1
        return count


def _unique(names: list[str]) -> list[str]:
    """Java's TopicList holds a Set: each name once (first occurrence kept)."""
    return list(dict.fromkeys(names))


def _copy_broker_data(broker_data: BrokerData) -> BrokerData:
    return BrokerData(
        cluster=broker_data.cluster,
        broker_name=broker_data.broker_name,
        broker_addrs=dict(sorted(broker_data.broker_addrs.items())),
    )


def _copy_queue_data(queue_data: QueueData) -> QueueData:
    return QueueData(
        broker_name=queue_data.broker_name,
        read_queue_nums=queue_data.read_queue_nums,
        write_queue_nums=queue_data.write_queue_nums,
        perm=queue_data.perm,
        topic_sys_flag=queue_data.topic_sys_flag,
    )
