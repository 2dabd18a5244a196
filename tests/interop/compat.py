"""The compatibility matrix: interop test outcomes as docs/compatibility.md.

Each interop test carries ``@pytest.mark.compat(feature=..., client=..., server=...)``. The
interop conftest records every such test's outcome in ``.cache/interop/compat.json`` (cells from
earlier runs that this run did not touch are kept, so a partial run updates only its cells)
and renders the Markdown matrix from it: rows = features, columns = client → server pairs, a
cell = pass / FAIL / skip of the last run that ran it, with its date.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.support.vectors import REPO

RESULTS = REPO / ".cache" / "interop" / "compat.json"
DOC = REPO / "docs" / "compatibility.md"

NOTES = """\
## Notes

- **Versions.** Java: Apache RocketMQ 4.9.7 (client, tools, NameServer and Broker from Maven
  Central; the newest 4.9.x whose broker jar is served here). Go: rocketmq-client-go v2. Node:
  ali-ons 3.12.0. C++: the rocketmq-client-cpp 1.x core as bundled in the PyPI `rocketmq` 0.4.4
  wheel, and the 2.1.0 core as bundled in the PyPI `rocketmq-python-cvs` 2.1.0.3 sdist (run with
  message trace on: with it off, that core dereferences a null trace producer when a consumer
  shuts down, fixed upstream in 2.2.0).
- **ali-ons cannot send to a topic the NameServer does not know**: it has no TBW102 fallback
  (ali-sdk/ali-ons#90), against the Java NameServer too; its tests create topics first.
- **A consumer of a topic that does not exist yet** learns its route at the next route poll
  (30 s) in the Java client, against Java and pyrmq alike; the Java scenarios send first.
- **The Java 4.9 broker on Java 17** needs `--add-opens`/`--add-exports` for `java.nio`,
  `sun.nio.ch` and `jdk.internal.ref`, or its shutdown fails half-way (no offsets persisted).
- **Go client, oneway then exit: known FAIL (a race).** rocketmq-client-go v2 sends "oneway"
  as an ordinary request (no oneway flag), and its `Shutdown` closes the socket right after the
  last write without reading the answers. An answer that arrived and is still unread at that
  moment makes Linux reset the connection instead of closing it, and the client's kernel drops
  whatever it had not sent yet. The Java broker answers within microseconds, so no answer is
  pending when the client closes and all ten arrive. pyrmq, slower to answer, sometimes has an
  answer land just then and loses the last requests (6 of 8 runs passed). Requests that did
  reach the broker before the reset are all served: server connections read what is left in
  the socket after a reset and dispatch it (this was a second loss, now fixed). Oneway sends on
  a connection that stays open all arrive (the other oneway cells).
- **Java 4.9 servers bind every interface** (no bind-address setting before 5.x); the tests
  only ever connect through 127.0.0.1.
"""


@dataclass(frozen=True)
class Cell:
    feature: str
    pair: str
    outcome: str  # "pass", "FAIL", "FAIL (known)" (an xfail, explained below) or "skip"
    when: str
    commit: str


def pair_of(client: str, server: str) -> str:
    return f"{client} → {server}"


def load(path: Path = RESULTS) -> dict[tuple[str, str], Cell]:
    if not path.exists():
        return {}
    cells = [Cell(**raw) for raw in json.loads(path.read_text())]
    return {(c.feature, c.pair): c for c in cells}


def save(cells: dict[tuple[str, str], Cell], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [c.__dict__ for c in sorted(cells.values(), key=lambda c: (c.pair, c.feature))]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def current_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(cells: dict[tuple[str, str], Cell]) -> str:
    """The Markdown page: one table, features down, client → server pairs across."""
    pairs = sorted({c.pair for c in cells.values()}, key=str.casefold)
    features = sorted({c.feature for c in cells.values()}, key=str.casefold)
    passed = sum(c.outcome == "pass" for c in cells.values())
    runs = sorted({(c.when, c.commit) for c in cells.values()})
    lines = [
        "# Compatibility matrix",
        "",
        "Produced by the interop tests (`tests/interop/`, run by `make test`) from their last",
        "run: each cell is the outcome of the test marked with that feature and client → server",
        "pair; `—` means no test of that combination. Do not edit by hand: "
        "`tests/interop/compat.py` writes it.",
        "",
        f"{passed} of {len(cells)} cells pass. Runs: "
        + ", ".join(f"{when} at {commit}" for when, commit in runs)
        + ".",
        "",
        "| feature | " + " | ".join(pairs) + " |",
        "|---|" + "---|" * len(pairs),
    ]
    for feature in features:
        row = [cells[(feature, p)].outcome if (feature, p) in cells else "—" for p in pairs]
        lines.append(f"| {feature} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n\n" + NOTES


def record(outcomes: list[tuple[str, str, str, str]], doc: Path = DOC) -> None:
    """Merge this run's ``(feature, client, server, outcome)`` into the results; rewrite the doc."""
    cells = load()
    when, commit = now(), current_commit()
    for feature, client, server, outcome in outcomes:
        pair = pair_of(client, server)
        cells[(feature, pair)] = Cell(feature, pair, outcome, when, commit)
    save(cells)
    doc.write_text(render(cells))
