"""LitePullConsumer: the application polls; background tasks keep a cache of pulled messages.

Owns ``DefaultLitePullConsumer``'s behaviour (protocol.md §3.3, §6.3, §6.5, §6.9): queues come
from ``subscribe`` (a rebalance, as the push consumer's, heartbeat CONSUME_ACTIVELY) or from
``assign``; per queue a task pulls into a shared batch queue (``lite_pull_tasks.py``: long
polling, subscription in the request, LITE_PULL flag, flow control, pause/resume). ``poll``
returns the messages of the next pulled batch and records the queue's consumed offset (after
that batch); ``commit_sync`` — and with ``enable_auto_commit`` every ``auto_commit_interval_s``
inside ``poll`` — hands the consumed offsets to the offset store and the brokers. ``seek``
(within the queue's min/max) restarts a queue's pulling at the offset and discards what was
cached. Mirrors ``DefaultLitePullConsumerImpl``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

from pyrmq.client.allocate import AllocateStrategy, allocate_averagely
from pyrmq.client.config import ClientConfig
from pyrmq.client.consumer.lite_pull_tasks import AssignedQueue, LitePullTasks
from pyrmq.client.consumer.local_offset_store import LocalFileOffsetStore, offset_store_for
from pyrmq.client.consumer.offset_store import (
    OffsetStore,
    ReadOffsetType,
)
from pyrmq.client.consumer.process_queue import ProcessQueue
from pyrmq.client.consumer.pull_consumer import fetch_subscribe_queues
from pyrmq.client.consumer.rebalance import RebalanceImpl, consume_timestamp_ms
from pyrmq.client.errors import MQClientError
from pyrmq.client.instance import ClientInstance, shared_instance
from pyrmq.common.clock import Clock
from pyrmq.common.message import MessageExt
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.heartbeat import (
    CLUSTERING,
    CONSUME_ACTIVELY,
    CONSUME_FROM_LAST_OFFSET,
    ConsumerData,
    build_subscription_data,
)

__all__ = ["LitePullConsumer"]

log = logging.getLogger(__name__)


class LitePullConsumer:
    """``DefaultLitePullConsumer``, asyncio-first.

    ``c.subscribe("T", "*")`` or ``c.assign([...])``; ``await c.start()``;
    ``msgs = await c.poll(1.0)``; ``await c.commit_sync()``.
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str,
        *,
        consume_from_where: str = CONSUME_FROM_LAST_OFFSET,
        consume_timestamp: str | int | None = None,
        message_model: str = CLUSTERING,
        pull_batch_size: int = 10,
        poll_timeout_s: float = 5.0,
        enable_auto_commit: bool = True,
        auto_commit_interval_s: float = 5.0,
        pull_threshold_for_queue: int = 1000,
        pull_threshold_for_all: int = 10000,
        offset_store_dir: str | Path | None = None,
        allocate_strategy: AllocateStrategy = allocate_averagely,
        instance: ClientInstance | None = None,
        instance_name: str = "DEFAULT",
        client_config: ClientConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.group = group
        self.consume_from_where = consume_from_where
        self.message_model = message_model
        self.pull_batch_size = pull_batch_size
        self.poll_timeout_s = poll_timeout_s
        self.enable_auto_commit = enable_auto_commit
        self.auto_commit_interval_s = auto_commit_interval_s
        self.pull_threshold_for_queue = pull_threshold_for_queue
        self.pull_threshold_for_all = pull_threshold_for_all
        self._owns_instance = instance is None
        self.instance = instance or shared_instance(
            namesrv_addr, instance_name, config=client_config, clock=clock
        )
        self._clock = self.instance.clock
        self.offset_store: OffsetStore = offset_store_for(
            message_model, group, self.instance, offset_store_dir
        )
        timestamp_ms = consume_timestamp_ms(consume_timestamp, self._clock.now_ms())
        self.rebalance = RebalanceImpl(
            group,
            self.instance,
            self.offset_store,
            self._start_queue,
            self._stop_queue,
            now_ms=self._clock.now_ms,
            consume_from_where=consume_from_where,
            consume_timestamp_ms=timestamp_ms,
            strategy=allocate_strategy,
            message_model=message_model,
        )
        self._mode: str | None = None  # "subscribe" or "assign"
        self._assigned: set[MessageQueue] = set()
        self._tasks = LitePullTasks(
            group,
            self.instance,
            self.rebalance,
            pull_batch_size=pull_batch_size,
            pull_threshold_for_queue=pull_threshold_for_queue,
            pull_threshold_for_all=pull_threshold_for_all,
        )
        #: The assigned queues (shared with the pull tasks).
        self._queues = self._tasks.queues
        self._next_commit = 0.0
        self._state = "created"

    # ------------------------------------------------------------------ configuration

    def subscribe(self, topic: str, expression: str = "*") -> None:
        if self._mode == "assign":
            raise MQClientError("subscribe and assign cannot be mixed")
        self._mode = "subscribe"
        self.rebalance.subscriptions[topic] = build_subscription_data(
            topic, expression, sub_version=self._clock.now_ms()
        )
        if self._state == "running":
            self.instance.request_route_refresh(topic)
            self.instance.request_heartbeat()
            self.instance.rebalance_now()

    def unsubscribe(self, topic: str) -> None:
        self.rebalance.subscriptions.pop(topic, None)

    def assign(self, queues: Iterable[MessageQueue]) -> None:
        """Consume exactly ``queues`` (no rebalance)."""
        if self._mode == "subscribe":
            raise MQClientError("subscribe and assign cannot be mixed")
        self._mode = "assign"
        self._assigned = set(queues)
        if self._state == "running":
            self._apply_assignment()

    def _apply_assignment(self) -> None:
        for mq in [mq for mq in self._queues if mq not in self._assigned]:
            self._stop_queue(mq)
        for mq in sorted(self._assigned - self._queues.keys()):
            self._start_queue(mq, ProcessQueue(last_pull_ms=self._clock.now_ms()), -1)

    def assignment(self) -> set[MessageQueue]:
        return set(self._queues)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._state != "created":
            raise MQClientError(f"consumer {self.group} cannot start: it is {self._state}")
        if isinstance(self.offset_store, LocalFileOffsetStore):
            await asyncio.to_thread(self.offset_store.load)
        self.instance.register_consumer(self)
        self._state = "running"
        self._next_commit = self._now_s() + self.auto_commit_interval_s
        await self.instance.start()
        if self._mode == "assign":
            self._apply_assignment()
        else:
            for topic in list(self.rebalance.subscriptions):
                await self.instance.update_topic_route(topic)
            await self.instance.send_heartbeat_to_all_brokers()
            self.instance.rebalance_now()

    async def shutdown(self) -> None:
        """Stop pulling; with auto-commit, commit what was polled; persist; unregister."""
        if self._state != "running":
            self._state = "stopped"
            if self._owns_instance:
                await self.instance.release()
            return
        self._state = "stopping"
        await self._tasks.close()
        if self.enable_auto_commit:
            self._commit_to_store()
        await self.persist_offsets()
        await self.instance.unregister_consumer(self.group)
        self._queues.clear()
        self.rebalance.process_queue_table.clear()
        if self._owns_instance:
            await self.instance.release()
        self._state = "stopped"

    async def __aenter__(self) -> LitePullConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    def _now_s(self) -> float:
        return self._clock.now_ms() / 1000

    # ------------------------------------------------------------------ polling

    async def poll(self, timeout_s: float | None = None) -> list[MessageExt]:
        """The next pulled batch (up to ``pull_batch_size`` messages of one queue), or ``[]``
        after ``timeout_s`` (default ``poll_timeout_s``) without one."""
        if self._state != "running":
            raise MQClientError(f"consumer {self.group} is not running ({self._state})")
        if self.enable_auto_commit and self._now_s() >= self._next_commit:
            await self.commit_sync(oneway=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.poll_timeout_s if timeout_s is None else timeout_s)
        while True:
            remaining = deadline - loop.time()
            try:
                async with asyncio.timeout(max(remaining, 0)):
                    batch = await self._tasks.batches.get()
            except TimeoutError:
                return []
            state = self._queues.get(batch.mq)
            if state is not batch.state or batch.generation != state.generation:
                continue  # the queue was given up or seeked since this batch was pulled
            if state.pq.dropped:
                continue
            if not state.resumed.is_set():
                state.held.append(batch)  # a paused queue yields nothing until resumed
                continue
            offset = state.pq.remove_messages(batch.msgs, self._clock.now_ms())
            if offset >= 0:
                state.consume_offset = offset
            return batch.msgs

    async def commit_sync(self, *, oneway: bool = False) -> None:
        """Commit the offsets after what ``poll`` returned, for every assigned queue."""
        self._commit_to_store()
        await self.offset_store.persist_all(list(self._queues), oneway=oneway)
        self._next_commit = self._now_s() + self.auto_commit_interval_s

    def _commit_to_store(self) -> None:
        for mq, state in self._queues.items():
            if state.consume_offset >= 0:
                self.offset_store.update_offset(mq, state.consume_offset)

    async def committed(self, mq: MessageQueue) -> int:
        """The group's committed offset of ``mq`` as the broker (or local file) has it."""
        return await self.offset_store.read_offset(mq, ReadOffsetType.READ_FROM_STORE)

    # ------------------------------------------------------------------ seek, pause

    def _state_of(self, mq: MessageQueue) -> AssignedQueue:
        state = self._queues.get(mq)
        if state is None:
            raise MQClientError(f"{mq} is not assigned to this consumer (rebalancing?)")
        return state

    async def seek(self, mq: MessageQueue, offset: int) -> None:
        """Continue ``mq`` at ``offset`` (between its min and max offset, inclusive)."""
        state = self._state_of(mq)
        low, high = await self.instance.min_offset(mq), await self.instance.max_offset(mq)
        if not low <= offset <= high:
            raise MQClientError(f"seek offset {offset} of {mq} is illegal: min {low}, max {high}")
        self._tasks.restart(mq, state, offset)
        # Java: the seek position counts as consumed, so a commit right after keeps it.
        state.consume_offset = offset

    async def seek_to_begin(self, mq: MessageQueue) -> None:
        await self.seek(mq, await self.instance.min_offset(mq))

    async def seek_to_end(self, mq: MessageQueue) -> None:
        await self.seek(mq, await self.instance.max_offset(mq))

    def pause(self, queues: Iterable[MessageQueue]) -> None:
        for mq in queues:
            if (state := self._queues.get(mq)) is not None:
                state.resumed.clear()

    def resume(self, queues: Iterable[MessageQueue]) -> None:
        for mq in queues:
            if (state := self._queues.get(mq)) is not None:
                self._tasks.resume(state)

    async def fetch_message_queues(self, topic: str) -> set[MessageQueue]:
        return await fetch_subscribe_queues(self.instance, topic)

    # ------------------------------------------------------------------ pulling

    def _start_queue(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        if self._state == "running":
            self._tasks.start(mq, pq, offset)

    def _stop_queue(self, mq: MessageQueue) -> None:
        state = self._tasks.stop(mq)
        if state is not None and self.enable_auto_commit and state.consume_offset >= 0:
            # Given up by a rebalance: what was polled is consumed; the rebalance persists it.
            self.offset_store.update_offset(mq, state.consume_offset)

    # ------------------------------------------------------------------ ConsumerInner

    def consumer_data(self) -> ConsumerData:
        return ConsumerData(
            group_name=self.group,
            consume_type=CONSUME_ACTIVELY,
            message_model=self.message_model,
            consume_from_where=self.consume_from_where,
            subscription_data_set=list(self.rebalance.subscriptions.values()),
        )

    def subscribed_topics(self) -> Iterable[str]:
        return list(self.rebalance.subscriptions)

    def update_subscribe_info(self, topic: str, queues: set[MessageQueue]) -> None:
        self.rebalance.update_subscribe_info(topic, queues)

    async def do_rebalance(self) -> None:
        if self._state == "running" and self._mode == "subscribe":
            await self.rebalance.do_rebalance()

    async def persist_offsets(self) -> None:
        await self.offset_store.persist_all(list(self._queues))
