"""MappedFileQueue: the segments of one log, named by their 20-digit start offsets.

Mirrors RocketMQ's ``MappedFileQueue``: load (every file must have the configured size),
locate the segment holding an offset, roll to a new segment, flush, truncate dirty segments
after recovery, and delete expired segments (by age for the commitlog, by offset for consume
queues). Segments are plain ``MappedFile`` objects; nothing here knows the record format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from pyrmq.store.mapped_file import MappedFile

log = logging.getLogger(__name__)


class MappedFileQueue:
    def __init__(self, store_path: Path, mapped_file_size: int) -> None:
        self.store_path = store_path
        self.mapped_file_size = mapped_file_size
        self.files: list[MappedFile] = []
        #: Log offset up to which data is known to be on disk.
        self.flushed_where = 0
        self.committed_where = 0
        #: storeTimestamp of the last message covered by the last flush.
        self.store_timestamp = 0
        #: Files deleted while readers still held views: unmap retried later.
        self.hanged: list[tuple[MappedFile, float]] = []

    # ------------------------------------------------------------------ load

    def load(self) -> None:
        """Map every segment found on disk, in offset order (ValueError on a wrong size)."""
        if not self.store_path.is_dir():
            return
        names = sorted(p for p in self.store_path.iterdir() if p.name.isdigit() and p.is_file())
        for path in names:
            mapped = MappedFile.open(path, self.mapped_file_size)
            # Loaded files count as fully written until recovery sets the real positions.
            mapped.set_positions(self.mapped_file_size)
            self.files.append(mapped)
        log.debug("loaded %d segments from %s", len(self.files), self.store_path)

    # ------------------------------------------------------------------ locate

    @property
    def first(self) -> MappedFile | None:
        return self.files[0] if self.files else None

    @property
    def last(self) -> MappedFile | None:
        return self.files[-1] if self.files else None

    def last_mapped_file(self, start_offset: int = 0) -> MappedFile:
        """The segment to append to: the last one, or a new one when there is none or it is full."""
        last = self.last
        if last is not None and not last.is_full:
            return last
        if last is None:
            create_offset = start_offset - start_offset % self.mapped_file_size
        else:
            create_offset = last.file_from_offset + self.mapped_file_size
        mapped = MappedFile.create(self.store_path, create_offset, self.mapped_file_size)
        self.files.append(mapped)
        return mapped

    def find_mapped_file_by_offset(
        self, offset: int, return_first_on_not_found: bool = False
    ) -> MappedFile | None:
        """The segment that holds log ``offset`` (segments are contiguous)."""
        first = self.first
        if first is None:
            return None
        index = (offset - first.file_from_offset) // self.mapped_file_size
        if 0 <= index < len(self.files):
            candidate = self.files[index]
            if (
                candidate.file_from_offset
                <= offset
                < candidate.file_from_offset + self.mapped_file_size
            ):
                return candidate
        return first if return_first_on_not_found else None

    # ------------------------------------------------------------------ offsets

    def min_offset(self) -> int:
        first = self.first
        return first.file_from_offset if first is not None else -1

    def max_offset(self) -> int:
        """Log offset up to which data can be read."""
        last = self.last
        return last.file_from_offset + last.read_position if last is not None else 0

    def max_wrote_position(self) -> int:
        last = self.last
        return last.file_from_offset + last.wrote_position if last is not None else 0

    def remaining_bytes_to_flush(self) -> int:
        return self.max_offset() - self.flushed_where

    # ------------------------------------------------------------------ flush

    def flush(self, least_pages: int) -> bool:
        """Flush the segment holding ``flushed_where``; True when that moved it (blocking)."""
        mapped = self.find_mapped_file_by_offset(self.flushed_where, self.flushed_where == 0)
        if mapped is None:
            return False
        timestamp = mapped.store_timestamp
        where = mapped.file_from_offset + mapped.flush(least_pages)
        moved = where != self.flushed_where
        self.flushed_where = where
        self.committed_where = max(self.committed_where, where)
        if least_pages == 0 and moved:
            self.store_timestamp = timestamp
        return moved

    # ------------------------------------------------------------------ truncate

    def truncate_dirty_files(self, offset: int) -> None:
        """Make ``offset`` the end of the log: later segments go, the containing one is cut."""
        kept: list[MappedFile] = []
        for mapped in self.files:
            end = mapped.file_from_offset + self.mapped_file_size
            if end <= offset:
                kept.append(mapped)
            elif mapped.file_from_offset <= offset:
                mapped.set_positions(offset - mapped.file_from_offset)
                kept.append(mapped)
            else:
                self._destroy(mapped)
        self.files = kept
        self.flushed_where = offset
        self.committed_where = offset

    def destroy_all(self) -> None:
        for mapped in self.files:
            self._destroy(mapped)
        self.files = []
        self.flushed_where = self.committed_where = 0

    def delete_last_mapped_file(self) -> None:
        last = self.files.pop() if self.files else None
        if last is not None:
            self._destroy(last)

    # ------------------------------------------------------------------ expiry

    def delete_expired_by_time(
        self,
        expired_ms: int,
        now_ms: int,
        clean_immediately: bool,
        max_files: int = 10,
    ) -> int:
        """Commitlog expiry: oldest first, files whose mtime + reserved time has passed (any
        file when ``clean_immediately``); never the last one; stops at the first kept one."""
        deleted = 0
        while deleted < max_files and len(self.files) > 1:
            mapped = self.files[0]
            if not clean_immediately and now_ms < mapped.last_modified_ms + expired_ms:
                break
            self.files.pop(0)
            self._destroy(mapped)
            deleted += 1
        return deleted

    def delete_expired_by_offset(
        self, min_offset: int, last_unit_offset: Callable[[MappedFile], int]
    ) -> int:
        """Consume-queue expiry: delete files (never the last) whose last unit points below
        ``min_offset`` of the commitlog."""
        deleted = 0
        while len(self.files) > 1 and last_unit_offset(self.files[0]) < min_offset:
            self._destroy(self.files.pop(0))
            deleted += 1
        return deleted

    def _destroy(self, mapped: MappedFile) -> None:
        if not mapped.destroy():
            self.hanged.append((mapped, time.monotonic()))

    def retry_hanged(self) -> int:
        """Unmap deleted files whose readers have since let go (redeleteHangedFileInterval)."""
        still = [(mapped, since) for mapped, since in self.hanged if not mapped.close()]
        released = len(self.hanged) - len(still)
        self.hanged = still
        return released

    def shutdown(self) -> None:
        for mapped in self.files:
            mapped.close()
