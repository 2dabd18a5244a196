"""The store's checkpoint, abort marker and lock files (store.md §5.1, §5.2).

Owns three small files under ``storePathRootDir``:

* ``checkpoint`` — mirrors ``StoreCheckpoint``: one 4 KiB page whose first 40 bytes are five
  big-endian longs (physicMsgTimestamp @0, logicsMsgTimestamp @8, indexMsgTimestamp @16, and
  5.x's masterFlushedOffset @24 and confirmPhyOffset @32). 4.9 reads and writes only the first
  three; we read and write all five so a store touched by 5.x keeps its values.
* ``abort`` — the empty marker of ``DefaultMessageStore.createTempFile``/``isTempFileExist``:
  created at the end of ``start()``, deleted at a clean shutdown; present at load ⇒ abnormal
  recovery.
* ``lock`` — ``DefaultMessageStore``'s lock file: an exclusive POSIX record lock on byte 0
  (Java's ``FileChannel.tryLock(0, 1, false)`` is ``fcntl(F_SETLK)`` on Linux, the same lock
  ``fcntl.lockf`` takes, so a Java and a Python broker exclude each other), content ``lock``.

Everything here blocks on disk I/O (fsync); async callers run it in an executor.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import struct
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Final

__all__ = [
    "CHECKPOINT_FILE_SIZE",
    "StoreCheckpoint",
    "StoreLock",
    "StoreLockedError",
    "abort_file_exists",
    "create_abort_file",
    "delete_abort_file",
]

log = logging.getLogger(__name__)

#: Java maps exactly one OS page (``MappedFile.OS_PAGE_SIZE``).
CHECKPOINT_FILE_SIZE: Final = 4096
_FIELDS: Final = struct.Struct(">5q")  # the five longs at offsets 0, 8, 16, 24, 32
#: ``getMinTimestamp`` steps back this far so a message stored just before the checkpoint
#: was written is still re-dispatched.
_MIN_TIMESTAMP_MARGIN_MS: Final = 3000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# ----------------------------------------------------------------------------------- checkpoint


class StoreCheckpoint:
    """The ``checkpoint`` file: what abnormal recovery trusts to have reached the disk.

    Torn writes and garbage. Java writes these fields into a mapped page, so only the first 40
    bytes can ever be damaged; they sit inside one 512-byte sector, which most devices write
    atomically (all old or all new). Where that does not hold, or the bytes rot, recovery
    reacts like this:

    * a value that is too small (old, or a mix of old and new fields) only makes abnormal
      recovery start at an earlier commitlog file — slower, still correct, because
      re-dispatch is idempotent;
    * a negative value, or one later than the wall clock when the file is opened, cannot be a
      real timestamp: it is logged and read as 0, so abnormal recovery starts at the first
      commitlog file, which is always safe (Java would trust a future value and could start
      too late, skipping messages). A clock set backwards makes genuine values look "future";
      that only costs a longer recovery;
    * a plausible but too-large past value cannot be told from a real one; Java has the same
      exposure.

    The offsets at 24 and 32 (5.x) are only read back and rewritten; negative ones read as 0.
    The fields are plain attributes the store sets; ``flush`` persists them.
    """

    __slots__ = (
        "_fd",
        "confirm_phy_offset",
        "index_msg_timestamp",
        "logics_msg_timestamp",
        "master_flushed_offset",
        "path",
        "physic_msg_timestamp",
    )

    def __init__(self, path: Path, now_ms: int | None = None) -> None:
        """Open (creating if missing) the checkpoint at ``path``; ``now_ms`` bounds sane values."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            raw = self._read_fields()
        except BaseException:
            self._close_fd()
            raise
        limit = _now_ms() if now_ms is None else now_ms
        physic, logics, index, master_flushed, confirm = raw
        self.physic_msg_timestamp = _sane_timestamp("physicMsgTimestamp", physic, limit)
        self.logics_msg_timestamp = _sane_timestamp("logicsMsgTimestamp", logics, limit)
        self.index_msg_timestamp = _sane_timestamp("indexMsgTimestamp", index, limit)
        self.master_flushed_offset = _sane_offset("masterFlushedOffset", master_flushed)
        self.confirm_phy_offset = _sane_offset("confirmPhyOffset", confirm)

    def _read_fields(self) -> tuple[int, ...]:
        fd = self._require_fd()
        if os.fstat(fd).st_size < CHECKPOINT_FILE_SIZE:
            # Mapping a page extends a short (or new) file with zeros; do the same.
            os.ftruncate(fd, CHECKPOINT_FILE_SIZE)
        head = os.pread(fd, _FIELDS.size, 0).ljust(_FIELDS.size, b"\0")
        return _FIELDS.unpack(head)

    def _require_fd(self) -> int:
        if self._fd is None:
            raise ValueError(f"checkpoint {self.path} is closed")
        return self._fd

    # ------------------------------------------------------------------ derived

    @property
    def min_timestamp(self) -> int:
        """``getMinTimestamp``: max(0, min(physic, logics) − 3000 ms)."""
        lowest = min(self.physic_msg_timestamp, self.logics_msg_timestamp)
        return max(0, lowest - _MIN_TIMESTAMP_MARGIN_MS)

    @property
    def min_timestamp_index(self) -> int:
        """``getMinTimestampIndex``: min(min_timestamp, index)."""
        return min(self.min_timestamp, self.index_msg_timestamp)

    # ------------------------------------------------------------------ persistence

    def flush(self) -> None:
        """Write the five fields at offset 0 and fsync (blocking: run it in an executor)."""
        data = _FIELDS.pack(
            self.physic_msg_timestamp,
            self.logics_msg_timestamp,
            self.index_msg_timestamp,
            self.master_flushed_offset,
            self.confirm_phy_offset,
        )
        fd = self._require_fd()
        # One pwrite of 40 bytes at offset 0: the same bytes Java's mapped page holds, without
        # a mapping that would SIGBUS if someone truncated the file under us.
        os.pwrite(fd, data, 0)
        os.fsync(fd)

    def close(self) -> None:
        """Flush and close, as ``StoreCheckpoint.shutdown``; closing twice is a no-op."""
        if self._fd is None:
            return
        try:
            self.flush()
        finally:
            self._close_fd()

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    @property
    def closed(self) -> bool:
        return self._fd is None

    def __enter__(self) -> StoreCheckpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _sane_timestamp(name: str, value: int, now_ms: int) -> int:
    if 0 <= value <= now_ms:
        return value
    log.warning("checkpoint %s=%d is not a past timestamp; treating it as 0", name, value)
    return 0


