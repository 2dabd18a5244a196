"""MmapLogStore: DLedger's replicated log on disk, in DLedger's byte layouts.

Mirrors DLedger's ``DLedgerMmapFileStore`` (0.3.1.2, as store.md §7 describes) over two
segmented logs built from pyrmq's ``MappedFileQueue``:

* data: ``<data_dir>/<20-digit start pos>`` (default ``<base>/data``; RocketMQ passes
  ``storePathDLedgerCommitLog`` when set), entries as laid out in ``entry.py``, segments closed
  by a file-end filler; segment size = RocketMQ's ``mappedFileSizeCommitLog`` (1 GiB);
* index: ``<base>/index/<20-digit>``, the 32-byte unit of entry ``i`` at byte ``i * 32``;
  segment size ``32 * 5 * 1024 * 1024`` (``mappedFileSizeForEntryIndex``);
* ``<base>/checkpoint``: Java properties ``endIndex=…`` and ``committedIndex=…``
  (``persistCheckPoint``), rewritten crash-safely by ``flush_checkpoint``.

Data is written before its index unit, so the data log is the truth: recovery rebuilds index
units from it. Every record carries magic, size, its own position and (pyrmq) a body CRC, so a
torn or misplaced record is detected on read and cut by recovery. Beyond DLedger, bytes after
the log end are kept zero (truncation and recovery scrub them): otherwise a stale entry left
past a cut could line up with a later append and be resurrected by the next recovery.

Not thread-safe: the Raft core and the commitlog call it from one event loop. ``flush`` and
``flush_checkpoint`` block (msync, fsync) and belong in an executor.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from pyrmq.common import persist
from pyrmq.common.config import format_properties, parse_properties
from pyrmq.dledger.entry import (
    BODY_OFFSET,
    INDEX_UNIT_SIZE,
    MIN_BLANK_LEN,
    EntryDecodeError,
    EntryHeader,
    IndexUnit,
    check_body_crc,
    decode_entry,
    decode_filler,
    decode_header,
    decode_index_unit,
    encode_entry,
    encode_filler,
    encode_index_unit,
    index_unit_of,
    is_filler,
    needs_filler,
)
from pyrmq.dledger.log_store import AppendHook, Entry
from pyrmq.store.mapped_file import MappedFile
from pyrmq.store.mapped_file_queue import MappedFileQueue

log = logging.getLogger(__name__)

#: RocketMQ's ``mappedFileSizeCommitLog`` (DLedger's ``mappedFileSizeForEntryData`` is the same).
DEFAULT_DATA_FILE_SIZE = 1024 * 1024 * 1024
#: DLedger's ``mappedFileSizeForEntryIndex``: 5 Mi units.
DEFAULT_INDEX_FILE_SIZE = INDEX_UNIT_SIZE * 5 * 1024 * 1024

#: ``DLedgerMmapFileStore.CHECK_POINT_FILE`` / ``END_INDEX_KEY`` / ``COMMITTED_INDEX_KEY``.
CHECKPOINT_FILE = "checkpoint"
END_INDEX_KEY = "endIndex"
COMMITTED_INDEX_KEY = "committedIndex"

#: How many data files back from the last one recovery starts validating (DLedger: 3rd-to-last).
RECOVER_FROM_LAST_FILES = 3

_SCRUB_CHUNK = 1 << 20
_ZEROS = bytes(_SCRUB_CHUNK)


#: How many of the newest entries are kept in memory as written (see ``_recent``).
RECENT_ENTRIES = 32_768


class LogCorruptionError(ValueError):
    """The files cannot be recovered without losing more than a torn tail (check by hand)."""


@dataclass
class _Scan:
    """Recovery's progress: the data file being read and the last valid entry so far."""

    file_no: int
    offset: int
    last_index: int = -1
    last_term: int = -1
    rewriting_index: bool = False


