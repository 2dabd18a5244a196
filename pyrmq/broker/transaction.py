"""Transactional messages on the broker: half messages, END_TRANSACTION, the check-back service.

Mirrors 4.9.8's ``TransactionalMessageBridge`` + ``TransactionalMessageServiceImpl`` (here
``TransactionalMessageService``), ``EndTransactionProcessor``, ``TransactionalMessageCheckService``
and ``DefaultTransactionalMessageCheckListener`` (protocol.md §3.3, §3.4, §6.8):

* a prepared send is stored as a *half message* in ``RMQ_SYS_TRANS_HALF_TOPIC`` queue 0 with its
  real topic and queue in ``REAL_TOPIC``/``REAL_QID`` and its transaction bits reset to NOT_TYPE,
  so it gets a normal queue offset there (``prepare_message``, ``prepare_and_put``);
* END_TRANSACTION finds the half message by commitlog offset, checks producer group, queue
  offset and commitlog offset, and on COMMIT re-stores it to its real topic and queue (COMMIT
  type, ``preparedTransactionOffset`` = the half message's commitlog offset); COMMIT and ROLLBACK
  then write an *op message* (``RMQ_SYS_TRANS_OP_HALF_TOPIC``, tag ``d``, body = the half
  message's queue offset) that marks it done;
* every ``transactionCheckInterval`` a master scans the half queue from the offset of group
  ``CID_RMQ_SYS_TRANS``, skips what op messages mark done, leaves alone what is younger than
  ``transactionTimeOut`` (or its ``CHECK_IMMUNITY_TIME_IN_SECONDS``), moves what was checked
  ``transactionCheckMax`` times to ``TRANS_CHECK_MAX_TIME_TOPIC``, and for the rest appends a copy
  with ``TRANSACTION_CHECK_TIMES`` + 1 to the half queue and sends CHECK_TRANSACTION_STATE about
  that copy to a producer of the message's group.

Differences from Java, on purpose:

* Op message bodies are written in the 4.9 form (the offset alone, no ``,``), which 4.9 and 5.x
  brokers both read; bodies holding several comma-separated offsets (5.x) are read too.
* The committed message's stored properties leave out REAL_TOPIC, REAL_QID and TRAN_MSG (as
  protocol.md §6.8 says). Java 4.9.8 clears them from the map only *after* computing the stored
  string, so its committed records still carry them.
* A DELAY property is dropped from a half message: the store would otherwise move it to
  ``SCHEDULE_TOPIC_XXXX`` and overwrite REAL_TOPIC (the Java client clears DELAY itself).
* Copies put back into the half queue keep the message's ``flag`` (Java's copy loses it).
* All op messages up to the op queue's end are read once per pass (Java reads 32 at a time as
  it goes), the consume queue of a missing half/op queue counts as empty, and the half topic is
  created by the first prepared send rather than by the first check.
* CHECK_TRANSACTION_STATE is written inline on the producer's connection (oneway: nothing to
  wait for) instead of through a thread pool; ``rejectTransactionMessage`` does not exist here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from pyrmq.broker.subscription_group import CID_SYS_RMQ_TRANS
from pyrmq.broker.topic_config import (
    RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC,
    RMQ_SYS_TRANS_HALF_TOPIC,
    RMQ_SYS_TRANS_OP_HALF_TOPIC,
)
from pyrmq.common.constants import PERM_READ, PERM_WRITE
from pyrmq.common.message import (
    PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS,
    PROPERTY_DELAY_TIME_LEVEL,
    PROPERTY_PRODUCER_GROUP,
    PROPERTY_REAL_QUEUE_ID,
    PROPERTY_REAL_TOPIC,
    PROPERTY_TAGS,
    PROPERTY_TRANSACTION_CHECK_TIMES,
    PROPERTY_TRANSACTION_PREPARED,
    PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET,
    PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
    PROPERTY_WAIT_STORE_MSG_OK,
    TRANSACTION_COMMIT_TYPE,
    TRANSACTION_NOT_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
    MessageExt,
    properties_to_string,
    reset_transaction_value,
)
from pyrmq.common.message_codec import decode_stored_message, encode_stored_message
from pyrmq.common.service import PeriodicTask
from pyrmq.remoting.codes import RequestCode, ResponseCode
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
from pyrmq.store.commitlog import MessageExtBrokerInner
from pyrmq.store.config import BrokerRole
from pyrmq.store.results import (
    GetMessageResult,
    GetMessageStatus,
    PutMessageResult,
    PutMessageStatus,
)

if TYPE_CHECKING:
    from pyrmq.broker.controller import BrokerController

__all__ = [
    "CHECK_GROUP",
    "REMOVE_TAG",
    "CheckTransactionStateRequestHeader",
    "EndTransactionProcessor",
    "EndTransactionRequestHeader",
    "TransactionalMessageCheckService",
    "TransactionalMessageService",
    "prepare_message",
]

log = logging.getLogger(__name__)

#: TransactionalMessageUtil.buildConsumerGroup: whose offsets track the half and op queues.
CHECK_GROUP: Final = CID_SYS_RMQ_TRANS
#: TransactionalMessageUtil.REMOVETAG: the tag of an op message marking a half message done.
REMOVE_TAG: Final = "d"
#: AbstractTransactionalMessageCheckListener.TCMT_QUEUE_NUMS.
CHECK_MAX_TIME_QUEUE_NUMS: Final = 1
#: MAX_PROCESS_TIME_LIMIT: one pass spends at most this long on one half queue.
MAX_PROCESS_TIME_MS: Final = 60_000
#: Op messages are read in batches of this many (Java's pullOpMsg).
OP_BATCH: Final = 32
#: A long pass yields to the event loop every this many half messages.
YIELD_EVERY: Final = 64
_PERM_RW: Final = PERM_READ | PERM_WRITE
#: Put statuses after which the message is stored (sendFinalMessage's "success" group).
_STORED: Final = frozenset(
    {
        PutMessageStatus.PUT_OK,
        PutMessageStatus.FLUSH_DISK_TIMEOUT,
        PutMessageStatus.FLUSH_SLAVE_TIMEOUT,
        PutMessageStatus.SLAVE_NOT_AVAILABLE,
    }
)
#: Get statuses that mean "nothing more in the queue yet" (the scan stops there).
_NO_NEW: Final = frozenset(
    {
        GetMessageStatus.NO_MESSAGE_IN_QUEUE,
        GetMessageStatus.OFFSET_OVERFLOW_ONE,
        GetMessageStatus.OFFSET_OVERFLOW_BADLY,
        GetMessageStatus.NO_MATCHED_LOGIC_QUEUE,
    }
)


# --------------------------------------------------------------------------- headers


_VALID_END_TYPES: Final = frozenset(
    {TRANSACTION_NOT_TYPE, TRANSACTION_COMMIT_TYPE, TRANSACTION_ROLLBACK_TYPE}
)


def parse_end_transaction_header(req: RemotingCommand) -> EndTransactionRequestHeader:
    """The header, with Java's ``checkFields``: an unknown commitOrRollback is refused."""
    header = from_ext_fields(EndTransactionRequestHeader, req.ext_fields)
    if header.commit_or_rollback not in _VALID_END_TYPES:
        raise HeaderError("commitOrRollback field wrong")
    return header


