"""PushConsumer: a consumer group member that pulls and hands messages to a listener.

Owns the push consumer's shell (protocol.md §6.3, §6.5, §6.6, §6.9): subscriptions (in
clustering mode the group's ``%RETRY%`` topic added automatically), one long-polling pull loop
per assigned queue (SUSPEND, 15 s hold, commit-offset piggy-back, flow control, status handling,
retry after errors), the consume service — concurrent (failures sent back for a broker-side
retry, see ``consume.py``/``send_back.py``) or orderly (``register_listener_orderly``: queue locks
renewed every 20 s, one batch per queue at a time, see ``orderly.py``/``queue_lock.py``) — the
offset store (the brokers' in CLUSTERING mode, a local file in BROADCASTING mode, where every
member takes every queue) and the rebalance, wired to a ``ClientInstance``. Mirrors
``DefaultMQPushConsumerImpl`` (+ ``PullMessageService``, ``RebalancePushImpl``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

from pyrmq.client.allocate import AllocateStrategy, allocate_averagely
from pyrmq.client.config import ClientConfig
from pyrmq.client.consumer.consume import ConsumeService, ConsumeStatus, Listener
from pyrmq.client.consumer.local_offset_store import LocalFileOffsetStore, offset_store_for
from pyrmq.client.consumer.offset_store import OffsetStore
from pyrmq.client.consumer.orderly import (
    ConsumeOrderlyService,
    ConsumeOrderlyStatus,
    OrderlyListener,
)
from pyrmq.client.consumer.process_queue import ProcessQueue
from pyrmq.client.consumer.pull import FlowLimits
from pyrmq.client.consumer.pull_service import PushPullService
from pyrmq.client.consumer.queue_lock import QueueLocker
from pyrmq.client.consumer.rebalance import (
    RebalanceImpl,
    consume_timestamp_ms,
    retry_topic,
)
from pyrmq.client.consumer.send_back import CONCURRENT_DEFAULT_MAX_RECONSUME_TIMES, SendBackService
from pyrmq.client.errors import MQClientError
from pyrmq.client.instance import CLIENT_INNER_PRODUCER_GROUP, ClientInstance, shared_instance
from pyrmq.client.producer import Producer
from pyrmq.common.clock import Clock
from pyrmq.common.message import MessageExt
from pyrmq.common.service import PeriodicTask
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.heartbeat import (
    BROADCASTING,
    CLUSTERING,
    CONSUME_FROM_LAST_OFFSET,
    CONSUME_PASSIVELY,
    ConsumerData,
    build_subscription_data,
)

__all__ = ["ConsumeOrderlyStatus", "ConsumeStatus", "PushConsumer"]

log = logging.getLogger(__name__)

#: Default start time of CONSUME_FROM_TIMESTAMP: half an hour ago.
#: Giving up an orderly queue waits this long for the batch in progress (Java: 1 s).
UNLOCK_WAIT_S = 1.0


class PushConsumer:
    """``DefaultMQPushConsumer``, asyncio-first.

    ``message_model`` is ``CLUSTERING`` (the group shares the queues, offsets on the brokers)
    or ``BROADCASTING`` (every member gets every message; offsets in
    ``<offset_store_dir>/<clientId>/<group>/offsets.json``, ``~/.rocketmq_offsets`` by default —
    give a fixed ``instance_name`` for a restarted member to find its file again).
    ``max_reconsume_times`` -1 means 16 (concurrent) or unlimited (orderly), as in Java.
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
        message_model: str = CLUSTERING,
        instance: ClientInstance | None = None,
        instance_name: str = "DEFAULT",
        pull_retry_delay_s: float = 3.0,
        flow_control_delay_s: float = 0.05,
        reconsume_delay_s: float = 5.0,
        max_reconsume_times: int = -1,
        suspend_current_queue_s: float = 1.0,
        lock_interval_s: float = 20.0,
        offset_store_dir: str | Path | None = None,
        flow_limits: FlowLimits | None = None,
        allocate_strategy: AllocateStrategy = allocate_averagely,
        client_config: ClientConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        if message_model not in (CLUSTERING, BROADCASTING):
            raise ValueError(f"unknown message_model {message_model!r}")
        self.group = group
        self.consume_from_where = consume_from_where
        self.message_model = message_model
        self.max_concurrency = max_concurrency
        self.pull_batch_size = pull_batch_size
        self.consume_batch_size = consume_batch_size
        self.pull_retry_delay_s = pull_retry_delay_s
        self.flow_control_delay_s = flow_control_delay_s
        self.reconsume_delay_s = reconsume_delay_s
        self.max_reconsume_times = max_reconsume_times
        self.suspend_current_queue_s = suspend_current_queue_s
        self.lock_interval_s = lock_interval_s
        self.flow_limits = flow_limits or FlowLimits()
        self._owns_instance = instance is None
        self.instance = instance or shared_instance(
            namesrv_addr, instance_name, config=client_config, clock=clock
        )
        self._clock = self.instance.clock
        self.offset_store: OffsetStore = offset_store_for(
            message_model, group, self.instance, offset_store_dir
        )
        self.rebalance = RebalanceImpl(
            group,
            self.instance,
            self.offset_store,
            self._start_pulling,
            self._stop_pulling,
            now_ms=self._clock.now_ms,
            consume_from_where=consume_from_where,
            consume_timestamp_ms=consume_timestamp_ms(consume_timestamp, self._clock.now_ms()),
            strategy=allocate_strategy,
            message_model=message_model,
        )
        self.locker = QueueLocker(
            group,
            self.instance.client_id,
            self.instance.api,
            self.instance.master_addr_or_refresh,
            lambda: self.rebalance.process_queue_table,
            self._clock.now_ms,
        )
        self._listener: Listener | None = None
        self._orderly_listener: OrderlyListener | None = None
        self._consume: ConsumeService | None = None
        self._orderly: ConsumeOrderlyService | None = None
        self._inner_producer: Producer | None = None
        self._lock_timer: PeriodicTask | None = None
        self._puller = PushPullService(
            group,
            self.instance,
            self.rebalance,
            self.offset_store,
            self._dispatch,
            orderly=lambda: self.orderly,
            clustering=self.clustering,
            pull_batch_size=pull_batch_size,
            flow_limits=self.flow_limits,
            pull_retry_delay_s=pull_retry_delay_s,
            flow_control_delay_s=flow_control_delay_s,
        )
        self._state = "created"

    @property
    def orderly(self) -> bool:
        return self._orderly_listener is not None

    @property
    def clustering(self) -> bool:
        return self.message_model == CLUSTERING

    # ------------------------------------------------------------------ configuration

    def subscribe(self, topic: str, expression: str = "*", expression_type: str = "TAG") -> None:
        """Subscribe ``topic``: a tag expression (``*``, ``TagA || TagB``), or with
        ``expression_type="SQL92"`` a property filter (``a > 5 AND TAGS IN ('x')``)."""
        self.rebalance.subscriptions[topic] = build_subscription_data(
            topic, expression, expression_type=expression_type, sub_version=self._clock.now_ms()
        )
        if self._state == "running":
            # The broker checks pulls against the subscription of our last heartbeat.
            self.instance.request_route_refresh(topic)
            self.instance.request_heartbeat()

    def unsubscribe(self, topic: str) -> None:
        self.rebalance.subscriptions.pop(topic, None)

    def register_listener(self, listener: Listener) -> None:
        """Concurrent consumption: ``listener(messages) -> ConsumeStatus``, sync (run in a
        thread) or async."""
        self._listener, self._orderly_listener = listener, None

    def register_listener_orderly(self, listener: OrderlyListener) -> None:
        """Orderly consumption: ``listener(messages) -> ConsumeOrderlyStatus``; each queue's
        messages arrive one batch at a time, in queue order."""
        self._orderly_listener, self._listener = listener, None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._state != "created":
            raise MQClientError(f"consumer {self.group} cannot start: it is {self._state}")
        if self._listener is None and self._orderly_listener is None:
            raise MQClientError("register a listener before starting the consumer")
        if self.clustering:
            # Broadcasting consumers do not retry, so they do not read the retry topic.
            self.rebalance.ensure_retry_subscription(
                build_subscription_data(
                    retry_topic(self.group), "*", sub_version=self._clock.now_ms()
                )
            )
        if isinstance(self.offset_store, LocalFileOffsetStore):
            await asyncio.to_thread(self.offset_store.load)
        # The client's internal producer (CLIENT_INNER_PRODUCER) re-sends failed messages.
        self._inner_producer = Producer(
            CLIENT_INNER_PRODUCER_GROUP, "", instance=self.instance, register=False
        )
        send_back = SendBackService(
            self.group,
            self.instance.api,
            self.instance.master_addr_or_refresh,
            self._inner_producer,
            self._effective_max_reconsume_times(),
        )
        if self._orderly_listener is not None:
            self._orderly = ConsumeOrderlyService(
                self.group,
                self._orderly_listener,
                self.offset_store,
                self._clock,
                try_lock=self.locker.lock if self.clustering else None,
                resend=lambda msg: send_back.resend(msg, msg.reconsume_times),
                max_concurrency=self.max_concurrency,
                consume_batch_size=self.consume_batch_size,
                suspend_s=self.suspend_current_queue_s,
                max_reconsume_times=self._effective_max_reconsume_times(),
            )
            if self.clustering:
                self.rebalance.lock_new = self.locker.lock
                self.rebalance.remove = self._remove_orderly_queue
            await self._orderly.start()
        else:
            assert self._listener is not None
            self._consume = ConsumeService(
                self.group,
                self._listener,
                self.offset_store,
                self._clock,
                max_concurrency=self.max_concurrency,
                consume_batch_size=self.consume_batch_size,
                send_back=send_back.send_back if self.clustering else None,
                broadcasting=not self.clustering,
                reconsume_delay_s=self.reconsume_delay_s,
            )
            await self._consume.start()
        self.instance.register_consumer(self)
        self._state = "running"
        await self.instance.start()
        await self._inner_producer.start()
        if self.orderly and self.clustering:
            self._lock_timer = PeriodicTask(
                f"lock-{self.group}",
                self.locker.lock_all,
                self.lock_interval_s,
                min(1.0, self.lock_interval_s),  # Java: first renewal after 1 s
            )
            self._lock_timer.start()
        for topic in list(self.rebalance.subscriptions):
            await self.instance.update_topic_route(topic)
        await self.instance.send_heartbeat_to_all_brokers()
        self.instance.rebalance_now()

    def _effective_max_reconsume_times(self) -> int:
        if self.max_reconsume_times >= 0:
            return self.max_reconsume_times
        return -1 if self.orderly else CONCURRENT_DEFAULT_MAX_RECONSUME_TIMES

    async def shutdown(self, grace_s: float = 1.0) -> None:
        """Stop pulling, let running listeners finish (``grace_s``), commit, unlock (orderly),
        unregister."""
        if self._state != "running":
            self._state = "stopped"
            if self._owns_instance:
                await self.instance.release()
            return
        self._state = "stopping"
        if self._lock_timer is not None:
            await self._lock_timer.stop()
        await self._puller.close()
        if self._consume is not None:
            await self._consume.shutdown(grace_s)
        if self._orderly is not None:
            await self._orderly.shutdown(grace_s)
        for pq in self.rebalance.process_queue_table.values():
            pq.dropped = True
        if self.orderly and self.clustering:
            # The next owner of a queue reads its offset once it holds the lock: the offsets
            # must be on the brokers before the locks go.
            await self.offset_store.persist_all(self.rebalance.allocated(), oneway=False)
            await self.locker.unlock_all()
        else:
            await self.persist_offsets()
        self.rebalance.process_queue_table.clear()
        await self.instance.unregister_consumer(self.group)
        if self._inner_producer is not None:
            await self._inner_producer.shutdown()
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
            message_model=self.message_model,
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

    async def _remove_orderly_queue(self, mq: MessageQueue, pq: ProcessQueue) -> bool:
        """Give up an orderly queue: wait (up to 1 s) for the batch in progress, persist the
        offset and wait for the broker to have it, then unlock — so the next owner starts
        exactly after what we consumed. False (tried again at the next rebalance) while a
        listener still runs: unlocking then could let two consumers work on one queue."""
        try:
            async with asyncio.timeout(UNLOCK_WAIT_S):
                await pq.consume_lock.acquire()
        except TimeoutError:
            log.warning("[%s] %s is still being consumed: unlocking it later", self.group, mq)
            return False
        try:
            pq.released = True
            await self.offset_store.persist(mq, oneway=False)
            self.offset_store.remove_offset(mq)
            await self.locker.unlock(mq)
        finally:
            pq.consume_lock.release()
        if self._orderly is not None:
            self._orderly.forget(mq)
        return True

    # ------------------------------------------------------------------ pulling

    def _start_pulling(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        if self._state == "running":
            self._puller.start(mq, pq, offset)

    def _stop_pulling(self, mq: MessageQueue) -> None:
        self._puller.stop(mq)

    def _dispatch(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        """Pulled messages (already in ``pq``) go to the consume service."""
        if self._orderly is not None:
            if pq.start_consuming():  # else the request in progress will take them
                self._orderly.submit(mq, pq)
        elif self._consume is not None:
            self._consume.submit(mq, pq, msgs)
