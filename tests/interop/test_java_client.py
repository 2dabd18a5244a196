"""Apache RocketMQ's own Java client (4.9.7) against a pyrmq NameServer + broker.

Each test runs one scenario of the Java driver (tests/interop/java) in its own JVM against the
module's pyrmq deployment (processes through bin/), and asserts on what the Java client saw:
sends of every kind, push consumption, orderly, broadcast, delay, transactions with check-back,
retries to the DLQ, tag and SQL92 filters, query by key and msgId, the lite pull consumer, and
the admin API (DefaultMQAdminExt). Two tests cross clients: Java produces and pyrmq's client
consumes, and the other way round.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from pyrmq.client import ConsumeStatus, Message, MessageExt, Producer, PushConsumer, SendStatus
from tests.integration.test_e2e import Deployment, wait_for
from tests.interop.java_driver import Event, of, run_java
from tests.interop.tools import unique

pytestmark = pytest.mark.cluster

JAVA = "Java client 4.9.7"
PYRMQ = "pyrmq"


@pytest.fixture
def ns(pyrmq_cluster: Deployment) -> str:
    return pyrmq_cluster.namesrv_addr


def consume_all(
    ns: str, topic: str, expect: int, kind: str = "TAG", expr: str = "*"
) -> list[Event]:
    group = unique("java-c-")
    return of(run_java("consume", ns, topic, group, kind, expr, expect, 30), "msg")


def check_round_trip(sent: list[Event], got: list[Event], mode: str) -> None:
    by_id = {e["msgId"]: e for e in got}
    assert Counter(e["msgId"] for e in got) == Counter(e["msgId"] for e in sent)  # once each
    for s in sent:
        m = by_id[s["msgId"]]
        i = s["i"]
        assert m["body"] == f"java-{mode}-{i}"
        assert m["tags"] == ("TagA" if i % 2 == 0 else "TagB")
        assert m["keys"] == f"k-{i}"
        assert m["props"]["idx"] == str(i)
        assert (m["queueId"], m["queueOffset"]) == (s["queueId"], s["queueOffset"])
        assert s["status"] == "SEND_OK"


@pytest.mark.compat(feature="sync send + push consume", client=JAVA, server=PYRMQ)
def test_sync_send_then_push_consume_each_message_once(ns: str) -> None:
    topic = unique("JavaSync")
    sent = of(run_java("send", ns, topic, "sync", 20), "sent")
    assert len(sent) == 20
    check_round_trip(sent, consume_all(ns, topic, 20), "sync")


@pytest.mark.compat(feature="async send", client=JAVA, server=PYRMQ)
def test_async_send_then_consume(ns: str) -> None:
    topic = unique("JavaAsync")
    events = run_java("send", ns, topic, "async", 20)
    assert not of(events, "send-error")
    sent = of(events, "sent")
    assert len(sent) == 20
    check_round_trip(sent, consume_all(ns, topic, 20), "async")


@pytest.mark.compat(feature="oneway send", client=JAVA, server=PYRMQ)
def test_oneway_send_then_consume(ns: str) -> None:
    topic = unique("JavaOneway")
    assert len(of(run_java("send", ns, topic, "oneway", 10), "sent-oneway")) == 10
    got = consume_all(ns, topic, 10)
    assert sorted(m["body"] for m in got) == sorted(f"java-oneway-{i}" for i in range(10))


@pytest.mark.compat(feature="batch send", client=JAVA, server=PYRMQ)
def test_batch_send_then_consume_in_order_on_one_queue(ns: str) -> None:
    topic = unique("JavaBatch")
    (batch,) = of(run_java("send", ns, topic, "batch", 10), "sent-batch")
    assert batch["status"] == "SEND_OK"
    ids = batch["msgIds"].split(",")
    assert len(ids) == 10
    got = consume_all(ns, topic, 10)
    assert [m["msgId"] for m in sorted(got, key=lambda m: m["queueOffset"])] == ids
    assert {m["queueId"] for m in got} == {batch["queueId"]}
    offsets = sorted(m["queueOffset"] for m in got)
    assert offsets == list(range(batch["queueOffset"], batch["queueOffset"] + 10))
    assert all(m["props"]["idx"] == m["body"].rsplit("-", 1)[1] for m in got)


@pytest.mark.compat(feature="tag filter", client=JAVA, server=PYRMQ)
def test_tag_subscription_gets_only_its_tag(ns: str) -> None:
    topic = unique("JavaTag")
    run_java("send", ns, topic, "sync", 20)
    got = consume_all(ns, topic, 10, "TAG", "TagA || TagC")
    assert sorted(m["body"] for m in got) == sorted(f"java-sync-{i}" for i in range(0, 20, 2))


@pytest.mark.compat(feature="SQL92 filter", client=JAVA, server=PYRMQ)
def test_sql92_subscription_gets_only_matching_properties(ns: str) -> None:
    topic = unique("JavaSql")
    run_java("send", ns, topic, "sync", 20)
    got = consume_all(ns, topic, 7, "SQL92", "color = 'blue' AND idx > 5")
    assert sorted(int(m["props"]["idx"]) for m in got) == [7, 9, 11, 13, 15, 17, 19]


@pytest.mark.compat(feature="orderly (selector + orderly listener)", client=JAVA, server=PYRMQ)
def test_orderly_each_key_in_send_order_from_one_queue(ns: str) -> None:
    topic, group = unique("JavaOrder"), unique("java-order-")
    events = run_java("orderly", ns, topic, group, 4, 10, 30)
    orders = {e["key"]: e["seq"] for e in of(events, "order")}
    assert orders == {f"key-{k}": list(range(10)) for k in range(4)}
    (queues,) = of(events, "queues")
    keys = [pair.split("@")[0] for pair in queues["pairs"]]
    assert len(keys) == len(set(keys)) == 4  # every key consumed from one queue only


@pytest.mark.compat(feature="broadcast", client=JAVA, server=PYRMQ)
def test_broadcast_members_each_get_everything(ns: str) -> None:
    (result,) = of(
        run_java("broadcast", ns, unique("JavaBcast"), unique("java-b-"), 10, 30), "broadcast"
    )
    assert (result["m1"], result["m2"]) == (10, 10)


@pytest.mark.compat(feature="delay level", client=JAVA, server=PYRMQ)
def test_delay_level_delivers_after_the_delay(ns: str) -> None:
    topic = unique("JavaDelay")
    events = run_java("delay", ns, topic, unique("java-d-"), 3, 30)
    (sent,) = of(events, "sent")
    (msg,) = of(events, "msg")
    assert msg["body"] == "late"
    assert msg["topic"] == topic
    assert msg["msgId"] == sent["msgId"]
    assert msg["now"] - sent["at"] >= 900  # level 3 is 1 s on this broker
    assert msg["props"]["DELAY"] == "3"


@pytest.mark.compat(feature="transaction: commit, rollback, check-back", client=JAVA, server=PYRMQ)
def test_transaction_commit_rollback_and_check_back(ns: str) -> None:
    events = run_java("transaction", ns, unique("JavaTx"), unique("java-tx-"), 30)
    states = {e["body"]: (e["status"], e["localState"]) for e in of(events, "sent")}
    assert states == {
        "commit": ("SEND_OK", "COMMIT_MESSAGE"),
        "rollback": ("SEND_OK", "ROLLBACK_MESSAGE"),
        "unknown": ("SEND_OK", "UNKNOW"),
    }
    assert sorted(m["body"] for m in of(events, "msg")) == ["commit", "unknown"]
    checks = of(events, "check")
    assert checks and {c["body"] for c in checks} == {"unknown"}


@pytest.mark.compat(feature="retry then DLQ", client=JAVA, server=PYRMQ)
def test_retries_then_dead_letter_queue(ns: str) -> None:
    events = run_java("dlq", ns, unique("JavaDlq"), unique("java-dlq-"), 2, 40)
    deliveries = {e["body"]: e["reconsumeTimes"] for e in of(events, "deliveries")}
    assert deliveries == {"dlq-0": [0, 1, 2], "dlq-1": [0, 1, 2]}
    assert of(events, "dlq")[0]["count"] == 2


@pytest.mark.compat(feature="query by key and msgId", client=JAVA, server=PYRMQ)
def test_query_by_key_unique_id_and_offset_msg_id(ns: str) -> None:
    topic = unique("JavaQuery")
    events = run_java("query", ns, topic, 5)
    by_key = {e["key"]: sorted(e["bodies"]) for e in of(events, "by-key")}
    assert by_key == {f"shared-{topic}": [f"q-{i}" for i in range(5)], "qkey-1": ["q-1"]}
    assert of(events, "by-msgid")[0]["body"] == "q-0"
    assert of(events, "by-offset-msgid")[0]["body"] == "q-1"


@pytest.mark.compat(feature="lite pull consumer + committed offsets", client=JAVA, server=PYRMQ)
def test_lite_pull_consumer_then_progress_shows_no_lag(ns: str) -> None:
    topic, group = unique("JavaLite"), unique("java-lite-")
    run_java("send", ns, topic, "sync", 12)
    events = run_java("litepull", ns, topic, group, 12, 30)
    assert sorted(m["body"] for m in of(events, "msg")) == sorted(
        f"java-sync-{i}" for i in range(12)
    )
    (progress,) = of(run_java("progress", ns, group), "progress")
    rows = [r for r in progress["rows"] if r["topic"] == topic]
    assert sum(r["brokerOffset"] for r in rows) == 12
    assert all(r["consumerOffset"] == r["brokerOffset"] for r in rows)
    assert progress["diff"] == 0


@pytest.mark.compat(
    feature="admin API: topic create, route, cluster list", client=JAVA, server=PYRMQ
)
def test_admin_topic_create_route_stats_and_cluster(ns: str, pyrmq_cluster: Deployment) -> None:
    topic = unique("JavaAdmin")
    events = run_java("admin", ns, "DefaultCluster", topic)
    (cluster,) = of(events, "cluster")
    assert cluster["clusters"] == {"DefaultCluster": ["broker-a"]}
    assert cluster["brokers"] == {"broker-a": {"0": pyrmq_cluster.brokers["broker-a"].addr}}
    (route,) = of(events, "route")
    assert route["queues"] == [{"brokerName": "broker-a", "read": 3, "write": 5, "perm": 6}]
    (stats,) = of(events, "stats")
    assert sorted(o["queueId"] for o in stats["offsets"]) == [0, 1, 2, 3, 4]
    assert sum(o["max"] for o in stats["offsets"]) == 9
    assert of(events, "topics")[0]["hasTopic"] is True


@pytest.mark.compat(
    feature="cross-client: it produces, pyrmq client consumes", client=JAVA, server=PYRMQ
)
async def test_java_producer_pyrmq_consumer(ns: str) -> None:
    topic = unique("JavaToPy")
    sent = of(run_java("send", ns, topic, "sync", 10), "sent")
    got: list[MessageExt] = []
    consumer = PushConsumer(unique("py-c-"), ns, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(topic, "TagA || TagB")

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        got.extend(msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    consumer.register_listener(listener)
    await consumer.start()
    try:
        await wait_for(lambda: len(got) >= 10, 30)
        await asyncio.sleep(0.5)
    finally:
        await consumer.shutdown()
    # The client-side msgId (Java's MessageClientExt.getMsgId) is the UNIQ_KEY property.
    assert sorted(m.properties["UNIQ_KEY"] for m in got) == sorted(s["msgId"] for s in sent)
    for m in got:
        i = int(m.properties["idx"])
        tag = "TagA" if i % 2 == 0 else "TagB"
        assert (m.body, m.tags, m.keys) == (f"java-sync-{i}".encode(), tag, [f"k-{i}"])


@pytest.mark.compat(
    feature="cross-client: pyrmq client produces, it consumes", client=JAVA, server=PYRMQ
)
async def test_pyrmq_producer_java_consumer(ns: str) -> None:
    topic = unique("PyToJava")
    producer = Producer(unique("py-p-"), ns)
    await producer.start()
    ids = []
    try:
        for i in range(10):
            msg = Message(topic, f"py-{i}".encode())
            msg.tags, msg.keys = "PyTag", [f"pk-{i}"]
            msg.properties["idx"] = str(i)
            result = await producer.send(msg)
            assert result.send_status is SendStatus.SEND_OK
            ids.append(result.msg_id)
    finally:
        await producer.shutdown()
    got = await asyncio.to_thread(consume_all, ns, topic, 10)
    assert sorted(m["msgId"] for m in got) == sorted(ids)
    for m in got:
        i = int(m["props"]["idx"])
        assert (m["body"], m["tags"], m["keys"]) == (f"py-{i}", "PyTag", f"pk-{i}")
