"""pyrmq's client against Apache RocketMQ's own NameServer + Broker (Java 4.9.7).

The same features the Java client is tested with against pyrmq (test_java_client.py), now the
other way round: sync, async, oneway and batch sends, push consumption once per message with
everything intact, tag and SQL92 filters, orderly, broadcast, delay, transactions with a
check-back, retries to the DLQ, query by key / offset msgId / unique key, the lite pull
consumer with committed offsets and with assign + seek, search by timestamp, the plain pull
consumer with a compressed body, and the admin calls (topic create, route, cluster).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from pyrmq.client import (
    Admin,
    ConsumeOrderlyStatus,
    ConsumeStatus,
    LitePullConsumer,
    LocalTransactionState,
    Message,
    MessageExt,
    MessageQueue,
    Producer,
    PullConsumer,
    PullStatus,
    PushConsumer,
    QueryClient,
    SelectMessageQueueByHash,
    SendResult,
    SendStatus,
    TransactionProducer,
)
from tests.integration.test_e2e import wait_for
from tests.interop.java_server import JavaDeployment
from tests.interop.tools import unique

pytestmark = pytest.mark.cluster

CLIENT = "pyrmq client"
SERVER = "Java broker 4.9.7"


@pytest.fixture
def ns(java_cluster: JavaDeployment) -> str:
    return java_cluster.namesrv_addr


def message(topic: str, i: int, prefix: str = "py") -> Message:
    msg = Message(topic, f"{prefix}-{i}".encode())
    msg.tags = "TagA" if i % 2 == 0 else "TagB"
    msg.keys = [f"k-{i}"]
    msg.properties["idx"] = str(i)
    msg.properties["color"] = "red" if i % 2 == 0 else "blue"
    return msg


@asynccontextmanager
async def producing(ns: str) -> AsyncIterator[Producer]:
    producer = Producer(unique("py-p-"), ns)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.shutdown()


Listener = Callable[[list[MessageExt]], ConsumeStatus]


async def consume(
    ns: str, topic: str, expect: int, expression: str = "*", *, grace_s: float = 1.0
) -> list[MessageExt]:
    """Everything a fresh group's push consumer gets from the start, waiting ``grace_s`` more."""
    got: list[MessageExt] = []
    consumer = PushConsumer(unique("py-c-"), ns, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(topic, expression)
    consumer.register_listener(lambda msgs: got.extend(msgs) or ConsumeStatus.CONSUME_SUCCESS)
    await consumer.start()
    try:
        await wait_for(lambda: len(got) >= expect, 30)
        await asyncio.sleep(grace_s)
    finally:
        await consumer.shutdown()
    return got


def check_round_trip(sent: dict[int, SendResult], got: list[MessageExt], prefix: str) -> None:
    assert Counter(m.properties["UNIQ_KEY"] for m in got) == Counter(
        r.msg_id for r in sent.values()
    )
    for m in got:
        i = int(m.properties["idx"])
        assert (m.body, m.tags, m.keys) == (
            f"{prefix}-{i}".encode(),
            "TagA" if i % 2 == 0 else "TagB",
            [f"k-{i}"],
        )
        assert (m.queue_id, m.queue_offset) == (
            sent[i].message_queue.queue_id,
            sent[i].queue_offset,
        )
        assert m.msg_id == sent[i].offset_msg_id


@pytest.mark.compat(feature="sync send + push consume", client=CLIENT, server=SERVER)
async def test_sync_send_then_push_consume_each_message_once(ns: str) -> None:
    topic = unique("PySync")
    async with producing(ns) as producer:
        sent = {i: await producer.send(message(topic, i)) for i in range(20)}
    assert {r.send_status for r in sent.values()} == {SendStatus.SEND_OK}
    check_round_trip(sent, await consume(ns, topic, 20), "py")


@pytest.mark.compat(feature="async send", client=CLIENT, server=SERVER)
async def test_async_send_then_consume(ns: str) -> None:
    topic = unique("PyAsync")
    async with producing(ns) as producer:
        futures = {i: producer.send_async(message(topic, i)) for i in range(20)}
        sent = {i: await future for i, future in futures.items()}
    check_round_trip(sent, await consume(ns, topic, 20), "py")


@pytest.mark.compat(feature="oneway send", client=CLIENT, server=SERVER)
async def test_oneway_send_then_consume(ns: str) -> None:
    topic = unique("PyOneway")
    async with producing(ns) as producer:
        await producer.send(message(topic, 0))  # creates the topic; oneway cannot see a failure
        for i in range(1, 10):
            await producer.send_oneway(message(topic, i))
    got = await consume(ns, topic, 10)
    assert sorted(m.body for m in got) == sorted(f"py-{i}".encode() for i in range(10))


@pytest.mark.compat(feature="batch send", client=CLIENT, server=SERVER)
async def test_batch_send_then_consume_in_order_on_one_queue(ns: str) -> None:
    topic = unique("PyBatch")
    async with producing(ns) as producer:
        result = await producer.send_batch([message(topic, i) for i in range(10)])
    assert result.send_status is SendStatus.SEND_OK
    got = sorted(await consume(ns, topic, 10), key=lambda m: m.queue_offset)
    assert [m.properties["UNIQ_KEY"] for m in got] == result.msg_id.split(",")
    assert [m.body for m in got] == [f"py-{i}".encode() for i in range(10)]
    assert {m.queue_id for m in got} == {result.message_queue.queue_id}


@pytest.mark.compat(feature="tag filter", client=CLIENT, server=SERVER)
async def test_tag_subscription_gets_only_its_tag(ns: str) -> None:
    topic = unique("PyTag")
    async with producing(ns) as producer:
        for i in range(20):
            await producer.send(message(topic, i))
    got = await consume(ns, topic, 10, "TagA || TagC")
    assert sorted(m.body for m in got) == sorted(f"py-{i}".encode() for i in range(0, 20, 2))


@pytest.mark.compat(feature="SQL92 filter", client=CLIENT, server=SERVER)
async def test_sql92_subscription_gets_only_matching_properties(ns: str) -> None:
    topic = unique("PySql")
    async with producing(ns) as producer:
        for i in range(20):
            await producer.send(message(topic, i))
    got: list[MessageExt] = []
    consumer = PushConsumer(unique("py-sql-"), ns, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(topic, "color = 'blue' AND idx > 5", expression_type="SQL92")
    consumer.register_listener(lambda msgs: got.extend(msgs) or ConsumeStatus.CONSUME_SUCCESS)
    await consumer.start()
    try:
        await wait_for(lambda: len(got) >= 7, 30)
        await asyncio.sleep(1.0)
    finally:
        await consumer.shutdown()
    assert sorted(int(m.properties["idx"]) for m in got) == [7, 9, 11, 13, 15, 17, 19]


@pytest.mark.compat(feature="orderly (selector + orderly listener)", client=CLIENT, server=SERVER)
async def test_orderly_each_key_in_send_order_from_one_queue(ns: str) -> None:
    topic = unique("PyOrder")
    seen: dict[str, list[int]] = defaultdict(list)
    queues: dict[str, set[int]] = defaultdict(set)
    async with producing(ns) as producer:
        for seq in range(10):
            for k in range(4):
                msg = Message(topic, f"o-{k}-{seq}".encode())
                msg.keys, msg.properties["seq"] = [f"key-{k}"], str(seq)
                await producer.send(msg, selector=SelectMessageQueueByHash(), arg=f"key-{k}")

    def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        for m in msgs:
            seen[m.keys[0]].append(int(m.properties["seq"]))
            queues[m.keys[0]].add(m.queue_id)
        return ConsumeOrderlyStatus.SUCCESS

    consumer = PushConsumer(unique("py-ord-"), ns, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(topic, "*")
    consumer.register_listener_orderly(listener)
    await consumer.start()
    try:
        await wait_for(lambda: sum(map(len, seen.values())) >= 40, 30)
    finally:
        await consumer.shutdown()
    assert dict(seen) == {f"key-{k}": list(range(10)) for k in range(4)}
    assert all(len(q) == 1 for q in queues.values())


@pytest.mark.compat(feature="broadcast", client=CLIENT, server=SERVER)
async def test_broadcast_members_each_get_everything(
    ns: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    topic, group = unique("PyBcast"), unique("py-b-")
    offsets = tmp_path_factory.mktemp("broadcast-offsets")
    seen: dict[str, list[bytes]] = defaultdict(list)
    async with producing(ns) as producer:
        await producer.send(message(topic, 0))
        members = []
        for name in ("m1", "m2"):
            member = PushConsumer(
                group, ns, message_model="BROADCASTING", instance_name=name,
                consume_from_where="CONSUME_FROM_FIRST_OFFSET", offset_store_dir=str(offsets),
            )  # fmt: skip
            member.subscribe(topic, "*")
            member.register_listener(
                lambda msgs, name=name: (
                    seen[name].extend(m.body for m in msgs) or ConsumeStatus.CONSUME_SUCCESS
                )
            )
            await member.start()
            members.append(member)
        try:
            for i in range(1, 10):
                await producer.send(message(topic, i))
            await wait_for(lambda: len(seen["m1"]) >= 10 and len(seen["m2"]) >= 10, 30)
            await asyncio.sleep(0.5)
        finally:
            for member in members:
                await member.shutdown()
    expected = sorted(f"py-{i}".encode() for i in range(10))
    assert sorted(seen["m1"]) == sorted(seen["m2"]) == expected


@pytest.mark.compat(feature="delay level", client=CLIENT, server=SERVER)
async def test_delay_level_delivers_after_the_delay(ns: str) -> None:
    topic = unique("PyDelay")
    msg = Message(topic, b"late")
    msg.properties["DELAY"] = "3"
    async with producing(ns) as producer:
        sent_at = time.time()
        result = await producer.send(msg)
    (got,) = await consume(ns, topic, 1)
    assert got.body == b"late" and got.topic == topic
    assert got.properties["UNIQ_KEY"] == result.msg_id
    assert got.store_timestamp / 1000 - sent_at >= 0.9  # stored in the topic when due (1 s)


class Decide:
    """Commits "commit", rolls back "rollback", answers UNKNOW for the rest; a check commits."""

    def __init__(self) -> None:
        self.checked: list[bytes] = []

    def execute_local_transaction(self, msg: Message, arg: object) -> LocalTransactionState:
        return {
            b"commit": LocalTransactionState.COMMIT_MESSAGE,
            b"rollback": LocalTransactionState.ROLLBACK_MESSAGE,
        }.get(msg.body, LocalTransactionState.UNKNOW)

    def check_local_transaction(self, msg: MessageExt) -> LocalTransactionState:
        self.checked.append(msg.body)
        return LocalTransactionState.COMMIT_MESSAGE


@pytest.mark.compat(
    feature="transaction: commit, rollback, check-back", client=CLIENT, server=SERVER
)
async def test_transaction_commit_rollback_and_check_back(ns: str) -> None:
    topic = unique("PyTx")
    decide = Decide()
    producer = TransactionProducer(unique("py-tx-"), ns, decide)
    await producer.start()
    try:
        for body in (b"commit", b"rollback", b"unknown"):
            result = await producer.send_message_in_transaction(Message(topic, body), None)
            assert result.send_status is SendStatus.SEND_OK
        got = await consume(ns, topic, 2, grace_s=2.0)
    finally:
        await producer.shutdown()
    assert sorted(m.body for m in got) == [b"commit", b"unknown"]
    assert set(decide.checked) == {b"unknown"}


@pytest.mark.compat(feature="retry then DLQ", client=CLIENT, server=SERVER)
async def test_retries_then_dead_letter_queue(ns: str) -> None:
    topic, group = unique("PyDlq"), unique("py-dlq-")
    deliveries: dict[bytes, list[int]] = defaultdict(list)
    async with producing(ns) as producer:
        for i in range(2):
            await producer.send(message(topic, i, "dlq"))

    def failing(msgs: list[MessageExt]) -> ConsumeStatus:
        for m in msgs:
            deliveries[m.body].append(m.reconsume_times)
        return ConsumeStatus.RECONSUME_LATER

    consumer = PushConsumer(
        group, ns, consume_from_where="CONSUME_FROM_FIRST_OFFSET", max_reconsume_times=2
    )
    consumer.subscribe(topic, "*")
    consumer.register_listener(failing)
    await consumer.start()
    try:
        await wait_for(lambda: all(len(deliveries[f"dlq-{i}".encode()]) >= 3 for i in range(2)), 40)
        async with QueryClient(ns) as query:
            dead: list[MessageExt] = []
            for _ in range(100):
                now_ms = int(time.time() * 1000)
                dead = await query.query_message(f"%DLQ%{group}", "k-0", 32, 0, now_ms + 60_000)
                if dead:
                    break
                await asyncio.sleep(0.2)
    finally:
        await consumer.shutdown()
    assert dict(deliveries) == {b"dlq-0": [0, 1, 2], b"dlq-1": [0, 1, 2]}
    assert [m.body for m in dead] == [b"dlq-0"]


@pytest.mark.compat(feature="query by key and msgId", client=CLIENT, server=SERVER)
async def test_query_by_key_unique_id_and_offset_msg_id(ns: str) -> None:
    topic = unique("PyQuery")
    async with producing(ns) as producer:
        results = [await producer.send(message(topic, i, "q")) for i in range(5)]
    async with QueryClient(ns) as query:
        now_ms = int(time.time() * 1000)
        by_key: list[MessageExt] = []
        for _ in range(50):
            by_key = await query.query_message(topic, "k-3", 32, 0, now_ms + 60_000)
            if by_key:
                break
            await asyncio.sleep(0.2)
        assert [m.body for m in by_key] == [b"q-3"]
        assert results[1].offset_msg_id is not None
        assert (await query.view_message(results[1].offset_msg_id)).body == b"q-1"
        by_uniq = await query.query_message_by_uniq_key(topic, results[2].msg_id)
        assert by_uniq is not None and by_uniq.body == b"q-2"
        assert (await query.view_message_by_id(topic, results[4].msg_id)).body == b"q-4"


@pytest.mark.compat(feature="lite pull consumer + committed offsets", client=CLIENT, server=SERVER)
async def test_lite_pull_consumer_commits_offsets_the_broker_keeps(ns: str) -> None:
    topic, group = unique("PyLite"), unique("py-lite-")
    async with producing(ns) as producer:
        for i in range(12):
            await producer.send(message(topic, i))
    consumer = LitePullConsumer(
        group, ns, consume_from_where="CONSUME_FROM_FIRST_OFFSET", enable_auto_commit=False
    )
    consumer.subscribe(topic, "*")
    await consumer.start()
    got: list[MessageExt] = []
    try:
        for _ in range(60):
            got += await consumer.poll(0.5)
            if len(got) >= 12:
                break
        await consumer.commit_sync()
    finally:
        await consumer.shutdown()
    assert sorted(m.body for m in got) == sorted(f"py-{i}".encode() for i in range(12))
    async with Admin(ns) as admin:
        queues = await admin.fetch_subscribe_queues(topic)
        for mq in queues:
            assert await admin.consumer_offset(group, mq) == await admin.max_offset(mq)
        assert sum([await admin.max_offset(mq) for mq in queues]) == 12


@pytest.mark.compat(
    feature="admin API: topic create, route, cluster list", client=CLIENT, server=SERVER
)
async def test_admin_topic_create_route_and_cluster(java_cluster: JavaDeployment) -> None:
    topic = unique("PyAdmin")
    broker = java_cluster.brokers["broker-j"]
    async with Admin(java_cluster.namesrv_addr) as admin:
        cluster = await admin.cluster_info()
        assert cluster.cluster_addr_table == {"DefaultCluster": ["broker-j"]}
        assert cluster.broker_addr_table["broker-j"].broker_addrs == {0: broker.addr}
        assert await admin.create_topic(broker.addr, topic, 3) == [broker.addr]
        route = await admin.topic_route(topic)
        assert [
            (q.broker_name, q.read_queue_nums, q.write_queue_nums) for q in route.queue_datas
        ] == [("broker-j", 3, 3)]


@pytest.mark.compat(feature="compressed body + pull consumer", client=CLIENT, server=SERVER)
async def test_compressed_body_and_plain_pull(java_cluster: JavaDeployment) -> None:
    topic = unique("PyBig")
    ns = java_cluster.namesrv_addr
    body = bytes(random.Random(7).choice(b"abcdefgh ") for _ in range(100 * 1024))
    async with Admin(ns) as admin:
        await admin.create_topic(java_cluster.brokers["broker-j"].addr, topic, 1)
    mq = MessageQueue(topic, "broker-j", 0)
    async with producing(ns) as producer:
        sent = await producer.send(Message(topic, body))  # over 4 KiB: zlib-compressed
        await producer.send(Message(topic, b"small"))
    async with PullConsumer(unique("py-pull-"), ns) as puller:
        result = await puller.pull(mq, "*", 0, 32)
        assert result.status is PullStatus.FOUND
        assert [m.body for m in result.msgs] == [body, b"small"]
        assert result.msgs[0].uniq_key == sent.msg_id
        assert (result.next_begin_offset, result.max_offset) == (2, 2)
        assert (await puller.pull(mq, "*", 2, 32)).status is PullStatus.NO_NEW_MSG
        moved = await puller.pull(mq, "*", 50, 32)
        assert moved.status is PullStatus.OFFSET_ILLEGAL and moved.next_begin_offset == 2


@pytest.mark.compat(feature="lite pull assign + seek, search offset", client=CLIENT, server=SERVER)
async def test_lite_pull_assign_seek_and_search_offset(java_cluster: JavaDeployment) -> None:
    topic = unique("PySeek")
    ns = java_cluster.namesrv_addr
    async with Admin(ns) as admin:
        await admin.create_topic(java_cluster.brokers["broker-j"].addr, topic, 1)
        mq = MessageQueue(topic, "broker-j", 0)
        async with producing(ns) as producer:
            for i in range(5):
                await producer.send(message(topic, i))
            await asyncio.sleep(0.02)
            middle_ms = int(time.time() * 1000)
            await asyncio.sleep(0.3)
            for i in range(5, 10):
                await producer.send(message(topic, i))
        # The offset whose store time is closest (RocketMQ 4.9's getOffsetInQueueByTime):
        # message 4, 20 ms before, not message 5, 300 ms after.
        assert await admin.search_offset(mq, middle_ms) == 4
    consumer = LitePullConsumer(unique("py-seek-"), ns, enable_auto_commit=False)
    consumer.assign([mq])
    await consumer.start()
    try:
        await consumer.seek(mq, 7)
        got: list[MessageExt] = []
        for _ in range(20):
            got += await consumer.poll(0.5)
            if len(got) >= 3:
                break
    finally:
        await consumer.shutdown()
    assert [m.body for m in got] == [b"py-7", b"py-8", b"py-9"]
