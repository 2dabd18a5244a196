"""Process entry plumbing: logging, uvloop, signals, exit codes. Used by ``__main__`` modules only.

``run(main)`` installs uvloop when it is importable, runs ``main(stop)`` where ``stop`` is an
event set by SIGTERM or SIGINT (so a server shuts down gracefully on ``mqshutdown`` or Ctrl-C),
and turns the result into the process exit code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s - %(message)s"

Main = Callable[[asyncio.Event], Coroutine[Any, Any, int]]


def setup_logging() -> None:
    level = os.environ.get("PYRMQ_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stdout, force=True)


def run(main: Main) -> int:
    setup_logging()
    try:
        import uvloop
    except ImportError:  # a plain asyncio loop works too, just slower
        return asyncio.run(_with_signals(main))
    result: int = uvloop.run(_with_signals(main))
    return result


async def _with_signals(main: Main) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return await main(stop)