class MmapLogStore:
    """The Raft log on disk (``LogStore``), plus the byte-level reads the commitlog needs."""

    def __init__(
        self,
        base_dir: str | Path,
        data_file_size: int = DEFAULT_DATA_FILE_SIZE,
        index_file_size: int = DEFAULT_INDEX_FILE_SIZE,
        *,
        data_dir: str | Path | None = None,
    ) -> None:
        """Set up without touching the disk; ``open`` (or ``recover``) loads the files."""
        if data_file_size <= BODY_OFFSET + MIN_BLANK_LEN:
            raise ValueError(f"data segment size {data_file_size} cannot hold an entry")
        if index_file_size <= 0 or index_file_size % INDEX_UNIT_SIZE:
            raise ValueError(f"index segment size {index_file_size} is not a multiple of 32")
        self.base_dir = Path(base_dir)
        self.data_dir = Path(data_dir) if data_dir is not None else self.base_dir / "data"
        self.index_dir = self.base_dir / "index"
        self.checkpoint_path = self.base_dir / CHECKPOINT_FILE
        self._data = MappedFileQueue(self.data_dir, data_file_size)
        self._index = MappedFileQueue(self.index_dir, index_file_size)
        self._begin_index = -1
        self._end_index = -1
        self._end_term = -1
        self._committed_index = -1
        self._committed_pos = -1
        self._recovered = False
        self._closed = False
        #: flush may run on an executor thread; truncation unmaps files, so they take turns.
        self._flush_lock = threading.RLock()
        #: The newest entries as written (index -> entry, pos -> index): replication and the
        #: reput read what was just appended, so they skip the decode and the CRC check.
        self._recent: dict[int, Entry] = {}
        self._recent_pos: dict[int, int] = {}
        self._closing = False

    @classmethod
    def open(
        cls,
        base_dir: str | Path,
        data_file_size: int = DEFAULT_DATA_FILE_SIZE,
        index_file_size: int = DEFAULT_INDEX_FILE_SIZE,
        *,
        data_dir: str | Path | None = None,
    ) -> MmapLogStore:
        """Load and recover the store at ``base_dir`` (created empty when missing)."""
        store = cls(base_dir, data_file_size, index_file_size, data_dir=data_dir)
        store.recover()
        return store

    # ------------------------------------------------------------------ LogStore state

    @property
    def begin_index(self) -> int:
        return self._begin_index

    @property
    def end_index(self) -> int:
        return self._end_index

    @property
    def end_term(self) -> int:
        return self._end_term

    @property
    def committed_index(self) -> int:
        return self._committed_index

    # ------------------------------------------------------------------ data log positions

    @property
    def data_file_size(self) -> int:
        return self._data.mapped_file_size

    @property
    def data_min_pos(self) -> int:
        """Start of the first data file (0 before anything was written)."""
        first = self._data.first
        return first.file_from_offset if first is not None else 0

    @property
    def data_max_pos(self) -> int:
        """The write position: where the data log ends."""
        return self._data.max_wrote_position()

    @property
    def committed_pos(self) -> int:
        """End of the committed entry (``pos + size``); the data begin when none is committed."""
        return self._committed_pos if self._committed_index >= 0 else self.data_min_pos

    # ------------------------------------------------------------------ append

    def append_leader(self, term: int, body: bytes, hook: AppendHook | None = None) -> Entry:
        """``appendAsLeader``: index ``end_index + 1``, pos chosen here (after a filler when
        the entry + 8 does not fit), ``hook(pos, body)`` may patch the body before it is
        written, then data, then the index unit."""
        self._check_writable()
        self._check_term(term)
        size = BODY_OFFSET + len(body)
        pos = self._prepare_append(size)
        if hook is not None:
            patched = hook(pos, body)
            if len(patched) != len(body):
                raise ValueError(f"append hook changed the body length {len(body)}")
            body = bytes(patched)
        entry = Entry(index=self._end_index + 1, term=term, body=body, pos=pos)
        return self._write(entry)

    def append_follower(self, entry: Entry) -> Entry:
        """``appendAsFollower``: the leader's entry must be the next index and carry the pos
        this store would write it at (logs are byte-identical), else ``ValueError``."""
        self._check_writable()
        if entry.index != self._end_index + 1:
            raise ValueError(f"entry index {entry.index} != end index {self._end_index} + 1")
        self._check_term(entry.term)
        expected = self._next_pos(entry.size)
        if entry.pos != expected:
            raise ValueError(f"entry {entry.index}: pos {entry.pos} != local write pos {expected}")
        self._prepare_append(entry.size)
        return self._write(entry)

    def _check_writable(self) -> None:
        # Writing before recovery would overwrite the files on disk without knowing them.
        if not self._recovered or self._closed:
            raise RuntimeError(f"{self.base_dir}: not open (use MmapLogStore.open)")

    def _check_term(self, term: int) -> None:
        # Recovery rejects a term going down; refuse to write one.
        if term < self._end_term:
            raise ValueError(f"term {term} < end term {self._end_term}")

    def _next_pos(self, size: int) -> int:
        """Where an entry of ``size`` bytes would start, without writing anything."""
        if size + MIN_BLANK_LEN > self.data_file_size:
            raise ValueError(f"an entry of {size} bytes does not fit a data segment")
        tail = self._data.last
        if tail is None:
            return self.data_min_pos
        if tail.is_full or needs_filler(size, tail.free_bytes):
            return tail.file_from_offset + self.data_file_size
        return tail.file_from_offset + tail.wrote_position

    def _prepare_append(self, size: int) -> int:
        """``MmapFileList.preAppend``: close the tail segment with a filler when the entry
        does not fit, make sure a segment is ready, and return the entry's pos."""
        pos = self._next_pos(size)
        tail = self._data.last
        if tail is not None and not tail.is_full and needs_filler(size, tail.free_bytes):
            self._write_filler(tail)
        return pos

    def _write_filler(self, tail: MappedFile) -> None:
        remaining = tail.free_bytes
        # Like Java, the whole rest is written (header then zeros): no stale byte survives.
        tail.append(encode_filler(remaining) + bytes(remaining - MIN_BLANK_LEN))

    def _write(self, entry: Entry) -> Entry:
        data = encode_entry(entry)
        mapped = self._data.last_mapped_file(entry.pos)
        where = mapped.file_from_offset + mapped.wrote_position
        if where != entry.pos:
            raise LogCorruptionError(f"entry {entry.index}: data log at {where}, not {entry.pos}")
        mapped.append(data)
        self._append_index_unit(index_unit_of(entry))
        self._remember(entry)
        self._end_index = entry.index
        self._end_term = entry.term
        if self._begin_index == -1:
            self._begin_index = entry.index
        return entry

    def _remember(self, entry: Entry) -> None:
        self._recent[entry.index] = entry
        self._recent_pos[entry.pos] = entry.index
        if len(self._recent) > RECENT_ENTRIES:
            oldest = self._recent.pop(next(iter(self._recent)))
            self._recent_pos.pop(oldest.pos, None)

    def clear_recent(self) -> None:
        """Drop the in-memory copies: reads go to the files (and their checks) again."""
        self._recent.clear()
        self._recent_pos.clear()

    def _forget_after(self, index: int) -> None:
        for dropped in [i for i in self._recent if i > index]:
            self._recent_pos.pop(self._recent.pop(dropped).pos, None)

    def _append_index_unit(self, unit: IndexUnit) -> None:
        offset = unit.index * INDEX_UNIT_SIZE
        mapped = self._index.last_mapped_file(offset)
        where = mapped.file_from_offset + mapped.wrote_position
        if where != offset:
            raise LogCorruptionError(f"index unit {unit.index}: index log at {where}")
        mapped.append(encode_index_unit(unit))

    # ------------------------------------------------------------------ read

    def get(self, index: int) -> Entry:
        """The entry at ``index``: its index unit, then the record it points at, cross-checked
        (magic, pos, size, index, term) and body-CRC-checked; ``IndexError`` out of range."""
        if not self._begin_index <= index <= self._end_index or index < 0:
            raise IndexError(f"index {index} outside [{self._begin_index}, {self._end_index}]")
        recent = self._recent.get(index)
        if recent is not None:
            return recent
        unit = self._read_unit(index)
        entry = self.entry_at_pos(unit.pos)
        _check_unit_matches(unit, entry)
        return entry

    def position_of(self, index: int) -> tuple[int, int]:
        """``(pos, size)`` of the entry at ``index``, from its index unit."""
        if not self._begin_index <= index <= self._end_index or index < 0:
            raise IndexError(f"index {index} outside [{self._begin_index}, {self._end_index}]")
        unit = self._read_unit(index)
        return unit.pos, unit.size

    def _read_unit(self, index: int) -> IndexUnit:
        offset = index * INDEX_UNIT_SIZE
        mapped = self._index.find_mapped_file_by_offset(offset)
        if mapped is None:
            raise EntryDecodeError("index unit", offset, "unit", "no index file holds it")
        rel = offset - mapped.file_from_offset
        return decode_index_unit(mapped.slice(rel, INDEX_UNIT_SIZE), offset)

    def read_data(self, pos: int, size: int) -> memoryview | bytes:
        """Up to ``size`` bytes of the data log from ``pos``, within one segment and clipped at
        the write position (a view of the map: release it before the segment can be closed)."""
        mapped = self._data.find_mapped_file_by_offset(pos)
        if mapped is None or size <= 0:
            return b""
        return mapped.slice(pos - mapped.file_from_offset, size)

    def entry_at_pos(self, pos: int) -> Entry:
        """The entry whose record starts at ``pos`` (``EntryDecodeError`` for anything else,
        a filler included)."""
        mapped = self._data.find_mapped_file_by_offset(pos)
        if mapped is None or pos >= self.data_max_pos:
            detail = f"outside the data log [{self.data_min_pos}, {self.data_max_pos})"
            raise EntryDecodeError("entry", pos, "pos", detail)
        return decode_entry(mapped.slice(pos - mapped.file_from_offset), pos)

    def entries_from(self, pos: int) -> Iterator[Entry]:
        """The entries from the one at ``pos`` to the write position, across file-end fillers.

        Reads the live log: stop iterating before truncating it."""
        while pos < self.data_max_pos:
            index = self._recent_pos.get(pos)
            if index is not None:
                entry = self._recent[index]
                yield entry
                pos += entry.size
                continue
            mapped = self._data.find_mapped_file_by_offset(pos)
            if mapped is None:
                return
            rel = pos - mapped.file_from_offset
            with mapped.slice(rel) as view:
                if is_filler(view):
                    pos += decode_filler(view, pos, self.data_file_size - rel)
                    continue
                entry = decode_entry(view, pos)
            # The view is released before yielding: a suspended reader must not pin the map.
            yield entry
            pos += entry.size

    # ------------------------------------------------------------------ truncate

    def truncate_after(self, index: int) -> None:
        """``truncate``: drop every entry after ``index``; data files after the cut are deleted,
        the cut file's positions reset and its dropped bytes zeroed, and the same for the index.
        ``index`` may be ``begin_index - 1`` (drop all); the committed index follows down."""
        self._check_writable()
        if index >= self._end_index:
            return
        floor = self._begin_index - 1
        if index < floor:
            raise ValueError(f"cannot truncate after {index}: the log begins at {floor + 1}")
        cut_pos = self._first_dropped_pos(index + 1)
        with self._flush_lock:
            # msync first: the queues' flushed marks jump to the cut, so nothing before it would
            # ever be flushed by a later ``flush`` (DLedger's reviseDataFileListFlushedWhere).
            self.flush()
            self._forget_after(index)
            self._cut(index, cut_pos)

    def _cut(self, index: int, cut_pos: int) -> None:
        index_end = (index + 1) * INDEX_UNIT_SIZE
        self._scrub_from(self._data, cut_pos, to_file_end=False)
        self._scrub_from(self._index, index_end, to_file_end=False)
        _truncate_queue(self._data, cut_pos)
        _truncate_queue(self._index, index_end)
        self._set_end_after_truncate(index)

    def _first_dropped_pos(self, index: int) -> int:
        """Where entry ``index`` starts, its unit checked against the record's header: a bad
        unit must not make the cut land elsewhere."""
        unit = self._read_unit(index)
        mapped = self._data.find_mapped_file_by_offset(unit.pos)
        if mapped is None:
            raise EntryDecodeError("index unit", index * INDEX_UNIT_SIZE, "pos", "no data file")
        header = decode_header(mapped.slice(unit.pos - mapped.file_from_offset), unit.pos)
        if header.index != index:
            detail = f"the record at {unit.pos} is entry {header.index}"
            raise EntryDecodeError("index unit", index * INDEX_UNIT_SIZE, "pos", detail)
        return unit.pos

    def _set_end_after_truncate(self, index: int) -> None:
        self._end_index = index
        if index < self._begin_index:
            # Everything dropped: empty again (begin_index 0 -> the pristine -1/-1 state).
            self._end_term = -1
            if index == -1:
                self._begin_index = -1
        else:
            self._end_term = self._read_unit(index).term
        if self._committed_index > index:
            log.warning(
                "truncating below the committed index %d to %d", self._committed_index, index
            )
            self._committed_index = -1
            self._committed_pos = -1
            self.update_committed_index(index)

    # ------------------------------------------------------------------ commit and checkpoint

    def update_committed_index(self, index: int) -> None:
        """``updateCommittedIndex``: monotone, capped at ``end_index``; ignored below begin."""
        if self._end_index == -1 or index <= self._committed_index:
            return
        index = min(index, self._end_index)
        if index < self._begin_index:
            return
        pos, size = self.position_of(index)
        self._committed_index = index
        self._committed_pos = pos + size

    def flush_checkpoint(self) -> None:
        """``persistCheckPoint``: ``endIndex`` and ``committedIndex``, replaced atomically."""
        text = format_properties(
            [
                (END_INDEX_KEY, str(self._end_index)),
                (COMMITTED_INDEX_KEY, str(self._committed_index)),
            ]
        )
        persist.write_atomic(self.checkpoint_path, text.encode("ascii"))

    def _restore_committed_index(self) -> None:
        committed = persist.load(self.checkpoint_path, _parse_checkpoint)
        if committed is not None and committed >= 0:
            self.update_committed_index(committed)
            log.info(
                "committed index %d from the checkpoint (end index %d)", committed, self._end_index
            )

    # ------------------------------------------------------------------ flush and close

    def flush(self) -> None:
        """msync all written data, then all index units (blocking; thread-safe against
        ``truncate_after`` and ``close``)."""
        with self._flush_lock:
            if self._closed and not self._closing:
                return
            for queue in (self._data, self._index):
                while queue.flush(0):
                    pass

    def close(self) -> None:
        """DLedger's shutdown: flush both logs and the checkpoint, then unmap (once)."""
        with self._flush_lock:
            if self._closed:
                return
            self._closed = self._closing = True
            self.flush()
            self.flush_checkpoint()
            self._data.shutdown()
            self._index.shutdown()
            self._closing = False

    # ------------------------------------------------------------------ recovery

    def recover(self) -> None:
        """Load the files and find the valid log (``DLedgerMmapFileStore.load`` + ``recover``).

        Cases:

        * no data file: empty log; index files are cut to nothing.
        * start: the first entry of the 3rd-to-last data file (or an earlier one, walking back
          to the first file) must decode and match its index unit; when none does (e.g. the
          index is gone) the scan starts at the first file.
        * scan forward: a filler (magic -1 covering exactly the rest of the file) moves to the
          next file; an all-zero header is the clean end; anything else that fails - magic,
          size == 48 + bodyLen, stored pos == absolute position, body beyond the file, index
          contiguous, term non-decreasing, non-zero body CRC - is a torn or corrupt tail and
          ends the scan there.
        * index units: each scanned entry is compared with its unit; from the first mismatch
          (or missing / short index) on, the index is cut there and every later unit is
          rewritten from the data.
        * too much lost: when the valid data ends more than one whole file before the last
          file, refuse (``LogCorruptionError``) rather than delete files, as DLedger exits.
        * cut: both logs are flushed, the data log is cut after the last valid entry (files
          after it deleted, the dropped bytes of the last file zeroed) and the index after
          its unit; begin index = the first entry of the first data file; the last entry is
          re-read through its unit as a final check.
        * committed index: from the checkpoint (``.bak`` when the main copy is unreadable),
          capped at the end index.
        """
        if self._recovered:
            return
        self._recovered = True
        self._load()
        if not self._data.files:
            self._scrub_from(self._index, 0, to_file_end=True)
            _truncate_queue(self._index, 0)
            return
        scan = self._scan(self._recovery_start_file())
        self._check_loss(scan.offset)
        self.flush()
        index_end = (scan.last_index + 1) * INDEX_UNIT_SIZE
        self._scrub_from(self._data, scan.offset, to_file_end=True)
        self._scrub_from(self._index, index_end, to_file_end=True)
        _truncate_queue(self._data, scan.offset)
        _truncate_queue(self._index, index_end)
        self._end_index, self._end_term = scan.last_index, scan.last_term
        if scan.last_index >= 0:
            self._begin_index = next(self.entries_from(self.data_min_pos)).index
            self.get(scan.last_index)
        log.info(
            "recovered %s: entries [%d, %d], data [%d, %d)",
            self.base_dir,
            self._begin_index,
            self._end_index,
            self.data_min_pos,
            self.data_max_pos,
        )
        self._restore_committed_index()

    def _load(self) -> None:
        self._data.load()
        self._index.load()
        _check_contiguous(self._data, "data")
        if not _is_contiguous(self._index):
            # The index is derived from the data: a hole in it just means a full rebuild.
            log.warning("index files of %s are not contiguous; rebuilding them", self.base_dir)
            self._index.destroy_all()

    def _recovery_start_file(self) -> int:
        files = self._data.files
        for file_no in range(max(len(files) - RECOVER_FROM_LAST_FILES, 0), -1, -1):
            if self._first_entry_matches_index(files[file_no]):
                return file_no
            log.warning("first entry of %s does not match its index unit", files[file_no].path)
        return 0

    def _first_entry_matches_index(self, mapped: MappedFile) -> bool:
        try:
            header = decode_header(mapped.view, mapped.file_from_offset)
        except EntryDecodeError:
            return False
        return self._stored_unit_is(_unit_of_header(header))

    def _stored_unit_is(self, unit: IndexUnit) -> bool:
        offset = unit.index * INDEX_UNIT_SIZE
        mapped = self._index.find_mapped_file_by_offset(offset)
        if mapped is None:
            return False
        stored = mapped.slice(offset - mapped.file_from_offset, INDEX_UNIT_SIZE)
        return bytes(stored) == encode_index_unit(unit)

    def _scan(self, file_no: int) -> _Scan:
        scan = _Scan(file_no, self._data.files[file_no].file_from_offset)
        while self._scan_step(scan):
            pass
        return scan

    def _scan_step(self, scan: _Scan) -> bool:
        """Advance over one record (entry or filler); False at the end of the valid log."""
        mapped = self._data.files[scan.file_no]
        rel = scan.offset - mapped.file_from_offset
        remaining = self.data_file_size - rel
        if remaining == 0 or is_filler(mapped.view, rel):
            return self._scan_next_file(scan, mapped, rel)
        try:
            header = self._scan_entry(mapped, rel, scan)
        except EntryDecodeError as exc:
            if bytes(mapped.view[rel : rel + MIN_BLANK_LEN]) == bytes(MIN_BLANK_LEN):
                log.debug("data log ends at %d", scan.offset)
            else:
                log.warning("recovery stops at a torn or corrupt record: %s", exc)
            return False
        self._check_or_rewrite_unit(_unit_of_header(header), scan)
        scan.last_index, scan.last_term = header.index, header.term
        scan.offset += header.size
        return True

    def _scan_next_file(self, scan: _Scan, mapped: MappedFile, rel: int) -> bool:
        remaining = self.data_file_size - rel
        if remaining:
            try:
                decode_filler(mapped.view, scan.offset, remaining, rel)
            except EntryDecodeError as exc:
                log.warning("recovery stops at a bad filler: %s", exc)
                return False
        scan.offset = mapped.file_from_offset + self.data_file_size
        if scan.file_no + 1 == len(self._data.files):
            return False
        scan.file_no += 1
        return True

    def _scan_entry(self, mapped: MappedFile, rel: int, scan: _Scan) -> EntryHeader:
        """Check the record at ``rel`` as recovery does; returns its header."""
        header = decode_header(mapped.view, scan.offset, rel)
        body = mapped.view[rel + BODY_OFFSET : rel + header.size]
        if len(body) != header.body_len:
            detail = f"{len(body)} of {header.body_len} bytes fit in the file"
            raise EntryDecodeError("entry", scan.offset, "body", detail)
        check_body_crc(header, body, scan.offset)
        if scan.last_index != -1 and header.index != scan.last_index + 1:
            detail = f"{header.index} does not follow {scan.last_index}"
            raise EntryDecodeError("entry", scan.offset, "index", detail)
        if header.term < scan.last_term:
            detail = f"{header.term} < previous term {scan.last_term}"
            raise EntryDecodeError("entry", scan.offset, "term", detail)
        return header

    def _check_or_rewrite_unit(self, unit: IndexUnit, scan: _Scan) -> None:
        if not scan.rewriting_index:
            if self._stored_unit_is(unit):
                return
            log.warning("index unit %d does not match the data; rebuilding from it", unit.index)
            _truncate_queue(self._index, unit.index * INDEX_UNIT_SIZE)
            scan.rewriting_index = True
        self._append_index_unit(unit)

    def _check_loss(self, end: int) -> None:
        last = self._data.last
        assert last is not None
        if last.file_from_offset - end > self.data_file_size:
            raise LogCorruptionError(
                f"{self.data_dir}: valid data ends at {end}, more than a file before the last "
                f"file {last.path.name}; check the files by hand before truncating them"
            )

    def _scrub_from(self, queue: MappedFileQueue, pos: int, *, to_file_end: bool) -> None:
        """Zero the bytes after ``pos`` in its file (to the write position, or to the file end
        when the extent of stale bytes is unknown, as after a crash) and msync them."""
        mapped = queue.find_mapped_file_by_offset(pos)
        if mapped is None:
            return
        rel = pos - mapped.file_from_offset
        end = mapped.file_size if to_file_end else mapped.wrote_position
        _scrub(mapped, rel, end)


