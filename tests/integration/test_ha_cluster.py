"""The tutorial's 2m-2s deployments as processes: 2 NameServers, 2 masters, 2 slaves.

Both modes: 20,000 messages, then each slave's commitlog equals its master's byte for byte.
SYNC: master a is killed with SIGKILL and its store deleted; every send the producer saw
acknowledged is consumed from slave a-s by a fresh group, while sends go on to master b.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pyrmq.client import ConsumeStatus, Message, MessageExt, Producer, PushConsumer, SendStatus
from pyrmq.client.admin import Admin
from tests.integration.test_e2e import wait_for
from tests.support.ports import free_port
from tests.support.processes import ServerProcess, write_properties

pytestmark = pytest.mark.cluster

TOPIC = "HATopic"


@dataclass
class HACluster:
    root: Path
    role: str
    namesrvs: list[ServerProcess] = field(default_factory=list)
    brokers: dict[str, ServerProcess] = field(default_factory=dict)

    @property
    def namesrv_addr(self) -> str:
        return ";".join(n.addr for n in self.namesrvs)

    def start_namesrv(self, host: str) -> None:
        conf = write_properties(
            self.root / f"namesrv-{host}.properties",
            listenPort=0,
            bindAddress=host,
            kvConfigPath=self.root / f"kv-{host}.json",
        )
        self.namesrvs.append(
            ServerProcess("mqnamesrv", ["-c", str(conf)], self.root / f"ns-{host}").wait_ready()
        )

    def start_broker(
        self, name: str, broker_name: str, host: str, slave: bool, port: int = 0
    ) -> None:
        conf = write_properties(
            self.root / f"{name}.properties",
            brokerClusterName="DefaultCluster",
            brokerName=broker_name,
            brokerId=1 if slave else 0,
            brokerRole="SLAVE" if slave else self.role,
            flushDiskType="ASYNC_FLUSH",
            brokerIP1=host,
            listenPort=port,
            namesrvAddr=self.namesrv_addr,
            storePathRootDir=self.root / name,
            mappedFileSizeCommitLog=4 * 1024 * 1024,
            maxHashSlotNum=100_000,
            maxIndexNum=400_000,
            defaultTopicQueueNums=4,
        )
        previous = self.brokers.get(name)
        if previous is not None:
            previous.stop()  # by PID; its log stays in its own run directory
        run = self.root / f"run-{name}-{len(self.brokers)}-{port}"
        self.brokers[name] = ServerProcess("mqbroker", ["-c", str(conf)], run).wait_ready()

    def stop_all(self) -> None:
        for process in [*self.brokers.values(), *self.namesrvs]:
            process.stop()


@contextmanager
def ha_cluster(root: Path, role: str) -> Iterator[HACluster]:
    cluster = HACluster(root, role)
    try:
        cluster.start_namesrv("127.0.0.1")
        cluster.start_namesrv("127.0.0.2")
        cluster.start_broker("broker-a", "broker-a", "127.0.0.1", slave=False)
        cluster.start_broker("broker-b", "broker-b", "127.0.0.2", slave=False)
        cluster.start_broker("broker-a-s", "broker-a", "127.0.0.3", slave=True)
        cluster.start_broker("broker-b-s", "broker-b", "127.0.0.4", slave=True)
        yield cluster
    finally:
        cluster.stop_all()


def commitlog(root: Path, name: str) -> bytes:
    directory = root / name / "commitlog"
    if not directory.exists():
        return b""
    files = sorted(directory.iterdir())
    return b"".join(p.read_bytes() for p in files)


async def send_all(producer: Producer, first: int, count: int) -> set[bytes]:
    """Send ``count`` messages, 32 in flight; the bodies the broker acknowledged."""
    acked: set[bytes] = set()
    semaphore = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with semaphore:
            body = f"m{i}".encode()
            try:
                result = await producer.send(Message(TOPIC, body))
            except Exception:  # noqa: BLE001 - a failed send is simply not acknowledged
                return
            if result.send_status is SendStatus.SEND_OK:
                acked.add(body)

    await asyncio.gather(*(one(i) for i in range(first, first + count)))
    return acked


async def wait_for_slaves(cluster: HACluster) -> None:
    """Both slaves hold what their masters hold (compared through the commitlog files)."""

    def equal() -> bool:
        for master, slave in (("broker-a", "broker-a-s"), ("broker-b", "broker-b-s")):
            a, b = commitlog(cluster.root, master), commitlog(cluster.root, slave)
            if a.rstrip(b"\0") != b.rstrip(b"\0"):
                return False
        return True

    await wait_for(equal, 60)


@pytest.mark.parametrize("role", ["ASYNC_MASTER", "SYNC_MASTER"])
async def test_slaves_copy_their_masters_byte_for_byte(tmp_path: Path, role: str) -> None:
    with ha_cluster(tmp_path, role) as cluster:
        admin = Admin(cluster.namesrv_addr)
        producer = Producer("pg", cluster.namesrv_addr)
        try:
            await admin.create_topic("DefaultCluster", TOPIC, 4)
            await producer.start()
            acked = await send_all(producer, 0, 20_000)
        finally:
            await producer.shutdown()
            await admin.close()
        assert len(acked) == 20_000
        await wait_for_slaves(cluster)
        for master, slave in (("broker-a", "broker-a-s"), ("broker-b", "broker-b-s")):
            data = commitlog(tmp_path, master).rstrip(b"\0")
            assert len(data) > 100_000
            assert commitlog(tmp_path, slave)[: len(data)] == data


async def lose_master_a(cluster: HACluster, root: Path) -> None:
    """Kill master a with SIGKILL and delete its store, once its slave can serve TOPIC.

    As with Java, a slave knows a topic once it copied its master's topic config (every
    10 s): only then can it serve pulls of it.
    """
    topics = root / "broker-a-s" / "config" / "topics.json"
    await wait_for(lambda: topics.exists() and TOPIC in topics.read_text(), 30)
    master = cluster.brokers["broker-a"]
    os.kill(master.pid, signal.SIGKILL)
    master.wait_exit()
    shutil.rmtree(root / "broker-a")


async def test_sync_master_lost_its_acknowledged_messages_are_read_from_the_slave(
    tmp_path: Path,
) -> None:
    with ha_cluster(tmp_path, "SYNC_MASTER") as cluster:
        admin = Admin(cluster.namesrv_addr)
        producer = Producer("pg", cluster.namesrv_addr)
        try:
            await admin.create_topic("DefaultCluster", TOPIC, 4)
            await producer.start()
            acked = await send_all(producer, 0, 2_000)
            await lose_master_a(cluster, tmp_path)
            more = await send_all(producer, 2_000, 500)  # go on, on master b
            assert len(more) == 500
            acked |= more
        finally:
            await producer.shutdown()
            await admin.close()
        seen: set[bytes] = set()
        consumer = PushConsumer(
            "after-failure", cluster.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
        )
        consumer.subscribe(TOPIC, "*")

        def listener(msgs: list[MessageExt]) -> ConsumeStatus:
            seen.update(m.body for m in msgs)
            return ConsumeStatus.CONSUME_SUCCESS

        consumer.register_listener(listener)
        try:
            await consumer.start()
            await wait_for(lambda: acked <= seen, 90)
        finally:
            await consumer.shutdown()
        assert acked <= seen


def bodies_in_commitlog(root: Path, name: str) -> set[bytes]:
    """The bodies of every record in a broker's commitlog files (read after its master died)."""
    from pyrmq.common.message_codec import MessageDecodeError, decode_stored_message

    found: set[bytes] = set()
    data = commitlog(root, name)
    segment = 4 * 1024 * 1024
    for start in range(0, len(data), segment):
        pos = start
        while pos < start + segment:
            try:
                msg, size = decode_stored_message(data, pos)
            except MessageDecodeError:
                break  # BLANK filler or the end of the data: next segment
            found.add(msg.body)
            pos += size
    return found


