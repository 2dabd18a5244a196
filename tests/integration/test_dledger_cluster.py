"""The tutorial's DLedger deployment as processes: a NameServer and a group of three brokers.

Each broker runs through ``bin/mqbroker`` on its own loopback "host" with fixed DLedger ports.
The master is whoever registers brokerId 0 for the group's brokerName; it is killed with
SIGKILL under load, ten times in a row, and restarted each time; every send the producer saw
acknowledged must be consumable afterwards, each at one queue position, and after each heal
the three DLedger logs are identical byte for byte. A partition test puts a TCP proxy on every
directed peer link, cuts the master off, and checks that the majority elects a new master and
that no log diverges after the heal.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pyrmq.client import (
    ConsumeStatus,
    LitePullConsumer,
    Message,
    MessageExt,
    Producer,
    PushConsumer,
    SendStatus,
)
from pyrmq.client.admin import Admin
from pyrmq.client.config import ClientConfig
from pyrmq.common.constants import MASTER_ID
from tests.integration.test_e2e import wait_for
from tests.support.ports import free_port
from tests.support.processes import ServerProcess, write_properties
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.cluster

TOPIC = "RaftTopic"
GROUP = "RaftNode00"
HOSTS = {"n0": "127.0.0.1", "n1": "127.0.0.2", "n2": "127.0.0.3"}


@dataclass
class DLedgerCluster:
    root: Path
    namesrv: ServerProcess | None = None
    brokers: dict[str, ServerProcess] = field(default_factory=dict)
    dledger_ports: dict[str, int] = field(default_factory=dict)
    #: node -> peer -> (host, port) that node dials for that peer (a proxy, or the peer itself)
    views: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    starts: int = 0

    @property
    def namesrv_addr(self) -> str:
        assert self.namesrv is not None
        return self.namesrv.addr

    def peers_text(self, node: str) -> str:
        view = self.views.get(node, {})
        parts = []
        for peer, host in HOSTS.items():
            addr = view.get(peer, (host, self.dledger_ports[peer]))
            parts.append(f"{peer}-{addr[0]}:{addr[1]}")
        return ";".join(parts)

    def start_broker(self, node: str) -> None:
        conf = write_properties(
            self.root / f"broker-{node}.properties",
            brokerClusterName="RaftCluster",
            brokerName=GROUP,
            brokerIP1=HOSTS[node],
            listenPort=0,
            namesrvAddr=self.namesrv_addr,
            storePathRootDir=self.root / node,
            mappedFileSizeCommitLog=4 * 1024 * 1024,
            maxHashSlotNum=100_000,
            maxIndexNum=400_000,
            defaultTopicQueueNums=4,
            enableDLegerCommitLog="true",
            dLegerGroup=GROUP,
            dLegerPeers=self.peers_text(node),
            dLegerSelfId=node,
        )
        self.starts += 1
        run = self.root / f"run-{node}-{self.starts}"
        self.brokers[node] = ServerProcess("mqbroker", ["-c", str(conf)], run).wait_ready()

    def kill(self, node: str) -> None:
        broker = self.brokers[node]
        os.kill(broker.pid, signal.SIGKILL)
        broker.wait_exit()
        broker.stop()  # closes its log file; the process is gone already

    def data(self, node: str) -> bytes:
        directory = self.root / node / f"dledger-{node}" / "data"
        if not directory.exists():
            return b""
        return b"".join(p.read_bytes() for p in sorted(directory.iterdir())).rstrip(b"\0")

    def logs_identical(self) -> bool:
        first, *rest = (self.data(node) for node in HOSTS)
        return bool(first) and all(other == first for other in rest)

    def stop_all(self) -> None:
        for process in [*self.brokers.values(), *([self.namesrv] if self.namesrv else [])]:
            process.stop()


@contextmanager
def dledger_cluster(root: Path, proxied: bool = False) -> Iterator[tuple[DLedgerCluster, dict]]:
    cluster = DLedgerCluster(root)
    proxies: dict[tuple[str, str], TcpProxy] = {}
    try:
        conf = write_properties(
            root / "namesrv.properties",
            listenPort=0,
            bindAddress="127.0.0.1",
            kvConfigPath=root / "kv.json",
        )
        cluster.namesrv = ServerProcess("mqnamesrv", ["-c", str(conf)], root / "ns").wait_ready()
        cluster.dledger_ports = {node: free_port(host) for node, host in HOSTS.items()}
        if proxied:
            for src in HOSTS:
                for dst, host in HOSTS.items():
                    if src != dst:
                        proxy = TcpProxy(host, cluster.dledger_ports[dst])
                        proxies[(src, dst)] = proxy
                        cluster.views.setdefault(src, {})[dst] = ("127.0.0.1", proxy.start())
        for node in HOSTS:
            cluster.start_broker(node)
        yield cluster, proxies
    finally:
        cluster.stop_all()
        for proxy in proxies.values():
            proxy.stop()


async def current_master(admin: Admin, cluster: DLedgerCluster) -> str | None:
    """The node registered as brokerId 0 (the NameServer's view), if any."""
    try:
        info = await admin.cluster_info()
    except Exception:  # noqa: BLE001 - no answer yet counts as no master
        return None
    data = info.broker_addr_table.get(GROUP)
    addr = data.broker_addrs.get(MASTER_ID) if data is not None else None
    if addr is None:
        return None
    for node, broker in cluster.brokers.items():
        if broker.addr == addr and broker.proc.poll() is None:
            return node
    return None


async def wait_master(admin: Admin, cluster: DLedgerCluster, not_: str | None = None) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        node = await current_master(admin, cluster)
        if node is not None and node != not_:
            return node
        await asyncio.sleep(0.05)
    raise AssertionError("no master within 30 s")


@dataclass
class Load:
    """Sends unique bodies, 8 in flight, no client retries, while ``running`` is set."""

    producer: Producer
    running: asyncio.Event = field(default_factory=asyncio.Event)
    acked: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    #: (loop time the send started, "host:port" of the broker that stored it) per ack
    stored_by: list[tuple[float, str]] = field(default_factory=list)
    sent: int = 0
    stopped: bool = False

    async def run(self) -> None:
        workers = [asyncio.create_task(self._worker(w)) for w in range(8)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()

    async def _worker(self, worker: int) -> None:
        while not self.stopped:
            await self.running.wait()
            self.sent += 1
            body = f"w{worker}-{self.sent}".encode()
            started = time.monotonic()
            try:
                result = await self.producer.send(Message(TOPIC, body))
            except Exception:  # noqa: BLE001 - not acknowledged; the next one goes on
                await asyncio.sleep(0.05)
                continue
            if result.send_status is SendStatus.SEND_OK:
                self.acked[body] = (result.message_queue.queue_id, result.queue_offset)
                self.stored_by.append((started, store_host(result.offset_msg_id)))


def store_host(offset_msg_id: str) -> str:
    """The ``host:port`` in an offset msgId (its first 16 hex digits): the storing broker."""
    raw = bytes.fromhex(offset_msg_id[:16])
    return f"{socket.inet_ntoa(raw[:4])}:{int.from_bytes(raw[4:], 'big')}"


async def consume_all(cluster: DLedgerCluster, expected: set[bytes]) -> list[MessageExt]:
    seen: list[MessageExt] = []
    bodies: set[bytes] = set()
    consumer = PushConsumer(
        f"check-{time.monotonic_ns()}",
        cluster.namesrv_addr,
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
    )
    consumer.subscribe(TOPIC, "*")

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        seen.extend(msgs)
        bodies.update(m.body for m in msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    consumer.register_listener(listener)
    try:
        await consumer.start()
        await wait_for(lambda: expected <= bodies, 90)
    finally:
        await consumer.shutdown()
    return seen


def assert_one_position_each(seen: list[MessageExt], acked: dict[bytes, tuple[int, int]]) -> None:
    positions: dict[bytes, set[tuple[int, int]]] = {}
    for msg in seen:
        positions.setdefault(msg.body, set()).add((msg.queue_id, msg.queue_offset))
    for body, where in acked.items():
        assert positions.get(body) == {where}, (body, where, positions.get(body))
    duplicated = {body: where for body, where in positions.items() if len(where) > 1}
    assert not duplicated


async def wait_topic_everywhere(cluster: DLedgerCluster) -> None:
    def known() -> bool:
        for node in HOSTS:
            topics = cluster.root / node / "config" / "topics.json"
            if not topics.exists() or TOPIC not in topics.read_text():
                return False
        return True

    await wait_for(known, 40)


async def ready_topic(admin: Admin, cluster: DLedgerCluster, producer: Producer) -> str:
    """Wait for a master, create TOPIC there, start ``producer``, and wait until every node
    knows the topic; the master's node."""
    master = await wait_master(admin, cluster)
    await admin.create_topic("RaftCluster", TOPIC, 4)
    await producer.start()
    await wait_topic_everywhere(cluster)
    return master


@asynccontextmanager
async def under_load(cluster: DLedgerCluster) -> AsyncIterator[tuple[Admin, Load, str]]:
    """TOPIC ready and a running Load (no client retries); the load is stopped and drained,
    and the clients closed, on the way out. Yields the admin, the load and the master."""
    admin = Admin(cluster.namesrv_addr)
    producer = Producer(
        "raft-pg", cluster.namesrv_addr, retry_times_when_send_failed=0, send_timeout_s=2.0
    )
    load = Load(producer)
    runner: asyncio.Task[None] | None = None
    try:
        master = await ready_topic(admin, cluster, producer)
        runner = asyncio.create_task(load.run())
        load.running.set()
        yield admin, load, master
    finally:
        load.stopped = True
        load.running.set()
        if runner is not None:
            await runner
        await producer.shutdown()
        await admin.close()


@pytest.mark.timeout(400)
async def test_killing_the_master_ten_times_loses_no_acknowledged_message(
    tmp_path: Path,
) -> None:
    with dledger_cluster(tmp_path) as (cluster, _):
        async with under_load(cluster) as (admin, load, master):
            acked_at_kill = 0
            for _ in range(10):
                # More sends were acknowledged since the last kill: each kill comes under load.
                await wait_for(lambda n=acked_at_kill: len(load.acked) > n, 30)
                await asyncio.sleep(0.5)
                acked_at_kill = len(load.acked)
                cluster.kill(master)
                master_before = master
                master = await wait_master(admin, cluster, not_=master_before)
                cluster.start_broker(master_before)
                load.running.clear()
                await wait_for(cluster.logs_identical, 30)
                load.running.set()
        assert len(load.acked) > 100
        seen = await consume_all(cluster, set(load.acked))
        assert_one_position_each(seen, load.acked)


async def send_acked(producer: Producer, prefix: str, count: int) -> set[bytes]:
    """``count`` bodies ``prefix-i``, each sent until acknowledged (a failover may be under
    way: a send that fails or is not SEND_OK is sent again), within 60 s."""
    acked: set[bytes] = set()
    deadline = time.monotonic() + 60
    while len(acked) < count:
        assert time.monotonic() < deadline, f"only {len(acked)} of {count} acknowledged"
        body = f"{prefix}-{len(acked)}".encode()
        try:
            result = await producer.send(Message(TOPIC, body))
        except Exception:  # noqa: BLE001 - the failover is under way
            await asyncio.sleep(0.1)
            continue
        if result.send_status is SendStatus.SEND_OK:
            acked.add(body)
    return acked


@pytest.mark.timeout(200)
async def test_a_running_consumer_follows_the_new_master(tmp_path: Path) -> None:
    """Pulls to the dead master fail; the consumer then looks the route up at once (its
    periodic route poll is set to an hour here, so nothing else could explain it)."""
    hour = ClientConfig(poll_name_server_interval_s=3600.0)
    with dledger_cluster(tmp_path) as (cluster, _):
        admin = Admin(cluster.namesrv_addr)
        producer = Producer("raft-pg", cluster.namesrv_addr, client_config=hour)
        consumer = PushConsumer(
            "live",
            cluster.namesrv_addr,
            consume_from_where="CONSUME_FROM_FIRST_OFFSET",
            client_config=hour,
            instance_name="live-consumer",
        )
        got: set[bytes] = set()

        def listener(msgs: list[MessageExt]) -> ConsumeStatus:
            got.update(m.body for m in msgs)
            return ConsumeStatus.CONSUME_SUCCESS

        consumer.subscribe(TOPIC, "*")
        consumer.register_listener(listener)
        try:
            master = await ready_topic(admin, cluster, producer)
            await consumer.start()
            before = await send_acked(producer, "before", 20)
            await wait_for(lambda: before <= got, 30)
            cluster.kill(master)
            await wait_master(admin, cluster, not_=master)
            after = await send_acked(producer, "after", 20)
            await wait_for(lambda: after <= got, 60)
        finally:
            await consumer.shutdown()
            await producer.shutdown()
            await admin.close()


async def test_a_running_lite_pull_consumer_follows_the_new_master(tmp_path: Path) -> None:
    """As above, for DefaultLitePullConsumer's pyrmq twin: its pulls to the dead master fail,
    and it looks the route up at once (route poll set to an hour)."""
    hour = ClientConfig(poll_name_server_interval_s=3600.0)
    with dledger_cluster(tmp_path) as (cluster, _):
        admin = Admin(cluster.namesrv_addr)
        producer = Producer("raft-pg", cluster.namesrv_addr, client_config=hour)
        consumer = LitePullConsumer(
            "live-lite",
            cluster.namesrv_addr,
            consume_from_where="CONSUME_FROM_FIRST_OFFSET",
            client_config=hour,
            instance_name="live-lite-consumer",
        )
        consumer.subscribe(TOPIC, "*")
        got: set[bytes] = set()

        async def poll_until(expected: set[bytes], timeout_s: float) -> None:
            deadline = time.monotonic() + timeout_s
            while not expected <= got and time.monotonic() < deadline:
                got.update(m.body for m in await consumer.poll(0.2))
            assert expected <= got, f"{len(expected - got)} not polled within {timeout_s}s"

        try:
            master = await ready_topic(admin, cluster, producer)
            await consumer.start()
            before = await send_acked(producer, "before", 20)
            await poll_until(before, 30)
            cluster.kill(master)
            await wait_master(admin, cluster, not_=master)
            after = await send_acked(producer, "after", 20)
            await poll_until(after, 60)
        finally:
            await consumer.shutdown()
            await producer.shutdown()
            await admin.close()


@pytest.mark.timeout(200)
async def test_a_graceful_stop_and_restart_of_the_whole_group_keeps_every_message(
    tmp_path: Path,
) -> None:
    with dledger_cluster(tmp_path) as (cluster, _):
        admin = Admin(cluster.namesrv_addr)
        producer = Producer("raft-pg", cluster.namesrv_addr)
        acked: set[bytes] = set()
        try:
            # Followers learn topics from the master every 10 s (SlaveSynchronize), as in
            # RocketMQ: whichever leads after the restart must know the topic.
            await ready_topic(admin, cluster, producer)
            for i in range(200):
                result = await producer.send(Message(TOPIC, f"g{i}".encode()))
                assert result.send_status is SendStatus.SEND_OK
                acked.add(f"g{i}".encode())
            await wait_for(cluster.logs_identical, 30)
            for node, broker in cluster.brokers.items():
                broker.stop()  # SIGTERM, as sh bin/mqshutdown broker sends
                assert broker.proc.returncode == 0, (node, broker.output()[-2000:])
            before = {node: cluster.data(node) for node in HOSTS}
            for node in HOSTS:
                cluster.start_broker(node)
            await wait_master(admin, cluster)
            await wait_for(lambda: all(cluster.data(n).startswith(before[n]) for n in HOSTS), 30)
        finally:
            await producer.shutdown()
            await admin.close()
        seen = await consume_all(cluster, acked)
        assert acked <= {m.body for m in seen}


@pytest.mark.timeout(200)
async def test_a_partitioned_master_is_replaced_and_no_log_diverges(tmp_path: Path) -> None:
    with dledger_cluster(tmp_path, proxied=True) as (cluster, proxies):
        async with under_load(cluster) as (admin, load, master):
            await wait_for(lambda: len(load.acked) > 50, 30)
            cut_at = time.monotonic()
            for (src, dst), proxy in proxies.items():
                if master in (src, dst):
                    proxy.block()
            new_master = await wait_master(admin, cluster, not_=master)
            assert new_master != master
            acked_before = dict(load.acked)
            await wait_for(lambda: len(load.acked) > len(acked_before) + 50, 30)
            # Cut off, the old master can commit nothing: no send begun after the cut was
            # acknowledged by it, and the new master acknowledges what goes on.
            old_addr = cluster.brokers[master].addr
            after_cut = [host for started, host in load.stored_by if started > cut_at]
            assert old_addr not in after_cut
            assert cluster.brokers[new_master].addr in after_cut
            for proxy in proxies.values():
                proxy.heal()
            load.running.clear()
            await wait_for(cluster.logs_identical, 30)
        seen = await consume_all(cluster, set(load.acked))
        assert_one_position_each(seen, load.acked)
