"""The pure parts of a send: validation, compression, the V2 header, the result.

Owns what a producer computes before and after the network (protocol.md §3.2, §4.6, §4.9,
§6.2): message checks (``Validators.checkMessage``), the body as sent (ZLIB over the threshold,
sysFlag bits), the ``SendMessageRequestHeaderV2`` for a queue, the batch body, and the mapping
of a send response to ``SendResult``. Mirrors those pieces of ``DefaultMQProducerImpl.
sendKernelImpl`` and ``MQClientAPIImpl.processSendResponse``. Pure: no I/O, time passed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from pyrmq.client.api import SendResponse
from pyrmq.client.errors import MQClientError
from pyrmq.common.message import (
    PROPERTY_DELAY_TIME_LEVEL,
    PROPERTY_MAX_RECONSUME_TIMES,
    PROPERTY_RECONSUME_TIME,
    PROPERTY_TRANSACTION_PREPARED,
    PROPERTY_WAIT_STORE_MSG_OK,
    TRANSACTION_PREPARED_TYPE,
    Message,
    mark_compressed,
    properties_to_string,
)
from pyrmq.common.message_codec import compress_body, encode_batch
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.codes import ResponseCode
from pyrmq.remoting.headers import SendMessageRequestHeaderV2

__all__ = [
    "NOT_ALLOWED_SEND_TOPICS",
    "RETRIABLE_SEND_CODES",
    "RETRY_GROUP_TOPIC_PREFIX",
    "PreparedSend",
    "SendResult",
    "SendStatus",
    "build_header",
    "check_message",
    "check_topic",
    "prepare_batch",
    "prepare_message",
    "send_result",
]

#: Broker codes after which a synchronous send tries another broker (4.9.x list, §2.2).
RETRIABLE_SEND_CODES = frozenset(
    {
        ResponseCode.TOPIC_NOT_EXIST,
        ResponseCode.SERVICE_NOT_AVAILABLE,
        ResponseCode.SYSTEM_ERROR,
        ResponseCode.NO_PERMISSION,
        ResponseCode.NO_BUYER_ID,
        ResponseCode.NOT_IN_CURRENT_UNIT,
    }
)
#: TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET.
NOT_ALLOWED_SEND_TOPICS = frozenset(
    {
        "SCHEDULE_TOPIC_XXXX",
        "RMQ_SYS_TRANS_HALF_TOPIC",
        "RMQ_SYS_TRANS_OP_HALF_TOPIC",
        "TRANS_CHECK_MAX_TIME_TOPIC",
        "SELF_TEST_TOPIC",
        "OFFSET_MOVED_EVENT",
    }
)
RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"
TOPIC_MAX_LENGTH = 127
_TOPIC_RE = re.compile(r"[%|a-zA-Z0-9_-]+\Z")


class SendStatus(Enum):
    """How the broker stored the message (``SendStatus``)."""

    SEND_OK = "SEND_OK"
    FLUSH_DISK_TIMEOUT = "FLUSH_DISK_TIMEOUT"
    FLUSH_SLAVE_TIMEOUT = "FLUSH_SLAVE_TIMEOUT"
    SLAVE_NOT_AVAILABLE = "SLAVE_NOT_AVAILABLE"


_STATUS_BY_CODE = {
    ResponseCode.SUCCESS: SendStatus.SEND_OK,
    ResponseCode.FLUSH_DISK_TIMEOUT: SendStatus.FLUSH_DISK_TIMEOUT,
    ResponseCode.FLUSH_SLAVE_TIMEOUT: SendStatus.FLUSH_SLAVE_TIMEOUT,
    ResponseCode.SLAVE_NOT_AVAILABLE: SendStatus.SLAVE_NOT_AVAILABLE,
}


@dataclass(slots=True, frozen=True)
class SendResult:
    """``SendResult``: ``msg_id`` is the UNIQ_KEY (batch: the keys joined with ``,``),
    ``offset_msg_id`` the broker's offset message id(s)."""

    send_status: SendStatus
    msg_id: str
    offset_msg_id: str
    message_queue: MessageQueue
    queue_offset: int
    region_id: str = "DefaultRegion"
    trace_on: bool = True
    transaction_id: str | None = None


@dataclass(slots=True, frozen=True)
class PreparedSend:
    """Everything of a send that does not depend on the queue chosen."""

    topic: str
    body: bytes
    sys_flag: int
    flag: int
    properties: str
    msg_id: str
    batch: bool = False
    reconsume_times: int = 0
    max_reconsume_times: int | None = None


def check_topic(topic: str) -> None:
    if not topic or not topic.strip():
        raise MQClientError("the specified topic is blank", ResponseCode.MESSAGE_ILLEGAL)
    if len(topic) > TOPIC_MAX_LENGTH:
        raise MQClientError(f"topic {topic!r} is longer than {TOPIC_MAX_LENGTH}")
    if not _TOPIC_RE.match(topic):
        raise MQClientError(f"topic {topic!r} has characters outside ^[%|a-zA-Z0-9_-]+$")
    if topic in NOT_ALLOWED_SEND_TOPICS:
        raise MQClientError(f"sending a message to topic {topic} is forbidden")


