"""DLedgerNode: the asyncio shell around the Raft core — timers, peer sockets, waits.

Mirrors what DLedger's ``DLedgerServer`` wires together (``DLedgerLeaderElector``'s timers,
``DLedgerRpcNettyService``, ``DLedgerEntryPusher``'s quorum-ack futures): a ticker calls
``RaftNode.tick``, the ``PeerTransport`` feeds ``RaftNode.step``, and every message the core
returns is sent. The core persists term, vote and entries before it returns, so sending after
the call keeps "persist before reply". After each call the shell compares role, leader and
commit index with what it saw last and tells its listeners: role changes (the broker switches
master/slave) and commit advances (the store's reput, and the sends waiting for a quorum).

Owns the transport, the ticker, the flusher and the waiters; ``stop`` ends them all.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from pyrmq.common.service import PeriodicTask
from pyrmq.dledger.log_store import AppendHook, Entry, TermStore
from pyrmq.dledger.messages import Message, decode, encode
from pyrmq.dledger.mmap_log import MmapLogStore
from pyrmq.dledger.raft import NotLeaderError, RaftConfig, RaftNode, Role
from pyrmq.dledger.transport import PeerTransport
from pyrmq.store.offset_waiters import OffsetWaiters
from pyrmq.store.results import PutMessageStatus

log = logging.getLogger(__name__)

#: How often the core's clock advances: its timers are 100s of ms, and a coarse tick would
#: also line up two followers' election timeouts (a split vote costs another timeout).
TICK_S = 0.01
#: DLedger flushes data and index files every 10 ms; an mmap write already survives a
#: process kill, so this only bounds what an OS crash could lose.
FLUSH_S = 0.2
#: DLedger writes its checkpoint (endIndex, committedIndex) every 3 s.
CHECKPOINT_S = 3.0
#: DLedger's maxWaitAckTimeMs: a send not committed by then is answered OS_PAGECACHE_BUSY.
MAX_WAIT_ACK_S = 2.5

RoleListener = Callable[[Role, int, str | None], None]


class DLedgerNode:
    """One member of a DLedger group: the Raft core, its log, and its peer connections."""

    def __init__(
        self,
        self_id: str,
        peers: dict[str, tuple[str, int]],
        log_store: MmapLogStore,
        terms: TermStore,
        config: RaftConfig,
        rng: random.Random | None = None,
        group: str = "",
    ) -> None:
        self.self_id = self_id
        self.peers = peers
        self.log = log_store
        self._terms = terms
        self._config = config
        self._rng = rng or random.Random()
        self.transport = PeerTransport(self_id, peers, self._on_payload, group=group)
        self.raft: RaftNode | None = None
        self.role_listeners: list[RoleListener] = []
        self.commit_listeners: list[Callable[[], None]] = []
        self._seen: tuple[Role, int, str | None] | None = None
        self._seen_commit = -1
        #: Sends waiting for their entry's commit; OS_PAGECACHE_BUSY after maxWaitAckTimeMs.
        self._waiters = OffsetWaiters(MAX_WAIT_ACK_S, PutMessageStatus.OS_PAGECACHE_BUSY)
        self._ticker = PeriodicTask("dledger-tick", self._tick, TICK_S)
        self._flusher = PeriodicTask("dledger-flush", self._flush, FLUSH_S, FLUSH_S)
        self._checkpointer = PeriodicTask(
            "dledger-checkpoint", self.log.flush_checkpoint, CHECKPOINT_S, CHECKPOINT_S
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.transport.start()
        self.raft = RaftNode(
            self.self_id,
            list(self.peers),
            self.log,
            self._terms,
            self._config,
            self._rng,
            self._now_ms(),
        )
        self._seen_commit = self.raft.commit_index
        self._observe()
        self._ticker.start()
        self._flusher.start()
        self._checkpointer.start()
        log.info("DLedger node %s started, peers %s", self.self_id, self.peers)

    async def stop(self) -> None:
        await self._ticker.stop()
        await self._flusher.stop()
        await self._checkpointer.stop()
        await self.transport.stop()
        self._waiters.fail_all(PutMessageStatus.SERVICE_NOT_AVAILABLE)
        self.log.flush()
        self.log.flush_checkpoint()

    # ------------------------------------------------------------------ state

    @property
    def role(self) -> Role:
        return self.raft.role if self.raft is not None else Role.FOLLOWER

    @property
    def leader_id(self) -> str | None:
        return self.raft.leader_id if self.raft is not None else None

    def can_propose(self) -> bool:
        """A leader not handing over (a handover refuses proposals with NotLeaderError)."""
        raft = self.raft
        return raft is not None and raft.role is Role.LEADER and raft.transfer_target is None

    # ------------------------------------------------------------------ core calls

    @staticmethod
    def _now_ms() -> int:
        # The core only needs a monotonic clock in ms; this is cheaper than the loop's time().
        return int(time.monotonic() * 1000)

    def _tick(self) -> None:
        if self.raft is not None:
            self._send(self.raft.tick(self._now_ms()))

    def _on_payload(self, src: str, payload: bytes) -> None:
        if self.raft is None:
            return
        try:
            msg = decode(payload)
        except ValueError as exc:
            log.warning("DLedger: bad message from %s: %s", src, exc)
            return
        if msg.src != src:
            log.warning("DLedger: %s sent a message signed %s; dropped", src, msg.src)
            return
        self._send(self.raft.step(msg, self._now_ms()))

    def propose(self, body: bytes, hook: AppendHook | None = None) -> Entry:
        """Append ``body`` as leader and start replicating it; NotLeaderError otherwise."""
        if self.raft is None:
            raise NotLeaderError(None)
        entry, out = self.raft.propose(body, self._now_ms(), hook)
        self._send(out)
        return entry

    def transfer_leadership(self, target: str) -> None:
        if self.raft is not None:
            self._send(self.raft.transfer_leadership(target, self._now_ms()))

    def _send(self, out: list[Message]) -> None:
        for msg in out:
            self.transport.send(msg.dst, encode(msg))
        self._observe()

    def _observe(self) -> None:
        raft = self.raft
        if raft is None:
            return
        if raft.commit_index != self._seen_commit:
            self._seen_commit = raft.commit_index
            self._waiters.release(self.log.committed_pos)
            for listener in self.commit_listeners:
                listener()
        state = (raft.role, raft.term, raft.leader_id)
        if state != self._seen:
            previous, self._seen = self._seen, state
            log.info("DLedger %s: %s term %d leader %s", self.self_id, raft.role.name, *state[1:])
            if previous is not None and previous[0] is Role.LEADER and state[0] is not Role.LEADER:
                self._waiters.fail_all(PutMessageStatus.OS_PAGECACHE_BUSY)
            for role_listener in self.role_listeners:
                role_listener(*state)

    async def _flush(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.log.flush)

    # ------------------------------------------------------------------ quorum waits

    async def wait_replicated(self, next_offset: int) -> PutMessageStatus:
        """The store's ReplicationGate: PUT_OK once the log is committed up to ``next_offset``.

        Not committed within DLedger's maxWaitAckTimeMs, or leadership lost meanwhile:
        OS_PAGECACHE_BUSY (RocketMQ's mapping of WAIT_QUORUM_ACK_TIMEOUT).
        """
        if self.log.committed_pos >= next_offset:
            return PutMessageStatus.PUT_OK
        return await self._waiters.wait(next_offset)
