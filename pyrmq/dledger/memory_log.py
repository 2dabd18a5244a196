"""In-memory ``LogStore`` and ``TermStore`` for the Raft core's tests and simulations.

Mirrors DLedger's ``DLedgerMemoryStore`` (entries in a map, positions computed as if written to
a file) and the persisted half of ``MemberState``. Everything "persists" the moment a method
returns, which is what the protocols promise; a simulated crash keeps the objects and builds a
new ``RaftNode`` over them. The checks here are stricter than a disk store needs to be: they
turn a core bug (a gap, a wrong ``pos``, a committed index going back) into an exception.
"""

from __future__ import annotations

from pyrmq.dledger.log_store import AppendHook, Entry

__all__ = ["MemoryLogStore", "MemoryTermStore"]


class MemoryLogStore:
    """A ``LogStore`` holding entries in a list; ``pos`` is the sum of the sizes before."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._committed = -1

    @property
    def begin_index(self) -> int:
        return 0 if self._entries else -1

    @property
    def end_index(self) -> int:
        return len(self._entries) - 1

    @property
    def end_term(self) -> int:
        return self._entries[-1].term if self._entries else -1

    @property
    def committed_index(self) -> int:
        return self._committed

    def entries(self) -> tuple[Entry, ...]:
        """Every entry, oldest first (tests compare whole logs)."""
        return tuple(self._entries)

    def get(self, index: int) -> Entry:
        if not 0 <= index < len(self._entries):
            raise IndexError(f"index {index} outside [{self.begin_index}, {self.end_index}]")
        return self._entries[index]

    def _next_pos(self) -> int:
        last = self._entries[-1] if self._entries else None
        return 0 if last is None else last.pos + last.size

    def append_leader(self, term: int, body: bytes, hook: AppendHook | None = None) -> Entry:
        if term < self.end_term:
            raise ValueError(f"term {term} below the log's end term {self.end_term}")
        pos = self._next_pos()
        if hook is not None:
            stored = hook(pos, body)
            if len(stored) != len(body):
                raise ValueError(f"append hook changed the body length {len(body)}")
            body = stored
        entry = Entry(index=len(self._entries), term=term, body=body, pos=pos)
        self._entries.append(entry)
        return entry

    def append_follower(self, entry: Entry) -> Entry:
        if entry.index != len(self._entries):
            raise ValueError(f"entry index {entry.index}, expected {len(self._entries)}")
        if entry.pos != self._next_pos():
            raise ValueError(f"entry {entry.index} at pos {entry.pos}, expected {self._next_pos()}")
        if entry.term < self.end_term:
            raise ValueError(f"entry term {entry.term} below the log's end term {self.end_term}")
        self._entries.append(entry)
        return entry

    def truncate_after(self, index: int) -> None:
        if index < self._committed:
            raise ValueError(f"truncating after {index} would drop committed {self._committed}")
        if index < -1:
            raise ValueError(f"bad truncation index {index}")
        del self._entries[index + 1 :]

    def update_committed_index(self, index: int) -> None:
        if index < self._committed:
            raise ValueError(f"committed index going back from {self._committed} to {index}")
        if index > self.end_index:
            raise ValueError(f"committed index {index} beyond end index {self.end_index}")
        self._committed = index


class MemoryTermStore:
    """A ``TermStore`` that counts its saves, so tests can check what was persisted when."""

    def __init__(self, term: int = 0, voted_for: str | None = None) -> None:
        self._term = term
        self._voted_for = voted_for
        #: How many times ``save`` ran.
        self.saves = 0

    @property
    def term(self) -> int:
        return self._term

    @property
    def voted_for(self) -> str | None:
        return self._voted_for

    def save(self, term: int, voted_for: str | None) -> None:
        if term < self._term:
            raise ValueError(f"term going back from {self._term} to {term}")
        if term == self._term and self._voted_for not in (None, voted_for):
            # Changing a vote within a term is exactly the double vote Raft forbids.
            raise ValueError(f"vote in term {term} changing from {self._voted_for} to {voted_for}")
        self._term = term
        self._voted_for = voted_for
        self.saves += 1
