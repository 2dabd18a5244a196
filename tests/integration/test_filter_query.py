"""SQL92/TAG filtering on a running broker's store, and the query API against a real broker.

The filter is exercised the way ``PullMessageProcessor`` uses it (``build_filter`` then
``MessageStore.get_message``) on messages sent by ``pyrmq.client.Producer``; the query API
(``pyrmq.client.query``) finds them by key, offset msgId and UNIQ_KEY, also after the broker
restarted on the same store directory and port (index and commitlog read back from disk).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from pyrmq.broker.controller import BrokerController
from pyrmq.broker.filter import (
    PROPERTY_FILTER_DISABLED,
    ExpressionMessageFilter,
    SqlFilterCache,
    build_filter,
    filter_error_code,
    record_properties,
)
from pyrmq.client import Admin, Message, MessageExt, MQClientError, Producer
from pyrmq.client.query import (
    QueryClient,
    query_message,
    query_message_by_uniq_key,
    search_offset,
    view_message,
    view_message_by_id,
)
from pyrmq.client.sending import SendResult
from pyrmq.common.filter_sql import compile_sql
from pyrmq.common.message import tag_hash
from pyrmq.common.message_codec import (
    MAGIC_CODE_V2,
    decode_stored_message,
    encode_stored_message,
    offset_msg_id,
)
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.codes import ResponseCode
from pyrmq.remoting.errors import MQResponseError
from pyrmq.remoting.heartbeat import build_subscription_data
from pyrmq.store.message_store import MessageStore
from pyrmq.store.results import GetMessageStatus
from tests.support.cluster import LocalCluster, broker_configs, local_cluster

TOPIC = "FilterQueryTopic"
GROUP = "FilterGroup"
LONG_MAX = 2**63 - 1
T = TypeVar("T")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    async with local_cluster(tmp_path, broker_overrides={"enable_property_filter": True}) as c:
        await create_topic(c, TOPIC)
        yield c


async def create_topic(cluster: LocalCluster, topic: str) -> None:
    """One queue, so every message is in queue 0; wait until the NameServer routes it."""
    async with Admin(cluster.namesrv_addr) as admin:
        await admin.create_topic(cluster.broker_addr, topic, 1)
        await eventually(lambda: admin.topic_route(topic), lambda route: bool(route.queue_datas))


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout_s: float = 10.0
) -> T:
    """``probe()`` until ``done`` holds (dispatch to queues and index is asynchronous)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = await probe()
        except (MQClientError, MQResponseError):
            if time.monotonic() > deadline:
                raise
        else:
            if done(value) or time.monotonic() > deadline:
                return value
        await asyncio.sleep(0.05)


def message(body: bytes, tags: str, keys: list[str], **props: str) -> Message:
    msg = Message(TOPIC, body)
    msg.tags = tags
    msg.keys = keys
    msg.properties.update(props)
    return msg


async def send_all(cluster: LocalCluster, messages: list[Message]) -> list[SendResult]:
    async with Producer("filter-producer", cluster.namesrv_addr) as producer:
        return [await producer.send(msg) for msg in messages]


async def dispatched(store: MessageStore, count: int) -> None:
    async def max_offset() -> int:
        return store.get_max_offset_in_queue(TOPIC, 0)

    assert await eventually(max_offset, lambda n: n >= count) >= count


def pull(store: MessageStore, message_filter: ExpressionMessageFilter) -> tuple[object, list[str]]:
    """One pull of queue 0 from offset 0: (status, bodies selected)."""
    result = store.get_message(GROUP, TOPIC, 0, 0, 32, message_filter)
    assert result is not None
    try:
        bodies = [decode_stored_message(view)[0].body.decode() for view in result.messages]
        return result.status, bodies
    finally:
        result.release()


