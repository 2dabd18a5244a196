"""Single transitions of the Raft core, table-style, named after the rules they check.

Time is explicit; ``LowRandom`` makes every election timeout the minimum, so a node built at
``now=0`` times out at exactly ``MIN``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest

from pyrmq.dledger.log_store import Entry
from pyrmq.dledger.memory_log import MemoryLogStore, MemoryTermStore
from pyrmq.dledger.messages import (
    AppendRequest,
    AppendResponse,
    Message,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from pyrmq.dledger.raft import NotLeaderError, RaftConfig, RaftNode, Role

MIN, MAX, HB, RESEND = 1000, 2000, 100, 500
CFG = RaftConfig(
    heartbeat_interval_ms=HB,
    election_timeout_min_ms=MIN,
    election_timeout_max_ms=MAX,
    append_timeout_ms=RESEND,
)
ABC = ("a", "b", "c")


class LowRandom(random.Random):
    """Always the lowest value of the range, and remembers the ranges asked for."""

    def __init__(self) -> None:
        super().__init__(0)
        self.ranges: list[tuple[int, int | None]] = []

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        self.ranges.append((start, stop))
        return start


@dataclass
class Node:
    raft: RaftNode
    log: MemoryLogStore
    terms: MemoryTermStore


def make_log(terms: Sequence[int], commit: int = -1) -> MemoryLogStore:
    log = MemoryLogStore()
    for i, term in enumerate(terms):
        log.append_leader(term, f"e{i}".encode())
    log.update_committed_index(commit)
    return log


def make(
    self_id: str = "a",
    members: Sequence[str] = ABC,
    log_terms: Sequence[int] = (),
    term: int = 0,
    voted_for: str | None = None,
    commit: int = -1,
    config: RaftConfig = CFG,
    now: int = 0,
) -> Node:
    log = make_log(log_terms, commit)
    terms = MemoryTermStore(term, voted_for)
    return Node(RaftNode(self_id, members, log, terms, config, LowRandom(), now), log, terms)


def entries_like(terms: Sequence[int], start: int, count: int) -> tuple[Entry, ...]:
    """Entries ``start..start+count-1`` of a log with ``terms``, as a leader would send them."""
    log = make_log(terms)
    return tuple(log.get(i) for i in range(start, start + count))


def role_of(node: RaftNode) -> Role:
    """``node.role``, hidden from mypy's narrowing (a step changes it between asserts)."""
    return node.role


def elect(node: RaftNode, now: int = MIN) -> list[Message]:
    """Time ``node`` out and feed it a bare majority of pre-votes, then of votes."""
    node.tick(now)
    assert role_of(node) is Role.PRE_CANDIDATE
    others = [m for m in node.members if m != node.self_id]
    need = len(node.members) // 2
    out: list[Message] = []
    for peer in others[:need]:
        out = node.step(VoteResponse(peer, node.self_id, node.term + 1, True, True), now)
    assert role_of(node) is Role.CANDIDATE
    for peer in others[:need]:
        out = node.step(VoteResponse(peer, node.self_id, node.term, True), now)
    assert node.role is Role.LEADER
    return out


def appends(out: Sequence[Message]) -> dict[str, AppendRequest]:
    return {m.dst: m for m in out if isinstance(m, AppendRequest)}


def ack(leader: RaftNode, peer: str, match: int, now: int) -> list[Message]:
    return leader.step(AppendResponse(peer, leader.self_id, leader.term, True, match, match), now)


