"""FileTermStore: the Raft term and vote, durable in DLedger's ``currterm`` file.

Mirrors the persisted part of DLedger's ``MemberState`` (``loadPersistentState`` /
``persistState``): the file ``currterm`` in the node's base directory
(``<storePathRootDir>/dledger-<selfId>``) holds Java properties text with the keys ``currTerm``
(the term, a long) and ``voteLeader`` (the id voted for in that term, empty for none). DLedger
writes it with ``IOUtils.string2File`` (tmp file, .bak copy, rename) without fsync; pyrmq uses
``write_atomic`` so that ``save`` returns only once the term and vote are on disk, as Raft
requires before answering a vote or accepting a leader.

A missing file is term 0 and no vote, as for a fresh DLedger node. Unlike DLedger, which logs
and starts from term 0, an unreadable file (and ``.bak``) is an error: forgetting a term or a
vote could let this node vote twice in one term.
"""

from __future__ import annotations

from pathlib import Path

from pyrmq.common import persist
from pyrmq.common.config import format_properties, parse_properties

#: ``MemberState.TERM_PERSIST_FILE`` / ``TERM_PERSIST_KEY_TERM`` / ``TERM_PERSIST_KEY_VOTE_FOR``.
TERM_FILE = "currterm"
TERM_KEY = "currTerm"
VOTE_KEY = "voteLeader"


class FileTermStore:
    """``currTerm`` and ``voteLeader`` (``TermStore``), loaded at construction."""

    def __init__(self, base_dir: str | Path) -> None:
        self.path = Path(base_dir) / TERM_FILE
        self._term, self._voted_for = _load(self.path)

    @property
    def term(self) -> int:
        return self._term

    @property
    def voted_for(self) -> str | None:
        return self._voted_for

    def save(self, term: int, voted_for: str | None) -> None:
        """Persist (fsynced) then adopt ``term`` and ``voted_for``; the term never goes down."""
        if term < self._term:
            raise ValueError(f"term {term} < persisted term {self._term}")
        vote = voted_for or None  # DLedger writes no vote as an empty value
        persist.write_atomic(self.path, encode_term_file(term, vote))
        self._term, self._voted_for = term, vote


def encode_term_file(term: int, voted_for: str | None) -> bytes:
    """The ``currterm`` text (``IOUtils.properties2String``: ``key=value`` lines)."""
    pairs = [(TERM_KEY, str(term)), (VOTE_KEY, voted_for or "")]
    return format_properties(pairs).encode("ascii")


def decode_term_file(data: bytes) -> tuple[int, str | None]:
    """``loadPersistentState``: a missing key keeps the default (0, no vote); an empty vote is
    none. ``ValueError`` for text that is not a term."""
    # Properties.load(InputStream) reads ISO-8859-1 (anything else arrives \\u-escaped).
    entries = parse_properties(data.decode("latin-1"), TERM_FILE)
    values = {entry.key: entry.value for entry in entries}
    term = int(values.get(TERM_KEY, "0").strip())
    if term < 0:
        raise ValueError(f"{TERM_FILE}: negative term {term}")
    return term, values.get(VOTE_KEY, "") or None


def _load(path: Path) -> tuple[int, str | None]:
    loaded = persist.load(path, decode_term_file)
    if loaded is not None:
        return loaded
    backup = path.with_name(path.name + ".bak")
    if path.exists() or backup.exists():
        raise ValueError(f"{path}: unreadable term file (and .bak); refusing to forget the term")
    return 0, None
