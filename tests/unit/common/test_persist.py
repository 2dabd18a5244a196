"""common.persist: crash-safe writes with a .bak of the previous content, and loads that fall back
to the .bak (RocketMQ's MixAll.string2File / ConfigManager.loadBak)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrmq.common import persist


def bak(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def parse_json(data: bytes) -> object:
    return json.loads(data)  # json.JSONDecodeError is a ValueError


# ===================================================================================== write_atomic


def test_write_creates_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c" / "config.json"

    persist.write_atomic(target, b"{}")

    assert target.read_bytes() == b"{}"
    assert names(target.parent) == ["config.json"]  # first write: no .bak, no .tmp


def test_write_accepts_str_path(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    persist.write_atomic(str(target), b"1")
    assert target.read_bytes() == b"1"


def test_write_keeps_previous_content_as_bak(tmp_path: Path) -> None:
    target = tmp_path / "topics.json"

    persist.write_atomic(target, b"first")
    persist.write_atomic(target, b"second")
    assert (target.read_bytes(), bak(target).read_bytes()) == (b"second", b"first")

    persist.write_atomic(target, b"third")
    assert (target.read_bytes(), bak(target).read_bytes()) == (b"third", b"second")
    assert names(tmp_path) == ["topics.json", "topics.json.bak"]


def test_write_replaces_stale_tmp_from_a_crash(tmp_path: Path) -> None:
    target = tmp_path / "offsets.json"
    persist.write_atomic(target, b"good")
    target.with_name("offsets.json.tmp").write_bytes(b"half-written garbage that is longer")

    persist.write_atomic(target, b"new")

    assert target.read_bytes() == b"new"
    assert bak(target).read_bytes() == b"good"
    assert names(tmp_path) == ["offsets.json", "offsets.json.bak"]


def test_write_empty_and_binary_data(tmp_path: Path) -> None:
    target = tmp_path / "f"
    data = bytes(range(256))
    persist.write_atomic(target, b"")
    persist.write_atomic(target, data)
    assert target.read_bytes() == data
    assert bak(target).read_bytes() == b""


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=5))
def test_write_sequence_main_is_last_bak_is_previous(contents: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "sub" / "data.json"
        for content in contents:
            persist.write_atomic(target, content)

        assert target.read_bytes() == contents[-1]
        if len(contents) > 1:
            assert bak(target).read_bytes() == contents[-2]
        else:
            assert not bak(target).exists()
        assert not target.with_name("data.json.tmp").exists()


# ===================================================================================== load


@pytest.mark.parametrize(
    ("main", "backup", "expected"),
    [
        pytest.param(b'{"v": 1}', b'{"v": 0}', {"v": 1}, id="main-ok"),
        pytest.param(b'{"v": 1}', None, {"v": 1}, id="main-ok-no-bak"),
        pytest.param(None, b'{"v": 0}', {"v": 0}, id="main-missing"),
        pytest.param(b"{broken", b'{"v": 0}', {"v": 0}, id="main-corrupt"),
        pytest.param(b"", b'{"v": 0}', {"v": 0}, id="main-empty"),
        pytest.param(None, None, None, id="neither-exists"),
        pytest.param(b"{broken", None, None, id="main-corrupt-no-bak"),
        pytest.param(None, b"{broken", None, id="main-missing-bak-corrupt"),
        pytest.param(b"{broken", b"also broken", None, id="both-corrupt"),
    ],
)
def test_load_fallback_table(
    tmp_path: Path, main: bytes | None, backup: bytes | None, expected: object
) -> None:
    target = tmp_path / "config.json"
    if main is not None:
        target.write_bytes(main)
    if backup is not None:
        bak(target).write_bytes(backup)

    assert persist.load(target, parse_json) == expected
    assert persist.load(str(target), parse_json) == expected


def test_load_passes_raw_bytes_to_parse(tmp_path: Path) -> None:
    target = tmp_path / "raw"
    target.write_bytes(b"\x00\xffabc")
    seen: list[object] = []

    def parse(data: bytes) -> int:
        seen.append(data)
        return len(data)

    assert persist.load(target, parse) == 5
    assert seen == [b"\x00\xffabc"]


def test_load_rejecting_parser_value_error_falls_back(tmp_path: Path) -> None:
    """A parser may reject well-formed data by raising ValueError (e.g. wrong shape)."""
    target = tmp_path / "c.json"
    persist.write_atomic(target, b'{"version": 1}')
    persist.write_atomic(target, b"[]")

    def parse_object(data: bytes) -> dict[str, int]:
        value = json.loads(data)
        if not isinstance(value, dict):
            raise ValueError("not an object")
        return value

    assert persist.load(target, parse_object) == {"version": 1}


def test_write_then_load_roundtrip(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "k.json"
    persist.write_atomic(target, b'{"a": [1, 2]}')
    assert persist.load(target, parse_json) == {"a": [1, 2]}
