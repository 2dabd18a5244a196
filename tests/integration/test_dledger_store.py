"""The DLedger store in one process: MessageStores over DLedger logs, real TCP, real files.

A group of three stores (each its own node, log and consume queues): puts go to the leader and
are answered once committed; every member dispatches the committed records into its own
consume queues and index, at the offsets the leader assigned; the data files are identical;
the leader's loss elects another that carries on at the next queue offsets; a reopened store
recovers its log and consume queues. Short Raft timers keep it fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pyrmq.common.clock import SystemClock
from pyrmq.dledger.node import DLedgerNode
from pyrmq.dledger.raft import RaftConfig, Role
from pyrmq.dledger.store import build_dledger_store, dledger_base_dir
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.message_store import MessageStore
from pyrmq.store.results import GetMessageStatus, PutMessageStatus
from tests.integration.test_e2e import wait_for
from tests.support.ports import free_port
from tests.support.store_writer import TOPIC, message

FAST = RaftConfig(
    heartbeat_interval_ms=50, election_timeout_min_ms=300, election_timeout_max_ms=600
)
IDS = ("n0", "n1", "n2")


def config(root: Path, node: str, peers: str) -> MessageStoreConfig:
    return MessageStoreConfig(
        store_path_root_dir=str(root / node),
        mapped_file_size_commit_log=64 * 1024,
        mapped_file_size_consume_queue=100 * 20,
        max_hash_slot_num=1000,
        max_index_num=4000,
        enable_d_leger_commit_log=True,
        d_leger_group="g",
        d_leger_peers=peers,
        d_leger_self_id=node,
    )


class Member:
    def __init__(self, cfg: MessageStoreConfig) -> None:
        self.config = cfg
        self.store: MessageStore
        self.node: DLedgerNode
        self.running = False

    async def start(self) -> None:
        self.store, self.node = build_dledger_store(self.config, SystemClock(), raft_config=FAST)
        self.store.load()
        await self.store.start()
        await self.node.start()
        self.running = True

    async def stop(self) -> None:
        self.running = False
        await self.node.stop()
        await self.store.shutdown()
        self.node.log.close()

    def data(self) -> bytes:
        files = sorted((dledger_base_dir(self.config) / "data").iterdir())
        return b"".join(p.read_bytes() for p in files).rstrip(b"\0")


@asynccontextmanager
async def group(root: Path, ids: tuple[str, ...] = IDS) -> AsyncIterator[dict[str, Member]]:
    peers = ";".join(f"{node}-127.0.0.1:{free_port()}" for node in ids)
    members = {node: Member(config(root, node, peers)) for node in ids}
    try:
        for member in members.values():
            await member.start()
        yield members
    finally:
        for member in members.values():
            if member.running:
                await member.stop()


async def leader_of(members: dict[str, Member]) -> Member:
    def one() -> bool:
        return sum(m.node.role is Role.LEADER for m in members.values()) == 1

    await wait_for(one, 10)
    return next(m for m in members.values() if m.node.role is Role.LEADER)


async def put_range(member: Member, first: int, count: int) -> list[int]:
    offsets = []
    for seq in range(first, first + count):
        result = await member.store.put_message(message(seq))
        assert result.status is PutMessageStatus.PUT_OK, result
        assert result.append is not None
        offsets.append(result.append.logics_offset)
    return offsets


async def test_a_single_member_group_commits_alone_and_recovers(tmp_path: Path) -> None:
    async with group(tmp_path, ("n0",)) as members:
        member = await leader_of(members)
        offsets = await put_range(member, 0, 40)
        assert offsets == [seq // 4 for seq in range(40)]
        await wait_for(lambda: member.store.get_max_offset_in_queue(TOPIC, 1) == 10, 10)
        found = member.store.get_message("g", TOPIC, 1, 0, 32)
        assert found is not None and found.status is GetMessageStatus.FOUND
        assert found.message_count == 10
        found.release()
        await member.stop()
        again = Member(member.config)
        await again.start()
        members["n0"] = again
        assert again.store.get_max_offset_in_queue(TOPIC, 1) == 10
        await leader_of(members)
        assert await put_range(again, 40, 4) == [10] * 4


async def test_three_members_replicate_dispatch_and_survive_the_leader(tmp_path: Path) -> None:
    async with group(tmp_path) as members:
        leader = await leader_of(members)
        await put_range(leader, 0, 100)
        for member in members.values():
            await wait_for(lambda m=member: m.store.get_max_offset_in_queue(TOPIC, 3) == 25, 10)
        await wait_for(lambda: len({m.data() for m in members.values()}) == 1, 10)
        # A follower refuses puts: only the leader's role may append.
        follower = next(m for m in members.values() if m is not leader)
        refused = await follower.store.put_message(message(1000))
        assert refused.status is PutMessageStatus.SERVICE_NOT_AVAILABLE
        await leader.stop()
        rest = {k: m for k, m in members.items() if m is not leader}
        new_leader = await leader_of(rest)
        await wait_for(lambda: new_leader.store.reput.behind() <= 0, 10)
        new_leader.store.commitlog.set_topic_queue_table(
            new_leader.store.consume_queues.queue_offset_table()
        )
        assert await put_range(new_leader, 100, 4) == [25] * 4
        for member in rest.values():
            await wait_for(lambda m=member: m.store.get_max_offset_in_queue(TOPIC, 3) == 26, 10)
        await asyncio.sleep(0)


async def test_a_leader_handing_over_refuses_puts_and_the_target_takes_them(
    tmp_path: Path,
) -> None:
    async with group(tmp_path) as members:
        leader = await leader_of(members)
        await put_range(leader, 0, 8)
        target = next(m for m in members.values() if m is not leader)
        await wait_for(lambda: target.node.log.end_index == leader.node.log.end_index, 10)
        leader.node.transfer_leadership(target.node.self_id)
        refused = await leader.store.put_message(message(100))
        assert refused.status is PutMessageStatus.SERVICE_NOT_AVAILABLE
        await wait_for(lambda: target.node.role is Role.LEADER, 10)
        await wait_for(lambda: target.store.reput.behind() <= 0, 10)
        target.store.commitlog.set_topic_queue_table(
            target.store.consume_queues.queue_offset_table()
        )
        assert await put_range(target, 8, 4) == [2] * 4
