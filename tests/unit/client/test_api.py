"""ClientAPI against fake servers: NameServer failover, result codes vs raised errors, bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pyrmq.client.api import (
    ClientAPI,
    decode_lock_batch_response,
    encode_lock_batch_body,
    parse_namesrv_addrs,
)
from pyrmq.common.message import Message
from pyrmq.common.message_codec import encode_batch
from pyrmq.remoting.bodies import BrokerData, ClusterInfo, MessageQueue
from pyrmq.remoting.client import RemotingClient
from pyrmq.remoting.errors import (
    MQResponseError,
    QueryNotFoundError,
    RemotingConnectError,
    SystemError_,
    TopicNotExistError,
)
from pyrmq.remoting.headers import (
    CreateTopicRequestHeader,
    PullMessageRequestHeader,
    QueryConsumerOffsetRequestHeader,
    SendMessageRequestHeaderV2,
    UpdateConsumerOffsetRequestHeader,
)
from pyrmq.remoting.heartbeat import HeartbeatData, ProducerData
from tests.unit.client.fakes import FakeBroker, FakeNamesrv, dead_addr, route_of, wait_until


@pytest.fixture
async def remoting() -> AsyncIterator[RemotingClient]:
    client = RemotingClient()
    yield client
    await client.close()


def test_parse_namesrv_addrs() -> None:
    assert parse_namesrv_addrs(" a:1; b:2 ,c:3;") == ["a:1", "b:2", "c:3"]
    with pytest.raises(ValueError):
        parse_namesrv_addrs(" ; ")


async def test_route_with_failover_to_the_next_namesrv(
    remoting: RemotingClient, namesrv: FakeNamesrv, broker_a: FakeBroker
) -> None:
    namesrv.routes["T"] = route_of(broker_a)
    api = ClientAPI(remoting, [dead_addr(), namesrv.addr])
    route = await api.get_route_info("T")
    assert route == route_of(broker_a)
    # The live one is remembered and asked first from now on.
    assert await api.get_route_info("T") == route
    assert namesrv.route_requests == ["T", "T"]
    with pytest.raises(TopicNotExistError):
        await api.get_route_info("nope")


async def test_every_namesrv_dead_raises_the_transport_error(remoting: RemotingClient) -> None:
    api = ClientAPI(remoting, [dead_addr()])
    with pytest.raises(RemotingConnectError):
        await api.get_route_info("T", 0.5)


async def test_cluster_info(remoting: RemotingClient, namesrv: FakeNamesrv) -> None:
    namesrv.cluster = ClusterInfo({"b": BrokerData("C", "b", {0: "x:1"})}, {"C": ["b"]})
    assert await ClientAPI(remoting, [namesrv.addr]).get_cluster_info() == namesrv.cluster


def send_header(queue_id: int = 0) -> SendMessageRequestHeaderV2:
    return SendMessageRequestHeaderV2("PG", "T", "TBW102", 4, queue_id, 0, 1, 0, "UNIQ_KEY\x01K")


@pytest.mark.parametrize("code", [0, 10, 11, 12])
async def test_send_result_codes(remoting: RemotingClient, broker_a: FakeBroker, code: int) -> None:
    broker_a.send_codes = [code]
    api = ClientAPI(remoting, ["unused:1"])
    response = await api.send_message(broker_a.addr, send_header(2), b"body", 1.0)
    assert response.code == code
    assert response.header.queue_id == 2 and response.header.queue_offset == 0
    assert response.region_id == "DefaultRegion" and response.trace_on
    assert broker_a.sends[0].code == 310


@pytest.mark.parametrize("code", [1, 2, 13, 17])
async def test_send_error_codes_raise(
    remoting: RemotingClient, broker_a: FakeBroker, code: int
) -> None:
    broker_a.send_codes = [code]
    with pytest.raises(MQResponseError) as info:
        await ClientAPI(remoting, ["unused:1"]).send_message(
            broker_a.addr, send_header(), b"x", 1.0
        )
    assert info.value.response_code == code


async def test_batch_uses_code_320_and_oneway_310(
    remoting: RemotingClient, broker_a: FakeBroker
) -> None:
    api = ClientAPI(remoting, ["unused:1"])
    batch = encode_batch([Message("T", b"a"), Message("T", b"b")])
    response = await api.send_message(broker_a.addr, send_header(), batch, 1.0, batch=True)
    assert response.header.msg_id.count(",") == 1
    await api.send_message_oneway(broker_a.addr, send_header(), b"x")
    await wait_until(lambda: len(broker_a.sends) == 2)
    assert [s.code for s in broker_a.sends] == [320, 310]


async def test_pull_codes(remoting: RemotingClient, broker_a: FakeBroker) -> None:
    api = ClientAPI(remoting, ["unused:1"])
    header = PullMessageRequestHeader("G", "T", 0, 0, 32, 2, 0, 15000, 0, "*")
    broker_a.store("T", 0, b"m")
    found = await api.pull_message(broker_a.addr, header, 2.0)
    assert (found.code, found.header.next_begin_offset, found.header.max_offset) == (0, 1, 1)
    assert found.body
    for code in (19, 20, 21):
        broker_a.pull_script[("T", 0)] = [(code, 5)]
        result = await api.pull_message(broker_a.addr, header, 2.0)
        assert (result.code, result.header.next_begin_offset, result.body) == (code, 5, b"")
    broker_a.pull_script[("T", 0)] = [(24, 0)]
    with pytest.raises(MQResponseError):
        await api.pull_message(broker_a.addr, header, 2.0)


async def test_offsets(remoting: RemotingClient, broker_a: FakeBroker) -> None:
    api = ClientAPI(remoting, ["unused:1"])
    query = QueryConsumerOffsetRequestHeader("G", "T", 0)
    with pytest.raises(QueryNotFoundError):
        await api.query_consumer_offset(broker_a.addr, query)
    await api.update_consumer_offset(
        broker_a.addr, UpdateConsumerOffsetRequestHeader("G", "T", 0, 9)
    )
    assert await api.query_consumer_offset(broker_a.addr, query) == 9
    await api.update_consumer_offset_oneway(
        broker_a.addr, UpdateConsumerOffsetRequestHeader("G", "T", 0, 11)
    )
    await wait_until(lambda: broker_a.offsets[("G", "T", 0)] == 11)
    assert [u[-1] for u in broker_a.offset_updates] == [False, True]
    for _ in range(3):
        broker_a.store("T", 0, b"m")
    broker_a.min_offsets[("T", 0)] = 1
    assert await api.get_max_offset(broker_a.addr, "T", 0) == 3
    assert await api.get_min_offset(broker_a.addr, "T", 0) == 1
    assert await api.search_offset(broker_a.addr, "T", 0, 1_700_000_000_001) == 1


async def test_registration_calls(remoting: RemotingClient, broker_a: FakeBroker) -> None:
    api = ClientAPI(remoting, ["unused:1"])
    version = await api.send_heartbeat(broker_a.addr, HeartbeatData("cid", [ProducerData("PG")]))
    assert version == 409
    assert broker_a.heartbeats[0].producer_data_set == [ProducerData("PG")]
    with pytest.raises(SystemError_):
        await api.get_consumer_id_list(broker_a.addr, "G")
    broker_a.consumer_ids["G"] = ["b", "a"]
    assert await api.get_consumer_id_list(broker_a.addr, "G") == ["b", "a"]
    await api.unregister_client(broker_a.addr, "cid", consumer_group="G")
    assert broker_a.unregisters == [("cid", None, "G")]
    await api.create_topic(
        broker_a.addr, CreateTopicRequestHeader("N", "TBW102", 2, 2, 6, "SINGLE_TAG")
    )
    assert broker_a.created_topics[0]["topic"] == "N"
    assert broker_a.created_topics[0]["readQueueNums"] == "2"


def test_lock_batch_bodies() -> None:
    mqs = [MessageQueue("T", "b", 1), MessageQueue("T", "b", 0)]
    assert encode_lock_batch_body("G", "1.2.3.4@x", mqs) == (
        b'{"clientId":"1.2.3.4@x","consumerGroup":"G","mqSet":['
        b'{"brokerName":"b","queueId":0,"topic":"T"},{"brokerName":"b","queueId":1,"topic":"T"}]}'
    )
    body = b'{"lockOKMQSet":[{"brokerName":"b","queueId":1,"topic":"T"}]}'
    assert decode_lock_batch_response(body) == {mqs[0]}
    assert decode_lock_batch_response(b"{}") == set()