# --------------------------------------------------------------------------- message shapes


def prepare_message(msg: MessageExtBrokerInner) -> MessageExtBrokerInner:
    """``parseHalfMessageInner``: turn a prepared send into its half message (in place).

    The stored properties are recomputed from the map, so they hold WAIT again if the producer
    sent it, exactly as Java's do.
    """
    props = msg.properties
    props[PROPERTY_REAL_TOPIC] = msg.topic
    props[PROPERTY_REAL_QUEUE_ID] = str(msg.queue_id)
    # A delayed half message would be moved to SCHEDULE_TOPIC_XXXX with REAL_TOPIC overwritten.
    props.pop(PROPERTY_DELAY_TIME_LEVEL, None)
    msg.sys_flag = reset_transaction_value(msg.sys_flag, TRANSACTION_NOT_TYPE)
    msg.topic = RMQ_SYS_TRANS_HALF_TOPIC
    msg.queue_id = 0
    msg.properties_string = properties_to_string(props)
    return msg


def _inner_from(
    msg: MessageExt, topic: str, queue_id: int, props: dict[str, str]
) -> MessageExtBrokerInner:
    """A copy of a stored message for another put, storing ``props``."""
    return MessageExtBrokerInner(
        topic=topic,
        queue_id=queue_id,
        body=msg.body,
        flag=msg.flag,
        properties=props,
        properties_string=properties_to_string(props),
        sys_flag=msg.sys_flag,
        born_timestamp=msg.born_timestamp,
        born_host=msg.born_host,
        store_host=msg.store_host,
        reconsume_times=msg.reconsume_times,
    )


