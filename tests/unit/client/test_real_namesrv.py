"""The client against pyrmq's real NameServer, with a fake broker registered in it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyrmq.client import Admin, Message, MessageQueue, Producer
from pyrmq.namesrv.config import NamesrvConfig
from pyrmq.namesrv.controller import NamesrvController
from pyrmq.remoting.bodies import (
    RegisterBrokerBody,
    TopicConfig,
    TopicConfigSerializeWrapper,
    encode_register_broker_body,
)
from pyrmq.remoting.client import RemotingClient
from pyrmq.remoting.codes import RequestCode
from pyrmq.remoting.command import request
from pyrmq.remoting.headers import RegisterBrokerRequestHeader, to_ext_fields
from tests.unit.client.fakes import FakeBroker, dead_addr


@pytest.fixture
async def real_namesrv(tmp_path: Path) -> AsyncIterator[NamesrvController]:
    config = NamesrvConfig(
        listen_port=0, bind_address="127.0.0.1", kv_config_path=str(tmp_path / "kv.json")
    )
    controller = NamesrvController(config)
    await controller.start()
    yield controller
    await controller.stop()


@contextlib.asynccontextmanager
async def registered(
    namesrv_addr: str, broker: FakeBroker, topics: dict[str, int]
) -> AsyncIterator[None]:
    """REGISTER_BROKER on the fake broker's behalf, as a 4.9 broker sends it. The NameServer
    forgets a broker when its connection closes, so the connection stays open meanwhile."""
    table = {name: TopicConfig(name, nums, nums) for name, nums in topics.items()}
    body = encode_register_broker_body(RegisterBrokerBody(TopicConfigSerializeWrapper(table)))
    header = RegisterBrokerRequestHeader(broker.name, broker.addr, "DefaultCluster", "x:1", 0)
    client = RemotingClient()
    try:
        cmd = request(RequestCode.REGISTER_BROKER, to_ext_fields(header), body)
        await client.invoke_ok(namesrv_addr, cmd)
        yield
    finally:
        await client.close()


async def test_producer_and_admin_read_routes_from_the_real_namesrv(
    real_namesrv: NamesrvController, broker_a: FakeBroker
) -> None:
    addr = f"127.0.0.1:{real_namesrv.port}"
    async with registered(addr, broker_a, {"T": 3}):
        async with Producer("PG", f"{dead_addr()};{addr}") as producer:
            assert await producer.fetch_publish_queues("T") == [
                MessageQueue("T", "broker-a", i) for i in range(3)
            ]
            result = await producer.send(Message("T", b"via the real namesrv"))
        assert result.message_queue.broker_name == "broker-a"
        assert broker_a.sends[0].body == b"via the real namesrv"
        async with Admin(addr) as admin:
            info = await admin.cluster_info()
            assert info.cluster_addr_table == {"DefaultCluster": ["broker-a"]}
            assert await admin.create_topic("DefaultCluster", "N", 2) == [broker_a.addr]
