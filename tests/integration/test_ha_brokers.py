"""Master and slave brokers (one brokerName) with a NameServer, in-process, real TCP.

The slave learns its master's HA address from its registration, copies the commitlog byte for
byte and dispatches its own consume queues; a SYNC_MASTER answers sends only after the slave
holds them, and SLAVE_NOT_AVAILABLE (message stored all the same) with no slave.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pyrmq.broker.controller import BrokerController
from pyrmq.client import Message, Producer, SendStatus
from pyrmq.namesrv.config import NamesrvConfig
from pyrmq.namesrv.controller import NamesrvController
from pyrmq.store.config import BrokerRole
from pyrmq.store.results import GetMessageStatus
from tests.support.cluster import broker_configs


@asynccontextmanager
async def pair(
    root: Path, role: BrokerRole, with_slave: bool = True
) -> AsyncIterator[tuple[NamesrvController, BrokerController, BrokerController | None]]:
    namesrv = NamesrvController(
        NamesrvConfig(listen_port=0, bind_address="127.0.0.1", kv_config_path=str(root / "kv.json"))
    )
    await namesrv.start()
    addr = f"127.0.0.1:{namesrv.port}"
    started: list[BrokerController] = []
    try:
        master_conf, master_store = broker_configs(root / "m", addr, broker_role=role)
        master = BrokerController(master_conf, master_store)
        master.load()
        await master.start()
        started.append(master)
        slave = None
        if with_slave:
            slave_conf, slave_store = broker_configs(root / "s", addr, broker_role=BrokerRole.SLAVE)
            slave_conf.broker_id = 1
            slave_conf.broker_i_p1 = "127.0.0.2"
            slave = BrokerController(slave_conf, slave_store)
            slave.load()
            await slave.start()
            started.append(slave)
        yield namesrv, master, slave
    finally:
        for broker in reversed(started):
            await broker.shutdown()
        await namesrv.stop()


async def caught_up(master: BrokerController, slave: BrokerController) -> None:
    for _ in range(200):
        if (
            slave.message_store.commitlog.max_offset()
            == master.message_store.commitlog.max_offset()
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the slave did not catch up")


def commitlog_bytes(broker: BrokerController) -> bytes:
    store = broker.message_store
    files = sorted(store.config.commit_log_path.iterdir())
    return b"".join(p.read_bytes() for p in files)[: store.commitlog.max_offset()]


async def test_async_slave_copies_the_commitlog_byte_for_byte(tmp_path: Path) -> None:
    async with pair(tmp_path, BrokerRole.ASYNC_MASTER) as (namesrv, master, slave):
        assert slave is not None
        assert slave.master_ha_addr is not None  # from its registration
        producer = Producer("pg", f"127.0.0.1:{namesrv.port}")
        await producer.start()
        try:
            for i in range(300):
                result = await producer.send(Message("HATopic", f"m{i}".encode() * 50))
                assert result.send_status is SendStatus.SEND_OK
        finally:
            await producer.shutdown()
        await caught_up(master, slave)
        assert commitlog_bytes(slave) == commitlog_bytes(master)
        slave.message_store.reput.do_reput()
        got = sum(slave.message_store.get_max_offset_in_queue("HATopic", q) for q in range(4))
        first = slave.message_store.get_message("g", "HATopic", 0, 0, 32)
        assert first is not None and first.status is GetMessageStatus.FOUND
        first.release()
        assert got == 300  # the slave built its own consume queues


async def test_sync_master_waits_for_the_slave(tmp_path: Path) -> None:
    async with pair(tmp_path, BrokerRole.SYNC_MASTER) as (namesrv, master, slave):
        assert slave is not None
        producer = Producer("pg", f"127.0.0.1:{namesrv.port}")
        await producer.start()
        try:
            for _ in range(100):  # the slave's HA connection comes up right after its start
                if master.ha_service is not None and master.ha_service.connections:
                    break
                await asyncio.sleep(0.05)
            result = await producer.send(Message("SyncTopic", b"both"))
            assert result.send_status is SendStatus.SEND_OK
            assert slave.message_store.commitlog.max_offset() >= (
                master.message_store.commitlog.max_offset()
            )
        finally:
            await producer.shutdown()


async def test_sync_master_without_slave_answers_slave_not_available(tmp_path: Path) -> None:
    async with pair(tmp_path, BrokerRole.SYNC_MASTER, with_slave=False) as (namesrv, master, _):
        producer = Producer("pg", f"127.0.0.1:{namesrv.port}")
        await producer.start()
        try:
            result = await producer.send(Message("SyncTopic", b"alone"))
        finally:
            await producer.shutdown()
        assert result.send_status is SendStatus.SLAVE_NOT_AVAILABLE
        assert master.message_store.commitlog.max_offset() > 0  # stored on the master anyway


async def test_slave_copies_the_masters_metadata(tmp_path: Path) -> None:
    async with pair(tmp_path, BrokerRole.ASYNC_MASTER) as (namesrv, master, slave):
        assert slave is not None
        producer = Producer("pg", f"127.0.0.1:{namesrv.port}")
        await producer.start()
        try:
            await producer.send(Message("MetaTopic", b"x"))
        finally:
            await producer.shutdown()
        master.consumer_offset_manager.commit_offset("test", "meta-group", "MetaTopic", 0, 1)
        master.subscription_group_manager.find_subscription_group_config("meta-group")
        master.schedule_message_service.offset_table[3] = 7
        assert await slave.slave_synchronize.sync_all()
        assert slave.topic_config_manager.select("MetaTopic") is not None
        assert slave.consumer_offset_manager.query_offset("meta-group", "MetaTopic", 0) == 1
        assert "meta-group" in slave.subscription_group_manager.subscription_group_table
        assert slave.schedule_message_service.offset_table.get(3) == 7
        offsets = (slave.store_config.config_path / "consumerOffset.json").read_text()
        assert "MetaTopic@meta-group" in offsets  # persisted on the slave too
