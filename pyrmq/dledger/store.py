"""build_dledger_store: a MessageStore whose commitlog is a DLedger group member's log.

The one place that wires DLedger under the store (RocketMQ's ``DefaultMessageStore`` built
with ``DLedgerCommitLog``): ``dLegerPeers``/``dLegerSelfId`` checked, the log opened (and
recovered) under ``<storePathRootDir>/dledger-<selfId>`` or ``storePathDLedgerCommitLog``, the
term file beside it, the Raft node, the commitlog and reput over them; the node is the store's
ReplicationGate (a send is answered once committed) and wakes the reput on every commit.
The broker adds the role handling on top.
"""

from __future__ import annotations

from pathlib import Path

from pyrmq.common.clock import Clock
from pyrmq.dledger.commitlog import DLedgerCommitLog, DLedgerReputService
from pyrmq.dledger.member_state import FileTermStore
from pyrmq.dledger.mmap_log import MmapLogStore
from pyrmq.dledger.node import DLedgerNode
from pyrmq.dledger.peers import parse_peers, validate
from pyrmq.dledger.raft import RaftConfig
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.message_store import MessageStore
from pyrmq.store.ports import MessageArrivingListener

#: pyrmq's Raft timers for brokers (DLedger's defaults: 2 s heartbeats, 6 s before an election;
#: issue #7 asks for failover under 3 s). A follower stands after 0.8-1.6 s without a leader.
HEARTBEAT_INTERVAL_MS = 150
ELECTION_TIMEOUT_MS = (800, 1600)


def dledger_base_dir(config: MessageStoreConfig) -> Path:
    self_id = config.d_leger_self_id or ""
    return Path(config.store_path_d_ledger_commit_log or config.root / f"dledger-{self_id}")


def build_dledger_store(
    config: MessageStoreConfig,
    clock: Clock,
    arrival_listener: MessageArrivingListener | None = None,
    raft_config: RaftConfig | None = None,
) -> tuple[MessageStore, DLedgerNode]:
    """The store and its node (ValueError naming the key for bad peers or self id)."""
    self_id = config.d_leger_self_id or ""
    peers = parse_peers(config.d_leger_peers or "")
    validate(peers, self_id)
    base = dledger_base_dir(config)
    log_store = MmapLogStore.open(base, config.mapped_file_size_commit_log)
    if raft_config is None:
        raft_config = RaftConfig(
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            election_timeout_min_ms=ELECTION_TIMEOUT_MS[0],
            election_timeout_max_ms=ELECTION_TIMEOUT_MS[1],
            preferred_leader_id=config.preferred_leader_id or None,
        )
    node = DLedgerNode(
        self_id,
        peers,
        log_store,
        FileTermStore(base),
        raft_config,
        group=config.d_leger_group or "",
    )
    commitlog = DLedgerCommitLog(config, clock, log_store, node.propose, node.can_propose)
    store = MessageStore(config, clock, arrival_listener, commitlog, DLedgerReputService)
    store.replication_gate = node
    node.commit_listeners.append(store.reput.wake)
    return store, node
