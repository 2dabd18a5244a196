"""Sending a failed message back for a later retry: CONSUMER_SEND_MSG_BACK, else a re-send.

Owns the consumer side of retries (protocol.md §6.6): CONSUMER_SEND_MSG_BACK to the master of
the broker the message came from (commitlog offset, delay level, max reconsume times, origin
msgId and topic); when that fails (old broker: REQUEST_CODE_NOT_SUPPORTED; no master; network)
the client re-publishes the message itself to ``%RETRY%<group>`` through its internal producer,
with RETRY_TOPIC, ORIGIN_MESSAGE_ID, RECONSUME_TIME, MAX_RECONSUME_TIMES and DELAY = 3 +
reconsumeTimes — the broker's send path turns DELAY into the schedule topic and moves a
message past its max to ``%DLQ%<group>``. Mirrors ``DefaultMQPushConsumerImpl.sendMessageBack``
and ``ConsumeMessageOrderlyService.sendMessageBack``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from pyrmq.client.api import ClientAPI
from pyrmq.client.errors import MQClientError
from pyrmq.client.sending import SendResult
from pyrmq.common.message import (
    PROPERTY_DELAY_TIME_LEVEL,
    PROPERTY_MAX_RECONSUME_TIMES,
    PROPERTY_ORIGIN_MESSAGE_ID,
    PROPERTY_RECONSUME_TIME,
    PROPERTY_RETRY_TOPIC,
    PROPERTY_TRANSACTION_PREPARED,
    Message,
    MessageExt,
)
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.errors import RemotingError
from pyrmq.remoting.headers import ConsumerSendMsgBackRequestHeader

__all__ = [
    "CONCURRENT_DEFAULT_MAX_RECONSUME_TIMES",
    "MessageSender",
    "SendBackService",
    "build_retry_message",
]

log = logging.getLogger(__name__)

#: ``maxReconsumeTimes = -1`` means 16 for concurrent consumers (Integer.MAX_VALUE orderly).
CONCURRENT_DEFAULT_MAX_RECONSUME_TIMES = 16
#: Timeout of CONSUMER_SEND_MSG_BACK (Java: 5000 ms).
SEND_BACK_TIMEOUT_S = 5.0

#: (topic, broker name) -> that broker's master address, fetching the route if needed.
FindMaster = Callable[[str, str], Awaitable[str | None]]


class MessageSender(Protocol):
    """What the fallback needs from a producer."""

    async def send(self, msg: Message, timeout_s: float | None = None) -> SendResult: ...


def _retry_topic(group: str) -> str:
    return f"%RETRY%{group}"


def build_retry_message(
    msg: MessageExt, group: str, max_reconsume_times: int, reconsume_times: int
) -> Message:
    """The message a client re-publishes to ``%RETRY%<group>`` itself. ``msg.topic`` must be
    the original topic (the listener saw it so); ``reconsume_times`` is what the copy carries
    (concurrent: one more than ``msg``'s, orderly: the same, as Java)."""
    props = dict(msg.properties)
    origin = props.get(PROPERTY_ORIGIN_MESSAGE_ID)
    if not origin or not origin.strip():
        # MessageClientExt.getMsgId: the client msgId, else the offset msgId.
        props[PROPERTY_ORIGIN_MESSAGE_ID] = msg.uniq_key or msg.msg_id
    props[PROPERTY_RETRY_TOPIC] = msg.topic
    props[PROPERTY_RECONSUME_TIME] = str(reconsume_times)
    props[PROPERTY_MAX_RECONSUME_TIMES] = str(max_reconsume_times)
    props.pop(PROPERTY_TRANSACTION_PREPARED, None)
    props[PROPERTY_DELAY_TIME_LEVEL] = str(3 + msg.reconsume_times)
    return Message(_retry_topic(group), msg.body, msg.flag, props)


class SendBackService:
    """Sends failed messages back for one consumer group."""

    def __init__(
        self,
        group: str,
        api: ClientAPI,
        find_master: FindMaster,
        producer: MessageSender,
        max_reconsume_times: int,
    ) -> None:
        self.group = group
        self._api = api
        self._find_master = find_master
        self._producer = producer
        self.max_reconsume_times = max_reconsume_times

    async def send_back(self, msg: MessageExt, mq: MessageQueue, delay_level: int = 0) -> bool:
        """Concurrent consumption: have the broker of ``mq`` schedule a retry of ``msg`` (or
        re-send it ourselves); False when both failed (the caller retries locally)."""
        try:
            await self._consumer_send_msg_back(msg, mq, delay_level)
            return True
        except (RemotingError, MQClientError) as exc:
            log.warning(
                "[%s] CONSUMER_SEND_MSG_BACK of %s failed (%s): re-sending it to the retry topic",
                self.group,
                msg.uniq_key or msg.msg_id,
                exc,
            )
        return await self.resend(msg, msg.reconsume_times + 1)

    async def resend(self, msg: MessageExt, reconsume_times: int) -> bool:
        """Publish a retry copy of ``msg`` to ``%RETRY%<group>``; False if that failed."""
        copy = build_retry_message(msg, self.group, self.max_reconsume_times, reconsume_times)
        try:
            await self._producer.send(copy)
            return True
        except (RemotingError, MQClientError) as exc:
            log.error(
                "[%s] re-sending %s to %s failed: %s",
                self.group,
                msg.uniq_key or msg.msg_id,
                copy.topic,
                exc,
            )
            return False

    async def _consumer_send_msg_back(
        self, msg: MessageExt, mq: MessageQueue, delay_level: int
    ) -> None:
        addr = await self._find_master(mq.topic, mq.broker_name)
        if addr is None:
            raise MQClientError(f"no master of {mq.broker_name} for a send-back")
        header = ConsumerSendMsgBackRequestHeader(
            offset=msg.commit_log_offset,
            group=self.group,
            delay_level=delay_level,
            origin_msg_id=msg.uniq_key or msg.msg_id,
            origin_topic=msg.topic,
            unit_mode=False,
            max_reconsume_times=self.max_reconsume_times,
        )
        await self._api.consumer_send_msg_back(addr, header, SEND_BACK_TIMEOUT_S)
