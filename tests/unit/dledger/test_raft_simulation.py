"""Raft's properties over many seeded runs of a simulated, faulty network (simnet.py).

Each chaos run: a 3- or 5-node group, clients proposing to whoever leads, and for six
simulated seconds random partitions, one-way link cuts, isolated or crashed leaders, crashes
and restarts over a network that delays, reorders, loses and duplicates. Then everything heals
and the run checks liveness. Hostile runs add bigger groups, heavy loss, long delays and tiny
batches, and are checked for safety only. The property tests (named after the extended Raft
paper's sections) read the violations the checker recorded during the runs; each run happens
once per seed (cached), whichever test asks first.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field, replace

import pytest

from pyrmq.dledger.log_store import Entry
from pyrmq.dledger.raft import Role
from tests.unit.dledger.simnet import SIM_CONFIG, NetConditions, SimNet

SEEDS = range(120)
#: Seeds of the hostile runs: up to 7 nodes, 30% loss, 400 ms delays, one-entry batches.
HOSTILE_SEEDS = range(1000, 1030)
CHAOS_MS = 6000
SETTLE_MS = 2500


@dataclass
class Report:
    net: SimNet
    liveness: list[str] = field(default_factory=list)
    elections: int = 0
    committed: int = 0


class Client:
    """Proposes uniquely named bodies of random sizes to whichever node claims to lead."""

    def __init__(self, net: SimNet, rng: random.Random, tag: str) -> None:
        self.net, self.rng, self.tag = net, rng, tag
        self.count = 0

    def body(self) -> bytes:
        self.count += 1
        head = f"{self.tag}/{self.count}/".encode()
        return head.ljust(self.rng.randint(1, 150), b"x")

    def maybe_propose(self, chance: float) -> None:
        leaders = self.net.leaders()
        if leaders and self.rng.random() < chance:
            self.net.propose(self.rng.choice(leaders), self.body())


def _random_fault(net: SimNet, rng: random.Random) -> None:
    ids = list(net.ids)
    kind = rng.choices(
        ["partition", "one-way cut", "isolate leader", "crash leader", "crash", "restart", "heal"],
        weights=[3, 1, 3, 1, 1, 2, 2],
    )[0]
    if kind == "partition":
        rng.shuffle(ids)
        k = rng.randint(1, len(ids) // 2)
        net.partition(ids[:k], ids[k:])
    elif kind == "one-way cut":
        rng.shuffle(ids)
        net.cut.add((ids[0], ids[1]))  # ids[1] stops hearing ids[0], not the other way
    elif kind == "isolate leader" and net.leaders():
        net.isolate(rng.choice(net.leaders()))
    elif kind == "crash leader" and net.leaders():
        net.crash(rng.choice(net.leaders()))
    elif kind == "crash" and net.nodes:
        net.crash(rng.choice(sorted(net.nodes)))
    elif kind == "restart":
        for node_id in ids:
            net.restart(node_id)
    else:
        net.heal()


def _chaos(net: SimNet, rng: random.Random, client: Client, until_ms: int) -> None:
    next_fault = rng.randint(200, 600)
    while net.now < until_ms:
        net.run_for(10)
        client.maybe_propose(0.5)
        if net.now >= next_fault:
            _random_fault(net, rng)
            next_fault += rng.randint(200, 1000)


def _heal_everything(net: SimNet) -> None:
    net.heal()
    net.net = NetConditions()
    for node_id in net.ids:
        net.restart(node_id)


def _check_liveness(net: SimNet, client: Client, report: Report) -> None:
    """After healing: one leader everyone follows, which commits what it is given, everywhere."""
    net.run_for(SETTLE_MS)
    leader = net.stable_leader()
    if leader is None:
        report.liveness.append(f"no stable leader {SETTLE_MS} ms after healing")
        return
    proposed: list[Entry] = []
    for _ in range(20):
        entry = net.propose(leader, client.body())
        if entry is None:
            report.liveness.append(f"{leader} refused a proposal after healing")
            return
        proposed.append(entry)
        net.run_for(10)
    net.run_for(1500)
    if net.stable_leader() != leader:
        report.liveness.append(f"leadership moved from {leader} in a healed network")
    logs = {node_id: log.entries() for node_id, log in net.logs.items()}
    if len(set(logs.values())) != 1:
        report.liveness.append("logs did not converge")
    for node_id, node in net.nodes.items():
        if node.commit_index != net.logs[node_id].end_index:
            report.liveness.append(f"{node_id} commits {node.commit_index} of its log")
        for entry in proposed:
            if node.commit_index < entry.index or logs[node_id][entry.index] != entry:
                report.liveness.append(f"{node_id} did not commit {entry.index}")
                break


@functools.cache
def chaos_run(seed: int) -> Report:
    rng = random.Random(seed * 7919 + 1)
    ids = [f"n{i}" for i in range(5 if seed % 3 else 3)]
    conditions = NetConditions(
        max_delay_ms=rng.choice([10, 30, 60]),
        loss=rng.choice([0.0, 0.02, 0.1]),
        duplicate=rng.choice([0.0, 0.05]),
    )
    net = SimNet(ids, seed, net=conditions)
    client = Client(net, rng, f"s{seed}")
    _chaos(net, rng, client, CHAOS_MS)
    _heal_everything(net)
    report = Report(net)
    _check_liveness(net, client, report)
    net.final_checks()
    report.elections = len(net.checker.leaders_by_term)
    report.committed = len(net.checker.committed)
    return report


@functools.cache
def hostile_run(seed: int) -> SimNet:
    """Safety only: with one entry per request and 400 ms delays, catching up after healing
    can take longer than a liveness check would wait, but no property may break."""
    rng = random.Random(seed)
    ids = [f"n{i}" for i in range(rng.choice([2, 4, 5, 7]))]
    config = replace(SIM_CONFIG, max_append_bytes=rng.choice([50, 400]))
    conditions = NetConditions(
        max_delay_ms=rng.choice([150, 400]), loss=rng.choice([0.1, 0.3]), duplicate=0.2
    )
    net = SimNet(ids, seed, config=config, net=conditions)
    _chaos(net, rng, Client(net, rng, f"h{seed}"), CHAOS_MS)
    _heal_everything(net)
    net.run_for(SETTLE_MS)
    net.final_checks()
    return net


def _failures(prop: str) -> dict[int, list[str]]:
    nets = [(seed, chaos_run(seed).net) for seed in SEEDS]
    nets += [(seed, hostile_run(seed)) for seed in HOSTILE_SEEDS]
    found = {seed: net.checker.violations.get(prop, []) for seed, net in nets}
    return {seed: v[:3] for seed, v in found.items() if v}


def test_s5_2_election_safety_at_most_one_leader_per_term() -> None:
    assert _failures("election safety") == {}


def test_s5_3_leader_append_only() -> None:
    assert _failures("leader append-only") == {}


def test_s5_3_log_matching() -> None:
    assert _failures("log matching") == {}


def test_s5_4_leader_completeness() -> None:
    assert _failures("leader completeness") == {}


def test_s5_4_3_state_machine_safety() -> None:
    assert _failures("state machine safety") == {}


def test_persist_before_reply() -> None:
    assert _failures("persist before reply") == {}


def test_liveness_after_heal() -> None:
    failures = {seed: chaos_run(seed).liveness for seed in SEEDS if chaos_run(seed).liveness}
    assert failures == {}


def test_chaos_runs_are_not_vacuous() -> None:
    """The faults really cause elections, divergent logs and truncations, and work commits."""
    reports = [chaos_run(seed) for seed in SEEDS]
    assert all(r.committed > 20 for r in reports)
    assert sum(r.elections >= 3 for r in reports) > len(reports) // 2
    assert sum(any(log.truncations for log in r.net.logs.values()) for r in reports) >= 5


# -- scenarios ---------------------------------------------------------------------------------


def _settle(net: SimNet, within_ms: int = 3000) -> str:
    deadline = net.now + within_ms
    while net.now < deadline:
        net.run_for(50)
        leader = net.stable_leader()
        if leader is not None:
            return leader
    raise AssertionError(f"no stable leader within {within_ms} ms")


@pytest.mark.parametrize("seed", range(8))
def test_isolated_leader_steps_down_and_does_not_disrupt_on_return(seed: int) -> None:
    net = SimNet([f"n{i}" for i in range(5)], seed)
    old = _settle(net)
    old_term = net.nodes[old].term
    net.isolate(old)
    # Check-quorum: within one (max) election timeout plus a tick it stops being leader.
    net.run_for(SIM_CONFIG.election_timeout_max_ms + net.tick_ms)
    assert net.nodes[old].role is not Role.LEADER
    net.run_for(1500)
    majority_leader = {n.leader_id for i, n in net.nodes.items() if i != old}
    assert len(majority_leader) == 1
    new = majority_leader.pop()
    assert new is not None and new != old
    new_term = net.nodes[new].term
    # Pre-vote: the isolated node's failed elections never raised its term.
    assert net.nodes[old].term == old_term
    net.heal()
    net.run_for(1000)
    assert net.stable_leader() == new
    assert net.nodes[new].term == new_term


@pytest.mark.parametrize("seed", range(8))
def test_leadership_transfer_to_preferred_leader(seed: int) -> None:
    config = replace(SIM_CONFIG, preferred_leader_id="n3")
    net = SimNet([f"n{i}" for i in range(5)], seed, config=config)
    client = Client(net, random.Random(seed), "p")
    for _ in range(150):
        net.run_for(10)
        client.maybe_propose(0.3)
    assert net.stable_leader() == "n3"
    net.isolate("n3")
    net.run_for(1500)
    others = {n.leader_id for i, n in net.nodes.items() if i != "n3"}
    assert len(others) == 1 and others != {"n3"} and others != {None}
    net.heal()
    for _ in range(200):
        net.run_for(10)
        client.maybe_propose(0.3)
    net.run_for(500)
    assert net.stable_leader() == "n3"
    logs = {log.entries() for log in net.logs.values()}
    assert len(logs) == 1


@pytest.mark.parametrize("seed", range(6))
def test_transfer_leadership_hands_over_promptly(seed: int) -> None:
    net = SimNet([f"n{i}" for i in range(3)], seed)
    client = Client(net, random.Random(seed), "t")
    leader = _settle(net)
    for _ in range(10):
        net.propose(leader, client.body())
    target = next(i for i in net.ids if i != leader)
    net.transfer(leader, target)
    assert net.propose(leader, client.body()) is None  # no proposals while handing over
    net.run_for(200)  # well under an election timeout: no election timer was involved
    assert net.stable_leader() == target
    net.run_for(300)
    assert len({log.entries() for log in net.logs.values()}) == 1
    assert all(n.commit_index == net.logs[target].end_index for n in net.nodes.values())


def test_single_node_cluster_elects_itself_and_commits_alone() -> None:
    net = SimNet(["solo"], 1)
    assert _settle(net) == "solo"
    entry = net.propose("solo", b"m")
    assert entry is not None
    assert net.nodes["solo"].commit_index == entry.index


@pytest.mark.parametrize("seed", range(4))
def test_whole_group_restart_keeps_committed_entries(seed: int) -> None:
    net = SimNet([f"n{i}" for i in range(3)], seed)
    client = Client(net, random.Random(seed), "r")
    leader = _settle(net)
    for _ in range(30):
        net.propose(leader, client.body())
        net.run_for(5)
    net.run_for(300)
    committed = {i: net.nodes[i].commit_index for i in net.ids}
    assert min(committed.values()) >= 30
    for node_id in net.ids:
        net.crash(node_id)
    net.run_for(100)
    for node_id in net.ids:
        net.restart(node_id)
        assert net.nodes[node_id].commit_index == committed[node_id]
    leader = _settle(net)
    entry = net.propose(leader, client.body())
    assert entry is not None
    net.run_for(300)
    assert all(n.commit_index >= entry.index for n in net.nodes.values())
    net.final_checks()
    assert dict(net.checker.violations) == {}


def test_the_checker_catches_what_it_looks_for() -> None:
    """The property checks above are only worth their silence if they can fail."""
    net = SimNet(["a", "b"], 0)
    net.logs["a"].append_leader(1, b"x")
    net.logs["a"].append_leader(2, b"y")
    net.logs["b"].append_leader(1, b"z")  # index 0 differs...
    net.logs["b"].append_leader(2, b"y")  # ...under an index 1 of the same term
    checker = net.checker
    checker.committed[0] = net.logs["a"].get(0)
    checker.commit_term[0] = 1
    checker.leader_logs.append((2, net.logs["b"].entries()))
    net.final_checks()
    assert set(checker.violations) == {"log matching", "leader completeness"}
