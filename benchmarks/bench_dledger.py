"""DLedger group of three vs a single master: send throughput side by side, and failover time.

Issue #7's goals: DLedger throughput >= 0.7 x a single master under the same load, and
failover (SIGKILL of the master -> first acknowledged send on the new master) under 3 s.
Every server is a process through ``bin/`` (stopped by PID). Throughput: ``--messages`` sends
of ``--size`` bytes with ``--concurrency`` in flight from pyrmq's producer, per deployment,
alternating for ``--rounds`` rounds (the figure is the median). Failover: ``--kills`` times,
kill the master under a light load (8 in flight, no client retries), measure until the first
send acknowledged by another node, restart the killed node. JSON lines, then a summary.

    .venv/bin/python -m benchmarks.bench_dledger [--messages 20000] [--kills 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_e2e import Server, write_properties
from pyrmq.client import Message, Producer, SendStatus

HOSTS = {"n0": "127.0.0.1", "n1": "127.0.0.2", "n2": "127.0.0.3"}
TOPIC = "RaftBench"


def emit(case: str, value: float, unit: str, **extra: object) -> None:
    line: dict[str, object] = {"bench": "dledger", "case": case, "value": value, "unit": unit}
    line.update(extra)
    line["python"] = platform.python_version()
    print(json.dumps(line), flush=True)


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Deployment:
    """A NameServer plus either one master or a DLedger group of three."""

    def __init__(self, root: Path, dledger: bool) -> None:
        self.root = root
        self.dledger = dledger
        self.servers: list[Server] = []
        self.brokers: dict[str, Server] = {}
        self.ports = {node: free_port(host) for node, host in HOSTS.items()}
        conf = write_properties(
            root / "namesrv.properties",
            listenPort=0,
            bindAddress="127.0.0.1",
            kvConfigPath=root / "kv.json",
        )
        namesrv = Server("mqnamesrv", conf, root / "namesrv")
        self.servers.append(namesrv)
        self.addr = namesrv.wait_ready().addr
        for node in HOSTS if dledger else ["n0"]:
            self.start_broker(node)

    def start_broker(self, node: str) -> None:
        values: dict[str, object] = {
            "brokerName": "bench",
            "brokerIP1": HOSTS[node],
            "listenPort": 0,
            "namesrvAddr": self.addr,
            "storePathRootDir": self.root / node,
            "maxHashSlotNum": 500_000,
            "maxIndexNum": 2_000_000,
            "defaultTopicQueueNums": 4,
        }
        if self.dledger:
            peers = ";".join(f"{n}-{h}:{self.ports[n]}" for n, h in HOSTS.items())
            values.update(
                enableDLegerCommitLog="true",
                dLegerGroup="bench",
                dLegerPeers=peers,
                dLegerSelfId=node,
            )
        conf = write_properties(self.root / f"{node}.properties", **values)
        server = Server("mqbroker", conf, self.root / f"run-{node}-{time.monotonic_ns()}")
        self.servers.append(server)
        self.brokers[node] = server.wait_ready()

    def kill(self, node: str) -> None:
        server = self.brokers[node]
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


async def throughput(dep: Deployment, messages: int, size: int, concurrency: int) -> float:
    producer = Producer("dledger-bench", dep.addr)
    await producer.start()
    try:
        await send_until_ok(producer, 30.0)
        semaphore = asyncio.Semaphore(concurrency)
        body = b"x" * size
        ok = 0

        async def one() -> None:
            nonlocal ok
            async with semaphore:
                result = await producer.send(Message(TOPIC, body))
                ok += result.send_status is SendStatus.SEND_OK

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(messages)))
        elapsed = time.perf_counter() - start
    finally:
        await producer.shutdown()
    if ok != messages:
        raise RuntimeError(f"only {ok} of {messages} sends were SEND_OK")
    return messages / elapsed


async def send_until_ok(producer: Producer, timeout_s: float) -> str:
    """Send until one is acknowledged (the group has a master); the acknowledging address."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            result = await producer.send(Message(TOPIC, b"probe"))
            if result.send_status is SendStatus.SEND_OK:
                return result.offset_msg_id
        except Exception:  # noqa: BLE001 - no master yet
            await asyncio.sleep(0.01)
    raise TimeoutError("no acknowledged send")


def master_of(dep: Deployment, offset_msg_id: str) -> str:
    """The node whose store host (``brokerIP1:port``, the msgId's first 16 hex digits) it is."""
    host = socket.inet_ntoa(bytes.fromhex(offset_msg_id[:8]))
    port = int(offset_msg_id[8:16], 16)
    for node, server in dep.brokers.items():
        if server.host == host and server.port == port:
            return node
    raise LookupError(offset_msg_id)


async def failovers(dep: Deployment, kills: int) -> list[float]:
    producer = Producer("dledger-fail", dep.addr, retry_times_when_send_failed=0, send_timeout_s=1)
    await producer.start()
    times: list[float] = []
    try:
        master = master_of(dep, await send_until_ok(producer, 30.0))
        for _ in range(kills):
            dep.kill(master)
            killed_at = time.monotonic()
            new = master
            while new == master:
                new = master_of(dep, await send_until_ok(producer, 30.0))
            times.append(time.monotonic() - killed_at)
            emit("failover (kill -> first ack on the new master)", round(times[-1], 3), "s")
            dep.start_broker(master)
            master = new
            await asyncio.sleep(2.0)  # the restarted node catches up before the next kill
    finally:
        await producer.shutdown()
    return times


def run_throughput(dledger: bool, args: argparse.Namespace) -> float:
    root = Path(tempfile.mkdtemp(prefix="pyrmq-bench-dledger-"))
    dep = Deployment(root, dledger)
    try:
        rate = asyncio.run(throughput(dep, args.messages, args.size, args.concurrency))
    finally:
        dep.stop()
        shutil.rmtree(root, ignore_errors=True)
    name = "DLedger group of 3" if dledger else "single master"
    emit(f"{name} send c={args.concurrency} {args.size}B (one round)", round(rate), "msg/s")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    single: list[float] = []
    group: list[float] = []
    for _ in range(args.rounds):
        single.append(run_throughput(False, args))
        group.append(run_throughput(True, args))
    single_rate, group_rate = statistics.median(single), statistics.median(group)
    ratio = group_rate / single_rate
    emit(f"single master (median of {args.rounds})", round(single_rate), "msg/s")
    emit(f"DLedger group of 3 (median of {args.rounds})", round(group_rate), "msg/s")
    emit("DLedger / single master", round(ratio, 3), "ratio")
    times: list[float] = []
    if args.kills:
        root = Path(tempfile.mkdtemp(prefix="pyrmq-bench-failover-"))
        dep = Deployment(root, True)
        try:
            times = asyncio.run(failovers(dep, args.kills))
        finally:
            dep.stop()
            shutil.rmtree(root, ignore_errors=True)
        emit("failover median", round(statistics.median(times), 3), "s")
        emit("failover max", round(max(times), 3), "s")
    print(
        f"\nsingle master {single_rate:,.0f} msg/s, DLedger group {group_rate:,.0f} msg/s, "
        f"ratio {ratio:.2f} (goal >= 0.7: {'met' if ratio >= 0.7 else 'NOT met'})"
    )
    if times:
        print(
            f"failover over {len(times)} kills: median {statistics.median(times):.2f} s, "
            f"max {max(times):.2f} s (goal < 3 s: {'met' if max(times) < 3 else 'NOT met'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
