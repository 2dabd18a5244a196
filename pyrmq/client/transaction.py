"""TransactionProducer: half message, local transaction, commit or rollback, and check-backs.

Mirrors ``TransactionMQProducer`` with ``DefaultMQProducerImpl.sendMessageInTransaction``,
``endTransaction`` and ``checkTransactionState`` plus ``ClientRemotingProcessor.
checkTransactionState`` (protocol.md §3.3, §3.4, §6.8):

* ``send_message_in_transaction`` drops DELAY, sends the message with ``TRAN_MSG=true`` and
  ``PGROUP=<group>`` (the send path then sets the PREPARED sysFlag bits), runs the listener's
  ``execute_local_transaction`` after SEND_OK (a flush/slave status means rollback; an exception
  leaves UNKNOW and goes into the remark), then sends END_TRANSACTION oneway to the master of the
  broker that stored the half message;
* CHECK_TRANSACTION_STATE from a broker is routed by the message's PGROUP to the transaction
  producer of that group on this client instance, which calls ``check_local_transaction`` and
  answers with END_TRANSACTION ``fromTransactionCheck=true``, sent to the store host of the
  half message's offset msgId (the broker that asked).

Unlike Java, a transaction producer heartbeats as soon as a route brings it a broker it has not
told about itself yet: a broker can only check back with producers it has a heartbeat from, and
Java's producer would otherwise wait up to 30 s for its periodic heartbeat. Checks run as tasks of
the producer (Java: a one-thread executor), so a slow check listener does not delay others.
Listener methods may be plain functions or coroutines.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from pyrmq.client.errors import MQClientError
from pyrmq.client.producer import Producer
from pyrmq.client.sending import SendResult, SendStatus, check_message
from pyrmq.common.constants import MASTER_ID
from pyrmq.common.message import (
    PROPERTY_DELAY_TIME_LEVEL,
    PROPERTY_PRODUCER_GROUP,
    PROPERTY_TRANSACTION_PREPARED,
    TRANSACTION_COMMIT_TYPE,
    TRANSACTION_NOT_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
    Message,
    MessageExt,
)
from pyrmq.common.message_codec import decode_offset_msg_id, decode_stored_message
from pyrmq.common.service import TaskGroup
from pyrmq.remoting.bodies import TopicRouteData
from pyrmq.remoting.codes import RequestCode
from pyrmq.remoting.command import RemotingCommand, request
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.errors import RemotingError
from pyrmq.remoting.headers import (
    CheckTransactionStateRequestHeader,
    EndTransactionRequestHeader,
    HeaderError,
    from_ext_fields,
    to_ext_fields,
)

__all__ = [
    "CheckTransactionStateRequestHeader",
    "EndTransactionRequestHeader",
    "LocalTransactionState",
    "TransactionListener",
    "TransactionProducer",
    "TransactionSendResult",
]

log = logging.getLogger(__name__)

#: The property 5.x brokers return the transaction id in (Java puts it on the message).
PROPERTY_TRANSACTION_ID = "__transactionId__"


class LocalTransactionState(enum.Enum):
    """What the local transaction decided (Java's spelling, UNKNOW included)."""

    COMMIT_MESSAGE = "COMMIT_MESSAGE"
    ROLLBACK_MESSAGE = "ROLLBACK_MESSAGE"
    UNKNOW = "UNKNOW"


_END_TYPE = {
    LocalTransactionState.COMMIT_MESSAGE: TRANSACTION_COMMIT_TYPE,
    LocalTransactionState.ROLLBACK_MESSAGE: TRANSACTION_ROLLBACK_TYPE,
    LocalTransactionState.UNKNOW: TRANSACTION_NOT_TYPE,
}

StateResult = LocalTransactionState | None | Awaitable[LocalTransactionState | None]


class TransactionListener(Protocol):
    """``TransactionListener``: each method returns a state or an awaitable of one."""

    def execute_local_transaction(self, msg: Message, arg: Any) -> StateResult: ...

    def check_local_transaction(self, msg: MessageExt) -> StateResult: ...


@dataclass(slots=True, frozen=True)
class TransactionSendResult(SendResult):
    """``TransactionSendResult``: the half message's send result plus the local decision."""

    local_transaction_state: LocalTransactionState = LocalTransactionState.UNKNOW


async def _decide(result: StateResult) -> LocalTransactionState:
    """A listener's answer; None (or anything that is not a state) counts as UNKNOW."""
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, LocalTransactionState):
        return result
    if result is not None:
        log.warning("transaction listener returned %r, taken as UNKNOW", result)
    return LocalTransactionState.UNKNOW


