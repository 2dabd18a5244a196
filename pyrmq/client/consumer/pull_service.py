"""PushPullService: the push consumer's pull loops, one per assigned queue.

Owns pulling (protocol.md §6.3, §6.4): per queue a task that refreshes the queue's last-pull
time, applies flow control (cached count / size, and the concurrency span unless orderly), waits
while an orderly queue is not locked, sends the long-polling PULL_MESSAGE (to the broker id the
last answer suggested; COMMIT_OFFSET piggy-back in clustering mode, towards a master only), and
applies the status: FOUND -> cache and dispatch, NO_NEW / NO_MATCHED -> next offset (committed
when nothing is in flight), OFFSET_MOVED -> persist the broker's offset, drop, rebalance; errors
-> retry after 3 s (FLOW_CONTROL: 20 ms). Mirrors ``DefaultMQPushConsumerImpl.pullMessage`` and
its ``PullCallback``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pyrmq.client.consumer.offset_store import OffsetStore, ReadOffsetType
from pyrmq.client.consumer.process_queue import ProcessQueue
from pyrmq.client.consumer.pull import (
    FlowLimits,
    PullResult,
    PullStatus,
    build_pull_header,
    flow_control_reason,
    process_pull_response,
)
from pyrmq.client.consumer.rebalance import RebalanceImpl
from pyrmq.client.errors import MQClientError
from pyrmq.client.instance import ClientInstance
from pyrmq.common.constants import MASTER_ID
from pyrmq.common.message import MessageExt
from pyrmq.common.service import TaskGroup
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.codes import ResponseCode
from pyrmq.remoting.errors import MQResponseError, RemotingError
from pyrmq.remoting.heartbeat import SubscriptionData

__all__ = ["FLOW_CONTROL_RETRY_S", "PULL_TIMEOUT_S", "Dispatch", "PushPullService"]

log = logging.getLogger(__name__)

#: Pull answers meaning the broker lost our heartbeat's registration.
_FORGOTTEN_US = frozenset(
    {ResponseCode.SUBSCRIPTION_NOT_EXIST, ResponseCode.SUBSCRIPTION_NOT_LATEST}
)

#: consumerTimeoutMillisWhenSuspend: RPC timeout of a long-polling pull.
PULL_TIMEOUT_S = 30.0
#: After a FLOW_CONTROL (215) answer the next pull goes out this soon (Java: 20 ms).
FLOW_CONTROL_RETRY_S = 0.02

#: Hands pulled messages (already cached in the ProcessQueue) to the consume service.
Dispatch = Callable[[MessageQueue, ProcessQueue, list[MessageExt]], None]


class PushPullService:
    def __init__(
        self,
        group: str,
        instance: ClientInstance,
        rebalance: RebalanceImpl,
        offset_store: OffsetStore,
        dispatch: Dispatch,
        *,
        orderly: Callable[[], bool],
        clustering: bool,
        pull_batch_size: int,
        flow_limits: FlowLimits,
        pull_retry_delay_s: float,
        flow_control_delay_s: float,
    ) -> None:
        self.group = group
        self._instance = instance
        self._rebalance = rebalance
        self._offset_store = offset_store
        self._dispatch = dispatch
        #: Asked on every turn: the listener kind is only final when the consumer starts.
        self._orderly = orderly
        self.clustering = clustering
        self.pull_batch_size = pull_batch_size
        self.flow_limits = flow_limits
        self.pull_retry_delay_s = pull_retry_delay_s
        self.flow_control_delay_s = flow_control_delay_s
        self._now_ms = instance.clock.now_ms
        self._pull_tasks: dict[MessageQueue, asyncio.Task[None]] = {}
        self._pulls = TaskGroup(f"pull-{group}")

    async def close(self) -> None:
        await self._pulls.close()
        self._pull_tasks.clear()

    def start(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        """Start pulling ``mq`` from ``offset`` (a queue became ours)."""
        task = self._pulls.spawn(self._pull_loop(mq, pq, offset), f"pull-{mq}")
        self._pull_tasks[mq] = task
        task.add_done_callback(lambda done: self._forget_task(mq, done))

    def _forget_task(self, mq: MessageQueue, task: asyncio.Task[None]) -> None:
        if self._pull_tasks.get(mq) is task:
            del self._pull_tasks[mq]

    def stop(self, mq: MessageQueue) -> None:
        """Stop pulling ``mq`` (its ProcessQueue is already marked dropped)."""
        task = self._pull_tasks.pop(mq, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _pull_loop(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        """Pull ``mq`` until its ProcessQueue is dropped (``pullMessage`` + callback)."""
        broker_id = MASTER_ID
        while not pq.dropped:
            # Refreshed on every turn, flow control included (the rebalance restarts a queue
            # whose loop stops reporting for 120 s).
            pq.last_pull_ms = self._now_ms()
            reason = flow_control_reason(pq, self.flow_limits, check_span=not self._orderly())
            sub = self._rebalance.subscriptions.get(mq.topic)
            if reason is not None or sub is None:
                if reason is not None:
                    log.debug("[%s] %s flow control: %s", self.group, mq, reason)
                await asyncio.sleep(
                    self.flow_control_delay_s if reason else self.pull_retry_delay_s
                )
                continue
            if self.clustering and self._orderly() and not pq.locked:
                # An orderly queue is pulled only while its broker lock is ours.
                await asyncio.sleep(self.pull_retry_delay_s)
                continue
            try:
                result = await self._pull_once(mq, sub, offset, broker_id)
            except (RemotingError, MQClientError, ValueError) as exc:
                flow = (
                    isinstance(exc, MQResponseError)
                    and exc.response_code == ResponseCode.FLOW_CONTROL
                )
                log.warning("[%s] pull of %s at %d failed: %s", self.group, mq, offset, exc)
                if isinstance(exc, MQResponseError) and exc.response_code in _FORGOTTEN_US:
                    # The broker does not know our subscription (it restarted, or expired us):
                    # tell it now rather than at the next 30 s heartbeat.
                    self._instance.request_heartbeat()
                if isinstance(exc, RemotingError) and not isinstance(exc, MQResponseError):
                    # The broker is unreachable (gone, or a DLedger master replaced): look the
                    # route up now rather than at the next 30 s poll, as the producer does.
                    self._instance.request_route_refresh(mq.topic)
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
        found = self._instance.subscribe_addr(mq.broker_name, broker_id)
        if found is None:
            await self._instance.update_topic_route(mq.topic)
            found = self._instance.subscribe_addr(mq.broker_name, broker_id)
        if found is None:
            raise MQClientError(f"the broker {mq.broker_name} does not exist")
        addr, chosen_id = found
        commit = 0
        if self.clustering:  # broadcasting offsets never go to the broker
            commit = await self._offset_store.read_offset(mq, ReadOffsetType.READ_FROM_MEMORY)
        header = build_pull_header(
            self.group,
            mq,
            offset,
            sub,
            self.pull_batch_size,
            commit,
            to_master=chosen_id == MASTER_ID,
        )
        response = await self._instance.api.pull_message(addr, header, PULL_TIMEOUT_S)
        return process_pull_response(response, sub)

    async def _on_pull_result(
        self, mq: MessageQueue, pq: ProcessQueue, result: PullResult, offset: int
    ) -> int | None:
        """Apply a pull result (§6.3); the next offset, or None when the loop must end."""
        if result.status is PullStatus.FOUND and result.messages:
            pq.put_messages(result.messages)
            self._dispatch(mq, pq, result.messages)
            return result.next_begin_offset
        if result.status is PullStatus.OFFSET_ILLEGAL:
            await self._offset_moved(mq, pq, offset, result.next_begin_offset)
            return None
        # NO_NEW_MSG, NO_MATCHED_MSG, or FOUND with everything filtered out: nothing is in
        # flight for these offsets, so with an empty cache the next offset may be committed
        # (correctTagsOffset) — otherwise a quiet, filtered queue would never advance.
        if pq.msg_count == 0:
            self._offset_store.update_offset(mq, result.next_begin_offset, increase_only=True)
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
        self._offset_store.update_offset(mq, next_offset)
        # Wait for the broker's answer: the rebalance reads this offset back from it.
        await self._offset_store.persist(mq, oneway=False)
        self._rebalance.forget(mq, pq)
        self._instance.rebalance_now()