# --------------------------------------------------------------------------- helpers


def _unit_of_header(header: EntryHeader) -> IndexUnit:
    return IndexUnit(header.magic, header.pos, header.size, header.index, header.term)


def _check_unit_matches(unit: IndexUnit, entry: Entry) -> None:
    for field, stored, actual in (
        ("magic", unit.magic, entry.magic),
        ("size", unit.size, entry.size),
        ("index", unit.index, entry.index),
        ("term", unit.term, entry.term),
    ):
        if stored != actual:
            detail = f"index unit says {stored}, the record {actual}"
            raise EntryDecodeError("entry", entry.pos, field, detail)


def _parse_checkpoint(data: bytes) -> int:
    """``committedIndex`` of a checkpoint text; -1 when absent or empty (as DLedger)."""
    entries = parse_properties(data.decode("latin-1"), CHECKPOINT_FILE)
    values = {entry.key: entry.value.strip() for entry in entries}
    text = values.get(COMMITTED_INDEX_KEY, "")
    return int(text) if text else -1


def _is_contiguous(queue: MappedFileQueue) -> bool:
    """``MmapFileList.checkSelf``: each file starts where the previous one ends."""
    size = queue.mapped_file_size
    starts = [mapped.file_from_offset for mapped in queue.files]
    return all(later - earlier == size for earlier, later in pairwise(starts))


