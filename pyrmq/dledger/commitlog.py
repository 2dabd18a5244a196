"""DLedgerCommitLog: RocketMQ's commitlog kept in a Raft-replicated DLedger log.

Mirrors RocketMQ's ``DLedgerCommitLog`` (store.md §7.6): every message (each message of a
batch too) is one DLedger entry whose body is exactly one V1 commitlog record; an append hook
writes ``physicalOffset = entry.pos + 48`` into the record before it reaches the file, so every
phyOffset (consume queue units, index entries, offset msgIds) points at the record inside the
DLedger data file. Reads stop at the committed position; ``max_offset`` is that position, so
the reput (``DLedgerReputService``) only dispatches committed entries. Entries with an empty
body are the Raft no-ops a new leader appends (raft.py): they carry no message and are skipped.

The put path stays the classic one (``CommitLog.put_message`` encodes, assigns queue offsets,
and calls ``_write``); only where the record lands differs. The wait for the quorum is the
store's ``ReplicationGate`` (``node.DLedgerNode.wait_replicated``), as for a SYNC_MASTER.
Not built: DLedger's own file retention (files are kept) and a mixed classic + DLedger store.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from itertools import pairwise

from pyrmq.common.clock import Clock
from pyrmq.dledger.log_store import ENTRY_HEADER_SIZE, Entry
from pyrmq.dledger.mmap_log import MmapLogStore
from pyrmq.store.commitlog import CommitLog, MessageExtBatch
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.dispatch import ReputMessageService
from pyrmq.store.dispatch_request import DispatchRequest
from pyrmq.store.mapped_file import MappedFile
from pyrmq.store.results import AppendMessageResult, AppendMessageStatus

log = logging.getLogger(__name__)

#: Where PHYSICALOFFSET sits in a commitlog record (after size, magic, CRC, queueId, flag,
#: queueOffset).
PHYSICAL_OFFSET_AT = 28
_I64 = struct.Struct(">q")
#: A DLedger segment ends with an 8-byte filler when the next entry does not fit.
_FILLER_SIZE = 8

Proposer = Callable[[bytes, Callable[[int, bytes], bytes]], Entry]


def patch_physical_offset(pos: int, body: bytes) -> bytes:
    """The append hook: the record's PHYSICALOFFSET becomes ``pos + 48`` (its real place)."""
    end = PHYSICAL_OFFSET_AT + _I64.size
    return b"".join((body[:PHYSICAL_OFFSET_AT], _I64.pack(pos + ENTRY_HEADER_SIZE), body[end:]))


class DLedgerCommitLog(CommitLog):
    """The commitlog API of the store over a DLedger ``MmapLogStore`` and its Raft node."""

    self_managed = True

    def __init__(
        self,
        config: MessageStoreConfig,
        clock: Clock,
        log_store: MmapLogStore,
        propose: Proposer,
        can_propose: Callable[[], bool],
    ) -> None:
        super().__init__(config, clock)
        self.log = log_store
        self._propose = propose
        self._can_propose = can_propose

    # ------------------------------------------------------------------ lifecycle

    def writable(self) -> bool:
        return self._can_propose()

    def flush_all(self) -> None:
        super().flush_all()
        self.log.flush()

    def shutdown(self) -> None:
        super().shutdown()
        self.log.close()  # flushes data, index and checkpoint; the node must be stopped first

    def has_data_files(self) -> bool:
        return self.log.data_max_pos > self.log.data_min_pos

    def recover(
        self,
        last_exit_ok: bool,
        max_phy_offset_of_cq: int,
        min_timestamp: int,
        dispatch: Callable[[DispatchRequest], None],
    ) -> int:
        """The log recovered itself when opened; consume queues past its end are cut."""
        return self.log.data_max_pos

    # ------------------------------------------------------------------ offsets and reads

    def min_offset(self) -> int:
        return self.log.data_min_pos

    def max_offset(self) -> int:
        return self.log.committed_pos

    def get_data(self, offset: int) -> memoryview | None:
        return None  # classic HA does not run in DLedger mode

    def get_message(self, offset: int, size: int) -> memoryview | None:
        if offset < self.log.data_min_pos or offset + size > self.log.committed_pos:
            return None
        return memoryview(self.log.read_data(offset, size))

    # ------------------------------------------------------------------ put

    def _place(self, length: int) -> tuple[MappedFile | None, int, bool] | None:
        if length + ENTRY_HEADER_SIZE + _FILLER_SIZE > self._file_size:
            return None
        return None, 0, False  # the log places the entry; _write says where

    def _write(
        self, mapped: MappedFile | None, phy: int, spill: bool, data: bytes, timestamp: int
    ) -> int:
        entry = self._propose(data, patch_physical_offset)
        return entry.pos + ENTRY_HEADER_SIZE

    def put_messages(self, batch: MessageExtBatch) -> AppendMessageResult:
        """One entry per message, as Java; offsets are each record's own (not contiguous)."""
        prepared = self._batch_entries(batch)
        if isinstance(prepared, AppendMessageResult):
            return prepared
        entries, key = prepared
        encoded = entries.encode(0)
        if isinstance(encoded, AppendMessageStatus):
            return AppendMessageResult(encoded)
        data = b"".join(encoded.parts)
        bounds = [*encoded.offsets, encoded.total]
        largest = max(end - start for start, end in pairwise(bounds))
        if largest + ENTRY_HEADER_SIZE + _FILLER_SIZE > self._file_size:
            return AppendMessageResult(AppendMessageStatus.MESSAGE_SIZE_EXCEEDED)
        phys = []
        for start, end in pairwise(bounds):
            entry = self._propose(data[start:end], patch_physical_offset)
            phys.append(entry.pos + ENTRY_HEADER_SIZE)
        batch.store_timestamp = entries.store_timestamp
        self.topic_queue_table[key] = entries.queue_offset + len(phys)
        last_end = phys[-1] + (bounds[-1] - bounds[-2])
        prefix = entries.layout.id_prefix
        return AppendMessageResult(
            AppendMessageStatus.PUT_OK, phys[0], last_end - phys[0],
            ",".join([f"{prefix}{phy:016X}" for phy in phys]),
            entries.store_timestamp, entries.queue_offset, len(phys),
        )  # fmt: skip


class DLedgerReputService(ReputMessageService):
    """Dispatches committed entries in log order; ``reput_from_offset`` is an entry position."""

    def do_reput(self) -> int:
        commitlog = self.commitlog
        assert isinstance(commitlog, DLedgerCommitLog)
        store = commitlog.log
        committed = store.committed_pos
        pos = max(self.reput_from_offset, store.data_min_pos)
        count = 0
        for entry in store.entries_from(pos):
            if entry.pos + entry.size > committed:
                break
            pos = entry.pos + entry.size
            if entry.body:  # an empty body is a leader's no-op
                count += self._dispatch_entry(entry)
        self.reput_from_offset = max(pos, self.reput_from_offset)
        return count

    def _dispatch_entry(self, entry: Entry) -> int:
        req = self.commitlog.check_record(entry.body, 0, check_crc=False)
        if not req.success or req.msg_size != len(entry.body):
            log.error("[BUG] DLedger entry %d at %d holds no valid record", entry.index, entry.pos)
            return 0
        for dispatcher in self.dispatchers:
            dispatcher(req)
        if self.on_dispatched is not None:
            self.on_dispatched(req)
        return 1
