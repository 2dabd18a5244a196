"""Classic HA in process: a master store with HAService, a slave store with HAClient."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from pyrmq.ha.codec import encode_report
from pyrmq.ha.master import HAService
from pyrmq.ha.slave import HAClient
from pyrmq.store.commitlog import MessageExtBrokerInner
from pyrmq.store.config import BrokerRole, MessageStoreConfig
from pyrmq.store.message_store import MessageStore
from pyrmq.store.results import GetMessageStatus, PutMessageStatus

TOPIC = "HaTopic"
QUEUES = 4
SEGMENT = 64 * 1024


def make_config(root: Path, role: BrokerRole, **overrides: object) -> MessageStoreConfig:
    config = MessageStoreConfig(
        store_path_root_dir=str(root),
        mapped_file_size_commit_log=SEGMENT,
        mapped_file_size_consume_queue=1000 * 20,
        max_hash_slot_num=1024,
        max_index_num=4096,
        broker_role=role,
        ha_send_heartbeat_interval=200,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def msg(seq: int) -> MessageExtBrokerInner:
    return MessageExtBrokerInner(
        topic=TOPIC,
        queue_id=seq % QUEUES,
        body=f"body-{seq:06d}-".encode() * 6,
        properties={"TAGS": "TagA", "KEYS": f"k{seq}", "UNIQ_KEY": f"UNIQ{seq:012d}"},
        born_timestamp=1_700_000_000_000,
        born_host=("127.0.0.1", 50000),
        store_host=("127.0.0.1", 10911),
    )


async def open_store(config: MessageStoreConfig) -> MessageStore:
    store = MessageStore(config)
    store.load()
    await store.start()
    return store


async def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``check`` every 10 ms until it holds; fail after ``timeout_s``."""
    for _ in range(int(timeout_s / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout_s} s")


class Pair:
    """A master with its HA service and, when started, a slave replicating from it."""

    def __init__(self, tmp: Path, role: BrokerRole, **master_overrides: object) -> None:
        self.tmp = tmp
        self.master_config = make_config(tmp / "master", role, **master_overrides)
        self.slave_config = make_config(tmp / "slave", BrokerRole.SLAVE)
        self.master: MessageStore | None = None
        self.service: HAService | None = None
        self.slave: MessageStore | None = None
        self.client: HAClient | None = None

    async def start_master(self, gate: bool) -> None:
        self.master = await open_store(self.master_config)
        self.service = HAService(self.master, self.master_config, "127.0.0.1", 0)
        await self.service.start()
        if gate:
            self.master.replication_gate = self.service

    async def start_slave(self) -> None:
        assert self.service is not None
        address = f"127.0.0.1:{self.service.port}"
        self.slave = await open_store(self.slave_config)
        self.client = HAClient(self.slave, lambda: address, self.slave_config, 0.05)
        self.client.start()
        await eventually(lambda: self.service is not None and len(self.service.connections) == 1)

    async def stop_slave(self) -> None:
        if self.client is not None:
            await self.client.stop()
            self.client = None
        if self.slave is not None:
            await self.slave.shutdown()
            self.slave = None

    async def close(self) -> None:
        await self.stop_slave()
        if self.service is not None:
            await self.service.stop()
        if self.master is not None:
            await self.master.shutdown()

    async def put(self, seq: int) -> PutMessageStatus:
        assert self.master is not None and self.service is not None
        result = await self.master.put_message(msg(seq))
        self.service.notify_append()  # what the broker does after every put
        return result.status

    def master_m(self) -> MessageStore:
        assert self.master is not None
        return self.master

    def slave_s(self) -> MessageStore:
        assert self.slave is not None
        return self.slave

    async def wait_caught_up(self) -> None:
        master, slave = self.master_m(), self.slave_s()
        await eventually(lambda: slave.commitlog.max_offset() == master.commitlog.max_offset())
        await eventually(lambda: slave.reput.behind() == 0)


@pytest.fixture
async def pairs(tmp_path: Path) -> AsyncIterator[Callable[..., Pair]]:
    made: list[Pair] = []

    def make(role: BrokerRole, **overrides: object) -> Pair:
        pair = Pair(tmp_path / f"pair{len(made)}", role, **overrides)
        made.append(pair)
        return pair

    yield make
    for pair in made:
        await pair.close()


def assert_same_commitlog(master: MessageStore, slave: MessageStore) -> None:
    master_files = master.commitlog.mapped_file_queue.files
    slave_files = slave.commitlog.mapped_file_queue.files
    assert [f.path.name for f in slave_files] == [f.path.name for f in master_files]
    for m, s in zip(master_files, slave_files, strict=True):
        assert s.wrote_position == m.wrote_position
        assert s.path.read_bytes()[: m.wrote_position] == m.path.read_bytes()[: m.wrote_position]


def queue_records(store: MessageStore, queue_id: int) -> list[bytes]:
    records: list[bytes] = []
    offset = 0
    while True:
        result = store.get_message("g", TOPIC, queue_id, offset, 32)
        assert result is not None
        if result.status is not GetMessageStatus.FOUND:
            return records
        records += [bytes(view) for view in result.messages]
        offset = result.next_begin_offset


def assert_same_queues(master: MessageStore, slave: MessageStore, total: int) -> None:
    count = 0
    for queue_id in range(QUEUES):
        expected = queue_records(master, queue_id)
        assert queue_records(slave, queue_id) == expected
        count += len(expected)
    assert count == total


async def test_async_master_replicates_every_segment(pairs: Callable[..., Pair]) -> None:
    pair = pairs(BrokerRole.ASYNC_MASTER)
    await pair.start_master(gate=False)
    await pair.start_slave()
    for seq in range(2000):
        assert await pair.put(seq) is PutMessageStatus.PUT_OK
    await pair.wait_caught_up()
    master, slave = pair.master_m(), pair.slave_s()
    assert len(master.commitlog.mapped_file_queue.files) >= 3
    assert_same_commitlog(master, slave)
    assert_same_queues(master, slave, 2000)
    assert pair.service is not None
    await eventually(
        lambda: (
            pair.service is not None
            and pair.service.push2slave_max_offset == master.commitlog.max_offset()
        )
    )


async def test_sync_master_acks_only_after_the_slave(pairs: Callable[..., Pair]) -> None:
    pair = pairs(BrokerRole.SYNC_MASTER)
    await pair.start_master(gate=True)
    await pair.start_slave()
    master, service = pair.master_m(), pair.service
    assert service is not None
    for seq in range(300):
        result = await master.put_message(msg(seq))
        assert result.status is PutMessageStatus.PUT_OK
        assert result.append is not None
        assert service.push2slave_max_offset >= result.append.next_offset
    await pair.wait_caught_up()
    assert_same_commitlog(master, pair.slave_s())
    assert_same_queues(master, pair.slave_s(), 300)


async def test_sync_master_without_slave_stores_but_reports_it(
    pairs: Callable[..., Pair],
) -> None:
    pair = pairs(BrokerRole.SYNC_MASTER)
    await pair.start_master(gate=True)
    assert await pair.put(0) is PutMessageStatus.SLAVE_NOT_AVAILABLE
    master = pair.master_m()
    await eventually(lambda: master.get_max_offset_in_queue(TOPIC, 0) == 1)


async def test_sync_master_times_out_on_a_silent_slave(pairs: Callable[..., Pair]) -> None:
    pair = pairs(BrokerRole.SYNC_MASTER, slave_timeout=200)
    await pair.start_master(gate=True)
    assert pair.service is not None
    _reader, writer = await asyncio.open_connection("127.0.0.1", pair.service.port)
    try:
        writer.write(encode_report(0))
        await writer.drain()
        await eventually(lambda: pair.service is not None and len(pair.service.connections) == 1)
        assert await pair.put(0) is PutMessageStatus.FLUSH_SLAVE_TIMEOUT
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def test_slave_restart_resumes_from_its_own_offset(pairs: Callable[..., Pair]) -> None:
    pair = pairs(BrokerRole.ASYNC_MASTER)
    await pair.start_master(gate=False)
    await pair.start_slave()
    for seq in range(700):
        await pair.put(seq)
    await pair.wait_caught_up()
    resume_at = pair.slave_s().commitlog.max_offset()
    await pair.stop_slave()
    for seq in range(700, 1500):
        await pair.put(seq)
    await pair.start_slave()
    assert pair.service is not None
    (conn,) = pair.service.connections
    await eventually(lambda: conn.slave_request_offset >= 0)
    assert conn.slave_request_offset == resume_at
    for seq in range(1500, 2000):
        await pair.put(seq)
    await pair.wait_caught_up()
    assert_same_commitlog(pair.master_m(), pair.slave_s())
    assert_same_queues(pair.master_m(), pair.slave_s(), 2000)