def _check_contiguous(queue: MappedFileQueue, what: str) -> None:
    if not _is_contiguous(queue):
        names = [mapped.path.name for mapped in queue.files]
        raise LogCorruptionError(f"{what} files of {queue.store_path} are not contiguous: {names}")


def _truncate_queue(queue: MappedFileQueue, offset: int) -> None:
    """Make ``offset`` the end of the log (``truncateOffset`` + ``rebuildWithPos``): files
    after it deleted, the file holding it cut there, and a file created when none holds it."""
    size = queue.mapped_file_size
    files = queue.files
    if files and not files[0].file_from_offset <= offset <= files[-1].file_from_offset + size:
        queue.destroy_all()
    queue.truncate_dirty_files(offset)
    last = queue.last
    if last is not None and last.file_from_offset + size == offset:
        last.set_positions(size)
    elif last is None and offset % size:
        mapped = MappedFile.create(queue.store_path, offset - offset % size, size)
        mapped.set_positions(offset % size)
        queue.files.append(mapped)
    queue.flushed_where = queue.committed_where = offset


def _scrub(mapped: MappedFile, start: int, end: int) -> None:
    """Zero every non-zero chunk of ``[start, end)`` and msync what was zeroed."""
    dirty_from, dirty_to = end, start
    for begin, stop in _allocated_ranges(mapped.path, start, end):
        for chunk in range(begin, stop, _SCRUB_CHUNK):
            chunk_end = min(chunk + _SCRUB_CHUNK, stop)
            zeros = _ZEROS if chunk_end - chunk == _SCRUB_CHUNK else bytes(chunk_end - chunk)
            # bytes == bytes is a memcmp; memoryview == bytes compares item by item (20x slower)
            if mapped.view[chunk:chunk_end].tobytes() != zeros:
                mapped.write_at(chunk, zeros)
                dirty_from, dirty_to = min(dirty_from, chunk), max(dirty_to, chunk_end)
    if dirty_from < dirty_to:
        log.info("zeroed stale bytes [%d, %d) of %s", dirty_from, dirty_to, mapped.path.name)
        _msync_range(mapped, dirty_from, dirty_to)


