"""NamesrvConfig: every key a NameServer properties file may set, with 4.9's defaults.

One dataclass for what Java splits into ``NamesrvConfig`` and ``NettyServerConfig`` (both are
filled from the same file by ``NamesrvStartup``). Keys keep the Java spelling through the
camelCase binding of ``common.config``. Netty tuning keys are accepted and ignored: asyncio
has no thread pools or buffer allocators to size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pyrmq.common.constants import DEFAULT_NAMESRV_PORT
from pyrmq.remoting.command import DEFAULT_MAX_FRAME_BYTES
from pyrmq.remoting.netty_config import NETTY_SERVER_TUNING_KEYS


def _home_path(*parts: str) -> str:
    return str(Path.home().joinpath(*parts))


@dataclass(slots=True)
class NamesrvConfig:
    rocketmq_home: str = field(default_factory=lambda: os.environ.get("ROCKETMQ_HOME", ""))
    kv_config_path: str = field(default_factory=lambda: _home_path("namesrv", "kvConfig.json"))
    config_store_path: str = field(
        default_factory=lambda: _home_path("namesrv", "namesrv.properties")
    )
    product_env_name: str = "center"
    cluster_test: bool = False
    order_message_enable: bool = False
    config_black_list: str = "configBlackList;configStorePath;kvConfigPath"
    #: NettyServerConfig.listenPort as NamesrvStartup sets it.
    listen_port: int = DEFAULT_NAMESRV_PORT
    #: NettyServerConfig.bindAddress (5.x): the tutorial's one-NameServer-per-host layout on
    #: one machine needs 127.0.0.1..4 bound separately.
    bind_address: str = "0.0.0.0"
    server_channel_max_idle_time_seconds: int = 120
    #: How often brokers silent for 120 s are removed (4.9.x: fixed 10 s; 5.x: this key).
    scan_not_active_broker_interval: int = 10_000
    #: com.rocketmq.remoting.frameMaxLength: larger frames close the connection.
    frame_max_length: int = DEFAULT_MAX_FRAME_BYTES

    #: NettyServerConfig keys that tune Java threads and buffers; accepted, not used.
    IGNORED_KEYS: ClassVar[frozenset[str]] = NETTY_SERVER_TUNING_KEYS

    def black_list(self) -> set[str]:
        return {key.strip() for key in self.config_black_list.split(";") if key.strip()}
