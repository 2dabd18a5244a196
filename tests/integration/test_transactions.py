"""Transactional messages end to end: TransactionProducer against an in-process broker.

Until the controller wires them itself (then its own parts are used), the broker parts
(``pyrmq.broker.transaction``) are wired onto a running ``local_cluster`` broker here:
END_TRANSACTION goes to an ``EndTransactionProcessor``; sends go to a second
``SendMessageProcessor`` whose view of the broker has a store that hands TRAN_MSG=true messages
to ``TransactionalMessageService.prepare_and_put`` (the send path's future branch); the check
service runs with a short interval. Committed messages are read back with PULL_MESSAGE, system
topics (op, check-max) straight from the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyrmq.broker.controller import BrokerController
from pyrmq.broker.topic_config import (
    RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC,
    RMQ_SYS_TRANS_HALF_TOPIC,
    RMQ_SYS_TRANS_OP_HALF_TOPIC,
)
from pyrmq.broker.transaction import (
    CHECK_GROUP,
    TransactionalMessageCheckService,
    TransactionalMessageService,
    parse_op_offsets,
    prepare_message,
)
from pyrmq.client import Message, MessageExt, Producer
from pyrmq.client.sending import SendStatus
from pyrmq.client.transaction import (
    LocalTransactionState,
    TransactionProducer,
)
from pyrmq.common.message import (
    COMPRESSED_FLAG,
    PROPERTY_PRODUCER_GROUP,
    PROPERTY_REAL_QUEUE_ID,
    PROPERTY_REAL_TOPIC,
    PROPERTY_TRANSACTION_CHECK_TIMES,
    PROPERTY_TRANSACTION_PREPARED,
    TRANSACTION_COMMIT_TYPE,
    TRANSACTION_NOT_TYPE,
    TRANSACTION_PREPARED_TYPE,
    get_transaction_value,
)
from pyrmq.common.message_codec import (
    decode_offset_msg_id,
    decode_stored_messages,
    decompress_body,
)
from pyrmq.remoting.client import RemotingClient
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand, request
from pyrmq.remoting.headers import (
    EndTransactionRequestHeader,
    PullMessageRequestHeader,
    to_ext_fields,
)
from pyrmq.store.commitlog import MessageExtBrokerInner
from pyrmq.store.config import BrokerRole
from tests.support.cluster import LocalCluster, local_cluster

TOPIC = "TxTopic"
GROUP = "tx-group"
#: Short check pace: passes every 300 ms, half messages older than 200 ms get checked.
FAST_CHECKS: dict[str, object] = {"transaction_check_interval": 300, "transaction_time_out": 200}
C = LocalTransactionState.COMMIT_MESSAGE
R = LocalTransactionState.ROLLBACK_MESSAGE
U = LocalTransactionState.UNKNOW


# --------------------------------------------------------------------------- cluster


@dataclass
class TxCluster:
    cluster: LocalCluster
    service: TransactionalMessageService
    checker: TransactionalMessageCheckService

    @property
    def broker(self) -> BrokerController:
        return self.cluster.broker


@asynccontextmanager
async def tx_cluster(root: Path, **overrides: object) -> AsyncIterator[TxCluster]:
    """A broker whose transaction check runs often (FAST_CHECKS), as the controller wires it."""
    async with local_cluster(root, broker_overrides={**FAST_CHECKS, **overrides}) as cluster:
        broker = cluster.broker
        yield TxCluster(
            cluster,
            broker.transactional_message_service,
            broker.transactional_message_check_service,
        )


# --------------------------------------------------------------------------- helpers


@dataclass
class Listener:
    """Answers from fixed states; remembers what it was asked. ``use_async`` answers with
    coroutines, to cover both listener styles."""

    execute: LocalTransactionState | None
    check: LocalTransactionState | None
    use_async: bool = False
    executed: list[tuple[Message, Any]] = field(default_factory=list)
    checked: list[MessageExt] = field(default_factory=list)

    def execute_local_transaction(self, msg: Message, arg: Any) -> Any:
        self.executed.append((msg, arg))
        return self._answer(self.execute)

    def check_local_transaction(self, msg: MessageExt) -> Any:
        self.checked.append(msg)
        return self._answer(self.check)

    def _answer(self, state: LocalTransactionState | None) -> Any:
        if not self.use_async:
            return state

        async def later() -> LocalTransactionState | None:
            await asyncio.sleep(0)
            return state

        return later()


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{condition.__name__} still false after {timeout_s} s")


def half_message(body: bytes) -> Message:
    """What a transactional send puts on the wire, for a plain producer to send."""
    msg = Message(TOPIC, body)
    msg.properties.update({PROPERTY_TRANSACTION_PREPARED: "true", PROPERTY_PRODUCER_GROUP: GROUP})
    return msg


def pull_request(topic: str, queue_id: int) -> RemotingCommand:
    header = PullMessageRequestHeader(
        "tx-reader", topic, queue_id, 0, 32, 0x4, 0, 0, 0, subscription="*"
    )
    return request(RequestCode.PULL_MESSAGE, to_ext_fields(header))


async def pulled(tx: TxCluster, client: RemotingClient, topic: str = TOPIC) -> list[MessageExt]:
    """Every message a consumer can pull from ``topic`` (all queues, from offset 0)."""
    config = tx.broker.topic_config_manager.select(topic)
    found: list[MessageExt] = []
    for queue_id in range(config.read_queue_nums if config else 0):
        response = await client.invoke(tx.cluster.broker_addr, pull_request(topic, queue_id))
        if response.code == ResponseCode.SUCCESS:
            found += decode_stored_messages(response.body or b"")
    return found


def stored(tx: TxCluster, topic: str, queue_id: int = 0) -> list[MessageExt]:
    """A system queue's messages, read from the store (after dispatch)."""
    result = tx.broker.message_store.get_message("test", topic, queue_id, 0, 64)
    if result is None or not result.messages:
        return []
    try:
        return decode_stored_messages(result.body())
    finally:
        result.release()


