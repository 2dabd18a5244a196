"""NameServer over real TCP on 127.0.0.1: registration, routes, expiry, KV, bad input."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyrmq.common.clock import FakeClock
from pyrmq.namesrv.config import NamesrvConfig
from pyrmq.namesrv.controller import NamesrvController
from pyrmq.remoting import bodies
from pyrmq.remoting.client import RemotingClient
from pyrmq.remoting.codes import RequestCode, ResponseCode, SerializeType
from pyrmq.remoting.command import RemotingCommand, encode, request
from pyrmq.remoting.connection import RemotingConnection

CLUSTER = "DefaultCluster"
A_MASTER = "127.0.0.1:10911"
A_SLAVE = "127.0.0.2:10911"
B_MASTER = "127.0.0.3:10911"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def namesrv(tmp_path: Path, clock: FakeClock) -> AsyncIterator[NamesrvController]:
    config = NamesrvConfig(
        listen_port=0, bind_address="127.0.0.1", kv_config_path=str(tmp_path / "kvConfig.json")
    )
    controller = NamesrvController(config, clock)
    await controller.start()
    yield controller
    await controller.stop()


@pytest.fixture
async def client() -> AsyncIterator[RemotingClient]:
    remoting_client = RemotingClient()
    yield remoting_client
    await remoting_client.close()


def addr_of(namesrv: NamesrvController) -> str:
    return f"127.0.0.1:{namesrv.port}"


def topic_configs(*names: str, queues: int = 4) -> dict[str, bodies.TopicConfig]:
    return {
        name: bodies.TopicConfig(name, read_queue_nums=queues, write_queue_nums=queues)
        for name in names
    }


def register_request(
    broker_name: str,
    broker_addr: str,
    broker_id: int,
    topics: dict[str, bodies.TopicConfig],
    counter: int = 1,
    crc: int | None = None,
) -> RemotingCommand:
    wrapper = bodies.TopicConfigSerializeWrapper(topics, bodies.DataVersion(1700000000000, counter))
    body = bodies.encode_register_broker_body(bodies.RegisterBrokerBody(wrapper, []))
    host = broker_addr.rsplit(":", 1)[0]
    ext = {
        "brokerName": broker_name,
        "brokerAddr": broker_addr,
        "clusterName": CLUSTER,
        "haServerAddr": f"{host}:10912",
        "brokerId": str(broker_id),
        "compressed": "false",
        "bodyCrc32": str(zlib.crc32(body) & 0x7FFFFFFF if crc is None else crc),
    }
    return request(RequestCode.REGISTER_BROKER, ext, body)


async def register(
    client: RemotingClient, namesrv: NamesrvController, *args: object, **kw: object
) -> RemotingCommand:
    req = register_request(*args, **kw)  # type: ignore[arg-type]
    return await client.invoke(addr_of(namesrv), req)


async def route(
    client: RemotingClient, namesrv: NamesrvController, topic: str, version: int = 409
) -> RemotingCommand:
    req = request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
    req.version = version
    return await client.invoke(addr_of(namesrv), req)


async def two_broker_names(client: RemotingClient, namesrv: NamesrvController) -> None:
    assert (await register(client, namesrv, "broker-a", A_MASTER, 0, topic_configs("T"))).code == 0
    assert (await register(client, namesrv, "broker-a", A_SLAVE, 1, topic_configs("T"))).code == 0
    assert (
        await register(client, namesrv, "broker-b", B_MASTER, 0, topic_configs("T", "U"))
    ).code == 0


# --------------------------------------------------------------------------- registration


async def test_master_slave_and_second_broker_name_give_routes_and_cluster_info(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    await two_broker_names(client, namesrv)
    response = await route(client, namesrv, "T")
    assert response.code == ResponseCode.SUCCESS
    data = bodies.decode_topic_route_data(response.body or b"")
    assert sorted(qd.broker_name for qd in data.queue_datas) == ["broker-a", "broker-b"]
    addrs = {bd.broker_name: bd.broker_addrs for bd in data.broker_datas}
    assert addrs == {"broker-a": {0: A_MASTER, 1: A_SLAVE}, "broker-b": {0: B_MASTER}}
    only_b = bodies.decode_topic_route_data((await route(client, namesrv, "U")).body or b"")
    assert [bd.broker_name for bd in only_b.broker_datas] == ["broker-b"]

    info_response = await client.invoke(
        addr_of(namesrv), request(RequestCode.GET_BROKER_CLUSTER_INFO)
    )
    info = bodies.decode_cluster_info(info_response.body or b"")
    assert sorted(info.cluster_addr_table[CLUSTER]) == ["broker-a", "broker-b"]
    assert info.broker_addr_table["broker-a"].broker_addrs == {0: A_MASTER, 1: A_SLAVE}


async def test_slave_learns_master_and_ha_address(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    early = await register(client, namesrv, "broker-a", A_SLAVE, 1, topic_configs("T"))
    assert early.ext("masterAddr") is None  # no master yet
    await register(client, namesrv, "broker-a", A_MASTER, 0, topic_configs("T"))
    slave = await register(client, namesrv, "broker-a", A_SLAVE, 1, topic_configs("T"))
    assert slave.ext("masterAddr") == A_MASTER
    assert slave.ext("haServerAddr") == "127.0.0.1:10912"


async def test_slave_topics_do_not_make_routes(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    await register(client, namesrv, "broker-a", A_SLAVE, 1, topic_configs("OnlyOnSlave"))
    assert (await route(client, namesrv, "OnlyOnSlave")).code == ResponseCode.TOPIC_NOT_EXIST


async def test_route_json_dialect_follows_request_version(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    await register(client, namesrv, "broker-a", A_MASTER, 0, topic_configs("T"))
    legacy = (await route(client, namesrv, "T", version=317)).body or b""
    standard = (await route(client, namesrv, "T", version=401)).body or b""
    assert b'"brokerAddrs":{0:"127.0.0.1:10911"}' in legacy
    assert b'"brokerAddrs":{"0":"127.0.0.1:10911"}' in standard
    asked = request(
        RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": "T", "acceptStandardJsonOnly": "true"}
    )
    asked.version = 121
    assert (await client.invoke(addr_of(namesrv), asked)).body == standard


async def test_unknown_topic_is_topic_not_exist_with_remark(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    response = await route(client, namesrv, "Nope")
    assert response.code == ResponseCode.TOPIC_NOT_EXIST
    assert (response.remark or "").startswith(
        "No topic route info in name server for the topic: Nope"
    )
    assert response.body is None


async def test_changed_data_version_updates_queues_and_same_version_does_not(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    await register(client, namesrv, "broker-a", A_MASTER, 0, topic_configs("T", queues=4))
    await register(client, namesrv, "broker-a", A_MASTER, 0, topic_configs("T", queues=8))
    same = bodies.decode_topic_route_data((await route(client, namesrv, "T")).body or b"")
    assert same.queue_datas[0].write_queue_nums == 4  # same DataVersion: ignored, as in Java
    await register(
        client, namesrv, "broker-a", A_MASTER, 0, topic_configs("T", queues=8), counter=2
    )
    bumped = bodies.decode_topic_route_data((await route(client, namesrv, "T")).body or b"")
    assert bumped.queue_datas[0].write_queue_nums == 8


async def test_body_crc_mismatch_is_refused(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    response = await register(
        client, namesrv, "broker-a", A_MASTER, 0, topic_configs("T"), crc=12345
    )
    assert (response.code, response.remark) == (ResponseCode.SYSTEM_ERROR, "crc32 not match")
    assert (await route(client, namesrv, "T")).code == ResponseCode.TOPIC_NOT_EXIST


async def test_order_topic_conf_reaches_brokers_and_routes(
    tmp_path: Path, clock: FakeClock, client: RemotingClient
) -> None:
    config = NamesrvConfig(
        listen_port=0,
        bind_address="127.0.0.1",
        order_message_enable=True,
        kv_config_path=str(tmp_path / "kv.json"),
    )
    namesrv = NamesrvController(config, clock)
    await namesrv.start()
    try:
        put = request(
            RequestCode.PUT_KV_CONFIG,
            {"namespace": "ORDER_TOPIC_CONFIG", "key": "T", "value": "broker-a:4"},
        )
        assert (await client.invoke(addr_of(namesrv), put)).code == 0
        registered = await register(client, namesrv, "broker-a", A_MASTER, 0, topic_configs("T"))
        assert bodies.decode_kv_table(registered.body or b"").table == {"T": "broker-a:4"}
        data = bodies.decode_topic_route_data((await route(client, namesrv, "T")).body or b"")
        assert data.order_topic_conf == "broker-a:4"
    finally:
        await namesrv.stop()


# --------------------------------------------------------------------------- removal


async def test_unregister_removes_address_then_broker_name(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    await two_broker_names(client, namesrv)

    async def unregister(broker_addr: str, broker_id: int) -> None:
        ext = {
            "brokerName": "broker-a",
            "brokerAddr": broker_addr,
            "clusterName": CLUSTER,
            "brokerId": str(broker_id),
        }
        response = await client.invoke(
            addr_of(namesrv), request(RequestCode.UNREGISTER_BROKER, ext)
        )
        assert response.code == ResponseCode.SUCCESS

    await unregister(A_MASTER, 0)
    data = bodies.decode_topic_route_data((await route(client, namesrv, "T")).body or b"")
    # Master gone, slave alive: the route still lists broker-a with only its slave.
    assert {bd.broker_name: bd.broker_addrs for bd in data.broker_datas}["broker-a"] == {1: A_SLAVE}
    await unregister(A_SLAVE, 1)
    data = bodies.decode_topic_route_data((await route(client, namesrv, "T")).body or b"")
    assert [bd.broker_name for bd in data.broker_datas] == ["broker-b"]
    assert [qd.broker_name for qd in data.queue_datas] == ["broker-b"]


async def test_broker_expires_after_120_s_without_registration(
    namesrv: NamesrvController, client: RemotingClient, clock: FakeClock
) -> None:
    # Each broker registers over its own connection, as real brokers do: expiry closes it.
    broker_a, broker_b = RemotingClient(), RemotingClient()
    try:
        addr = addr_of(namesrv)
        await broker_a.invoke(addr, register_request("broker-a", A_MASTER, 0, topic_configs("T")))
        await broker_a.invoke(addr, register_request("broker-a", A_SLAVE, 1, topic_configs("T")))
        b_request = register_request("broker-b", B_MASTER, 0, topic_configs("T", "U"))
        await broker_b.invoke(addr, b_request)
        clock.advance(100_000)
        await broker_b.invoke(
            addr, register_request("broker-b", B_MASTER, 0, topic_configs("T", "U"))
        )
        clock.advance(20_001)  # broker-a last seen 120.001 s ago, broker-b 20 s ago
        assert namesrv.route_info.scan_not_active_broker(clock.now_ms() - 1) == []
        assert namesrv.scan_not_active_broker() == 2
        data = bodies.decode_topic_route_data((await route(client, namesrv, "T")).body or b"")
        assert [bd.broker_name for bd in data.broker_datas] == ["broker-b"]
        assert (await route(client, namesrv, "U")).code == ResponseCode.SUCCESS
        clock.advance(120_000)
        assert namesrv.scan_not_active_broker() == 1
        assert (await route(client, namesrv, "U")).code == ResponseCode.TOPIC_NOT_EXIST
    finally:
        await broker_a.close()
        await broker_b.close()


async def test_closed_broker_connection_removes_the_broker(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    broker_side = RemotingClient()
    await broker_side.invoke(
        addr_of(namesrv), register_request("broker-c", "127.0.0.4:10911", 0, topic_configs("C"))
    )
    assert (await route(client, namesrv, "C")).code == ResponseCode.SUCCESS
    await broker_side.close()
    for _ in range(100):
        if (await route(client, namesrv, "C")).code == ResponseCode.TOPIC_NOT_EXIST:
            break
        await asyncio.sleep(0.01)
    assert (await route(client, namesrv, "C")).code == ResponseCode.TOPIC_NOT_EXIST


# --------------------------------------------------------------------------- admin


async def test_write_permission_wipe_and_add(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    await two_broker_names(client, namesrv)
    wipe = await client.invoke(
        addr_of(namesrv), request(RequestCode.WIPE_WRITE_PERM_OF_BROKER, {"brokerName": "broker-b"})
    )
    assert wipe.ext("wipeTopicCount") == "2"
    data = bodies.decode_topic_route_data((await route(client, namesrv, "U")).body or b"")
    assert data.queue_datas[0].perm == 4
    add = await client.invoke(
        addr_of(namesrv), request(RequestCode.ADD_WRITE_PERM_OF_BROKER, {"brokerName": "broker-b"})
    )
    assert add.ext("addTopicCount") == "2"
    data = bodies.decode_topic_route_data((await route(client, namesrv, "U")).body or b"")
    assert data.queue_datas[0].perm == 6


async def test_topic_lists_and_delete(namesrv: NamesrvController, client: RemotingClient) -> None:
    await two_broker_names(client, namesrv)
    unit = topic_configs("UnitTopic")
    unit["UnitTopic"].topic_sys_flag = 1
    await register(
        client, namesrv, "broker-b", B_MASTER, 0, {**topic_configs("T", "U"), **unit}, counter=2
    )
    addr = addr_of(namesrv)

    async def topics(code: int, ext: dict[str, str] | None = None) -> bodies.TopicList:
        response = await client.invoke(addr, request(code, ext))
        assert response.code == ResponseCode.SUCCESS
        return bodies.decode_topic_list(response.body or b"")

    assert sorted((await topics(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)).topic_list) == [
        "T",
        "U",
        "UnitTopic",
    ]
    assert sorted(
        (await topics(RequestCode.GET_TOPICS_BY_CLUSTER, {"cluster": CLUSTER})).topic_list
    ) == ["T", "U", "UnitTopic"]
    system = await topics(RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS)
    assert sorted(system.topic_list) == [CLUSTER, "broker-a", "broker-b"]
    assert system.broker_addr in {A_MASTER, A_SLAVE, B_MASTER}
    assert (await topics(RequestCode.GET_UNIT_TOPIC_LIST)).topic_list == ["UnitTopic"]
    assert (await topics(RequestCode.GET_HAS_UNIT_SUB_TOPIC_LIST)).topic_list == []

    deleted = await client.invoke(
        addr, request(RequestCode.DELETE_TOPIC_IN_NAMESRV, {"topic": "U"})
    )
    assert deleted.code == ResponseCode.SUCCESS
    assert (await route(client, namesrv, "U")).code == ResponseCode.TOPIC_NOT_EXIST
    partial = request(RequestCode.DELETE_TOPIC_IN_NAMESRV, {"topic": "T", "clusterName": "Other"})
    await client.invoke(addr, partial)
    assert (await route(client, namesrv, "T")).code == ResponseCode.SUCCESS


async def test_kv_config_put_get_list_delete_and_reload(
    namesrv: NamesrvController, client: RemotingClient, tmp_path: Path, clock: FakeClock
) -> None:
    addr = addr_of(namesrv)
    for key, value in (("k1", "v1"), ("k2", "v2")):
        put = request(RequestCode.PUT_KV_CONFIG, {"namespace": "ns", "key": key, "value": value})
        assert (await client.invoke(addr, put)).code == ResponseCode.SUCCESS
    got = await client.invoke(
        addr, request(RequestCode.GET_KV_CONFIG, {"namespace": "ns", "key": "k1"})
    )
    assert (got.code, got.ext("value")) == (ResponseCode.SUCCESS, "v1")
    listed = await client.invoke(
        addr, request(RequestCode.GET_KVLIST_BY_NAMESPACE, {"namespace": "ns"})
    )
    assert bodies.decode_kv_table(listed.body or b"").table == {"k1": "v1", "k2": "v2"}
    await client.invoke(
        addr, request(RequestCode.DELETE_KV_CONFIG, {"namespace": "ns", "key": "k1"})
    )
    missing = await client.invoke(
        addr, request(RequestCode.GET_KV_CONFIG, {"namespace": "ns", "key": "k1"})
    )
    assert missing.code == ResponseCode.QUERY_NOT_FOUND
    assert missing.remark == "No config item, Namespace: ns Key: k1"
    none = await client.invoke(
        addr, request(RequestCode.GET_KVLIST_BY_NAMESPACE, {"namespace": "x"})
    )
    assert none.code == ResponseCode.QUERY_NOT_FOUND

    # A new NameServer on the same kvConfig.json sees what the first one persisted.
    again = NamesrvController(
        NamesrvConfig(
            listen_port=0, bind_address="127.0.0.1", kv_config_path=namesrv.config.kv_config_path
        ),
        clock,
    )
    await again.start()
    try:
        reread = await client.invoke(
            f"127.0.0.1:{again.port}",
            request(RequestCode.GET_KV_CONFIG, {"namespace": "ns", "key": "k2"}),
        )
        assert reread.ext("value") == "v2"
    finally:
        await again.stop()


async def test_namesrv_config_get_update_and_black_list(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    addr = addr_of(namesrv)
    text = (await client.invoke(addr, request(RequestCode.GET_NAMESRV_CONFIG))).body or b""
    assert b"orderMessageEnable=false" in text
    update = request(RequestCode.UPDATE_NAMESRV_CONFIG, body=b"orderMessageEnable=true\n")
    assert (await client.invoke(addr, update)).code == ResponseCode.SUCCESS
    assert namesrv.config.order_message_enable is True
    refused = request(RequestCode.UPDATE_NAMESRV_CONFIG, body=b"kvConfigPath=/tmp/evil\n")
    response = await client.invoke(addr, refused)
    assert response.code == ResponseCode.NO_PERMISSION
    bad = request(RequestCode.UPDATE_NAMESRV_CONFIG, body=b"listenPort=abc\n")
    bad_response = await client.invoke(addr, bad)
    assert bad_response.code == ResponseCode.SYSTEM_ERROR
    assert "listenPort" in (bad_response.remark or "")


async def test_query_data_version(namesrv: NamesrvController, client: RemotingClient) -> None:
    await register(client, namesrv, "broker-a", A_MASTER, 0, topic_configs("T"), counter=5)
    ext = {
        "brokerName": "broker-a",
        "brokerAddr": A_MASTER,
        "clusterName": CLUSTER,
        "brokerId": "0",
    }
    same = bodies.encode_data_version(bodies.DataVersion(1700000000000, 5))
    newer = bodies.encode_data_version(bodies.DataVersion(1700000000000, 6))
    addr = addr_of(namesrv)
    unchanged = await client.invoke(addr, request(RequestCode.QUERY_DATA_VERSION, dict(ext), same))
    assert unchanged.ext("changed") == "false"
    assert bodies.decode_data_version(unchanged.body or b"").counter == 5
    changed = await client.invoke(addr, request(RequestCode.QUERY_DATA_VERSION, dict(ext), newer))
    assert changed.ext("changed") == "true"


# --------------------------------------------------------------------------- bad input


async def test_rocketmq_request_gets_rocketmq_response(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    req = request(
        RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": "Nope"}, serialize_type=SerializeType.ROCKETMQ
    )
    response = await client.invoke(addr_of(namesrv), req)
    assert response.serialize_type == SerializeType.ROCKETMQ
    assert response.code == ResponseCode.TOPIC_NOT_EXIST


async def test_unknown_code_gets_request_code_not_supported(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    response = await client.invoke(addr_of(namesrv), request(9999))
    assert response.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    assert response.remark == " request type 9999 not supported"


async def test_missing_header_field_gets_system_error_with_remark(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    response = await client.invoke(addr_of(namesrv), request(RequestCode.GET_ROUTEINFO_BY_TOPIC))
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert "topic" in (response.remark or "")
    wrong_type = request(
        RequestCode.UNREGISTER_BROKER,
        {"brokerName": "a", "brokerAddr": "b", "clusterName": "c", "brokerId": "zero"},
    )
    response = await client.invoke(addr_of(namesrv), wrong_type)
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert "brokerId" in (response.remark or "")


async def test_oneway_request_gets_no_response(
    namesrv: NamesrvController, client: RemotingClient
) -> None:
    put = request(RequestCode.PUT_KV_CONFIG, {"namespace": "ns", "key": "k", "value": "v"})
    await client.oneway(addr_of(namesrv), put)
    got = await client.invoke(
        addr_of(namesrv), request(RequestCode.GET_KV_CONFIG, {"namespace": "ns", "key": "k"})
    )
    assert got.ext("value") == "v"  # processed, and the only frame that came back is this one


BAD_STREAMS = {
    "two GiB length": struct.pack(">I", 2 * 1024**3),
    "invalid JSON header": struct.pack(">II", 4 + 9, 9) + b"{not json",
    "header longer than frame": struct.pack(">II", 8, 100) + b"abcd",
    "unknown serialize type": struct.pack(">II", 6, (9 << 24) | 2) + b"{}",
    "length below header word": struct.pack(">I", 1) + b"\x00",
}


@pytest.mark.parametrize("stream", BAD_STREAMS.values(), ids=BAD_STREAMS.keys())
async def test_bad_frame_closes_only_that_connection(
    namesrv: NamesrvController,
    client: RemotingClient,
    stream: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await register(client, namesrv, "broker-a", A_MASTER, 0, topic_configs("T"))
    reader, writer = await asyncio.open_connection("127.0.0.1", namesrv.port)
    host, port = writer.get_extra_info("sockname")[:2]
    local = f"{host}:{port}"
    writer.write(stream)
    await writer.drain()
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # closed by the server, nothing sent back
    writer.close()
    await writer.wait_closed()
    assert any(local in record.getMessage() for record in caplog.records)
    # The other client, and the broker registered through it, carry on.
    assert (await route(client, namesrv, "T")).code == ResponseCode.SUCCESS


async def test_bad_frame_after_good_ones_on_a_raw_socket(namesrv: NamesrvController) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", namesrv.port)
    good = request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": "Nope"})
    good.opaque = 77
    writer.write(encode(good) + struct.pack(">II", 9, 5) + b"hello")
    await writer.drain()
    async with asyncio.timeout(5):
        data = await reader.read()
    writer.close()
    await writer.wait_closed()
    (length,) = struct.unpack(">I", data[:4])
    assert len(data) == 4 + length  # exactly the one answer, then the close
    from pyrmq.remoting.command import decode_frame

    answer = decode_frame(data)
    assert (answer.opaque, answer.code) == (77, ResponseCode.TOPIC_NOT_EXIST)


async def test_broker_to_client_requests_on_the_same_connection(namesrv: NamesrvController) -> None:
    # The server side of a connection can invoke the peer too (used by brokers for clients).
    answered: list[int] = []

    def on_request(conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        answered.append(req.code)
        return req.response(ResponseCode.SUCCESS, "pong")

    peer = RemotingClient({RequestCode.GET_CONSUMER_RUNNING_INFO: on_request})
    try:
        await peer.invoke(addr_of(namesrv), request(RequestCode.GET_BROKER_CLUSTER_INFO))
        (server_side,) = namesrv.server.connections
        response = await server_side.invoke(request(RequestCode.GET_CONSUMER_RUNNING_INFO), 3.0)
        assert (response.code, response.remark, answered) == (0, "pong", [307])
        unknown = await server_side.invoke(request(RequestCode.CHECK_CLIENT_CONFIG), 3.0)
        assert unknown.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    finally:
        await peer.close()


async def test_idle_broker_connection_is_closed_and_the_broker_removed(
    tmp_path: Path, clock: FakeClock, client: RemotingClient
) -> None:
    config = NamesrvConfig(
        listen_port=0, bind_address="127.0.0.1", kv_config_path=str(tmp_path / "kv.json")
    )
    config.server_channel_max_idle_time_seconds = 1
    namesrv = NamesrvController(config, clock)
    await namesrv.start()
    broker = RemotingClient()
    try:
        await broker.invoke(
            addr_of(namesrv), register_request("broker-a", A_MASTER, 0, topic_configs("T"))
        )
        assert (await route(client, namesrv, "T")).code == ResponseCode.SUCCESS
        for _ in range(100):  # the query client stays busy, so only the broker idles
            if (await route(client, namesrv, "T")).code == ResponseCode.TOPIC_NOT_EXIST:
                break
            await asyncio.sleep(0.1)
        assert (await route(client, namesrv, "T")).code == ResponseCode.TOPIC_NOT_EXIST
        assert len(namesrv.server.connections) == 1
    finally:
        await broker.close()
        await namesrv.stop()
