"""End-to-end benchmark: pyrmq's client against a NameServer and a broker started through bin/.

Starts ``sh bin/mqnamesrv -c FILE`` and ``sh bin/mqbroker -c FILE`` on 127.0.0.1 (generated
.properties in a temp dir, listenPort=0, the port read from the boot line, PYRMQ_PID_DIR inside
the temp dir), runs the client in this process, and stops both servers by PID at the end, also
after a failure (SIGTERM, SIGKILL if one lingers). Figures, one JSON line each, then a summary:

1. produce, sync ``send`` with N sends in flight (``--concurrency 1,32``), 128-byte bodies:
   messages/s and the latency of one ``send`` (p50/p99 ms);
2. produce with ``send_batch`` (``--batch 32`` messages per request; messages/s, p50/p99 ms per
   request);
3. consume: a fresh group from CONSUME_FROM_FIRST_OFFSET draining everything produced above,
   timed from ``start()`` to the last listener call (each message is checked to come once);
4. end-to-end latency with an idle push consumer: once its pulls are held by the broker, one
   message at a time (``--latency-messages``, ``--latency-interval-ms`` apart), from just before
   ``send`` to the listener call (``time.perf_counter`` in this one process): p50/p99/max ms.
   Long polling should answer within 100 ms of arrival; the pull responses of that phase are
   counted too (about one per message when every pull was held and woken by the arrival).

The listener is a plain function by default, which the consumer runs in a worker thread (one
message per call, as Java's default consumeMessageBatchMaxSize=1); ``--listener async`` passes an
``async def`` one, run on the event loop. The broker's flushDiskType is read back with
``mqbroker -c FILE -p`` and printed with every figure.

    .venv/bin/python benchmarks/bench_e2e.py [--messages 20000] [--concurrency 1,32]
        [--batch 32] [--flush ASYNC_FLUSH|SYNC_FLUSH] [--dir /tmp/x]

Every phase has a deadline; ``--time-limit`` bounds the whole client run. The broker uses the
default 1 GiB commitlog segments; its index is reduced (as in bench_store.py) so the index
file's preallocation stays cheap. The client runs on uvloop when it is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import logging
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from pyrmq.client import Admin, ConsumeStatus, Message, MessageExt, Producer, PushConsumer
from pyrmq.client.sending import SendStatus
from pyrmq.remoting.codes import ResponseCode

REPO = Path(__file__).resolve().parents[1]
BOOT_LINE = re.compile(r"boot success.* listening on (?P<host>[\d.]+):(?P<port>\d+)")
TOPIC = "BenchE2ETopic"
LATENCY_TOPIC = "BenchE2ELatency"
#: Bodies start with the message's sequence number, so each one is recognised on arrival.
SEQ_DIGITS = 10
LONG_POLL_GOAL_MS = 100.0


# --------------------------------------------------------------------------- processes


class Server:
    """One server process started with ``sh bin/<script> -c <conf>``, stopped by its PID."""

    def __init__(self, script: str, conf: Path, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.name = script
        self.log_path = workdir / f"{script}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ)
        env["PYRMQ_PID_DIR"] = str(workdir / "run")
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(
            ["sh", str(REPO / "bin" / script), "-c", str(conf)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
        self.host = ""
        self.port = 0
        self.exit_code: int | None = None

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 30.0) -> Server:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            match = BOOT_LINE.search(self.output())
            if match:
                self.host, self.port = match["host"], int(match["port"])
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise TimeoutError(f"{self.name}: no boot line within {timeout_s}s")

    def stop(self) -> None:
        """SIGTERM to our PID, then SIGKILL after 10 s; records the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.exit_code = self.proc.returncode
        self._log.close()


