"""LitePullTasks: the lite pull consumer's assigned queues and their background pull tasks.

Owns, per assigned queue (``AssignedQueue``): the ProcessQueue, the next offset to pull, the
offset after what ``poll`` returned, a generation bumped by ``seek`` (batches pulled before it
are stale), the pause flag and the batches held while paused; and the pull task: long-polling
PULL_MESSAGE with the subscription and the LITE_PULL flag, flow control (per queue and overall
cached messages: 50 ms), pause (wait for resume), errors (1 s), the start offset computed from
the group's offset or start position, FOUND batches into one shared queue for ``poll``.
Mirrors ``DefaultLitePullConsumerImpl.PullTaskImpl`` and ``AssignedMessageQueue``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from pyrmq.client.consumer.process_queue import ProcessQueue
from pyrmq.client.consumer.pull import PullStatus
from pyrmq.client.consumer.pull_consumer import pull_queue
from pyrmq.client.consumer.rebalance import RebalanceImpl
from pyrmq.client.errors import MQClientError
from pyrmq.client.instance import ClientInstance
from pyrmq.common.constants import MASTER_ID
from pyrmq.common.message import MessageExt
from pyrmq.common.service import TaskGroup
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.errors import MQResponseError, RemotingError
from pyrmq.remoting.heartbeat import SubscriptionData, build_subscription_data

__all__ = ["AssignedQueue", "LitePullTasks", "PulledBatch"]

log = logging.getLogger(__name__)

#: Pull delays (Java: 50 ms under flow control, 1 s paused, 1 s after an error).
FLOW_CONTROL_DELAY_S = 0.05
PAUSE_DELAY_S = 1.0
ERROR_DELAY_S = 1.0


@dataclass(slots=True)
class AssignedQueue:
    """One assigned queue (``AssignedMessageQueue``'s entry)."""

    pq: ProcessQueue
    #: Next offset to pull (-1: to be computed from the group's offset / start position).
    pull_offset: int = -1
    #: Offset after the last message ``poll`` returned (-1: nothing consumed yet).
    consume_offset: int = -1
    #: Bumped by ``seek``: batches pulled before it are stale.
    generation: int = 0
    resumed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Batches ``poll`` met while the queue was paused (a pull was already under way).
    held: list[PulledBatch] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.resumed.set()


@dataclass(slots=True)
class PulledBatch:
    mq: MessageQueue
    state: AssignedQueue
    generation: int
    msgs: list[MessageExt]


class LitePullTasks:
    def __init__(
        self,
        group: str,
        instance: ClientInstance,
        rebalance: RebalanceImpl,
        *,
        pull_batch_size: int,
        pull_threshold_for_queue: int,
        pull_threshold_for_all: int,
    ) -> None:
        self.group = group
        self._instance = instance
        self._rebalance = rebalance
        self.pull_batch_size = pull_batch_size
        self.pull_threshold_for_queue = pull_threshold_for_queue
        self.pull_threshold_for_all = pull_threshold_for_all
        self.queues: dict[MessageQueue, AssignedQueue] = {}
        #: FOUND batches of every queue, in arrival order, for ``poll``.
        self.batches: asyncio.Queue[PulledBatch] = asyncio.Queue()
        self._pulls = TaskGroup(f"lite-pull-{group}")

    def start(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        """Pull ``mq`` from ``offset`` (-1: from the group's offset / start position)."""
        state = AssignedQueue(pq, pull_offset=offset)
        self.queues[mq] = state
        state.task = self._pulls.spawn(self._pull_loop(mq, state), f"lite-pull-{mq}")

    def stop(self, mq: MessageQueue) -> AssignedQueue | None:
        """Forget ``mq``: its ProcessQueue is dropped and its task cancelled."""
        state = self.queues.pop(mq, None)
        if state is None:
            return None
        state.pq.dropped = True
        if state.task is not None and state.task is not asyncio.current_task():
            state.task.cancel()
        return state

    def restart(self, mq: MessageQueue, state: AssignedQueue, offset: int) -> None:
        """``seek``: drop what was pulled of ``mq`` and pull again from ``offset``."""
        if state.task is not None:
            state.task.cancel()
        state.generation += 1
        state.held.clear()
        state.pq.clear()
        state.pull_offset = offset
        state.task = self._pulls.spawn(self._pull_loop(mq, state), f"lite-pull-{mq}")

    def resume(self, state: AssignedQueue) -> None:
        state.resumed.set()
        for batch in state.held:
            self.batches.put_nowait(batch)
        state.held.clear()

    async def close(self) -> None:
        await self._pulls.close()

    def _cached_total(self) -> int:
        return sum(state.pq.msg_count for state in self.queues.values())

    async def _pull_loop(self, mq: MessageQueue, state: AssignedQueue) -> None:
        pq, generation = state.pq, state.generation
        broker_id = MASTER_ID
        while not pq.dropped and generation == state.generation:
            pq.last_pull_ms = self._instance.clock.now_ms()
            if not state.resumed.is_set():
                # Paused: wake on resume, look again now and then (the rebalance watches us).
                try:
                    async with asyncio.timeout(PAUSE_DELAY_S):
                        await state.resumed.wait()
                except TimeoutError:
                    pass
                continue
            if (
                pq.msg_count > self.pull_threshold_for_queue
                or self._cached_total() > self.pull_threshold_for_all
            ):
                await asyncio.sleep(FLOW_CONTROL_DELAY_S)
                continue
            try:
                if state.pull_offset < 0:
                    state.pull_offset = await self._start_offset(mq)
                sub = self._subscription(mq)
                result = await pull_queue(
                    self._instance,
                    self.group,
                    mq,
                    sub,
                    state.pull_offset,
                    self.pull_batch_size,
                    block=True,
                    lite=True,
                    broker_id=broker_id,
                )
            except (RemotingError, MQClientError, ValueError) as exc:
                log.warning("[%s] lite pull of %s failed: %s", self.group, mq, exc)
                if isinstance(exc, RemotingError) and not isinstance(exc, MQResponseError):
                    # The broker is unreachable (gone, or a DLedger master replaced): look the
                    # route up now rather than at the next 30 s poll, as the push consumer does.
                    self._instance.request_route_refresh(mq.topic)
                await asyncio.sleep(ERROR_DELAY_S)
                continue
            if pq.dropped or generation != state.generation:
                return
            broker_id = result.suggest_which_broker_id
            if result.status is PullStatus.FOUND and result.messages:
                pq.put_messages(result.messages)
                self.batches.put_nowait(PulledBatch(mq, state, generation, result.messages))
            elif result.status is PullStatus.OFFSET_ILLEGAL:
                log.warning(
                    "[%s] offset %d of %s is illegal, moving to %d",
                    self.group,
                    state.pull_offset,
                    mq,
                    result.next_begin_offset,
                )
            state.pull_offset = result.next_begin_offset

    def _subscription(self, mq: MessageQueue) -> SubscriptionData:
        sub = self._rebalance.subscriptions.get(mq.topic)
        return sub if sub is not None else build_subscription_data(mq.topic, "*")

    async def _start_offset(self, mq: MessageQueue) -> int:
        offset = await self._rebalance.compute_pull_from_where(mq)
        if offset < 0:
            raise MQClientError(f"no start offset for {mq} yet")
        return offset
