"""PushConsumer against fake servers: consumption, filters, retries, pull statuses, offsets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pyrmq.client import ConsumeStatus, Message, MessageExt, Producer, PushConsumer
from pyrmq.client.config import ClientConfig
from pyrmq.client.consumer.rebalance import retry_topic
from pyrmq.common.message import string_to_properties
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.codes import ResponseCode
from tests.unit.client.fakes import FakeBroker, FakeNamesrv, route_of, wait_until

GROUP = "CG"


@pytest.fixture
def routes(namesrv: FakeNamesrv, broker_a: FakeBroker) -> None:
    namesrv.routes["T"] = route_of(broker_a, read=2)
    namesrv.routes[retry_topic(GROUP)] = route_of(broker_a, read=1)


def consumer_for(namesrv: FakeNamesrv, config: ClientConfig, **kw: Any) -> PushConsumer:
    kw.setdefault("consume_from_where", "CONSUME_FROM_FIRST_OFFSET")
    return PushConsumer(GROUP, namesrv.addr, client_config=config, pull_retry_delay_s=0.05, **kw)


class Collector:
    def __init__(self, status: Callable[[MessageExt], ConsumeStatus] | None = None) -> None:
        self.seen: list[MessageExt] = []
        self.status = status or (lambda m: ConsumeStatus.CONSUME_SUCCESS)

    async def __call__(self, msgs: list[MessageExt]) -> ConsumeStatus:
        self.seen.extend(msgs)
        statuses = {self.status(m) for m in msgs}
        if ConsumeStatus.RECONSUME_LATER in statuses:
            return ConsumeStatus.RECONSUME_LATER
        return ConsumeStatus.CONSUME_SUCCESS

    def bodies(self) -> list[bytes]:
        return [m.body for m in self.seen]


@pytest.fixture
async def running(
    routes: None, namesrv: FakeNamesrv, fast_config: ClientConfig
) -> AsyncIterator[tuple[PushConsumer, Collector]]:
    collector = Collector()
    consumer = consumer_for(namesrv, fast_config)
    consumer.subscribe("T", "*")
    consumer.register_listener(collector)
    await consumer.start()
    yield consumer, collector
    await consumer.shutdown()


async def test_consumes_stored_and_new_messages_and_commits(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    for i in range(3):
        broker_a.store("T", 0, f"old{i}".encode(), TAGS="A")
    collector = Collector()
    consumer = consumer_for(namesrv, fast_config)
    consumer.subscribe("T")
    consumer.register_listener(collector)
    await consumer.start()
    await wait_until(lambda: len(collector.seen) == 3)
    for i in range(4):
        broker_a.store("T", i % 2, f"new{i}".encode())
    await wait_until(lambda: len(collector.seen) == 7)
    assert sorted(collector.bodies()) == sorted(
        [b"old0", b"old1", b"old2", b"new0", b"new1", b"new2", b"new3"]
    )
    # Committed by the 5 s timer (fast here) and by the pull piggy-back.
    await wait_until(lambda: broker_a.offsets.get((GROUP, "T", 0)) == 5)
    await consumer.shutdown()
    assert broker_a.offsets[(GROUP, "T", 1)] == 2
    assert (consumer.instance.client_id, None, GROUP) in broker_a.unregisters


async def test_heartbeat_carries_subscriptions_and_retry_topic(
    running: tuple[PushConsumer, Collector], broker_a: FakeBroker
) -> None:
    await wait_until(lambda: bool(broker_a.heartbeats))
    data = broker_a.heartbeats[-1].consumer_data_set[0]
    assert (data.group_name, data.consume_type, data.message_model) == (
        GROUP, "CONSUME_PASSIVELY", "CLUSTERING",
    )  # fmt: skip
    assert data.consume_from_where == "CONSUME_FROM_FIRST_OFFSET"
    assert {s.topic: s.sub_string for s in data.subscription_data_set} == {
        "T": "*", retry_topic(GROUP): "*",
    }  # fmt: skip


async def test_pulls_long_poll_with_subscription(
    running: tuple[PushConsumer, Collector], broker_a: FakeBroker
) -> None:
    await wait_until(lambda: len(broker_a.pulls) >= 3)
    pull = broker_a.pulls[0]
    assert pull.sys_flag & 0x2 and pull.suspend_timeout_millis == 15000
    assert (pull.consumer_group, pull.max_msg_nums, pull.subscription) == (GROUP, 32, "*")


async def test_tag_filter_on_the_client(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    for tag in ["A", "B", "A", "C"]:
        broker_a.store("T", 0, tag.encode(), TAGS=tag)
    collector = Collector()
    consumer = consumer_for(namesrv, fast_config)
    consumer.subscribe("T", "A || C")
    consumer.register_listener(collector)
    await consumer.start()
    await wait_until(lambda: len(collector.seen) == 3)
    # Nothing else in flight: the filtered message's offset is committed as well.
    await wait_until(lambda: broker_a.offsets.get((GROUP, "T", 0)) == 4)
    await consumer.shutdown()
    assert collector.bodies() == [b"A", b"A", b"C"]


async def test_retry_topic_messages_show_their_original_topic(
    running: tuple[PushConsumer, Collector], broker_a: FakeBroker
) -> None:
    _, collector = running
    broker_a.store(retry_topic(GROUP), 0, b"again", RETRY_TOPIC="T")
    await wait_until(lambda: len(collector.seen) == 1)
    assert collector.seen[0].topic == "T"
    assert collector.seen[0].body == b"again"


def fail_first(times: int) -> Callable[[MessageExt], ConsumeStatus]:
    """A status function failing each ``bad`` message ``times`` times, then succeeding."""
    failures = {"left": times}

    def status(msg: MessageExt) -> ConsumeStatus:
        if msg.body == b"bad" and failures["left"] > 0:
            failures["left"] -= 1
            return ConsumeStatus.RECONSUME_LATER
        return ConsumeStatus.CONSUME_SUCCESS

    return status


async def test_reconsume_later_sends_back_and_the_retry_comes_through_the_retry_topic(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    broker_a.send_back_supported = True
    broker_a.store("T", 0, b"bad")
    broker_a.store("T", 0, b"good")
    collector = Collector(fail_first(2))
    consumer = consumer_for(namesrv, fast_config)
    consumer.subscribe("T")
    consumer.register_listener(collector)
    await consumer.start()
    await wait_until(lambda: collector.bodies().count(b"bad") == 3)
    bad = [m for m in collector.seen if m.body == b"bad"]
    assert [m.reconsume_times for m in bad] == [0, 1, 2]
    assert {m.topic for m in bad} == {"T"}  # the retry topic's copies show the original topic
    # A message sent back counts as consumed: the queue's offset moved on at once.
    await wait_until(
        lambda: consumer.offset_store.offset_table.get(MessageQueue("T", "broker-a", 0)) == 2
    )
    first = broker_a.send_backs[0]
    assert (first.group, first.delay_level, first.origin_topic) == (GROUP, 0, "T")
    assert first.max_reconsume_times == 16 and first.origin_msg_id == bad[0].msg_id
    await consumer.shutdown()


async def test_send_back_falls_back_to_a_resend_to_the_retry_topic(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    original = broker_a.store("T", 1, b"bad", TAGS="x")
    collector = Collector(fail_first(1))
    consumer = consumer_for(namesrv, fast_config, max_reconsume_times=5)
    consumer.subscribe("T")
    consumer.register_listener(collector)
    await consumer.start()
    await wait_until(lambda: collector.bodies().count(b"bad") == 2)
    [resend] = [s for s in broker_a.sends if s.header.b == retry_topic(GROUP)]
    assert (resend.header.j, resend.header.l) == (1, 5)  # RECONSUME_TIME / MAX moved to header
    assert resend.header.a == "CLIENT_INNER_PRODUCER"  # the consumer's internal producer
    producers = [p.group_name for p in consumer.instance.heartbeat_data().producer_data_set]
    assert producers == ["CLIENT_INNER_PRODUCER"]  # heartbeated once, not as a group of its own
    props = string_to_properties(resend.header.i or "")
    assert props["RETRY_TOPIC"] == "T" and props["DELAY"] == "3" and props["TAGS"] == "x"
    assert props["ORIGIN_MESSAGE_ID"] == original.msg_id
    assert collector.seen[-1].topic == "T" and collector.seen[-1].reconsume_times == 1
    await consumer.shutdown()


async def test_past_max_reconsume_times_the_broker_moves_it_to_the_dlq(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    calls: list[int] = []

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:  # sync: runs in a thread
        calls.extend(m.reconsume_times for m in msgs)
        raise RuntimeError("boom")

    broker_a.send_back_supported = True
    broker_a.store("T", 1, b"poison")
    consumer = consumer_for(namesrv, fast_config, max_reconsume_times=2)
    consumer.subscribe("T")
    consumer.register_listener(listener)
    await consumer.start()
    await wait_until(lambda: broker_a.max_offset(f"%DLQ%{GROUP}", 0) == 1)
    assert calls == [0, 1, 2]
    await consumer.shutdown()


async def test_when_nothing_can_be_sent_back_the_message_is_retried_locally(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    broker_a.store("T", 0, b"bad")
    broker_a.send_codes = [ResponseCode.MESSAGE_ILLEGAL]  # the re-send is refused as well
    seen: list[int] = []
    fail = fail_first(1)

    def status(msg: MessageExt) -> ConsumeStatus:
        seen.append(msg.reconsume_times)
        return fail(msg)

    collector = Collector(status)
    consumer = consumer_for(namesrv, fast_config, reconsume_delay_s=0.05)
    consumer.subscribe("T")
    consumer.register_listener(collector)
    await consumer.start()
    mq = MessageQueue("T", "broker-a", 0)
    await wait_until(lambda: len(seen) == 2)
    assert seen == [0, 1]
    await wait_until(lambda: consumer.offset_store.offset_table.get(mq) == 1)
    await consumer.shutdown()


async def test_offset_moved_persists_and_restarts_from_the_broker_offset(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    for i in range(6):
        broker_a.store("T", 0, f"m{i}".encode())
    broker_a.min_offsets[("T", 0)] = 4  # offsets 0..3 are gone
    broker_a.offsets[(GROUP, "T", 0)] = 1  # a stale committed offset
    collector = Collector()
    consumer = consumer_for(namesrv, fast_config)
    consumer.subscribe("T")
    consumer.register_listener(collector)
    await consumer.start()
    await wait_until(lambda: len(collector.seen) == 2)
    assert collector.bodies() == [b"m4", b"m5"]
    # The moved offset was persisted synchronously before the queue restarted.
    assert (GROUP, "T", 0, 4, False) in broker_a.offset_updates
    await consumer.shutdown()


@pytest.mark.parametrize("code", [ResponseCode.SYSTEM_ERROR, ResponseCode.FLOW_CONTROL])
async def test_pull_errors_are_retried(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig, code: int
) -> None:
    broker_a.store("T", 0, b"m")
    broker_a.pull_script[("T", 0)] = [(code, 0), (code, 0)]
    collector = Collector()
    consumer = consumer_for(namesrv, fast_config)
    consumer.subscribe("T")
    consumer.register_listener(collector)
    await consumer.start()
    await wait_until(lambda: collector.bodies() == [b"m"])
    await consumer.shutdown()


async def test_no_new_and_no_matched_continue_at_next_begin_offset(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    for i in range(4):
        broker_a.store("T", 0, f"a{i}".encode())
    for i in range(2):
        broker_a.store("T", 1, f"b{i}".encode())
    broker_a.pull_script[("T", 0)] = [(ResponseCode.PULL_RETRY_IMMEDIATELY, 2)]
    broker_a.pull_script[("T", 1)] = [(ResponseCode.PULL_NOT_FOUND, 1)]
    collector = Collector()
    consumer = consumer_for(namesrv, fast_config)
    consumer.subscribe("T")
    consumer.register_listener(collector)
    await consumer.start()
    await wait_until(lambda: len(collector.seen) == 3)
    assert sorted(collector.bodies()) == [b"a2", b"a3", b"b1"]
    await consumer.shutdown()
    assert broker_a.offsets[(GROUP, "T", 0)] == 4
    assert broker_a.offsets[(GROUP, "T", 1)] == 2


async def test_commit_offset_piggybacks_on_pulls(
    running: tuple[PushConsumer, Collector], broker_a: FakeBroker
) -> None:
    _, collector = running
    broker_a.store("T", 0, b"m")
    await wait_until(lambda: len(collector.seen) == 1)
    await wait_until(
        lambda: any(
            p.sys_flag & 0x1 and p.commit_offset == 1 and p.queue_id == 0 for p in broker_a.pulls
        )
    )


def t_queues(consumer: PushConsumer) -> set[MessageQueue]:
    return {mq for mq in consumer.rebalance.process_queue_table if mq.topic == "T"}


async def test_two_consumers_split_the_queues_after_notify(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker
) -> None:
    slow = ClientConfig(rebalance_interval_s=60, persist_consumer_offset_interval_s=60)
    first, second = consumer_for(namesrv, slow), consumer_for(namesrv, slow)
    for consumer in (first, second):
        consumer.subscribe("T")
        consumer.register_listener(Collector())
    await first.start()
    await wait_until(lambda: len(first.rebalance.process_queue_table) == 3)  # 2 + 1 retry queue
    await second.start()
    # The broker notifies the first consumer; both rebalance within moments, not 60 s.
    await wait_until(lambda: len(t_queues(first)) == 1 and len(t_queues(second)) == 1)
    assert t_queues(first) | t_queues(second) == {
        MessageQueue("T", "broker-a", i) for i in range(2)
    }
    await second.shutdown()
    await wait_until(lambda: len(t_queues(first)) == 2)  # unregister notified it again
    await first.shutdown()


async def test_producer_to_consumer_with_compression(
    routes: None, namesrv: FakeNamesrv, broker_a: FakeBroker, fast_config: ClientConfig
) -> None:
    collector = Collector()
    consumer = consumer_for(namesrv, fast_config)
    consumer.subscribe("T", "big")
    consumer.register_listener(collector)
    await consumer.start()
    body = b"compress me " * 1000
    async with Producer("PG", namesrv.addr, client_config=fast_config) as producer:
        sent = await producer.send(Message("T", body, properties={"TAGS": "big"}))
        await producer.send(Message("T", b"skip", properties={"TAGS": "small"}))
    await wait_until(lambda: len(collector.seen) == 1)
    [msg] = collector.seen
    assert msg.body == body and msg.uniq_key == sent.msg_id
    assert msg.sys_flag & 0x1 == 0
    await asyncio.sleep(0.05)
    assert len(collector.seen) == 1
    await consumer.shutdown()


async def test_start_needs_a_listener(namesrv: FakeNamesrv) -> None:
    consumer = PushConsumer(GROUP, namesrv.addr)
    consumer.subscribe("T")
    with pytest.raises(Exception, match="listener"):
        await consumer.start()
    await consumer.shutdown()


async def test_subscribing_later_heartbeats_the_new_subscription(
    running: tuple[PushConsumer, Collector], namesrv: FakeNamesrv, broker_a: FakeBroker
) -> None:
    consumer, collector = running
    namesrv.routes["U"] = route_of(broker_a, read=1)
    broker_a.store("U", 0, b"u")
    consumer.subscribe("U", "*")

    def subscribed() -> bool:
        if not broker_a.heartbeats:
            return False
        subs = broker_a.heartbeats[-1].consumer_data_set[0].subscription_data_set
        return "U" in {s.topic for s in subs}

    await wait_until(subscribed)
    consumer.instance.rebalance_now()
    await wait_until(lambda: collector.bodies() == [b"u"])
