"""The message index: hash files that map ``topic#key`` to commitlog offsets.

``IndexFile`` mirrors RocketMQ 4.9's ``IndexFile`` + ``IndexHeader`` (store.md §4.1–4.3): a
40-byte header, ``hash_slot_num`` 4-byte slots (the newest entry number of each bucket), and
``index_num`` 20-byte entries chained newest → oldest per bucket; entry 0 is never used
(indexCount starts at 1). Files are preallocated sparse and memory-mapped.

``IndexService`` mirrors ``IndexService``: the ordered list of index files under
``<root>/index`` (named ``yyyyMMddHHmmssSSS``, local time), building entries from dispatched
records, rolling to a new file when one fills, querying by key and time range, and deleting
files the commitlog no longer covers (§4.4). It is synchronous; a lock guards the file list
so queries, flushes and cleanup may run on other threads than the dispatcher.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyrmq.common.clock import Clock
from pyrmq.common.message import TRANSACTION_ROLLBACK_TYPE, get_transaction_value, tag_hash
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.dispatch_request import DispatchRequest

log = logging.getLogger(__name__)

INDEX_HEADER_SIZE = 40
HASH_SLOT_SIZE = 4
INDEX_ENTRY_SIZE = 20
#: Slot values and chain links at or below this mean "empty" / "end of chain".
INVALID_INDEX = 0
KEY_SEPARATOR = " "

_HEADER = struct.Struct(">qqqqii")
_SLOT = struct.Struct(">i")
_ENTRY = struct.Struct(">iqii")
_INT_MAX = (1 << 31) - 1
_INT_MIN = -(1 << 31)


def index_key_hash(key: str) -> int:
    """indexKeyHashMethod: |String.hashCode|, where Math.abs(MIN_VALUE) (still negative) → 0."""
    h = tag_hash(key)
    return 0 if h == _INT_MIN else abs(h)


def build_key(topic: str, key: str) -> str:
    return f"{topic}#{key}"


def index_file_size(hash_slot_num: int, index_num: int) -> int:
    return INDEX_HEADER_SIZE + hash_slot_num * HASH_SLOT_SIZE + index_num * INDEX_ENTRY_SIZE


def index_file_name(now_ms: int) -> str:
    """UtilAll.timeMillisToHumanString: yyyyMMddHHmmssSSS in the local time zone."""
    return time.strftime("%Y%m%d%H%M%S", time.localtime(now_ms // 1000)) + f"{now_ms % 1000:03d}"


class IndexFile:
    """One index file. Header fields are kept in attributes and written through to the map."""

    __slots__ = (
        "_mm",
        "begin_phy_offset",
        "begin_timestamp",
        "end_phy_offset",
        "end_timestamp",
        "file_size",
        "hash_slot_count",
        "hash_slot_num",
        "index_count",
        "index_num",
        "path",
    )

    begin_timestamp: int
    end_timestamp: int
    begin_phy_offset: int
    end_phy_offset: int
    hash_slot_count: int
    index_count: int

    def __init__(
        self,
        path: Path,
        hash_slot_num: int,
        index_num: int,
        end_phy_offset: int = 0,
        end_timestamp: int = 0,
    ) -> None:
        """Open ``path`` (created sparse when absent or short, like Java's map) and load its
        header; a follow-on file is pre-seeded with the previous file's end offset/time."""
        self.path = path
        self.hash_slot_num = hash_slot_num
        self.index_num = index_num
        self.file_size = index_file_size(hash_slot_num, index_num)
        self._mm = _map_file(path, self.file_size)
        self._load_header()
        # Java writes only these four fields at creation; indexCount stays 0 on disk until
        # the first entry or flush.
        if end_phy_offset > 0:
            self.begin_phy_offset = self.end_phy_offset = end_phy_offset
            struct.pack_into(">qq", self._mm, 16, end_phy_offset, end_phy_offset)
        if end_timestamp > 0:
            self.begin_timestamp = self.end_timestamp = end_timestamp
            struct.pack_into(">qq", self._mm, 0, end_timestamp, end_timestamp)

    def _load_header(self) -> None:
        (
            self.begin_timestamp,
            self.end_timestamp,
            self.begin_phy_offset,
            self.end_phy_offset,
            self.hash_slot_count,
            self.index_count,
        ) = _HEADER.unpack_from(self._mm, 0)
        if self.index_count <= 0:
            self.index_count = 1

    def _write_header(self) -> None:
        _HEADER.pack_into(
            self._mm,
            0,
            self.begin_timestamp,
            self.end_timestamp,
            self.begin_phy_offset,
            self.end_phy_offset,
            self.hash_slot_count,
            self.index_count,
        )

    # ------------------------------------------------------------------ geometry

    def _slot_pos(self, key_hash: int) -> int:
        return INDEX_HEADER_SIZE + (key_hash % self.hash_slot_num) * HASH_SLOT_SIZE

    def _entry_pos(self, number: int) -> int:
        return INDEX_HEADER_SIZE + self.hash_slot_num * HASH_SLOT_SIZE + number * INDEX_ENTRY_SIZE

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_full(self) -> bool:
        """isWriteFull: capacity is index_num - 1 entries (entry 0 is never used)."""
        return self.index_count >= self.index_num

    @property
    def entry_count(self) -> int:
        return self.index_count - 1

    # ------------------------------------------------------------------ write

    def put_key(self, key: str, phy_offset: int, store_timestamp: int) -> bool:
        """Add one entry; False when the file is full."""
        if self.is_full:
            return False
        key_hash = index_key_hash(key)
        slot_pos = self._slot_pos(key_hash)
        (prev,) = _SLOT.unpack_from(self._mm, slot_pos)
        if prev <= INVALID_INDEX or prev > self.index_count:
            prev = INVALID_INDEX
        number = self.index_count
        _ENTRY.pack_into(
            self._mm,
            self._entry_pos(number),
            key_hash,
            phy_offset,
            self._time_diff(store_timestamp),
            prev,
        )
        _SLOT.pack_into(self._mm, slot_pos, number)
        if number <= 1:
            # The first entry defines the file's start (a follow-on file's pre-seeded begin
            # was only used for this entry's timeDiff, a Java quirk kept on purpose).
            self.begin_phy_offset = phy_offset
            self.begin_timestamp = store_timestamp
        if prev == INVALID_INDEX:
            self.hash_slot_count += 1
        self.index_count = number + 1
        self.end_phy_offset = phy_offset
        self.end_timestamp = store_timestamp
        self._write_header()
        return True

    def _time_diff(self, store_timestamp: int) -> int:
        """Seconds since the header's begin timestamp, clamped to [0, Integer.MAX_VALUE]."""
        if self.begin_timestamp <= 0:
            return 0
        diff = _java_long_div(store_timestamp - self.begin_timestamp, 1000)
        return max(0, min(_INT_MAX, diff))

    # ------------------------------------------------------------------ read

    def is_time_matched(self, begin: int, end: int) -> bool:
        """Whether [begin, end] overlaps the file's [begin, end] timestamps (isTimeMatched)."""
        lo, hi = self.begin_timestamp, self.end_timestamp
        return (begin < lo and end > hi) or lo <= begin <= hi or lo <= end <= hi

    def select_phy_offset(self, key: str, max_num: int, begin: int, end: int) -> list[int]:
        """Commitlog offsets of entries whose hash equals ``key``'s, stored in [begin, end],
        newest first, at most ``max_num``. Collisions are not filtered (as in Java)."""
        found: list[int] = []
        self.select_into(found, key, max_num, begin, end)
        return found

    def select_into(self, out: list[int], key: str, max_num: int, begin: int, end: int) -> None:
        """Append matches to ``out`` until it holds ``max_num`` offsets (a query's shared list)."""
        key_hash = index_key_hash(key)
        (number,) = _SLOT.unpack_from(self._mm, self._slot_pos(key_hash))
        count = self.index_count
        if number <= INVALID_INDEX or number > count or count <= 1:
            return
        while len(out) < max_num:
            hash_read, phy_offset, time_diff, prev = _ENTRY.unpack_from(
                self._mm, self._entry_pos(number)
            )
            if time_diff < 0:
                break
            time_read = self.begin_timestamp + time_diff * 1000
            if hash_read == key_hash and begin <= time_read <= end:
                out.append(phy_offset)
            if prev <= INVALID_INDEX or prev > count or prev == number or time_read < begin:
                break
            number = prev

    def read_entry(self, number: int) -> tuple[int, int, int, int]:
        """(keyHash, phyOffset, timeDiff, prevIndex) of entry ``number`` (diagnostics)."""
        entry: tuple[int, int, int, int] = _ENTRY.unpack_from(self._mm, self._entry_pos(number))
        return entry

    # ------------------------------------------------------------------ lifecycle

    def flush(self) -> None:
        """Write the whole header, then msync the file (blocking)."""
        self._write_header()
        self._mm.flush()

    @property
    def is_closed(self) -> bool:
        return self._mm.closed

    def close(self) -> None:
        if not self._mm.closed:
            self._mm.close()

    def destroy(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return (
            f"IndexFile({self.path.name}, entries={self.entry_count}, "
            f"phy=[{self.begin_phy_offset}, {self.end_phy_offset}], "
            f"time=[{self.begin_timestamp}, {self.end_timestamp}])"
        )


def _map_file(path: Path, size: int) -> mmap.mmap:
    """Map ``size`` bytes of ``path``, extending it sparse when shorter (Java map semantics)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)
        return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        # The map keeps the pages; no descriptor stays open per file.
        os.close(fd)


def _java_long_div(a: int, b: int) -> int:
    """Java long division truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@dataclass(slots=True)
class QueryOffsetResult:
    """IndexService.queryOffset's answer: offsets (newest first per file) and the last file's
    end time and end offset (the broker reports them to the querying client)."""

    phy_offsets: list[int] = field(default_factory=list)
    index_last_update_timestamp: int = 0
    index_last_update_phyoffset: int = 0


class IndexService:
    """The index files of a store, oldest first."""

    def __init__(self, config: MessageStoreConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.hash_slot_num = config.max_hash_slot_num
        self.index_num = config.max_index_num
        self.store_path = config.index_path
        self.files: list[IndexFile] = []
        #: endTimestamp of the latest file flushed after filling up (checkpoint's
        #: indexMsgTimestamp); 0 until one fills.
        self.last_full_file_end_timestamp = 0
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ load

    def load(self, last_exit_ok: bool, index_msg_timestamp: int) -> None:
        """Open the index files in name order; after a crash drop those newer than the
        checkpoint's indexMsgTimestamp (their records are re-dispatched by recovery)."""
        if not self.store_path.is_dir():
            return
        paths = sorted(p for p in self.store_path.iterdir() if p.name.isdigit() and p.is_file())
        with self._lock:
            for path in paths:
                index_file = IndexFile(path, self.hash_slot_num, self.index_num)
                if not last_exit_ok and index_file.end_timestamp > index_msg_timestamp:
                    log.info("dropping index file %s newer than the checkpoint", path.name)
                    index_file.destroy()
                    continue
                self.files.append(index_file)

    # ------------------------------------------------------------------ build

    def build_index(self, req: DispatchRequest) -> tuple[IndexFile, ...]:
        """Index one dispatched record under ``topic#UNIQ_KEY`` and ``topic#key`` per KEYS token.

        Returns the files that filled up and were rolled past during this call (usually
        none): the caller flushes each with ``flush_file`` (off the event loop) and writes
        the returned timestamp to the checkpoint's indexMsgTimestamp. Raises OSError when a
        new file cannot be created (Java retries three times, then marks the index broken).
        Gating on messageIndexEnable is the dispatcher's job, as in Java."""
        with self._lock:
            filled: list[IndexFile] = []
            index_file = self._get_and_create_last_file(filled)
            if req.commit_log_offset < index_file.end_phy_offset:
                return tuple(filled)  # already indexed (re-dispatch after recovery)
            if get_transaction_value(req.sys_flag) == TRANSACTION_ROLLBACK_TYPE:
                return tuple(filled)
            for key in _index_keys(req):
                index_file = self._put_key(index_file, build_key(req.topic, key), req, filled)
            return tuple(filled)

    def _put_key(
        self, index_file: IndexFile, key: str, req: DispatchRequest, filled: list[IndexFile]
    ) -> IndexFile:
        while not index_file.put_key(key, req.commit_log_offset, req.store_timestamp):
            index_file = self._get_and_create_last_file(filled)
        return index_file

    def _get_and_create_last_file(self, filled: list[IndexFile]) -> IndexFile:
        """The file to write to; a full last file is rolled past (and reported in ``filled``)."""
        last = self.files[-1] if self.files else None
        if last is not None and not last.is_full:
            return last
        end_phy, end_time = (last.end_phy_offset, last.end_timestamp) if last else (0, 0)
        index_file = IndexFile(
            self._new_file_path(), self.hash_slot_num, self.index_num, end_phy, end_time
        )
        self.files.append(index_file)
        if last is not None:
            filled.append(last)
        log.info("created index file %s", index_file.name)
        return index_file

    def _new_file_path(self) -> Path:
        """A fresh ``yyyyMMddHHmmssSSS`` name after the last file's. Java would reopen a file
        created in the same millisecond; pyrmq moves to the next free millisecond instead."""
        self.store_path.mkdir(parents=True, exist_ok=True)
        last_name = self.files[-1].name if self.files else ""
        now = self.clock.now_ms()
        while True:
            path = self.store_path / index_file_name(now)
            if path.name > last_name and not path.exists():
                return path
            now += 1

    # ------------------------------------------------------------------ query

    def query_offset(
        self, topic: str, key: str, max_num: int, begin: int, end: int
    ) -> QueryOffsetResult:
        """queryOffset: newest file first, files overlapping [begin, end], at most
        min(max_num, maxMsgsNumBatch) offsets."""
        max_num = min(max_num, self.config.max_msgs_num_batch)
        result = QueryOffsetResult()
        full_key = build_key(topic, key)
        with self._lock:
            if not self.files:
                return result
            result.index_last_update_timestamp = self.files[-1].end_timestamp
            result.index_last_update_phyoffset = self.files[-1].end_phy_offset
            for index_file in reversed(self.files):
                if index_file.is_time_matched(begin, end):
                    index_file.select_into(result.phy_offsets, full_key, max_num, begin, end)
                if index_file.begin_timestamp < begin or len(result.phy_offsets) >= max_num:
                    break
        return result

    # ------------------------------------------------------------------ cleanup

    def delete_expired_file(self, commitlog_min_offset: int) -> int:
        """Delete leading files (never the last) whose end offset is below the commitlog min
        offset; returns how many went."""
        with self._lock:
            deleted = 0
            while len(self.files) > 1 and self.files[0].end_phy_offset < commitlog_min_offset:
                self.files.pop(0).destroy()
                deleted += 1
            return deleted

    # ------------------------------------------------------------------ flush / lifecycle

    def flush_file(self, index_file: IndexFile) -> int:
        """Flush one file (blocking); its endTimestamp when full (the checkpoint's new
        indexMsgTimestamp), else 0."""
        with self._lock:
            if index_file.is_closed:
                return 0
            index_msg_timestamp = index_file.end_timestamp if index_file.is_full else 0
            index_file.flush()
        if index_msg_timestamp > 0:
            self.last_full_file_end_timestamp = max(
                self.last_full_file_end_timestamp, index_msg_timestamp
            )
        return index_msg_timestamp

    def flush(self) -> None:
        """Flush every file (shutdown)."""
        with self._lock:
            for index_file in self.files:
                index_file.flush()

    def destroy(self) -> None:
        with self._lock:
            for index_file in self.files:
                index_file.destroy()
            self.files.clear()

    def close(self) -> None:
        with self._lock:
            for index_file in self.files:
                index_file.close()
            self.files.clear()


def _index_keys(req: DispatchRequest) -> list[str]:
    """UNIQ_KEY first, then every non-empty space-separated KEYS token (duplicates kept)."""
    keys: list[str] = []
    if req.uniq_key is not None:
        keys.append(req.uniq_key)
    if req.keys:
        keys.extend(token for token in req.keys.split(KEY_SEPARATOR) if token)
    return keys
