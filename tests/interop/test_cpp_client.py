"""The C++ RocketMQ client against a pyrmq NameServer + broker, with both C++ cores.

Each test runs once per core, each a ctypes ``rocketmq`` binding bundling ``librocketmq.so`` in a
venv of its own (``tests/interop/cpp/build.sh``): PyPI ``rocketmq`` 0.4.4 carries the 1.x core,
PyPI ``rocketmq-python-cvs`` 2.1.0.3 a 2.1.0 core (every run checks the 2.x core says so). Every
frame on the wire is the core's (JSON headers, ``language: CPP``). Each test runs ``driver.py``
as a separate process (bounded by a timeout, its log in a temp HOME) against the module's pyrmq
deployment, asserting on the JSON lines it printed: sync send + push consumption, tag filtering,
orderly send and consumption, a group resuming from its committed offsets, delay levels,
RECONSUME_LATER retries, broadcasting, and both directions across clients (C++ producer -> pyrmq
consumer, pyrmq producer -> C++ consumer).
"""

from __future__ import annotations

import asyncio
import queue
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

import pytest

from pyrmq.client import (
    ConsumeStatus,
    Message,
    MessageExt,
    Producer,
    PushConsumer,
    SendResult,
    SendStatus,
)
from tests.integration.test_e2e import Deployment, wait_for
from tests.interop.tools import Event, driver, of, parse_events, run_events, unique

pytestmark = pytest.mark.cluster

PYRMQ = "pyrmq"
#: The user property driver.py sets on every message and reports back.
PROPERTY = "interop"


@dataclass(frozen=True)
class Core:
    """One C++ core: its driver under ``.cache/interop/<kind>``, its compatibility-matrix
    column, and what its driver's ``done`` says it is (the 1.x core cannot say: None)."""

    kind: str
    client: str
    version: str | None


CORES = [
    Core("cpp", "C++ (rocketmq wheel)", None),
    Core("cpp2", "C++ 2.x core (rocketmq-python-cvs)", "CPP CORE VERSION: 2."),
]


@pytest.fixture(scope="module", params=CORES, ids=[c.kind for c in CORES])
def core(request: pytest.FixtureRequest) -> Core:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def compat_client(core: Core) -> str:
    """The column of each compat-marked test here (their markers name no client)."""
    return core.client


# --------------------------------------------------------------------------- driver processes


@dataclass(frozen=True)
class Cpp:
    """One core's driver against one NameServer."""

    core: Core
    ns: str

    def command(self, subcommand: str, log_dir: str, *args: object) -> list[str]:
        python = driver(self.core.kind, "venv/bin/python")
        script = driver(self.core.kind, "driver.py")
        options = ["--namesrv", self.ns, "--log-dir", log_dir, *map(str, args)]
        return [str(python), str(script), subcommand, *options]

    def check_core(self, events: list[Event]) -> list[Event]:
        for end in of(events, "done"):
            if self.core.version is None:
                assert end["core"] is None, end
            else:
                assert str(end["core"]).startswith(self.core.version), end
        return events

    def run(self, subcommand: str, *args: object, timeout_s: float = 60.0) -> list[Event]:
        """The events one driver run printed; fails the test on a non-zero exit or a timeout."""
        kind = self.core.kind
        with tempfile.TemporaryDirectory(prefix=f"pyrmq-{kind}-") as home:
            command = self.command(subcommand, home, *args)
            events = run_events(f"{kind} {subcommand}", command, timeout_s)
        return self.check_core(events)

    @contextmanager
    def running(self, subcommand: str, *args: object) -> Iterator[Running]:
        proc = Running(self, subcommand, *args)
        try:
            yield proc
        finally:
            proc.close()

    def consume(self, topic: str, expect: int, *extra: object, group: str = "") -> list[Event]:
        group = group or unique("cpp-c-")
        options = ["--topic", topic, "--group", group, "--expect", expect, "--timeout", 30]
        events = self.run("consume", *options, *extra)
        (done,) = of(events, "done")
        assert done["received"] == len(of(events, "received"))
        return of(events, "received")

    def produce(self, topic: str, count: int, *extra: object, orderly: bool = False) -> list[Event]:
        subcommand = "produce-orderly" if orderly else "produce"
        events = self.run(subcommand, "--topic", topic, "--count", count, *extra)
        sent = of(events, "sent")
        assert len(sent) == count
        assert {s["status"] for s in sent} == {"OK"}
        return sent


