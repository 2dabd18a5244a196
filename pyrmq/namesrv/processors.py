"""The NameServer's request handlers: decode the header, call the tables, build the response.

Mirrors 4.9.x ``DefaultRequestProcessor`` (protocol.md §3.1): one method per request code, and
``handlers()`` the code -> handler table the remoting server dispatches on. Every handler is
synchronous; the tables are plain data (``route_info.py``, ``kv_config.py``).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable

from pyrmq.common.clock import Clock
from pyrmq.common.config import parse_properties, to_properties, update_from_mapping
from pyrmq.common.constants import NAMESPACE_ORDER_TOPIC_CONFIG
from pyrmq.namesrv.config import NamesrvConfig
from pyrmq.namesrv.kv_config import KVConfigManager
from pyrmq.namesrv.route_info import RouteInfoManager
from pyrmq.remoting import bodies
from pyrmq.remoting.codes import VERSION_V4_9_4, RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.headers import (
    AddWritePermOfBrokerRequestHeader,
    AddWritePermOfBrokerResponseHeader,
    DeleteKVConfigRequestHeader,
    DeleteTopicFromNamesrvRequestHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader,
    PutKVConfigRequestHeader,
    QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
    UnRegisterBrokerRequestHeader,
    WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
    from_ext_fields,
    to_ext_fields,
)
from pyrmq.remoting.server import Handler

log = logging.getLogger(__name__)

#: Java appends FAQUrl.suggestTodo(APPLY_TOPIC_URL) to the TOPIC_NOT_EXIST remark.
_APPLY_TOPIC_FAQ = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."

SUCCESS = ResponseCode.SUCCESS


def body_crc32(body: bytes | None) -> int:
    """UtilAll.crc32: CRC32 of the body masked to a non-negative int (0 for no body)."""
    if not body:
        return 0
    return zlib.crc32(body) & 0x7FFFFFFF


class NamesrvProcessor:
    """Request handlers over the NameServer's state."""

    def __init__(
        self,
        config: NamesrvConfig,
        route_info: RouteInfoManager,
        kv_config: KVConfigManager,
        clock: Clock,
    ) -> None:
        self.config = config
        self.route_info = route_info
        self.kv_config = kv_config
        self.clock = clock

    def handlers(self) -> dict[int, Handler]:
        table: dict[int, Callable[[RemotingConnection, RemotingCommand], RemotingCommand]] = {
            RequestCode.PUT_KV_CONFIG: self.put_kv_config,
            RequestCode.GET_KV_CONFIG: self.get_kv_config,
            RequestCode.DELETE_KV_CONFIG: self.delete_kv_config,
            RequestCode.GET_KVLIST_BY_NAMESPACE: self.get_kv_list_by_namespace,
            RequestCode.QUERY_DATA_VERSION: self.query_data_version,
            RequestCode.REGISTER_BROKER: self.register_broker,
            RequestCode.UNREGISTER_BROKER: self.unregister_broker,
            RequestCode.GET_ROUTEINFO_BY_TOPIC: self.get_route_info_by_topic,
            RequestCode.GET_BROKER_CLUSTER_INFO: self.get_broker_cluster_info,
            RequestCode.WIPE_WRITE_PERM_OF_BROKER: self.wipe_write_perm_of_broker,
            RequestCode.ADD_WRITE_PERM_OF_BROKER: self.add_write_perm_of_broker,
            RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER: self.get_all_topic_list,
            RequestCode.DELETE_TOPIC_IN_NAMESRV: self.delete_topic_in_namesrv,
            RequestCode.GET_TOPICS_BY_CLUSTER: self.get_topics_by_cluster,
            RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS: self.get_system_topic_list,
            RequestCode.GET_UNIT_TOPIC_LIST: self.get_unit_topic_list,
            RequestCode.GET_HAS_UNIT_SUB_TOPIC_LIST: self.get_has_unit_sub_topic_list,
            RequestCode.GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: self.get_unit_sub_un_unit_topics,
            RequestCode.UPDATE_NAMESRV_CONFIG: self.update_namesrv_config,
            RequestCode.GET_NAMESRV_CONFIG: self.get_namesrv_config,
        }
        return dict(table)

    # ------------------------------------------------------------------ KV config

    def put_kv_config(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(PutKVConfigRequestHeader, req.ext_fields)
        self.kv_config.put(header.namespace, header.key, header.value)
        return req.response(SUCCESS)

    def get_kv_config(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(GetKVConfigRequestHeader, req.ext_fields)
        value = self.kv_config.get(header.namespace, header.key)
        if value is None:
            return req.response(
                ResponseCode.QUERY_NOT_FOUND,
                f"No config item, Namespace: {header.namespace} Key: {header.key}",
            )
        return req.response(SUCCESS, ext_fields=to_ext_fields(GetKVConfigResponseHeader(value)))

    def delete_kv_config(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(DeleteKVConfigRequestHeader, req.ext_fields)
        self.kv_config.delete(header.namespace, header.key)
        return req.response(SUCCESS)

    def get_kv_list_by_namespace(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(GetKVListByNamespaceRequestHeader, req.ext_fields)
        table = self.kv_config.namespace(header.namespace)
        if table is None:
            return req.response(
                ResponseCode.QUERY_NOT_FOUND, f"No config item, Namespace: {header.namespace}"
            )
        return req.response(SUCCESS, body=bodies.encode_kv_table(bodies.KVTable(table)))

    # ------------------------------------------------------------------ brokers

    def register_broker(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(RegisterBrokerRequestHeader, req.ext_fields)
        if header.body_crc32 != 0 and header.body_crc32 != body_crc32(req.body):
            log.warning("REGISTER_BROKER from %s: crc32 not match", conn.peer)
            return req.response(ResponseCode.SYSTEM_ERROR, "crc32 not match")
        wrapper, filter_servers = self._register_body(req, header.compressed)
        result = self.route_info.register_broker(
            header.cluster_name,
            header.broker_addr,
            header.broker_name,
            header.broker_id,
            header.ha_server_addr,
            wrapper,
            filter_servers,
            conn,
            self.clock.now_ms(),
        )
        response_header = RegisterBrokerResponseHeader(result.ha_server_addr, result.master_addr)
        order_conf = self.kv_config.namespace(NAMESPACE_ORDER_TOPIC_CONFIG)
        return req.response(
            SUCCESS,
            ext_fields=to_ext_fields(response_header),
            body=bodies.encode_kv_table(bodies.KVTable(order_conf))
            if order_conf is not None
            else None,
        )

    @staticmethod
    def _register_body(
        req: RemotingCommand, compressed: bool
    ) -> tuple[bodies.TopicConfigSerializeWrapper, list[str] | None]:
        """The body: RegisterBrokerBody (>= V3_0_11) or a bare wrapper (older brokers)."""
        if not req.body:
            return bodies.TopicConfigSerializeWrapper({}, bodies.DataVersion(0, 0)), None
        if req.version >= 37:  # V3_0_11
            body = bodies.decode_register_broker_body(req.body, compressed)
            return body.topic_config_serialize_wrapper, body.filter_server_list
        return bodies.decode_topic_config_serialize_wrapper(req.body), None

    def unregister_broker(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(UnRegisterBrokerRequestHeader, req.ext_fields)
        self.route_info.unregister_broker(
            header.cluster_name, header.broker_addr, header.broker_name, header.broker_id
        )
        log.info(
            "broker %s (%s id %d) unregistered",
            header.broker_addr,
            header.broker_name,
            header.broker_id,
        )
        return req.response(SUCCESS)

    def query_data_version(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(QueryDataVersionRequestHeader, req.ext_fields)
        version = bodies.decode_data_version(req.body or b"{}")
        changed = self.route_info.is_broker_topic_config_changed(header.broker_addr, version)
        if not changed:
            self.route_info.update_broker_info_update_timestamp(
                header.broker_addr, self.clock.now_ms()
            )
        ours = self.route_info.query_broker_topic_config(header.broker_addr)
        return req.response(
            SUCCESS,
            ext_fields=to_ext_fields(QueryDataVersionResponseHeader(changed)),
            body=bodies.encode_data_version(ours) if ours is not None else None,
        )

    # ------------------------------------------------------------------ routes

    def get_route_info_by_topic(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(GetRouteInfoRequestHeader, req.ext_fields)
        route = self.route_info.pickup_topic_route_data(header.topic)
        if route is None:
            return req.response(
                ResponseCode.TOPIC_NOT_EXIST,
                f"No topic route info in name server for the topic: {header.topic}"
                + _APPLY_TOPIC_FAQ,
            )
        if self.config.order_message_enable:
            route.order_topic_conf = self.kv_config.get(NAMESPACE_ORDER_TOPIC_CONFIG, header.topic)
        standard = req.version >= VERSION_V4_9_4 or bool(header.accept_standard_json_only)
        return req.response(SUCCESS, body=bodies.encode_topic_route_data(route, standard))

    def get_broker_cluster_info(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        info = self.route_info.get_all_cluster_info()
        return req.response(SUCCESS, body=bodies.encode_cluster_info(info))

    def wipe_write_perm_of_broker(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(WipeWritePermOfBrokerRequestHeader, req.ext_fields)
        count = self.route_info.wipe_write_perm_of_broker(header.broker_name)
        log.info(
            "wipe write perm of broker %s from %s: %d topics", header.broker_name, conn.peer, count
        )
        return req.response(
            SUCCESS, ext_fields=to_ext_fields(WipeWritePermOfBrokerResponseHeader(count))
        )

    def add_write_perm_of_broker(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(AddWritePermOfBrokerRequestHeader, req.ext_fields)
        count = self.route_info.add_write_perm_of_broker(header.broker_name)
        log.info(
            "add write perm of broker %s from %s: %d topics", header.broker_name, conn.peer, count
        )
        return req.response(
            SUCCESS, ext_fields=to_ext_fields(AddWritePermOfBrokerResponseHeader(count))
        )

    # ------------------------------------------------------------------ topic lists

    def get_all_topic_list(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        return self._topic_list(req, self.route_info.get_all_topic_list())

    def delete_topic_in_namesrv(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(DeleteTopicFromNamesrvRequestHeader, req.ext_fields)
        self.route_info.delete_topic(header.topic, header.cluster_name)
        return req.response(SUCCESS)

    def get_topics_by_cluster(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        header = from_ext_fields(GetTopicsByClusterRequestHeader, req.ext_fields)
        return self._topic_list(req, self.route_info.get_topics_by_cluster(header.cluster))

    def get_system_topic_list(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return self._topic_list(req, self.route_info.get_system_topic_list())

    def get_unit_topic_list(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return self._topic_list(req, self.route_info.get_unit_topics())

    def get_has_unit_sub_topic_list(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return self._topic_list(req, self.route_info.get_has_unit_sub_topic_list())

    def get_unit_sub_un_unit_topics(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return self._topic_list(req, self.route_info.get_has_unit_sub_un_unit_topic_list())

    @staticmethod
    def _topic_list(req: RemotingCommand, topics: bodies.TopicList) -> RemotingCommand:
        return req.response(SUCCESS, body=bodies.encode_topic_list(topics))

    # ------------------------------------------------------------------ namesrv config

    def update_namesrv_config(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        log.info("updateConfig called by %s", conn.peer)
        if not req.body:
            return req.response(SUCCESS)
        text = req.body.decode("utf-8", errors="replace")
        refused = self._black_listed_keys(text)
        if refused:
            return req.response(ResponseCode.NO_PERMISSION, "Can not update config in black list.")
        entries = {entry.key: entry.value for entry in parse_properties(text)}
        try:
            warnings = update_from_mapping(self.config, entries, f"update from {conn.peer}")
        except ValueError as exc:
            return req.response(ResponseCode.SYSTEM_ERROR, str(exc))
        for warning in warnings:
            log.warning("%s", warning)
        return req.response(SUCCESS)

    def _black_listed_keys(self, text: str) -> list[str]:
        black = self.config.black_list()
        return [entry.key for entry in parse_properties(text) if entry.key in black]

    def get_namesrv_config(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        return req.response(SUCCESS, body=to_properties(self.config).encode())
