"""SYNC_MASTER vs ASYNC_MASTER: send throughput with a slave attached, side by side in one run.

The tutorial says synchronous double write costs about 10 %; the goal (issue #6) is
SYNC >= 0.9 x ASYNC under the same load. For each role: a NameServer, a master and a slave as
processes through ``bin/`` (stopped by PID), then ``--messages`` sends of ``--size`` bytes with
``--concurrency`` in flight from pyrmq's producer. The two roles alternate for ``--rounds``
rounds, so drift in the machine's load hits both alike; the figure per role is the median
round. One JSON line per round and per figure, then a summary.

    .venv/bin/python -m benchmarks.bench_ha [--messages 20000] [--concurrency 64] [--rounds 3]

The default load, 64 sends in flight, saturates both roles on the 2-core reference machine
(128 gives the same throughput); with 32 in flight a SYNC master is bound by the replication
round trip rather than by CPU, and the ratio measures latency instead (see RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_e2e import Server, write_properties
from pyrmq.client import Message, Producer, SendStatus


def start(root: Path, role: str, servers: list[Server]) -> str:
    conf = write_properties(
        root / "namesrv.properties",
        listenPort=0,
        bindAddress="127.0.0.1",
        kvConfigPath=root / "kv.json",
    )
    namesrv = Server("mqnamesrv", conf, root / "namesrv")
    servers.append(namesrv)
    namesrv.wait_ready()
    for name, host, slave in (("master", "127.0.0.1", False), ("slave", "127.0.0.2", True)):
        conf = write_properties(
            root / f"{name}.properties",
            brokerName="broker-ha",
            brokerId=1 if slave else 0,
            brokerRole="SLAVE" if slave else role,
            brokerIP1=host,
            listenPort=0,
            namesrvAddr=namesrv.addr,
            storePathRootDir=root / name,
            maxHashSlotNum=500_000,
            maxIndexNum=2_000_000,
            defaultTopicQueueNums=4,
        )
        broker = Server("mqbroker", conf, root / name)
        servers.append(broker)
        broker.wait_ready()
    return namesrv.addr


async def produce(addr: str, messages: int, size: int, concurrency: int) -> tuple[float, int]:
    producer = Producer("ha-bench", addr)
    await producer.start()
    ok = 0
    try:
        await producer.send(Message("HABench", b"warmup"))
        await asyncio.sleep(6)  # the slave's HA client is connected by now (5 s retry)
        semaphore = asyncio.Semaphore(concurrency)
        body = b"x" * size

        async def one() -> None:
            nonlocal ok
            async with semaphore:
                result = await producer.send(Message("HABench", body))
                ok += result.send_status is SendStatus.SEND_OK

        start_at = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(messages)))
        elapsed = time.perf_counter() - start_at
    finally:
        await producer.shutdown()
    return messages / elapsed, ok


def run_round(role: str, args: argparse.Namespace) -> float:
    root = Path(tempfile.mkdtemp(prefix=f"pyrmq-ha-{role.lower()}-"))
    servers: list[Server] = []
    try:
        addr = start(root, role, servers)
        rate, ok = asyncio.run(produce(addr, args.messages, args.size, args.concurrency))
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
    emit(
        f"{role} send c={args.concurrency} {args.size}B (one round)",
        round(rate),
        "msg/s",
        send_ok=ok,
    )
    return rate


def emit(case: str, value: float, unit: str, **extra: object) -> None:
    line = {"bench": "ha", "case": case, "value": value, "unit": unit}
    line.update(extra)
    line["python"] = platform.python_version()
    print(json.dumps(line), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    roles = ("ASYNC_MASTER", "SYNC_MASTER")
    samples: dict[str, list[float]] = {role: [] for role in roles}
    for _ in range(args.rounds):
        for role in roles:
            samples[role].append(run_round(role, args))
    rates = {role: statistics.median(values) for role, values in samples.items()}
    for role in roles:
        emit(
            f"{role} send c={args.concurrency} {args.size}B (median of {args.rounds})",
            round(rates[role]),
            "msg/s",
        )
    ratio = rates["SYNC_MASTER"] / rates["ASYNC_MASTER"]
    emit("SYNC/ASYNC", round(ratio, 3), "ratio")
    print(
        f"\nASYNC_MASTER {rates['ASYNC_MASTER']:,.0f} msg/s, SYNC_MASTER "
        f"{rates['SYNC_MASTER']:,.0f} msg/s (medians of {args.rounds} alternating rounds), "
        f"ratio {ratio:.2f}; goal >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
