"""Committed consumer offsets of clustering groups, persisted as ``consumerOffset.json``.

Mirrors ``ConsumerOffsetManager`` (Java 4.9.8; protocol.md §3.3, §6.9): a table
``topic@group`` → queue id → the **next** offset to consume, written by UPDATE_CONSUMER_OFFSET
and the pull's commit piggy-back, read by QUERY_CONSUMER_OFFSET and the admin stats requests.
Commits only change memory; the broker calls ``persist`` periodically
(``flushConsumerOffsetInterval``, 5 s) and at shutdown, as Java does. Synchronous; the file
format is ``pyrmq.store.metadata.ConsumerOffsetFile``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from pyrmq.store.metadata import ConsumerOffsetFile, offset_key, split_offset_key

__all__ = ["ConsumerOffsetManager"]

log = logging.getLogger(__name__)

#: (topic, group) -> whether that offset entry goes.
_KeyFilter: TypeAlias = Callable[[str, str], bool]


class ConsumerOffsetManager:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset_table: dict[str, dict[int, int]] = {}

    # ------------------------------------------------------------------ persistence

    def load(self) -> None:
        """Replace the table with the file's (or its ``.bak``'s); nothing there = empty."""
        self.offset_table = ConsumerOffsetFile.load(self.path).offset_table
        log.info("loaded offsets of %d topic@group keys from %s", len(self.offset_table), self.path)

    def persist(self) -> None:
        self._file().persist(self.path)

    def encode_all(self) -> bytes:
        """GET_ALL_CONSUMER_OFFSET (43) body: the compact legacy form of the same object."""
        return self._file().encode(pretty=False)

    def _file(self) -> ConsumerOffsetFile:
        return ConsumerOffsetFile({key: dict(q) for key, q in self.offset_table.items()})

    # ------------------------------------------------------------------ commits and queries

    def commit_offset(
        self, client_host: str, group: str, topic: str, queue_id: int, offset: int
    ) -> None:
        """Store ``offset`` (the next one to consume). Going backwards is allowed (offset
        resets do it) but logged, as Java's [NOTIFYME] warning."""
        queues = self.offset_table.setdefault(offset_key(topic, group), {})
        previous = queues.get(queue_id)
        queues[queue_id] = offset
        if previous is not None and offset < previous:
            log.warning(
                "consumer offset moved back: client=%s group=%s topic=%s queue=%d %d -> %d",
                client_host,
                group,
                topic,
                queue_id,
                previous,
                offset,
            )

    def query_offset(self, group: str, topic: str, queue_id: int) -> int:
        """The committed offset, or -1 when the group never committed one for this queue."""
        return self.offset_table.get(offset_key(topic, group), {}).get(queue_id, -1)

    def query_offset_table(self, group: str, topic: str) -> dict[int, int]:
        """Queue id → committed offset of one group on one topic (a copy; empty if none)."""
        return dict(self.offset_table.get(offset_key(topic, group), {}))

    def which_topic_by_consumer(self, group: str) -> set[str]:
        return {topic for topic, owner in self._pairs() if owner == group}

    def which_group_by_topic(self, topic: str) -> set[str]:
        return {group for name, group in self._pairs() if name == topic}

    def _pairs(self) -> list[tuple[str, str]]:
        # Keys that do not split into exactly topic@group are skipped, as in Java.
        return [pair for key in self.offset_table if (pair := split_offset_key(key)) is not None]

    # ------------------------------------------------------------------ removal

    def clean_offset_by_topic(self, topic: str) -> None:
        """Forget every group's offsets on ``topic`` (the topic was deleted)."""
        self._remove(lambda name, _group: name == topic)

    def remove_offset(self, group: str) -> None:
        """Forget every offset of ``group`` (DELETE_SUBSCRIPTIONGROUP with removeOffset)."""
        self._remove(lambda _topic, owner: owner == group)

    def _remove(self, doomed: _KeyFilter) -> None:
        for key in list(self.offset_table):
            pair = split_offset_key(key)
            if pair is not None and doomed(*pair):
                del self.offset_table[key]
                log.info("removed consumer offsets %s", key)

    def clone_offset(self, src_group: str, dest_group: str, topic: str) -> None:
        """CLONE_GROUP_OFFSET: copy one group's offsets on ``topic`` to another group."""
        offsets = self.offset_table.get(offset_key(topic, src_group))
        if offsets is not None:
            self.offset_table[offset_key(topic, dest_group)] = dict(offsets)
