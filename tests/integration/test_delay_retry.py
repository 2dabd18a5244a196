"""Delayed delivery and consumer send-back on a real broker, driven with raw remoting requests.

The tests wire ``ScheduleMessageService`` and ``SendBackProcessor`` into the running broker
themselves (taking over a service the controller may already run), with 1-2 s delay levels.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyrmq.broker.controller import BrokerController
from pyrmq.broker.processors.send_back import SendBackProcessor
from pyrmq.broker.schedule import ScheduleMessageService
from pyrmq.common.message import MessageExt, properties_to_string
from pyrmq.common.message_codec import decode_stored_messages
from pyrmq.remoting.client import RemotingClient
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand, request
from pyrmq.remoting.headers import (
    ConsumerSendMsgBackRequestHeader,
    PullMessageRequestHeader,
    SendMessageRequestHeader,
    to_ext_fields,
)
from pyrmq.store.config import BrokerRole
from pyrmq.store.metadata import DelayOffsetFile, SubscriptionGroupConfig, metadata_paths
from tests.support.cluster import LocalCluster, local_cluster

#: Level 2 = 2 s, every other level (retry levels 3..18 included) = 1 s.
DELAY_LEVELS = " ".join(["1s", "2s", *["1s"] * 16])
GROUP = "RetryGroup"
RETRY = f"%RETRY%{GROUP}"
DLQ = f"%DLQ%{GROUP}"
FLAG_SUBSCRIPTION = 0x4


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    async with local_cluster(tmp_path, message_delay_level=DELAY_LEVELS) as running:
        running.broker.server.dispatcher.handlers.update(
            SendBackProcessor(running.broker).handlers()  # type: ignore[arg-type]
        )
        yield running


@pytest.fixture
async def client() -> AsyncIterator[RemotingClient]:
    remoting_client = RemotingClient()
    yield remoting_client
    await remoting_client.close()


@pytest.fixture
async def schedule(cluster: LocalCluster) -> AsyncIterator[ScheduleMessageService]:
    service = await start_schedule(cluster.broker)
    yield service
    await service.stop()


async def start_schedule(broker: BrokerController) -> ScheduleMessageService:
    """A service on the broker's store and delayOffset.json; one the controller runs is
    stopped first, so that only this one delivers."""
    wired = getattr(broker, "schedule_message_service", None)
    if isinstance(wired, ScheduleMessageService):
        await wired.stop()
    service = ScheduleMessageService(
        broker.message_store,
        broker.store_config,
        metadata_paths(broker.store_config).delay_offset,
        broker.clock,
        lambda: broker.store_config.broker_role is not BrokerRole.SLAVE,
        first_delay_ms=100,
    )
    service.load()
    service.start()
    return service


# --------------------------------------------------------------------------- requests


def send(topic: str, body: bytes, uniq_key: str, delay: int | None = None) -> RemotingCommand:
    props = {"TAGS": "TagA", "UNIQ_KEY": uniq_key, "WAIT": "true"}
    if delay is not None:
        props["DELAY"] = str(delay)
    header = SendMessageRequestHeader(
        "pg", topic, "TBW102", 4, 0, 0, int(time.time() * 1000), 0, properties_to_string(props)
    )
    return request(RequestCode.SEND_MESSAGE, to_ext_fields(header), body)


def send_back(offset: int, delay_level: int = 0, max_times: int | None = 2) -> RemotingCommand:
    header = ConsumerSendMsgBackRequestHeader(
        offset, GROUP, delay_level, "ignored-by-4.9.8", "ignored", False, max_times
    )
    return request(RequestCode.CONSUMER_SEND_MSG_BACK, to_ext_fields(header))


async def invoke_ok(client: RemotingClient, cluster: LocalCluster, req: RemotingCommand) -> None:
    response = await client.invoke(cluster.broker_addr, req)
    assert response.code == ResponseCode.SUCCESS, response.remark


async def pull_all(
    client: RemotingClient, cluster: LocalCluster, topic: str, queue_id: int = 0
) -> list[MessageExt]:
    header = PullMessageRequestHeader(
        GROUP, topic, queue_id, 0, 32, FLAG_SUBSCRIPTION, 0, 0, 0, "*", "TAG"
    )
    response = await client.invoke(
        cluster.broker_addr, request(RequestCode.PULL_MESSAGE, to_ext_fields(header))
    )
    if response.code != ResponseCode.SUCCESS:
        return []
    return decode_stored_messages(response.body or b"")


async def wait_for(
    client: RemotingClient, cluster: LocalCluster, topic: str, count: int, timeout_s: float = 3.0
) -> list[MessageExt]:
    """The queue-0 messages of ``topic`` once there are ``count`` of them."""
    deadline = time.monotonic() + timeout_s
    while True:
        messages = await pull_all(client, cluster, topic)
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        await asyncio.sleep(0.05)


async def max_offset(client: RemotingClient, cluster: LocalCluster, topic: str, qid: int) -> int:
    response = await client.invoke(
        cluster.broker_addr,
        request(RequestCode.GET_MAX_OFFSET, {"topic": topic, "queueId": str(qid)}),
    )
    assert response.code == ResponseCode.SUCCESS, response.remark
    return int(response.ext("offset") or "-1")


# --------------------------------------------------------------------------- delay


async def test_delayed_message_is_delivered_when_due_and_survives_a_restart(
    cluster: LocalCluster, client: RemotingClient, schedule: ScheduleMessageService
) -> None:
    topic = "DelayTopic"
    start = time.monotonic()
    await invoke_ok(client, cluster, send(topic, b"first", "U-1", delay=2))
    await asyncio.sleep(1.5)
    assert await max_offset(client, cluster, topic, 0) == 0  # parked, not readable yet
    [first] = await wait_for(client, cluster, topic, 1)
    assert 1.9 <= time.monotonic() - start <= 3.0
    assert (first.topic, first.queue_id, first.body) == (topic, 0, b"first")
    props = first.properties
    assert (props["UNIQ_KEY"], props["REAL_TOPIC"], props["REAL_QID"]) == ("U-1", topic, "0")
    # As 4.9.8: the parked record's properties string (the commitlog rebuilt it from the map,
    # WAIT included) is stored again, DELAY still in it.
    assert (props["DELAY"], props["WAIT"]) == ("2", "true")
    assert schedule.offset_table == {2: 1}

    # A second message is parked, then the service stops before it is due: offsets persist.
    await invoke_ok(client, cluster, send(topic, b"second", "U-2", delay=2))
    await schedule.stop()
    path = metadata_paths(cluster.broker.store_config).delay_offset
    assert DelayOffsetFile.load(path).offset_table == {2: 1}
    assert schedule.encode_offsets() == b'{"offsetTable":{2:1}}'

    restarted = await start_schedule(cluster.broker)
    try:
        assert restarted.offset_table == {2: 1}
        messages = await wait_for(client, cluster, topic, 2)
        assert [m.body for m in messages] == [b"first", b"second"]  # none lost, none twice
        assert restarted.offset_table == {2: 2}
    finally:
        await restarted.stop()
    assert DelayOffsetFile.load(path).offset_table == {2: 2}


# --------------------------------------------------------------------------- send back


async def consumed(
    client: RemotingClient, cluster: LocalCluster, topic: str, uniq_key: str
) -> MessageExt:
    await invoke_ok(client, cluster, send(topic, b"payload", uniq_key))
    [msg] = await wait_for(client, cluster, topic, 1)
    return msg


async def test_send_back_retries_with_delay_then_goes_to_the_dlq(
    cluster: LocalCluster, client: RemotingClient, schedule: ScheduleMessageService
) -> None:
    origin = await consumed(client, cluster, "RetrySource", "U-R")
    start = time.monotonic()
    await invoke_ok(client, cluster, send_back(origin.commit_log_offset))
    assert await max_offset(client, cluster, RETRY, 0) == 0  # level 3: 1 s
    [retry] = await wait_for(client, cluster, RETRY, 1)
    assert time.monotonic() - start >= 0.9
    assert (retry.topic, retry.body, retry.reconsume_times) == (RETRY, b"payload", 1)
    props = retry.properties
    assert props["RETRY_TOPIC"] == "RetrySource"
    assert props["ORIGIN_MESSAGE_ID"] == origin.msg_id  # the offset msgId, as 4.9.8
    assert (props["UNIQ_KEY"], props["WAIT"], props["DELAY"]) == ("U-R", "false", "3")
    assert retry.born_timestamp == origin.born_timestamp

    await invoke_ok(client, cluster, send_back(retry.commit_log_offset))
    second = (await wait_for(client, cluster, RETRY, 2))[1]
    assert second.reconsume_times == 2
    assert second.properties["ORIGIN_MESSAGE_ID"] == origin.msg_id
    assert second.properties["RETRY_TOPIC"] == "RetrySource"

    # reconsumeTimes 2 reaches the header's maxReconsumeTimes 2: straight to the DLQ.
    await invoke_ok(client, cluster, send_back(second.commit_log_offset))
    [dead] = await wait_for(client, cluster, DLQ, 1, timeout_s=1.0)
    assert (dead.reconsume_times, dead.properties["DELAY"]) == (3, "0")
    assert dead.properties["RETRY_TOPIC"] == "RetrySource"
    dlq_config = cluster.broker.topic_config_manager.select(DLQ)
    assert dlq_config is not None
    assert (dlq_config.read_queue_nums, dlq_config.write_queue_nums, dlq_config.perm) == (1, 1, 6)


async def test_send_back_dlq_on_negative_level_and_refusals(
    cluster: LocalCluster, client: RemotingClient
) -> None:
    origin = await consumed(client, cluster, "DlqSource", "U-D")
    await invoke_ok(client, cluster, send_back(origin.commit_log_offset, delay_level=-1))
    [dead] = await wait_for(client, cluster, DLQ, 1, timeout_s=1.0)
    assert (dead.reconsume_times, dead.properties["RETRY_TOPIC"]) == (1, "DlqSource")

    # Before V3_4_9 the header's max is ignored: the group's 16 applies, so a retry (level 3).
    old = send_back(origin.commit_log_offset, max_times=0)
    old.version = 120
    await invoke_ok(client, cluster, old)
    assert await max_offset(client, cluster, "SCHEDULE_TOPIC_XXXX", 2) == 1
    assert len(await pull_all(client, cluster, DLQ)) == 1

    addr = cluster.broker_addr
    unknown = await client.invoke(addr, send_back(10**12))
    assert unknown.code == ResponseCode.SYSTEM_ERROR
    assert unknown.remark == f"look message by offset failed, {10**12}"

    groups = cluster.broker.subscription_group_manager
    groups.update_subscription_group_config(SubscriptionGroupConfig("NoRetry", retry_queue_nums=0))
    no_retry = send_back(origin.commit_log_offset)
    assert no_retry.ext_fields is not None
    no_retry.ext_fields["group"] = "NoRetry"
    assert (await client.invoke(addr, no_retry)).code == ResponseCode.SUCCESS  # dropped
    assert cluster.broker.topic_config_manager.select("%RETRY%NoRetry") is None

    cluster.broker.broker_config.auto_create_subscription_group = False
    no_retry.ext_fields["group"] = "NoSuchGroup"
    missing = await client.invoke(addr, no_retry)
    assert missing.code == ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST
