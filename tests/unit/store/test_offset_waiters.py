"""OffsetWaiters: released by a rising mark, expired by the sweep, failed all at once."""

from __future__ import annotations

import asyncio

from pyrmq.store.offset_waiters import OffsetWaiters
from pyrmq.store.results import PutMessageStatus


async def test_a_mark_releases_every_wait_at_or_below_it() -> None:
    waiters = OffsetWaiters(5.0, PutMessageStatus.FLUSH_SLAVE_TIMEOUT)
    tasks = [asyncio.create_task(waiters.wait(offset)) for offset in (30, 10, 20)]
    await asyncio.sleep(0)
    waiters.release(20)
    await asyncio.sleep(0)
    assert [t.done() for t in tasks] == [False, True, True]
    assert len(waiters) == 1
    waiters.release(30)
    assert [await t for t in tasks] == [PutMessageStatus.PUT_OK] * 3
    assert len(waiters) == 0


async def test_a_wait_past_its_timeout_gets_the_timeout_status() -> None:
    waiters = OffsetWaiters(0.01, PutMessageStatus.OS_PAGECACHE_BUSY)
    assert await waiters.wait(100) is PutMessageStatus.OS_PAGECACHE_BUSY
    assert len(waiters) == 0


async def test_fail_all_answers_every_wait_and_stops_the_sweep() -> None:
    waiters = OffsetWaiters(5.0, PutMessageStatus.FLUSH_SLAVE_TIMEOUT)
    tasks = [asyncio.create_task(waiters.wait(offset)) for offset in (1, 2)]
    await asyncio.sleep(0)
    waiters.fail_all(PutMessageStatus.SLAVE_NOT_AVAILABLE)
    assert [await t for t in tasks] == [PutMessageStatus.SLAVE_NOT_AVAILABLE] * 2
    assert waiters._sweep is None
