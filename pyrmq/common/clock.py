"""Time as an injectable dependency: wall-clock milliseconds and a monotonic clock.

Pure code takes ``now_ms`` as an argument; services take a ``Clock`` so tests can move time
(``FakeClock``) instead of sleeping. Mirrors the uses of ``System.currentTimeMillis`` in RocketMQ.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock time in milliseconds since the epoch (store and liveness timestamps)."""
        ...

    def monotonic_s(self) -> float:
        """Seconds on a clock that never goes back (deadlines)."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic_s(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = now_ms
        self._monotonic_s = 0.0

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic_s(self) -> float:
        return self._monotonic_s

    def advance(self, ms: int) -> None:
        self._now_ms += ms
        self._monotonic_s += ms / 1000