class Running:
    """A driver process left running (a consumer that must be up before the sends): a thread
    reads its events as they come; its stderr and the C++ core's log go to its temp HOME."""

    def __init__(self, cpp: Cpp, subcommand: str, *args: object) -> None:
        self._cpp = cpp
        driver(cpp.core.kind, "driver.py")  # skips or fails the test before anything is made
        self._home = tempfile.TemporaryDirectory(prefix=f"pyrmq-{cpp.core.kind}-")
        self._stderr_path = f"{self._home.name}/stderr.txt"
        with open(self._stderr_path, "w") as stderr:
            self.proc = subprocess.Popen(
                cpp.command(subcommand, self._home.name, *args),
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.events: list[Event] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def poll_events(self) -> list[Event]:
        while not self._lines.empty():
            self.events.extend(parse_events(self._lines.get_nowait()))
        return self.events

    def finish(self, timeout_s: float) -> list[Event]:
        """Wait for the exit (the driver's own --timeout ends it); every event it printed."""
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.fail(f"ran past {timeout_s}s")
        self._reader.join(timeout=5)
        if code != 0:
            self.fail(f"exited {code}")
        return self._cpp.check_core(self.poll_events())

    def fail(self, why: str) -> NoReturn:
        self.stop()
        with open(self._stderr_path) as stderr:
            tail = stderr.read()[-4000:]
        kind = self._cpp.core.kind
        pytest.fail(f"{kind} {why}\nevents: {self.poll_events()}\nstderr:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)

    def close(self) -> None:
        self.stop()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._home.cleanup()


@pytest.fixture
def cpp(core: Core, pyrmq_cluster: Deployment) -> Cpp:
    return Cpp(core, pyrmq_cluster.namesrv_addr)


def check_round_trip(sent: list[Event], got: list[Event]) -> None:
    """Every sent id consumed exactly once, with its body, tags, keys, property and offset."""
    assert Counter(m["msg_id"] for m in got) == Counter(s["msg_id"] for s in sent)
    by_id = {m["msg_id"]: m for m in got}
    for s in sent:
        m = by_id[s["msg_id"]]
        for name in ("body", "tags", "keys", "property"):
            assert m[name] == s[name], (name, m, s)
        assert m["offset"] == s["offset"]  # the queue offset the send result announced
        assert m["reconsume_times"] == 0
    assert len({(m["queue_id"], m["offset"]) for m in got}) == len(got)


# --------------------------------------------------------------------------- C++ on both sides


@pytest.mark.compat(feature="sync send + push consume", server=PYRMQ)
def test_sync_send_then_push_consume_each_message_once(cpp: Cpp) -> None:
    topic = unique("CppSync")
    sent = cpp.produce(topic, 20)
    got = cpp.consume(topic, 20)
    check_round_trip(sent, got)
    assert {m["topic"] for m in got} == {topic}
    assert len({m["queue_id"] for m in got}) == 4  # the producer spread over the 4 queues


@pytest.mark.compat(feature="tag filter", server=PYRMQ)
def test_tag_subscription_gets_only_its_tag(cpp: Cpp) -> None:
    topic = unique("CppTag")
    sent = cpp.produce(topic, 12)  # Tag0 for even i, Tag1 for odd
    got = cpp.consume(topic, 6, "--expression", "Tag1 || TagX")
    check_round_trip([s for s in sent if s["tags"] == "Tag1"], got)


@pytest.mark.compat(feature="orderly (selector + orderly listener)", server=PYRMQ)
def test_orderly_each_shard_in_send_order_from_one_queue(cpp: Cpp) -> None:
    topic = unique("CppOrder")
    sent = cpp.produce(topic, 15, "--shards", 3, orderly=True)
    got = cpp.consume(topic, 15, "--orderly")
    check_round_trip(sent, got)
    shard_of = {s["msg_id"]: s["shard"] for s in sent}
    queues: dict[str, set[int]] = {}
    order: dict[str, list[int]] = {}
    for m in got:  # in the order the consumer's listener ran
        shard = shard_of[m["msg_id"]]
        queues.setdefault(shard, set()).add(m["queue_id"])
        order.setdefault(shard, []).append(int(m["body"].rsplit("-", 1)[1]))
    assert order == {str(k): list(range(k, 15, 3)) for k in range(3)}
    # The binding's selector picks queue (arg % 4) of the route's queues: each shard one queue.
    assert queues == {str(k): {k} for k in range(3)}


@pytest.mark.compat(feature="a group resumes from committed offsets", server=PYRMQ)
def test_group_resumes_from_its_committed_offsets(cpp: Cpp) -> None:
    topic, group = unique("CppResume"), unique("cpp-resume-")
    first = cpp.produce(topic, 8, "--prefix", "first")
    check_round_trip(first, cpp.consume(topic, 8, group=group))
    second = cpp.produce(topic, 4, "--prefix", "second")
    # The same group again: only what came after its committed offsets, nothing twice.
    check_round_trip(second, cpp.consume(topic, 4, "--settle", 2, group=group))


@pytest.mark.compat(feature="delay level", server=PYRMQ)
def test_delay_level_delivers_after_the_delay(cpp: Cpp) -> None:
    topic = unique("CppDelay")
    (sent,) = cpp.produce(topic, 1, "--delay-level", 3)
    (msg,) = cpp.consume(topic, 1)
    assert (msg["msg_id"], msg["body"], msg["topic"]) == (sent["msg_id"], "cpp-0", topic)
    assert (msg["tags"], msg["keys"], msg["property"]) == (sent["tags"], sent["keys"], "cpp-0")
    assert msg["delay"] == "3"
    # Level 3 is 1 s on this broker: stored again on the topic a second after it was born.
    assert msg["store_timestamp"] - msg["born_timestamp"] >= 900
    assert msg["at"] - sent["at"] >= 900


@pytest.mark.compat(feature="consume retry (RECONSUME_LATER)", server=PYRMQ)
def test_reconsume_later_redelivers_through_the_retry_topic(cpp: Cpp) -> None:
    topic, group = unique("CppRetry"), unique("cpp-retry-")
    # The C++ core asks for the %RETRY%<group> route before its first heartbeat has the broker
    # create that topic (so the NameServer has none yet, Apache's as well), and pulls it only
    # after its next rebalance, 10 s later. A first run of the group creates it; that run needs
    # the topic to exist (the core heartbeats only to brokers it has a route to), so a warm-up
    # message comes first, reported apart and not counted.
    warmup = ("--warmup-prefix", "warmup")
    cpp.produce(topic, 1, "--prefix", "warmup")
    cpp.consume(topic, 0, "--settle", 1.5, *warmup, group=group)
    sent = cpp.produce(topic, 3)
    got = cpp.consume(topic, 6, "--reconsume-later", 1, *warmup, group=group)
    deliveries: dict[str, list[int]] = {}
    for m in got:
        deliveries.setdefault(m["msg_id"], []).append(m["reconsume_times"])
    assert deliveries == {s["msg_id"]: [0, 1] for s in sent}
    by_id = {s["msg_id"]: s for s in sent}
    for m in got:
        s = by_id[m["msg_id"]]
        assert (m["topic"], m["body"], m["tags"], m["keys"], m["property"]) == (
            topic,
            s["body"],
            s["tags"],
            s["keys"],
            s["property"],
        )
        assert m["answer"] == (
            "RECONSUME_LATER" if m["reconsume_times"] == 0 else "CONSUME_SUCCESS"
        )


@pytest.mark.compat(feature="broadcast", server=PYRMQ)
def test_broadcast_members_each_get_everything(cpp: Cpp) -> None:
    topic, group = unique("CppBcast"), unique("cpp-b-")
    cpp.produce(topic, 1, "--prefix", "warmup-first")  # the topic exists before they subscribe
    args = (
        "--topic",
        topic,
        "--group",
        group,
        "--broadcast",
        "--expect",
        6,
        "--timeout",
        30,
        "--warmup-prefix",
        "warmup",
    )
    with cpp.running("consume", *args) as m1, cpp.running("consume", *args) as m2:
        # A broadcast member starts at the queue's end (CONSUME_FROM_LAST_OFFSET): send warm-ups
        # until both have their queues, so nothing of the real run can land before that.
        for attempt in range(40):
            if all(of(m.poll_events(), "warmup") for m in (m1, m2)):
                break
            cpp.produce(topic, 4, "--prefix", f"warmup-{attempt}")
            time.sleep(0.25)
        else:
            pytest.fail(f"the broadcast members got no warm-up: {m1.events} {m2.events}")
        sent = cpp.produce(topic, 6)
        for member in (m1, m2):
            check_round_trip(sent, of(member.finish(timeout_s=40), "received"))


# --------------------------------------------------------------------------- across clients


@pytest.mark.compat(feature="cross-client: it produces, pyrmq client consumes", server=PYRMQ)
async def test_cpp_producer_pyrmq_consumer(cpp: Cpp) -> None:
    topic = unique("CppToPy")
    sent = await asyncio.to_thread(cpp.produce, topic, 10)
    got: list[MessageExt] = []
    consumer = PushConsumer(unique("py-c-"), cpp.ns, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(topic, "Tag0 || Tag1")

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        got.extend(msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    consumer.register_listener(listener)
    await consumer.start()
    try:
        await wait_for(lambda: len(got) >= 10, 30)
        await asyncio.sleep(0.5)  # nothing more may arrive
    finally:
        await consumer.shutdown()
    # The C++ send result's msgId is the UNIQ_KEY property it set, as Java's client does.
    assert Counter(m.uniq_key for m in got) == Counter(s["msg_id"] for s in sent)
    by_id = {s["msg_id"]: s for s in sent}
    for m in got:
        s = by_id[m.uniq_key]
        assert m.topic == topic
        assert (m.body, m.tags, m.keys) == (s["body"].encode(), s["tags"], [s["keys"]])
        assert m.properties[PROPERTY] == s["property"]
        assert m.queue_offset == s["offset"]
        assert m.reconsume_times == 0


@pytest.mark.compat(feature="cross-client: pyrmq client produces, it consumes", server=PYRMQ)
async def test_pyrmq_producer_cpp_consumer(cpp: Cpp) -> None:
    topic = unique("PyToCpp")
    producer = Producer(unique("py-p-"), cpp.ns)
    await producer.start()
    results: dict[str, tuple[int, SendResult]] = {}
    try:
        for i in range(10):
            msg = Message(topic, f"py-{i}".encode())
            msg.tags, msg.keys = "PyTag", [f"pk-{i}"]
            msg.properties[PROPERTY] = f"py-prop-{i}"
            result = await producer.send(msg)
            assert result.send_status is SendStatus.SEND_OK
            results[result.msg_id] = (i, result)
    finally:
        await producer.shutdown()
    got = await asyncio.to_thread(cpp.consume, topic, 10, "--expression", "PyTag")
    assert Counter(m["msg_id"] for m in got) == Counter(list(results))  # each once
    for m in got:
        i, result = results[m["msg_id"]]
        assert (m["topic"], m["body"], m["tags"], m["keys"], m["property"]) == (
            topic,
            f"py-{i}",
            "PyTag",
            f"pk-{i}",
            f"py-prop-{i}",
        )
        assert (m["queue_id"], m["offset"]) == (
            result.message_queue.queue_id,
            result.queue_offset,
        )
        assert m["reconsume_times"] == 0