def write_properties(path: Path, **values: object) -> Path:
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def effective_setting(script: str, conf: Path, key: str, workdir: Path) -> str:
    """``sh bin/<script> -c FILE -p``: the value the server will use for ``key``."""
    env = dict(os.environ)
    env["PYRMQ_PID_DIR"] = str(workdir / "run")
    env.pop("PYTHONPATH", None)
    out = subprocess.run(
        ["sh", str(REPO / "bin" / script), "-c", str(conf), "-p"],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        timeout=60,
        check=True,
    ).stdout
    match = re.search(rf"^{re.escape(key)}=(.*)$", out, re.MULTILINE)
    return match[1].strip() if match else "?"


# --------------------------------------------------------------------------- figures


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty), p in [0, 100]."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Rows:
    def __init__(self, flush: str) -> None:
        self.flush = flush
        self.rows: list[dict[str, Any]] = []

    def add(self, case: str, value: float, unit: str) -> None:
        self.rows.append(
            {
                "bench": "e2e",
                "case": case,
                "value": round(value) if unit == "msg/s" else round(value, 2),
                "unit": unit,
                "python": platform.python_version(),
                "flush": self.flush,
            }
        )

    def add_latencies(self, case: str, seconds: list[float], *, with_max: bool = False) -> None:
        ms = [s * 1000 for s in seconds]
        self.add(f"{case} p50", percentile(ms, 50), "ms")
        self.add(f"{case} p99", percentile(ms, 99), "ms")
        if with_max:
            self.add(f"{case} max", max(ms), "ms")


def body(seq: int, size: int) -> bytes:
    return f"{seq:0{SEQ_DIGITS}d}".encode().ljust(size, b"x")


def seq_of(msg: MessageExt) -> int:
    return int(msg.body[:SEQ_DIGITS])


async def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s}s")
        await asyncio.sleep(0.01)


class Tally:
    """Sequence numbers seen by a listener (thread-safe: a sync listener runs in threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: collections.Counter[int] = collections.Counter()
        self.first_at: float | None = None
        self.last_at = 0.0
        self.arrived_at: dict[int, float] = {}

    def listener(self, msgs: list[MessageExt]) -> ConsumeStatus:
        now = time.perf_counter()
        with self.lock:
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
            for msg in msgs:
                seq = seq_of(msg)
                self.counts[seq] += 1
                self.arrived_at.setdefault(seq, now)
        return ConsumeStatus.CONSUME_SUCCESS

    async def async_listener(self, msgs: list[MessageExt]) -> ConsumeStatus:
        return self.listener(msgs)

    @property
    def unique(self) -> int:
        return len(self.counts)

    def duplicates(self) -> int:
        return sum(c - 1 for c in self.counts.values())


class PullCounter:
    """Counts a consumer's pull responses by code while ``counting`` (wraps its API object):
    with long polling, an idle consumer's pulls are held, so each message costs about one pull."""

    def __init__(self, push: PushConsumer) -> None:
        self.codes: collections.Counter[str] = collections.Counter()
        self.counting = False
        api = push.instance.api
        pull = api.pull_message

        async def counted(addr: str, header: Any, timeout_s: float) -> Any:
            response = await pull(addr, header, timeout_s)
            if self.counting:
                self.codes[ResponseCode(response.code).name] += 1
            return response

        api.pull_message = counted  # type: ignore[method-assign]


# --------------------------------------------------------------------------- phases