def check_offset(tx: TxCluster, topic: str) -> int:
    return tx.broker.consumer_offset_manager.query_offset(CHECK_GROUP, topic, 0)


@asynccontextmanager
async def transaction_producer(
    cluster: LocalCluster, listener: Listener
) -> AsyncIterator[TransactionProducer]:
    producer = TransactionProducer(GROUP, cluster.namesrv_addr, listener)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.shutdown()


@asynccontextmanager
async def reader() -> AsyncIterator[RemotingClient]:
    client = RemotingClient()
    try:
        yield client
    finally:
        await client.close()


# --------------------------------------------------------------------------- tests


def test_prepare_message_makes_a_half_message_and_op_bodies_parse() -> None:
    msg = MessageExtBrokerInner(
        topic="T",
        queue_id=3,
        body=b"x",
        properties={PROPERTY_TRANSACTION_PREPARED: "true", "DELAY": "3", "WAIT": "true"},
        properties_string="stale",
        sys_flag=TRANSACTION_PREPARED_TYPE | 0x1,
    )
    half = prepare_message(msg)
    assert (half.topic, half.queue_id) == (RMQ_SYS_TRANS_HALF_TOPIC, 0)
    assert half.sys_flag == 0x1  # transaction bits NOT_TYPE, the rest kept
    assert half.properties[PROPERTY_REAL_TOPIC] == "T"
    assert half.properties[PROPERTY_REAL_QUEUE_ID] == "3"
    assert "DELAY" not in half.properties
    assert half.properties_string is not None and "REAL_TOPIC\x01T" in half.properties_string
    assert parse_op_offsets(b"5") == [5]
    assert parse_op_offsets(b"5,6,") == [5, 6]
    assert parse_op_offsets(b"x") is None


