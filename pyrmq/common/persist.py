"""Small files written crash-safely: temp file, fsync, rename, fsync the directory; .bak kept.

The one way pyrmq writes its JSON metadata (kvConfig.json, topics.json, offsets, ...). Mirrors
RocketMQ's ``ConfigManager.persist``/``MixAll.string2File`` (tmp, then .bak, then rename) but
with the fsyncs Java leaves out, so a crash leaves either the old or the new file, never a torn
one. ``load`` falls back to the .bak copy when the main file is missing or unreadable.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def write_atomic(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data``; the previous content is kept as ``path.bak``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if path.exists():
        os.replace(path, path.with_name(path.name + ".bak"))
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load(path: str | Path, parse: Callable[[bytes], T]) -> T | None:
    """Parse ``path``, or its .bak when it is missing or does not parse; None if neither does."""
    path = Path(path)
    for candidate in (path, path.with_name(path.name + ".bak")):
        try:
            return parse(candidate.read_bytes())
        except FileNotFoundError:
            continue
        except ValueError:
            continue
    return None