class Bench:
    def __init__(self, args: argparse.Namespace, namesrv: str, broker: str, rows: Rows) -> None:
        self.args = args
        self.namesrv = namesrv
        self.broker = broker
        self.rows = rows
        self.seq: Iterator[int] = itertools.count()
        self.produced: set[int] = set()  # every sequence number sent to TOPIC
        self.not_ok: collections.Counter[str] = collections.Counter()
        self.notes: list[str] = []

    def message(self, topic: str) -> Message:
        seq = next(self.seq)
        if topic == TOPIC:
            self.produced.add(seq)
        return Message(topic, body(seq, self.args.size), properties={"TAGS": "TagA"})

    def check(self, status: SendStatus) -> None:
        if status is not SendStatus.SEND_OK:
            self.not_ok[status.value] += 1

    async def run(self) -> None:
        async with Admin(self.namesrv) as admin:
            for topic in (TOPIC, LATENCY_TOPIC):
                await admin.create_topic(self.broker, topic, self.args.queues)
        producer = Producer("bench-e2e-producer", self.namesrv, instance_name="bench-producer")
        await producer.start()
        try:
            # Warm-up (route, connection, first segment pages): sent, consumed, not timed.
            await self.produce(producer, self.args.warmup, 8)
            for concurrency in self.args.concurrency:
                rate, lat = await self.produce(producer, self.args.messages, concurrency)
                case = f"produce send c={concurrency} {self.args.size}B"
                self.rows.add(case, rate, "msg/s")
                self.rows.add_latencies(f"{case} send latency", lat)
            for concurrency in self.args.batch_concurrency:
                rate, lat = await self.produce_batches(producer, self.args.messages, concurrency)
                case = f"produce send_batch {self.args.batch}x{self.args.size}B c={concurrency}"
                self.rows.add(case, rate, "msg/s")
                self.rows.add_latencies(f"{case} request latency", lat)
            await self.consume_all()
            await self.latency(producer)
        finally:
            await producer.shutdown()

    async def workers(self, concurrency: int, one: Callable[[], Awaitable[bool]]) -> float:
        """Run ``concurrency`` loops of ``one()`` until one returns False; the elapsed time."""

        async def loop() -> None:
            while await one():
                pass

        start = time.perf_counter()
        async with asyncio.timeout(self.args.phase_timeout):
            await asyncio.gather(*(loop() for _ in range(concurrency)))
        return time.perf_counter() - start

    async def produce(
        self, producer: Producer, n: int, concurrency: int
    ) -> tuple[float, list[float]]:
        remaining = n
        latencies: list[float] = []

        async def one() -> bool:
            nonlocal remaining
            if remaining <= 0:
                return False
            remaining -= 1
            msg = self.message(TOPIC)
            start = time.perf_counter()
            result = await producer.send(msg)
            latencies.append(time.perf_counter() - start)
            self.check(result.send_status)
            return True

        elapsed = await self.workers(concurrency, one)
        return n / elapsed, latencies

    async def produce_batches(
        self, producer: Producer, n: int, concurrency: int
    ) -> tuple[float, list[float]]:
        batches = max(1, n // self.args.batch)
        latencies: list[float] = []

        async def one() -> bool:
            nonlocal batches
            if batches <= 0:
                return False
            batches -= 1
            msgs = [self.message(TOPIC) for _ in range(self.args.batch)]
            start = time.perf_counter()
            result = await producer.send_batch(msgs)
            latencies.append(time.perf_counter() - start)
            self.check(result.send_status)
            return True

        elapsed = await self.workers(concurrency, one)
        return len(latencies) * self.args.batch / elapsed, latencies

    def consumer(self, group: str, topic: str, tally: Tally, from_where: str) -> PushConsumer:
        push = PushConsumer(group, self.namesrv, from_where, instance_name=group)
        push.subscribe(topic, "*")
        if self.args.listener == "async":
            push.register_listener(tally.async_listener)
        else:
            push.register_listener(tally.listener)
        return push

    async def consume_all(self) -> None:
        expected = len(self.produced)
        tally = Tally()
        push = self.consumer("bench-e2e-drain", TOPIC, tally, "CONSUME_FROM_FIRST_OFFSET")
        start = time.perf_counter()
        await push.start()
        try:
            await wait_until(
                lambda: tally.unique >= expected, self.args.phase_timeout, "draining the topic"
            )
            end = tally.last_at
            await asyncio.sleep(0.5)  # a duplicate arriving late would show here
        finally:
            await push.shutdown()
        assert tally.first_at is not None
        self.rows.add(
            f"consume {self.args.listener} listener {self.args.size}B",
            expected / (end - start),
            "msg/s",
        )
        self.rows.add("consume start() to first message", (tally.first_at - start) * 1000, "ms")
        strangers = set(tally.counts) - self.produced
        if tally.duplicates() or strangers:
            self.notes.append(
                f"consume: {tally.duplicates()} duplicate deliveries, "
                f"{len(strangers)} unknown messages"
            )

    async def latency(self, producer: Producer) -> None:
        args = self.args
        tally = Tally()
        push = self.consumer("bench-e2e-latency", LATENCY_TOPIC, tally, "CONSUME_FROM_LAST_OFFSET")
        pulls = PullCounter(push)
        await push.start()
        try:
            await wait_until(
                lambda: len(push.assigned_queues()) == args.queues, 30, "latency consumer queues"
            )
            # One message per queue, so that every pull loop has run; then let them all idle.
            warm = [self.message(LATENCY_TOPIC) for _ in range(2 * args.queues)]
            for msg in warm:
                self.check((await producer.send(msg)).send_status)
            await wait_until(lambda: tally.unique >= len(warm), 30, "latency warm-up")
            await asyncio.sleep(args.idle_s)
            pulls.counting = True
            sent_at: dict[int, float] = {}
            send_latencies: list[float] = []
            for _ in range(args.latency_messages):
                msg = self.message(LATENCY_TOPIC)
                seq = int(msg.body[:SEQ_DIGITS])
                start = time.perf_counter()
                sent_at[seq] = start
                result = await producer.send(msg)
                send_latencies.append(time.perf_counter() - start)
                self.check(result.send_status)
                await asyncio.sleep(args.latency_interval_ms / 1000)
            await wait_until(
                lambda: all(seq in tally.arrived_at for seq in sent_at), 30, "latency messages"
            )
            pulls.counting = False
        finally:
            await push.shutdown()
        e2e = [tally.arrived_at[seq] - at for seq, at in sent_at.items()]
        case = f"e2e latency idle consumer {args.latency_interval_ms}ms apart"
        self.rows.add_latencies(case, e2e, with_max=True)
        self.rows.add_latencies("idle send latency", send_latencies)
        codes = ", ".join(f"{n} {code}" for code, n in sorted(pulls.codes.items())) or "none"
        self.notes.append(
            f"latency phase: {sum(pulls.codes.values())} pull responses for "
            f"{len(sent_at)} messages ({codes})"
        )
        if tally.duplicates():
            self.notes.append(f"latency: {tally.duplicates()} duplicate deliveries")


# --------------------------------------------------------------------------- main


class CountingHandler(logging.Handler):
    """Counts the client's warnings and errors (they are also printed to stderr)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def run_client(main: Callable[[], Coroutine[Any, Any, None]], use_uvloop: bool) -> str:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main())
            return "uvloop"
    asyncio.run(main())
    return "asyncio"


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000, help="per produce case")
    parser.add_argument("--size", type=int, default=128, help="body bytes (>= 16)")
    parser.add_argument("--concurrency", type=int_list, default=[1, 32], help="e.g. 1,32")
    parser.add_argument("--batch", type=int, default=32, help="messages per send_batch")
    parser.add_argument(
        "--batch-concurrency", type=int_list, default=[1], help="send_batch calls in flight"
    )
    parser.add_argument("--warmup", type=int, default=500, help="untimed sends first")
    parser.add_argument("--queues", type=int, default=4, help="queues of the topics")
    parser.add_argument("--listener", choices=("sync", "async"), default="sync")
    parser.add_argument("--latency-messages", type=int, default=200)
    parser.add_argument("--latency-interval-ms", type=int, default=20)
    parser.add_argument("--idle-s", type=float, default=1.0, help="idle time before latency")
    parser.add_argument("--flush", choices=("ASYNC_FLUSH", "SYNC_FLUSH"), default="ASYNC_FLUSH")
    parser.add_argument("--phase-timeout", type=float, default=120.0, help="seconds per phase")
    parser.add_argument("--time-limit", type=float, default=600.0, help="whole client run")
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio in the client")
    parser.add_argument("--dir", type=Path, default=None, help="keep stores and logs here")
    args = parser.parse_args()
    if args.size < 16:
        parser.error("--size must be at least 16")
    return args


def start_servers(root: Path, flush: str, servers: list[Server]) -> tuple[Server, Server]:
    conf = write_properties(
        root / "namesrv.properties",
        listenPort=0,
        bindAddress="127.0.0.1",
        kvConfigPath=root / "namesrv" / "kvConfig.json",
    )
    namesrv = Server("mqnamesrv", conf, root / "namesrv")
    servers.append(namesrv)
    namesrv.wait_ready()
    conf = write_properties(
        root / "broker.properties",
        brokerClusterName="DefaultCluster",
        brokerName="broker-bench",
        brokerId=0,
        brokerIP1="127.0.0.1",
        listenPort=0,
        namesrvAddr=namesrv.addr,
        storePathRootDir=root / "broker" / "store",
        flushDiskType=flush,
        maxHashSlotNum=500_000,
        maxIndexNum=2_000_000,
    )
    broker = Server("mqbroker", conf, root / "broker")
    servers.append(broker)
    broker.wait_ready()
    return namesrv, broker


def main() -> int:
    args = parse_args()
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    counter = CountingHandler()
    logging.getLogger("pyrmq").addHandler(counter)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops servers
    root = args.dir or Path(tempfile.mkdtemp(prefix="pyrmq-bench-e2e-"))
    root.mkdir(parents=True, exist_ok=True)
    servers: list[Server] = []
    wall = time.perf_counter()
    failed = True
    try:
        namesrv, broker = start_servers(root, args.flush, servers)
        flush = effective_setting("mqbroker", root / "broker.properties", "flushDiskType", root)
        rows = Rows(flush)
        bench = Bench(args, namesrv.addr, broker.addr, rows)

        async def client() -> None:
            async with asyncio.timeout(args.time_limit):
                await bench.run()

        loop_name = run_client(client, not args.no_uvloop)
        failed = False
    finally:
        for server in reversed(servers):
            server.stop()
        if failed:
            for server in servers:
                tail = server.output().splitlines()[-30:]
                print(f"--- last lines of {server.log_path}:", *tail, sep="\n", file=sys.stderr)
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    wall = time.perf_counter() - wall

    for r in rows.rows:
        print(json.dumps(r))
    print()
    print(
        f"broker flushDiskType={flush}; {args.queues} queues; client on {loop_name}, "
        f"{args.listener} listener; {platform.python_implementation()} "
        f"{platform.python_version()}; {os.cpu_count()} CPUs"
    )
    for r in rows.rows:
        verdict = ""
        if r["case"].startswith("e2e latency") and r["case"].endswith(" max"):
            met = r["value"] <= LONG_POLL_GOAL_MS
            verdict = f"every message within {LONG_POLL_GOAL_MS:g} ms: {'yes' if met else 'NO'}"
        value = f"{r['value']:,}" if r["unit"] == "msg/s" else f"{r['value']:,.2f}"
        print(f"{r['case']:<58}{value:>12} {r['unit']:<6} {verdict}")
    status = ", ".join(f"{k}: {v}" for k, v in bench.not_ok.items()) or "all SEND_OK"
    print(f"send results: {status}")
    if not any("duplicate" in note for note in bench.notes):
        print("every message consumed exactly once")
    for note in bench.notes:
        print(note)
    print(f"client warnings/errors logged: {counter.count}")
    codes = ", ".join(f"{s.name} exit {s.exit_code}" for s in servers)
    print(f"servers stopped by PID (SIGTERM): {codes}; wall time {wall:.1f} s")
    if args.dir is not None:
        print(f"stores and logs under {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
