"""Where the interop drivers live once built, and what a test does when one is missing.

``tests/interop/<kind>/build.sh`` (run by ``make test`` through ``build-all.sh``) leaves each
driver under ``.cache/interop/<kind>/``. A test asks for its driver here: present, it gets the
path; absent, the test fails when ``PYRMQ_INTEROP_REQUIRED=1`` (CI, where every toolchain must
be there) and is skipped with the reason otherwise (a machine without Java, Go or Node).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.vectors import REPO

CACHE = REPO / ".cache" / "interop"


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