def check_message(msg: Message, max_message_size: int) -> None:
    check_topic(msg.topic)
    if not msg.body:
        raise MQClientError("the message body length is zero", ResponseCode.MESSAGE_ILLEGAL)
    if len(msg.body) > max_message_size:
        raise MQClientError(
            f"the message body size {len(msg.body)} is over {max_message_size}",
            ResponseCode.MESSAGE_ILLEGAL,
        )


def prepare_message(msg: Message, compress_over: int, compress_level: int = 5) -> PreparedSend:
    """The body (ZLIB-compressed at ``compress_over`` bytes or more), sysFlag and properties
    of one message; ``msg`` must already carry its UNIQ_KEY. ``msg`` itself is not changed."""
    body, sys_flag = msg.body, 0
    if len(body) >= compress_over:
        body, sys_flag = compress_body(body, compress_level), mark_compressed(0)
    if msg.properties.get(PROPERTY_TRANSACTION_PREPARED, "").lower() == "true":
        sys_flag |= TRANSACTION_PREPARED_TYPE
    props = dict(msg.properties)
    reconsume, max_reconsume = 0, None
    if msg.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
        # A client re-sending to %RETRY% carries the counts as properties; the header takes them.
        reconsume = int(props.pop(PROPERTY_RECONSUME_TIME, "0") or 0)
        if PROPERTY_MAX_RECONSUME_TIMES in props:
            max_reconsume = int(props.pop(PROPERTY_MAX_RECONSUME_TIMES))
    return PreparedSend(
        topic=msg.topic,
        body=body,
        sys_flag=sys_flag,
        flag=msg.flag,
        properties=properties_to_string(props) if props else "",
        msg_id=msg.uniq_key or "",
        reconsume_times=reconsume,
        max_reconsume_times=max_reconsume,
    )


def prepare_batch(msgs: Sequence[Message], max_message_size: int) -> PreparedSend:
    """A batch (``MessageBatch.generateFromList``): one topic, one WAIT value, no delay, no
    retry topic; entries keep their own properties (each must carry its UNIQ_KEY)."""
    if not msgs:
        raise MQClientError("the batch is empty")
    first = msgs[0]
    for msg in msgs:
        check_message(msg, max_message_size)
        if msg.topic != first.topic:
            raise MQClientError("every message of a batch must have the same topic")
        if msg.wait_store_msg_ok != first.wait_store_msg_ok:
            raise MQClientError("every message of a batch must have the same WAIT value")
        if msg.properties.get(PROPERTY_DELAY_TIME_LEVEL):
            raise MQClientError("delayed messages cannot be sent in a batch")
    if first.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
        raise MQClientError("retry-group messages cannot be sent in a batch")
    body = encode_batch(msgs)
    if len(body) > max_message_size:
        raise MQClientError(f"the batch of {len(body)} bytes is over {max_message_size}")
    wait = "true" if first.wait_store_msg_ok else "false"
    return PreparedSend(
        topic=first.topic,
        body=body,
        sys_flag=0,
        flag=0,
        properties=properties_to_string({PROPERTY_WAIT_STORE_MSG_OK: wait}),
        msg_id=",".join(msg.uniq_key or "" for msg in msgs),
        batch=True,
    )


def build_header(
    send: PreparedSend,
    group: str,
    mq: MessageQueue,
    born_timestamp: int,
    default_topic: str = "TBW102",
    default_topic_queue_nums: int = 4,
) -> SendMessageRequestHeaderV2:
    """The V2 header (one-letter keys a..n) for sending ``send`` to ``mq``."""
    return SendMessageRequestHeaderV2(
        a=group,
        b=send.topic,
        c=default_topic,
        d=default_topic_queue_nums,
        e=mq.queue_id,
        f=send.sys_flag,
        g=born_timestamp,
        h=send.flag,
        i=send.properties,
        j=send.reconsume_times,
        k=False,
        l=send.max_reconsume_times,
        m=send.batch,
        n=mq.broker_name,
    )


def send_result(response: SendResponse, send: PreparedSend, mq: MessageQueue) -> SendResult:
    """``processSendResponse``: the queue is the one the broker actually wrote."""
    header = response.header
    return SendResult(
        send_status=_STATUS_BY_CODE[ResponseCode(response.code)],
        msg_id=send.msg_id,
        offset_msg_id=header.msg_id,
        message_queue=MessageQueue(send.topic, mq.broker_name, header.queue_id),
        queue_offset=header.queue_offset,
        region_id=response.region_id,
        trace_on=response.trace_on,
        transaction_id=header.transaction_id,
    )
