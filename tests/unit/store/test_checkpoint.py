"""store.checkpoint: the checkpoint page, the abort marker and the lock file (store.md §5.1–5.2)."""

from __future__ import annotations

import logging
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrmq.store.checkpoint import (
    CHECKPOINT_FILE_SIZE,
    StoreCheckpoint,
    StoreLock,
    StoreLockedError,
    abort_file_exists,
    create_abort_file,
    delete_abort_file,
)

NOW = 1_700_000_000_000


def read_longs(path: Path) -> dict[int, int]:
    """The five fields decoded independently of the module: offset → big-endian long."""
    data = path.read_bytes()
    return {offset: struct.unpack_from(">q", data, offset)[0] for offset in (0, 8, 16, 24, 32)}


def java_checkpoint(path: Path, *values: int, tail: bytes = b"") -> None:
    """A checkpoint as Java leaves it: the longs (zeros up to byte 40), then ``tail``."""
    head = b"".join(value.to_bytes(8, "big", signed=True) for value in values).ljust(40, b"\0")
    path.write_bytes((head + tail).ljust(CHECKPOINT_FILE_SIZE, b"\0"))


# ----------------------------------------------------------------------------------- checkpoint


def test_new_checkpoint_is_a_zeroed_page(tmp_path: Path) -> None:
    path = tmp_path / "store" / "checkpoint"
    with StoreCheckpoint(path, now_ms=NOW) as cp:
        assert (cp.physic_msg_timestamp, cp.logics_msg_timestamp, cp.index_msg_timestamp) == (
            0,
            0,
            0,
        )
        assert (cp.master_flushed_offset, cp.confirm_phy_offset) == (0, 0)
        assert path.stat().st_size == CHECKPOINT_FILE_SIZE
    assert path.read_bytes() == b"\0" * CHECKPOINT_FILE_SIZE


