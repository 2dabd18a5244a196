"""Delay-level timing: how long after the send a level-2 message (5 s) reaches a consumer.

Issue #5 asks that level-2 messages are not delivered before 5 s and are delivered within 6 s.
The test suite checks the lower bound and that nothing is lost across a broker restart; this
measures the delivery time, with NameServer and broker processes started through ``bin/``
(stopped by PID at the end). One JSON line per figure, then a summary.

    .venv/bin/python benchmarks/bench_delay.py [--messages 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_e2e import Server, percentile, start_servers
from pyrmq.client import ConsumeStatus, Message, MessageExt, Producer, PushConsumer

LEVEL = 2
LEVEL_S = 5.0


async def measure(namesrv_addr: str, count: int) -> list[float]:
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    producer = Producer("delay-bench", namesrv_addr)
    consumer = PushConsumer(
        "delay-bench", namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    consumer.subscribe("DelayBench", "*")

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        now = time.monotonic()
        latencies.extend(now - sent[m.body] for m in msgs if m.body in sent)
        return ConsumeStatus.CONSUME_SUCCESS

    consumer.register_listener(listener)
    await producer.start()
    try:
        await producer.send(Message("DelayBench", b"create"))
        await consumer.start()
        for i in range(count):
            body = f"d{i}".encode()
            sent[body] = time.monotonic()
            await producer.send(Message("DelayBench", body, properties={"DELAY": str(LEVEL)}))
            await asyncio.sleep(0.02)
        for _ in range(1200):  # at most 60 s
            if len(latencies) >= count:
                break
            await asyncio.sleep(0.05)
    finally:
        await consumer.shutdown()
        await producer.shutdown()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pyrmq-delay-"))
    servers: list[Server] = []
    try:
        namesrv, _ = start_servers(root, "ASYNC_FLUSH", servers)
        latencies = asyncio.run(measure(namesrv.addr, args.messages))
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
    rows = {
        "delivered": float(len(latencies)),
        "min_s": min(latencies),
        "p50_s": percentile(latencies, 50),
        "max_s": max(latencies),
    }
    for case, value in rows.items():
        print(
            json.dumps(
                {
                    "bench": "delay",
                    "case": f"level {LEVEL} {case}",
                    "value": round(value, 3),
                    "python": platform.python_version(),
                }
            )
        )
    ok = len(latencies) == args.messages and rows["min_s"] >= LEVEL_S and rows["max_s"] <= 6.0
    print(
        f"\nlevel {LEVEL} ({LEVEL_S:g} s): {len(latencies)}/{args.messages} delivered, "
        f"min {rows['min_s']:.3f} s, p50 {rows['p50_s']:.3f} s, max {rows['max_s']:.3f} s; "
        f"goal [5 s, 6 s]: {'met' if ok else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
