"""LocalFileOffsetStore: a broadcasting consumer's offsets, kept in a file on the client.

Owns the offsets of one broadcasting group member (protocol.md §6.9): in memory, and in
``<dir>/<clientId>/<group>/offsets.json`` (``dir`` defaults to ``~/.rocketmq_offsets``), JSON
``{"offsetTable":{<MessageQueue object>:offset}}`` with the legacy object keys Java's fastjson
writes (§3.6), so Java and pyrmq members can take over each other's file. The file is read at
start (a restarted member with the same client id resumes) and written atomically with a
``.bak`` copy (``common.persist``); a file that cannot be read falls back to the copy. Writes
merge into what the file already holds, as Java's ``persistAll`` does, so queues not handled
right now keep their entries. Mirrors ``LocalFileOffsetStore``; Java pretty-prints the JSON,
this writes it compact (the readers of both accept either).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pyrmq.client.consumer.offset_store import (
    OFFSET_NOT_FOUND,
    OffsetStore,
    ReadOffsetType,
    RemoteBrokerOffsetStore,
)
from pyrmq.common.persist import load, write_atomic
from pyrmq.remoting import fastjson
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.heartbeat import BROADCASTING

if TYPE_CHECKING:
    from pyrmq.client.instance import ClientInstance

__all__ = [
    "DEFAULT_LOCAL_OFFSET_STORE_DIR",
    "LocalFileOffsetStore",
    "decode_offset_file",
    "encode_offset_file",
]

log = logging.getLogger(__name__)

#: ``rocketmq.client.localOffsetStoreDir`` default.
DEFAULT_LOCAL_OFFSET_STORE_DIR = Path.home() / ".rocketmq_offsets"


def encode_offset_file(table: dict[MessageQueue, int]) -> bytes:
    """``OffsetSerializeWrapper`` in fastjson's legacy form (object map keys)."""
    return fastjson.dumps_legacy({"offsetTable": {mq.to_key(): off for mq, off in table.items()}})


def decode_offset_file(data: bytes) -> dict[MessageQueue, int]:
    """The offset table of an ``offsets.json`` (legacy object keys or their JSON text);
    ``ValueError`` when it is not such a file."""
    body = fastjson.loads(data)
    if not isinstance(body, dict):
        raise ValueError("offsets.json is not a JSON object")
    table = body.get("offsetTable") or {}
    if not isinstance(table, dict):
        raise ValueError("offsetTable is not a JSON object")
    try:
        return {MessageQueue.from_key(key): int(value) for key, value in table.items()}
    except TypeError as exc:
        raise ValueError(f"bad offset entry: {exc}") from None


class LocalFileOffsetStore:
    def __init__(self, group: str, client_id: str, store_dir: str | Path | None = None) -> None:
        self.group = group
        base = Path(store_dir) if store_dir is not None else DEFAULT_LOCAL_OFFSET_STORE_DIR
        self.path = base / client_id / group / "offsets.json"
        self.offset_table: dict[MessageQueue, int] = {}
        # One read-merge-write at a time (the 5 s timer and a rebalance may overlap).
        self._write_lock = asyncio.Lock()

    def load(self) -> None:
        """Read the file (at start): every queue's offset becomes known in memory."""
        table = self._read()
        if table:
            log.info("[%s] loaded %d local offsets from %s", self.group, len(table), self.path)
        self.offset_table.update(table)

    def _read(self) -> dict[MessageQueue, int]:
        return load(self.path, decode_offset_file) or {}

    def update_offset(self, mq: MessageQueue, offset: int, increase_only: bool = False) -> None:
        old = self.offset_table.get(mq)
        if increase_only and old is not None and old >= offset:
            return
        self.offset_table[mq] = offset

    def remove_offset(self, mq: MessageQueue) -> None:
        self.offset_table.pop(mq, None)

    async def read_offset(self, mq: MessageQueue, read_type: ReadOffsetType) -> int:
        """From memory and/or the file; ``OFFSET_NOT_FOUND`` when neither knows ``mq``."""
        if read_type is not ReadOffsetType.READ_FROM_STORE:
            offset = self.offset_table.get(mq)
            if offset is not None:
                return offset
            if read_type is ReadOffsetType.READ_FROM_MEMORY:
                return OFFSET_NOT_FOUND
        stored = (await asyncio.to_thread(self._read)).get(mq)
        if stored is None:
            return OFFSET_NOT_FOUND
        self.offset_table[mq] = stored
        return stored

    async def persist(self, mq: MessageQueue, *, oneway: bool = True) -> None:
        """Write ``mq``'s offset into the file (the others already there are kept)."""
        await self.persist_all([mq])

    async def persist_all(self, mqs: Iterable[MessageQueue], *, oneway: bool = True) -> None:
        """Write the offsets of ``mqs`` into the file. ``oneway`` has no meaning here."""
        wanted = {mq: off for mq in mqs if (off := self.offset_table.get(mq)) is not None}
        if not wanted:
            return
        # File I/O with two fsyncs: off the event loop.
        async with self._write_lock:
            await asyncio.to_thread(self._merge_and_write, wanted)

    def _merge_and_write(self, wanted: dict[MessageQueue, int]) -> None:
        table = self._read()
        table.update(wanted)
        try:
            write_atomic(self.path, encode_offset_file(table))
        except OSError as exc:
            log.error("[%s] persisting local offsets to %s failed: %s", self.group, self.path, exc)


def offset_store_for(
    message_model: str, group: str, instance: ClientInstance, offset_store_dir: str | Path | None
) -> OffsetStore:
    """Broadcasting keeps offsets in a local file, clustering on the brokers (Java's choice in
    ``DefaultMQPushConsumerImpl.start``)."""
    if message_model == BROADCASTING:
        return LocalFileOffsetStore(group, instance.client_id, offset_store_dir)
    return RemoteBrokerOffsetStore(group, instance.api, instance.offset_addr_or_refresh)
