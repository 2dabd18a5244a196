"""Messaging features against broker processes: orderly, retry to DLQ, delay across a restart,
query after a restart. Processes are started through bin/ and stopped by PID."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrmq.client import (
    ConsumeOrderlyStatus,
    ConsumeStatus,
    LocalTransactionState,
    Message,
    MessageExt,
    Producer,
    PushConsumer,
    QueryClient,
    SelectMessageQueueByHash,
    TransactionProducer,
)
from tests.integration.test_e2e import Deployment, deployment, wait_for
from tests.support.vectors import REPO

pytestmark = pytest.mark.cluster

FAST_LEVELS = " ".join(["1s"] * 18)


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Deployment]:
    with deployment(tmp_path) as running:
        running.start_broker("broker-a", "127.0.0.1", messageDelayLevel=FAST_LEVELS)
        yield running


def orderly_consumer(addr: str, seen: dict[str, list[int]], topic: str) -> PushConsumer:
    consumer = PushConsumer("orderly", addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(topic, "*")

    def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        for m in msgs:
            seen[m.properties["KEYS"]].append(int(m.properties["seq"]))
        return ConsumeOrderlyStatus.SUCCESS

    consumer.register_listener_orderly(listener)
    return consumer


async def test_orderly_per_key_order_while_consumers_join_and_leave(tmp_path: Path) -> None:
    with deployment(tmp_path) as running:
        running.start_broker("broker-a", "127.0.0.1", defaultTopicQueueNums=8)
        producer = Producer("pg", running.namesrv_addr, default_topic_queue_nums=8)
        await producer.start()
        seen: dict[str, list[int]] = defaultdict(list)
        keys = [f"order-{k}" for k in range(200)]
        per_key = 250  # 50,000 messages
        selector = SelectMessageQueueByHash()

        async def send_key(key: str) -> None:
            for seq in range(per_key):  # one key's messages in order, as an order's steps
                msg = Message("Orders", b"x", properties={"KEYS": key, "seq": str(seq)})
                await producer.send_orderly(msg, selector, key)

        first = orderly_consumer(running.namesrv_addr, seen, "Orders")
        second = orderly_consumer(running.namesrv_addr, seen, "Orders")
        third = orderly_consumer(running.namesrv_addr, seen, "Orders")
        try:
            await first.start()
            await second.start()
            sending = asyncio.ensure_future(asyncio.gather(*(send_key(k) for k in keys)))
            await asyncio.sleep(1.0)
            await third.start()  # joins while messages flow
            await asyncio.sleep(1.0)
            await first.shutdown()  # and one leaves
            await sending
            total = len(keys) * per_key
            await wait_for(lambda: sum(len(set(v)) for v in seen.values()) >= total, 120)
        finally:
            for consumer in (first, second, third):
                await consumer.shutdown()
            await producer.shutdown()
        for key in keys:
            order = list(dict.fromkeys(seen[key]))  # a rebalance may deliver again: first seen
            assert order == list(range(per_key)), key


async def test_retry_three_deliveries_then_dlq_after_sixteen_retries(single: Deployment) -> None:
    producer = Producer("pg", single.namesrv_addr)
    await producer.start()
    deliveries: dict[str, list[int]] = defaultdict(list)

    def flaky(msgs: list[MessageExt]) -> ConsumeStatus:
        for m in msgs:
            deliveries[m.body.decode()].append(m.reconsume_times)
            if m.body.startswith(b"always") or len(deliveries[m.body.decode()]) <= 2:
                return ConsumeStatus.RECONSUME_LATER
        return ConsumeStatus.CONSUME_SUCCESS

    consumer = PushConsumer(
        "retrying", single.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    consumer.subscribe("Work", "*")
    consumer.register_listener(flaky)
    dlq = PushConsumer(
        "dlq-reader", single.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    dlq.subscribe("%DLQ%retrying", "*")
    dead: list[MessageExt] = []
    dlq.register_listener(lambda msgs: dead.extend(msgs) or ConsumeStatus.CONSUME_SUCCESS)
    try:
        await producer.send(Message("Work", b"twice"))
        await producer.send(Message("Work", b"always"))
        await consumer.start()
        await wait_for(lambda: len(deliveries["twice"]) >= 3, 30)
        await wait_for(lambda: len(deliveries["always"]) >= 17, 90)
        await dlq.start()
        await wait_for(lambda: len(dead) >= 1, 30)
    finally:
        await consumer.shutdown()
        await dlq.shutdown()
        await producer.shutdown()
    assert deliveries["twice"] == [0, 1, 2]  # RECONSUME_TIME of each delivery
    assert deliveries["always"] == list(range(17))  # the first try, then 16 retries
    assert [m.body for m in dead] == [b"always"]


async def test_delay_level_two_survives_a_broker_restart(tmp_path: Path) -> None:
    with deployment(tmp_path) as running:
        broker = running.start_broker("broker-a", "127.0.0.1")  # default levels: 2 = 5 s
        port = broker.port
        producer = Producer("pg", running.namesrv_addr)
        await producer.start()
        arrived: dict[str, float] = {}
        sent_at: dict[str, float] = {}
        consumer = PushConsumer(
            "delayed", running.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
        )
        consumer.subscribe("Later", "*")

        def listener(msgs: list[MessageExt]) -> ConsumeStatus:
            for m in msgs:
                arrived.setdefault(m.body.decode(), time.monotonic())
            return ConsumeStatus.CONSUME_SUCCESS

        consumer.register_listener(listener)
        try:
            await producer.send(Message("Later", b"warmup"))  # the topic exists before
            await consumer.start()
            await wait_for(lambda: "warmup" in arrived, 30)
            for i in range(10):
                name = f"d{i}"
                sent_at[name] = time.monotonic()
                await producer.send(Message("Later", name.encode(), properties={"DELAY": "2"}))
            running.brokers["broker-a"].stop()  # SIGTERM in the middle of the delay
            running.start_broker("broker-a", "127.0.0.1", port)
            await wait_for(lambda: all(n in arrived for n in sent_at), 30)
        finally:
            await consumer.shutdown()
            await producer.shutdown()
        for name, at in sent_at.items():
            assert arrived[name] - at >= 5.0, name  # not before its level's 5 s


async def test_query_by_key_and_msg_id_after_a_restart(single: Deployment) -> None:
    producer = Producer("pg", single.namesrv_addr)
    await producer.start()
    try:
        result = await producer.send(
            Message("Findable", b"needle", properties={"KEYS": "order-77"})
        )
    finally:
        await producer.shutdown()
    broker = single.brokers["broker-a"]
    port = broker.port
    broker.stop()
    single.start_broker("broker-a", "127.0.0.1", port, messageDelayLevel=FAST_LEVELS)
    async with QueryClient(single.namesrv_addr) as query:
        now_ms = int(time.time() * 1000)
        by_key = await query.query_message("Findable", "order-77", 32, 0, now_ms + 60_000)
        assert [m.body for m in by_key] == [b"needle"]
        assert result.offset_msg_id is not None
        by_id = await query.view_message(result.offset_msg_id)
        assert by_id.body == b"needle"
        by_uniq = await query.query_message_by_uniq_key("Findable", result.msg_id)
        assert by_uniq is not None and by_uniq.body == b"needle"


async def test_broadcast_members_each_get_everything_and_resume_locally(
    single: Deployment, tmp_path: Path
) -> None:
    producer = Producer("pg", single.namesrv_addr)
    await producer.start()
    seen: dict[str, list[bytes]] = defaultdict(list)
    offsets = tmp_path / "offsets"

    def member(name: str) -> PushConsumer:
        consumer = PushConsumer(
            "fanout",
            single.namesrv_addr,
            message_model="BROADCASTING",
            consume_from_where="CONSUME_FROM_FIRST_OFFSET",
            instance_name=name,
            offset_store_dir=str(offsets),
        )
        consumer.subscribe("News", "*")
        consumer.register_listener(
            lambda msgs: seen[name].extend(m.body for m in msgs) or ConsumeStatus.CONSUME_SUCCESS
        )
        return consumer

    members = [member(f"m{i}") for i in range(3)]
    try:
        await producer.send(Message("News", b"n0"))
        for consumer in members:
            await consumer.start()
        for i in range(1, 30):
            await producer.send(Message("News", f"n{i}".encode()))
        expected = {f"n{i}".encode() for i in range(30)}
        await wait_for(lambda: all(set(seen[f"m{i}"]) == expected for i in range(3)), 30)
        await members[0].shutdown()  # writes its local offsets
        seen["m0"].clear()
        for i in range(30, 40):
            await producer.send(Message("News", f"n{i}".encode()))
        members[0] = member("m0")
        await members[0].start()  # resumes from its file: only the new ten
        await wait_for(lambda: len(seen["m0"]) >= 10, 30)
        await asyncio.sleep(0.5)
        assert sorted(seen["m0"]) == sorted(f"n{i}".encode() for i in range(30, 40))
    finally:
        for consumer in members:
            await consumer.shutdown()
        await producer.shutdown()


class Decide:
    """Decides at once with ``now``; a check-back (which the broker may send to any producer
    of the group) looks at the body: only "rolled-back" is rolled back."""

    def __init__(self, now: LocalTransactionState) -> None:
        self.now = now

    def execute_local_transaction(self, msg: Message, arg: object) -> LocalTransactionState:
        return self.now

    def check_local_transaction(self, msg: MessageExt) -> LocalTransactionState:
        if msg.body == b"rolled-back":
            return LocalTransactionState.ROLLBACK_MESSAGE
        return LocalTransactionState.COMMIT_MESSAGE


async def test_transactions_commit_rollback_check_and_dead_producer(tmp_path: Path) -> None:
    with deployment(tmp_path) as running:
        running.start_broker(
            "broker-a", "127.0.0.1", transactionCheckInterval=500, transactionTimeOut=300
        )
        addr = running.namesrv_addr
        # A producer process stores a half message and is killed before deciding.
        child = subprocess.Popen(  # noqa: ASYNC220 - a child that is killed, not awaited
            [sys.executable, "-m", "tests.support.half_sender", addr, "Tx", "tx-group", "orphan"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().startswith("sent ")
        finally:
            child.kill()
            child.communicate(timeout=30)
        seen: list[bytes] = []
        consumer = PushConsumer("tx-reader", addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
        consumer.subscribe("Tx", "*")
        consumer.register_listener(
            lambda msgs: seen.extend(m.body for m in msgs) or ConsumeStatus.CONSUME_SUCCESS
        )
        committer = TransactionProducer(
            "tx-group",
            addr,
            Decide(LocalTransactionState.COMMIT_MESSAGE),
        )
        try:
            await committer.start()
            await committer.send_message_in_transaction(Message("Tx", b"commit"))
            undecided = TransactionProducer(
                "tx-group",
                addr,
                Decide(LocalTransactionState.UNKNOW),
                instance_name="undecided",
            )
            rollback = TransactionProducer(
                "tx-group",
                addr,
                Decide(LocalTransactionState.ROLLBACK_MESSAGE),
                instance_name="rollback",
            )
            await undecided.start()
            await rollback.start()
            await undecided.send_message_in_transaction(Message("Tx", b"checked"))
            await rollback.send_message_in_transaction(Message("Tx", b"rolled-back"))
            await consumer.start()
            # commit at once; "checked" and the dead producer's "orphan" by the check-back
            await wait_for(lambda: {b"commit", b"checked", b"orphan"} <= set(seen), 30)
            await asyncio.sleep(1.5)  # three more check passes: the rollback stays invisible
            await undecided.shutdown()
            await rollback.shutdown()
        finally:
            await consumer.shutdown()
            await committer.shutdown()
        assert sorted(set(seen)) == [b"checked", b"commit", b"orphan"]


async def test_tag_and_sql92_subscriptions_receive_exactly_their_messages(
    tmp_path: Path,
) -> None:
    with deployment(tmp_path) as running:
        running.start_broker("broker-a", "127.0.0.1", enablePropertyFilter="true")
        addr = running.namesrv_addr
        producer = Producer("pg", addr)
        await producer.start()
        got: dict[str, list[int]] = defaultdict(list)

        def consumer(group: str, expression: str, kind: str) -> PushConsumer:
            push = PushConsumer(group, addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
            push.subscribe("Filtered", expression, expression_type=kind)
            push.register_listener(
                lambda msgs: (
                    got[group].extend(int(m.properties["n"]) for m in msgs)
                    or ConsumeStatus.CONSUME_SUCCESS
                )
            )
            return push

        sql = consumer("sql", "n BETWEEN 10 AND 19 AND TAGS IN ('odd')", "SQL92")
        tag = consumer("tag", "even || none", "TAG")
        try:
            for i in range(40):
                tags = "even" if i % 2 == 0 else "odd"
                await producer.send(
                    Message("Filtered", b"x", properties={"TAGS": tags, "n": str(i)})
                )
            await sql.start()
            await tag.start()
            await wait_for(lambda: len(got["sql"]) >= 5 and len(got["tag"]) >= 20, 30)
            await asyncio.sleep(0.5)
        finally:
            await sql.shutdown()
            await tag.shutdown()
            await producer.shutdown()
        assert sorted(got["sql"]) == [11, 13, 15, 17, 19]
        assert sorted(got["tag"]) == list(range(0, 40, 2))