def sql_filter(cluster: LocalCluster, expression: str) -> ExpressionMessageFilter:
    subscription = build_subscription_data(TOPIC, expression, expression_type="SQL92")
    built = build_filter(
        subscription,
        cluster.broker.broker_config.enable_property_filter,
        group=GROUP,
        cache=SqlFilterCache(),
    )
    assert isinstance(built, ExpressionMessageFilter), built
    return built


MESSAGES = [
    message(f"m{i}".encode(), "TagA" if i % 2 == 0 else "TagB", [f"order-{i}", "all"], a=str(i))
    for i in range(8)
]


# ----------------------------------------------------------------------------------- filter


async def test_sql92_and_tag_filters_select_from_the_store(cluster: LocalCluster) -> None:
    untagged = Message(TOPIC, b"plain")  # no TAGS, no property a
    await send_all(cluster, [*MESSAGES, untagged])
    store = cluster.broker.message_store
    await dispatched(store, 9)

    status, bodies = pull(store, sql_filter(cluster, "a BETWEEN 3 AND 6 AND TAGS = 'TagA'"))
    assert (status, bodies) == (GetMessageStatus.FOUND, ["m4", "m6"])
    _, bodies = pull(store, sql_filter(cluster, "a IS NULL OR a IN ('0', '7')"))
    assert bodies == ["m0", "m7", "plain"]
    _, bodies = pull(store, sql_filter(cluster, "CLUSTER IS NOT NULL AND NOT (a > 1)"))
    assert bodies == ["m0", "m1"]  # the broker's own CLUSTER property is visible too
    status, bodies = pull(store, sql_filter(cluster, "a > 100"))
    assert (status, bodies) == (GetMessageStatus.NO_MATCHED_MESSAGE, [])

    _, bodies = pull(store, ExpressionMessageFilter(build_subscription_data(TOPIC, "TagB")))
    assert bodies == ["m1", "m3", "m5", "m7"]
    _, bodies = pull(store, ExpressionMessageFilter(build_subscription_data(TOPIC, "*")))
    assert len(bodies) == 9


async def test_build_filter_refusals(cluster: LocalCluster) -> None:
    good = build_subscription_data(TOPIC, "a > 1", expression_type="SQL92")
    refused = build_filter(good, False)
    assert refused == PROPERTY_FILTER_DISABLED + "SQL92"
    assert isinstance(refused, str)
    assert filter_error_code(refused) == ResponseCode.SYSTEM_ERROR

    bad = build_subscription_data(TOPIC, "a >", expression_type="SQL92")
    for enabled in (True, False):  # Java parses before it checks the switch
        refused = build_filter(bad, enabled)
        assert isinstance(refused, str)
        assert refused.startswith("parse the consumer's subscription failed")
        assert filter_error_code(refused) == ResponseCode.SUBSCRIPTION_PARSE_FAILED
    unknown = build_subscription_data(TOPIC, "x", expression_type="JEXL")
    assert filter_error_code(str(build_filter(unknown, True))) == 23

    tag = build_filter(build_subscription_data(TOPIC, "TagA || TagB"), False)
    assert isinstance(tag, ExpressionMessageFilter)
    assert tag.is_matched_by_consume_queue(tag_hash("TagB"))
    assert not tag.is_matched_by_consume_queue(tag_hash("TagC"))
    assert not tag.is_matched_by_consume_queue(0)  # untagged messages
    assert tag.is_matched_by_consume_queue(None)


def test_sql_filter_cache_keeps_failures_and_evicts() -> None:
    cache = SqlFilterCache(max_entries=2)
    first = cache.compile("t", "g", "a = 1")
    assert cache.compile("t", "g", "a = 1") is first
    for _ in range(2):
        with pytest.raises(ValueError, match="Invalid MessageSelector"):
            cache.compile("t", "g", "a =")
    cache.compile("t", "g2", "a = 1")
    assert len(cache) == 2
    assert cache.compile("t", "g", "a = 1") is not first  # evicted, compiled again


