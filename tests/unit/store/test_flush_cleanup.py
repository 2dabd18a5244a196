"""Flush services and cleanup: least pages, thorough flushes, group commit, hanged files."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pyrmq.common.clock import FakeClock
from pyrmq.store.cleanup import cleanup_decision, is_time_to_delete
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.flush import AsyncFlushService, GroupCommitService
from pyrmq.store.mapped_file_queue import MappedFileQueue
from pyrmq.store.results import PutMessageStatus

SEGMENT = 4 * 4096


def queue_with(tmp_path: Path, pages: float) -> MappedFileQueue:
    queue = MappedFileQueue(tmp_path / "commitlog", SEGMENT)
    mapped = queue.last_mapped_file(0)
    mapped.append(b"x" * int(pages * 4096))
    mapped.store_timestamp = 1234
    return queue


@pytest.fixture
def executor() -> ThreadPoolExecutor:
    pool = ThreadPoolExecutor(1)
    yield pool  # type: ignore[misc]
    pool.shutdown()


async def test_async_flush_waits_for_least_pages_then_flushes_everything_when_thorough(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    clock = FakeClock()
    config = MessageStoreConfig(
        flush_commit_log_least_pages=2, flush_commit_log_thorough_interval=10_000
    )
    queue = queue_with(tmp_path, 1.5)
    thorough: list[int] = []
    service = AsyncFlushService(queue, config, executor, clock, thorough.append)
    await service.flush_once()
    assert queue.flushed_where == 0  # one dirty page boundary crossed: below least pages
    assert queue.last is not None
    queue.last.append(b"y" * 4096)  # now 2.5 pages
    await service.flush_once()
    assert queue.flushed_where == int(2.5 * 4096)
    queue.last.append(b"z" * 10)
    clock.advance(10_000)
    await service.flush_once()  # thorough: leastPages 0, and the store time is reported
    assert queue.flushed_where == int(2.5 * 4096) + 10
    assert thorough == [1234]
    queue.shutdown()


async def test_group_commit_resolves_every_waiter_reached_by_one_flush(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    queue = queue_with(tmp_path, 0.5)
    flushed_times: list[int] = []
    service = GroupCommitService(queue, MessageStoreConfig(), executor, flushed_times.append)
    service.start()
    try:
        statuses = await asyncio.gather(*(service.wait_flushed(n) for n in (100, 1000, 2048)))
        assert statuses == [PutMessageStatus.PUT_OK] * 3
        assert queue.flushed_where >= 2048
        assert flushed_times and flushed_times[-1] == 1234
        # Already flushed: answered without waiting for the service.
        assert await service.wait_flushed(10) is PutMessageStatus.PUT_OK
    finally:
        await service.stop()
        queue.shutdown()


async def test_group_commit_waiter_in_the_next_file(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    queue = queue_with(tmp_path, 4)  # first file full
    second = queue.last_mapped_file(0)
    second.append(b"n" * 100)
    service = GroupCommitService(queue, MessageStoreConfig(), executor, lambda ts: None)
    service.start()
    try:
        assert await service.wait_flushed(SEGMENT + 100) is PutMessageStatus.PUT_OK
    finally:
        await service.stop()
        queue.shutdown()


# --------------------------------------------------------------------------- cleanup


@pytest.mark.parametrize(
    ("delete_when", "hour", "expected"),
    [("04", 4, True), ("04", 5, False), ("01;04;23", 23, True), ("", 4, False), ("4", 4, True)],
)
def test_delete_when_hours(delete_when: str, hour: int, expected: bool) -> None:
    assert is_time_to_delete(delete_when, hour) is expected


@pytest.mark.parametrize(
    ("used", "hour", "delete", "immediately", "full"),
    [
        (0.50, 12, False, False, False),  # nothing to do
        (0.50, 4, True, False, False),  # deleteWhen hour: expired files only
        (0.80, 12, True, False, False),  # over diskMaxUsedSpaceRatio 75
        (0.86, 12, True, True, False),  # over the forced-cleanup ratio 85: any age
        (0.91, 12, True, True, True),  # over the warning level 90: puts refused too
    ],
)
def test_cleanup_decision_table(
    used: float, hour: int, delete: bool, immediately: bool, full: bool
) -> None:
    decision = cleanup_decision(MessageStoreConfig(), hour, used)
    assert (decision.delete, decision.clean_immediately, decision.disk_full) == (
        delete,
        immediately,
        full,
    )


def test_disk_max_used_space_ratio_is_clamped() -> None:
    assert cleanup_decision(MessageStoreConfig(disk_max_used_space_ratio=99), 12, 0.96).delete
    assert not cleanup_decision(MessageStoreConfig(disk_max_used_space_ratio=1), 12, 0.09).delete
    assert not cleanup_decision(
        MessageStoreConfig(clean_file_forcibly_enable=False), 12, 0.88
    ).clean_immediately


def test_deleting_a_segment_a_reader_still_holds(tmp_path: Path) -> None:
    queue = MappedFileQueue(tmp_path / "commitlog", 4096)
    first = queue.last_mapped_file(0)
    first.append(b"a" * 4096)
    queue.last_mapped_file(0).append(b"b" * 10)
    reader = first.slice(0, 16)  # a pull response still being written out
    assert queue.delete_expired_by_time(0, 2**62, clean_immediately=True) == 1
    assert not first.path.exists()  # the file is gone from the directory at once
    assert bytes(reader) == b"a" * 16  # and the reader's bytes stay valid
    assert queue.retry_hanged() == 0
    reader.release()
    assert queue.retry_hanged() == 1
    assert queue.hanged == []
    queue.shutdown()
