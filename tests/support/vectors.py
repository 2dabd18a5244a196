"""Locates and loads the shared protocol vectors (../shared/spec/vectors beside the checkout)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
VECTORS = SHARED / "spec" / "vectors"
CLIENTS = VECTORS / "clients"
TUTORIAL = SHARED / "tutorial"


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is missing: the shared spec folder is not beside this checkout")
    return path


def hex_bytes(name: str) -> bytes:
    text = require(VECTORS / name).read_text()
    return bytes.fromhex("".join(text.split()))


def client_frames() -> list[dict[str, Any]]:
    """Every captured client frame: the decoded fields and the exact frameHex."""
    if not CLIENTS.exists():
        return []
    frames = []
    for path in sorted(CLIENTS.glob("*.jsonl")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            record = json.loads(line)
            record["_id"] = f"{path.stem}:{number}"
            frames.append(record)
    return frames
