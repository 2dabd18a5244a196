"""A broker over real TCP on 127.0.0.1, driven with raw remoting requests as clients send them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyrmq.common.message import Message, properties_to_string, tag_hash
from pyrmq.common.message_codec import decode_stored_messages, encode_batch
from pyrmq.remoting import bodies
from pyrmq.remoting.client import RemotingClient
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand, request
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.headers import (
    CreateTopicRequestHeader,
    PullMessageRequestHeader,
    SendMessageRequestHeader,
    to_ext_fields,
)
from pyrmq.remoting.heartbeat import (
    ConsumerData,
    HeartbeatData,
    ProducerData,
    build_subscription_data,
    decode_consume_stats,
    decode_consumer_connection,
    decode_consumer_id_list,
    encode_heartbeat,
)
from tests.support.cluster import LocalCluster, local_cluster
from tests.support.ports import free_port

TOPIC = "TopicTest"
GROUP = "GroupA"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    async with local_cluster(tmp_path) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[RemotingClient]:
    remoting_client = RemotingClient()
    yield remoting_client
    await remoting_client.close()


def v2_send(
    topic: str,
    body: bytes,
    queue_id: int = 0,
    tags: str = "TagA",
    keys: str = "k",
    batch: bool = False,
) -> RemotingCommand:
    props = properties_to_string({"TAGS": tags, "KEYS": keys, "WAIT": "true"})
    v1 = SendMessageRequestHeader(
        "pg", topic, "TBW102", 4, queue_id, 0, int(time.time() * 1000), 0, props, 0, False, batch
    )
    ext = {
        "a": v1.producer_group,
        "b": topic,
        "c": "TBW102",
        "d": "4",
        "e": str(queue_id),
        "f": "0",
        "g": str(v1.born_timestamp),
        "h": "0",
        "i": props,
        "j": "0",
        "k": "false",
        "m": "true" if batch else "false",
    }
    code = RequestCode.SEND_BATCH_MESSAGE if batch else RequestCode.SEND_MESSAGE_V2
    return request(code, ext, body)


def heartbeat(client_id: str, *topics_exprs: tuple[str, str]) -> RemotingCommand:
    subs = [build_subscription_data(t, e) for t, e in topics_exprs]
    subs.append(build_subscription_data(f"%RETRY%{GROUP}", "*"))
    data = HeartbeatData(
        client_id=client_id,
        producer_data_set=[ProducerData("pg")],
        consumer_data_set=[
            ConsumerData(
                GROUP, "CONSUME_PASSIVELY", "CLUSTERING", "CONSUME_FROM_FIRST_OFFSET", subs, False
            )
        ],
    )
    return request(RequestCode.HEART_BEAT, body=encode_heartbeat(data))


def pull(
    topic: str,
    queue_id: int,
    offset: int,
    sys_flag: int = 0,
    max_nums: int = 32,
    suspend_ms: int = 15000,
) -> RemotingCommand:
    header = PullMessageRequestHeader(
        GROUP, topic, queue_id, offset, max_nums, sys_flag, 0, suspend_ms, 0
    )
    return request(RequestCode.PULL_MESSAGE, to_ext_fields(header))


async def route(client: RemotingClient, cluster: LocalCluster, topic: str) -> RemotingCommand:
    return await client.invoke(
        cluster.namesrv_addr, request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
    )


# --------------------------------------------------------------------------- registration


async def test_broker_registers_its_topics_with_the_namesrv(
    cluster: LocalCluster, client: RemotingClient
) -> None:
    tbw = await route(client, cluster, "TBW102")
    assert tbw.code == ResponseCode.SUCCESS
    data = bodies.decode_topic_route_data(tbw.body or b"")
    assert data.broker_datas[0].broker_addrs == {0: cluster.broker_addr}
    assert data.queue_datas[0].perm == 7


# --------------------------------------------------------------------------- send


async def test_send_auto_creates_the_topic_and_answers_every_field(
    cluster: LocalCluster, client: RemotingClient
) -> None:
    response = await client.invoke(cluster.broker_addr, v2_send("NewTopic", b"hello"))
    assert response.code == ResponseCode.SUCCESS, response.remark
    ext = response.ext_fields or {}
    assert ext["queueId"] == "0" and ext["queueOffset"] == "0"
    assert len(ext["msgId"]) == 32
    assert ext["MSG_REGION"] == "DefaultRegion" and ext["TRACE_ON"] == "true"
    for _ in range(50):  # the broker re-registers right after creating the topic
        if (await route(client, cluster, "NewTopic")).code == ResponseCode.SUCCESS:
            break
        await asyncio.sleep(0.02)
    data = bodies.decode_topic_route_data((await route(client, cluster, "NewTopic")).body or b"")
    assert data.queue_datas[0].write_queue_nums == 4  # min(client 4, TBW102's 8)


async def test_v1_send_batch_and_cpp_batch_flag(
    cluster: LocalCluster, client: RemotingClient
) -> None:
    addr = cluster.broker_addr
    props = properties_to_string({"TAGS": "T"})
    v1 = SendMessageRequestHeader("pg", TOPIC, "TBW102", 4, 1, 0, 1, 0, props, 0, False, None)
    first = await client.invoke(addr, request(RequestCode.SEND_MESSAGE, to_ext_fields(v1), b"x"))
    assert first.code == ResponseCode.SUCCESS, first.remark
    body = encode_batch(
        [Message(TOPIC, f"m{i}".encode(), properties={"UNIQ_KEY": f"U{i}"}) for i in range(3)]
    )
    batch = await client.invoke(addr, v2_send(TOPIC, body, queue_id=1, batch=True))
    assert batch.code == ResponseCode.SUCCESS, batch.remark
    assert batch.ext("queueOffset") == "1"
    assert len((batch.ext("msgId") or "").split(",")) == 3
    # cpp sends its "batch" with flag "1": Boolean.parseBoolean says false, so one message.
    cpp = v2_send(TOPIC, body, queue_id=1)
    assert cpp.ext_fields is not None
    cpp.ext_fields["m"] = "1"
    one = await client.invoke(addr, cpp)
    assert (one.code, one.ext("queueOffset")) == (ResponseCode.SUCCESS, "4")


async def test_send_errors(cluster: LocalCluster, client: RemotingClient) -> None:
    addr = cluster.broker_addr
    bad_queue = await client.invoke(addr, v2_send(TOPIC, b"x", queue_id=99))
    assert bad_queue.code in (ResponseCode.SYSTEM_ERROR, ResponseCode.SUCCESS)
    forbidden = await client.invoke(addr, v2_send("SCHEDULE_TOPIC_XXXX", b"x"))
    assert forbidden.code == ResponseCode.NO_PERMISSION
    illegal = await client.invoke(addr, v2_send("bad topic!", b"x"))
    assert illegal.code == ResponseCode.SYSTEM_ERROR
    assert illegal.ext("MSG_REGION") == "DefaultRegion"  # the ext map is always there


# --------------------------------------------------------------------------- pull


async def send_n(
    client: RemotingClient, cluster: LocalCluster, n: int, queue_id: int = 0, topic: str = TOPIC
) -> None:
    for i in range(n):
        tags = "TagA" if i % 2 == 0 else "TagB"
        response = await client.invoke(
            cluster.broker_addr, v2_send(topic, f"m{i}".encode(), queue_id, tags, f"k{i}")
        )
        assert response.code == ResponseCode.SUCCESS, response.remark


async def test_pull_statuses_and_tag_filtering(
    cluster: LocalCluster, client: RemotingClient
) -> None:
    addr = cluster.broker_addr
    await send_n(client, cluster, 10)
    assert (await client.invoke(addr, heartbeat("c1", (TOPIC, "TagB")))).code == 0
    cluster.broker.message_store.reput.do_reput()
    found = await client.invoke(addr, pull(TOPIC, 0, 0))
    assert found.code == ResponseCode.SUCCESS, found.remark
    assert found.remark == "FOUND"
    msgs = decode_stored_messages(found.body or b"")
    assert [m.body for m in msgs] == [f"m{i}".encode() for i in range(1, 10, 2)]
    assert (found.ext("nextBeginOffset"), found.ext("minOffset"), found.ext("maxOffset")) == (
        "10",
        "0",
        "10",
    )
    assert found.ext("suggestWhichBrokerId") == "0"
    at_end = await client.invoke(addr, pull(TOPIC, 0, 10))
    assert (at_end.code, at_end.remark) == (ResponseCode.PULL_NOT_FOUND, "OFFSET_OVERFLOW_ONE")
    beyond = await client.invoke(addr, pull(TOPIC, 0, 50))
    assert (beyond.code, beyond.ext("nextBeginOffset")) == (ResponseCode.PULL_OFFSET_MOVED, "10")
    empty_queue = await client.invoke(addr, pull(TOPIC, 3, 0))
    assert empty_queue.code == ResponseCode.PULL_NOT_FOUND
    assert empty_queue.ext("nextBeginOffset") == "0"


async def test_pull_without_heartbeat_is_subscription_not_exist(
    cluster: LocalCluster, client: RemotingClient
) -> None:
    await send_n(client, cluster, 1)
    response = await client.invoke(cluster.broker_addr, pull(TOPIC, 0, 0))
    assert response.code == ResponseCode.SUBSCRIPTION_NOT_EXIST
    with_sub = pull(TOPIC, 0, 0, sys_flag=0x4)
    assert with_sub.ext_fields is not None
    with_sub.ext_fields["subscription"] = "*"
    assert (await client.invoke(cluster.broker_addr, with_sub)).code == ResponseCode.SUCCESS


async def test_long_polling_answers_soon_after_arrival(
    cluster: LocalCluster, client: RemotingClient
) -> None:
    addr = cluster.broker_addr
    await send_n(client, cluster, 2)
    await client.invoke(addr, heartbeat("c1", (TOPIC, "*")))
    held = asyncio.ensure_future(client.invoke(addr, pull(TOPIC, 0, 2, sys_flag=0x2), 20))
    await asyncio.sleep(0.3)
    assert not held.done()  # nothing new: the broker holds the pull
    sent_at = time.monotonic()
    await send_n(client, cluster, 1)
    response = await held
    latency = time.monotonic() - sent_at
    assert response.code == ResponseCode.SUCCESS
    assert [m.body for m in decode_stored_messages(response.body or b"")] == [b"m0"]
    assert latency < 1.0, latency  # the benchmark measures it; here: woken, not timed out


async def test_held_pull_answers_not_found_after_its_timeout(
    cluster: LocalCluster, client: RemotingClient
) -> None:
    addr = cluster.broker_addr
    await send_n(client, cluster, 1)
    await client.invoke(addr, heartbeat("c1", (TOPIC, "*")))
    response = await client.invoke(addr, pull(TOPIC, 0, 1, sys_flag=0x2, suspend_ms=500), 10)
    assert response.code == ResponseCode.PULL_NOT_FOUND


# --------------------------------------------------------------------------- offsets and groups


async def test_consumer_offsets_and_queue_positions(
    cluster: LocalCluster, client: RemotingClient
) -> None:
    addr = cluster.broker_addr
    before = int(time.time() * 1000) - 1
    await send_n(client, cluster, 5)
    cluster.broker.message_store.reput.do_reput()
    query = {"consumerGroup": GROUP, "topic": TOPIC, "queueId": "0"}
    fresh = await client.invoke(addr, request(RequestCode.QUERY_CONSUMER_OFFSET, dict(query)))
    assert (fresh.code, fresh.ext("offset")) == (ResponseCode.SUCCESS, "0")  # young queue
    update = request(RequestCode.UPDATE_CONSUMER_OFFSET, {**query, "commitOffset": "3"})
    await client.oneway(addr, update)
    committed = await client.invoke(addr, request(RequestCode.QUERY_CONSUMER_OFFSET, dict(query)))
    assert committed.ext("offset") == "3"

    async def offset_of(code: int, **ext: str) -> str | None:
        response = await client.invoke(addr, request(code, {"topic": TOPIC, "queueId": "0", **ext}))
        return response.ext("offset") or response.ext("timestamp")

    assert await offset_of(RequestCode.GET_MAX_OFFSET) == "5"
    assert await offset_of(RequestCode.GET_MIN_OFFSET) == "0"
    assert await offset_of(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, timestamp=str(before)) == "0"
    earliest = await offset_of(RequestCode.GET_EARLIEST_MSG_STORETIME)
    assert earliest is not None and int(earliest) >= before


async def test_consumer_group_membership_and_notification(
    cluster: LocalCluster, client: RemotingClient
) -> None:
    addr = cluster.broker_addr
    notified: list[str] = []

    def on_notify(conn: RemotingConnection, req: RemotingCommand) -> None:
        notified.append(req.ext("consumerGroup") or "")

    first = RemotingClient({RequestCode.NOTIFY_CONSUMER_IDS_CHANGED: on_notify})
    second = RemotingClient()
    try:
        await first.invoke(addr, heartbeat("c1", (TOPIC, "*")))
        await second.invoke(addr, heartbeat("c2", (TOPIC, "*")))
        listed = await client.invoke(
            addr, request(RequestCode.GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": GROUP})
        )
        assert sorted(decode_consumer_id_list(listed.body or b"")) == ["c1", "c2"]
        for _ in range(50):
            if notified:
                break
            await asyncio.sleep(0.02)
        assert GROUP in notified
        await second.invoke(
            addr, request(RequestCode.UNREGISTER_CLIENT, {"clientID": "c2", "consumerGroup": GROUP})
        )
        listed = await client.invoke(
            addr, request(RequestCode.GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": GROUP})
        )
        assert decode_consumer_id_list(listed.body or b"") == ["c1"]
        await first.close()  # a closed connection leaves the group
        for _ in range(50):
            gone = await client.invoke(
                addr, request(RequestCode.GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": GROUP})
            )
            if gone.code == ResponseCode.SYSTEM_ERROR:
                break
            await asyncio.sleep(0.02)
        assert gone.code == ResponseCode.SYSTEM_ERROR
    finally:
        await first.close()
        await second.close()


# --------------------------------------------------------------------------- admin


async def test_admin_codes(cluster: LocalCluster, client: RemotingClient) -> None:
    addr = cluster.broker_addr
    header = CreateTopicRequestHeader("AdminTopic", "TBW102", 2, 2, 6, "SINGLE_TAG")
    created = await client.invoke(
        addr, request(RequestCode.UPDATE_AND_CREATE_TOPIC, to_ext_fields(header))
    )
    assert created.code == ResponseCode.SUCCESS
    routed = await route(client, cluster, "AdminTopic")  # registered before the answer
    assert bodies.decode_topic_route_data(routed.body or b"").queue_datas[0].read_queue_nums == 2
    await send_n(client, cluster, 3, topic="AdminTopic")
    await client.invoke(addr, heartbeat("c1", ("AdminTopic", "*")))
    cluster.broker.message_store.reput.do_reput()
    await client.invoke(
        addr,
        request(
            RequestCode.UPDATE_CONSUMER_OFFSET,
            {"consumerGroup": GROUP, "topic": "AdminTopic", "queueId": "0", "commitOffset": "2"},
        ),
    )

    stats = await client.invoke(
        addr, request(RequestCode.GET_TOPIC_STATS_INFO, {"topic": "AdminTopic"})
    )
    table = bodies.decode_topic_stats_table(stats.body or b"").offset_table
    assert {mq.queue_id: off.max_offset for mq, off in table.items()} == {0: 3, 1: 0}
    consume = await client.invoke(
        addr,
        request(RequestCode.GET_CONSUME_STATS, {"consumerGroup": GROUP, "topic": "AdminTopic"}),
    )
    wrappers = decode_consume_stats(consume.body or b"").offset_table
    q0 = next(w for mq, w in wrappers.items() if mq.queue_id == 0)
    assert (q0.broker_offset, q0.consumer_offset) == (3, 2)
    connections = await client.invoke(
        addr, request(RequestCode.GET_CONSUMER_CONNECTION_LIST, {"consumerGroup": GROUP})
    )
    connection = decode_consumer_connection(connections.body or b"")
    assert [c.client_id for c in connection.connection_set] == ["c1"]
    offline = await client.invoke(
        addr, request(RequestCode.GET_CONSUMER_CONNECTION_LIST, {"consumerGroup": "nobody"})
    )
    assert offline.code == ResponseCode.CONSUMER_NOT_ONLINE
    runtime = await client.invoke(addr, request(RequestCode.GET_BROKER_RUNTIME_INFO))
    assert bodies.decode_kv_table(runtime.body or b"").table["brokerActive"] == "true"
    config = await client.invoke(addr, request(RequestCode.GET_BROKER_CONFIG))
    assert b"brokerName=broker-a" in (config.body or b"")
    all_topics = await client.invoke(addr, request(RequestCode.GET_ALL_TOPIC_CONFIG))
    wrapper = bodies.decode_topic_config_serialize_wrapper(all_topics.body or b"")
    assert "AdminTopic" in wrapper.topic_config_table and "TBW102" in wrapper.topic_config_table
    deleted = await client.invoke(
        addr, request(RequestCode.DELETE_TOPIC_IN_BROKER, {"topic": "AdminTopic"})
    )
    assert deleted.code == ResponseCode.SUCCESS
    assert (
        "AdminTopic"
        not in cluster.broker.topic_config_manager.build_serialize_wrapper().topic_config_table
    )


async def test_query_message_and_view_by_id(cluster: LocalCluster, client: RemotingClient) -> None:
    addr = cluster.broker_addr
    sent = await client.invoke(addr, v2_send(TOPIC, b"findme", keys="order-42"))
    cluster.broker.message_store.reput.do_reput()
    query = await client.invoke(
        addr,
        request(
            RequestCode.QUERY_MESSAGE,
            {
                "topic": TOPIC,
                "key": "order-42",
                "maxNum": "32",
                "beginTimestamp": "0",
                "endTimestamp": str(2**62),
            },
        ),
    )
    assert query.code == ResponseCode.SUCCESS
    assert [m.body for m in decode_stored_messages(query.body or b"")] == [b"findme"]
    from pyrmq.common.message_codec import decode_offset_msg_id

    _, _, phy = decode_offset_msg_id(sent.ext("msgId") or "")
    view = await client.invoke(addr, request(RequestCode.VIEW_MESSAGE_BY_ID, {"offset": str(phy)}))
    assert decode_stored_messages(view.body or b"")[0].body == b"findme"
    assert tag_hash("TagA") == 2598919


async def test_sql92_pull_with_property_filter(tmp_path: Path, client: RemotingClient) -> None:
    async with local_cluster(tmp_path, {"enable_property_filter": True}) as sql_cluster:
        addr = sql_cluster.broker_addr
        for i in range(6):
            props = properties_to_string({"TAGS": "T", "a": str(i)})
            req = v2_send(TOPIC, f"m{i}".encode())
            assert req.ext_fields is not None
            req.ext_fields["i"] = props
            assert (await client.invoke(addr, req)).code == ResponseCode.SUCCESS
        sql_cluster.broker.message_store.reput.do_reput()
        sql = pull(TOPIC, 0, 0, sys_flag=0x4)
        assert sql.ext_fields is not None
        sql.ext_fields.update({"subscription": "a BETWEEN 2 AND 4", "expressionType": "SQL92"})
        found = await client.invoke(addr, sql)
        assert found.code == ResponseCode.SUCCESS
        assert [m.body for m in decode_stored_messages(found.body or b"")] == [b"m2", b"m3", b"m4"]
        broken = pull(TOPIC, 0, 0, sys_flag=0x4)
        assert broken.ext_fields is not None
        broken.ext_fields.update({"subscription": "a >", "expressionType": "SQL92"})
        assert (await client.invoke(addr, broken)).code == ResponseCode.SUBSCRIPTION_PARSE_FAILED


async def test_sql92_is_refused_when_property_filter_is_off(
    cluster: LocalCluster, client: RemotingClient
) -> None:
    await send_n(client, cluster, 1)
    sql = pull(TOPIC, 0, 0, sys_flag=0x4)
    assert sql.ext_fields is not None
    sql.ext_fields.update({"subscription": "a = 1", "expressionType": "SQL92"})
    refused = await client.invoke(cluster.broker_addr, sql)
    assert refused.code == ResponseCode.SYSTEM_ERROR
    assert "SQL92" in (refused.remark or "")


# --------------------------------------------------------------------------- VIP channel


async def test_vip_channel_on_listen_port_minus_two_serves_all_but_pulls(
    tmp_path: Path, client: RemotingClient
) -> None:
    port = free_port(also=(-2, 1))
    async with local_cluster(tmp_path, {"listen_port": port}) as running:
        assert running.broker.fast_server is not None
        vip = f"127.0.0.1:{port - 2}"
        sent = await client.invoke(vip, v2_send("VipTopic", b"over the vip channel"))
        assert sent.code == ResponseCode.SUCCESS, sent.remark
        running.broker.message_store.reput.do_reput()
        assert (await client.invoke(vip, heartbeat("c1", ("VipTopic", "*")))).code == 0
        refused = await client.invoke(vip, pull("VipTopic", 0, 0, suspend_ms=0))
        assert refused.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
        found = await client.invoke(running.broker_addr, pull("VipTopic", 0, 0, suspend_ms=0))
        assert found.code == ResponseCode.SUCCESS
        assert [m.body for m in decode_stored_messages(found.body or b"")] == [
            b"over the vip channel"
        ]


async def test_no_vip_channel_beside_an_os_chosen_port(cluster: LocalCluster) -> None:
    assert cluster.broker.fast_server is None
