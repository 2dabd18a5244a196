"""common.service: TaskGroup (owned tasks, cancelled and awaited on close) and PeriodicTask."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from pyrmq.common.service import PeriodicTask, TaskGroup

LOGGER = "pyrmq.common.service"
TINY = 0.001


async def wait_until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    """Poll with tiny sleeps; fail (not hang) if ``condition`` never holds."""
    async with asyncio.timeout(timeout_s):
        for _ in range(int(timeout_s / TINY)):
            if condition():
                return
            await asyncio.sleep(TINY)
    raise AssertionError("condition never held")


async def settle() -> None:
    """Let ready callbacks (task completion, done callbacks) run."""
    for _ in range(5):
        await asyncio.sleep(0)


# ===================================================================================== TaskGroup


async def test_spawn_runs_task_and_forgets_it_when_done() -> None:
    group = TaskGroup("svc")
    done = asyncio.Event()

    async def work() -> int:
        done.set()
        return 42

    task = group.spawn(work(), name="worker")
    assert task.get_name() == "worker"
    assert len(group) == 1

    assert await task == 42
    await settle()
    assert done.is_set()
    assert len(group) == 0
    await group.close()


async def test_spawn_default_name_is_group_name() -> None:
    group = TaskGroup("my-service")
    task = group.spawn(asyncio.sleep(0))
    assert task.get_name() == "my-service"
    await group.close()


async def test_close_cancels_and_awaits_running_tasks() -> None:
    group = TaskGroup("svc")
    started = [asyncio.Event(), asyncio.Event()]
    cleaned: list[int] = []

    async def forever(i: int) -> None:
        try:
            started[i].set()
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.append(i)

    tasks = [group.spawn(forever(i)) for i in range(2)]
    await asyncio.gather(*(event.wait() for event in started))

    await group.close()

    # close() returned only after every task finished its cleanup.
    assert sorted(cleaned) == [0, 1]
    assert all(task.cancelled() for task in tasks)
    assert len(group) == 0


async def test_close_without_tasks_and_twice() -> None:
    group = TaskGroup("svc")
    await group.close()
    await group.close()
    assert len(group) == 0


async def test_close_after_tasks_finished_or_failed() -> None:
    """A task that already finished (or failed) does not make close() raise."""
    group = TaskGroup("svc")

    async def boom() -> None:
        raise RuntimeError("early failure")

    async def ok() -> str:
        return "ok"

    group.spawn(boom())
    group.spawn(ok())
    await settle()

    await group.close()


async def test_failed_task_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    group = TaskGroup("svc-x")

    async def boom() -> None:
        raise ValueError("kaput")

    task = group.spawn(boom(), name="boomer")
    await wait_until(task.done)
    await settle()

    records = [r for r in caplog.records if r.name == LOGGER]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.ERROR
    assert "svc-x" in record.getMessage()
    assert "boomer" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    assert len(group) == 0
    await group.close()  # does not re-raise the failure


async def test_cancelled_task_is_not_logged_as_failure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    group = TaskGroup("svc")
    task = group.spawn(asyncio.Event().wait())
    await settle()

    task.cancel()
    await wait_until(task.done)
    await settle()
    await group.close()

    assert [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.ERROR] == []


async def test_spawn_after_close_raises_and_closes_coroutine() -> None:
    group = TaskGroup("closed-svc")
    await group.close()

    async def never() -> None:  # pragma: no cover - must not run
        raise AssertionError("ran after close")

    coro = never()
    with pytest.raises(RuntimeError, match="closed-svc"):
        group.spawn(coro)
    # Closed, so no "coroutine was never awaited" warning (an error under filterwarnings).
    assert coro.cr_frame is None
    assert len(group) == 0


async def test_spawn_in_a_task_while_closing_is_refused() -> None:
    group = TaskGroup("svc")
    outcome: list[str] = []

    async def spawner() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            try:
                group.spawn(asyncio.sleep(0))
            except RuntimeError:
                outcome.append("refused")

    group.spawn(spawner())
    await settle()
    await group.close()

    assert outcome == ["refused"]


# ===================================================================================== PeriodicTask


async def test_periodic_runs_repeatedly_and_stop_cancels() -> None:
    calls: list[int] = []
    periodic = PeriodicTask("tick", lambda: calls.append(1), interval_s=TINY)
    periodic.start()

    await wait_until(lambda: len(calls) >= 3)
    await periodic.stop()

    count = len(calls)
    await asyncio.sleep(5 * TINY)
    assert len(calls) == count  # nothing after stop


async def test_periodic_survives_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    calls: list[int] = []

    def action() -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError(f"failure {len(calls)}")

    periodic = PeriodicTask("flaky", action, interval_s=TINY)
    periodic.start()
    await wait_until(lambda: len(calls) >= 4)
    await periodic.stop()

    failures = [r for r in caplog.records if r.name == LOGGER]
    assert len(failures) == 2
    for record in failures:
        assert "flaky" in record.getMessage()
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)


async def test_periodic_async_action_is_awaited(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    finished: list[int] = []

    async def action() -> None:
        await asyncio.sleep(0)
        finished.append(1)
        if len(finished) == 1:
            raise ValueError("async failure")

    periodic = PeriodicTask("async-tick", action, interval_s=TINY)
    periodic.start()
    await wait_until(lambda: len(finished) >= 3)
    await periodic.stop()

    failures = [r for r in caplog.records if r.name == LOGGER]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert isinstance(failures[0].exc_info[1], ValueError)


async def test_periodic_runs_are_sequential() -> None:
    """The next run starts only after the previous (async) one has finished."""
    running = 0
    overlaps = 0
    runs = 0

    async def action() -> None:
        nonlocal running, overlaps, runs
        running += 1
        overlaps += running > 1
        await asyncio.sleep(TINY)
        running -= 1
        runs += 1

    periodic = PeriodicTask("seq", action, interval_s=0)
    periodic.start()
    await wait_until(lambda: runs >= 3)
    await periodic.stop()

    assert overlaps == 0


async def test_periodic_initial_delay_and_stop_before_first_run() -> None:
    calls: list[int] = []
    periodic = PeriodicTask("delayed", lambda: calls.append(1), interval_s=TINY, initial_delay_s=60)
    periodic.start()
    await asyncio.sleep(5 * TINY)

    async with asyncio.timeout(1):
        await periodic.stop()
    assert calls == []


async def test_periodic_stop_cancels_a_running_action() -> None:
    entered = asyncio.Event()
    cancelled: list[bool] = []

    async def slow() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    periodic = PeriodicTask("slow", slow, interval_s=TINY)
    periodic.start()
    await asyncio.wait_for(entered.wait(), 1)

    async with asyncio.timeout(1):
        await periodic.stop()
    assert cancelled == [True]


async def test_periodic_stop_without_start() -> None:
    periodic = PeriodicTask("idle", lambda: None, interval_s=TINY)
    await periodic.stop()
