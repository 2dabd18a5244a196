"""The compatibility matrix renderer (tests/interop/compat.py): cells to a Markdown table."""

from __future__ import annotations

from pathlib import Path

from tests.interop import compat
from tests.interop.compat import Cell


def cell(feature: str, pair: str, outcome: str = "pass") -> Cell:
    return Cell(feature, pair, outcome, "2026-11-29 12:00 UTC", "abc1234")


def test_rows_are_features_columns_pairs_and_gaps_are_dashes() -> None:
    cells = {
        (c.feature, c.pair): c
        for c in [
            cell("sync send", "Go → pyrmq"),
            cell("sync send", "Java → pyrmq"),
            cell("oneway send", "Go → pyrmq", "FAIL (known)"),
            cell("Batch send", "Java → pyrmq", "FAIL"),
        ]
    }
    page = compat.render(cells)
    assert "| feature | Go → pyrmq | Java → pyrmq |" in page
    rows = [line for line in page.splitlines() if line.startswith("| ") and "feature" not in line]
    assert rows == [
        "| Batch send | — | FAIL |",
        "| oneway send | FAIL (known) | — |",
        "| sync send | pass | pass |",
    ]
    assert "2 of 4 cells pass. Runs: 2026-11-29 12:00 UTC at abc1234." in page


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "compat.json"
    cells = {("f", "p"): cell("f", "p"), ("g", "p"): cell("g", "p", "skip")}
    compat.save(cells, path)
    assert compat.load(path) == cells
    assert compat.load(tmp_path / "missing.json") == {}


def test_pair_names_client_then_server() -> None:
    assert compat.pair_of("Go", "pyrmq") == "Go → pyrmq"