def test_flush_writes_each_field_at_its_offset(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    cp = StoreCheckpoint(path, now_ms=NOW)
    cp.physic_msg_timestamp = NOW - 1
    cp.logics_msg_timestamp = NOW - 2
    cp.index_msg_timestamp = NOW - 3
    cp.master_flushed_offset = 1 << 40
    cp.confirm_phy_offset = 12345
    cp.flush()

    assert read_longs(path) == {0: NOW - 1, 8: NOW - 2, 16: NOW - 3, 24: 1 << 40, 32: 12345}
    assert path.stat().st_size == CHECKPOINT_FILE_SIZE
    cp.close()


def test_reads_a_java_written_page_and_leaves_the_rest_alone(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    java_checkpoint(path, NOW - 10, NOW - 20, NOW - 30, tail=b"unrelated bytes")
    with StoreCheckpoint(path, now_ms=NOW) as cp:
        assert cp.physic_msg_timestamp == NOW - 10
        assert cp.logics_msg_timestamp == NOW - 20
        assert cp.index_msg_timestamp == NOW - 30
        assert (cp.master_flushed_offset, cp.confirm_phy_offset) == (0, 0)
        cp.physic_msg_timestamp = NOW - 5
    data = path.read_bytes()
    assert read_longs(path)[0] == NOW - 5
    assert data[40:55] == b"unrelated bytes"
    assert len(data) == CHECKPOINT_FILE_SIZE


def test_5x_offsets_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    java_checkpoint(path, 1, 2, 3, 4444, 5555)
    with StoreCheckpoint(path, now_ms=NOW) as cp:
        assert (cp.master_flushed_offset, cp.confirm_phy_offset) == (4444, 5555)
    assert read_longs(path) == {0: 1, 8: 2, 16: 3, 24: 4444, 32: 5555}


def test_short_file_is_extended_with_zeros(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    path.write_bytes((NOW - 1).to_bytes(8, "big") + b"\x00\x00")
    with StoreCheckpoint(path, now_ms=NOW) as cp:
        assert (cp.physic_msg_timestamp, cp.logics_msg_timestamp) == (NOW - 1, 0)
    assert path.stat().st_size == CHECKPOINT_FILE_SIZE


@pytest.mark.parametrize(
    ("physic", "logics", "index", "min_ts", "min_ts_index"),
    [
        (0, 0, 0, 0, 0),
        (5000, 10_000, 0, 2000, 0),
        (10_000, 5000, 9000, 2000, 2000),
        (10_000, 5000, 1000, 2000, 1000),
        (2999, 9000, 50, 0, 0),
        (3000, 3000, 7, 0, 0),
        (NOW - 10_000, NOW - 5000, NOW - 20_000, NOW - 13_000, NOW - 20_000),
    ],
)
def test_min_timestamps(
    tmp_path: Path, physic: int, logics: int, index: int, min_ts: int, min_ts_index: int
) -> None:
    java_checkpoint(tmp_path / "checkpoint", physic, logics, index)
    with StoreCheckpoint(tmp_path / "checkpoint", now_ms=NOW) as cp:
        assert cp.min_timestamp == min_ts
        assert cp.min_timestamp_index == min_ts_index


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ((-1, NOW - 1, NOW - 1, 0, 0), (0, NOW - 1, NOW - 1, 0, 0)),
        ((NOW - 1, -(2**63), NOW - 1, 0, 0), (NOW - 1, 0, NOW - 1, 0, 0)),
        ((NOW + 1, NOW - 1, NOW - 1, 0, 0), (0, NOW - 1, NOW - 1, 0, 0)),  # from the future
        ((NOW - 1, NOW - 1, 2**63 - 1, 0, 0), (NOW - 1, NOW - 1, 0, 0, 0)),
        ((NOW, NOW, NOW, 0, 0), (NOW, NOW, NOW, 0, 0)),  # "now" is still the past
        ((1, 2, 3, -5, -6), (1, 2, 3, 0, 0)),
    ],
)
def test_garbage_values_read_as_zero(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    stored: tuple[int, ...],
    read: tuple[int, ...],
) -> None:
    java_checkpoint(tmp_path / "checkpoint", *stored)
    with (
        caplog.at_level(logging.WARNING, "pyrmq.store.checkpoint"),
        StoreCheckpoint(tmp_path / "checkpoint", now_ms=NOW) as cp,
    ):
        got = (
            cp.physic_msg_timestamp,
            cp.logics_msg_timestamp,
            cp.index_msg_timestamp,
            cp.master_flushed_offset,
            cp.confirm_phy_offset,
        )
    assert got == read
    assert (len(caplog.records) > 0) == (stored != read)


def test_garbage_timestamp_means_recovery_from_the_first_file(tmp_path: Path) -> None:
    # min_timestamp 0: no commitlog file's first record is ≤ 0, so recovery starts at the first.
    java_checkpoint(tmp_path / "checkpoint", NOW + 86_400_000, NOW - 1, NOW - 1)
    with StoreCheckpoint(tmp_path / "checkpoint", now_ms=NOW) as cp:
        assert cp.min_timestamp == 0
        assert cp.min_timestamp_index == 0


@given(st.binary(min_size=40, max_size=40))
def test_any_torn_page_opens_with_sane_values(head: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "checkpoint"
        path.write_bytes(head.ljust(CHECKPOINT_FILE_SIZE, b"\xff"))
        with StoreCheckpoint(path, now_ms=NOW) as cp:
            for value in (
                cp.physic_msg_timestamp,
                cp.logics_msg_timestamp,
                cp.index_msg_timestamp,
            ):
                assert 0 <= value <= NOW
            assert cp.master_flushed_offset >= 0
            assert cp.confirm_phy_offset >= 0
            assert 0 <= cp.min_timestamp_index <= cp.min_timestamp <= NOW


def test_default_now_is_the_wall_clock(tmp_path: Path) -> None:
    java_checkpoint(tmp_path / "checkpoint", NOW, 2**62, 0)  # 2**62 ms is far in the future
    with StoreCheckpoint(tmp_path / "checkpoint") as cp:
        assert (cp.physic_msg_timestamp, cp.logics_msg_timestamp) == (NOW, 0)


def test_close_flushes_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    cp = StoreCheckpoint(path, now_ms=NOW)
    cp.logics_msg_timestamp = 77
    cp.close()
    cp.close()
    assert cp.closed
    assert read_longs(path)[8] == 77
    with pytest.raises(ValueError, match="closed"):
        cp.flush()


def test_values_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    with StoreCheckpoint(path, now_ms=NOW) as cp:
        cp.physic_msg_timestamp, cp.logics_msg_timestamp, cp.index_msg_timestamp = 11, 22, 33
    with StoreCheckpoint(path, now_ms=NOW) as again:
        assert (again.physic_msg_timestamp, again.logics_msg_timestamp) == (11, 22)
        assert again.index_msg_timestamp == 33


# ----------------------------------------------------------------------------------- abort file


def test_abort_file_lifecycle(tmp_path: Path) -> None:
    path = tmp_path / "store" / "abort"
    assert not abort_file_exists(path)

    assert create_abort_file(path) is True
    assert abort_file_exists(path)
    assert path.read_bytes() == b""
    assert create_abort_file(path) is False  # already there: left as is

    assert delete_abort_file(path) is True
    assert not abort_file_exists(path)
    assert delete_abort_file(path) is False


# ----------------------------------------------------------------------------------- lock file

# A stand-in for another broker: takes the same POSIX lock Java's FileChannel.tryLock takes,
# reports "held" or "busy", and (when holding) keeps the lock until its stdin closes.
OTHER_BROKER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0, 0)
except OSError:
    print("busy", flush=True)
    sys.exit(0)
print("held", flush=True)
sys.stdin.read()
"""


def other_process_try_lock(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", OTHER_BROKER, str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=True,
    )
    return done.stdout.decode().strip()


class OtherBroker:
    """A second process holding the lock until ``stop``."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", OTHER_BROKER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        self.state = self.proc.stdout.readline().decode().strip()

    def stop(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


def test_lock_excludes_another_process_until_released(tmp_path: Path) -> None:
    path = tmp_path / "store" / "lock"
    lock = StoreLock(path)
    lock.acquire()
    assert lock.locked
    assert other_process_try_lock(path) == "busy"

    lock.release()
    assert not lock.locked
    assert other_process_try_lock(path) == "held"


def test_acquire_fails_clearly_when_another_process_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    other = OtherBroker(path)
    try:
        assert other.state == "held"
        with pytest.raises(StoreLockedError, match="Lock failed, MQ already started") as info:
            StoreLock(path).acquire()
        assert str(info.value) == f"Lock failed, MQ already started: {path}"
        assert info.value.path == path
    finally:
        other.stop()
    with StoreLock(path) as lock:  # the other broker is gone: free again
        assert lock.locked


def test_lock_writes_lock_at_the_start_without_truncating(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.write_bytes(b"XXXXXXXX")
    with StoreLock(path):
        assert path.read_bytes() == b"lockXXXX"
    new = tmp_path / "fresh" / "lock"
    with StoreLock(new):
        assert new.read_bytes() == b"lock"


def test_second_lock_in_the_same_process_is_refused_and_keeps_the_first(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    with StoreLock(path) as first:
        with pytest.raises(StoreLockedError):
            StoreLock(path).acquire()
        # POSIX locks vanish when any descriptor of the file closes; the refusal must not
        # have opened one.
        assert first.locked
        assert other_process_try_lock(path) == "busy"
    assert other_process_try_lock(path) == "held"


def test_acquire_and_release_are_idempotent(tmp_path: Path) -> None:
    lock = StoreLock(tmp_path / "lock")
    lock.release()
    lock.acquire()
    lock.acquire()
    assert other_process_try_lock(tmp_path / "lock") == "busy"
    lock.release()
    lock.release()
    assert other_process_try_lock(tmp_path / "lock") == "held"


def test_other_failures_are_os_errors_not_lock_errors(tmp_path: Path) -> None:
    (tmp_path / "lock").mkdir()  # a directory where the lock file should be
    lock = StoreLock(tmp_path / "lock")
    with pytest.raises(IsADirectoryError):
        lock.acquire()
    assert not lock.locked