def _sane_offset(name: str, value: int) -> int:
    if value >= 0:
        return value
    log.warning("checkpoint %s=%d is negative; treating it as 0", name, value)
    return 0


# ----------------------------------------------------------------------------------- abort file


def create_abort_file(path: Path) -> bool:
    """Create the abort marker (end of ``start()``); False if it already existed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    os.close(fd)
    # Java does not sync here. We do, once per start: a marker lost in a crash would turn the
    # next start into a normal recovery, which skips the re-dispatch an abnormal one does.
    _fsync_dir(path.parent)
    return True


def abort_file_exists(path: Path) -> bool:
    """True when the last run did not shut down cleanly (``isTempFileExist``)."""
    return Path(path).exists()


def delete_abort_file(path: Path) -> bool:
    """Remove the marker at a clean shutdown; False if it was not there.

    Not synced: if the deletion is lost in a crash, the next start recovers abnormally, which
    is safe.
    """
    try:
        Path(path).unlink()
    except FileNotFoundError:
        return False
    return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------- lock file


class StoreLockedError(RuntimeError):
    """Another process (or another ``StoreLock`` in this one) holds the store's lock file."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"Lock failed, MQ already started: {path}")
        self.path = path


_LOCK_CONTENT: Final = b"lock"
# POSIX record locks belong to the process: a second lockf from this process succeeds, and
# closing any descriptor of the file drops the lock. So this process's own holders are tracked
# by (device, inode) and refused without ever opening the file again.
_held: set[tuple[int, int]] = set()
_held_guard = threading.Lock()


class StoreLock:
    """The ``lock`` file: held from ``start()`` to ``shutdown()`` so two brokers never share a
    store. ``acquire`` raises ``StoreLockedError`` when the lock is taken."""

    __slots__ = ("_fd", "_key", "path")

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._key: tuple[int, int] | None = None

    @property
    def locked(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock (non-blocking) and write ``lock`` at the start of the file."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _held_guard:
            self._refuse_if_held_here()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                key = _lock_or_raise(fd, self.path)
            except BaseException:
                os.close(fd)
                raise
            _held.add(key)
        self._fd, self._key = fd, key
        try:
            os.pwrite(fd, _LOCK_CONTENT, 0)  # Java writes "lock" at position 0 and forces it
            os.fsync(fd)
        except BaseException:
            self.release()
            raise

    def _refuse_if_held_here(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        if (st.st_dev, st.st_ino) in _held:
            raise StoreLockedError(self.path)

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases it); a no-op when not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with _held_guard:
            if self._key is not None:
                _held.discard(self._key)
            self._key = None
            os.close(fd)

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _lock_or_raise(fd: int, path: Path) -> tuple[int, int]:
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0, os.SEEK_SET)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            raise StoreLockedError(path) from exc
        raise
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)
