"""SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320): into the store.

Mirrors 4.9.8 ``SendMessageProcessor`` + ``AbstractSendMessageProcessor.msgCheck``
(protocol.md §3.2): topic checks and auto-creation from the template topic, random queue for a
negative queue id, retry topics past their max reconsume times go to the DLQ, the CLUSTER
property added and WAIT left out of the stored properties, the store status mapped to a response
code, and the send response header (msgId, queueId, queueOffset) plus MSG_REGION and TRACE_ON
on every answer. Whether a request is a batch follows its ``batch`` flag, as in Java: the cpp
clients' ``"1"`` is not ``true``, so their "batches" are stored as one message.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

from pyrmq.broker.topic_config import NOT_ALLOWED_SEND_TOPICS, validate_topic
from pyrmq.common.constants import PERM_READ, PERM_WRITE
from pyrmq.common.message import (
    PROPERTY_CLUSTER,
    PROPERTY_DELAY_TIME_LEVEL,
    PROPERTY_TRANSACTION_PREPARED,
    PROPERTY_WAIT_STORE_MSG_OK,
    properties_to_string,
    string_to_properties,
)
from pyrmq.remoting.codes import VERSION_V3_4_9, RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.headers import (
    SendMessageRequestHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
    from_ext_fields,
    to_ext_fields,
)
from pyrmq.store.commitlog import MessageExtBatch, MessageExtBrokerInner
from pyrmq.store.results import PutMessageResult, PutMessageStatus

if TYPE_CHECKING:
    from pyrmq.broker.controller import BrokerController

log = logging.getLogger(__name__)

RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"
DLQ_GROUP_TOPIC_PREFIX = "%DLQ%"
APPLY_TOPIC_FAQ = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."
SERVICE_NOT_AVAILABLE_REMARK = (
    "service not available now. It may be caused by one of the following reasons: the broker's "
    "disk is full, messages are put to the slave, message store has been shut down, etc."
)
MESSAGE_ILLEGAL_REMARK = (
    "the message is illegal, maybe msg body or properties length not matched. msg body length "
    "limit 128k, msg properties length limit 32k."
)

_STATUS_TO_CODE = {
    PutMessageStatus.PUT_OK: (ResponseCode.SUCCESS, None),
    PutMessageStatus.FLUSH_DISK_TIMEOUT: (ResponseCode.FLUSH_DISK_TIMEOUT, None),
    PutMessageStatus.FLUSH_SLAVE_TIMEOUT: (ResponseCode.FLUSH_SLAVE_TIMEOUT, None),
    PutMessageStatus.SLAVE_NOT_AVAILABLE: (ResponseCode.SLAVE_NOT_AVAILABLE, None),
    PutMessageStatus.SERVICE_NOT_AVAILABLE: (
        ResponseCode.SERVICE_NOT_AVAILABLE,
        SERVICE_NOT_AVAILABLE_REMARK,
    ),
    PutMessageStatus.CREATE_MAPEDFILE_FAILED: (
        ResponseCode.SYSTEM_ERROR,
        "create mapped file failed, server is busy or broken.",
    ),
    PutMessageStatus.MESSAGE_ILLEGAL: (ResponseCode.MESSAGE_ILLEGAL, MESSAGE_ILLEGAL_REMARK),
    PutMessageStatus.PROPERTIES_SIZE_EXCEEDED: (
        ResponseCode.MESSAGE_ILLEGAL,
        MESSAGE_ILLEGAL_REMARK,
    ),
    PutMessageStatus.OS_PAGECACHE_BUSY: (
        ResponseCode.SYSTEM_BUSY,
        "[PC_SYNCHRONIZED]broker busy, start flow control for a while",
    ),
    PutMessageStatus.UNKNOWN_ERROR: (ResponseCode.SYSTEM_ERROR, "UNKNOWN_ERROR"),
}


def parse_send_header(req: RemotingCommand) -> SendMessageRequestHeader:
    """V2 (one-letter) names for 310/320/325, V1 names otherwise."""
    if req.code in (
        RequestCode.SEND_MESSAGE_V2,
        RequestCode.SEND_BATCH_MESSAGE,
        RequestCode.SEND_REPLY_MESSAGE_V2,
    ):
        return SendMessageRequestHeader.from_v2(
            from_ext_fields(SendMessageRequestHeaderV2, req.ext_fields)
        )
    return from_ext_fields(SendMessageRequestHeader, req.ext_fields)


class SendMessageProcessor:
    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker

    def handlers(self) -> dict[int, object]:
        return {
            RequestCode.SEND_MESSAGE: self.process,
            RequestCode.SEND_MESSAGE_V2: self.process,
            RequestCode.SEND_BATCH_MESSAGE: self.process,
        }

    async def process(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = parse_send_header(req)
        response = self._base_response(req)
        refused = self._msg_check(conn, header)
        if refused is not None:
            return self._with_code(response, *refused)
        if header.batch:
            return await self._send_batch(conn, req, header, response)
        return await self._send_single(conn, req, header, response)

    def _base_response(self, req: RemotingCommand) -> RemotingCommand:
        config = self.broker.broker_config
        ext = {"MSG_REGION": config.region_id, "TRACE_ON": "true" if config.trace_on else "false"}
        return req.response(ResponseCode.SYSTEM_ERROR, ext_fields=ext)

    @staticmethod
    def _with_code(response: RemotingCommand, code: int, remark: str | None) -> RemotingCommand:
        response.code = code
        response.remark = remark
        return response

    # ------------------------------------------------------------------ checks

    def _msg_check(
        self, conn: RemotingConnection, header: SendMessageRequestHeader
    ) -> tuple[int, str | None] | None:
        broker = self.broker
        config = broker.broker_config
        topics = broker.topic_config_manager
        if not config.broker_permission & PERM_WRITE and topics.is_order_topic(header.topic):
            return ResponseCode.NO_PERMISSION, (
                f"the broker[{config.broker_i_p1}] sending message is forbidden"
            )
        problem = validate_topic(header.topic)
        if problem is not None:
            return ResponseCode.SYSTEM_ERROR, problem
        if header.topic in NOT_ALLOWED_SEND_TOPICS:
            return ResponseCode.NO_PERMISSION, (
                f"Sending message to topic[{header.topic}] is forbidden."
            )
        topic_config = topics.select(header.topic)
        if topic_config is None:
            log.warning("the topic %s not exist, producer: %s", header.topic, conn.peer)
            topic_config = topics.create_topic_in_send_message_method(
                header.topic, header.default_topic, header.default_topic_queue_nums, 0
            )
            if topic_config is None and header.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
                topic_config = topics.create_topic_in_send_message_back_method(
                    header.topic, 1, PERM_READ | PERM_WRITE, 0
                )
            if topic_config is None:
                return ResponseCode.TOPIC_NOT_EXIST, (
                    f"topic[{header.topic}] not exist, apply first please!{APPLY_TOPIC_FAQ}"
                )
        valid = max(topic_config.write_queue_nums, topic_config.read_queue_nums)
        if header.queue_id >= valid:
            return ResponseCode.SYSTEM_ERROR, (
                f"request queueId[{header.queue_id}] is illegal, {topic_config} "
                f"Producer: {conn.peer}"
            )
        return None

    # ------------------------------------------------------------------ single

    async def _send_single(
        self,
        conn: RemotingConnection,
        req: RemotingCommand,
        header: SendMessageRequestHeader,
        response: RemotingCommand,
    ) -> RemotingCommand:
        topic_config = self.broker.topic_config_manager.select(header.topic)
        assert topic_config is not None
        queue_id = header.queue_id
        if queue_id < 0:
            queue_id = random.randrange(max(topic_config.write_queue_nums, 1))
        properties = string_to_properties(header.properties or "")
        msg = MessageExtBrokerInner(
            topic=header.topic,
            queue_id=queue_id,
            body=req.body or b"",
            flag=header.flag,
            properties=properties,
            sys_flag=header.sys_flag,
            born_timestamp=header.born_timestamp,
            born_host=_host_port(conn.peer),
            store_host=self.broker.store_host,
            reconsume_times=header.reconsume_times or 0,
        )
        if not self._handle_retry_and_dlq(header, msg, req.version):
            return self._with_code(response, ResponseCode.SUCCESS, None)
        properties[PROPERTY_CLUSTER] = self.broker.broker_config.broker_cluster_name
        # 4.9.1+: WAIT is honoured but not stored ("saves 9 bytes"); the store reads it from
        # the properties map, so only the stored string leaves it out.
        stored = {k: v for k, v in properties.items() if k != PROPERTY_WAIT_STORE_MSG_OK}
        msg.properties_string = properties_to_string(stored)
        if properties.get(PROPERTY_TRANSACTION_PREPARED, "").lower() == "true":  # parseBoolean
            result = await self.broker.transactional_message_service.prepare_and_put(msg)
        else:
            result = await self.broker.message_store.put_message(msg)
        return self._put_response(response, result, queue_id)

    def _handle_retry_and_dlq(
        self, header: SendMessageRequestHeader, msg: MessageExtBrokerInner, version: int
    ) -> bool:
        """A %RETRY% message past its max reconsume times goes to the group's DLQ (§6.6)."""
        if not header.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            return True
        group = header.topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
        group_config = self.broker.subscription_group_manager.find_subscription_group_config(group)
        if group_config is None:
            return True
        max_times = group_config.retry_max_times
        # The header's max counts only from V3_4_9 clients on (SendMessageProcessor 4.9.8).
        if header.max_reconsume_times is not None and version >= VERSION_V3_4_9:
            max_times = header.max_reconsume_times
        if (header.reconsume_times or 0) < max_times:
            return True
        dlq = DLQ_GROUP_TOPIC_PREFIX + group
        created = self.broker.topic_config_manager.create_topic_in_send_message_back_method(
            dlq, 1, PERM_READ | PERM_WRITE, 0
        )
        if created is None:
            return False
        msg.topic = dlq
        msg.queue_id = 0
        msg.properties[PROPERTY_DELAY_TIME_LEVEL] = "0"  # setDelayTimeLevel(0): no delay
        return True

    # ------------------------------------------------------------------ batch

    async def _send_batch(
        self,
        conn: RemotingConnection,
        req: RemotingCommand,
        header: SendMessageRequestHeader,
        response: RemotingCommand,
    ) -> RemotingCommand:
        if header.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            return self._with_code(
                response,
                ResponseCode.MESSAGE_ILLEGAL,
                f"batch request does not support retry group {header.topic}",
            )
        topic_config = self.broker.topic_config_manager.select(header.topic)
        assert topic_config is not None
        queue_id = header.queue_id
        if queue_id < 0:
            queue_id = random.randrange(max(topic_config.write_queue_nums, 1))
        properties = string_to_properties(header.properties or "")
        properties[PROPERTY_CLUSTER] = self.broker.broker_config.broker_cluster_name
        batch = MessageExtBatch(
            topic=header.topic,
            queue_id=queue_id,
            body=req.body or b"",
            sys_flag=header.sys_flag,
            born_timestamp=header.born_timestamp,
            born_host=_host_port(conn.peer),
            store_host=self.broker.store_host,
            properties_string=properties_to_string(properties),
            reconsume_times=header.reconsume_times or 0,
        )
        result = await self.broker.message_store.put_messages(batch)
        return self._put_response(response, result, queue_id)

    # ------------------------------------------------------------------ response

    def _put_response(
        self, response: RemotingCommand, result: PutMessageResult, queue_id: int
    ) -> RemotingCommand:
        code, remark = _STATUS_TO_CODE.get(result.status, (ResponseCode.SYSTEM_ERROR, None))
        response.code = code
        response.remark = remark
        append = result.append
        if append is not None and code in (
            ResponseCode.SUCCESS,
            ResponseCode.FLUSH_DISK_TIMEOUT,
            ResponseCode.FLUSH_SLAVE_TIMEOUT,
            ResponseCode.SLAVE_NOT_AVAILABLE,
        ):
            header = SendMessageResponseHeader(append.msg_id, queue_id, append.logics_offset)
            assert response.ext_fields is not None
            response.ext_fields.update(to_ext_fields(header))
        return response


def _host_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return (host or "0.0.0.0"), (int(port) if port.isdigit() else 0)