# -- configuration and construction ------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"election_timeout_min_ms": 2000},
        {"election_timeout_min_ms": 0},
        {"heartbeat_interval_ms": 0},
        {"append_timeout_ms": -1},
        {"max_append_bytes": 0},
    ],
)
def test_config_rejects_nonsense(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        replace(CFG, **changes)


def test_self_must_be_a_member() -> None:
    with pytest.raises(ValueError, match="not one of the members"):
        make("z")


def test_restart_restores_term_vote_and_commit() -> None:
    n = make(term=7, voted_for="b", log_terms=[1, 7], commit=1)
    assert (n.raft.role, n.raft.term, n.raft.voted_for, n.raft.commit_index) == (
        Role.FOLLOWER,
        7,
        "b",
        1,
    )
    # The vote of term 7 is spent: another candidate of term 7 is refused.
    out = n.raft.step(VoteRequest("c", "a", 7, 1, 7), 0)
    assert out == [VoteResponse("a", "c", 7, False)]


# -- §5.2 leader election, with pre-vote (thesis §9.6) ------------------------------------------


def test_election_timeout_is_drawn_from_rng_in_min_max() -> None:
    n = make()
    rng = n.raft._rng
    assert isinstance(rng, LowRandom)
    assert rng.ranges == [(MIN, MAX)]  # randrange: [min, max)
    assert n.raft.tick(MIN - 1) == []
    assert n.raft.tick(MIN) != []


def test_timeout_starts_a_pre_vote_that_changes_no_state() -> None:
    n = make(log_terms=[1, 1], term=1)
    out = n.raft.tick(MIN)
    assert out == [
        VoteRequest("a", "b", 2, 1, 1, pre_vote=True),
        VoteRequest("a", "c", 2, 1, 1, pre_vote=True),
    ]
    assert n.raft.role is Role.PRE_CANDIDATE
    assert (n.raft.term, n.terms.saves) == (1, 0)


def test_pre_vote_majority_starts_the_real_election_with_a_persisted_self_vote() -> None:
    n = make(term=1)
    n.raft.tick(MIN)
    out = n.raft.step(VoteResponse("b", "a", 2, True, pre_vote=True), MIN)
    assert n.raft.role is Role.CANDIDATE
    assert (n.terms.term, n.terms.voted_for, n.terms.saves) == (2, "a", 1)
    assert out == [VoteRequest("a", "b", 2, -1, -1), VoteRequest("a", "c", 2, -1, -1)]


def test_vote_majority_makes_a_leader_that_appends_an_empty_noop() -> None:
    n = make(log_terms=[1], term=1)
    out = elect(n.raft)
    assert n.raft.leader_id == "a"
    noop = n.log.get(1)
    assert (noop.term, noop.body) == (2, b"")
    sent = appends(out)
    assert set(sent) == {"b", "c"}
    assert sent["b"].entries == (noop,)
    assert (sent["b"].prev_index, sent["b"].prev_term) == (0, 1)


def test_candidate_times_out_and_tries_pre_vote_again() -> None:
    n = make()
    n.raft.tick(MIN)
    n.raft.step(VoteResponse("b", "a", 1, True, pre_vote=True), MIN)
    assert n.raft.role is Role.CANDIDATE
    out = n.raft.tick(2 * MIN)
    assert role_of(n.raft) is Role.PRE_CANDIDATE
    assert all(isinstance(m, VoteRequest) and m.pre_vote and m.term == 2 for m in out)


def test_rejected_votes_do_not_elect() -> None:
    n = make()
    n.raft.tick(MIN)
    # Voters at our own term refuse: we stay a pre-candidate until the next timeout.
    n.raft.step(VoteResponse("b", "a", 0, False, pre_vote=True), MIN)
    n.raft.step(VoteResponse("c", "a", 0, False, pre_vote=True), MIN)
    assert n.raft.role is Role.PRE_CANDIDATE
    assert n.terms.saves == 0


@dataclass(frozen=True)
class VoteCase:
    name: str
    term: int
    voted_for: str | None
    log: tuple[int, ...]
    request: VoteRequest
    granted: bool
    after: tuple[int, str | None]  # persisted (term, vote) afterwards


def _vr(term: int, last_index: int, last_term: int, src: str = "b") -> VoteRequest:
    return VoteRequest(src, "a", term, last_index, last_term)


VOTE_CASES = [
    VoteCase("grant: newer term, equal log", 1, None, (1, 1), _vr(2, 1, 1), True, (2, "b")),
    VoteCase("grant: both logs empty", 0, None, (), _vr(1, -1, -1), True, (1, "b")),
    VoteCase("grant: higher last term, shorter", 2, None, (1, 2, 2), _vr(3, 0, 3), True, (3, "b")),
    VoteCase(
        "§5.4.1 reject: shorter log, same term", 1, None, (1, 1), _vr(2, 0, 1), False, (2, None)
    ),
    VoteCase("§5.4.1 reject: older last term", 2, None, (1, 2), _vr(3, 5, 1), False, (3, None)),
    VoteCase("reject: stale term", 3, None, (), _vr(2, -1, -1), False, (3, None)),
    VoteCase("reject: voted for another", 2, "c", (), _vr(2, -1, -1), False, (2, "c")),
    VoteCase("grant again: same candidate", 2, "b", (), _vr(2, -1, -1), True, (2, "b")),
]


@pytest.mark.parametrize("case", VOTE_CASES, ids=lambda c: c.name)
def test_vote_rules(case: VoteCase) -> None:
    n = make(term=case.term, voted_for=case.voted_for, log_terms=case.log)
    saves_before = n.terms.saves
    out = n.raft.step(case.request, 5000)
    assert out == [VoteResponse("a", "b", case.after[0], case.granted)]
    assert (n.terms.term, n.terms.voted_for) == case.after
    assert (n.raft.term, n.raft.voted_for) == case.after
    # One save for a new term (vote cleared), one for a new vote.
    new_term = case.after[0] != case.term
    new_vote = case.after[1] not in (None, case.voted_for)
    assert n.terms.saves == saves_before + new_term + new_vote


def test_granting_a_vote_defers_our_own_election() -> None:
    n = make()
    n.raft.step(_vr(1, -1, -1), 900)
    assert n.raft.tick(MIN) == []
    assert n.raft.tick(900 + MIN) != []


def _follower_of_b(now: int = 0, **kw: object) -> Node:
    n = make(term=1, **kw)  # type: ignore[arg-type]
    n.raft.step(AppendRequest("b", "a", 1, -1, -1, (), -1), now)
    assert n.raft.leader_id == "b"
    return n


@pytest.mark.parametrize(
    ("name", "now", "vote", "granted", "reply_term"),
    [
        (
            "pre-vote granted without a leader lease",
            MIN,
            VoteRequest("c", "a", 2, -1, -1, True),
            True,
            2,
        ),
        (
            "pre-vote refused inside the lease",
            MIN - 1,
            VoteRequest("c", "a", 2, -1, -1, True),
            False,
            1,
        ),
        (
            "pre-vote refused for a shorter log",
            MIN,
            VoteRequest("c", "a", 2, -2, -1, True),
            False,
            1,
        ),
        ("pre-vote refused at our own term", MIN, VoteRequest("c", "a", 1, -1, -1, True), False, 1),
        ("vote ignored inside the lease", 10, VoteRequest("c", "a", 2, -1, -1), False, 1),
        (
            "transfer vote granted inside the lease",
            10,
            VoteRequest("c", "a", 2, -1, -1, False, True),
            True,
            2,
        ),
    ],
)
def test_pre_vote_and_lease_rules(
    name: str, now: int, vote: VoteRequest, granted: bool, reply_term: int
) -> None:
    n = _follower_of_b()
    saves = n.terms.saves
    out = n.raft.step(vote, now)
    assert out == [VoteResponse("a", "c", reply_term, granted, vote.pre_vote)]
    if vote.pre_vote or not granted:
        # Neither a pre-vote nor an ignored vote moves the term or spends the vote.
        assert (n.terms.term, n.terms.voted_for, n.terms.saves) == (1, None, saves)
    else:
        assert (n.terms.term, n.terms.voted_for) == (2, "c")


def test_leader_refuses_pre_votes() -> None:
    n = make()
    elect(n.raft)
    out = n.raft.step(VoteRequest("b", "a", 2, 5, 5, pre_vote=True), MIN + 1)
    assert out == [VoteResponse("a", "b", 1, False, True)]
    assert n.raft.role is Role.LEADER


def test_granted_pre_vote_with_higher_term_does_not_move_our_term() -> None:
    n = make(term=1)
    n.raft.tick(MIN)
    n.raft.step(VoteResponse("b", "a", 2, True, pre_vote=True), MIN)  # wins: term 2 now
    n.raft.step(VoteResponse("c", "a", 3, True, pre_vote=True), MIN)  # stale, odd: ignored
    assert (n.raft.term, n.raft.role) == (2, Role.CANDIDATE)


def test_rejected_pre_vote_from_a_higher_term_makes_us_follow_it() -> None:
    n = make(term=1)
    n.raft.tick(MIN)
    n.raft.step(VoteResponse("b", "a", 5, False, pre_vote=True), MIN)
    assert (n.raft.role, n.terms.term, n.terms.voted_for) == (Role.FOLLOWER, 5, None)


HIGHER_TERM = [
    AppendRequest("b", "a", 5, -1, -1, (), -1),
    AppendResponse("b", "a", 5, False, 3, 0),
    VoteResponse("b", "a", 5, False),
    VoteRequest("b", "a", 5, 0, 1, transfer=True),  # as up to date as the leader: granted
]


@pytest.mark.parametrize("msg", HIGHER_TERM, ids=lambda m: type(m).__name__)
def test_s5_1_higher_term_in_any_message_makes_the_leader_a_follower(msg: Message) -> None:
    n = make()
    elect(n.raft)
    assert n.raft.term == 1
    n.raft.step(msg, MIN + 1)
    assert n.raft.role is Role.FOLLOWER
    assert n.terms.term == 5
    expected_vote = "b" if isinstance(msg, VoteRequest) else None
    assert n.terms.voted_for == expected_vote
    assert n.raft.leader_id == ("b" if isinstance(msg, AppendRequest) else None)
    assert n.raft.transfer_target is None


def test_stale_term_append_request_is_answered_with_our_term() -> None:
    n = make(term=4)
    out = n.raft.step(AppendRequest("b", "a", 3, 0, 1, (), 0), 10)
    assert out == [AppendResponse("a", "b", 4, False, 0, -1)]
    assert n.raft.leader_id is None


@pytest.mark.parametrize(
    "msg",
    [
        AppendRequest("b", "z", 1, -1, -1, (), -1),  # not for us
        AppendRequest("z", "a", 1, -1, -1, (), -1),  # not a member
        AppendRequest("a", "a", 1, -1, -1, (), -1),  # from ourselves
    ],
)
def test_misaddressed_messages_are_ignored(msg: Message) -> None:
    n = make()
    assert n.raft.step(msg, 0) == []
    assert (n.raft.term, n.raft.leader_id) == (0, None)


def test_candidate_seeing_the_term_leader_becomes_its_follower() -> None:
    n = make()
    n.raft.tick(MIN)
    n.raft.step(VoteResponse("b", "a", 1, True, pre_vote=True), MIN)
    assert n.raft.role is Role.CANDIDATE
    n.raft.step(AppendRequest("c", "a", 1, -1, -1, (), -1), MIN + 5)
    assert (n.raft.role, n.raft.leader_id, n.terms.voted_for) == (Role.FOLLOWER, "c", "a")


def test_two_leaders_in_one_term_is_an_assertion() -> None:
    n = make()
    elect(n.raft)
    with pytest.raises(AssertionError, match="two leaders"):
        n.raft.step(AppendRequest("b", "a", 1, -1, -1, (), -1), MIN + 1)


# -- §5.3 log replication, follower side ---------------------------------------------------------


@dataclass(frozen=True)
class AppendCase:
    name: str
    log: tuple[int, ...]
    commit: int
    prev_index: int
    prev_term: int
    entries: tuple[int, ...]  # terms of the entries sent, starting at prev_index + 1
    leader_log: tuple[int, ...]  # the sender's log, for the entries' positions
    leader_commit: int
    reply: tuple[bool, int, int]  # success, match_index, end_index
    log_after: tuple[int, ...]
    commit_after: int


APPEND_CASES = [
    AppendCase("first entries", (), -1, -1, -1, (1, 1), (1, 1), 5, (True, 1, 1), (1, 1), 1),
    AppendCase(
        "commit = min(leader commit, last new)",
        (1, 1, 1),
        -1,
        1,
        1,
        (),
        (1, 1),
        5,
        (True, 1, 2),
        (1, 1, 1),
        1,
    ),
    AppendCase("gap: hint is our end", (1,), -1, 3, 1, (), (1,) * 4, 3, (False, 3, 0), (1,), -1),
    AppendCase(
        "conflict: hint skips the conflicting term's run",
        (1, 2, 2, 2),
        -1,
        3,
        3,
        (),
        (1, 3, 3, 3),
        0,
        (False, 3, 0),
        (1, 2, 2, 2),
        -1,
    ),
    AppendCase(
        "conflict: hint never below our commit",
        (2, 2, 2, 2),
        1,
        3,
        3,
        (),
        (2, 2, 3, 3),
        1,
        (False, 3, 1),
        (2, 2, 2, 2),
        1,
    ),
    AppendCase(
        "divergent suffix truncated",
        (1, 1, 2, 2),
        1,
        1,
        1,
        (3,),
        (1, 1, 3),
        2,
        (True, 2, 2),
        (1, 1, 3),
        2,
    ),
    AppendCase(
        "stale shorter request truncates nothing",
        (1, 1, 1, 1),
        -1,
        0,
        1,
        (1,),
        (1, 1, 1, 1),
        3,
        (True, 1, 3),
        (1, 1, 1, 1),
        1,
    ),
    AppendCase(
        "duplicates skipped, new ones appended",
        (1, 1),
        0,
        0,
        1,
        (1, 2, 2),
        (1, 1, 2, 2),
        3,
        (True, 3, 3),
        (1, 1, 2, 2),
        3,
    ),
]


@pytest.mark.parametrize("case", APPEND_CASES, ids=lambda c: c.name)
def test_s5_3_append_entries(case: AppendCase) -> None:
    n = make(term=3, log_terms=case.log, commit=case.commit)
    sent = entries_like(case.leader_log, case.prev_index + 1, len(case.entries))
    assert tuple(e.term for e in sent) == case.entries
    msg = AppendRequest("b", "a", 3, case.prev_index, case.prev_term, sent, case.leader_commit)
    out = n.raft.step(msg, 10)
    assert out == [AppendResponse("a", "b", 3, *case.reply)]
    assert tuple(e.term for e in n.log.entries()) == case.log_after
    assert n.raft.commit_index == n.log.committed_index == case.commit_after
    assert n.raft.leader_id == "b"


def test_a_leader_contradicting_a_committed_entry_is_an_assertion() -> None:
    n = make(term=3, log_terms=(1, 1, 1), commit=2)
    bad = entries_like((1, 2), 1, 1)
    with pytest.raises(AssertionError, match="below commit"):
        n.raft.step(AppendRequest("b", "a", 3, 0, 1, bad, 2), 10)
    assert len(n.log.entries()) == 3


def test_append_request_defers_the_election() -> None:
    n = make(term=1)
    n.raft.step(AppendRequest("b", "a", 1, -1, -1, (), -1), 800)
    assert n.raft.tick(MIN) == []
    assert n.raft.tick(800 + MIN) != []
    assert n.raft.leader_id is None  # a pre-candidate forgets the leader it lost


# -- §5.3 log replication, leader side ------------------------------------------------------------


def test_propose_sends_at_once_only_to_peers_with_nothing_in_flight() -> None:
    n = make()
    elect(n.raft)  # the no-op is in flight to b and c
    entry, out = n.raft.propose(b"m1", MIN + 1)
    assert (entry.index, entry.term, entry.body) == (1, 1, b"m1")
    assert out == []
    out = ack(n.raft, "b", 0, MIN + 2)
    sent = appends(out)
    assert list(sent) == ["b"]
    assert sent["b"].entries == (entry,)
    assert (sent["b"].prev_index, sent["b"].commit_index) == (0, 0)


def test_propose_passes_the_hook_its_position() -> None:
    n = make()
    elect(n.raft)
    seen: list[int] = []

    def hook(pos: int, body: bytes) -> bytes:
        seen.append(pos)
        return body.upper()

    entry, _ = n.raft.propose(b"abc", MIN + 1, hook)
    assert seen == [48] and entry.pos == 48 and entry.body == b"ABC"  # after the 48-byte no-op


def test_batches_stop_at_max_append_bytes() -> None:
    n = make(config=replace(CFG, max_append_bytes=300))
    elect(n.raft)
    for _ in range(6):
        n.raft.propose(b"x" * 52, MIN + 1)  # 100 bytes each with the header
    batch = appends(ack(n.raft, "b", 0, MIN + 2))["b"].entries
    assert [e.index for e in batch] == [1, 2, 3]
    # After a success the next batch leaves at once.
    batch = appends(ack(n.raft, "b", 3, MIN + 3))["b"].entries
    assert [e.index for e in batch] == [4, 5, 6]
    big = make(config=replace(CFG, max_append_bytes=10))
    sent = appends(elect(big.raft))
    assert len(sent["b"].entries) == 1  # one entry goes even when it alone is too big


def test_heartbeats_to_idle_peers_every_interval() -> None:
    n = make()
    elect(n.raft)
    ack(n.raft, "b", 0, MIN)
    ack(n.raft, "c", 0, MIN)
    assert n.raft.tick(MIN + HB - 1) == []
    out = n.raft.tick(MIN + HB)
    assert out == [
        AppendRequest("a", "b", 1, 0, 1, (), 0),
        AppendRequest("a", "c", 1, 0, 1, (), 0),
    ]


def test_unanswered_batch_is_resent_after_append_timeout() -> None:
    n = make()
    elect(n.raft)
    ack(n.raft, "c", 0, MIN)
    out = n.raft.tick(MIN + HB)  # b's batch still in flight: a bare heartbeat keeps b quiet
    assert appends(out)["b"].entries == ()
    out = n.raft.tick(MIN + RESEND)
    assert [e.index for e in appends(out)["b"].entries] == [0]


def test_rejection_backs_off_with_the_end_index_hint() -> None:
    n = make(log_terms=(1,) * 10, term=1)
    out = elect(n.raft)
    assert appends(out)["b"].prev_index == 9
    # A stale rejection (of a probe we are not at) changes nothing.
    assert n.raft.step(AppendResponse("b", "a", 2, False, 4, 3), MIN + 1) == []
    out = n.raft.step(AppendResponse("b", "a", 2, False, 9, 3), MIN + 1)
    sent = appends(out)["b"]
    assert (sent.prev_index, sent.prev_term, sent.entries[0].index) == (3, 1, 4)
    # Without a useful hint it goes back one at a time.
    out = n.raft.step(AppendResponse("b", "a", 2, False, 3, 50), MIN + 2)
    assert appends(out)["b"].prev_index == 2


def test_s5_4_2_only_current_term_entries_commit_by_counting_figure_8() -> None:
    # Figure 8 (c): S1 leads term 4 holding index 1 of term 2, which reaches a majority.
    members = ("s1", "s2", "s3", "s4", "s5")
    s1 = make("s1", members, log_terms=(1, 2), term=3, commit=0)
    elect(s1.raft)
    assert s1.raft.term == 4 and s1.log.get(2).term == 4  # the no-op
    ack(s1.raft, "s2", 1, MIN + 1)
    ack(s1.raft, "s3", 1, MIN + 1)
    assert s1.raft.commit_index == 0  # a majority holds index 1, but it is of term 2
    # (d) Why: S5 (index 1 of term 3) can still win over S2-S4 and overwrite index 1 there.
    s2 = make("s2", members, log_terms=(1, 2), term=4, commit=0)
    grant = s2.raft.step(VoteRequest("s5", "s2", 5, 1, 3), MIN)
    assert grant == [VoteResponse("s2", "s5", 5, True)]
    overwrite = entries_like((1, 3), 1, 1)
    s2.raft.step(AppendRequest("s5", "s2", 5, 0, 1, overwrite, 0), MIN + 1)
    assert [e.term for e in s2.log.entries()] == [1, 3]
    # (e) Once an entry of S1's own term is on a majority, it commits, and index 1 with it.
    ack(s1.raft, "s2", 2, MIN + 2)
    assert s1.raft.commit_index == 0
    ack(s1.raft, "s3", 2, MIN + 2)
    assert s1.raft.commit_index == s1.log.committed_index == 2


def test_check_quorum_steps_an_unheard_leader_down() -> None:
    n = make()
    elect(n.raft, now=MIN)
    assert n.raft.tick(MIN + MAX - 1) != []
    saves = n.terms.saves
    assert n.raft.tick(MIN + MAX) == []
    assert (n.raft.role, n.raft.leader_id, n.raft.term) == (Role.FOLLOWER, None, 1)
    assert n.terms.saves == saves


def test_check_quorum_counts_the_leader_itself() -> None:
    members = ("a", "b", "c", "d", "e")
    n = make(members=members)
    elect(n.raft, now=MIN)
    for t in range(MIN, 3 * MAX, HB):  # b and c answer; d and e are gone
        ack(n.raft, "b", 0, t)
        ack(n.raft, "c", 0, t)
        n.raft.tick(t)
    assert n.raft.role is Role.LEADER


@pytest.mark.parametrize("role", ["follower", "candidate"])
def test_propose_on_a_non_leader_names_the_leader(role: str) -> None:
    n = _follower_of_b() if role == "follower" else make()
    if role == "candidate":
        n.raft.tick(MIN)
    with pytest.raises(NotLeaderError) as err:
        n.raft.propose(b"m", MIN)
    assert err.value.leader_id == ("b" if role == "follower" else None)
    assert n.log.end_index == -1


def test_single_node_group_elects_itself_and_commits_alone() -> None:
    n = make(members=["a"])
    assert n.raft.tick(MIN) == []
    assert (n.raft.role, n.raft.term, n.terms.voted_for) == (Role.LEADER, 1, "a")
    assert n.raft.commit_index == 0  # the no-op
    entry, out = n.raft.propose(b"m", MIN + 1)
    assert out == [] and n.raft.commit_index == n.log.committed_index == entry.index
    assert n.raft.tick(MIN + 10 * MAX) == []
    assert n.raft.role is Role.LEADER


# -- leadership transfer (thesis §3.10) -----------------------------------------------------------


def test_transfer_catches_the_target_up_then_sends_timeout_now() -> None:
    n = make()
    elect(n.raft)
    ack(n.raft, "c", 0, MIN)
    n.raft.propose(b"m", MIN)
    assert n.raft.transfer_leadership("b", MIN + 1) == []  # b's batch is still in flight
    assert n.raft.transfer_target == "b"
    with pytest.raises(NotLeaderError, match="transfer to b"):
        n.raft.propose(b"late", MIN + 1)
    out = ack(n.raft, "b", 0, MIN + 2)
    assert [e.index for e in appends(out)["b"].entries] == [1]
    assert TimeoutNow("a", "b", 1) not in out
    out = ack(n.raft, "b", 1, MIN + 3)
    assert out == [TimeoutNow("a", "b", 1)]
    assert n.raft.transfer_leadership("b", MIN + 4) == []  # already under way


def test_transfer_to_a_caught_up_target_is_immediate() -> None:
    n = make()
    elect(n.raft)
    ack(n.raft, "b", 0, MIN)
    assert n.raft.transfer_leadership("b", MIN) == [TimeoutNow("a", "b", 1)]


def test_transfer_gives_up_after_an_election_timeout() -> None:
    n = make()
    elect(n.raft)
    n.raft.transfer_leadership("b", MIN)
    for t in range(MIN, MIN + MAX, HB):
        ack(n.raft, "c", 0, t)
        n.raft.tick(t)
    assert n.raft.transfer_target == "b"
    n.raft.tick(MIN + MAX)
    assert n.raft.transfer_target is None and n.raft.role is Role.LEADER
    n.raft.propose(b"m", MIN + MAX)


def test_transfer_argument_errors() -> None:
    n = make()
    with pytest.raises(NotLeaderError):
        n.raft.transfer_leadership("b", 0)
    elect(n.raft)
    with pytest.raises(ValueError, match="not a member"):
        n.raft.transfer_leadership("z", MIN)
    assert n.raft.transfer_leadership("a", MIN) == []


def test_timeout_now_starts_a_transfer_election_at_once() -> None:
    n = _follower_of_b(log_terms=(1,))
    out = n.raft.step(TimeoutNow("b", "a", 1), 10)
    assert n.raft.role is Role.CANDIDATE
    assert (n.terms.term, n.terms.voted_for) == (2, "a")
    assert out == [VoteRequest("a", x, 2, 0, 1, transfer=True) for x in ("b", "c")]


def test_stale_timeout_now_is_ignored() -> None:
    n = make(term=3)
    assert n.raft.step(TimeoutNow("b", "a", 2), 10) == []
    assert n.raft.role is Role.FOLLOWER


def test_leader_hands_over_to_the_preferred_member_once_it_is_caught_up() -> None:
    n = make(config=replace(CFG, preferred_leader_id="c"))
    elect(n.raft)
    assert n.raft.transfer_target is None
    assert ack(n.raft, "b", 0, MIN + 1) == []
    assert ack(n.raft, "c", 0, MIN + 1) == [TimeoutNow("a", "c", 1)]


def test_the_preferred_member_keeps_leadership() -> None:
    n = make(config=replace(CFG, preferred_leader_id="a"))
    elect(n.raft)
    ack(n.raft, "b", 0, MIN + 1)
    assert n.raft.transfer_target is None


# -- the in-memory stores --------------------------------------------------------------------------


def test_memory_log_positions_and_checks() -> None:
    log = make_log((1, 1, 2))
    assert [e.pos for e in log.entries()] == [0, 50, 100]
    assert (log.begin_index, log.end_index, log.end_term) == (0, 2, 2)
    with pytest.raises(ValueError, match="expected 3"):
        log.append_follower(Entry(index=4, term=2, body=b"", pos=150))
    with pytest.raises(ValueError, match="pos"):
        log.append_follower(Entry(index=3, term=2, body=b"", pos=149))
    stored = log.append_follower(Entry(index=3, term=2, body=b"", pos=150))
    assert log.get(3) is stored
    log.update_committed_index(1)
    with pytest.raises(ValueError, match="going back"):
        log.update_committed_index(0)
    with pytest.raises(ValueError, match="beyond end"):
        log.update_committed_index(4)
    with pytest.raises(ValueError, match="committed"):
        log.truncate_after(0)
    log.truncate_after(1)
    assert log.end_index == 1 and log.append_leader(3, b"z").pos == 100
    with pytest.raises(IndexError):
        log.get(3)
    empty = MemoryLogStore()
    assert (empty.begin_index, empty.end_index, empty.end_term) == (-1, -1, -1)
    empty.truncate_after(-1)


def test_memory_term_store_refuses_going_back_or_changing_a_vote() -> None:
    terms = MemoryTermStore()
    terms.save(1, "a")
    terms.save(2, None)
    terms.save(2, "b")
    assert (terms.term, terms.voted_for, terms.saves) == (2, "b", 3)
    with pytest.raises(ValueError):
        terms.save(1, None)
    with pytest.raises(ValueError):
        terms.save(2, "c")
