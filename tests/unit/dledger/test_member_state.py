"""FileTermStore: DLedger's ``currterm`` file (currTerm, voteLeader), fsynced on save."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrmq.dledger.log_store import TermStore
from pyrmq.dledger.member_state import FileTermStore, decode_term_file, encode_term_file


def test_missing_file_is_term_zero_without_vote(tmp_path: Path) -> None:
    store: TermStore = FileTermStore(tmp_path / "dledger-n0")
    assert (store.term, store.voted_for) == (0, None)
    assert not (tmp_path / "dledger-n0" / "currterm").exists()


def test_save_writes_dledger_text_and_reloads(tmp_path: Path) -> None:
    store = FileTermStore(tmp_path)
    store.save(3, "n1")
    assert (store.term, store.voted_for) == (3, "n1")
    assert (tmp_path / "currterm").read_text() == "currTerm=3\nvoteLeader=n1\n"
    assert (FileTermStore(tmp_path).term, FileTermStore(tmp_path).voted_for) == (3, "n1")
    store.save(4, None)
    assert (tmp_path / "currterm").read_text() == "currTerm=4\nvoteLeader=\n"
    assert (tmp_path / "currterm.bak").read_text() == "currTerm=3\nvoteLeader=n1\n"
    reloaded = FileTermStore(tmp_path)
    assert (reloaded.term, reloaded.voted_for) == (4, None)
    store.save(4, "")  # DLedger's empty vote is no vote
    assert store.voted_for is None


def test_term_never_goes_down(tmp_path: Path) -> None:
    store = FileTermStore(tmp_path)
    store.save(5, "n0")
    with pytest.raises(ValueError, match="term"):
        store.save(4, "n1")
    assert (store.term, store.voted_for) == (5, "n0")
    store.save(5, "n2")  # same term: the core decides about the vote
    assert FileTermStore(tmp_path).voted_for == "n2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("currTerm=7\nvoteLeader=n2\n", (7, "n2")),
        ("voteLeader=n2\ncurrTerm=7\n", (7, "n2")),  # Hashtable order: any
        ("#comment\ncurrTerm = 7\r\nvoteLeader:n2", (7, "n2")),
        ("currTerm=7\nvoteLeader=\n", (7, None)),
        ("currTerm=7\n", (7, None)),
        ("voteLeader=n1\n", (0, "n1")),
        ("", (0, None)),
    ],
)
def test_decode_java_written_files(text: str, expected: tuple[int, str | None]) -> None:
    assert decode_term_file(text.encode()) == expected


@pytest.mark.parametrize("text", ["currTerm=x\n", "currTerm=-1\n", "currTerm=\n"])
def test_decode_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        decode_term_file(text.encode())


def test_encode_round_trips_odd_ids() -> None:
    for vote in ["n0", "dledger 1", "a=b:c", "ü"]:
        assert decode_term_file(encode_term_file(9, vote)) == (9, vote)


def test_unreadable_file_falls_back_to_bak(tmp_path: Path) -> None:
    (tmp_path / "currterm").write_text("currTerm=garbage\n")
    (tmp_path / "currterm.bak").write_text("currTerm=6\nvoteLeader=n0\n")
    store = FileTermStore(tmp_path)
    assert (store.term, store.voted_for) == (6, "n0")


def test_only_bak_left_by_a_crash_mid_rename(tmp_path: Path) -> None:
    (tmp_path / "currterm.bak").write_text("currTerm=2\nvoteLeader=n1\n")
    assert FileTermStore(tmp_path).term == 2


def test_unreadable_file_and_bak_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "currterm").write_text("currTerm=garbage\n")
    with pytest.raises(ValueError, match="refusing"):
        FileTermStore(tmp_path)