def test_record_properties_reads_every_record_shape() -> None:
    props = {"TAGS": "TagA", "a": "5", "UNIQ_KEY": "X"}
    ipv4 = MessageExt(TOPIC, b"body", properties=props, store_host=("127.0.0.1", 10911))
    ipv6 = MessageExt(
        TOPIC, b"b", properties=props, born_host=("::1", 1), store_host=("fe80::1", 10911)
    )
    long_topic = MessageExt("%RETRY%" + "g" * 200, b"", properties=props)
    sql = compile_sql("TAGS = 'TagA' AND a = 5")
    message_filter = ExpressionMessageFilter(
        build_subscription_data(TOPIC, "TAGS = 'TagA' AND a = 5", expression_type="SQL92"), sql
    )
    for msg, magic in ((ipv4, None), (ipv6, None), (long_topic, MAGIC_CODE_V2)):
        record = memoryview(encode_stored_message(msg, magic=magic))
        assert record_properties(record) == props
        assert message_filter.is_matched_by_commit_log(record)
        assert message_filter.is_matched_by_consume_queue(12345)  # SQL92 passes the queue

    no_props = memoryview(encode_stored_message(MessageExt(TOPIC, b"x")))
    assert record_properties(no_props) == {}
    assert not message_filter.is_matched_by_commit_log(no_props)
    whole = encode_stored_message(ipv4)
    for broken in (whole[:60], whole[:-1], b"\0" * len(whole)):
        assert record_properties(memoryview(broken)) is None
        assert not message_filter.is_matched_by_commit_log(memoryview(broken))


# ----------------------------------------------------------------------------------- queries


async def test_query_by_key_offset_id_and_uniq_key(cluster: LocalCluster) -> None:
    # "Aa" and "BB" have the same Java hash code: the index answers both for either key.
    colliding = [message(b"aa", "TagA", ["Aa"]), message(b"bb", "TagA", ["BB"])]
    results = await send_all(cluster, [*MESSAGES, *colliding])
    first, aa = results[0], results[8]
    async with QueryClient(cluster.namesrv_addr) as client:
        found = await eventually(
            lambda: client.query_message(TOPIC, "order-3", 32, 0, LONG_MAX), bool
        )
        assert [m.body for m in found] == [b"m3"]
        assert found[0].uniq_key == results[3].msg_id
        assert found[0].msg_id == results[3].offset_msg_id
        every = await eventually(
            lambda: client.query_message(TOPIC, "all", 32, 0, LONG_MAX), lambda f: len(f) == 8
        )
        assert sorted(m.body for m in every) == [f"m{i}".encode() for i in range(8)]

        store = cluster.broker.message_store
        raw = store.query_message(TOPIC, "Aa", 32, 0, LONG_MAX)
        for view in raw:
            view.release()
        assert len(raw) == 2  # the hash collision reaches the client...
        aa_found = await client.query_message(TOPIC, "Aa", 32, 0, LONG_MAX)
        assert [m.body for m in aa_found] == [b"aa"]  # ...which drops it
        assert await client.query_message(TOPIC, "order-99", 32, 0, LONG_MAX) == []
        assert await client.query_message(TOPIC, "order-3", 32, 0, 1) == []  # out of range

        viewed = await client.view_message(first.offset_msg_id)
        assert (viewed.body, viewed.uniq_key, viewed.tags) == (b"m0", first.msg_id, "TagA")
        by_uniq = await client.query_message_by_uniq_key(TOPIC, aa.msg_id)
        assert by_uniq is not None and by_uniq.body == b"aa"
        assert by_uniq.msg_id == aa.offset_msg_id
        assert (await client.view_message_by_id(TOPIC, aa.msg_id)).body == b"aa"
        assert (await client.view_message_by_id(TOPIC, aa.offset_msg_id)).body == b"aa"


