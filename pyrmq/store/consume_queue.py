"""ConsumeQueue: the per-(topic, queue) log of 20-byte position units into the commitlog.

Mirrors RocketMQ 4.9's ``ConsumeQueue`` (store.md §3) without the optional extension files:
unit = commitLogOffset (long) + size (int) + tagsCode (long), big-endian; files are named by
the *byte* offset of their first unit; a queue whose first file starts at a non-zero queue
offset is pre-filled with blank units ``(0, 0x7FFFFFFF, 0)``. It owns writing units (dispatch),
recovery (§3.3), truncation after a commitlog truncation, the min-offset correction and the
expiry of old files (§5.6), and the unit readers the pull path uses.

``ConsumeQueueTable`` owns the set of queues of one store (``DefaultMessageStore``'s
``consumeQueueTable``): load from disk, recover, truncate, and the topic-queue offset table.

Everything here is synchronous; ``flush`` blocks (msync) and is meant for an executor.
Memory matters (a broker may hold 10,000+ queues): a queue is a small slotted object whose
files are only created by its first unit.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import re
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from pyrmq.store.dispatch_request import DispatchRequest
from pyrmq.store.mapped_file import MappedFile
from pyrmq.store.mapped_file_queue import MappedFileQueue

log = logging.getLogger(__name__)

CQ_STORE_UNIT_SIZE = 20
#: Size of a pre-fill unit; together with commitLogOffset 0 it marks a blank unit.
BLANK_UNIT_SIZE = 0x7FFFFFFF

_UNIT = struct.Struct(">qiq")
_BLANK_UNIT = _UNIT.pack(0, BLANK_UNIT_SIZE, 0)
#: Larger than any commitlog offset: stops expiry at a file whose last unit is unreadable.
_UNREADABLE = 1 << 63
#: Integer.parseInt's accepted spelling of a queue id directory.
_QUEUE_ID = re.compile(r"[+-]?[0-9]+")
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1

Unit = tuple[int, int, int]


def _is_valid(offset: int, size: int) -> bool:
    """§3.3's unit validity rule (blank pre-fill units are valid)."""
    return offset >= 0 and size > 0


def _is_blank(offset: int, size: int) -> bool:
    return offset == 0 and size == BLANK_UNIT_SIZE


def _advise_no_readahead(mapped: MappedFile) -> None:
    """Turn read-ahead off for a file created empty (sparse).

    The first touch of a fresh map otherwise makes the kernel read ahead over the holes:
    read_ahead_kb worth of zero pages (8 MiB on some hosts, i.e. the whole 6 MB file) put in the
    page cache, measured at 1.3-2.4 ms per new file instead of 0.01 ms. With 10,000 queues that
    is a minute and gigabytes of cache for nothing. Files loaded from disk keep the default:
    their recovery scan is sequential."""
    target = mapped.view.obj
    if isinstance(target, mmap.mmap) and hasattr(mmap, "MADV_RANDOM"):
        target.madvise(mmap.MADV_RANDOM)


