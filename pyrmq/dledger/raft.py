"""The sans-IO Raft core of DLedger mode: elections, replication, commit, leadership transfer.

Mirrors DLedger's ``DLedgerLeaderElector`` (roles, terms, votes, heartbeats, preferred leader),
``DLedgerEntryPusher`` (per-follower push, quorum ack -> committed index) and the volatile part
of ``MemberState``; the shape is etcd-io/raft's ``raft.go``: a pure state machine that the shell
drives with ``tick(now_ms)`` and ``step(msg, now_ms)`` and that answers with the messages to send.
There is no I/O, clock or global randomness here: time comes in as ``now_ms``, randomness from
the injected ``random.Random``.

Where DLedger 0.3.1.2 departs from the Raft paper we follow the paper (extended version) and the
Raft thesis: pre-vote (§9.6) and check-quorum, the current-term-only commit rule (§5.4.2, the
Figure 8 scenario) and a no-op entry from every new leader (§8).

Contract with the shell:

* Persistence happens inside each call, through ``TermStore.save`` and the ``LogStore``, before
  the call returns, so every returned message may be sent at once ("persist before reply"):
  the term (vote cleared) when a higher one is seen, our own vote when campaigning, a granted
  vote before its answer, appended/truncated entries before the AppendResponse, the committed
  index as it advances. ``TermStore.save`` and the log's appends must be durable on return.
* The shell sends every returned message, then reads ``role``, ``leader_id`` and
  ``commit_index`` to notice changes; committed entries are ``log.get(i)`` up to
  ``commit_index`` (also recorded through ``log.update_committed_index``).
* A new leader appends an entry with an EMPTY body (``b""``) in its term; the integration must
  skip empty-body entries (RocketMQ never writes an empty record).
* ``tick`` must be called often (a small fraction of ``heartbeat_interval_ms``).
* ``propose`` raises ``NotLeaderError(leader_id=None)`` while a transfer is under way
  (``transfer_target`` names the member taking over).
* No snapshots: a follower needing entries the leader no longer holds cannot be caught up.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from pyrmq.dledger.log_store import AppendHook, Entry, LogStore, TermStore
from pyrmq.dledger.messages import (
    AppendRequest,
    AppendResponse,
    Message,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)

__all__ = ["NotLeaderError", "RaftConfig", "RaftNode", "Role"]


class Role(Enum):
    """A member's role; DLedger has no PRE_CANDIDATE (the broker treats it as CANDIDATE)."""

    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Timers and limits (DLedger ``DLedgerConfig`` names in parentheses)."""

    #: Leader -> idle follower heartbeat period (heartBeatTimeIntervalMs).
    heartbeat_interval_ms: int = 200
    #: Election timeouts are drawn uniformly from [min, max); min is also the leader lease a
    #: voter honours before granting a (pre-)vote, max the leader's check-quorum window.
    election_timeout_min_ms: int = 1000
    election_timeout_max_ms: int = 2000
    #: Entry bytes (header included) per AppendRequest; one entry is always sent.
    max_append_bytes: int = 1 << 20
    #: Resend a batch when no AppendResponse came within this time (maxPushTimeOutMs).
    append_timeout_ms: int = 1000
    #: The member leadership is handed to whenever it is caught up (preferredLeaderIds).
    preferred_leader_id: str | None = None

    def __post_init__(self) -> None:
        if self.heartbeat_interval_ms <= 0 or self.append_timeout_ms <= 0:
            raise ValueError("heartbeat_interval_ms and append_timeout_ms must be positive")
        if not 0 < self.election_timeout_min_ms < self.election_timeout_max_ms:
            raise ValueError("need 0 < election_timeout_min_ms < election_timeout_max_ms")
        if self.max_append_bytes <= 0:
            raise ValueError("max_append_bytes must be positive")


class NotLeaderError(Exception):
    """A proposal or transfer reached a member that cannot take it; ``leader_id`` is the leader
    as far as this member knows (None while unknown or while leadership is being handed over)."""

    def __init__(self, leader_id: str | None, reason: str = "not the leader") -> None:
        super().__init__(f"{reason}; leader: {leader_id or 'unknown'}")
        self.leader_id = leader_id


@dataclass(slots=True)
class _Progress:
    """What a leader knows about one follower (Raft's nextIndex/matchIndex, plus timers)."""

    next_index: int
    match_index: int = -1
    #: Last index of the batch in flight; one batch at a time (DLedger pushes in order too).
    inflight_last: int | None = None
    sent_at_ms: int = 0
    last_sent_ms: int | None = None
    #: When the follower last answered in this term (check-quorum).
    last_ack_ms: int = 0


@dataclass(slots=True)
class _Transfer:
    target: str
    deadline_ms: int
    timeout_now_sent: bool = False


class RaftNode:
    """One member of a Raft group; see the module docstring for the shell's contract."""

    def __init__(
        self,
        self_id: str,
        peer_ids: Sequence[str],
        log: LogStore,
        terms: TermStore,
        config: RaftConfig,
        rng: random.Random,
        now_ms: int,
    ) -> None:
        members = tuple(dict.fromkeys(peer_ids))
        if self_id not in members:
            raise ValueError(f"{self_id!r} is not one of the members {members}")
        self._id = self_id
        self._members = members
        self._peers = tuple(m for m in members if m != self_id)
        self._quorum = len(members) // 2 + 1
        self._log = log
        self._terms = terms
        self._config = config
        self._rng = rng
        # Restart: the persisted term and vote, the last known commit; always a follower.
        self._term = terms.term
        self._voted_for = terms.voted_for
        self._commit_index = log.committed_index
        self._role = Role.FOLLOWER
        self._leader_id: str | None = None
        self._leader_contact_ms: int | None = None
        self._votes: set[str] = set()
        self._progress: dict[str, _Progress] = {}
        self._transfer: _Transfer | None = None
        self._election_deadline_ms = 0
        self._reset_election_timer(now_ms)

    # -- state the shell reads ----------------------------------------------------------------

    @property
    def self_id(self) -> str:
        return self._id

    @property
    def members(self) -> tuple[str, ...]:
        return self._members

    @property
    def role(self) -> Role:
        return self._role

    @property
    def term(self) -> int:
        return self._term

    @property
    def voted_for(self) -> str | None:
        return self._voted_for

    @property
    def leader_id(self) -> str | None:
        return self._leader_id

    @property
    def commit_index(self) -> int:
        return self._commit_index

    @property
    def transfer_target(self) -> str | None:
        """The member leadership is being handed to, while a transfer is under way."""
        return self._transfer.target if self._transfer is not None else None

    # -- the verbs ------------------------------------------------------------------------------

    def tick(self, now_ms: int) -> list[Message]:
        """Let time pass: elections, heartbeats, resends, check-quorum, transfer expiry."""
        if self._role is Role.LEADER:
            return self._tick_leader(now_ms)
        if now_ms >= self._election_deadline_ms:
            return self._start_pre_vote(now_ms)
        return []

    def step(self, msg: Message, now_ms: int) -> list[Message]:
        """Take one message from a peer; returns the messages to send in response."""
        if msg.dst != self._id or msg.src not in self._peers:
            return []
        if msg.term > self._term and not self._keeps_term(msg, now_ms):
            # Raft §5.1: a higher term in any message makes us a follower of that term.
            leader = msg.src if isinstance(msg, AppendRequest) else None
            self._become_follower(msg.term, leader, now_ms)
        if isinstance(msg, VoteRequest):
            return self._on_vote_request(msg, now_ms)
        if isinstance(msg, VoteResponse):
            return self._on_vote_response(msg, now_ms)
        if isinstance(msg, AppendRequest):
            return self._on_append_request(msg, now_ms)
        if isinstance(msg, AppendResponse):
            return self._on_append_response(msg, now_ms)
        return self._on_timeout_now(msg, now_ms)

    def propose(
        self, body: bytes, now_ms: int, hook: AppendHook | None = None
    ) -> tuple[Entry, list[Message]]:
        """Append ``body`` as leader; it is committed once ``commit_index >= entry.index``.

        Raises ``NotLeaderError`` on a non-leader and while a leadership transfer is under way.
        """
        if self._role is not Role.LEADER:
            raise NotLeaderError(self._leader_id)
        if self._transfer is not None:
            raise NotLeaderError(None, f"leadership transfer to {self._transfer.target}")
        entry = self._log.append_leader(self._term, body, hook)
        self._maybe_commit()
        return entry, self._send_to_all(now_ms)

    def transfer_leadership(self, target: str, now_ms: int) -> list[Message]:
        """Hand leadership to ``target`` (thesis §3.10): stop taking proposals, bring the target
        up to date, then tell it to campaign. Gives up after one (max) election timeout."""
        if self._role is not Role.LEADER:
            raise NotLeaderError(self._leader_id)
        if target == self._id:
            return []
        if target not in self._peers:
            raise ValueError(f"{target!r} is not a member")
        if self._transfer is not None and self._transfer.target == target:
            return []
        deadline = now_ms + self._config.election_timeout_max_ms
        self._transfer = _Transfer(target, deadline)
        return self._advance_transfer(now_ms)

    # -- role changes ---------------------------------------------------------------------------

    def _reset_election_timer(self, now_ms: int) -> None:
        cfg = self._config
        timeout = self._rng.randrange(cfg.election_timeout_min_ms, cfg.election_timeout_max_ms)
        self._election_deadline_ms = now_ms + timeout

    def _become_follower(self, term: int, leader_id: str | None, now_ms: int) -> None:
        if term > self._term:
            self._term, self._voted_for = term, None
            self._terms.save(term, None)
        self._role = Role.FOLLOWER
        self._leader_id = leader_id
        self._leader_contact_ms = now_ms if leader_id is not None else None
        self._votes.clear()
        self._progress.clear()
        self._transfer = None
        self._reset_election_timer(now_ms)

    def _start_pre_vote(self, now_ms: int) -> list[Message]:
        # Thesis §9.6: ask first whether we could win, without touching our term, so a member
        # that was cut off does not depose a healthy leader with an inflated term on return.
        self._role = Role.PRE_CANDIDATE
        self._leader_id = None
        self._votes = {self._id}
        self._reset_election_timer(now_ms)
        if len(self._votes) >= self._quorum:
            return self._campaign(now_ms, transfer=False)
        return self._vote_requests(self._term + 1, pre_vote=True, transfer=False)

    def _campaign(self, now_ms: int, transfer: bool) -> list[Message]:
        self._role = Role.CANDIDATE
        self._term += 1
        self._voted_for = self._id
        self._terms.save(self._term, self._id)  # our own vote, durable before anyone asks
        self._leader_id = None
        self._votes = {self._id}
        self._reset_election_timer(now_ms)
        if len(self._votes) >= self._quorum:
            return self._become_leader(now_ms)
        return self._vote_requests(self._term, pre_vote=False, transfer=transfer)

    def _vote_requests(self, term: int, pre_vote: bool, transfer: bool) -> list[Message]:
        last_index, last_term = self._log.end_index, self._log.end_term
        return [
            VoteRequest(self._id, peer, term, last_index, last_term, pre_vote, transfer)
            for peer in self._peers
        ]

    def _become_leader(self, now_ms: int) -> list[Message]:
        self._role = Role.LEADER
        self._leader_id = self._id
        self._votes.clear()
        self._transfer = None
        next_index = self._log.end_index + 1
        # Followers count as heard-from at election: check-quorum gives them one full window.
        self._progress = {p: _Progress(next_index, last_ack_ms=now_ms) for p in self._peers}
        # Raft §8: an entry of our own term, so earlier-term entries commit without waiting
        # for a client (Figure 8 forbids counting replicas of older-term entries).
        self._log.append_leader(self._term, b"")
        self._maybe_commit()
        return self._send_to_all(now_ms) + self._maybe_transfer_to_preferred(now_ms)

    def _keeps_term(self, msg: Message, now_ms: int) -> bool:
        """Messages whose higher term must not move ours."""
        if isinstance(msg, VoteRequest):
            # A pre-vote is hypothetical; a real vote inside the leader lease is ignored
            # (thesis §4.2.3) unless the leader itself asked for it (transfer).
            return msg.pre_vote or (not msg.transfer and self._in_lease(now_ms))
        # A granted pre-vote carries the term asked about, not the voter's.
        return isinstance(msg, VoteResponse) and msg.pre_vote and msg.granted

    def _in_lease(self, now_ms: int) -> bool:
        """Whether we heard from a live leader within the minimum election timeout."""
        if self._role is Role.LEADER:
            return True
        if self._leader_id is None or self._leader_contact_ms is None:
            return False
        return now_ms - self._leader_contact_ms < self._config.election_timeout_min_ms

    # -- elections ------------------------------------------------------------------------------

    def _on_vote_request(self, msg: VoteRequest, now_ms: int) -> list[Message]:
        granted = self._can_grant(msg, now_ms)
        if granted and not msg.pre_vote:
            if self._voted_for != msg.src:
                self._voted_for = msg.src
                self._terms.save(self._term, msg.src)  # one vote per term, durable first
            # Raft §5.2: granting a vote, like hearing from a leader, defers our own election.
            self._reset_election_timer(now_ms)
        term = msg.term if msg.pre_vote and granted else self._term
        return [VoteResponse(self._id, msg.src, term, granted, msg.pre_vote)]

    def _can_grant(self, msg: VoteRequest, now_ms: int) -> bool:
        if not self._log_up_to_date(msg.last_term, msg.last_index):
            return False  # Raft §5.4.1
        if not msg.transfer and self._in_lease(now_ms):
            return False
        if msg.pre_vote:
            return msg.term > self._term
        # A higher term was adopted in step(); anything else still differing is stale.
        return msg.term == self._term and self._voted_for in (None, msg.src)

    def _log_up_to_date(self, last_term: int, last_index: int) -> bool:
        return (last_term, last_index) >= (self._log.end_term, self._log.end_index)

    def _on_vote_response(self, msg: VoteResponse, now_ms: int) -> list[Message]:
        if not msg.granted:
            return []  # a higher term in it was adopted in step(); we wait for the timeout
        if msg.pre_vote:
            if self._role is not Role.PRE_CANDIDATE or msg.term != self._term + 1:
                return []
            self._votes.add(msg.src)
            won = len(self._votes) >= self._quorum
            return self._campaign(now_ms, transfer=False) if won else []
        if self._role is not Role.CANDIDATE or msg.term != self._term:
            return []
        self._votes.add(msg.src)
        return self._become_leader(now_ms) if len(self._votes) >= self._quorum else []

    def _on_timeout_now(self, msg: TimeoutNow, now_ms: int) -> list[Message]:
        # The leader chose us: campaign at once, skipping pre-vote (voters would refuse it,
        # they still hear from the leader) and flagging the votes as a transfer.
        if msg.term != self._term or self._role is Role.LEADER:
            return []
        return self._campaign(now_ms, transfer=True)

    # -- follower side of replication -----------------------------------------------------------

    def _on_append_request(self, msg: AppendRequest, now_ms: int) -> list[Message]:
        if msg.term < self._term:
            # Tell the stale leader our term; it steps down on reading it.
            return [self._append_reply(msg.src, False, msg.prev_index, self._log.end_index)]
        self._follow(msg.src, now_ms)
        hint = self._mismatch_hint(msg.prev_index, msg.prev_term)
        if hint is not None:
            return [self._append_reply(msg.src, False, msg.prev_index, hint)]
        self._append_entries(msg.entries)
        # Raft §5.3: commit no further than what this request proved identical to the leader.
        last_new = msg.prev_index + len(msg.entries)
        self._advance_commit(min(msg.commit_index, last_new))
        return [self._append_reply(msg.src, True, last_new, self._log.end_index)]

    def _follow(self, leader: str, now_ms: int) -> None:
        if self._role is Role.LEADER:
            raise AssertionError(f"two leaders in term {self._term}: {self._id} and {leader}")
        if self._role is Role.FOLLOWER and self._leader_id not in (None, leader):
            raise AssertionError(f"two leaders in term {self._term}: {self._leader_id}, {leader}")
        if self._role is not Role.FOLLOWER or self._leader_id is None:
            self._become_follower(self._term, leader, now_ms)
        self._leader_contact_ms = now_ms
        self._reset_election_timer(now_ms)

    def _append_reply(self, leader: str, success: bool, match: int, end: int) -> AppendResponse:
        return AppendResponse(self._id, leader, self._term, success, match, end)

    def _mismatch_hint(self, prev_index: int, prev_term: int) -> int | None:
        """None if our log holds ``prev_index`` with ``prev_term``; else the back-off hint."""
        log = self._log
        if prev_index > log.end_index:
            return log.end_index
        if prev_index < max(log.begin_index, 0):
            return None  # nothing before the log, or a compacted (hence committed) prefix
        if log.get(prev_index).term == prev_term:
            return None
        # Skip the whole run of the conflicting term (Raft §5.3's optimisation), never below
        # our commit index: committed entries are on the leader too (Leader Completeness).
        conflict_term = log.get(prev_index).term
        index = prev_index - 1
        while index > max(self._commit_index, log.begin_index - 1):
            if log.get(index).term != conflict_term:
                break
            index -= 1
        return index

    def _append_entries(self, entries: tuple[Entry, ...]) -> None:
        log = self._log
        for entry in entries:
            if entry.index < log.begin_index:
                continue  # compacted, hence committed and identical
            if entry.index <= log.end_index:
                if log.get(entry.index).term == entry.term:
                    continue  # same index and term: the same entry (Log Matching)
                self._truncate_after(entry.index - 1)
            log.append_follower(entry)

    def _truncate_after(self, index: int) -> None:
        if index < self._commit_index:
            # A leader contradicting a committed entry means Raft's safety argument failed.
            raise AssertionError(f"truncation after {index} below commit {self._commit_index}")
        self._log.truncate_after(index)

    def _advance_commit(self, index: int) -> None:
        if index > self._commit_index:
            self._commit_index = index
            self._log.update_committed_index(index)

    # -- leader side of replication -------------------------------------------------------------

    def _tick_leader(self, now_ms: int) -> list[Message]:
        if self._lost_quorum(now_ms):
            # Check-quorum: a leader cut off from a majority stops acting as one (DLedger steps
            # down too after maxHeartBeatLeak heartbeats without a quorum).
            self._become_follower(self._term, None, now_ms)
            return []
        if self._transfer is not None and now_ms >= self._transfer.deadline_ms:
            self._transfer = None  # the target did not take over: take proposals again
        messages: list[Message] = []
        for peer in self._peers:
            messages += self._replicate(peer, now_ms)
        return messages + self._maybe_transfer_to_preferred(now_ms)

    def _lost_quorum(self, now_ms: int) -> bool:
        window = self._config.election_timeout_max_ms
        heard = sum(1 for p in self._progress.values() if now_ms - p.last_ack_ms < window)
        return heard + 1 < self._quorum

    def _replicate(self, peer: str, now_ms: int) -> list[Message]:
        progress = self._progress[peer]
        if now_ms - progress.sent_at_ms >= self._config.append_timeout_ms:
            progress.inflight_last = None  # request or answer lost: send again
        messages = self._send_entries(peer, now_ms)
        last = progress.last_sent_ms
        if not messages and (last is None or now_ms - last >= self._config.heartbeat_interval_ms):
            messages = [self._append_request(peer, progress, (), now_ms)]
        return messages

    def _send_to_all(self, now_ms: int) -> list[Message]:
        return [m for peer in self._peers for m in self._send_entries(peer, now_ms)]

    def _send_entries(self, peer: str, now_ms: int) -> list[Message]:
        """The next batch for ``peer``, unless one is in flight or it has everything."""
        progress = self._progress[peer]
        if progress.inflight_last is not None or progress.next_index > self._log.end_index:
            return []
        batch = self._batch(progress.next_index)
        progress.inflight_last = batch[-1].index
        progress.sent_at_ms = now_ms
        return [self._append_request(peer, progress, batch, now_ms)]

    def _batch(self, start: int) -> tuple[Entry, ...]:
        entries: list[Entry] = []
        size = 0
        for index in range(start, self._log.end_index + 1):
            entry = self._log.get(index)
            if entries and size + entry.size > self._config.max_append_bytes:
                break
            entries.append(entry)
            size += entry.size
        return tuple(entries)

    def _append_request(
        self, peer: str, progress: _Progress, entries: tuple[Entry, ...], now_ms: int
    ) -> AppendRequest:
        progress.last_sent_ms = now_ms
        prev = progress.next_index - 1
        prev_term = self._log.get(prev).term if prev >= 0 else -1
        return AppendRequest(
            self._id, peer, self._term, prev, prev_term, entries, self._commit_index
        )

    def _on_append_response(self, msg: AppendResponse, now_ms: int) -> list[Message]:
        if self._role is not Role.LEADER or msg.term != self._term:
            return []
        progress = self._progress[msg.src]
        progress.last_ack_ms = now_ms
        if msg.success:
            return self._on_append_success(msg.src, progress, msg.match_index, now_ms)
        return self._on_append_reject(msg.src, progress, msg, now_ms)

    def _on_append_success(
        self, peer: str, progress: _Progress, match: int, now_ms: int
    ) -> list[Message]:
        if match > self._log.end_index:
            return []  # cannot match what we never wrote: not from us, ignore
        progress.match_index = max(progress.match_index, match)
        progress.next_index = max(progress.next_index, progress.match_index + 1)
        if progress.inflight_last is not None and match >= progress.inflight_last:
            progress.inflight_last = None
        self._maybe_commit()
        # More entries waiting: send the next batch now rather than at the next tick.
        messages = self._send_entries(peer, now_ms)
        return messages + self._advance_transfer(now_ms) + self._maybe_transfer_to_preferred(now_ms)

    def _on_append_reject(
        self, peer: str, progress: _Progress, msg: AppendResponse, now_ms: int
    ) -> list[Message]:
        if msg.match_index != progress.next_index - 1:
            return []  # answers a probe we already moved past (reordered or duplicated)
        progress.next_index = max(0, min(progress.next_index - 1, msg.end_index + 1))
        if progress.next_index <= progress.match_index:
            # Only a follower that lost acknowledged entries (an unflushed crash) gets here;
            # going back lets it catch up instead of stalling on a match it no longer has.
            progress.match_index = progress.next_index - 1
        progress.inflight_last = None
        return self._send_entries(peer, now_ms)

    def _maybe_commit(self) -> None:
        matches = [self._log.end_index, *(p.match_index for p in self._progress.values())]
        matches.sort(reverse=True)
        index = matches[self._quorum - 1]
        # Raft §5.4.2 / Figure 8: count replicas only for entries of the current term; older
        # entries commit with them, by the Log Matching property.
        if index > self._commit_index and self._log.get(index).term == self._term:
            self._advance_commit(index)

    # -- leadership transfer --------------------------------------------------------------------

    def _advance_transfer(self, now_ms: int) -> list[Message]:
        transfer = self._transfer
        if transfer is None or transfer.timeout_now_sent:
            return []
        if self._progress[transfer.target].match_index == self._log.end_index:
            transfer.timeout_now_sent = True
            return [TimeoutNow(self._id, transfer.target, self._term)]
        return self._send_entries(transfer.target, now_ms)

    def _maybe_transfer_to_preferred(self, now_ms: int) -> list[Message]:
        preferred = self._config.preferred_leader_id
        if preferred is None or preferred not in self._progress or self._transfer is not None:
            return []
        if self._progress[preferred].match_index != self._log.end_index:
            return []  # DLedger waits until the preferred member has every entry
        return self.transfer_leadership(preferred, now_ms)
