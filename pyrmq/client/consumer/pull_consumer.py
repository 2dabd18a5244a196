"""PullConsumer: the plain pull API — the application names queue, offset and batch size.

Owns ``DefaultMQPullConsumer``'s surface (protocol.md §3.3, §6.3): ``pull`` (answered at once)
and ``pull_block_if_not_found`` (long polling, 20 s hold) with the subscription in the request,
results as ``PullResult`` (FOUND / NO_NEW_MSG / NO_MATCHED_MSG / OFFSET_ILLEGAL, next begin
offset, queue min/max offsets, the messages — decompressed and re-filtered by tag), queue
discovery and offsets (min, max, by timestamp), and the group's committed offsets
(``update_consume_offset`` keeps it in memory, persisted every 5 s and at shutdown;
``fetch_consume_offset`` reads it). The consumer registers with its client instance (heartbeat
CONSUME_ACTIVELY, subscriptions of the topics pulled so far). Mirrors
``DefaultMQPullConsumerImpl``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pyrmq.client.config import ClientConfig
from pyrmq.client.consumer.offset_store import ReadOffsetType, RemoteBrokerOffsetStore
from pyrmq.client.consumer.pull import PullResult, build_active_pull_header, process_pull_response
from pyrmq.client.errors import MQClientError
from pyrmq.client.instance import ClientInstance, shared_instance
from pyrmq.client.route import subscribe_queues
from pyrmq.common.clock import Clock
from pyrmq.common.constants import MASTER_ID
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.heartbeat import (
    CLUSTERING,
    CONSUME_ACTIVELY,
    CONSUME_FROM_LAST_OFFSET,
    ConsumerData,
    SubscriptionData,
    build_subscription_data,
)

__all__ = ["PullConsumer", "fetch_subscribe_queues", "pull_queue"]

log = logging.getLogger(__name__)

#: consumerPullTimeoutMillis / consumerTimeoutMillisWhenSuspend.
PULL_TIMEOUT_S = 10.0
BLOCKING_PULL_TIMEOUT_S = 30.0


async def fetch_subscribe_queues(instance: ClientInstance, topic: str) -> set[MessageQueue]:
    """The readable queues of ``topic`` from a fresh route (``fetchSubscribeMessageQueues``)."""
    if not await instance.update_topic_route(topic):
        raise MQClientError(f"no route info of topic {topic}")
    return subscribe_queues(topic, instance.route_table[topic])


async def pull_queue(
    instance: ClientInstance,
    group: str,
    mq: MessageQueue,
    sub: SubscriptionData,
    offset: int,
    max_nums: int,
    *,
    block: bool,
    lite: bool = False,
    broker_id: int = MASTER_ID,
    timeout_s: float | None = None,
) -> PullResult:
    """One PULL_MESSAGE of ``mq`` as a pull consumer sends it (``pullKernelImpl``)."""
    if offset < 0:
        raise MQClientError(f"offset < 0: {offset}")
    if max_nums <= 0:
        raise MQClientError(f"maxNums <= 0: {max_nums}")
    found = instance.subscribe_addr(mq.broker_name, broker_id)
    if found is None:
        await instance.update_topic_route(mq.topic)
        found = instance.subscribe_addr(mq.broker_name, broker_id)
    if found is None:
        raise MQClientError(f"the broker {mq.broker_name} does not exist")
    addr, _ = found
    header = build_active_pull_header(group, mq, offset, sub, max_nums, block=block, lite=lite)
    if timeout_s is None:
        timeout_s = BLOCKING_PULL_TIMEOUT_S if block else PULL_TIMEOUT_S
    response = await instance.api.pull_message(addr, header, timeout_s)
    return process_pull_response(response, sub)


class PullConsumer:
    """``DefaultMQPullConsumer`` (CLUSTERING offsets), asyncio-first.

    ``async with PullConsumer("g", "127.0.0.1:9876") as c: r = await c.pull(mq, "*", 0, 32)``
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str,
        *,
        instance: ClientInstance | None = None,
        instance_name: str = "DEFAULT",
        client_config: ClientConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.group = group
        self._owns_instance = instance is None
        self.instance = instance or shared_instance(
            namesrv_addr, instance_name, config=client_config, clock=clock
        )
        self.offset_store = RemoteBrokerOffsetStore(
            group, self.instance.api, self.instance.offset_addr_or_refresh
        )
        #: topic -> subscription of the topics pulled so far (heartbeated, as Java's
        #: ``subscriptionAutomatically``)
        self._subscriptions: dict[str, SubscriptionData] = {}
        self._state = "created"

    async def start(self) -> None:
        if self._state != "created":
            raise MQClientError(f"pull consumer {self.group} cannot start: it is {self._state}")
        self.instance.register_consumer(self)
        self._state = "running"
        await self.instance.start()

    async def shutdown(self) -> None:
        """Persist the offsets set with ``update_consume_offset``, unregister."""
        if self._state == "running":
            self._state = "stopping"
            await self.persist_offsets()
            await self.instance.unregister_consumer(self.group)
        self._state = "stopped"
        if self._owns_instance:
            await self.instance.release()

    async def __aenter__(self) -> PullConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # ------------------------------------------------------------------ pulling

    def _check_running(self) -> None:
        if self._state != "running":
            raise MQClientError(f"pull consumer {self.group} is not running ({self._state})")

    def _subscription(self, topic: str, expression: str) -> SubscriptionData:
        sub = build_subscription_data(topic, expression, sub_version=self.instance.clock.now_ms())
        self._subscriptions.setdefault(topic, build_subscription_data(topic, "*"))
        return sub

    async def pull(
        self,
        mq: MessageQueue,
        expression: str,
        offset: int,
        max_nums: int,
        timeout_s: float | None = None,
    ) -> PullResult:
        """Pull up to ``max_nums`` messages of ``mq`` from ``offset``, answered at once."""
        self._check_running()
        sub = self._subscription(mq.topic, expression)
        return await pull_queue(
            self.instance, self.group, mq, sub, offset, max_nums, block=False, timeout_s=timeout_s
        )

    async def pull_block_if_not_found(
        self, mq: MessageQueue, expression: str, offset: int, max_nums: int
    ) -> PullResult:
        """Like ``pull``, but the broker holds the request (up to 20 s) until messages come."""
        self._check_running()
        sub = self._subscription(mq.topic, expression)
        return await pull_queue(self.instance, self.group, mq, sub, offset, max_nums, block=True)

    # ------------------------------------------------------------------ queues and offsets

    async def fetch_subscribe_message_queues(self, topic: str) -> set[MessageQueue]:
        return await fetch_subscribe_queues(self.instance, topic)

    async def min_offset(self, mq: MessageQueue) -> int:
        return await self.instance.min_offset(mq)

    async def max_offset(self, mq: MessageQueue) -> int:
        return await self.instance.max_offset(mq)

    async def search_offset(self, mq: MessageQueue, timestamp_ms: int) -> int:
        return await self.instance.search_offset(mq, timestamp_ms)

    def update_consume_offset(self, mq: MessageQueue, offset: int) -> None:
        """Remember the group's next offset of ``mq`` (sent to the broker every 5 s)."""
        self.offset_store.update_offset(mq, offset)

    async def fetch_consume_offset(self, mq: MessageQueue, from_store: bool = True) -> int:
        """The group's committed offset of ``mq``; -1 when it has none."""
        read = (
            ReadOffsetType.READ_FROM_STORE if from_store else ReadOffsetType.MEMORY_FIRST_THEN_STORE
        )
        return await self.offset_store.read_offset(mq, read)

    # ------------------------------------------------------------------ ConsumerInner

    def consumer_data(self) -> ConsumerData:
        return ConsumerData(
            group_name=self.group,
            consume_type=CONSUME_ACTIVELY,
            message_model=CLUSTERING,
            consume_from_where=CONSUME_FROM_LAST_OFFSET,
            subscription_data_set=list(self._subscriptions.values()),
        )

    def subscribed_topics(self) -> Iterable[str]:
        return list(self._subscriptions)

    def update_subscribe_info(self, topic: str, queues: set[MessageQueue]) -> None:
        pass  # queues are fetched on demand

    async def do_rebalance(self) -> None:
        pass  # the application chooses the queues

    async def persist_offsets(self) -> None:
        await self.offset_store.persist_all(list(self.offset_store.offset_table))
