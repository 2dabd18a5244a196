"""A deterministic simulated network for the Raft core, and the checks of Raft's properties.

``SimNet`` owns simulated time, the nodes and a priority queue of deliveries. Every message a
node returns is delivered after a random delay (so messages reorder), may be lost or
duplicated, and is dropped when its link is cut at delivery time or its receiver is down.
A crash drops the ``RaftNode``; a restart builds a new one over the same ``MemoryLogStore`` and
``MemoryTermStore`` (what a real node would find on disk). Everything random comes from one
seeded ``random.Random``, so a seed replays exactly.

``Checker`` watches every node after every call and records violations of the properties of
Raft's Figure 3 (and "persist before reply") instead of raising, so tests can be named after
the property they check.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pyrmq.dledger.log_store import Entry
from pyrmq.dledger.memory_log import MemoryLogStore, MemoryTermStore
from pyrmq.dledger.messages import Message, VoteRequest, VoteResponse
from pyrmq.dledger.raft import NotLeaderError, RaftConfig, RaftNode, Role

#: Timers scaled down (heartbeat 50 ms) so a few simulated seconds see many elections.
SIM_CONFIG = RaftConfig(
    heartbeat_interval_ms=50,
    election_timeout_min_ms=300,
    election_timeout_max_ms=600,
    max_append_bytes=400,
    append_timeout_ms=150,
)


@dataclass
class NetConditions:
    min_delay_ms: int = 1
    max_delay_ms: int = 15
    loss: float = 0.0
    duplicate: float = 0.0


class SimLog(MemoryLogStore):
    """A ``MemoryLogStore`` that counts truncations (Leader Append-Only is checked with it)."""

    def __init__(self) -> None:
        super().__init__()
        self.truncations = 0

    def truncate_after(self, index: int) -> None:
        if index < self.end_index:
            self.truncations += 1
        super().truncate_after(index)


@dataclass
class _Tenure:
    truncations: int
    end_index: int


@dataclass
class Checker:
    """Raft's safety properties, observed after every call into any node."""

    violations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    leaders_by_term: dict[int, str] = field(default_factory=dict)
    #: (term, the leader's log when first seen leading): for Leader Completeness.
    leader_logs: list[tuple[int, tuple[Entry, ...]]] = field(default_factory=list)
    committed: dict[int, Entry] = field(default_factory=dict)
    #: Highest term by which each index was known committed (an upper bound of the real one).
    commit_term: dict[int, int] = field(default_factory=dict)
    tenures: dict[tuple[str, int], _Tenure] = field(default_factory=dict)
    seen_commit: dict[str, int] = field(default_factory=dict)

    def fail(self, prop: str, text: str) -> None:
        self.violations[prop].append(text)

    def observe(self, net: SimNet, node_id: str, out: Sequence[Message]) -> None:
        node, log, terms = net.nodes[node_id], net.logs[node_id], net.terms[node_id]
        self._check_persisted(node_id, node, terms, out)
        if node.role is Role.LEADER:
            self._check_leader(node_id, node, log)
        self._check_commit(node_id, node, log)

    def _check_persisted(
        self, node_id: str, node: RaftNode, terms: MemoryTermStore, out: Sequence[Message]
    ) -> None:
        if (node.term, node.voted_for) != (terms.term, terms.voted_for):
            self.fail("persist before reply", f"{node_id} term/vote not saved")
        for msg in out:
            if not _term_consistent(msg, terms.term):
                self.fail("persist before reply", f"{node_id} sent {msg} at saved {terms.term}")
            real_grant = isinstance(msg, VoteResponse) and msg.granted and not msg.pre_vote
            if real_grant and terms.voted_for != msg.dst:
                self.fail("persist before reply", f"{node_id} vote not saved: {msg}")

    def _check_leader(self, node_id: str, node: RaftNode, log: SimLog) -> None:
        first = self.leaders_by_term.setdefault(node.term, node_id)
        if first != node_id:
            self.fail("election safety", f"term {node.term}: leaders {first} and {node_id}")
        tenure = self.tenures.get((node_id, node.term))
        if tenure is None:
            self.tenures[node_id, node.term] = _Tenure(log.truncations, log.end_index)
            self.leader_logs.append((node.term, log.entries()))
            return
        if log.truncations != tenure.truncations or log.end_index < tenure.end_index:
            self.fail("leader append-only", f"{node_id} rewrote its log in term {node.term}")
        tenure.end_index = log.end_index

    def _check_commit(self, node_id: str, node: RaftNode, log: SimLog) -> None:
        seen = self.seen_commit.get(node_id, -1)
        if node.commit_index < seen:
            self.fail("state machine safety", f"{node_id} commit went back to {node.commit_index}")
        for index in range(seen + 1, node.commit_index + 1):
            entry = log.get(index)
            first = self.committed.setdefault(index, entry)
            if first != entry:
                self.fail("state machine safety", f"index {index}: {first} vs {entry}")
            self.commit_term[index] = min(self.commit_term.get(index, node.term), node.term)
        self.seen_commit[node_id] = max(seen, node.commit_index)

    def check_log_matching(self, logs: Iterable[SimLog]) -> None:
        """Raft's Log Matching: same index and term => identical up to there."""
        entries = [log.entries() for log in logs]
        for a, b in itertools.combinations(entries, 2):
            first_diff = next(
                (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None
            )
            if first_diff is None:
                continue
            for i in range(first_diff, min(len(a), len(b))):
                if a[i].term == b[i].term:
                    self.fail("log matching", f"index {i} term {a[i].term}, differ at {first_diff}")
                    break

    def check_leader_completeness(self) -> None:
        """A committed entry is in the log of every leader of a later term (checked at the
        moment that leader was first seen, its log being append-only from then on)."""
        for term, entries in self.leader_logs:
            for index, entry in self.committed.items():
                if self.commit_term[index] >= term:
                    continue
                if index >= len(entries) or entries[index] != entry:
                    self.fail("leader completeness", f"term {term} leader lacks {entry}")


def _term_consistent(msg: Message, saved_term: int) -> bool:
    """Every message carries the saved term, except the hypothetical ones of pre-vote: the
    request asks about the next term, a grant echoes the (higher) term asked about."""
    if isinstance(msg, VoteRequest) and msg.pre_vote:
        return msg.term == saved_term + 1
    if isinstance(msg, VoteResponse) and msg.pre_vote and msg.granted:
        return msg.term > saved_term
    return msg.term == saved_term


class SimNet:
    """Nodes, simulated time and the deliveries between them."""

    def __init__(
        self,
        ids: Sequence[str],
        seed: int,
        config: RaftConfig = SIM_CONFIG,
        net: NetConditions | None = None,
        tick_ms: int = 10,
    ) -> None:
        self.ids = tuple(ids)
        self.rng = random.Random(seed)
        self.config = config
        self.net = net or NetConditions()
        self.tick_ms = tick_ms
        self.now = 0
        self.logs = {i: SimLog() for i in ids}
        self.terms = {i: MemoryTermStore() for i in ids}
        self.nodes: dict[str, RaftNode] = {}
        self.cut: set[tuple[str, str]] = set()
        self.checker = Checker()
        self.delivered = 0
        self._queue: list[tuple[int, int, Message]] = []
        self._seq = itertools.count()
        self._next_tick = 0
        for node_id in ids:
            self.restart(node_id)

    # -- faults ---------------------------------------------------------------------------------

    def crash(self, node_id: str) -> None:
        self.nodes.pop(node_id, None)

    def restart(self, node_id: str) -> None:
        """Start (again) over what the node persisted; a no-op if it is running."""
        if node_id in self.nodes:
            return
        rng = random.Random(self.rng.randrange(2**32))
        log, terms = self.logs[node_id], self.terms[node_id]
        node = RaftNode(node_id, self.ids, log, terms, self.config, rng, self.now)
        self.nodes[node_id] = node
        self.checker.seen_commit[node_id] = min(
            self.checker.seen_commit.get(node_id, -1), log.committed_index
        )

    def partition(self, *groups: Iterable[str]) -> None:
        """Cut every link between different groups (members of no group keep their links)."""
        sets = [set(g) for g in groups]
        for a, b in itertools.permutations(range(len(sets)), 2):
            self.cut.update(itertools.product(sets[a], sets[b]))

    def isolate(self, node_id: str) -> None:
        self.partition([node_id], [i for i in self.ids if i != node_id])

    def heal(self) -> None:
        self.cut.clear()

    # -- running --------------------------------------------------------------------------------

    def send(self, messages: Iterable[Message]) -> None:
        net = self.net
        for msg in messages:
            copies = 2 if self.rng.random() < net.duplicate else 1
            for _ in range(copies):
                if self.rng.random() < net.loss:
                    continue
                at = self.now + self.rng.randint(net.min_delay_ms, net.max_delay_ms)
                heapq.heappush(self._queue, (at, next(self._seq), msg))

    def _after(self, node_id: str, out: list[Message]) -> None:
        self.checker.observe(self, node_id, out)
        self.send(out)

    def run_until(self, until_ms: int) -> None:
        """Deliver and tick, in time order, up to ``until_ms``."""
        while True:
            due_msg = self._queue[0][0] if self._queue else None
            if due_msg is not None and due_msg < self._next_tick:
                if due_msg > until_ms:
                    break
                self.now, _, msg = heapq.heappop(self._queue)
                self._deliver(msg)
                continue
            if self._next_tick > until_ms:
                break
            self.now = self._next_tick
            self._next_tick += self.tick_ms
            self._tick_all()
        self.now = until_ms

    def run_for(self, ms: int) -> None:
        self.run_until(self.now + ms)

    def _deliver(self, msg: Message) -> None:
        node = self.nodes.get(msg.dst)
        if node is None or (msg.src, msg.dst) in self.cut:
            return
        self.delivered += 1
        self._after(msg.dst, node.step(msg, self.now))

    def _tick_all(self) -> None:
        for node_id, node in list(self.nodes.items()):
            self._after(node_id, node.tick(self.now))

    # -- clients and queries --------------------------------------------------------------------

    def leaders(self) -> list[str]:
        return [i for i, n in self.nodes.items() if n.role is Role.LEADER]

    def propose(self, node_id: str, body: bytes) -> Entry | None:
        """Propose through ``node_id``; None if it refused (not leader, transferring)."""
        node = self.nodes[node_id]
        try:
            entry, out = node.propose(body, self.now)
        except NotLeaderError:
            return None
        self._after(node_id, out)
        return entry

    def transfer(self, node_id: str, target: str) -> None:
        self._after(node_id, self.nodes[node_id].transfer_leadership(target, self.now))

    def stable_leader(self) -> str | None:
        """The leader every running node agrees on, at one term; None if there is none."""
        views = {(n.term, n.leader_id) for n in self.nodes.values()}
        if len(views) != 1:
            return None
        _, leader = views.pop()
        if leader is None or leader not in self.nodes:
            return None
        return leader if self.nodes[leader].role is Role.LEADER else None

    def final_checks(self) -> None:
        self.checker.check_log_matching(self.logs.values())
        self.checker.check_leader_completeness()
