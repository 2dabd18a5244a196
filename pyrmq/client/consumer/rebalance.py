"""RebalanceImpl: which queues this consumer pulls, in clustering mode.

Owns a group's subscriptions, the readable queues of each subscribed topic (from routes), the
ProcessQueue of every queue assigned to us, and the rebalance itself (protocol.md §6.5, §6.9):
ask a broker for the group's client ids, allocate with the strategy, drop queues that went
elsewhere (persisting their offsets first), and start queues that came to us at the offset the
group committed, or at the start position (last / first / timestamp) when it has none.
In BROADCASTING mode every member takes every queue (no consumer ids asked). Orderly consumers
plug in two hooks: ``lock_new`` (a queue is taken on only once its broker lock is ours) and
``remove`` (how a queue is given up: wait for the batch in progress, persist, unlock); a queue
whose removal cannot finish yet stays, dropped, and is tried again at the next rebalance.
Mirrors ``RebalanceImpl`` + ``RebalancePushImpl`` (``computePullFromWhereWithException``,
``removeUnnecessaryMessageQueue``). Talks to the rest through ``RebalanceHost`` and callbacks,
so it can be driven by fakes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from pyrmq.client.allocate import AllocateStrategy, allocate_averagely
from pyrmq.client.consumer.offset_store import OFFSET_NOT_FOUND, OffsetStore, ReadOffsetType
from pyrmq.client.consumer.process_queue import ProcessQueue
from pyrmq.client.errors import MQClientError
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.errors import RemotingError
from pyrmq.remoting.heartbeat import (
    BROADCASTING,
    CLUSTERING,
    CONSUME_FROM_FIRST_OFFSET,
    CONSUME_FROM_LAST_OFFSET,
    CONSUME_FROM_TIMESTAMP,
    CONSUME_FROM_WHERE_NAMES,
    SubscriptionData,
)

__all__ = [
    "RETRY_GROUP_TOPIC_PREFIX",
    "RebalanceHost",
    "RebalanceImpl",
    "consume_timestamp_ms",
    "parse_consume_timestamp",
    "retry_topic",
]

log = logging.getLogger(__name__)

RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"


def retry_topic(group: str) -> str:
    return f"{RETRY_GROUP_TOPIC_PREFIX}{group}"


def parse_consume_timestamp(text: str) -> int:
    """``yyyyMMddHHmmss`` in local time (Java ``UtilAll.parseDate``) -> epoch milliseconds."""
    return int(datetime.strptime(text, "%Y%m%d%H%M%S").timestamp() * 1000)


#: Java's default ``consumeTimestamp``: half an hour before the consumer starts.
DEFAULT_TIMESTAMP_AGO_MS = 30 * 60 * 1000


def consume_timestamp_ms(value: str | int | None, now_ms: int) -> int:
    """A consumer's ``consumeTimestamp`` setting -> epoch ms (None: 30 minutes before now)."""
    if value is None:
        return now_ms - DEFAULT_TIMESTAMP_AGO_MS
    return value if isinstance(value, int) else parse_consume_timestamp(value)


class RebalanceHost(Protocol):
    """What a rebalance needs from the client instance."""

    @property
    def client_id(self) -> str: ...

    async def find_consumer_ids(self, topic: str, group: str) -> list[str] | None: ...

    async def max_offset(self, mq: MessageQueue) -> int: ...

    async def search_offset(self, mq: MessageQueue, timestamp_ms: int) -> int: ...

    def request_route_refresh(self, topic: str) -> None: ...


#: Called when a queue becomes ours, with its ProcessQueue and the offset to pull from.
StartPulling = Callable[[MessageQueue, ProcessQueue, int], None]
#: Called when a queue stops being ours (its ProcessQueue is already marked dropped).
StopPulling = Callable[[MessageQueue], None]
#: Orderly: lock a queue at its broker before taking it on; True if we hold it.
LockNew = Callable[[MessageQueue], Awaitable[bool]]
#: Give a dropped queue up (offsets, locks); False when that cannot finish yet.
RemoveQueue = Callable[[MessageQueue, ProcessQueue], Awaitable[bool]]