async def test_async_master_lost_only_its_unreplicated_tail(tmp_path: Path) -> None:
    with ha_cluster(tmp_path, "ASYNC_MASTER") as cluster:
        admin = Admin(cluster.namesrv_addr)
        producer = Producer("pg", cluster.namesrv_addr)
        try:
            await admin.create_topic("DefaultCluster", TOPIC, 4)
            await producer.start()
            acked = await send_all(producer, 0, 5_000)
            await lose_master_a(cluster, tmp_path)
            acked |= await send_all(producer, 5_000, 500)
        finally:
            await producer.shutdown()
            await admin.close()
        held_by_slaves = bodies_in_commitlog(tmp_path, "broker-a-s") | bodies_in_commitlog(
            tmp_path, "broker-b"
        )
        seen: set[bytes] = set()
        consumer = PushConsumer(
            "after-async-failure",
            cluster.namesrv_addr,
            consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        )
        consumer.subscribe(TOPIC, "*")
        consumer.register_listener(
            lambda msgs: seen.update(m.body for m in msgs) or ConsumeStatus.CONSUME_SUCCESS
        )
        expected = acked & held_by_slaves
        try:
            await consumer.start()
            await wait_for(lambda: expected <= seen, 90)
        finally:
            await consumer.shutdown()
        lost = acked - seen
        print(
            f"ASYNC failover: {len(acked)} acknowledged, {len(lost)} lost (the unreplicated tail)"
        )
        assert expected <= seen  # nothing a slave held is lost
        assert lost <= acked - held_by_slaves


async def test_replication_resumes_after_master_and_slave_restarts(tmp_path: Path) -> None:
    with ha_cluster(tmp_path, "SYNC_MASTER") as cluster:
        # master a again, on fixed ports, so that a restart keeps its addresses
        port = free_port("127.0.0.1", also=(1,))
        cluster.start_broker("broker-a", "broker-a", "127.0.0.1", False, port)
        cluster.brokers["broker-a-s"].stop()
        cluster.start_broker("broker-a-s", "broker-a", "127.0.0.3", True)
        admin = Admin(cluster.namesrv_addr)
        producer = Producer("pg", cluster.namesrv_addr)
        try:
            await admin.create_topic("DefaultCluster", TOPIC, 4)
            await producer.start()
            await send_all(producer, 0, 1_000)
            first = 1_000
            for name, broker_name, host, slave, fixed in (
                ("broker-a", "broker-a", "127.0.0.1", False, port),
                ("broker-a-s", "broker-a", "127.0.0.3", True, 0),
            ):
                cluster.brokers[name].stop()  # SIGTERM, then the same broker again
                cluster.start_broker(name, broker_name, host, slave, fixed)
                await wait_for_slaves(cluster)  # the slave resumes from its own offset
                await asyncio.sleep(6)  # the slave's HA client reconnects every 5 s
                acked = await send_all(producer, first, 1_000)
                first += 1_000
                assert len(acked) == 1_000  # SYNC sends are acknowledged again
        finally:
            await producer.shutdown()
            await admin.close()
        await wait_for_slaves(cluster)
        data = commitlog(tmp_path, "broker-a").rstrip(b"\0")
        assert commitlog(tmp_path, "broker-a-s")[: len(data)] == data