async def test_query_failures(cluster: LocalCluster) -> None:
    results = await send_all(cluster, MESSAGES[:1])
    async with QueryClient(cluster.namesrv_addr, timeout_s=2.0) as client:
        instance = client.instance
        with pytest.raises(MQClientError) as info:
            await view_message(instance, results[0].msg_id)  # a uniq key is no offset id
        assert info.value.response_code == ResponseCode.NO_MESSAGE
        gone = offset_msg_id(cluster.broker.store_host, 10**9)
        with pytest.raises(MQResponseError) as answer:
            await view_message(instance, gone)
        assert answer.value.code == ResponseCode.SYSTEM_ERROR
        with pytest.raises(MQClientError):
            await view_message_by_id(instance, TOPIC, "00" * 16)
        assert await query_message_by_uniq_key(instance, TOPIC, "7F" * 16) is None
        assert await query_message_by_uniq_key(instance, TOPIC, "not-hex") is None
        with pytest.raises(MQClientError) as info:
            await query_message(instance, "NoSuchTopic", "k", 32, 0, LONG_MAX)
        assert info.value.response_code == ResponseCode.TOPIC_NOT_EXIST


async def test_search_offset_by_timestamp(cluster: LocalCluster) -> None:
    before = int(time.time() * 1000) - 1
    await send_all(cluster, MESSAGES[:3])
    store = cluster.broker.message_store
    await dispatched(store, 3)
    async with QueryClient(cluster.namesrv_addr) as client:
        mq = MessageQueue(TOPIC, cluster.broker.broker_config.broker_name, 0)
        assert await search_offset(client.instance, mq, before) == 0
        # 4.9.8's ConsumeQueue.getOffsetInQueueByTime answers the last message's offset when
        # every message is older (the nearest unit), not the max offset as 5.x does.
        assert await client.search_offset(mq, int(time.time() * 1000) + 60_000) == 2


async def test_queries_and_filters_survive_a_broker_restart(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    results = await send_all(cluster, MESSAGES)
    client = QueryClient(cluster.namesrv_addr)
    try:
        await eventually(lambda: client.query_message(TOPIC, "order-5", 32, 0, LONG_MAX), bool)
        old = cluster.broker
        port = old.broker_config.listen_port
        await old.shutdown()

        broker_config, store_config = broker_configs(tmp_path, cluster.namesrv_addr)
        broker_config.listen_port = port  # offset msgIds name the old address
        broker_config.enable_property_filter = True
        restarted = BrokerController(broker_config, store_config)
        restarted.load()
        await restarted.start()
        try:
            await check_after_restart(cluster, restarted, client, results)
        finally:
            await restarted.shutdown()
    finally:
        await client.close()


async def check_after_restart(
    cluster: LocalCluster,
    restarted: BrokerController,
    client: QueryClient,
    results: list[SendResult],
) -> None:
    # The client that knew the old broker reconnects; a fresh one starts from nothing.
    found = await eventually(lambda: client.query_message(TOPIC, "order-5", 32, 0, LONG_MAX), bool)
    assert [m.body for m in found] == [b"m5"]
    async with QueryClient(cluster.namesrv_addr) as fresh:
        by_uniq = await eventually(
            lambda: fresh.query_message_by_uniq_key(TOPIC, results[2].msg_id),
            lambda m: m is not None,
        )
        assert by_uniq is not None and by_uniq.body == b"m2"
        viewed = await fresh.view_message(results[7].offset_msg_id)
        assert (viewed.body, viewed.properties["a"]) == (b"m7", "7")
        every = await fresh.query_message(TOPIC, "all", 32, 0, LONG_MAX)
        assert len(every) == 8

    store = restarted.message_store
    await dispatched(store, 8)
    subscription = build_subscription_data(TOPIC, "a >= 6", expression_type="SQL92")
    built = build_filter(subscription, restarted.broker_config.enable_property_filter)
    assert isinstance(built, ExpressionMessageFilter)
    assert pull(store, built)[1] == ["m6", "m7"]
