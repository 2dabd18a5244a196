"""HEART_BEAT (34), UNREGISTER_CLIENT (35), CHECK_CLIENT_CONFIG (46): who the clients are.

Mirrors 4.9.8 ``ClientManageProcessor``: a heartbeat registers the connection under each of its
producer and consumer groups, stores the consumers' subscriptions, auto-creates the
subscription group and the group's ``%RETRY%`` topic, and (through the consumer manager) tells
the group's members when membership changed. HeartbeatData is read in both dialects (Java enum
names, cpp integer ordinals).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyrmq.common.constants import PERM_READ, PERM_WRITE
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.headers import UnregisterClientRequestHeader, from_ext_fields
from pyrmq.remoting.heartbeat import decode_heartbeat

if TYPE_CHECKING:
    from pyrmq.broker.controller import BrokerController

log = logging.getLogger(__name__)

RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"


class ClientManageProcessor:
    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker

    def handlers(self) -> dict[int, object]:
        return {
            RequestCode.HEART_BEAT: self.heart_beat,
            RequestCode.UNREGISTER_CLIENT: self.unregister_client,
            RequestCode.CHECK_CLIENT_CONFIG: self.check_client_config,
        }

    def heart_beat(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        from pyrmq.broker.client_manager import ClientChannelInfo

        heartbeat = decode_heartbeat(req.body or b"{}")
        broker = self.broker
        info = ClientChannelInfo(
            conn, heartbeat.client_id, req.language, req.version, broker.clock.now_ms()
        )
        for consumer in heartbeat.consumer_data_set:
            group_config = broker.subscription_group_manager.find_subscription_group_config(
                consumer.group_name
            )
            notify = True
            if group_config is not None:
                notify = group_config.notify_consumer_ids_changed_enable
                retry_topic = RETRY_GROUP_TOPIC_PREFIX + consumer.group_name
                broker.topic_config_manager.create_topic_in_send_message_back_method(
                    retry_topic, group_config.retry_queue_nums, PERM_READ | PERM_WRITE, 0
                )
            changed = broker.consumer_manager.register_consumer(
                consumer.group_name,
                info,
                consumer.consume_type,
                consumer.message_model,
                consumer.consume_from_where,
                consumer.subscription_data_set,
                notify,
            )
            if changed:
                log.info("registered consumer group %s from %s", consumer.group_name, conn.peer)
        for producer in heartbeat.producer_data_set:
            broker.producer_manager.register_producer(producer.group_name, info)
        return req.response(ResponseCode.SUCCESS)

    def unregister_client(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        from pyrmq.broker.client_manager import ClientChannelInfo

        header = from_ext_fields(UnregisterClientRequestHeader, req.ext_fields)
        broker = self.broker
        info = ClientChannelInfo(
            conn, header.client_id, req.language, req.version, broker.clock.now_ms()
        )
        if header.producer_group:
            broker.producer_manager.unregister_producer(header.producer_group, info)
        if header.consumer_group:
            group_config = broker.subscription_group_manager.find_subscription_group_config(
                header.consumer_group
            )
            notify = group_config.notify_consumer_ids_changed_enable if group_config else True
            broker.consumer_manager.unregister_consumer(header.consumer_group, info, notify)
        return req.response(ResponseCode.SUCCESS)

    def check_client_config(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        # TAG subscriptions always pass; SQL92 needs enablePropertyFilter (filtering issue).
        if b'"SQL92"' in (req.body or b"") and not self.broker.broker_config.enable_property_filter:
            return req.response(
                ResponseCode.SYSTEM_ERROR,
                "The broker does not support consumer to filter message by SQL92",
            )
        return req.response(ResponseCode.SUCCESS)