async def test_commit_is_stored_in_the_real_topic(tmp_path: Path) -> None:
    async with tx_cluster(tmp_path) as tx, reader() as client:
        listener = Listener(execute=C, check=None)
        async with transaction_producer(tx.cluster, listener) as producer:
            result = await producer.send_message_in_transaction(
                Message(TOPIC, b"committed"), arg="my-arg"
            )
            assert result.send_status is SendStatus.SEND_OK
            assert result.local_transaction_state is C
            assert listener.executed[0][1] == "my-arg"

            async def visible() -> bool:
                return len(await pulled(tx, client)) == 1

            await wait_for(visible)
        (msg,) = await pulled(tx, client)
        _, _, half_offset = decode_offset_msg_id(result.offset_msg_id)
        assert msg.body == b"committed"
        assert msg.queue_id == result.message_queue.queue_id
        assert msg.uniq_key == result.msg_id
        assert get_transaction_value(msg.sys_flag) == TRANSACTION_COMMIT_TYPE
        assert msg.prepared_transaction_offset == half_offset
        assert msg.properties[PROPERTY_PRODUCER_GROUP] == GROUP
        for gone in (PROPERTY_REAL_TOPIC, PROPERTY_REAL_QUEUE_ID, PROPERTY_TRANSACTION_PREPARED):
            assert gone not in msg.properties
        (half,) = stored(tx, RMQ_SYS_TRANS_HALF_TOPIC)
        assert (half.commit_log_offset, half.queue_offset) == (half_offset, result.queue_offset)
        assert get_transaction_value(half.sys_flag) == TRANSACTION_NOT_TYPE
        (op,) = stored(tx, RMQ_SYS_TRANS_OP_HALF_TOPIC)
        assert (op.tags, op.body) == ("d", str(result.queue_offset).encode())
        assert listener.checked == []


async def test_rollback_is_never_visible_nor_checked(tmp_path: Path) -> None:
    async with tx_cluster(tmp_path) as tx, reader() as client:
        listener = Listener(execute=R, check=C, use_async=True)
        async with transaction_producer(tx.cluster, listener) as producer:
            result = await producer.send_message_in_transaction(Message(TOPIC, b"rolled back"))
            assert result.local_transaction_state is R

            async def op_written() -> bool:
                return len(stored(tx, RMQ_SYS_TRANS_OP_HALF_TOPIC)) == 1

            await wait_for(op_written)

            async def passed() -> bool:  # a pass went over the half message and its op
                return check_offset(tx, RMQ_SYS_TRANS_OP_HALF_TOPIC) == 1

            await wait_for(passed)
            await asyncio.sleep(0.4)  # one more pass
            assert listener.checked == []
        assert await pulled(tx, client) == []
        assert check_offset(tx, RMQ_SYS_TRANS_HALF_TOPIC) == 1


async def test_unknown_state_is_decided_by_the_check(tmp_path: Path) -> None:
    body = b"decided later " * 400  # over 4 KiB: sent, stored and checked compressed
    async with tx_cluster(tmp_path) as tx, reader() as client:
        listener = Listener(execute=U, check=C, use_async=True)
        async with transaction_producer(tx.cluster, listener) as producer:
            result = await producer.send_message_in_transaction(Message(TOPIC, body))
            assert result.local_transaction_state is U
            assert await pulled(tx, client) == []

            async def visible() -> bool:
                return len(await pulled(tx, client)) == 1

            await wait_for(visible)
            await asyncio.sleep(0.4)  # another pass must not check (nor commit) it again
        (committed,) = await pulled(tx, client)
        assert committed.sys_flag & COMPRESSED_FLAG
        assert decompress_body(committed.body, committed.sys_flag) == body
        (checked,) = listener.checked
        assert (checked.topic, checked.queue_id) == (TOPIC, result.message_queue.queue_id)
        assert (checked.body, checked.uniq_key) == (body, result.msg_id)
        assert checked.properties[PROPERTY_TRANSACTION_CHECK_TIMES] == "1"


