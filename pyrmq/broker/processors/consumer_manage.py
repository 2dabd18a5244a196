"""Consumer offsets and queue positions: codes 14, 15, 29, 30, 31, 32, 38, and queries 12, 33.

Mirrors 4.9.8 ``ConsumerManageProcessor`` (QUERY/UPDATE_CONSUMER_OFFSET,
GET_CONSUMER_LIST_BY_GROUP), the offset codes of ``AdminBrokerProcessor`` (GET_MAX/MIN_OFFSET,
SEARCH_OFFSET_BY_TIMESTAMP, GET_EARLIEST_MSG_STORETIME) and ``QueryMessageProcessor``
(QUERY_MESSAGE, VIEW_MESSAGE_BY_ID). Every handler is synchronous.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.headers import (
    GetConsumerListByGroupRequestHeader,
    GetEarliestMsgStoretimeResponseHeader,
    OffsetResponseHeader,
    QueryConsumerOffsetRequestHeader,
    QueryMessageRequestHeader,
    QueryMessageResponseHeader,
    SearchOffsetRequestHeader,
    TopicQueueRequestHeader,
    UpdateConsumerOffsetRequestHeader,
    ViewMessageRequestHeader,
    from_ext_fields,
    to_ext_fields,
)
from pyrmq.remoting.heartbeat import encode_consumer_id_list
from pyrmq.store.reads import total_physical_memory

if TYPE_CHECKING:
    from pyrmq.broker.controller import BrokerController

SUCCESS = ResponseCode.SUCCESS
#: BrokerConfig.defaultQueryMaxNum, used for UNIQ_KEY queries.
DEFAULT_QUERY_MAX_NUM = 32


class ConsumerManageProcessor:
    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker

    def handlers(self) -> dict[int, object]:
        return {
            RequestCode.QUERY_CONSUMER_OFFSET: self.query_consumer_offset,
            RequestCode.UPDATE_CONSUMER_OFFSET: self.update_consumer_offset,
            RequestCode.GET_CONSUMER_LIST_BY_GROUP: self.get_consumer_list_by_group,
            RequestCode.GET_MAX_OFFSET: self.get_max_offset,
            RequestCode.GET_MIN_OFFSET: self.get_min_offset,
            RequestCode.SEARCH_OFFSET_BY_TIMESTAMP: self.search_offset_by_timestamp,
            RequestCode.GET_EARLIEST_MSG_STORETIME: self.get_earliest_msg_storetime,
            RequestCode.QUERY_MESSAGE: self.query_message,
            RequestCode.VIEW_MESSAGE_BY_ID: self.view_message_by_id,
        }

    # ------------------------------------------------------------------ consumer offsets

    def query_consumer_offset(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(QueryConsumerOffsetRequestHeader, req.ext_fields)
        offset = self.broker.consumer_offset_manager.query_offset(
            header.consumer_group, header.topic, header.queue_id
        )
        if offset >= 0:
            return self._offset(req, offset)
        store = self.broker.message_store
        min_offset = store.get_min_offset_in_queue(header.topic, header.queue_id)
        # 4.x: a group new to a queue that still starts at 0 in memory reads from 0.
        if min_offset <= 0 and not self._in_disk(header.topic, header.queue_id, 0):
            return self._offset(req, 0)
        return req.response(
            ResponseCode.QUERY_NOT_FOUND,
            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
        )

    def _in_disk(self, topic: str, queue_id: int, offset: int) -> bool:
        """checkInDiskByConsumeOffset: is the message further back than the memory window?"""
        store = self.broker.message_store
        phy = store.get_commit_log_offset_in_queue(topic, queue_id, offset)
        window = total_physical_memory() * store.config.access_message_in_memory_max_ratio / 100
        return store.commitlog.max_offset() - phy > window

    def update_consumer_offset(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(UpdateConsumerOffsetRequestHeader, req.ext_fields)
        self.broker.consumer_offset_manager.commit_offset(
            conn.peer, header.consumer_group, header.topic, header.queue_id, header.commit_offset
        )
        return req.response(SUCCESS)

    def get_consumer_list_by_group(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(GetConsumerListByGroupRequestHeader, req.ext_fields)
        info = self.broker.consumer_manager.get_consumer_group_info(header.consumer_group)
        ids = info.all_client_ids() if info is not None else []
        if not ids:
            return req.response(
                ResponseCode.SYSTEM_ERROR, f"no consumer for this group, {header.consumer_group}"
            )
        return req.response(SUCCESS, body=encode_consumer_id_list(ids))

    # ------------------------------------------------------------------ queue positions

    def get_max_offset(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(TopicQueueRequestHeader, req.ext_fields)
        return self._offset(
            req, self.broker.message_store.get_max_offset_in_queue(header.topic, header.queue_id)
        )

    def get_min_offset(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(TopicQueueRequestHeader, req.ext_fields)
        offset = self.broker.message_store.get_min_offset_in_queue(header.topic, header.queue_id)
        return self._offset(req, max(offset, 0))

    def search_offset_by_timestamp(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(SearchOffsetRequestHeader, req.ext_fields)
        return self._offset(
            req,
            self.broker.message_store.get_offset_in_queue_by_time(
                header.topic, header.queue_id, header.timestamp
            ),
        )

    def get_earliest_msg_storetime(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(TopicQueueRequestHeader, req.ext_fields)
        timestamp = self.broker.message_store.get_earliest_message_time(
            header.topic, header.queue_id
        )
        return req.response(
            SUCCESS, ext_fields=to_ext_fields(GetEarliestMsgStoretimeResponseHeader(timestamp))
        )

    @staticmethod
    def _offset(req: RemotingCommand, offset: int) -> RemotingCommand:
        return req.response(SUCCESS, ext_fields=to_ext_fields(OffsetResponseHeader(offset)))

    # ------------------------------------------------------------------ queries

    def query_message(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(QueryMessageRequestHeader, req.ext_fields)
        max_num = header.max_num
        if (req.ext("_UNIQUE_KEY_QUERY") or "").lower() == "true":
            max_num = DEFAULT_QUERY_MAX_NUM
        result = self.broker.message_store.query_message_result(
            header.topic, header.key, max_num, header.begin_timestamp, header.end_timestamp
        )
        ext = to_ext_fields(
            QueryMessageResponseHeader(
                result.index_last_update_timestamp, result.index_last_update_phy_offset
            )
        )
        if not result.records:
            return req.response(
                ResponseCode.QUERY_NOT_FOUND,
                "can not find message, maybe time range not correct",
                ext_fields=ext,
            )
        body = b"".join(result.records)
        for record in result.records:
            record.release()
        return req.response(SUCCESS, ext_fields=ext, body=body)

    def view_message_by_id(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(ViewMessageRequestHeader, req.ext_fields)
        record = self.broker.message_store.look_message_by_offset(header.offset)
        if record is None:
            return req.response(
                ResponseCode.SYSTEM_ERROR, f"can not find message by the offset, {header.offset}"
            )
        body = bytes(record)
        record.release()
        return req.response(SUCCESS, body=body)
