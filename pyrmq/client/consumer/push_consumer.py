"""PushConsumer: a clustering consumer group member that pulls and hands messages to a listener.

Owns the push consumer's shell (protocol.md §6.3, §6.5, §6.9): subscriptions (the group's
``%RETRY%`` topic added automatically), one long-polling pull loop per assigned queue (SUSPEND,
15 s hold, commit-offset piggy-back, flow control, status handling, retry after errors), the
consume service, the offset store and the rebalance, wired to a ``ClientInstance``. Mirrors
``DefaultMQPushConsumerImpl`` (+ ``PullMessageService``). Failed messages are retried locally
(see ``consume.py``); CONSUMER_SEND_MSG_BACK and orderly consumption are not implemented yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from pyrmq.client.allocate import AllocateStrategy, allocate_averagely
from pyrmq.client.config import ClientConfig
from pyrmq.client.consumer.consume import ConsumeService, ConsumeStatus, Listener
from pyrmq.client.consumer.offset_store import ReadOffsetType, RemoteBrokerOffsetStore
from pyrmq.client.consumer.process_queue import ProcessQueue
from pyrmq.client.consumer.pull import (
    FlowLimits,
    PullResult,
    PullStatus,
    build_pull_header,
    flow_control_reason,
    process_pull_response,
)
from pyrmq.client.consumer.rebalance import RebalanceImpl, parse_consume_timestamp, retry_topic
from pyrmq.client.errors import MQClientError
from pyrmq.client.instance import ClientInstance, shared_instance
from pyrmq.common.clock import Clock
from pyrmq.common.constants import MASTER_ID
from pyrmq.common.service import TaskGroup
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.codes import ResponseCode
from pyrmq.remoting.errors import MQResponseError, RemotingError
from pyrmq.remoting.heartbeat import (
    CLUSTERING,
    CONSUME_FROM_LAST_OFFSET,
    CONSUME_PASSIVELY,
    ConsumerData,
    SubscriptionData,
    build_subscription_data,
)

__all__ = ["ConsumeStatus", "PushConsumer"]

log = logging.getLogger(__name__)

#: consumerTimeoutMillisWhenSuspend: RPC timeout of a long-polling pull.
PULL_TIMEOUT_S = 30.0
#: After a FLOW_CONTROL (215) answer the next pull goes out this soon (Java: 20 ms).
FLOW_CONTROL_RETRY_S = 0.02
#: Default start time of CONSUME_FROM_TIMESTAMP: half an hour ago.
DEFAULT_TIMESTAMP_AGO_MS = 30 * 60 * 1000


class PushConsumer:
    """``DefaultMQPushConsumer`` in CLUSTERING mode, asyncio-first.

    ``consume_timestamp`` (for CONSUME_FROM_TIMESTAMP) is ``yyyyMMddHHmmss`` local time or epoch
    milliseconds; None means half an hour before construction, as in Java.
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str,
        consume_from_where: str = CONSUME_FROM_LAST_OFFSET,
        consume_timestamp: str | int | None = None,
        max_concurrency: int = 20,
        pull_batch_size: int = 32,
        *,
        consume_batch_size: int = 1,
        instance: ClientInstance | None = None,
        instance_name: str = "DEFAULT",
        pull_retry_delay_s: float = 3.0,
        flow_control_delay_s: float = 0.05,
        reconsume_delay_s: float = 1.0,
        max_reconsume_times: int = 16,
        flow_limits: FlowLimits | None = None,
        allocate_strategy: AllocateStrategy = allocate_averagely,
        client_config: ClientConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.group = group
        self.consume_from_where = consume_from_where
        self.max_concurrency = max_concurrency
        self.pull_batch_size = pull_batch_size
        self.consume_batch_size = consume_batch_size
        self.pull_retry_delay_s = pull_retry_delay_s
        self.flow_control_delay_s = flow_control_delay_s
        self.reconsume_delay_s = reconsume_delay_s
        self.max_reconsume_times = max_reconsume_times
        self.flow_limits = flow_limits or FlowLimits()
        self._owns_instance = instance is None
        self.instance = instance or shared_instance(
            namesrv_addr, instance_name, config=client_config, clock=clock
        )
        self._clock = self.instance.clock
        self.offset_store = RemoteBrokerOffsetStore(
            group, self.instance.api, self.instance.master_addr_or_refresh
        )
        self.rebalance = RebalanceImpl(
            group,
            self.instance,
            self.offset_store,
            self._start_pulling,
            self._stop_pulling,
            now_ms=self._clock.now_ms,
            consume_from_where=consume_from_where,
            consume_timestamp_ms=self._timestamp_ms(consume_timestamp),
            strategy=allocate_strategy,
        )
        self._listener: Listener | None = None
        self._consume: ConsumeService | None = None
        self._pull_tasks: dict[MessageQueue, asyncio.Task[None]] = {}
        self._pulls = TaskGroup(f"pull-{group}")
        self._state = "created"

    def _timestamp_ms(self, value: str | int | None) -> int:
        if value is None:
            return self._clock.now_ms() - DEFAULT_TIMESTAMP_AGO_MS
        return value if isinstance(value, int) else parse_consume_timestamp(value)

    # ------------------------------------------------------------------ configuration

    def subscribe(self, topic: str, expression: str = "*") -> None:
        """Subscribe ``topic`` with a tag expression (``*``, ``TagA || TagB``)."""
        self.rebalance.subscriptions[topic] = build_subscription_data(
            topic, expression, sub_version=self._clock.now_ms()
        )
        if self._state == "running":
            # The broker checks pulls against the subscription of our last heartbeat.
            self.instance.request_route_refresh(topic)
            self.instance.request_heartbeat()

    def unsubscribe(self, topic: str) -> None:
        self.rebalance.subscriptions.pop(topic, None)

    def register_listener(self, listener: Listener) -> None:
        """``listener(messages) -> ConsumeStatus``, sync (run in a thread) or async."""
        self._listener = listener

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._state != "created":
            raise MQClientError(f"consumer {self.group} cannot start: it is {self._state}")
        if self._listener is None:
            raise MQClientError("register a listener before starting the consumer")
        retry = retry_topic(self.group)
        self.rebalance.ensure_retry_subscription(
            build_subscription_data(retry, "*", sub_version=self._clock.now_ms())
        )
        self._consume = ConsumeService(
            self.group,
            self._listener,
            self.offset_store,
            self._clock,
            max_concurrency=self.max_concurrency,
            consume_batch_size=self.consume_batch_size,
            reconsume_delay_s=self.reconsume_delay_s,
            max_reconsume_times=self.max_reconsume_times,
        )
        self.instance.register_consumer(self)
        self._state = "running"
        await self.instance.start()
        await self._consume.start()
        for topic in list(self.rebalance.subscriptions):
            await self.instance.update_topic_route(topic)
        await self.instance.send_heartbeat_to_all_brokers()
        self.instance.rebalance_now()

    async def shutdown(self, grace_s: float = 1.0) -> None:
        """Stop pulling, let running listeners finish (``grace_s``), commit, unregister."""
        if self._state != "running":
            self._state = "stopped"
            if self._owns_instance:
                await self.instance.release()
            return
        self._state = "stopping"
        await self._pulls.close()
        self._pull_tasks.clear()
        if self._consume is not None:
            await self._consume.shutdown(grace_s)
        for pq in self.rebalance.process_queue_table.values():
            pq.dropped = True
        await self.persist_offsets()
        self.rebalance.process_queue_table.clear()
        await self.instance.unregister_consumer(self.group)
        if self._owns_instance:
            await self.instance.release()
        self._state = "stopped"

    async def __aenter__(self) -> PushConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # ------------------------------------------------------------------ ConsumerInner

    def consumer_data(self) -> ConsumerData:
        return ConsumerData(
            group_name=self.group,
            consume_type=CONSUME_PASSIVELY,
            message_model=CLUSTERING,
            consume_from_where=self.consume_from_where,
            subscription_data_set=list(self.rebalance.subscriptions.values()),
        )

    def assigned_queues(self) -> list[MessageQueue]:
        """The queues of the subscribed topics this member consumes now (retry topic aside)."""
        return [mq for mq in self.rebalance.allocated() if not mq.topic.startswith("%RETRY%")]

    def subscribed_topics(self) -> Iterable[str]:
        return list(self.rebalance.subscriptions)

    def update_subscribe_info(self, topic: str, queues: set[MessageQueue]) -> None:
        self.rebalance.update_subscribe_info(topic, queues)

    async def do_rebalance(self) -> None:
        if self._state == "running":
            await self.rebalance.do_rebalance()

    async def persist_offsets(self) -> None:
        await self.offset_store.persist_all(self.rebalance.allocated())

    # ------------------------------------------------------------------ pulling

    def _start_pulling(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        if self._state != "running":
            return
        task = self._pulls.spawn(self._pull_loop(mq, pq, offset), f"pull-{mq}")
        self._pull_tasks[mq] = task
        task.add_done_callback(lambda done: self._forget_task(mq, done))

    def _forget_task(self, mq: MessageQueue, task: asyncio.Task[None]) -> None:
        if self._pull_tasks.get(mq) is task:
            del self._pull_tasks[mq]

    def _stop_pulling(self, mq: MessageQueue) -> None:
        task = self._pull_tasks.pop(mq, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _pull_loop(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        """Pull ``mq`` until its ProcessQueue is dropped (``pullMessage`` + callback)."""
        broker_id = MASTER_ID
        while not pq.dropped:
            # Refreshed on every turn, flow control included (the rebalance restarts a queue
            # whose loop stops reporting for 120 s).
            pq.last_pull_ms = self._clock.now_ms()
            reason = flow_control_reason(pq, self.flow_limits)
            sub = self.rebalance.subscriptions.get(mq.topic)
            if reason is not None or sub is None:
                if reason is not None:
                    log.debug("[%s] %s flow control: %s", self.group, mq, reason)
                await asyncio.sleep(
                    self.flow_control_delay_s if reason else self.pull_retry_delay_s
                )
                continue
            try:
                result = await self._pull_once(mq, sub, offset, broker_id)
            except (RemotingError, MQClientError, ValueError) as exc:
                flow = (
                    isinstance(exc, MQResponseError)
                    and exc.response_code == ResponseCode.FLOW_CONTROL
                )
                log.warning("[%s] pull of %s at %d failed: %s", self.group, mq, offset, exc)
                await asyncio.sleep(FLOW_CONTROL_RETRY_S if flow else self.pull_retry_delay_s)
                continue
            if pq.dropped:
                return
            broker_id = result.suggest_which_broker_id
            next_offset = await self._on_pull_result(mq, pq, result, offset)
            if next_offset is None:
                return
            offset = next_offset

    async def _pull_once(
        self, mq: MessageQueue, sub: SubscriptionData, offset: int, broker_id: int
    ) -> PullResult:
        found = self.instance.subscribe_addr(mq.broker_name, broker_id)
        if found is None:
            await self.instance.update_topic_route(mq.topic)
            found = self.instance.subscribe_addr(mq.broker_name, broker_id)
        if found is None:
            raise MQClientError(f"the broker {mq.broker_name} does not exist")
        addr, chosen_id = found
        commit = await self.offset_store.read_offset(mq, ReadOffsetType.READ_FROM_MEMORY)
        header = build_pull_header(
            self.group,
            mq,
            offset,
            sub,
            self.pull_batch_size,
            commit,
            to_master=chosen_id == MASTER_ID,
        )
        response = await self.instance.api.pull_message(addr, header, PULL_TIMEOUT_S)
        return process_pull_response(response, sub)

    async def _on_pull_result(
        self, mq: MessageQueue, pq: ProcessQueue, result: PullResult, offset: int
    ) -> int | None:
        """Apply a pull result (§6.3); the next offset, or None when the loop must end."""
        if result.status is PullStatus.FOUND and result.messages:
            pq.put_messages(result.messages)
            assert self._consume is not None
            self._consume.submit(mq, pq, result.messages)
            return result.next_begin_offset
        if result.status is PullStatus.OFFSET_ILLEGAL:
            await self._offset_moved(mq, pq, offset, result.next_begin_offset)
            return None
        # NO_NEW_MSG, NO_MATCHED_MSG, or FOUND with everything filtered out: nothing is in
        # flight for these offsets, so with an empty cache the next offset may be committed
        # (correctTagsOffset) — otherwise a quiet, filtered queue would never advance.
        if pq.msg_count == 0:
            self.offset_store.update_offset(mq, result.next_begin_offset, increase_only=True)
        return result.next_begin_offset

    async def _offset_moved(
        self, mq: MessageQueue, pq: ProcessQueue, offset: int, next_offset: int
    ) -> None:
        """PULL_OFFSET_MOVED: store and persist the broker's offset, drop the queue, rebalance
        (which starts it again from the persisted offset)."""
        log.warning(
            "[%s] offset %d of %s is illegal, moving to %d", self.group, offset, mq, next_offset
        )
        pq.dropped = True
        self.offset_store.update_offset(mq, next_offset)
        # Wait for the broker's answer: the rebalance reads this offset back from it.
        await self.offset_store.persist(mq, oneway=False)
        self.rebalance.forget(mq, pq)
        self.instance.rebalance_now()