def _without_wait(inner: MessageExtBrokerInner) -> MessageExtBrokerInner:
    """setWaitStoreMsgOK(false) after the stored string is made: the put does not wait for
    the flush, and what is stored does not change."""
    inner.properties[PROPERTY_WAIT_STORE_MSG_OK] = "false"
    return inner


def renew_half_message(msg: MessageExt) -> MessageExtBrokerInner:
    """``renewHalfMessageInner``: the half message again, as a new record of the half queue."""
    return _without_wait(_inner_from(msg, msg.topic, msg.queue_id, dict(msg.properties)))


def renew_immunity_half_message(msg: MessageExt) -> MessageExtBrokerInner:
    """``renewImmunityHalfMessageInner``: the copy remembers the first half's queue offset."""
    props = dict(msg.properties)
    props.setdefault(PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET, str(msg.queue_offset))
    return _without_wait(_inner_from(msg, msg.topic, msg.queue_id, props))


def end_message_transaction(half: MessageExt) -> MessageExtBrokerInner:
    """``endMessageTransaction``: the committed message for the real topic and queue."""
    props = dict(half.properties)
    topic = props.pop(PROPERTY_REAL_TOPIC)
    queue_id = int(props.pop(PROPERTY_REAL_QUEUE_ID))
    props.pop(PROPERTY_TRANSACTION_PREPARED, None)
    inner = _inner_from(half, topic, queue_id, props)
    inner.sys_flag = reset_transaction_value(half.sys_flag, TRANSACTION_COMMIT_TYPE)
    inner.prepared_transaction_offset = half.commit_log_offset
    return inner


def check_max_message(msg: MessageExt) -> MessageExtBrokerInner:
    """``toMessageExtBrokerInner``: a half message checked too often, for the check-max topic."""
    inner = _inner_from(msg, RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC, 0, dict(msg.properties))
    return _without_wait(inner)


def parse_op_offsets(body: bytes) -> list[int] | None:
    """Half queue offsets in an op body: ``"5"`` (4.9) or ``"5,6,"`` (5.x); None if bad."""
    try:
        return [int(part) for part in body.decode().split(",") if part.strip()]
    except (UnicodeDecodeError, ValueError):
        return None


def _decode_records(result: GetMessageResult) -> list[MessageExt]:
    """The records of a store read as messages (bodies as stored); the views are released."""
    try:
        messages = []
        for view in result.messages:
            try:
                messages.append(decode_stored_message(view)[0])
            except ValueError as exc:
                log.warning("skipping an undecodable transaction record: %s", exc)
        return messages
    finally:
        result.release()


# --------------------------------------------------------------------------- service