def _end_request(header: EndTransactionRequestHeader, remark: str | None) -> RemotingCommand:
    cmd = request(RequestCode.END_TRANSACTION, to_ext_fields(header), oneway=True)
    cmd.remark = remark
    return cmd


def _store_addr(offset_msg_id: str | None) -> str | None:
    """``host:port`` of the broker that stored a message, from its offset msgId."""
    if not offset_msg_id:
        return None
    try:
        host, port, _ = decode_offset_msg_id(offset_msg_id)
    except ValueError:
        return None
    return f"{host}:{port}"


class TransactionProducer(Producer):
    """``TransactionMQProducer``: a producer whose sends are two-phase.

    ``async with TransactionProducer("g", addr, listener) as p:
    await p.send_message_in_transaction(Message("T", b"x"), arg)``
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str,
        listener: TransactionListener,
        **producer_kwargs: Any,
    ) -> None:
        super().__init__(group, namesrv_addr, **producer_kwargs)
        self.listener = listener
        self._checks = TaskGroup(f"transaction-check-{group}")
        self._heartbeat_addrs: set[str] = set()
        self._closing = False

    async def start(self) -> None:
        # Before the instance starts: a check may arrive right after the first heartbeat.
        self.instance.register_request_handler(
            RequestCode.CHECK_TRANSACTION_STATE, _CheckDispatcher(self.instance.producers)
        )
        await super().start()

    async def shutdown(self) -> None:
        """Refuse new checks, let running ones answer (up to the send timeout), then stop."""
        self._closing = True
        await self._checks.wait(self.send_timeout_s)
        await self._checks.close()
        await super().shutdown()

    def update_publish_info(self, topic: str, route: TopicRouteData) -> None:
        super().update_publish_info(topic, route)
        masters = {
            addr
            for data in route.broker_datas
            if (addr := data.broker_addrs.get(MASTER_ID)) is not None
        }
        if masters - self._heartbeat_addrs and self.instance.started:
            self._heartbeat_addrs |= masters
            self.instance.request_heartbeat()

    # ------------------------------------------------------------------ sending

    async def send_message_in_transaction(
        self, msg: Message, arg: Any = None
    ) -> TransactionSendResult:
        """Send ``msg`` as a half message, run the local transaction, end the transaction."""
        msg.properties.pop(PROPERTY_DELAY_TIME_LEVEL, None)  # ignored, as in Java
        check_message(msg, self.max_message_size)
        msg.properties[PROPERTY_TRANSACTION_PREPARED] = "true"
        msg.properties[PROPERTY_PRODUCER_GROUP] = self.group
        try:
            result = await self.send(msg)
        except (MQClientError, RemotingError) as exc:
            raise MQClientError(f"send message in transaction failed: {exc}") from exc
        state, error = await self._execute_local(msg, arg, result)
        try:
            await self._end_transaction(result, state, error)
        except (MQClientError, RemotingError, ValueError) as exc:
            log.warning("local transaction %s but end transaction failed: %s", state.name, exc)
        fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        return TransactionSendResult(**fields, local_transaction_state=state)

    async def _execute_local(
        self, msg: Message, arg: Any, result: SendResult
    ) -> tuple[LocalTransactionState, BaseException | None]:
        """The local transaction, after SEND_OK only; (state, the exception it raised)."""
        if result.send_status is not SendStatus.SEND_OK:
            # Stored, but not safely (flush or slave): Java rolls back.
            return LocalTransactionState.ROLLBACK_MESSAGE, None
        if result.transaction_id is not None:
            msg.properties[PROPERTY_TRANSACTION_ID] = result.transaction_id
        try:
            state = await _decide(self.listener.execute_local_transaction(msg, arg))
        except Exception as exc:  # noqa: BLE001 - user code: its failure means "unknown"
            log.info("local transaction of %s failed: %r", msg.uniq_key, exc)
            return LocalTransactionState.UNKNOW, exc
        if state is not LocalTransactionState.COMMIT_MESSAGE:
            log.info("local transaction of %s: %s", msg.uniq_key, state.name)
        return state, None

    async def _end_transaction(
        self, result: SendResult, state: LocalTransactionState, error: BaseException | None
    ) -> None:
        """END_TRANSACTION oneway to the master of the broker that stored the half message."""
        _, _, commit_log_offset = decode_offset_msg_id(result.offset_msg_id or result.msg_id)
        broker_name = result.message_queue.broker_name
        addr = await self.instance.master_addr_or_refresh(result.message_queue.topic, broker_name)
        if addr is None:
            raise MQClientError(f"the broker {broker_name} has no master to end the transaction")
        header = EndTransactionRequestHeader(
            producer_group=self.group,
            tran_state_table_offset=result.queue_offset,
            commit_log_offset=commit_log_offset,
            commit_or_rollback=_END_TYPE[state],
            msg_id=result.msg_id,
            transaction_id=result.transaction_id,
            bname=broker_name,
        )
        remark = None if error is None else f"executeLocalTransactionBranch exception: {error!r}"
        await self.instance.remoting.oneway(addr, _end_request(header, remark))

    # ------------------------------------------------------------------ check-backs

    def check_transaction_state(
        self, addr: str, msg: MessageExt, header: CheckTransactionStateRequestHeader
    ) -> None:
        """A broker asks about a half message: answer in the background."""
        if self._closing or self._state != "running":
            log.debug("check of %s ignored: %s is shutting down", msg.uniq_key, self.group)
            return
        self._checks.spawn(self._answer_check(addr, msg, header), f"check-{msg.uniq_key}")

    async def _answer_check(
        self, addr: str, msg: MessageExt, header: CheckTransactionStateRequestHeader
    ) -> None:
        state, remark = LocalTransactionState.UNKNOW, None
        try:
            state = await _decide(self.listener.check_local_transaction(msg))
        except Exception as exc:  # noqa: BLE001 - user code: its failure means "unknown"
            log.error("check of local transaction %s failed: %r", msg.uniq_key, exc)
            remark = f"checkLocalTransactionState Exception: {exc!r}"
        if state is not LocalTransactionState.COMMIT_MESSAGE:
            log.warning("broker check of %s answered %s", msg.uniq_key, state.name)
        end = EndTransactionRequestHeader(
            producer_group=self.group,
            tran_state_table_offset=header.tran_state_table_offset,
            commit_log_offset=header.commit_log_offset,
            commit_or_rollback=_END_TYPE[state],
            msg_id=msg.uniq_key or msg.msg_id,
            from_transaction_check=True,
            transaction_id=header.transaction_id,
            bname=header.bname,
        )
        try:
            await self.instance.remoting.oneway(addr, _end_request(end, remark))
        except RemotingError as exc:
            log.error("end transaction of %s to %s failed: %s", msg.uniq_key, addr, exc)


class _CheckDispatcher:
    """The instance's CHECK_TRANSACTION_STATE handler: to the transaction producer of PGROUP."""

    def __init__(self, producers: dict[str, Any]) -> None:
        self._producers = producers

    def __call__(self, conn: RemotingConnection, cmd: RemotingCommand) -> None:
        try:
            header = from_ext_fields(CheckTransactionStateRequestHeader, cmd.ext_fields)
            msg, _ = decode_stored_message(cmd.body or b"", decompress=True)
        except (HeaderError, ValueError) as exc:
            log.warning("bad CHECK_TRANSACTION_STATE from %s: %s", conn.peer, exc)
            return
        group = msg.properties.get(PROPERTY_PRODUCER_GROUP)
        producer = self._producers.get(group) if group else None
        if not isinstance(producer, TransactionProducer):
            log.debug("CHECK_TRANSACTION_STATE for group %s: no transaction producer", group)
            return
        addr = _store_addr(header.offset_msg_id) or conn.peer
        producer.check_transaction_state(addr, msg, header)