def _java_div(a: int, b: int) -> int:
    """Java long division truncates toward zero (Python's // floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


class ConsumeQueue:
    """One logical queue: ``root/topic/queue_id/<20-digit byte offset>`` files of units."""

    __slots__ = (
        "_files",
        "mapped_file_size",
        "max_physic_offset",
        "min_logic_offset",
        "queue_id",
        "topic",
    )

    def __init__(self, topic: str, queue_id: int, root: Path, mapped_file_size: int) -> None:
        if mapped_file_size <= 0 or mapped_file_size % CQ_STORE_UNIT_SIZE:
            raise ValueError(f"consume queue file size {mapped_file_size} is not n x 20 bytes")
        self.topic = topic
        self.queue_id = queue_id
        self.mapped_file_size = mapped_file_size
        #: Commitlog end (offset + size) of the last unit built; -1 = none.
        self.max_physic_offset = -1
        #: Byte offset of the first readable unit (min offset in queue x 20).
        self.min_logic_offset = 0
        # MappedFileQueue creates no directory and no file until the first unit is written.
        self._files = MappedFileQueue(root / topic / str(queue_id), mapped_file_size)

    # ------------------------------------------------------------------ load / recover

    @property
    def store_path(self) -> Path:
        return self._files.store_path

    @property
    def files(self) -> list[MappedFile]:
        return self._files.files

    def load(self) -> None:
        """Map the files on disk (ValueError when one has another size than configured)."""
        self._files.load()

    def recover(self) -> None:
        """§3.3: scan from the 3rd-to-last file to the first invalid unit; cut there."""
        files = self._files.files
        if not files:
            return
        index = max(0, len(files) - 3)
        while True:
            mapped = files[index]
            valid = self._scan_valid_prefix(mapped)
            if valid == self.mapped_file_size and index + 1 < len(files):
                index += 1
                continue
            break
        end = mapped.file_from_offset + valid
        self._files.truncate_dirty_files(end)
        log.info("recovered consume queue %s-%d up to byte %d", self.topic, self.queue_id, end)

    def _scan_valid_prefix(self, mapped: MappedFile) -> int:
        """Bytes of leading valid units in ``mapped``; updates max_physic_offset from them."""
        valid = 0
        with mapped.view[: self.mapped_file_size] as data:
            for offset, size, _tags in _UNIT.iter_unpack(data):
                if not _is_valid(offset, size):
                    break
                valid += CQ_STORE_UNIT_SIZE
                # Deviation from Java: a blank pre-fill unit does not count as a built message.
                # Java sets maxPhysicOffset to 0x7FFFFFFF here when a file holds only blanks,
                # which would make reput skip the first 2 GiB of the commitlog.
                if not _is_blank(offset, size):
                    self.max_physic_offset = offset + size
        return valid

    # ------------------------------------------------------------------ write

    def put_dispatch(self, req: DispatchRequest) -> bool:
        """Build the unit of one dispatched record (CommitLogDispatcherBuildConsumeQueue)."""
        return self.put_message_position_info(
            req.commit_log_offset, req.msg_size, req.tags_code, req.consume_queue_offset
        )

    def put_message_position_info(
        self, offset: int, size: int, tags_code: int, cq_offset: int
    ) -> bool:
        """Append the unit for queue offset ``cq_offset``; True when built or already built,
        False when no file could be created (the caller retries, as putMessagePositionInfoWrapper
        does)."""
        if offset + size <= self.max_physic_offset:
            # Re-dispatch after recovery: the commitlog record already has its unit.
            log.debug(
                "%s-%d: unit for %d already built (max %d)",
                self.topic,
                self.queue_id,
                offset,
                self.max_physic_offset,
            )
            return True
        expect = cq_offset * CQ_STORE_UNIT_SIZE
        file_count = len(self._files.files)
        try:
            mapped = self._files.last_mapped_file(expect)
        except OSError:
            # Java returns false here; its caller retries, then marks the logic queue broken.
            log.exception("%s-%d: cannot create a consume queue file", self.topic, self.queue_id)
            return False
        if len(self._files.files) != file_count:
            _advise_no_readahead(mapped)
        first_in_queue = file_count == 0
        if first_in_queue and cq_offset != 0 and mapped.wrote_position == 0:
            self._fill_pre_blank(mapped, expect)
        if cq_offset != 0:
            current = mapped.file_from_offset + mapped.wrote_position
            if expect < current:
                log.warning(
                    "%s-%d: repeated build, expected byte %d behind current %d",
                    self.topic,
                    self.queue_id,
                    expect,
                    current,
                )
                return True
            if expect != current:
                # Java logs this as a bug and appends at the current position anyway.
                log.error(
                    "[BUG] %s-%d: logic queue order maybe wrong, expected byte %d, current %d",
                    self.topic,
                    self.queue_id,
                    expect,
                    current,
                )
        self.max_physic_offset = offset + size
        mapped.append(_UNIT.pack(offset, size, tags_code))
        return True

    def _fill_pre_blank(self, mapped: MappedFile, expect: int) -> None:
        """A queue starting mid-stream: blank units up to ``expect`` so positions line up."""
        self.min_logic_offset = expect
        self._files.flushed_where = expect
        self._files.committed_where = expect
        units = (expect % self.mapped_file_size) // CQ_STORE_UNIT_SIZE
        if units:
            mapped.append(_BLANK_UNIT * units)

    # ------------------------------------------------------------------ read

    @property
    def max_offset_in_queue(self) -> int:
        """The next queue offset to assign (bytes written / 20)."""
        return self._files.max_offset() // CQ_STORE_UNIT_SIZE

    @property
    def min_offset_in_queue(self) -> int:
        return self.min_logic_offset // CQ_STORE_UNIT_SIZE

    @property
    def message_total_in_queue(self) -> int:
        return self.max_offset_in_queue - self.min_offset_in_queue

    def _locate(self, index: int) -> tuple[MappedFile, int] | None:
        """The file and file position of unit ``index`` when it is readable."""
        offset = index * CQ_STORE_UNIT_SIZE
        if index < 0 or offset < self.min_logic_offset:
            return None
        mapped = self._files.find_mapped_file_by_offset(offset)
        if mapped is None:
            return None
        pos = offset - mapped.file_from_offset
        if pos >= mapped.read_position:
            return None
        return mapped, pos

    def get_index_buffer(self, start_index: int) -> memoryview | None:
        """The readable units from ``start_index`` to the end of its file (getIndexBuffer).

        The view pins the file's map: release it (``with`` or ``.release()``) when done, or the
        file cannot be unmapped when it expires."""
        located = self._locate(start_index)
        if located is None:
            return None
        mapped, pos = located
        return mapped.slice(pos)

    def get_unit(self, index: int) -> Unit | None:
        """(commitLogOffset, size, tagsCode) of unit ``index``, None when not readable."""
        located = self._locate(index)
        if located is None:
            return None
        mapped, pos = located
        unit: Unit = _UNIT.unpack_from(mapped.view, pos)
        return unit

    def iter_units(self, start_index: int, max_count: int) -> list[Unit]:
        """Up to ``max_count`` readable units from ``start_index``, crossing file ends.

        The bulk reader of the pull path: one struct pass per file, no views left behind."""
        units: list[Unit] = []
        index = start_index
        while len(units) < max_count:
            located = self._locate(index)
            if located is None:
                break
            mapped, pos = located
            want = (max_count - len(units)) * CQ_STORE_UNIT_SIZE
            end = min(pos + want, mapped.read_position)
            with mapped.view[pos:end] as data:
                units.extend(_UNIT.iter_unpack(data))
            index += (end - pos) // CQ_STORE_UNIT_SIZE
        return units

    def last_offset(self) -> int:
        """Commitlog end (offset + size) of the last unit, -1 when there is none.

        Mirrors getLastOffset, which cleanExpiredConsumerQueue compares with the commitlog
        min offset; unlike Java it does not read past the write position."""
        last = self._files.last
        if last is None or last.wrote_position < CQ_STORE_UNIT_SIZE:
            return -1
        offset, size, _tags = _UNIT.unpack_from(last.view, last.wrote_position - CQ_STORE_UNIT_SIZE)
        return offset + size if _is_valid(offset, size) else -1

    def get_offset_in_queue_by_time(
        self,
        timestamp: int,
        store_time_of: Callable[[int, int], int],
        min_phy_offset: int = 0,
    ) -> int:
        """getOffsetInQueueByTime: the queue offset whose message is stored nearest ``timestamp``.

        Picks the first file modified at or after ``timestamp`` (or the last file) and binary
        searches it. ``store_time_of(phy_offset, size)`` returns the record's storeTimestamp
        from the commitlog, negative when unavailable; units below ``min_phy_offset`` (the
        commitlog min offset) count as too old."""
        mapped = self._file_by_time(timestamp)
        if mapped is None or mapped.read_position == 0:
            return 0
        base = mapped.file_from_offset
        low = max(0, self.min_logic_offset - base)
        high = mapped.read_position - CQ_STORE_UNIT_SIZE
        left = right = -1
        left_time = right_time = -1
        view = mapped.view
        while high >= low:
            mid = (low + high) // (2 * CQ_STORE_UNIT_SIZE) * CQ_STORE_UNIT_SIZE
            phy, size, _tags = _UNIT.unpack_from(view, mid)
            if phy < min_phy_offset:
                low, left = mid + CQ_STORE_UNIT_SIZE, mid
                continue
            store_time = store_time_of(phy, size)
            if store_time < 0:
                return 0
            if store_time == timestamp:
                return (base + mid) // CQ_STORE_UNIT_SIZE
            if store_time > timestamp:
                high, right, right_time = mid - CQ_STORE_UNIT_SIZE, mid, store_time
            else:
                low, left, left_time = mid + CQ_STORE_UNIT_SIZE, mid, store_time
        if left_time == -1:
            found = right
        elif right_time == -1:
            found = left
        else:
            found = right if abs(timestamp - left_time) > abs(timestamp - right_time) else left
        # Java's quirk kept: "nothing found" (-1) divides toward zero.
        return _java_div(base + found, CQ_STORE_UNIT_SIZE)

    def _file_by_time(self, timestamp: int) -> MappedFile | None:
        files = self._files.files
        if not files:
            return None
        for mapped in files:
            if mapped.last_modified_ms >= timestamp:
                return mapped
        return files[-1]

    # ------------------------------------------------------------------ truncate / expire

    def truncate_dirty_logic_files(self, phy_offset: int) -> None:
        """Drop units pointing at or beyond ``phy_offset`` (the commitlog was cut there)."""
        self.max_physic_offset = phy_offset
        while (last := self._files.last) is not None:
            last.set_positions(0)
            offset, _size, _tags = _UNIT.unpack_from(last.view, 0)
            if offset >= phy_offset:
                self._files.delete_last_mapped_file()
                continue
            self._keep_units_below(last, phy_offset)
            break
        # Never leave the flush pointer beyond the data (it would stop flushing).
        end = self._files.max_offset()
        self._files.flushed_where = min(self._files.flushed_where, end)
        self._files.committed_where = min(self._files.committed_where, end)

    def _keep_units_below(self, mapped: MappedFile, phy_offset: int) -> None:
        # Deviation from Java: the first unit must be valid too; Java keeps a zero unit there.
        pos = 0
        with mapped.view[: self.mapped_file_size] as data:
            for offset, size, _tags in _UNIT.iter_unpack(data):
                if not _is_valid(offset, size) or offset >= phy_offset:
                    break
                pos += CQ_STORE_UNIT_SIZE
                if not _is_blank(offset, size):
                    self.max_physic_offset = offset + size
        mapped.set_positions(pos)

    def correct_min_offset(self, phy_min_offset: int) -> None:
        """min logic offset := first unit of the first file pointing at ≥ ``phy_min_offset``."""
        first = self._files.first
        if first is None:
            return
        with first.slice(0) as data:
            for i, (offset, _size, _tags) in enumerate(_UNIT.iter_unpack(data)):
                if offset >= phy_min_offset:
                    self.min_logic_offset = first.file_from_offset + i * CQ_STORE_UNIT_SIZE
                    return

    def delete_expired_file(self, commitlog_min_offset: int) -> int:
        """§5.6: delete leading files (never the last) whose last unit points below the
        commitlog min offset, then correct the min offset; returns the number deleted."""
        deleted = self._files.delete_expired_by_offset(commitlog_min_offset, self._last_unit_offset)
        self.correct_min_offset(commitlog_min_offset)
        return deleted

    def _last_unit_offset(self, mapped: MappedFile) -> int:
        # Java reads it only when the file is full; otherwise deletion stops there.
        if mapped.read_position < self.mapped_file_size:
            return _UNREADABLE
        return mapped.read_int64(self.mapped_file_size - CQ_STORE_UNIT_SIZE)

    # ------------------------------------------------------------------ lifecycle

    def flush(self, least_pages: int) -> bool:
        """Flush dirty pages (blocking); True when the flushed position moved."""
        return self._files.flush(least_pages)

    def destroy(self) -> None:
        """Delete every file and the queue directory (when empty)."""
        self.max_physic_offset = -1
        self.min_logic_offset = 0
        self._files.destroy_all()
        # Absent, or not empty (foreign files): Java's File.delete fails silently too.
        with contextlib.suppress(OSError):
            os.rmdir(self._files.store_path)

    def close(self) -> None:
        self._files.shutdown()

    def __repr__(self) -> str:
        return (
            f"ConsumeQueue({self.topic}-{self.queue_id}, min={self.min_offset_in_queue}, "
            f"max={self.max_offset_in_queue}, maxPhy={self.max_physic_offset})"
        )


class ConsumeQueueTable:
    """Every consume queue of a store, keyed by (topic, queue id)."""

    __slots__ = ("_queues", "mapped_file_size", "root")

    def __init__(self, root: Path, mapped_file_size: int) -> None:
        self.root = root
        self.mapped_file_size = mapped_file_size
        self._queues: dict[tuple[str, int], ConsumeQueue] = {}

    def find_or_create(self, topic: str, queue_id: int) -> ConsumeQueue:
        key = (topic, queue_id)
        queue = self._queues.get(key)
        if queue is None:
            queue = ConsumeQueue(topic, queue_id, self.root, self.mapped_file_size)
            self._queues[key] = queue
        return queue

    def get(self, topic: str, queue_id: int) -> ConsumeQueue | None:
        return self._queues.get((topic, queue_id))

    def remove(self, topic: str, queue_id: int) -> ConsumeQueue | None:
        return self._queues.pop((topic, queue_id), None)

    def topics(self) -> set[str]:
        return {topic for topic, _qid in self._queues}

    def __iter__(self) -> Iterator[ConsumeQueue]:
        return iter(list(self._queues.values()))

    def __len__(self) -> int:
        return len(self._queues)

    def load(self) -> None:
        """loadConsumeQueue: one queue per ``root/<topic>/<int>`` directory."""
        if not self.root.is_dir():
            return
        for topic_dir in sorted(self.root.iterdir()):
            if not topic_dir.is_dir():
                continue
            for queue_dir in sorted(topic_dir.iterdir()):
                queue_id = _parse_queue_id(queue_dir.name)
                if queue_id is None or not queue_dir.is_dir():
                    continue
                self.find_or_create(topic_dir.name, queue_id).load()

    def recover(self) -> int:
        """Recover every queue; the max commitlog end they cover (-1 when none)."""
        max_physic = -1
        for queue in self:
            queue.recover()
            max_physic = max(max_physic, queue.max_physic_offset)
        return max_physic

    def truncate_all(self, phy_offset: int) -> None:
        for queue in self:
            queue.truncate_dirty_logic_files(phy_offset)

    def correct_min_offsets(self, phy_min_offset: int) -> None:
        for queue in self:
            queue.correct_min_offset(phy_min_offset)

    def destroy_all(self) -> None:
        for queue in self:
            queue.destroy()
        self._queues.clear()

    def close(self) -> None:
        for queue in self:
            queue.close()

    def queue_offset_table(self) -> dict[str, int]:
        """recoverTopicQueueTable's map: "topic-queueId" -> next queue offset."""
        return {f"{q.topic}-{q.queue_id}": q.max_offset_in_queue for q in self._queues.values()}


def _parse_queue_id(name: str) -> int | None:
    """Integer.parseInt semantics: an optionally signed decimal int, else None."""
    if not _QUEUE_ID.fullmatch(name):
        return None
    value = int(name)
    return value if _INT_MIN <= value <= _INT_MAX else None
