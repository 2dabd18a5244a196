"""MappedFile: one preallocated, memory-mapped segment with wrote/committed/flushed positions.

Mirrors RocketMQ's ``MappedFile`` (4.9) / ``DefaultMappedFile`` (5.x) without the transient
store pool: the file is created at its full size (sparse, as Java's ``setLength``), mapped once,
and its descriptor closed right away so that thousands of consume-queue files cost no file
descriptors. Appends copy into the map; readers take ``memoryview`` slices of it (no copy).
``flush`` is msync and must run off the event loop (the flush services use an executor).
"""

from __future__ import annotations

import mmap
import os
import time
from pathlib import Path

OS_PAGE_SIZE = 4096


def offset_to_file_name(offset: int) -> str:
    """UtilAll.offset2FileName: the 20-digit, zero-padded decimal name of a segment."""
    return f"{offset:020d}"


class MappedFile:
    """A fixed-size segment of a log, named by the log offset of its first byte."""

    __slots__ = (
        "_mm",
        "committed_position",
        "file_from_offset",
        "file_size",
        "flushed_position",
        "path",
        "store_timestamp",
        "view",
        "wrote_position",
    )

    def __init__(self, path: Path, file_size: int, create: bool) -> None:
        self.path = path
        self.file_size = file_size
        self.file_from_offset = int(path.name)
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
        try:
            if create:
                os.ftruncate(fd, file_size)
            elif os.fstat(fd).st_size != file_size:
                raise ValueError(
                    f"{path}: size {os.fstat(fd).st_size} differs from the segment size "
                    f"{file_size}; the store was written with another segment size"
                )
            self._mm = mmap.mmap(fd, file_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self.view = memoryview(self._mm)
        self.wrote_position = 0
        self.committed_position = 0
        self.flushed_position = 0
        #: storeTimestamp of the last message appended (checkpoint's physicMsgTimestamp).
        self.store_timestamp = 0

    @classmethod
    def create(cls, directory: Path, offset: int, file_size: int) -> MappedFile:
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / offset_to_file_name(offset), file_size, create=True)

    @classmethod
    def open(cls, path: Path, file_size: int) -> MappedFile:
        return cls(path, file_size, create=False)

    # ------------------------------------------------------------------ positions

    @property
    def is_full(self) -> bool:
        return self.wrote_position == self.file_size

    @property
    def free_bytes(self) -> int:
        return self.file_size - self.wrote_position

    @property
    def read_position(self) -> int:
        """How far readers may read (wrote position: there is no transient pool)."""
        return self.wrote_position

    def set_positions(self, position: int) -> None:
        """Recovery and truncation: everything up to ``position`` is the file's valid data."""
        assert 0 <= position <= self.file_size, position
        self.wrote_position = position
        self.committed_position = position
        self.flushed_position = position

    # ------------------------------------------------------------------ write

    def append(self, data: bytes | bytearray | memoryview) -> int:
        """Copy ``data`` at the write position; return the file-relative position it starts at."""
        pos = self.wrote_position
        end = pos + len(data)
        if end > self.file_size:
            raise ValueError(f"{self.path.name}: {len(data)} bytes do not fit at {pos}")
        self._mm[pos:end] = data
        self.wrote_position = end
        self.committed_position = end
        return pos

    def write_at(self, pos: int, data: bytes | bytearray | memoryview) -> None:
        """Overwrite bytes already inside the file (used to pre-fill consume queues)."""
        self._mm[pos : pos + len(data)] = data

    def mark_full(self) -> None:
        """The rest of the file is not used (after an end-of-file BLANK record)."""
        self.wrote_position = self.file_size
        self.committed_position = self.file_size

    # ------------------------------------------------------------------ read

    def slice(self, pos: int, size: int | None = None) -> memoryview:
        """A view of ``size`` bytes (default: up to the read position) starting at ``pos``."""
        limit = self.read_position
        end = limit if size is None else min(pos + size, limit)
        return self.view[pos : max(pos, end)]

    def read_int64(self, pos: int) -> int:
        return int.from_bytes(self._mm[pos : pos + 8], "big", signed=True)

    # ------------------------------------------------------------------ flush

    def is_able_to_flush(self, least_pages: int) -> bool:
        """MappedFile.isAbleToFlush: full, or at least ``least_pages`` new pages (any if 0)."""
        write = self.read_position
        if self.is_full:
            return write > self.flushed_position
        if least_pages > 0:
            return write // OS_PAGE_SIZE - self.flushed_position // OS_PAGE_SIZE >= least_pages
        return write > self.flushed_position

    def flush(self, least_pages: int) -> int:
        """msync the dirty pages (blocking: call from an executor); return the flushed position."""
        if self.is_able_to_flush(least_pages):
            write = self.read_position
            start = self.flushed_position - self.flushed_position % OS_PAGE_SIZE
            self._mm.flush(start, write - start)
            self.flushed_position = write
        return self.flushed_position

    # ------------------------------------------------------------------ lifecycle

    @property
    def last_modified_ms(self) -> int:
        try:
            return int(self.path.stat().st_mtime * 1000)
        except FileNotFoundError:
            return 0

    def touch(self) -> None:
        """Record a modification time (mmap writes do not always update mtime)."""
        now = time.time()
        os.utime(self.path, (now, now))

    def close(self) -> bool:
        """Unmap; False while readers still hold views of it (try again later)."""
        try:
            self.view.release()
            self._mm.close()
        except BufferError:
            return False
        return True

    def destroy(self) -> bool:
        """Delete the file and unmap it. The unlink always happens (Linux keeps the pages of a
        mapped, deleted file for its readers); False means the unmap must be retried, as Java
        retries a still-referenced file until ``destroyMapedFileIntervalForcibly``."""
        self.path.unlink(missing_ok=True)
        return self.close()

    def __repr__(self) -> str:
        return f"MappedFile({self.path.name}, wrote={self.wrote_position})"
