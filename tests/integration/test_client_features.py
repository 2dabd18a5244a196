"""Client features against an in-process NameServer + broker: orderly, broadcasting, retries and
the DLQ, the lite pull and plain pull consumers, compression.

Each test builds its own ``local_cluster`` (OS-chosen ports, temp store) and fast client timers;
retries use a broker whose 18 delay levels are all ``1s``.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from pyrmq.client import (
    BROADCASTING,
    ClientConfig,
    ConsumeOrderlyStatus,
    ConsumeStatus,
    LitePullConsumer,
    Message,
    MessageExt,
    MessageQueue,
    Producer,
    PullConsumer,
    PullStatus,
    PushConsumer,
    SelectMessageQueueByHash,
)
from pyrmq.client.admin import Admin
from pyrmq.client.consumer.local_offset_store import decode_offset_file
from pyrmq.client.consumer.pull import build_active_pull_header
from pyrmq.common.message_codec import decode_stored_messages
from pyrmq.remoting.heartbeat import build_subscription_data
from tests.support.cluster import LocalCluster, local_cluster

FIRST = "CONSUME_FROM_FIRST_OFFSET"
ONE_SECOND_LEVELS = " ".join(["1s"] * 18)


def fast_config() -> ClientConfig:
    return ClientConfig(
        rebalance_interval_s=0.5,
        persist_consumer_offset_interval_s=0.5,
        persist_consumer_offset_initial_delay_s=0.5,
        heartbeat_broker_interval_s=5.0,
        api_timeout_s=3.0,
    )


async def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(0.02)


async def create_topic(cluster: LocalCluster, topic: str, queues: int) -> None:
    async with Admin(cluster.namesrv_addr) as admin:
        await admin.create_topic(cluster.broker_addr, topic, queues)


# ----------------------------------------------------------------------------------- orderly


async def test_orderly_keeps_per_key_order_while_members_join_and_leave(tmp_path: Path) -> None:
    keys, per_key = 50, 40
    async with local_cluster(tmp_path) as cluster:
        await create_topic(cluster, "Orders", 8)
        seen: list[tuple[str, int, str]] = []
        queue_of_key: dict[str, set[int]] = defaultdict(set)

        def member(name: str) -> PushConsumer:
            consumer = PushConsumer(
                "orderly-group",
                cluster.namesrv_addr,
                FIRST,
                client_config=fast_config(),
                pull_retry_delay_s=0.2,
                lock_interval_s=1.0,
            )

            async def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
                for msg in msgs:
                    key, seq = msg.body.decode().split(":")
                    seen.append((key, int(seq), name))
                    queue_of_key[key].add(msg.queue_id)
                if random.random() < 0.05:
                    await asyncio.sleep(0.002)  # let a rebalance land in the middle
                return ConsumeOrderlyStatus.SUCCESS

            consumer.subscribe("Orders", "*")
            consumer.register_listener_orderly(listener)
            return consumer

        first, second, third = member("a"), member("b"), member("c")
        await first.start()
        await second.start()
        selector = SelectMessageQueueByHash()
        async with Producer("orderly-producer", cluster.namesrv_addr) as producer:
            for seq in range(per_key):
                if seq == per_key // 3:
                    await third.start()
                if seq == 2 * per_key // 3:
                    await first.shutdown()
                for k in range(keys):
                    key = f"order-{k}"
                    msg = Message("Orders", f"{key}:{seq}".encode())
                    msg.keys = [key]
                    await producer.send_orderly(msg, selector, key)
        total = keys * per_key
        await wait_for(lambda: len({(k, s) for k, s, _ in seen}) == total, 30.0)
        await second.shutdown()
        await third.shutdown()
    assert all(len(queues) == 1 for queues in queue_of_key.values())  # one queue per key
    by_key: dict[str, list[int]] = defaultdict(list)
    for key, seq, _ in seen:
        if seq not in by_key[key]:  # a queue changing hands may deliver a suffix again
            by_key[key].append(seq)
    assert all(seqs == list(range(per_key)) for seqs in by_key.values())
    assert {name for _, _, name in seen} == {"a", "b", "c"}


# ----------------------------------------------------------------------------- broadcasting


async def test_broadcast_members_get_everything_and_a_restart_resumes(tmp_path: Path) -> None:
    offsets_dir = tmp_path / "offsets"
    async with local_cluster(tmp_path) as cluster:
        await create_topic(cluster, "News", 4)
        received: dict[str, list[bytes]] = defaultdict(list)

        def member(name: str) -> PushConsumer:
            consumer = PushConsumer(
                "broadcast-group",
                cluster.namesrv_addr,
                FIRST,
                message_model=BROADCASTING,
                instance_name=name,
                offset_store_dir=offsets_dir,
                client_config=fast_config(),
            )

            def listener(msgs: list[MessageExt]) -> ConsumeStatus:
                received[name].extend(m.body for m in msgs)
                return ConsumeStatus.CONSUME_SUCCESS

            consumer.subscribe("News", "*")
            consumer.register_listener(listener)
            return consumer

        members = {name: member(name) for name in ("m0", "m1", "m2")}
        for consumer in members.values():
            await consumer.start()
        first = [f"first-{i}".encode() for i in range(40)]
        later = [f"later-{i}".encode() for i in range(20)]
        async with Producer("broadcast-producer", cluster.namesrv_addr) as producer:
            for body in first:
                await producer.send(Message("News", body))
            await wait_for(lambda: all(len(received[n]) == 40 for n in members))
            client_id = members["m0"].instance.client_id
            await members["m0"].shutdown()
            for body in later:
                await producer.send(Message("News", body))
            restarted = member("m0")
            assert restarted.instance.client_id == client_id
            received["m0"].clear()
            await restarted.start()
            await wait_for(lambda: len(received["m0"]) >= 20 and len(received["m1"]) == 60)
            await wait_for(lambda: len(received["m2"]) == 60)
            await asyncio.sleep(0.2)  # nothing older may follow
            await restarted.shutdown()
        for name in ("m1", "m2"):
            await members[name].shutdown()
    assert sorted(received["m0"]) == sorted(later)
    assert sorted(received["m1"]) == sorted(received["m2"]) == sorted(first + later)
    path = offsets_dir / client_id / "broadcast-group" / "offsets.json"
    table = decode_offset_file(path.read_bytes())
    assert sum(table.values()) == 60 and len(table) == 4
    assert path.read_bytes().startswith(b'{"offsetTable":{{"brokerName":')


# ------------------------------------------------------------------------------ retry, DLQ


async def test_failed_messages_come_back_with_rising_reconsume_times(tmp_path: Path) -> None:
    async with local_cluster(tmp_path, message_delay_level=ONE_SECOND_LEVELS) as cluster:
        calls: dict[bytes, list[tuple[int, str]]] = defaultdict(list)

        def listener(msgs: list[MessageExt]) -> ConsumeStatus:
            for msg in msgs:
                calls[msg.body].append((msg.reconsume_times, msg.topic))
            if any(len(calls[m.body]) <= 2 for m in msgs):
                return ConsumeStatus.RECONSUME_LATER
            return ConsumeStatus.CONSUME_SUCCESS

        consumer = PushConsumer(
            "retry-group", cluster.namesrv_addr, FIRST, client_config=fast_config()
        )
        consumer.subscribe("Jobs", "*")
        consumer.register_listener(listener)
        bodies = [f"job-{i}".encode() for i in range(5)]
        async with Producer("retry-producer", cluster.namesrv_addr) as producer:
            for body in bodies:
                await producer.send(Message("Jobs", body))
        await consumer.start()
        await wait_for(lambda: all(len(calls[b]) == 3 for b in bodies), 30.0)
        await asyncio.sleep(0.3)
        await consumer.shutdown()
    for body in bodies:
        assert calls[body] == [(0, "Jobs"), (1, "Jobs"), (2, "Jobs")]


async def test_always_failing_message_ends_in_the_dlq(tmp_path: Path) -> None:
    async with local_cluster(tmp_path, message_delay_level=ONE_SECOND_LEVELS) as cluster:
        attempts: list[int] = []

        async def listener(msgs: list[MessageExt]) -> ConsumeStatus:
            attempts.extend(m.reconsume_times for m in msgs)
            raise RuntimeError("cannot process")

        consumer = PushConsumer(
            "dlq-group",
            cluster.namesrv_addr,
            FIRST,
            max_reconsume_times=2,
            client_config=fast_config(),
        )
        consumer.subscribe("Poison", "*")
        consumer.register_listener(listener)
        async with Producer("dlq-producer", cluster.namesrv_addr) as producer:
            sent = await producer.send(Message("Poison", b"poison pill"))
        await consumer.start()
        dlq = MessageQueue("%DLQ%dlq-group", cluster.broker.broker_config.broker_name, 0)
        found: list[MessageExt] = []
        async with PullConsumer("dlq-reader", cluster.namesrv_addr) as reader:
            for _ in range(300):
                try:
                    result = await reader.pull(dlq, "*", 0, 8)
                except Exception:  # noqa: BLE001 - the DLQ topic does not exist until used
                    result = None
                if result is not None and result.status is PullStatus.FOUND:
                    found = result.msgs
                    break
                await asyncio.sleep(0.1)
        await consumer.shutdown()
    assert attempts == [0, 1, 2]
    [dead] = found
    assert dead.body == b"poison pill" and dead.uniq_key == sent.msg_id
    assert dead.properties["RETRY_TOPIC"] == "Poison"


# ------------------------------------------------------------------------------- lite pull


async def test_lite_pull_assign_seek_poll_commit(tmp_path: Path) -> None:
    async with local_cluster(tmp_path) as cluster:
        await create_topic(cluster, "Lite", 2)
        mq = MessageQueue("Lite", cluster.broker.broker_config.broker_name, 0)
        async with Producer("lite-producer", cluster.namesrv_addr) as producer:
            for i in range(20):
                await producer.send(Message("Lite", f"m{i}".encode()), queue=mq)
        consumer = LitePullConsumer(
            "lite-group",
            cluster.namesrv_addr,
            enable_auto_commit=False,
            client_config=fast_config(),
        )
        consumer.assign([mq])
        await consumer.start()
        await consumer.seek(mq, 5)
        got: list[MessageExt] = []
        while len(got) < 15:
            batch = await consumer.poll(5.0)
            assert batch, "poll timed out"
            got.extend(batch)
        assert [m.queue_offset for m in got] == list(range(5, 20))
        assert [m.body for m in got] == [f"m{i}".encode() for i in range(5, 20)]
        await consumer.commit_sync()
        assert await consumer.committed(mq) == 20
        await consumer.seek_to_begin(mq)
        again = await consumer.poll(5.0)
        assert again[0].queue_offset == 0
        await consumer.seek_to_end(mq)
        assert await consumer.poll(0.3) == []
        consumer.pause([mq])
        async with Producer("lite-producer-2", cluster.namesrv_addr) as producer:
            await producer.send(Message("Lite", b"late"), queue=mq)
        assert await consumer.poll(0.3) == []
        consumer.resume([mq])
        assert [m.body for m in await consumer.poll(5.0)] == [b"late"]
        await consumer.shutdown()


async def test_lite_pull_subscribe_polls_everything_and_auto_commits(tmp_path: Path) -> None:
    async with local_cluster(tmp_path) as cluster:
        await create_topic(cluster, "LiteSub", 4)
        bodies = {f"s{i}".encode() for i in range(40)}
        async with Producer("lite-sub-producer", cluster.namesrv_addr) as producer:
            for body in sorted(bodies):
                await producer.send(Message("LiteSub", body))
        consumer = LitePullConsumer(
            "lite-sub-group",
            cluster.namesrv_addr,
            consume_from_where=FIRST,
            auto_commit_interval_s=0.1,
            client_config=fast_config(),
        )
        consumer.subscribe("LiteSub", "*")
        await consumer.start()
        got: set[bytes] = set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while got != bodies and loop.time() < deadline:
            got.update(m.body for m in await consumer.poll(1.0))
        assert got == bodies
        await asyncio.sleep(0.15)
        await consumer.poll(0.05)  # past the interval: this poll commits
        committed = [await consumer.committed(mq) for mq in sorted(consumer.assignment())]
        assert sum(committed) == 40
        await consumer.shutdown()


# ------------------------------------------------------------------------- pull, compression


async def test_compressed_body_round_trip_and_plain_pull(tmp_path: Path) -> None:
    body = bytes(random.Random(7).choice(b"abcdefgh ") for _ in range(100 * 1024))
    async with local_cluster(tmp_path) as cluster:
        await create_topic(cluster, "Big", 1)
        mq = MessageQueue("Big", cluster.broker.broker_config.broker_name, 0)
        async with Producer("big-producer", cluster.namesrv_addr) as producer:
            sent = await producer.send(Message("Big", body))
            await producer.send(Message("Big", b"small"))
        async with PullConsumer("big-puller", cluster.namesrv_addr) as puller:
            # Raw: the broker stores (and serves) the compressed bytes with sysFlag bit 0.
            header = build_active_pull_header(
                "big-puller", mq, 0, build_subscription_data("Big", "*"), 1, block=False
            )
            raw = await puller.instance.api.pull_message(cluster.broker_addr, header, 5.0)
            [record] = decode_stored_messages(raw.body, decompress=False)
            assert record.sys_flag & 0x1 and len(record.body) < len(body) // 2
            result = await puller.pull(mq, "*", 0, 32)
            assert result.status is PullStatus.FOUND
            assert [m.body for m in result.msgs] == [body, b"small"]
            assert result.next_begin_offset == 2 and result.max_offset == 2
            assert result.msgs[0].uniq_key == sent.msg_id and not result.msgs[0].sys_flag & 0x1
            empty = await puller.pull(mq, "*", 2, 32)
            assert empty.status is PullStatus.NO_NEW_MSG and empty.msgs == []
            moved = await puller.pull(mq, "*", 50, 32)
            assert moved.status is PullStatus.OFFSET_ILLEGAL and moved.next_begin_offset == 2
            puller.update_consume_offset(mq, 2)
        got: list[bytes] = []
        consumer = PushConsumer(
            "big-consumer", cluster.namesrv_addr, FIRST, client_config=fast_config()
        )
        consumer.subscribe("Big", "*")
        consumer.register_listener(
            lambda msgs: got.extend(m.body for m in msgs) or ConsumeStatus.CONSUME_SUCCESS
        )
        await consumer.start()
        await wait_for(lambda: len(got) == 2)
        await consumer.shutdown()
    assert got == [body, b"small"]