def _msync_range(mapped: MappedFile, start: int, end: int) -> None:
    # MappedFile flushes from its flushed position to its write position: widen them over the
    # zeroed bytes for one flush, then put the write position back.
    wrote = mapped.wrote_position
    mapped.flushed_position = min(mapped.flushed_position, start)
    mapped.wrote_position = max(wrote, end)
    try:
        mapped.flush(0)
    finally:
        mapped.set_positions(wrote)


def _allocated_ranges(path: Path, start: int, end: int) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` of a sparse file that hold data (SEEK_DATA/SEEK_HOLE):
    holes read as zeros, so a never-written 1 GiB tail costs nothing to check."""
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        return [(start, end)]
    fd = os.open(path, os.O_RDONLY)
    try:
        return _data_extents(fd, start, end, seek_data, seek_hole)
    finally:
        os.close(fd)


def _data_extents(
    fd: int, start: int, end: int, seek_data: int, seek_hole: int
) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        try:
            data = os.lseek(fd, pos, seek_data)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                # The file system cannot tell: check the rest byte by byte.
                ranges.append((pos, end))
            break  # ENXIO: no data after pos
        if data >= end:
            break
        hole = os.lseek(fd, data, seek_hole)
        ranges.append((data, min(hole, end)))
        pos = hole
    return ranges
