"""Service: a background loop that owns its tasks and cancels and awaits them on stop.

Mirrors RocketMQ's ``ServiceThread`` (and ``ScheduledExecutorService`` uses) for asyncio: no
bare ``create_task`` anywhere else; every task is created through a service, and a crash of one
is logged with the service's name instead of vanishing.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskGroup:
    """A set of owned tasks: spawn, and on close cancel and await every one still running."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self.name} is closed")
        task = asyncio.get_running_loop().create_task(coro, name=name or self.name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task %s failed", self.name, task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the running tasks to finish; True if they all did."""
        tasks = list(self._tasks)
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        return not pending

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class PeriodicTask:
    """Runs ``action`` every ``interval_s`` after ``initial_delay_s``; errors are logged."""

    def __init__(
        self,
        name: str,
        action: Callable[[], Awaitable[object] | object],
        interval_s: float,
        initial_delay_s: float = 0.0,
    ) -> None:
        self.name = name
        self._action = action
        self._interval_s = interval_s
        self._initial_delay_s = initial_delay_s
        self._group = TaskGroup(name)

    def start(self) -> None:
        self._group.spawn(self._run(), self.name)

    async def _run(self) -> None:
        await asyncio.sleep(self._initial_delay_s)
        while True:
            try:
                result = self._action()
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: periodic action failed", self.name)
            await asyncio.sleep(self._interval_s)

    async def stop(self) -> None:
        await self._group.close()
