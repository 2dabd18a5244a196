"""BrokerConfig: the broker's own keys (and the Netty server keys), with 4.9.8's defaults.

Mirrors ``BrokerConfig`` + ``NettyServerConfig`` as ``BrokerStartup`` fills them from one file
(store.md §8). The store's keys live in ``store.config.MessageStoreConfig``; a broker file is
bound to both (``load_broker_config``), and a key neither knows is reported once, with the
nearest known key.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import ClassVar

from pyrmq.common.constants import DEFAULT_BROKER_PORT
from pyrmq.remoting.netty_config import NETTY_CLIENT_TUNING_KEYS, NETTY_SERVER_TUNING_KEYS


def _local_address() -> str:
    """RemotingUtil.getLocalAddress, simplified: the address the host name resolves to, else
    loopback. Deployments set brokerIP1 explicitly (the tutorial's files do)."""
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
    return address


def _host_name() -> str:
    try:
        return socket.gethostname() or "DEFAULT_BROKER"
    except OSError:
        return "DEFAULT_BROKER"


@dataclass(slots=True)
class BrokerConfig:
    rocketmq_home: str = field(default_factory=lambda: os.environ.get("ROCKETMQ_HOME", ""))
    namesrv_addr: str | None = field(default_factory=lambda: os.environ.get("NAMESRV_ADDR"))
    broker_i_p1: str = field(default_factory=_local_address, metadata={"key": "brokerIP1"})
    broker_i_p2: str | None = field(default=None, metadata={"key": "brokerIP2"})
    broker_name: str = field(default_factory=_host_name)
    broker_cluster_name: str = "DefaultCluster"
    broker_id: int = 0
    broker_permission: int = 6
    default_topic_queue_nums: int = 8
    auto_create_topic_enable: bool = True
    cluster_topic_enable: bool = True
    broker_topic_enable: bool = True
    auto_create_subscription_group: bool = True
    msg_trace_topic_name: str = "RMQ_SYS_TRACE_TOPIC"
    trace_topic_enable: bool = False
    send_message_thread_pool_nums: int = 4
    pull_message_thread_pool_nums: int = 20
    flush_consumer_offset_interval: int = 5000
    long_polling_enable: bool = True
    short_polling_time_mills: int = 1000
    notify_consumer_ids_changed_enable: bool = True
    transfer_msg_by_heap: bool = True
    region_id: str = "DefaultRegion"
    register_broker_timeout_mills: int = 6000
    slave_read_enable: bool = False
    trace_on: bool = True
    enable_property_filter: bool = False
    compressed_register: bool = False
    force_register: bool = True
    register_name_server_period: int = 30_000
    transaction_time_out: int = 6000
    transaction_check_max: int = 15
    transaction_check_interval: int = 60_000
    store_reply_message_enable: bool = True
    acl_enable: bool = False
    config_black_list: str = "configBlackList;brokerConfigPath"
    #: NettyServerConfig.listenPort as BrokerStartup sets it before reading the file.
    listen_port: int = DEFAULT_BROKER_PORT
    #: The address to bind (5.x NettyServerConfig key). Default: brokerIP1, so that brokers of
    #: several loopback "hosts" can share a port on one machine.
    bind_address: str | None = None
    server_channel_max_idle_time_seconds: int = 120
    frame_max_length: int = 16 * 1024 * 1024

    #: Keys of Java's BrokerConfig/NettyServerConfig that tune threads, queues and Netty; they
    #: have no meaning for an asyncio broker and are accepted without effect.
    IGNORED_KEYS: ClassVar[frozenset[str]] = (
        NETTY_SERVER_TUNING_KEYS
        | NETTY_CLIENT_TUNING_KEYS
        | frozenset(
            {
                "messageStorePlugIn",
                "putMessageFutureThreadPoolNums",
                "processReplyMessageThreadPoolNums",
                "queryMessageThreadPoolNums",
                "adminBrokerThreadPoolNums",
                "clientManageThreadPoolNums",
                "consumerManageThreadPoolNums",
                "heartbeatThreadPoolNums",
                "endTransactionThreadPoolNums",
                "flushConsumerOffsetHistoryInterval",
                "rejectTransactionMessage",
                "fetchNamesrvAddrByAddressServer",
                "sendThreadPoolQueueCapacity",
                "putThreadPoolQueueCapacity",
                "pullThreadPoolQueueCapacity",
                "replyThreadPoolQueueCapacity",
                "queryThreadPoolQueueCapacity",
                "clientManagerThreadPoolQueueCapacity",
                "consumerManagerThreadPoolQueueCapacity",
                "heartbeatThreadPoolQueueCapacity",
                "endTransactionPoolQueueCapacity",
                "filterServerNums",
                "highSpeedMode",
                "commercialEnable",
                "commercialTimerCount",
                "commercialTransCount",
                "commercialBigCount",
                "commercialBaseCount",
                "maxDelayTime",
                "disableConsumeIfConsumerReadSlowly",
                "consumerFallbehindThreshold",
                "brokerFastFailureEnable",
                "waitTimeMillsInSendQueue",
                "waitTimeMillsInPullQueue",
                "waitTimeMillsInHeartbeatQueue",
                "waitTimeMillsInTransactionQueue",
                "startAcceptSendRequestTimeStamp",
                "enableCalcFilterBitMap",
                "expectConsumerNumUseFilter",
                "maxErrorRateOfBloomFilter",
                "filterDataCleanTimeSpan",
                "filterSupportRetry",
                "enableDetailStat",
                "autoDeleteUnusedStats",
                "isolateLogEnable",
            }
        )
    )

    # ------------------------------------------------------------------ derived

    @property
    def broker_ip2(self) -> str:
        return self.broker_i_p2 or self.broker_i_p1

    @property
    def broker_addr(self) -> str:
        """What clients and the NameServer use: ``brokerIP1:listenPort``."""
        return f"{self.broker_i_p1}:{self.listen_port}"

    @property
    def listen_host(self) -> str:
        return self.bind_address or self.broker_i_p1

    def namesrv_addr_list(self) -> list[str]:
        if not self.namesrv_addr:
            return []
        return [addr.strip() for addr in self.namesrv_addr.split(";") if addr.strip()]
