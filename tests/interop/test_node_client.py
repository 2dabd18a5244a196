"""The Node.js client ali-ons (npm 3.12.0, pure JavaScript) against a pyrmq NameServer + broker.

ali-ons speaks RocketMQ's remoting protocol (JSON headers, SEND_MESSAGE_V2, long-polling
PULL_MESSAGE, broker-side consumer offsets) and reaches an open-source NameServer through its
``nameSrv`` option. ``tests/interop/node/driver.js`` (built by ``tests/interop/node/build.sh``
into ``.cache/interop/node/``) runs it as a separate process and prints one JSON line per
observation. Covered:

- ali-ons producer -> ali-ons consumer: bodies, tags, keys and a user property intact, every
  sent msgId (the broker's offset msgId) consumed exactly once at the queue/offset the send
  reported, and the group's offsets committed on the broker at shutdown. The consumer keeps
  ali-ons' default CONSUME_FROM_LAST_OFFSET, so it also relies on QUERY_CONSUMER_OFFSET of a new
  group answering 0 while the queues still start at 0, as a 4.x broker does;
- a tag subscription (``TagA||TagC``): only matching messages consumed, and the broker itself
  leaves the others out of the PULL_MESSAGE answers (ali-ons re-checks tags client-side too, so
  the driver reports what each pull carried); a SQL92 subscription on the user property;
- consume retry: a handler answering ACTION_RETRY makes ali-ons send the message back
  (CONSUMER_SEND_MSG_BACK, delay level 0 = the broker's choice) and it comes back once through
  ``%RETRY%<group>``;
- cross-client: ali-ons -> pyrmq's Python PushConsumer, and pyrmq's Python Producer -> ali-ons.

ali-ons cannot send to a topic the NameServer does not know yet (it does not fall back to the
TBW102 route when GET_ROUTEINFO_BY_TOPIC answers TOPIC_NOT_EXIST, whatever the broker's
autoCreateTopicEnable: ali-sdk/ali-ons#90; Apache RocketMQ 4.9.7 answers the same), so each test
creates its topic first with pyrmq's Admin (UPDATE_AND_CREATE_TOPIC, as ``mqadmin updateTopic``
does).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from pyrmq.client import Admin, ConsumeStatus, Message, MessageExt, Producer, PushConsumer
from pyrmq.client.sending import SendStatus
from tests.integration.test_e2e import Deployment
from tests.interop.tools import Event, driver, required, unique

CLIENT = "Node (ali-ons)"
SERVER = "pyrmq"

#: Bound of one driver run (the driver's own waits are shorter, so it reports first).
RUN_TIMEOUT_S = 45.0
#: How long a consuming driver waits for its messages.
CONSUME_TIMEOUT_S = 20

pytestmark = pytest.mark.cluster


@dataclass(frozen=True)
class DriverRun:
    returncode: int
    events: list[Event]
    stderr: str

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.get("event") == kind]

    def describe(self) -> str:
        return f"exit {self.returncode}\nstdout events: {self.events}\nstderr:\n{self.stderr}"


def once(ids: Iterable[str]) -> Counter[str]:
    """Each id exactly once: what a Counter of the delivered ids must equal."""
    return Counter(dict.fromkeys(ids, 1))


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        reason = "node is not on PATH: the ali-ons driver cannot run"
        if required():
            pytest.fail(reason)
        pytest.skip(reason)
    return node


def run_driver(*args: str, timeout_s: float = RUN_TIMEOUT_S) -> DriverRun:
    """Run ``driver.js`` to completion (killed after ``timeout_s``); parse its JSON lines."""
    script = driver("node", "driver.js")
    proc = subprocess.run(
        [node_binary(), str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=script.parent,
        check=False,
    )
    events: list[Event] = []
    for line in proc.stdout.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"driver wrote a non-JSON line to stdout: {line!r}\n{proc.stderr}")
        assert isinstance(event, dict), line
        events.append(event)
    return DriverRun(proc.returncode, events, proc.stderr)


def ons_produce(namesrv: str, topic: str, count: int, tags: str = "TagA,TagB") -> list[Event]:
    run = run_driver(
        "produce", "--namesrv", namesrv, "--topic", topic, "--count", str(count),
        "--tags", tags, "--group", unique("ons_pg"), "--timeout", "20",
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    assert not run.of("error"), run.describe()
    sent = run.of("sent")
    assert len(sent) == count, run.describe()
    assert {e["status"] for e in sent} == {"SEND_OK"}, run.describe()
    return sent


def ons_consume(
    namesrv: str, topic: str, group: str, expect: int, *extra: str, settle_ms: int = 1500
) -> DriverRun:
    run = run_driver(
        "consume", "--namesrv", namesrv, "--topic", topic, "--group", group,
        "--expect", str(expect), "--timeout", str(CONSUME_TIMEOUT_S),
        "--settle", str(settle_ms), *extra,
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    assert not run.of("error"), run.describe()
    return run


def create_topic(cluster: Deployment, topic: str, queues: int = 4) -> None:
    async def create() -> None:
        async with Admin(cluster.namesrv_addr) as admin:
            await admin.create_topic(cluster.brokers["broker-a"].addr, topic, queues)

    asyncio.run(create())


async def committed_and_max_offsets(
    namesrv: str, topic: str, group: str
) -> list[tuple[int, int, int]]:
    async with Admin(namesrv) as admin:
        return [
            (mq.queue_id, await admin.consumer_offset(group, mq), await admin.max_offset(mq))
            for mq in await admin.fetch_subscribe_queues(topic)
        ]


# --------------------------------------------------------------------------- ali-ons only


@pytest.mark.compat(feature="sync send + push consume", client=CLIENT, server=SERVER)
def test_ons_round_trip_delivers_every_message_once_intact(pyrmq_cluster: Deployment) -> None:
    namesrv = pyrmq_cluster.namesrv_addr
    topic, group = unique("OnsRoundTrip"), unique("ons_cg")
    create_topic(pyrmq_cluster, topic)
    sent = ons_produce(namesrv, topic, 24)
    assert {e["brokerName"] for e in sent} == {"broker-a"}
    assert {e["queueId"] for e in sent} == {0, 1, 2, 3}  # round robin over the 4 queues
    assert len({e["msgId"] for e in sent}) == 24

    run = ons_consume(namesrv, topic, group, 24)

    received = run.of("received")
    counts = Counter(e["msgId"] for e in received)
    assert counts == once(e["msgId"] for e in sent), run.describe()
    by_id = {e["msgId"]: e for e in received}
    for s in sent:
        r = by_id[s["msgId"]]
        assert r["topic"] == topic
        assert r["body"] == s["body"]
        assert r["tags"] == s["tags"]
        assert r["keys"] == s["keys"]
        assert r["properties"]["idx"] == str(s["index"])
        assert r["properties"]["CLUSTER"] == "DefaultCluster"
        assert (r["queueId"], r["queueOffset"]) == (s["queueId"], s["queueOffset"])
        assert r["reconsumeTimes"] == 0

    # ali-ons committed the group's progress (UPDATE_CONSUMER_OFFSET) when it shut down.
    offsets = asyncio.run(committed_and_max_offsets(namesrv, topic, group))
    assert [(q, c) for q, c, _ in offsets] == [(q, m) for q, _, m in offsets]
    assert sum(m for _, _, m in offsets) == 24


@pytest.mark.compat(feature="tag filter", client=CLIENT, server=SERVER)
def test_ons_tag_subscription_gets_only_matching_tags(pyrmq_cluster: Deployment) -> None:
    namesrv = pyrmq_cluster.namesrv_addr
    topic = unique("OnsTags")
    create_topic(pyrmq_cluster, topic)
    sent = ons_produce(namesrv, topic, 18, tags="TagA,TagB,TagC")
    wanted = {e["msgId"]: e for e in sent if e["tags"] in ("TagA", "TagC")}
    assert len(wanted) == 12

    run = ons_consume(namesrv, topic, unique("ons_tag_cg"), 12, "--tag", "TagA||TagC")

    received = run.of("received")
    assert Counter(e["msgId"] for e in received) == once(wanted), run.describe()
    assert all(e["body"] == wanted[e["msgId"]]["body"] for e in received)
    # The broker filtered by tag: no TagB message was in any PULL_MESSAGE answer.
    pulled_tags = [tag for e in run.of("pulled") for tag in e["tags"]]
    assert sorted(pulled_tags) == sorted(e["tags"] for e in wanted.values()), run.describe()


@pytest.mark.compat(feature="SQL92 filter", client=CLIENT, server=SERVER)
def test_ons_sql92_subscription_filters_on_the_broker(pyrmq_cluster: Deployment) -> None:
    namesrv = pyrmq_cluster.namesrv_addr
    topic = unique("OnsSql")
    create_topic(pyrmq_cluster, topic)
    sent = ons_produce(namesrv, topic, 12)
    wanted = {e["msgId"]: e for e in sent if 4 <= e["index"] <= 8}

    run = ons_consume(
        namesrv, topic, unique("ons_sql_cg"), len(wanted), "--sql", "idx BETWEEN 4 AND 8"
    )

    received = run.of("received")
    assert Counter(e["msgId"] for e in received) == once(wanted), run.describe()
    # No client-side re-check for SQL92 in ali-ons: whatever was pulled was delivered.
    assert sum(len(e["tags"]) for e in run.of("pulled")) == len(wanted), run.describe()


@pytest.mark.compat(feature="consume retry (RECONSUME_LATER)", client=CLIENT, server=SERVER)
def test_ons_retried_messages_come_back_through_the_retry_topic(
    pyrmq_cluster: Deployment,
) -> None:
    namesrv = pyrmq_cluster.namesrv_addr
    topic = unique("OnsRetry")
    create_topic(pyrmq_cluster, topic)
    sent = {e["msgId"]: e for e in ons_produce(namesrv, topic, 8)}

    run = ons_consume(namesrv, topic, unique("ons_retry_cg"), len(sent), "--retry-once", "yes")

    received = run.of("received")
    first = [e for e in received if e["retried"]]
    again = [e for e in received if not e["retried"]]
    assert Counter(e["msgId"] for e in first) == once(sent), run.describe()
    assert all(e["reconsumeTimes"] == 0 for e in first), run.describe()
    # Each came back once, as a new message of %RETRY%<group> that ali-ons hands over under the
    # original topic, with the original's msgId in ORIGIN_MESSAGE_ID and reconsumeTimes 1.
    origins = Counter(e["properties"].get("ORIGIN_MESSAGE_ID") for e in again)
    assert origins == once(sent), run.describe()
    for e in again:
        s = sent[e["properties"]["ORIGIN_MESSAGE_ID"]]
        assert e["msgId"] not in sent
        assert e["topic"] == topic
        assert e["reconsumeTimes"] == 1
        assert (e["body"], e["tags"], e["keys"]) == (s["body"], s["tags"], s["keys"])
        assert e["properties"]["idx"] == str(s["index"])


# --------------------------------------------------------------------------- cross-client


@pytest.mark.compat(
    feature="cross-client: it produces, pyrmq client consumes", client=CLIENT, server=SERVER
)
async def test_ons_produced_messages_reach_the_python_consumer(
    pyrmq_cluster: Deployment,
) -> None:
    namesrv = pyrmq_cluster.namesrv_addr
    topic = unique("OnsToPy")
    await asyncio.to_thread(create_topic, pyrmq_cluster, topic)
    sent = await asyncio.to_thread(ons_produce, namesrv, topic, 16)

    seen: list[MessageExt] = []

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        seen.extend(msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    push = PushConsumer(unique("py_cg"), namesrv, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    push.subscribe(topic, "*")
    push.register_listener(listener)
    await push.start()
    try:
        for _ in range(200):  # at most 20 s
            if len(seen) >= len(sent):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # nothing more may arrive
    finally:
        await push.shutdown()

    assert Counter(m.msg_id for m in seen) == once(e["msgId"] for e in sent)
    by_id = {m.msg_id: m for m in seen}
    for s in sent:
        m = by_id[s["msgId"]]
        assert m.topic == topic
        assert m.body == s["body"].encode()
        assert m.tags == s["tags"]
        assert m.keys == [s["keys"]]
        assert m.properties["idx"] == str(s["index"])
        assert (m.queue_id, m.queue_offset) == (s["queueId"], s["queueOffset"])
        assert m.uniq_key is None  # ali-ons sets no UNIQ_KEY: its msgId is the offset msgId


@pytest.mark.compat(
    feature="cross-client: pyrmq client produces, it consumes", client=CLIENT, server=SERVER
)
async def test_python_produced_messages_reach_the_ons_consumer(
    pyrmq_cluster: Deployment,
) -> None:
    namesrv = pyrmq_cluster.namesrv_addr
    topic = unique("PyToOns")
    await asyncio.to_thread(create_topic, pyrmq_cluster, topic)
    producer = Producer(unique("py_pg"), namesrv)
    await producer.start()
    sent: dict[str, tuple[int, int, int, str]] = {}  # offset msgId -> i, queue, offset, uniq
    try:
        for i in range(16):
            msg = Message(topic, f"py-{i}".encode())
            msg.tags = f"Tag{i % 2}"
            msg.keys = [f"pykey-{i}", f"pyalt-{i}"]
            msg.properties["idx"] = str(i)
            result = await producer.send(msg)
            assert result.send_status is SendStatus.SEND_OK
            queue = result.message_queue.queue_id
            sent[result.offset_msg_id] = (i, queue, result.queue_offset, result.msg_id)
    finally:
        await producer.shutdown()

    run = await asyncio.to_thread(ons_consume, namesrv, topic, unique("ons_cg"), len(sent))

    received = run.of("received")
    assert Counter(e["msgId"] for e in received) == once(sent)
    for e in received:
        i, queue_id, queue_offset, uniq_key = sent[e["msgId"]]
        assert e["topic"] == topic
        assert e["body"] == f"py-{i}"
        assert e["tags"] == f"Tag{i % 2}"
        assert e["keys"] == f"pykey-{i} pyalt-{i}"  # KEYS joined by a space
        assert e["properties"]["idx"] == str(i)
        assert e["properties"]["UNIQ_KEY"] == uniq_key
        assert (e["queueId"], e["queueOffset"]) == (queue_id, queue_offset)
