"""Admin requests: topics, stats, consumer connections, runtime info, broker config.

Mirrors the 4.9.8 ``AdminBrokerProcessor`` codes that mqadmin's topic, cluster and consumer
commands use (protocol.md §3.5.4, §3.5.7, §3.5.8, §3.5.11, §7.2): UPDATE_AND_CREATE_TOPIC
(re-registers with the NameServers at once), DELETE_TOPIC_IN_BROKER, GET_ALL_TOPIC_CONFIG,
GET_TOPIC_STATS_INFO, GET_CONSUME_STATS, GET_CONSUMER_CONNECTION_LIST, GET_BROKER_RUNTIME_INFO,
GET/UPDATE_BROKER_CONFIG, and the metadata that slaves copy (21, 43, 201).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson

from pyrmq.broker.topic_config import validate_topic
from pyrmq.common.config import parse_properties, to_properties, update_from_mapping
from pyrmq.remoting import bodies
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.headers import (
    CreateTopicRequestHeader,
    DeleteTopicRequestHeader,
    GetConsumerConnectionListRequestHeader,
    GetConsumeStatsRequestHeader,
    GetTopicStatsInfoRequestHeader,
    from_ext_fields,
)
from pyrmq.remoting.heartbeat import (
    ConsumeStats,
    OffsetWrapper,
    encode_consume_stats,
    encode_consumer_connection,
)

if TYPE_CHECKING:
    from pyrmq.broker.controller import BrokerController

log = logging.getLogger(__name__)
SUCCESS = ResponseCode.SUCCESS


class AdminBrokerProcessor:
    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker

    def handlers(self) -> dict[int, object]:
        return {
            RequestCode.UPDATE_AND_CREATE_TOPIC: self.update_and_create_topic,
            RequestCode.DELETE_TOPIC_IN_BROKER: self.delete_topic,
            RequestCode.GET_ALL_TOPIC_CONFIG: self.get_all_topic_config,
            RequestCode.GET_TOPIC_STATS_INFO: self.get_topic_stats_info,
            RequestCode.GET_CONSUME_STATS: self.get_consume_stats,
            RequestCode.GET_CONSUMER_CONNECTION_LIST: self.get_consumer_connection_list,
            RequestCode.GET_BROKER_RUNTIME_INFO: self.get_broker_runtime_info,
            RequestCode.GET_BROKER_CONFIG: self.get_broker_config,
            RequestCode.UPDATE_BROKER_CONFIG: self.update_broker_config,
            RequestCode.GET_ALL_CONSUMER_OFFSET: self.get_all_consumer_offset,
            RequestCode.GET_ALL_DELAY_OFFSET: self.get_all_delay_offset,
            RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG: self.get_all_subscription_group,
        }

    # ------------------------------------------------------------------ topics

    async def update_and_create_topic(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(CreateTopicRequestHeader, req.ext_fields)
        topics = self.broker.topic_config_manager
        problem = validate_topic(header.topic)
        if problem is not None:
            return req.response(ResponseCode.SYSTEM_ERROR, problem)
        if header.topic == self.broker.broker_config.broker_cluster_name:
            return req.response(
                ResponseCode.SYSTEM_ERROR,
                f"The topic[{header.topic}] is conflict with system reserved words.",
            )
        topics.update_topic_config(
            bodies.TopicConfig(
                header.topic,
                header.read_queue_nums,
                header.write_queue_nums,
                header.perm,
                header.topic_filter_type,
                header.topic_sys_flag or 0,
                header.order,
            )
        )
        log.info("topic %s created/updated by %s", header.topic, conn.peer)
        await self.broker.register_broker_all()
        return req.response(SUCCESS)

    async def delete_topic(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(DeleteTopicRequestHeader, req.ext_fields)
        self.broker.topic_config_manager.delete_topic_config(header.topic)
        self.broker.consumer_offset_manager.clean_offset_by_topic(header.topic)
        await self.broker.register_broker_all()
        return req.response(SUCCESS)

    def get_all_topic_config(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        wrapper = self.broker.topic_config_manager.build_serialize_wrapper()
        return req.response(SUCCESS, body=bodies.encode_topic_config_serialize_wrapper(wrapper))

    def get_topic_stats_info(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(GetTopicStatsInfoRequestHeader, req.ext_fields)
        topic_config = self.broker.topic_config_manager.select(header.topic)
        if topic_config is None:
            return req.response(ResponseCode.TOPIC_NOT_EXIST, f"topic[{header.topic}] not exist")
        store = self.broker.message_store
        table: dict[bodies.MessageQueue, bodies.TopicOffset] = {}
        for queue_id in range(topic_config.write_queue_nums):
            max_offset = store.get_max_offset_in_queue(header.topic, queue_id)
            last = store.get_message_store_timestamp(header.topic, queue_id, max_offset - 1)
            table[self._mq(header.topic, queue_id)] = bodies.TopicOffset(
                max(store.get_min_offset_in_queue(header.topic, queue_id), 0),
                max_offset,
                max(last, 0) if max_offset > 0 else 0,
            )
        return req.response(
            SUCCESS, body=bodies.encode_topic_stats_table(bodies.TopicStatsTable(table))
        )

    def _mq(self, topic: str, queue_id: int) -> bodies.MessageQueue:
        return bodies.MessageQueue(topic, self.broker.broker_config.broker_name, queue_id)

    # ------------------------------------------------------------------ consumers

    def get_consume_stats(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(GetConsumeStatsRequestHeader, req.ext_fields)
        broker = self.broker
        offsets = broker.consumer_offset_manager
        topics = (
            [header.topic]
            if header.topic
            else sorted(offsets.which_topic_by_consumer(header.consumer_group))
        )
        table: dict[bodies.MessageQueue, OffsetWrapper] = {}
        for topic in topics:
            topic_config = broker.topic_config_manager.select(topic)
            if topic_config is None:
                continue
            for queue_id in range(topic_config.read_queue_nums):
                table[self._mq(topic, queue_id)] = self._offset_wrapper(
                    header.consumer_group, topic, queue_id
                )
        stats = ConsumeStats(offset_table=table, consume_tps=0.0)
        return req.response(SUCCESS, body=encode_consume_stats(stats))

    def _offset_wrapper(self, group: str, topic: str, queue_id: int) -> OffsetWrapper:
        store = self.broker.message_store
        broker_offset = store.get_max_offset_in_queue(topic, queue_id)
        consumer_offset = max(
            self.broker.consumer_offset_manager.query_offset(group, topic, queue_id), 0
        )
        last = 0
        if consumer_offset > 0:
            last = max(store.get_message_store_timestamp(topic, queue_id, consumer_offset - 1), 0)
        return OffsetWrapper(
            broker_offset=broker_offset, consumer_offset=consumer_offset, last_timestamp=last
        )

    def get_consumer_connection_list(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(GetConsumerConnectionListRequestHeader, req.ext_fields)
        info = self.broker.consumer_manager.get_consumer_group_info(header.consumer_group)
        if info is None or not info.all_channels():
            return req.response(
                ResponseCode.CONSUMER_NOT_ONLINE,
                f"the consumer group[{header.consumer_group}] not online",
            )
        body = info.consumer_connection()
        return req.response(SUCCESS, body=encode_consumer_connection(body))

    def get_all_consumer_offset(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return req.response(SUCCESS, body=self.broker.consumer_offset_manager.encode_all())

    def get_all_delay_offset(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        body = self.broker.schedule_message_service.encode_offsets()
        return req.response(SUCCESS, body=body)

    def get_all_subscription_group(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return req.response(SUCCESS, body=self.broker.subscription_group_manager.encode_all())

    # ------------------------------------------------------------------ broker

    def get_broker_runtime_info(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        table = self.broker.runtime_info()
        return req.response(SUCCESS, body=bodies.encode_kv_table(bodies.KVTable(table)))

    def get_broker_config(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        text = to_properties(self.broker.broker_config) + to_properties(self.broker.store_config)
        version = bodies.encode_data_version(self.broker.topic_config_manager.data_version)
        return req.response(SUCCESS, ext_fields={"version": version.decode()}, body=text.encode())

    def update_broker_config(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        text = (req.body or b"").decode("utf-8", errors="replace")
        entries = {entry.key: entry.value for entry in parse_properties(text)}
        black = {k for k in self.broker.broker_config.config_black_list.split(";") if k}
        if black & set(entries):
            return req.response(ResponseCode.NO_PERMISSION, "Can not update config in black list.")
        try:
            for target in (self.broker.broker_config, self.broker.store_config):
                known = {k: v for k, v in entries.items() if k in _keys_of(target)}
                update_from_mapping(target, known, f"update from {conn.peer}")
        except ValueError as exc:
            return req.response(ResponseCode.SYSTEM_ERROR, str(exc))
        log.info("broker config updated by %s: %s", conn.peer, orjson.dumps(entries).decode())
        return req.response(SUCCESS)


def _keys_of(instance: object) -> set[str]:
    from pyrmq.common.config import known_keys

    return set(known_keys(type(instance)))
