"""What the store needs from the layers above it, as Protocols they implement.

``MessageFilter`` (the broker's tag/SQL filter, mirrors RocketMQ's ``MessageFilter``),
``ReplicationGate`` (a SYNC_MASTER's wait for its slave, implemented by ``ha``), and the
arrival listener that wakes held pulls (``MessageArrivingListener``). The store imports none of
their implementations; the broker's controller wires them in.
"""

from __future__ import annotations

from typing import Protocol

from pyrmq.store.results import PutMessageStatus


class MessageFilter(Protocol):
    def is_matched_by_consume_queue(self, tags_code: int | None) -> bool: ...

    def is_matched_by_commit_log(self, record: memoryview) -> bool: ...


class ReplicationGate(Protocol):
    async def wait_replicated(self, next_offset: int) -> PutMessageStatus:
        """PUT_OK once a slave holds bytes up to ``next_offset``; else the failure status."""
        ...


class MessageArrivingListener(Protocol):
    def __call__(
        self, topic: str, queue_id: int, logic_offset: int, tags_code: int, store_timestamp: int
    ) -> None: ...
