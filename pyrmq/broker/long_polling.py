"""PullRequestHoldService: held pulls, woken by message arrival or by their timeout.

Mirrors 4.9.8 ``PullRequestHoldService`` + ``NotifyMessageArrivingListener``: requests are kept
per ``topic@queueId``; the store's dispatch calls ``notify_message_arriving`` for each message
it adds to a queue, which re-executes every held pull whose offset is now readable and whose
filter matches the message's tag hash; a periodic check answers those whose hold time is over.
Java checks every 5 s; we check every second so a held pull is answered closer to its timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyrmq.common.clock import Clock
from pyrmq.common.service import PeriodicTask

if TYPE_CHECKING:
    from pyrmq.broker.processors.pull import PullRequest

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0


class PullRequestHoldService:
    def __init__(
        self,
        clock: Clock,
        max_offset_of: Callable[[str, int], int],
        wake: Callable[[PullRequest], None],
        interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        self._clock = clock
        self._max_offset_of = max_offset_of
        self._wake = wake
        self._table: dict[tuple[str, int], list[PullRequest]] = {}
        self._task = PeriodicTask("pull-request-hold", self.check_hold_requests, interval_s)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    def suspend(self, topic: str, queue_id: int, pull_request: PullRequest) -> None:
        self._table.setdefault((topic, queue_id), []).append(pull_request)

    def held(self) -> int:
        return sum(len(requests) for requests in self._table.values())

    def check_hold_requests(self) -> None:
        for topic, queue_id in list(self._table):
            self.notify_message_arriving(topic, queue_id, self._max_offset_of(topic, queue_id))

    def notify_message_arriving(
        self, topic: str, queue_id: int, max_offset: int, tags_code: int | None = None
    ) -> None:
        requests = self._table.get((topic, queue_id))
        if not requests:
            return
        now_ms = self._clock.now_ms()
        keep: list[PullRequest] = []
        for pull_request in requests:
            if not pull_request.conn.is_open:
                continue
            arrived = max_offset > pull_request.pull_from_this_offset and (
                tags_code is None
                or pull_request.message_filter.is_matched_by_consume_queue(tags_code)
            )
            expired = now_ms >= pull_request.suspend_timestamp_ms + pull_request.timeout_ms
            if arrived or expired:
                self._wake(pull_request)
            else:
                keep.append(pull_request)
        if keep:
            self._table[(topic, queue_id)] = keep
        else:
            self._table.pop((topic, queue_id), None)
