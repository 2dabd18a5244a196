"""Admin: topic creation, routes, cluster info and offsets, thin over ``ClientAPI``.

Owns the few administrative calls applications and tests need (protocol.md §3.1, §3.3,
§3.5.11): UPDATE_AND_CREATE_TOPIC to a broker or to every master of a cluster, routes and
cluster info from the NameServer, queue offsets and group offsets from the queue's master.
Mirrors ``MQAdminImpl`` and the matching parts of ``DefaultMQAdminExt``. It uses a
``ClientInstance`` for connections and broker lookup but never starts its timers.
"""

from __future__ import annotations

import logging

from pyrmq.client.errors import MQClientError
from pyrmq.client.instance import ClientInstance
from pyrmq.client.route import subscribe_queues
from pyrmq.common.constants import AUTO_CREATE_TOPIC_KEY_TOPIC, MASTER_ID, PERM_READ, PERM_WRITE
from pyrmq.remoting.bodies import ClusterInfo, MessageQueue, TopicRouteData
from pyrmq.remoting.errors import QueryNotFoundError
from pyrmq.remoting.headers import (
    CreateTopicRequestHeader,
    QueryConsumerOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader,
)

__all__ = ["Admin"]

log = logging.getLogger(__name__)


class Admin:
    """``async with Admin("127.0.0.1:9876") as admin: await admin.create_topic(...)``"""

    def __init__(self, namesrv_addr: str, *, timeout_s: float = 3.0) -> None:
        self.instance = ClientInstance(namesrv_addr, "admin")
        self.instance.config.api_timeout_s = timeout_s
        self.api = self.instance.api
        self.timeout_s = timeout_s

    async def close(self) -> None:
        await self.instance.shutdown()

    async def __aenter__(self) -> Admin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ NameServer

    async def topic_route(self, topic: str) -> TopicRouteData:
        """The route (TopicNotExistError if none); also remembered for offset lookups."""
        route = await self.api.get_route_info(topic, self.timeout_s)
        self.instance.apply_route(topic, route)
        return route

    async def cluster_info(self) -> ClusterInfo:
        return await self.api.get_cluster_info(self.timeout_s)

    async def fetch_subscribe_queues(self, topic: str) -> list[MessageQueue]:
        """Every readable queue of ``topic``, sorted."""
        return sorted(subscribe_queues(topic, await self.topic_route(topic)))

    # ------------------------------------------------------------------ topics

    async def create_topic(
        self,
        cluster_or_broker_addr: str,
        topic: str,
        queue_nums: int,
        perm: int = PERM_READ | PERM_WRITE,
        *,
        order: bool = False,
    ) -> list[str]:
        """Create/update ``topic`` with ``queue_nums`` read and write queues on one broker
        (``host:port``) or on every master of a cluster (a name); returns the broker addresses.
        Each broker registers the topic with the NameServers right away."""
        addrs = await self._target_brokers(cluster_or_broker_addr)
        header = CreateTopicRequestHeader(
            topic=topic,
            default_topic=AUTO_CREATE_TOPIC_KEY_TOPIC,
            read_queue_nums=queue_nums,
            write_queue_nums=queue_nums,
            perm=perm,
            topic_filter_type="SINGLE_TAG",
            topic_sys_flag=0,
            order=order,
        )
        for addr in addrs:
            await self.api.create_topic(addr, header, self.timeout_s)
            log.info("topic %s created on %s with %d queues", topic, addr, queue_nums)
        return addrs

    async def _target_brokers(self, cluster_or_broker_addr: str) -> list[str]:
        if ":" in cluster_or_broker_addr:
            return [cluster_or_broker_addr]
        info = await self.cluster_info()
        names = info.cluster_addr_table.get(cluster_or_broker_addr)
        if not names:
            raise MQClientError(f"cluster {cluster_or_broker_addr} has no broker")
        addrs = []
        for name in sorted(names):
            broker = info.broker_addr_table.get(name)
            master = None if broker is None else broker.broker_addrs.get(MASTER_ID)
            if master is not None:
                addrs.append(master)
        if not addrs:
            raise MQClientError(f"cluster {cluster_or_broker_addr} has no master")
        return addrs

    # ------------------------------------------------------------------ offsets

    async def max_offset(self, mq: MessageQueue) -> int:
        return await self.instance.max_offset(mq)

    async def min_offset(self, mq: MessageQueue) -> int:
        return await self.instance.min_offset(mq)

    async def search_offset(self, mq: MessageQueue, timestamp_ms: int) -> int:
        return await self.instance.search_offset(mq, timestamp_ms)

    async def consumer_offset(self, group: str, mq: MessageQueue) -> int:
        """The group's committed offset of ``mq``, -1 when it has none."""
        addr = await self._master(mq)
        header = QueryConsumerOffsetRequestHeader(group, mq.topic, mq.queue_id)
        try:
            return await self.api.query_consumer_offset(addr, header, self.timeout_s)
        except QueryNotFoundError:
            return -1

    async def update_consumer_offset(self, group: str, mq: MessageQueue, offset: int) -> None:
        """Set the group's committed offset of ``mq`` (waits for the broker)."""
        addr = await self._master(mq)
        header = UpdateConsumerOffsetRequestHeader(group, mq.topic, mq.queue_id, offset)
        await self.api.update_consumer_offset(addr, header, self.timeout_s)

    async def _master(self, mq: MessageQueue) -> str:
        addr = await self.instance.master_addr_or_refresh(mq.topic, mq.broker_name)
        if addr is None:
            raise MQClientError(f"the broker {mq.broker_name} of {mq} does not exist")
        return addr
