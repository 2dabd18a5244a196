"""CONSUMER_SEND_MSG_BACK (36): a consumer's failed message goes to its retry topic or its DLQ.

Mirrors 4.9.8 ``SendMessageProcessor.asyncConsumerSendMsgBack`` (protocol.md §3.3, §6.6): the
group's config (auto-created when allowed; ``retryQueueNums`` ≤ 0 drops the message with
SUCCESS), ``%RETRY%<group>`` created on demand, the message looked up by its commitlog offset,
and a copy put into a random retry queue with DELAY = the requested level (0: 3 +
reconsumeTimes) — or into ``%DLQ%<group>`` queue 0 with DELAY=0 once reconsumeTimes reaches the
max (the header's from request version V3_4_9 on, else the group's ``retryMaxTimes``) or when
the requested level is negative. The copy keeps body, flag, sysFlag, born data, store host and
properties, adds RETRY_TOPIC (the first topic), WAIT=false and ORIGIN_MESSAGE_ID (kept if
present, else the record's offset msgId — 4.9.8 does not use the header's ``originMsgId``), and
counts one more reconsume.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

from pyrmq.broker.processors.send import DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX
from pyrmq.broker.schedule import look_message
from pyrmq.common.constants import PERM_READ, PERM_WRITE, TOPIC_SYS_FLAG_UNIT_SUB
from pyrmq.common.message import (
    PROPERTY_DELAY_TIME_LEVEL,
    PROPERTY_ORIGIN_MESSAGE_ID,
    PROPERTY_RETRY_TOPIC,
    PROPERTY_WAIT_STORE_MSG_OK,
    MessageExt,
    properties_to_string,
)
from pyrmq.remoting.codes import VERSION_V3_4_9, RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.headers import ConsumerSendMsgBackRequestHeader, from_ext_fields
from pyrmq.store.commitlog import MessageExtBrokerInner
from pyrmq.store.metadata import SubscriptionGroupConfig

if TYPE_CHECKING:
    from pyrmq.broker.controller import BrokerController

log = logging.getLogger(__name__)

#: MixAll.DLQ_NUMS_PER_GROUP.
DLQ_NUMS_PER_GROUP = 1
FAQ_SUFFIX = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."


def _origin_message_id(msg: MessageExt) -> str:
    """ORIGIN_MESSAGE_ID unless blank (``UtilAll.isBlank``), else the record's offset msgId."""
    existing = msg.properties.get(PROPERTY_ORIGIN_MESSAGE_ID)
    return existing if existing and existing.strip() else msg.msg_id


class SendBackProcessor:
    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker

    def handlers(self) -> dict[int, object]:
        return {RequestCode.CONSUMER_SEND_MSG_BACK: self.process}

    async def process(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(ConsumerSendMsgBackRequestHeader, req.ext_fields)
        group = self.broker.subscription_group_manager.find_subscription_group_config(header.group)
        if group is None:
            return req.response(
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group not exist, {header.group} {FAQ_SUFFIX}",
            )
        refused = self._refuse_write(header, group)
        if refused is not None:
            return req.response(*refused)
        if group.retry_queue_nums <= 0:
            return req.response(ResponseCode.SUCCESS)  # retries disabled: dropped
        msg = look_message(self.broker.message_store, header.offset)
        if msg is None:
            return req.response(
                ResponseCode.SYSTEM_ERROR, f"look message by offset failed, {header.offset}"
            )
        inner = self._copy(msg, self._destination(req, header, group, msg))
        result = await self.broker.message_store.put_message(inner)
        if result.ok:
            return req.response(ResponseCode.SUCCESS)
        log.warning("send back of %s to %s failed: %s", msg.msg_id, inner.topic, result.status)
        return req.response(ResponseCode.SYSTEM_ERROR, result.status.name)

    def _refuse_write(
        self, header: ConsumerSendMsgBackRequestHeader, group: SubscriptionGroupConfig
    ) -> tuple[int, str] | None:
        """NO_PERMISSION when the broker or the retry topic is not writable (which creates
        ``%RETRY%<group>`` when the group retries at all, as Java)."""
        config = self.broker.broker_config
        if not config.broker_permission & PERM_WRITE:
            return ResponseCode.NO_PERMISSION, (
                f"the broker[{config.broker_i_p1}] sending message is forbidden"
            )
        if group.retry_queue_nums <= 0:
            return None
        topic = RETRY_GROUP_TOPIC_PREFIX + header.group
        topic_config = self.broker.topic_config_manager.create_topic_in_send_message_back_method(
            topic,
            group.retry_queue_nums,
            PERM_READ | PERM_WRITE,
            TOPIC_SYS_FLAG_UNIT_SUB if header.unit_mode else 0,
        )
        if not topic_config.perm & PERM_WRITE:
            return ResponseCode.NO_PERMISSION, f"the topic[{topic}] sending message is forbidden"
        return None

    def _destination(
        self,
        req: RemotingCommand,
        header: ConsumerSendMsgBackRequestHeader,
        group: SubscriptionGroupConfig,
        msg: MessageExt,
    ) -> tuple[str, int, int]:
        """(topic, queue id, DELAY level): a random retry queue, or the DLQ with level 0."""
        max_times = group.retry_max_times
        if req.version >= VERSION_V3_4_9 and header.max_reconsume_times is not None:
            max_times = header.max_reconsume_times
        if msg.reconsume_times >= max_times or header.delay_level < 0:
            dlq = DLQ_GROUP_TOPIC_PREFIX + header.group
            self.broker.topic_config_manager.create_topic_in_send_message_back_method(
                dlq, DLQ_NUMS_PER_GROUP, PERM_READ | PERM_WRITE, 0
            )
            return dlq, random.randrange(DLQ_NUMS_PER_GROUP), 0
        level = header.delay_level or (3 + msg.reconsume_times)
        topic = RETRY_GROUP_TOPIC_PREFIX + header.group
        return topic, random.randrange(group.retry_queue_nums), level

    def _copy(self, msg: MessageExt, destination: tuple[str, int, int]) -> MessageExtBrokerInner:
        """The message to store, its properties updated in Java's order."""
        topic, queue_id, level = destination
        properties = msg.properties  # a fresh dict from the decoder
        properties.setdefault(PROPERTY_RETRY_TOPIC, msg.topic)
        properties[PROPERTY_WAIT_STORE_MSG_OK] = "false"
        properties[PROPERTY_DELAY_TIME_LEVEL] = str(level)
        properties[PROPERTY_ORIGIN_MESSAGE_ID] = _origin_message_id(msg)
        return MessageExtBrokerInner(
            topic=topic,
            queue_id=queue_id,
            body=msg.body,
            flag=msg.flag,
            properties=properties,
            properties_string=properties_to_string(properties),
            sys_flag=msg.sys_flag,
            born_timestamp=msg.born_timestamp,
            born_host=msg.born_host,
            store_host=msg.store_host,
            reconsume_times=msg.reconsume_times + 1,
        )
