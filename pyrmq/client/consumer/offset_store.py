"""RemoteBrokerOffsetStore: a clustering group's consume offsets, kept by the brokers.

Owns the in-memory offset table (queue -> next offset to consume) of one consumer group and its
exchange with the brokers (protocol.md §3.3, §6.9): read with QUERY_CONSUMER_OFFSET (no
committed offset = -1, a failure to ask = -2), persist with oneway UPDATE_CONSUMER_OFFSET to the
queue's master, drop queues no longer assigned. Mirrors ``RemoteBrokerOffsetStore``. The broker
address lookup is injected so the store does not know about routes. ``OffsetStore`` is what
consumers need from a store; ``local_offset_store.LocalFileOffsetStore`` (broadcasting) is the
other implementation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from enum import Enum
from typing import Protocol

from pyrmq.client.api import ClientAPI
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.errors import MQResponseError, RemotingError
from pyrmq.remoting.headers import (
    QueryConsumerOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader,
)

__all__ = [
    "OFFSET_NOT_FOUND",
    "OFFSET_READ_FAILED",
    "OffsetStore",
    "ReadOffsetType",
    "RemoteBrokerOffsetStore",
]

log = logging.getLogger(__name__)

#: The broker has no committed offset for the queue (first start of the group there).
OFFSET_NOT_FOUND = -1
#: The broker could not be asked; callers must not guess a start offset.
OFFSET_READ_FAILED = -2

#: (topic, broker name) -> the master's address, fetching the route if needed; None if none.
FindMaster = Callable[[str, str], Awaitable[str | None]]


class ReadOffsetType(Enum):
    READ_FROM_MEMORY = "READ_FROM_MEMORY"
    READ_FROM_STORE = "READ_FROM_STORE"
    MEMORY_FIRST_THEN_STORE = "MEMORY_FIRST_THEN_STORE"


class OffsetStore(Protocol):
    """A consumer group's offsets (``OffsetStore``): next offset to consume per queue."""

    offset_table: dict[MessageQueue, int]

    def update_offset(self, mq: MessageQueue, offset: int, increase_only: bool = False) -> None: ...

    def remove_offset(self, mq: MessageQueue) -> None: ...

    async def read_offset(self, mq: MessageQueue, read_type: ReadOffsetType) -> int: ...

    async def persist(self, mq: MessageQueue, *, oneway: bool = True) -> None: ...

    async def persist_all(self, mqs: Iterable[MessageQueue], *, oneway: bool = True) -> None: ...


class RemoteBrokerOffsetStore:
    def __init__(
        self, group: str, api: ClientAPI, find_master: FindMaster, timeout_s: float = 5.0
    ) -> None:
        self.group = group
        self._api = api
        self._find_master = find_master
        self._timeout_s = timeout_s
        self.offset_table: dict[MessageQueue, int] = {}

    def update_offset(self, mq: MessageQueue, offset: int, increase_only: bool = False) -> None:
        """Remember ``offset`` for ``mq``; with ``increase_only`` never move it backwards
        (late consume results of older messages must not undo newer progress)."""
        old = self.offset_table.get(mq)
        if increase_only and old is not None and old >= offset:
            return
        self.offset_table[mq] = offset

    def remove_offset(self, mq: MessageQueue) -> None:
        self.offset_table.pop(mq, None)

    async def read_offset(self, mq: MessageQueue, read_type: ReadOffsetType) -> int:
        """The next offset to consume of ``mq``: from memory and/or from the broker.

        From the broker: the offset (also kept in memory), ``OFFSET_NOT_FOUND`` when the broker
        answers with any error code (QUERY_NOT_FOUND in practice), ``OFFSET_READ_FAILED`` when
        it cannot be reached.
        """
        if read_type is not ReadOffsetType.READ_FROM_STORE:
            offset = self.offset_table.get(mq)
            if offset is not None:
                return offset
            if read_type is ReadOffsetType.READ_FROM_MEMORY:
                return OFFSET_NOT_FOUND
        return await self._fetch_from_broker(mq)

    async def _fetch_from_broker(self, mq: MessageQueue) -> int:
        addr = await self._find_master(mq.topic, mq.broker_name)
        if addr is None:
            log.warning("[%s] no master for %s: offset unknown", self.group, mq)
            return OFFSET_READ_FAILED
        header = QueryConsumerOffsetRequestHeader(self.group, mq.topic, mq.queue_id)
        try:
            offset = await self._api.query_consumer_offset(addr, header, self._timeout_s)
        except MQResponseError:
            return OFFSET_NOT_FOUND
        except RemotingError as exc:
            log.warning(
                "[%s] reading the offset of %s from %s failed: %s", self.group, mq, addr, exc
            )
            return OFFSET_READ_FAILED
        self.update_offset(mq, offset)
        return offset

    async def persist(self, mq: MessageQueue, *, oneway: bool = True) -> None:
        """Send the in-memory offset of ``mq`` to its master (errors are logged)."""
        offset = self.offset_table.get(mq)
        if offset is None:
            return
        addr = await self._find_master(mq.topic, mq.broker_name)
        if addr is None:
            log.warning("[%s] no master for %s: offset %d not persisted", self.group, mq, offset)
            return
        header = UpdateConsumerOffsetRequestHeader(self.group, mq.topic, mq.queue_id, offset)
        try:
            if oneway:
                await self._api.update_consumer_offset_oneway(addr, header)
            else:
                await self._api.update_consumer_offset(addr, header, self._timeout_s)
        except RemotingError as exc:
            log.warning("[%s] persisting offset %d of %s failed: %s", self.group, offset, mq, exc)

    async def persist_all(self, mqs: Iterable[MessageQueue], *, oneway: bool = True) -> None:
        """Persist the offsets of ``mqs`` and forget every other queue (no longer ours);
        ``oneway=False`` waits for every answer (before giving up orderly queue locks)."""
        keep = set(mqs)
        for mq in list(self.offset_table):
            if mq in keep:
                await self.persist(mq, oneway=oneway)
            else:
                log.info("[%s] forgetting the offset of unassigned %s", self.group, mq)
                del self.offset_table[mq]
