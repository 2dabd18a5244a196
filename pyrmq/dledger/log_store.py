"""The seams of the Raft core: the log it replicates and the term/vote it persists.

Mirrors DLedger's ``DLedgerStore`` (abstract log: append as leader, append as follower,
truncate, get, ledger begin/end index and end term, committed index) and ``MemberState``'s
persisted part (``currTerm`` and ``voteLeader`` in the ``currterm`` file). The core in
``raft.py`` sees only these protocols; ``memory_log.py`` implements them in memory for tests,
``mmap_log.py`` and ``member_state.py`` on disk in DLedger's layouts.

Indexes start at 0; an empty log has ``begin_index == end_index == -1`` and ``end_term == -1``
(DLedger's ledgerBeginIndex/ledgerEndIndex/ledgerEndTerm). ``pos`` is the entry's absolute byte
position in the data log; every node stores the same entry at the same position, so logs are
byte-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

#: DLedger's entry header: magic, size, index, term, pos, channel, chainCrc, bodyCrc, bodyLen.
ENTRY_HEADER_SIZE = 48
ENTRY_MAGIC = 1

#: Called by a leader's append with (pos, body); returns the body to store (same length).
#: RocketMQ writes ``physicalOffset = pos + 48`` into the embedded message here.
AppendHook = Callable[[int, bytes], bytes]


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry (DLedger ``DLedgerEntry``); ``size`` is the whole on-disk length."""

    index: int
    term: int
    body: bytes
    pos: int = -1
    magic: int = ENTRY_MAGIC
    channel: int = 0

    @property
    def size(self) -> int:
        return ENTRY_HEADER_SIZE + len(self.body)


class LogStore(Protocol):
    """The replicated log, as the Raft core uses it."""

    @property
    def begin_index(self) -> int: ...

    @property
    def end_index(self) -> int: ...

    @property
    def end_term(self) -> int: ...

    @property
    def committed_index(self) -> int: ...

    def get(self, index: int) -> Entry:
        """The entry at ``index``; ``IndexError`` outside [begin_index, end_index]."""
        ...

    def append_leader(self, term: int, body: bytes, hook: AppendHook | None = None) -> Entry:
        """Append at ``end_index + 1`` with ``term``; the store assigns ``pos``."""
        ...

    def append_follower(self, entry: Entry) -> Entry:
        """Append a leader's entry: ``entry.index == end_index + 1`` and ``entry.pos`` must be
        where this store would write it, else ``ValueError``. Returns the stored entry."""
        ...

    def truncate_after(self, index: int) -> None:
        """Drop every entry after ``index`` (``index`` may be ``begin_index - 1``: drop all)."""
        ...

    def update_committed_index(self, index: int) -> None:
        """Record the committed index (monotone; never beyond ``end_index``)."""
        ...


class TermStore(Protocol):
    """``currTerm`` and ``voteLeader``, durable before ``save`` returns (DLedger ``currterm``)."""

    @property
    def term(self) -> int: ...

    @property
    def voted_for(self) -> str | None: ...

    def save(self, term: int, voted_for: str | None) -> None: ...