class RebalanceImpl:
    def __init__(
        self,
        group: str,
        host: RebalanceHost,
        offset_store: OffsetStore,
        start_pulling: StartPulling,
        stop_pulling: StopPulling,
        *,
        now_ms: Callable[[], int],
        consume_from_where: str = CONSUME_FROM_LAST_OFFSET,
        consume_timestamp_ms: int = 0,
        strategy: AllocateStrategy = allocate_averagely,
        message_model: str = CLUSTERING,
        lock_new: LockNew | None = None,
        remove: RemoveQueue | None = None,
    ) -> None:
        if consume_from_where not in CONSUME_FROM_WHERE_NAMES:
            raise ValueError(f"unknown consume_from_where {consume_from_where!r}")
        if message_model not in (CLUSTERING, BROADCASTING):
            raise ValueError(f"unknown message_model {message_model!r}")
        self.message_model = message_model
        self.lock_new = lock_new
        self.remove = remove
        self.group = group
        self.host = host
        self.offset_store = offset_store
        self.start_pulling = start_pulling
        self.stop_pulling = stop_pulling
        self.now_ms = now_ms
        self.consume_from_where = consume_from_where
        self.consume_timestamp_ms = consume_timestamp_ms
        self.strategy = strategy
        self.subscriptions: dict[str, SubscriptionData] = {}
        #: set by a rebalance that found a subscribed topic without a route yet
        self.missing_routes = False
        self.topic_subscribe_info: dict[str, set[MessageQueue]] = {}
        self.process_queue_table: dict[MessageQueue, ProcessQueue] = {}

    # ------------------------------------------------------------------ rebalance

    async def do_rebalance(self) -> None:
        self.missing_routes = False
        for topic in list(self.subscriptions):
            await self.rebalance_by_topic(topic)
        # Queues of topics we no longer subscribe to (truncateMessageQueueNotMyTopic).
        for mq in [mq for mq in self.process_queue_table if mq.topic not in self.subscriptions]:
            await self.drop(mq)

    async def rebalance_by_topic(self, topic: str) -> bool:
        """Allocate ``topic``'s queues; True if our assignment changed."""
        mq_all = self.topic_subscribe_info.get(topic)
        if mq_all is None:
            if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
                # Normal at a group's first start: our first heartbeat makes the broker create
                # it, and its route reaches the NameServer a moment later.
                log.debug("[%s] rebalance: no route for %s yet", self.group, topic)
            else:
                log.warning("[%s] rebalance: no route for topic %s yet", self.group, topic)
            # Java waits for the 30 s route poll; ask now (a topic created a moment ago may
            # reach the NameServer just after our first lookup) and look again soon — failed
            # messages sent back to the retry topic would otherwise wait up to 30 s.
            self.host.request_route_refresh(topic)
            self.missing_routes = True
            return False
        if self.message_model == BROADCASTING:
            mine, cids = set(mq_all), [self.host.client_id]
        else:
            found = await self.host.find_consumer_ids(topic, self.group)
            if found is None:
                log.warning("[%s] rebalance of %s: consumer id list unavailable", self.group, topic)
                return False
            cids = found
            mine = set(self.strategy(self.group, self.host.client_id, list(mq_all), cids))
        changed = await self.update_process_queue_table(topic, mine)
        if changed:
            log.info(
                "[%s] rebalanced %s: %d queues, %d consumers, mine %s",
                self.group,
                topic,
                len(mq_all),
                len(cids),
                sorted(mine),
            )
        return changed

    async def update_process_queue_table(self, topic: str, mine: set[MessageQueue]) -> bool:
        changed = False
        now = self.now_ms()
        for mq, pq in list(self.process_queue_table.items()):
            if mq.topic != topic:
                continue
            if mq not in mine or pq.dropped:
                # (A dropped queue still here is one whose removal could not finish before.)
                changed |= await self.drop(mq)
            elif pq.is_pull_expired(now):
                # A pull loop that stopped reporting: start the queue again from its offset.
                log.warning("[%s] %s not pulled for a long time: restarting it", self.group, mq)
                changed |= await self.drop(mq)
        for mq in sorted(mine - self.process_queue_table.keys()):
            if self.lock_new is not None and not await self.lock_new(mq):
                log.warning("[%s] %s is locked by another consumer: not yet", self.group, mq)
                continue
            # removeDirtyOffset: the offset we may remember is older than the broker's.
            self.offset_store.remove_offset(mq)
            offset = await self.compute_pull_from_where(mq)
            if offset < 0:
                log.warning("[%s] no start offset for %s: retrying later", self.group, mq)
                continue
            now = self.now_ms()
            pq = ProcessQueue(last_pull_ms=now, locked=True, last_lock_ms=now)
            self.process_queue_table[mq] = pq
            log.info("[%s] now pulling %s from offset %d", self.group, mq, offset)
            self.start_pulling(mq, pq, offset)
            changed = True
        return changed

    async def drop(self, mq: MessageQueue) -> bool:
        """Stop consuming ``mq``: mark it dropped, persist its offset, forget it. False when
        the ``remove`` hook could not finish (the queue stays, dropped, for the next try)."""
        pq = self.process_queue_table.get(mq)
        if pq is None:
            return False
        pq.dropped = True
        self.stop_pulling(mq)
        if self.remove is not None:
            if not await self.remove(mq, pq):
                return False
        else:
            await self.offset_store.persist(mq)
            self.offset_store.remove_offset(mq)
        if self.process_queue_table.get(mq) is pq:
            del self.process_queue_table[mq]
        log.info("[%s] stopped pulling %s", self.group, mq)
        return True

    def forget(self, mq: MessageQueue, pq: ProcessQueue) -> None:
        """Remove ``mq`` if ``pq`` is still its ProcessQueue (OFFSET_MOVED: the pull loop
        already stored and persisted the new offset; the next rebalance starts it again)."""
        if self.process_queue_table.get(mq) is pq:
            del self.process_queue_table[mq]
        pq.dropped = True
        pq.released = True  # a late orderly commit must not undo the offset just persisted
        self.offset_store.remove_offset(mq)

    # ------------------------------------------------------------------ start offsets

    async def compute_pull_from_where(self, mq: MessageQueue) -> int:
        """The offset to start ``mq`` at (§6.9), or -1 when it cannot be decided now."""
        last = await self.offset_store.read_offset(mq, ReadOffsetType.READ_FROM_STORE)
        if last >= 0:
            return last
        if last != OFFSET_NOT_FOUND:
            return -1  # the broker could not be asked: do not guess
        is_retry = mq.topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
        try:
            if self.consume_from_where == CONSUME_FROM_FIRST_OFFSET:
                return 0  # corrected by PULL_OFFSET_MOVED if the queue starts later
            if self.consume_from_where == CONSUME_FROM_TIMESTAMP:
                if is_retry:
                    return await self.host.max_offset(mq)
                return await self.host.search_offset(mq, self.consume_timestamp_ms)
            # CONSUME_FROM_LAST_OFFSET and the deprecated names that behave like it.
            return 0 if is_retry else await self.host.max_offset(mq)
        except (RemotingError, MQClientError, ValueError) as exc:
            log.warning("[%s] start offset of %s: %s", self.group, mq, exc)
            return -1

    # ------------------------------------------------------------------ subscriptions

    def allocated(self) -> list[MessageQueue]:
        return list(self.process_queue_table)

    def ensure_retry_subscription(self, sub: SubscriptionData) -> None:
        self.subscriptions.setdefault(sub.topic, sub)

    def update_subscribe_info(self, topic: str, queues: set[MessageQueue]) -> None:
        if topic in self.subscriptions:
            self.topic_subscribe_info[topic] = set(queues)
