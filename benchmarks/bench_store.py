"""Store benchmark: commitlog appends (single and batch), reads, and memory with 10,000 queues.

Goals (issue #3), on one core of the development machine:
  >= 150,000 single appends/s; >= 500,000 batched messages/s at 128 B;
  >= 500,000 messages/s read; RSS with 10,000 consume queues <= 512 MiB.

    .venv/bin/python benchmarks/bench_store.py [--messages 300000] [--dir /tmp/x]

"append" rows time ``CommitLog.put_message``/``put_messages`` (record encoding + mmap write,
what happens under Java's put lock). "store put" rows time ``MessageStore.put_message`` on the
event loop (checks, append, wake-up; ASYNC_FLUSH). "dispatch" times building CQ + index for what
was appended. "read" times ``MessageStore.get_message`` over the consume queues, 32 per call, as
pulls do. Memory is measured in a fresh child process. One JSON line per figure, then a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyrmq.common.clock import SystemClock
from pyrmq.common.message import Message
from pyrmq.common.message_codec import encode_batch
from pyrmq.store.commitlog import CommitLog, MessageExtBatch, MessageExtBrokerInner
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.message_store import MessageStore
from pyrmq.store.results import GetMessageStatus

GOALS = {
    "append single 128B": 150_000,
    "append batch 32x128B": 500_000,
    "read 128B": 500_000,
}
RSS_GOAL_MIB = 512
BORN = ("127.0.0.1", 50000)
STORE_HOST = ("127.0.0.1", 10911)


def config_for(root: Path) -> MessageStoreConfig:
    # Default geometry (1 GiB segments, 6 MB CQ files); a smaller index keeps the sparse
    # preallocation cheap without changing per-entry work.
    return MessageStoreConfig(
        store_path_root_dir=str(root), max_hash_slot_num=500_000, max_index_num=2_000_000
    )


def message(size: int, seq: int, queues: int) -> MessageExtBrokerInner:
    return MessageExtBrokerInner(
        topic="BenchTopic",
        queue_id=seq % queues,
        body=b"x" * size,
        properties={"TAGS": "TagA", "UNIQ_KEY": f"7F0000010001{seq:020X}"},
        born_timestamp=1_700_000_000_000,
        born_host=BORN,
        store_host=STORE_HOST,
    )


def timed(fn: Callable[[], int]) -> float:
    start = time.perf_counter()
    count = fn()
    return count / (time.perf_counter() - start)


def bench_append_single(root: Path, n: int, size: int) -> float:
    log = CommitLog(config_for(root), SystemClock())
    log.load()
    msgs = [message(size, i, 8) for i in range(1000)]

    def run() -> int:
        for i in range(n):
            log.put_message(msgs[i % 1000])
        return n

    rate = timed(run)
    log.mapped_file_queue.shutdown()
    return rate


def bench_append_batch(root: Path, n: int, size: int, batch: int) -> float:
    log = CommitLog(config_for(root), SystemClock())
    log.load()
    body = encode_batch(
        [Message("BenchTopic", b"x" * size, properties={"UNIQ_KEY": f"U{i}"}) for i in range(batch)]
    )
    request = MessageExtBatch(
        topic="BenchTopic",
        queue_id=0,
        body=body,
        born_timestamp=1_700_000_000_000,
        born_host=BORN,
        store_host=STORE_HOST,
    )

    def run() -> int:
        for _ in range(n // batch):
            log.put_messages(request)
        return n // batch * batch

    rate = timed(run)
    log.mapped_file_queue.shutdown()
    return rate


async def bench_store_put_dispatch_read(root: Path, n: int, size: int) -> dict[str, float]:
    store = MessageStore(config_for(root))
    store.load()
    await store.start()
    msgs = [message(size, i, 8) for i in range(1000)]
    start = time.perf_counter()
    for i in range(n):
        await store.put_message(msgs[i % 1000])
    put_rate = n / (time.perf_counter() - start)
    start = time.perf_counter()
    dispatched = store.reput.do_reput()
    dispatch_rate = max(dispatched, 1) / (time.perf_counter() - start)
    start = time.perf_counter()
    read = 0
    for queue_id in range(8):
        offset = 0
        while True:
            result = store.get_message("g", "BenchTopic", queue_id, offset, 32)
            if result is None or result.status is not GetMessageStatus.FOUND:
                break
            read += result.message_count
            offset = result.next_begin_offset
            result.release()
    read_rate = read / (time.perf_counter() - start)
    await store.shutdown()
    return {"store put": put_rate, "dispatch": dispatch_rate, "read": read_rate, "read_count": read}


MEMORY_CHILD = """
import asyncio, resource, sys
from benchmarks.bench_store import config_for, message
from pyrmq.store.message_store import MessageStore
from pathlib import Path

async def main():
    store = MessageStore(config_for(Path(sys.argv[1])))
    store.load()
    await store.start()
    for q in range(10_000):
        msg = message(128, q, 1)
        msg.topic = f"T{q // 8}"
        msg.queue_id = q % 8
        await store.put_message(msg)
    store.reput.do_reput()
    queues = len(list(store.consume_queues))
    rss = int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) // 1024
    await store.shutdown()
    print(queues, rss)

asyncio.run(main())
"""


def bench_memory(root: Path) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(root)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    queues, rss = out.stdout.split()
    return int(queues), int(rss)


def row(name: str, value: float, unit: str = "msg/s") -> dict[str, Any]:
    return {
        "bench": "store",
        "case": name,
        "value": round(value),
        "unit": unit,
        "python": platform.python_version(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to create stores")
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="pyrmq-bench-"))
    n = args.messages
    rows = [
        row("append single 128B", bench_append_single(base / "a128", n, 128)),
        row("append single 1KiB", bench_append_single(base / "a1k", n, 1024)),
        row("append batch 32x128B", bench_append_batch(base / "b128", n, 128, 32)),
        row("append batch 32x1KiB", bench_append_batch(base / "b1k", n, 1024, 32)),
    ]
    e2e = asyncio.run(bench_store_put_dispatch_read(base / "e2e", n, 128))
    rows += [
        row("store put 128B", e2e["store put"]),
        row("dispatch 128B", e2e["dispatch"]),
        row("read 128B", e2e["read"]),
    ]
    queues, rss = bench_memory(base / "mem")
    rows.append(row(f"RSS with {queues} consume queues", rss, "MiB"))
    for r in rows:
        print(json.dumps(r))
    print()
    for r in rows:
        goal = GOALS.get(r["case"])
        verdict = ""
        if goal is not None:
            verdict = f"goal {goal:,}: {'met' if r['value'] >= goal else 'NOT met'}"
        elif r["unit"] == "MiB":
            met = r["value"] <= RSS_GOAL_MIB
            verdict = f"goal <= {RSS_GOAL_MIB}: {'met' if met else 'NOT met'}"
        print(f"{r['case']:<38}{r['value']:>12,} {r['unit']:<6} {verdict}")
    print(f"stores under {base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