class TransactionalMessageService:
    """Half and op messages in the store (``TransactionalMessageBridge`` + ``ServiceImpl``)."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker

    @property
    def _client_host(self) -> str:
        host, port = self.broker.store_host
        return f"{host}:{port}"

    def _ensure_topic(self, topic: str) -> None:
        self.broker.topic_config_manager.create_topic_in_send_message_back_method(
            topic, 1, _PERM_RW, 0
        )

    async def prepare_and_put(self, msg: MessageExtBrokerInner) -> PutMessageResult:
        """Store a prepared send as a half message (``asyncPrepareMessage``)."""
        self._ensure_topic(RMQ_SYS_TRANS_HALF_TOPIC)
        return await self.broker.message_store.put_message(prepare_message(msg))

    async def put(self, inner: MessageExtBrokerInner) -> PutMessageResult:
        return await self.broker.message_store.put_message(inner)

    def look_message_by_offset(self, commit_log_offset: int) -> MessageExt | None:
        """The stored message at a commitlog offset, None if there is none there."""
        if commit_log_offset < 0:
            return None
        view = self.broker.message_store.look_message_by_offset(commit_log_offset)
        if view is None:
            return None
        with view:
            try:
                return decode_stored_message(view)[0]
            except ValueError:
                return None

    def find_half_message(self, commit_log_offset: int) -> MessageExt | None:
        """``getHalfMessageByOffset``; only a record of the half topic counts."""
        msg = self.look_message_by_offset(commit_log_offset)
        if msg is None or msg.topic != RMQ_SYS_TRANS_HALF_TOPIC:
            return None
        return msg

    async def delete_prepare_message(self, half: MessageExt) -> bool:
        """Mark ``half`` done: an op message with tag ``d`` and its queue offset as body."""
        self._ensure_topic(RMQ_SYS_TRANS_OP_HALF_TOPIC)
        host = self.broker.store_host
        # Java's op Message carries TAGS and WAIT=true in its stored string.
        props = {PROPERTY_TAGS: REMOVE_TAG, PROPERTY_WAIT_STORE_MSG_OK: "true"}
        inner = MessageExtBrokerInner(
            topic=RMQ_SYS_TRANS_OP_HALF_TOPIC,
            queue_id=half.queue_id,
            body=str(half.queue_offset).encode(),
            properties=props,
            properties_string=properties_to_string(props),
            born_timestamp=self.broker.clock.now_ms(),
            born_host=host,
            store_host=host,
        )
        result = await self.put(_without_wait(inner))
        if not result.ok:
            log.error("op message for half offset %d not written: %s", half.queue_offset, result)
        return result.ok

    # ------------------------------------------------------------------ reads for the check

    def fetch_consume_offset(self, topic: str, queue_id: int) -> int:
        """CID_RMQ_SYS_TRANS's offset on the queue, else the queue's min (0 when absent)."""
        offset = self.broker.consumer_offset_manager.query_offset(CHECK_GROUP, topic, queue_id)
        if offset < 0:
            offset = max(self.broker.message_store.get_min_offset_in_queue(topic, queue_id), 0)
        return offset

    def update_consume_offset(self, topic: str, queue_id: int, offset: int) -> None:
        self.broker.consumer_offset_manager.commit_offset(
            self._client_host, CHECK_GROUP, topic, queue_id, offset
        )

    def get_messages(
        self, topic: str, queue_id: int, offset: int, nums: int
    ) -> tuple[GetMessageStatus, int, list[MessageExt]]:
        """(status, next begin offset, messages) of a read of the half or op queue."""
        result = self.broker.message_store.get_message(CHECK_GROUP, topic, queue_id, offset, nums)
        if result is None:  # the store is shut down
            return GetMessageStatus.NO_MESSAGE_IN_QUEUE, offset, []
        return result.status, result.next_begin_offset, _decode_records(result)


# --------------------------------------------------------------------------- END_TRANSACTION


class EndTransactionProcessor:
    """END_TRANSACTION (37): commit or roll back a half message (``EndTransactionProcessor``)."""

    def __init__(self, broker: BrokerController, service: TransactionalMessageService) -> None:
        self.broker = broker
        self.service = service

    def handlers(self) -> dict[int, object]:
        return {RequestCode.END_TRANSACTION: self.process}

    async def process(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        """Producers send it oneway; a caller that waits gets the outcome."""
        header = parse_end_transaction_header(req)
        if self.broker.store_config.broker_role is BrokerRole.SLAVE:
            log.warning("end transaction refused: this broker is a slave")
            return req.response(ResponseCode.SLAVE_NOT_AVAILABLE)
        kind = header.commit_or_rollback
        if kind == TRANSACTION_NOT_TYPE:
            # Pending: nothing to do (Java answers nothing at all; the check will ask again).
            log.info("%s: transaction %s still unknown, remark %s", conn.peer, header, req.remark)
            return req.response(ResponseCode.SUCCESS)
        if kind == TRANSACTION_ROLLBACK_TYPE or header.from_transaction_check:
            log.info("%s: transaction %s ends (%d), remark %s", conn.peer, header, kind, req.remark)
        half = self.service.find_half_message(header.commit_log_offset)
        refused = _check_prepare_message(half, header)
        if refused is not None:
            return req.response(ResponseCode.SYSTEM_ERROR, refused)
        assert half is not None
        if kind == TRANSACTION_COMMIT_TYPE:
            code, remark = await self._commit(half)
            if code != ResponseCode.SUCCESS:
                return req.response(code, remark)
        await self.service.delete_prepare_message(half)
        return req.response(ResponseCode.SUCCESS)

    async def _commit(self, half: MessageExt) -> tuple[int, str | None]:
        """``sendFinalMessage``: store the committed message; (response code, remark)."""
        try:
            inner = end_message_transaction(half)
        except (KeyError, ValueError):
            return ResponseCode.SYSTEM_ERROR, "the half message has no valid REAL_TOPIC/REAL_QID"
        result = await self.service.put(inner)
        if result.status in _STORED:
            return ResponseCode.SUCCESS, None
        return _FINAL_MESSAGE_ERRORS.get(
            result.status, (ResponseCode.SYSTEM_ERROR, "UNKNOWN_ERROR DEFAULT")
        )


_FINAL_MESSAGE_ERRORS: Final[dict[PutMessageStatus, tuple[int, str | None]]] = {
    PutMessageStatus.CREATE_MAPEDFILE_FAILED: (
        ResponseCode.SYSTEM_ERROR,
        "Create mapped file failed.",
    ),
    PutMessageStatus.MESSAGE_ILLEGAL: (
        ResponseCode.MESSAGE_ILLEGAL,
        "The message is illegal, maybe msg body or properties length not matched.",
    ),
    PutMessageStatus.PROPERTIES_SIZE_EXCEEDED: (
        ResponseCode.MESSAGE_ILLEGAL,
        "The message is illegal, maybe msg body or properties length not matched.",
    ),
    PutMessageStatus.SERVICE_NOT_AVAILABLE: (
        ResponseCode.SERVICE_NOT_AVAILABLE,
        "Service not available now.",
    ),
    PutMessageStatus.OS_PAGECACHE_BUSY: (
        ResponseCode.SYSTEM_ERROR,
        "OS page cache busy, please try another machine",
    ),
    PutMessageStatus.UNKNOWN_ERROR: (ResponseCode.SYSTEM_ERROR, "UNKNOWN_ERROR"),
}


def _check_prepare_message(
    half: MessageExt | None, header: EndTransactionRequestHeader
) -> str | None:
    """``checkPrepareMessage``: the SYSTEM_ERROR remark, or None when the request matches."""
    if half is None:
        return "Find prepared transaction message failed"
    if half.properties.get(PROPERTY_PRODUCER_GROUP) != header.producer_group:
        return "The producer group wrong"
    if half.queue_offset != header.tran_state_table_offset:
        return "The transaction state table offset wrong"
    if half.commit_log_offset != header.commit_log_offset:
        return "The commit log offset wrong"
    return None


# --------------------------------------------------------------------------- check service


@dataclass(slots=True)
class _OpState:
    """What the op queue says during one pass over one half queue."""

    #: half queue offset -> op queue offset of the op message that marks it done.
    remove_map: dict[int, int] = field(default_factory=dict)
    #: op queue offsets fully accounted for (the op consume offset may move past them).
    done: set[int] = field(default_factory=set)
    #: op queue offset -> how many of its half offsets are still in ``remove_map``.
    pending: dict[int, int] = field(default_factory=dict)

    def add(self, op_offset: int, half_offsets: list[int] | None, min_half: int) -> None:
        live = [o for o in half_offsets or [] if o >= min_half]
        if not live:
            self.done.add(op_offset)  # about half messages already passed, or unreadable
            return
        self.pending[op_offset] = len(live)
        for half_offset in live:
            self.remove_map[half_offset] = op_offset

    def take(self, half_offset: int) -> bool:
        """True (and the op accounted for) if an op message marks ``half_offset`` done."""
        op_offset = self.remove_map.pop(half_offset, None)
        if op_offset is None:
            return False
        left = self.pending.get(op_offset, 1) - 1
        self.pending[op_offset] = left
        if left <= 0:
            self.done.add(op_offset)
        return True

    def next_op_offset(self, op_offset: int) -> int:
        """``calculateOpOffset``: past the done op offsets contiguous from ``op_offset``."""
        while op_offset in self.done:
            op_offset += 1
        return op_offset


class TransactionalMessageCheckService:
    """Every ``transactionCheckInterval`` on a master: check back undecided half messages."""

    def __init__(self, broker: BrokerController, service: TransactionalMessageService) -> None:
        self.broker = broker
        self.service = service
        self._task: PeriodicTask | None = None

    def start(self) -> None:
        interval_s = self.broker.broker_config.transaction_check_interval / 1000
        self._task = PeriodicTask("transaction-check", self.check, interval_s, interval_s)
        self._task.start()

    async def stop(self) -> None:
        if self._task is not None:
            await self._task.stop()
            self._task = None

    async def check(self) -> None:
        """One pass over every half queue (``TransactionalMessageServiceImpl.check``)."""
        if self.broker.store_config.broker_role is BrokerRole.SLAVE:
            return
        topic_config = self.broker.topic_config_manager.select(RMQ_SYS_TRANS_HALF_TOPIC)
        if topic_config is None:
            return  # no transactional message was ever sent here
        for queue_id in range(topic_config.read_queue_nums):
            await _HalfQueueCheck(self, queue_id).run()

    # ------------------------------------------------------------------ the listener's part

    async def resolve_half_message(self, msg: MessageExt) -> bool:
        """Put the half message back (its check count now counted) and ask its producer about
        the copy. False when the copy could not be stored (the pass stops there)."""
        result = await self.service.put(renew_half_message(msg))
        append = result.append
        if not result.ok or append is None:
            log.error("half message %s not put back: %s", msg.msg_id, result.status)
            return False
        copy = dataclasses.replace(
            msg,
            queue_offset=append.logics_offset,
            commit_log_offset=append.wrote_offset,
            msg_id=append.msg_id,
        )
        self.send_check_message(copy)
        return True

    def send_check_message(self, msg: MessageExt) -> None:
        """``sendCheckMessage``: CHECK_TRANSACTION_STATE, oneway, to a producer of PGROUP."""
        uniq_key = msg.properties.get(PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
        header = CheckTransactionStateRequestHeader(
            tran_state_table_offset=msg.queue_offset,
            commit_log_offset=msg.commit_log_offset,
            msg_id=uniq_key,
            transaction_id=uniq_key,
            offset_msg_id=msg.msg_id,
        )
        group = msg.properties.get(PROPERTY_PRODUCER_GROUP)
        channel = self.broker.producer_manager.get_available_channel(group)
        if not isinstance(channel, RemotingConnection):
            log.warning("check transaction failed, no channel of producer group %s", group)
            return
        try:
            real = dataclasses.replace(
                msg,
                topic=msg.properties[PROPERTY_REAL_TOPIC],
                queue_id=int(msg.properties[PROPERTY_REAL_QUEUE_ID]),
                store_size=0,
            )
            body = encode_stored_message(real)
            channel.oneway(
                request(RequestCode.CHECK_TRANSACTION_STATE, to_ext_fields(header), body)
            )
        except (KeyError, ValueError, RemotingError) as exc:
            log.error("check of half message %s not sent to %s: %s", msg.msg_id, group, exc)

    async def resolve_discard_message(self, msg: MessageExt) -> None:
        """Checked too often (or too old): move it to TRANS_CHECK_MAX_TIME_TOPIC."""
        log.error(
            "half message %s checked too many times, moving it to the check-max topic", msg.msg_id
        )
        self.broker.topic_config_manager.create_topic_of_tran_check_max_time(
            CHECK_MAX_TIME_QUEUE_NUMS, _PERM_RW
        )
        result = await self.service.put(check_max_message(msg))
        if not result.ok:
            log.error("half message %s not moved to the check-max topic: %s", msg.msg_id, result)


class _HalfQueueCheck:
    """One pass over one half queue and its op queue."""

    def __init__(self, owner: TransactionalMessageCheckService, queue_id: int) -> None:
        self.owner = owner
        self.service = owner.service
        self.queue_id = queue_id
        config = owner.broker.broker_config
        self.timeout_ms = config.transaction_time_out
        self.check_max = config.transaction_check_max
        self.reserved_ms = owner.broker.store_config.file_reserved_time * 3600 * 1000
        self.clock = owner.broker.clock
        self.start_ms = self.clock.now_ms()
        self.half_offset = self.service.fetch_consume_offset(RMQ_SYS_TRANS_HALF_TOPIC, queue_id)
        self.op_offset = self.service.fetch_consume_offset(RMQ_SYS_TRANS_OP_HALF_TOPIC, queue_id)
        self.ops = _OpState()

    async def run(self) -> None:
        self._read_ops()
        new_offset = await self._scan()
        if new_offset != self.half_offset:
            self.service.update_consume_offset(RMQ_SYS_TRANS_HALF_TOPIC, self.queue_id, new_offset)
        new_op_offset = self.ops.next_op_offset(self.op_offset)
        if new_op_offset != self.op_offset:
            self.service.update_consume_offset(
                RMQ_SYS_TRANS_OP_HALF_TOPIC, self.queue_id, new_op_offset
            )

    def _read_ops(self) -> None:
        """``fillOpRemoveMap``, up to the op queue's current end."""
        offset = self.op_offset
        while True:
            status, next_offset, msgs = self.service.get_messages(
                RMQ_SYS_TRANS_OP_HALF_TOPIC, self.queue_id, offset, OP_BATCH
            )
            for op in msgs:
                if op.properties.get(PROPERTY_TAGS) != REMOVE_TAG:
                    log.error("op message with an illegal tag at %d", op.queue_offset)
                    self.ops.done.add(op.queue_offset)
                    continue
                self.ops.add(op.queue_offset, parse_op_offsets(op.body), self.half_offset)
            if status is GetMessageStatus.OFFSET_TOO_SMALL and next_offset > offset:
                self.op_offset = next_offset  # the op messages there are gone: start after them
            elif status is not GetMessageStatus.FOUND or next_offset <= offset:
                return
            offset = next_offset

    async def _scan(self) -> int:
        """Walk the half queue; the offset the next pass starts from."""
        i = self.half_offset
        jumped = False
        scanned = 0
        while self.clock.now_ms() - self.start_ms <= MAX_PROCESS_TIME_MS:
            scanned += 1
            if scanned % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if self.ops.take(i):
                i += 1
                continue
            status, next_offset, msgs = self.service.get_messages(
                RMQ_SYS_TRANS_HALF_TOPIC, self.queue_id, i, 1
            )
            if not msgs:
                if status in _NO_NEW or jumped or next_offset <= i:
                    break
                jumped = True  # MAX_RETRY_COUNT_WHEN_HALF_NULL: one jump over a gap
                i = next_offset
                continue
            if not await self._handle(msgs[0]):
                break
            i += 1
        return i

    async def _handle(self, msg: MessageExt) -> bool:
        """One undecided half message; False to stop the pass here (check it later)."""
        if self._need_discard(msg) or self._need_skip(msg):
            await self.owner.resolve_discard_message(msg)
            return True
        if msg.store_timestamp >= self.start_ms:
            return False  # stored during this pass
        age_ms = self.clock.now_ms() - msg.born_timestamp
        immunity = msg.properties.get(PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS)
        immunity_ms = _immunity_ms(immunity, self.timeout_ms)
        if 0 <= age_ms < immunity_ms:
            if immunity is not None:
                return await self._check_prepare_queue_offset(msg)
            return False  # too young: the producer may still end it
        return await self.owner.resolve_half_message(msg)

    def _need_discard(self, msg: MessageExt) -> bool:
        """``needDiscard``: checked ``transactionCheckMax`` times already; else count this one."""
        text = msg.properties.get(PROPERTY_TRANSACTION_CHECK_TIMES)
        times = 1
        if text is not None:
            times = _parse_int(text, -1)
            if times >= self.check_max:
                return True
            times += 1
        msg.properties[PROPERTY_TRANSACTION_CHECK_TIMES] = str(times)
        return False

    def _need_skip(self, msg: MessageExt) -> bool:
        """``needSkip``: born longer ago than the commitlog keeps files."""
        return self.clock.now_ms() - msg.born_timestamp > self.reserved_ms

    async def _check_prepare_queue_offset(self, msg: MessageExt) -> bool:
        """``checkPrepareQueueOffset``: a message still immune is done if an op message marks
        its first half offset, else put back again to be looked at later."""
        text = msg.properties.get(PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET)
        if text is not None:
            prepared = _parse_int(text, -1)
            if prepared == -1:
                return False
            if self.ops.take(prepared):
                return True
        result = await self.service.put(renew_immunity_half_message(msg))
        return result.ok


def _parse_int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _immunity_ms(text: str | None, timeout_ms: int) -> int:
    """``getImmunityTime``: CHECK_IMMUNITY_TIME_IN_SECONDS in ms, else the timeout."""
    if text is None:
        return timeout_ms
    seconds = _parse_int(text, -1)
    return timeout_ms if seconds == -1 else seconds * 1000
