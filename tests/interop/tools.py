"""Where the interop drivers live once built, what a test does when one is missing, and how a
driver run's JSON lines come back.

``tests/interop/<kind>/build.sh`` (run by ``make test`` through ``build-all.sh``) leaves each
driver under ``.cache/interop/<kind>/``. A test asks for its driver here: present, it gets the
path; absent, the test fails when ``PYRMQ_INTEROP_REQUIRED=1`` (CI, where every toolchain must
be there) and is skipped with the reason otherwise (a machine without Java, Go or Node).

Every driver prints one JSON object per line with an ``event`` name; ``run_events`` runs one to
its end (killed past its timeout) and fails the test, with what it printed, on another exit.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.vectors import REPO

CACHE = REPO / ".cache" / "interop"

Event = dict[str, Any]
_names = itertools.count()


def unique(prefix: str) -> str:
    """A topic or group name no other test (nor an earlier run on the same broker) uses."""
    return f"{prefix}{os.getpid()}_{next(_names)}"


def parse_events(stdout: str) -> list[Event]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def of(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.get("event") == kind]


def run_events(
    what: str,
    command: Sequence[str],
    timeout_s: float,
    *,
    exit_codes: tuple[int, ...] = (0,),
    env: Mapping[str, str] | None = None,
) -> list[Event]:
    """The events ``command`` printed; fails the test (naming ``what``) past ``timeout_s`` or on
    an exit code not in ``exit_codes``."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False, env=env
        )
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed it
        pytest.fail(f"{what} ran past {timeout_s}s; stdout: {exc.stdout!r}")
    if done.returncode not in exit_codes:
        pytest.fail(
            f"{what} exited {done.returncode}\nstdout:\n{done.stdout[-6000:]}\n"
            f"stderr:\n{done.stderr[-6000:]}"
        )
    return parse_events(done.stdout)


def required() -> bool:
    return os.environ.get("PYRMQ_INTEROP_REQUIRED") == "1"


def driver(kind: str, relative: str) -> Path:
    """The built artifact ``.cache/interop/<kind>/<relative>``; fail or skip when missing."""
    path = CACHE / kind / relative
    if not path.exists():
        reason = (
            f"the {kind} interop driver is not built ({path} missing): "
            f"run `sh tests/interop/{kind}/build.sh` (needs its toolchain)"
        )
        if required():
            pytest.fail(reason)
        pytest.skip(reason)
    return path
