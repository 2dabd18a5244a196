"""NamesrvController: the NameServer process's composition root; start and stop order.

Mirrors ``NamesrvController``: loads the KV config, starts the remoting server with the
processor's handler table, scans for inactive brokers periodically, and removes a broker as soon
as its connection closes (``BrokerHousekeepingService``). Nothing else constructs these parts.
"""

from __future__ import annotations

import logging

from pyrmq.common.clock import Clock, SystemClock
from pyrmq.common.service import PeriodicTask
from pyrmq.namesrv.config import NamesrvConfig
from pyrmq.namesrv.kv_config import KVConfigManager
from pyrmq.namesrv.processors import NamesrvProcessor
from pyrmq.namesrv.route_info import RouteInfoManager
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.server import RemotingServer

log = logging.getLogger(__name__)

#: NamesrvController schedules its first scan 5 s after start.
SCAN_INITIAL_DELAY_S = 5.0


class NamesrvController:
    def __init__(self, config: NamesrvConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.route_info = RouteInfoManager()
        self.kv_config = KVConfigManager(config.kv_config_path)
        self.processor = NamesrvProcessor(config, self.route_info, self.kv_config, self.clock)
        self.server = RemotingServer(
            self.processor.handlers(),
            host=config.bind_address,
            port=config.listen_port,
            max_frame_bytes=config.frame_max_length,
            on_disconnect=self._on_disconnect,
            channel_max_idle_s=config.server_channel_max_idle_time_seconds,
        )
        self._scan = PeriodicTask(
            "namesrv-scan-not-active-broker",
            self._scan_once,
            interval_s=config.scan_not_active_broker_interval / 1000,
            initial_delay_s=SCAN_INITIAL_DELAY_S,
        )

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        self.kv_config.load()
        await self.server.start()
        self._scan.start()

    def log_boot_success(self) -> None:
        """The one line that says the NameServer is ready (harnesses wait for it)."""
        log.info(
            "The Name Server boot success. serializeType=JSON, listening on %s:%d",
            self.config.bind_address,
            self.port,
        )

    async def stop(self) -> None:
        port = self.port  # the bound port: gone once the server is closed
        await self._scan.stop()
        await self.server.stop()
        log.info("The Name Server shut down (port %d)", port)

    def scan_not_active_broker(self) -> int:
        """Remove brokers whose last registration is too old and close their connections."""
        expired = self.route_info.scan_not_active_broker(self.clock.now_ms())
        for _, channel in expired:
            if isinstance(channel, RemotingConnection):
                channel.abort()
        return len(expired)

    def _scan_once(self) -> None:
        self.scan_not_active_broker()

    def _on_disconnect(self, conn: RemotingConnection) -> None:
        self.route_info.on_channel_destroy(conn)