async def test_a_new_producer_of_the_group_decides_for_a_dead_one(tmp_path: Path) -> None:
    async with tx_cluster(tmp_path) as tx, reader() as client:
        dead = Producer(GROUP, tx.cluster.namesrv_addr)
        await dead.start()
        sent = await dead.send(half_message(b"orphan"))  # the half message; nothing ever ends it
        assert sent.send_status is SendStatus.SEND_OK
        await dead.shutdown()
        listener = Listener(execute=None, check=C)
        async with transaction_producer(tx.cluster, listener) as heir:
            await heir.fetch_publish_queues(TOPIC)  # learns the broker, so it heartbeats it

            async def visible() -> bool:
                return len(await pulled(tx, client)) == 1

            await wait_for(visible)
        assert listener.executed == []
        assert [m.uniq_key for m in listener.checked] == [sent.msg_id]
        assert [m.body for m in await pulled(tx, client)] == [b"orphan"]


async def test_after_check_max_checks_the_message_is_discarded(tmp_path: Path) -> None:
    async with tx_cluster(tmp_path, transaction_check_max=2) as tx, reader() as client:
        listener = Listener(execute=U, check=U)
        async with transaction_producer(tx.cluster, listener) as producer:
            result = await producer.send_message_in_transaction(Message(TOPIC, b"undecided"))

            async def discarded() -> bool:
                return len(stored(tx, RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC)) == 1

            await wait_for(discarded)
        assert [m.uniq_key for m in listener.checked] == [result.msg_id] * 2
        assert [m.properties[PROPERTY_TRANSACTION_CHECK_TIMES] for m in listener.checked] == [
            "1",
            "2",
        ]
        (moved,) = stored(tx, RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC)
        assert moved.properties[PROPERTY_REAL_TOPIC] == TOPIC
        assert moved.properties[PROPERTY_TRANSACTION_CHECK_TIMES] == "2"
        assert await pulled(tx, client) == []


async def test_end_transaction_checks_the_half_message(tmp_path: Path) -> None:
    async with tx_cluster(tmp_path, transaction_check_interval=60_000) as tx, reader() as client:
        producer = Producer(GROUP, tx.cluster.namesrv_addr)
        await producer.start()
        sent = await producer.send(half_message(b"by hand"))
        await producer.shutdown()
        _, _, offset = decode_offset_msg_id(sent.offset_msg_id)
        addr = tx.cluster.broker_addr

        async def end(**changes: Any) -> RemotingCommand:
            fields: dict[str, Any] = {
                "producer_group": GROUP,
                "tran_state_table_offset": sent.queue_offset,
                "commit_log_offset": offset,
                "commit_or_rollback": TRANSACTION_COMMIT_TYPE,
                "msg_id": sent.msg_id,
                **changes,
            }
            header = EndTransactionRequestHeader(**fields)
            return await client.invoke(
                addr, request(RequestCode.END_TRANSACTION, to_ext_fields(header))
            )

        refusals = [
            (await end(producer_group="other"), "The producer group wrong"),
            (await end(tran_state_table_offset=7), "The transaction state table offset wrong"),
            (await end(commit_log_offset=10**9), "Find prepared transaction message failed"),
            (await end(commit_log_offset=-1), "Find prepared transaction message failed"),
            (await end(commit_or_rollback=5), "commitOrRollback field wrong"),
        ]
        for response, remark in refusals:
            assert (response.code, response.remark) == (ResponseCode.SYSTEM_ERROR, remark)
        assert (await end(commit_or_rollback=0)).code == ResponseCode.SUCCESS
        tx.broker.store_config.broker_role = BrokerRole.SLAVE
        try:
            assert (await end()).code == ResponseCode.SLAVE_NOT_AVAILABLE
        finally:
            tx.broker.store_config.broker_role = BrokerRole.ASYNC_MASTER
        assert stored(tx, RMQ_SYS_TRANS_OP_HALF_TOPIC) == []
        assert (await end(from_transaction_check=True)).code == ResponseCode.SUCCESS

        async def visible() -> bool:
            return [m.body for m in await pulled(tx, client)] == [b"by hand"]

        await wait_for(visible)
