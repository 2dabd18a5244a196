"""pyrmq's client against NameServer and broker processes started through bin/.

The tutorial's "single master" and "2 masters, no slave" deployments on loopback: exactly-once
consumption of 10,000 messages by a fresh group, queue sharing and rebalancing in one group, a
broker restart resuming from committed offsets, and sends surviving the loss of one of two
masters. Processes are stopped by PID at the end of every test.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pyrmq.client import ConsumeStatus, Message, MessageExt, Producer, PushConsumer
from pyrmq.client.admin import Admin
from pyrmq.client.sending import SendStatus
from tests.support.processes import ServerProcess, run_bin, write_properties

pytestmark = pytest.mark.cluster

TOPIC = "E2ETopic"


@dataclass
class Deployment:
    root: Path
    namesrv: ServerProcess
    brokers: dict[str, ServerProcess] = field(default_factory=dict)

    @property
    def namesrv_addr(self) -> str:
        return self.namesrv.addr

    def start_broker(self, name: str, host: str, port: int = 0, **extra: object) -> ServerProcess:
        settings: dict[str, object] = {"defaultTopicQueueNums": 4, **extra}
        conf = write_properties(
            self.root / f"{name}.properties",
            brokerClusterName="DefaultCluster",
            brokerName=name,
            brokerId=0,
            brokerIP1=host,
            listenPort=port,
            namesrvAddr=self.namesrv_addr,
            storePathRootDir=self.root / name,
            mappedFileSizeCommitLog=16 * 1024 * 1024,
            maxHashSlotNum=100_000,
            maxIndexNum=400_000,
            **settings,
        )
        previous = self.brokers.get(name)
        if previous is not None:
            previous.stop()  # already exited: this closes its log
        broker = ServerProcess("mqbroker", ["-c", str(conf)], self.root / f"{name}-{port}")
        self.brokers[name] = broker.wait_ready()
        return broker

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        broker = self.brokers[name]
        os.kill(broker.pid, sig)
        broker.wait_exit()
        broker.stop()  # closes its log; the process is gone

    def stop_all(self) -> None:
        for broker in self.brokers.values():
            broker.stop()
        self.namesrv.stop()


@contextmanager
def deployment(root: Path) -> Iterator[Deployment]:
    conf = write_properties(
        root / "namesrv.properties",
        listenPort=0,
        bindAddress="127.0.0.1",
        kvConfigPath=root / "kvConfig.json",
    )
    (root / "namesrv").mkdir(parents=True, exist_ok=True)
    namesrv = ServerProcess("mqnamesrv", ["-c", str(conf)], root / "namesrv").wait_ready()
    running = Deployment(root, namesrv)
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Deployment]:
    with deployment(tmp_path) as running:
        running.start_broker("broker-a", "127.0.0.1")
        yield running


Listener = Callable[[list[MessageExt]], ConsumeStatus]


@asynccontextmanager
async def consumer(
    namesrv_addr: str, group: str, seen: list[tuple[str, bytes]], name: str = "c"
) -> AsyncIterator[PushConsumer]:
    push = PushConsumer(group, namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    push.subscribe(TOPIC, "*")

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        seen.extend((name, m.body) for m in msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    push.register_listener(listener)
    await push.start()
    try:
        yield push
    finally:
        await push.shutdown()


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    assert predicate(), f"condition not met within {timeout_s}s"


async def produce(producer: Producer, first: int, count: int, concurrency: int = 16) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            msg = Message(
                TOPIC, f"m{i}".encode(), properties={"TAGS": f"Tag{i % 3}", "KEYS": f"key-{i}"}
            )
            result = await producer.send(msg)
            assert result.send_status is SendStatus.SEND_OK

    await asyncio.gather(*(one(i) for i in range(first, first + count)))


# --------------------------------------------------------------------------- single master


async def test_ten_thousand_messages_consumed_exactly_once(single: Deployment) -> None:
    producer = Producer("pg", single.namesrv_addr)
    await producer.start()
    try:
        await produce(producer, 0, 10_000)
    finally:
        await producer.shutdown()
    seen: list[tuple[str, bytes]] = []
    async with consumer(single.namesrv_addr, "fresh-group", seen):
        await wait_for(lambda: len(seen) >= 10_000)
        await asyncio.sleep(0.5)  # nothing more may arrive
    bodies = [body for _, body in seen]
    assert len(bodies) == 10_000
    assert set(bodies) == {f"m{i}".encode() for i in range(10_000)}
    admin = Admin(single.namesrv_addr)
    try:
        route = await admin.topic_route(TOPIC)
        assert sum(qd.write_queue_nums for qd in route.queue_datas) == 4
    finally:
        await admin.close()


async def test_group_members_split_queues_and_rebalance_without_loss(
    single: Deployment,
) -> None:
    producer = Producer("pg", single.namesrv_addr)
    await producer.start()
    seen: list[tuple[str, bytes]] = []
    try:
        await produce(producer, 0, 400)
        async with consumer(single.namesrv_addr, "shared", seen, "c1") as c1:
            async with consumer(single.namesrv_addr, "shared", seen, "c2") as c2:
                await wait_for(lambda: len({b for _, b in seen}) >= 400)
                await produce(producer, 400, 400)
                await wait_for(lambda: len({b for _, b in seen}) >= 800)
                mine = {name for name, _ in seen[-400:]}
                assert mine == {"c1", "c2"}  # both members consumed
                assert set(c1.assigned_queues()).isdisjoint(c2.assigned_queues())
                async with consumer(single.namesrv_addr, "shared", seen, "c3") as c3:
                    await wait_for(lambda: bool(c3.assigned_queues()), 30)
                    await produce(producer, 800, 400)
                    await wait_for(lambda: len({b for _, b in seen}) >= 1200)
            # c2 and c3 left: c1 takes every queue back
            await wait_for(lambda: len(c1.assigned_queues()) == 4, 30)
            await produce(producer, 1200, 400)
            await wait_for(lambda: len({b for _, b in seen}) >= 1600)
    finally:
        await producer.shutdown()
    assert {b for _, b in seen} == {f"m{i}".encode() for i in range(1600)}


async def test_broker_restart_resumes_the_group_from_committed_offsets(
    single: Deployment,
) -> None:
    producer = Producer("pg", single.namesrv_addr)
    await producer.start()
    seen: list[tuple[str, bytes]] = []
    try:
        await produce(producer, 0, 300)
        async with consumer(single.namesrv_addr, "resume", seen):
            await wait_for(lambda: len(seen) >= 300)
        broker = single.brokers["broker-a"]
        port = broker.port
        broker.stop()  # SIGTERM: a clean shutdown persists offsets and removes the abort file
        assert not (single.root / "broker-a" / "abort").exists()
        single.start_broker("broker-a", "127.0.0.1", port)
        await produce(producer, 300, 200)
    finally:
        await producer.shutdown()
    after: list[tuple[str, bytes]] = []
    async with consumer(single.namesrv_addr, "resume", after):
        await wait_for(lambda: len(after) >= 200)
        await asyncio.sleep(0.5)
    assert sorted(b for _, b in after) == sorted(f"m{i}".encode() for i in range(300, 500))


async def test_long_polling_wakes_an_idle_consumer(single: Deployment) -> None:
    seen: list[tuple[str, bytes]] = []
    producer = Producer("pg", single.namesrv_addr)
    await producer.start()
    try:
        await produce(producer, 0, 1)  # the topic exists before the consumer starts
        async with consumer(single.namesrv_addr, "idle", seen):
            await wait_for(lambda: len(seen) >= 1)
            await asyncio.sleep(1.0)  # every pull is now held by the broker
            loop = asyncio.get_running_loop()
            sent_at = loop.time()
            await produce(producer, 1, 1)
            await wait_for(lambda: len({b for _, b in seen}) == 2, 10)
            # Far below the 15 s hold: the arrival woke the pull (the figure is in benchmarks/).
            assert loop.time() - sent_at < 5
        assert sorted(b for _, b in seen) == [b"m0", b"m1"]  # and each came once
    finally:
        await producer.shutdown()


# --------------------------------------------------------------------------- 2m-noslave


async def test_two_masters_share_a_topic_and_survive_losing_one(tmp_path: Path) -> None:
    with deployment(tmp_path) as running:
        running.start_broker("broker-a", "127.0.0.1")
        b = running.start_broker("broker-b", "127.0.0.2")
        b_port = b.port
        admin = Admin(running.namesrv_addr)
        producer = Producer("pg", running.namesrv_addr)
        try:
            await admin.create_topic("DefaultCluster", TOPIC, 4)
            await producer.start()
            results = [await producer.send(Message(TOPIC, f"m{i}".encode())) for i in range(200)]
            brokers = {r.message_queue.broker_name for r in results if r.message_queue}
            assert brokers == {"broker-a", "broker-b"}

            running.kill("broker-b")
            for i in range(200, 400):  # sends go on, on broker-a
                result = await producer.send(Message(TOPIC, f"m{i}".encode()))
                assert result.send_status is SendStatus.SEND_OK
            running.start_broker("broker-b", "127.0.0.2", b_port)
        finally:
            await producer.shutdown()
            await admin.close()
        seen: list[tuple[str, bytes]] = []
        async with consumer(running.namesrv_addr, "both", seen):
            await wait_for(lambda: len({b for _, b in seen}) >= 400, 90)
        assert {b for _, b in seen} == {f"m{i}".encode() for i in range(400)}


# --------------------------------------------------------------------------- lifecycle


async def test_mqshutdown_broker_is_graceful(single: Deployment) -> None:
    producer = Producer("pg", single.namesrv_addr)
    await producer.start()
    seen: list[tuple[str, bytes]] = []
    try:
        await produce(producer, 0, 50)
        async with consumer(single.namesrv_addr, "graceful", seen):
            await wait_for(lambda: len(seen) >= 50)
    finally:
        await producer.shutdown()
    broker = single.brokers["broker-a"]
    workdir = broker.log_path.parent
    assert (single.root / "broker-a" / "abort").exists()  # running
    stopped = run_bin("mqshutdown", ["broker"], workdir)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert broker.wait_exit() == 0
    assert not (single.root / "broker-a" / "abort").exists()
    assert not list((workdir / "run").glob("broker-*.pid"))
    offsets = (single.root / "broker-a" / "config" / "consumerOffset.json").read_text()
    assert f"{TOPIC}@graceful" in offsets
    admin = Admin(single.namesrv_addr)
    try:
        info = await admin.cluster_info()
        assert info.broker_addr_table == {}  # unregistered from the NameServer
    finally:
        await admin.close()


def test_bad_broker_config_stops_startup_with_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "broker.properties"
    bad.write_text("brokerName=broker-a\nbrokerRole=SLAV\n")
    result = run_bin("mqbroker", ["-c", str(bad)], tmp_path)
    assert result.returncode == 2
    assert f"{bad}:2" in result.stderr and "brokerRole" in result.stderr
    assert "SLAV" in result.stderr
    misspelt = tmp_path / "misspelt.properties"
    misspelt.write_text("brokerName=broker-a\nflushDiskTyp=SYNC_FLUSH\n")
    printed = run_bin("mqbroker", ["-c", str(misspelt), "-p"], tmp_path)
    assert printed.returncode == 0
    assert "did you mean flushDiskType?" in printed.stderr
