"""BrokerController: the broker process's composition root; start and stop order.

Mirrors ``BrokerController`` (4.9.8): builds the store and the metadata managers, the client
managers, long polling, the request processors and the remoting server; registers with every
NameServer at start, every ``registerNameServerPeriod`` and after topic changes; persists
consumer offsets every ``flushConsumerOffsetInterval``; scans idle client connections. Shutdown
stops accepting, lets in-flight requests finish, unregisters, persists, and shuts the store
down (which removes the abort file). Nothing else constructs these parts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pyrmq.broker.client_manager import ConsumerManager, ProducerManager
from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.consumer_offset import ConsumerOffsetManager
from pyrmq.broker.long_polling import PullRequestHoldService
from pyrmq.broker.namesrv_api import BrokerIdentity, BrokerOuterAPI
from pyrmq.broker.processors.admin import AdminBrokerProcessor
from pyrmq.broker.processors.client_manage import ClientManageProcessor
from pyrmq.broker.processors.consumer_manage import ConsumerManageProcessor
from pyrmq.broker.processors.lock import LockProcessor
from pyrmq.broker.processors.pull import PullMessageProcessor
from pyrmq.broker.processors.send import SendMessageProcessor
from pyrmq.broker.processors.send_back import SendBackProcessor
from pyrmq.broker.rebalance_lock import RebalanceLockManager
from pyrmq.broker.schedule import ScheduleMessageService
from pyrmq.broker.slave_sync import SYNC_INTERVAL_S, SlaveSynchronize
from pyrmq.broker.subscription_group import SubscriptionGroupManager
from pyrmq.broker.topic_config import TopicConfigManager
from pyrmq.broker.transaction import (
    EndTransactionProcessor,
    TransactionalMessageCheckService,
    TransactionalMessageService,
)
from pyrmq.common.clock import Clock, SystemClock
from pyrmq.common.constants import MASTER_ID
from pyrmq.common.service import PeriodicTask, TaskGroup
from pyrmq.dledger.node import DLedgerNode
from pyrmq.dledger.peers import follower_broker_id
from pyrmq.dledger.raft import Role
from pyrmq.dledger.store import build_dledger_store
from pyrmq.ha.master import HAService
from pyrmq.ha.slave import HAClient
from pyrmq.remoting.client import RemotingClient
from pyrmq.remoting.codes import RequestCode
from pyrmq.remoting.command import request
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.headers import NotifyConsumerIdsChangedRequestHeader, to_ext_fields
from pyrmq.remoting.server import Handler, RemotingServer
from pyrmq.store.config import BrokerRole, MessageStoreConfig
from pyrmq.store.message_store import MessageStore
from pyrmq.store.metadata import metadata_paths

log = logging.getLogger(__name__)

#: BrokerController: the first periodic registration comes 10 s after start.
REGISTER_INITIAL_DELAY_S = 10.0
CHANNEL_SCAN_INTERVAL_S = 10.0
#: How long shutdown waits for requests in flight (a send waiting for its flush, say).
SHUTDOWN_GRACE_S = 5.0
#: How often a new DLedger leader checks that its log is committed and dispatched.
MASTER_CATCH_UP_POLL_S = 0.01
#: 4.x brokers also listen on the "VIP" channel, fastListenPort = listenPort - 2, serving every
#: request but pulls. Clients use it only when asked to (vipChannelEnabled, off by default in
#: 4.9); Java's slaves always do, for their metadata sync (BrokerOuterAPI forces it).
FAST_PORT_OFFSET = 2
NOT_ON_FAST_CHANNEL = frozenset({RequestCode.PULL_MESSAGE, RequestCode.LITE_PULL_MESSAGE})


class BrokerController:
    def __init__(
        self,
        broker_config: BrokerConfig,
        store_config: MessageStoreConfig,
        clock: Clock | None = None,
    ) -> None:
        self.broker_config = broker_config
        self.store_config = store_config
        self.clock = clock or SystemClock()
        if store_config.broker_role is not BrokerRole.SLAVE:
            broker_config.broker_id = MASTER_ID
        paths = metadata_paths(store_config)
        self.topic_config_manager = TopicConfigManager(broker_config, paths.topics, self.clock)
        self.consumer_offset_manager = ConsumerOffsetManager(paths.consumer_offset)
        self.subscription_group_manager = SubscriptionGroupManager(
            broker_config, paths.subscription_group, self.clock
        )
        self.consumer_manager = ConsumerManager(self.clock, self._notify_consumer_ids_changed)
        self.producer_manager = ProducerManager(self.clock)
        self.rebalance_lock_manager = RebalanceLockManager()
        self.dledger: DLedgerNode | None = None
        if store_config.enable_d_leger_commit_log:
            self.message_store = self._build_dledger_store()
        else:
            self.message_store = MessageStore(store_config, self.clock, self._message_arriving)
        self.schedule_message_service = ScheduleMessageService(
            self.message_store,
            store_config,
            paths.delay_offset,
            self.clock,
            lambda: store_config.broker_role is not BrokerRole.SLAVE,
        )
        self.pull_processor = PullMessageProcessor(self)
        self.long_polling = PullRequestHoldService(
            self.clock,
            self.message_store.get_max_offset_in_queue,
            self.pull_processor.execute_request_when_wakeup,
            # Short polling answers after shortPollingTimeMills, so check at that pace.
            1.0
            if broker_config.long_polling_enable
            else broker_config.short_polling_time_mills / 1000,
        )
        self.transactional_message_service = TransactionalMessageService(self)
        self.transactional_message_check_service = TransactionalMessageCheckService(
            self, self.transactional_message_service
        )
        self.ha_service: HAService | None = None
        self.ha_client: HAClient | None = None
        self.master_ha_addr: str | None = None
        #: the master's remoting address, for a slave (from its registration)
        self.master_addr: str | None = None
        self.slave_synchronize = SlaveSynchronize(self, lambda: self.master_addr)
        self._role_task: asyncio.Task[None] | None = None
        if self.dledger is not None:
            pass  # DLedger replicates the log itself; no classic HA
        elif store_config.broker_role is BrokerRole.SLAVE:
            self.ha_client = HAClient(self.message_store, self._master_ha_addr, store_config)
        else:
            # 4.x: the HA port is listenPort + 1 (an OS-chosen remoting port: OS-chosen too).
            ha_port = store_config.ha_listen_port if broker_config.listen_port else 0
            self.ha_service = HAService(
                self.message_store, store_config, broker_config.listen_host, ha_port
            )
            self.message_store.append_listener = self.ha_service.notify_append
            if store_config.broker_role is BrokerRole.SYNC_MASTER:
                self.message_store.replication_gate = self.ha_service
        self.remoting_client = RemotingClient()
        self.outer_api = BrokerOuterAPI(
            self.remoting_client, broker_config.register_broker_timeout_mills / 1000
        )
        handlers = self._handlers()
        self.server = self._remoting_server(handlers, broker_config.listen_port)
        # Only beside a configured port: an OS-chosen one has no known neighbour to take.
        self.fast_server: RemotingServer | None = None
        if broker_config.listen_port > FAST_PORT_OFFSET:
            self.fast_server = self._remoting_server(
                {c: h for c, h in handlers.items() if c not in NOT_ON_FAST_CHANNEL},
                broker_config.listen_port - FAST_PORT_OFFSET,
            )
        self._periodic: list[PeriodicTask] = []
        self._register_lock = asyncio.Lock()
        self._tasks = TaskGroup("broker")
        self.started = False

    @property
    def store_host(self) -> tuple[str, int]:
        """``brokerIP1:listenPort``: in every record's STOREHOST and every offset msgId."""
        return self.broker_config.broker_i_p1, self.broker_config.listen_port

    def _remoting_server(self, handlers: dict[int, Handler], port: int) -> RemotingServer:
        return RemotingServer(
            handlers,
            host=self.broker_config.listen_host,
            port=port,
            max_frame_bytes=self.broker_config.frame_max_length,
            on_disconnect=self._on_disconnect,
            channel_max_idle_s=self.broker_config.server_channel_max_idle_time_seconds,
        )

    async def _start_fast_server(self) -> None:
        if self.fast_server is None:
            return
        try:
            await self.fast_server.start()
        except OSError as exc:
            # Java would not start; a missing VIP channel only stops Java slaves' metadata sync.
            log.warning("VIP channel port %d not available: %s", self.fast_server.port, exc)
            self.fast_server = None

    def _handlers(self) -> dict[int, Handler]:
        table: dict[int, Any] = {}
        for processor in (
            SendMessageProcessor(self),
            self.pull_processor,
            ConsumerManageProcessor(self),
            ClientManageProcessor(self),
            AdminBrokerProcessor(self),
            LockProcessor(self),
            SendBackProcessor(self),
            EndTransactionProcessor(self, self.transactional_message_service),
        ):
            table.update(processor.handlers())
        return table

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> None:
        """Metadata files, then the store (which recovers)."""
        self.topic_config_manager.load()
        self.consumer_offset_manager.load()
        self.subscription_group_manager.load()
        self.message_store.load()
        self.schedule_message_service.load()

    async def start(self) -> None:
        await self.message_store.start()
        if self.dledger is not None:
            await self.dledger.start()
        self.schedule_message_service.start()
        await self.server.start()
        if self.broker_config.listen_port == 0:  # the OS chose: advertise what it chose
            self.broker_config.listen_port = self.server.port
        await self._start_fast_server()
        if self.ha_service is not None:
            await self.ha_service.start()
            self.store_config.ha_listen_port = self.ha_service.port

        self.topic_config_manager.on_change = self._topics_changed
        self.long_polling.start()
        self._start_periodic()
        if self.store_config.broker_role is not BrokerRole.SLAVE or self.dledger is not None:
            self.transactional_message_check_service.start()  # it skips rounds on a slave
        await self.register_broker_all()
        if self.ha_client is not None:  # after registering: the NameServer names our master
            self.ha_client.start()
        self.started = True

    def _start_periodic(self) -> None:
        config = self.broker_config
        period_s = min(max(config.register_name_server_period, 10_000), 60_000) / 1000
        self._periodic = [
            PeriodicTask(
                "register-broker", self.register_broker_all, period_s, REGISTER_INITIAL_DELAY_S
            ),
            PeriodicTask(
                "persist-consumer-offset",
                self.consumer_offset_manager.persist,
                config.flush_consumer_offset_interval / 1000,
                config.flush_consumer_offset_interval / 1000,
            ),
            PeriodicTask(
                "scan-client-channels",
                self._scan_channels,
                CHANNEL_SCAN_INTERVAL_S,
                CHANNEL_SCAN_INTERVAL_S,
            ),
        ]
        if self.store_config.broker_role is BrokerRole.SLAVE or self.dledger is not None:
            self._periodic.append(
                PeriodicTask("slave-synchronize", self._sync_from_master, SYNC_INTERVAL_S, 3.0)
            )
        for task in self._periodic:
            task.start()

    async def shutdown(self) -> None:
        """Stop accepting, finish in-flight requests, unregister, persist, stop the store."""
        self.started = False
        for task in self._periodic:
            await task.stop()
        await self.transactional_message_check_service.stop()
        await self._tasks.close()
        await self.long_polling.stop()
        servers = [self.server] if self.fast_server is None else [self.server, self.fast_server]
        await asyncio.gather(*(server.stop(grace_s=SHUTDOWN_GRACE_S) for server in servers))
        await self.outer_api.unregister_broker_all(
            self.broker_config.namesrv_addr_list(), self.identity()
        )
        self.consumer_offset_manager.persist()
        self.topic_config_manager.persist()
        self.subscription_group_manager.persist()
        await self.schedule_message_service.stop()
        if self._role_task is not None:
            self._role_task.cancel()
        if self.dledger is not None:
            await self.dledger.stop()
        if self.ha_client is not None:
            await self.ha_client.stop()
        if self.ha_service is not None:
            await self.ha_service.stop()
        await self.message_store.shutdown()
        await self.remoting_client.close()

    async def _sync_from_master(self) -> None:
        if self.store_config.broker_role is BrokerRole.SLAVE:  # DLedger: changes at run time
            await self.slave_synchronize.sync_all()

    # ------------------------------------------------------------------ DLedger

    def _build_dledger_store(self) -> MessageStore:
        """The store over a DLedger log (store.md §7); the role follows leadership."""
        store, node = build_dledger_store(self.store_config, self.clock, self._message_arriving)
        node.role_listeners.append(self._on_dledger_role)
        self.dledger = node
        # Java starts at brokerId -1 and waits for the election; a follower's id until then.
        self.store_config.broker_role = BrokerRole.SLAVE
        self.broker_config.broker_id = follower_broker_id(node.self_id)
        return store

    def _on_dledger_role(self, role: Role, term: int, leader_id: str | None) -> None:
        """DLedgerRoleChangeHandler: a leader becomes master once caught up; others slaves."""
        if self._role_task is not None:
            self._role_task.cancel()
            self._role_task = None
        if role is Role.LEADER:
            self._role_task = self._tasks.spawn(self._become_master(term), "dledger-master")
        elif self.store_config.broker_role is not BrokerRole.SLAVE:
            self._change_to_slave()

    def _change_to_slave(self) -> None:
        assert self.dledger is not None
        self.store_config.broker_role = BrokerRole.SLAVE
        self.broker_config.broker_id = follower_broker_id(self.dledger.self_id)
        log.info("DLedger: now a slave (brokerId %d)", self.broker_config.broker_id)
        if self.started:
            self._tasks.spawn(self.register_broker_all(), "register-broker-now")

    async def _become_master(self, term: int) -> None:
        """Wait until every entry is committed and dispatched (Java polls every 100 ms), then
        take queue offsets from the consume queues and register as brokerId 0."""
        node, store = self.dledger, self.message_store
        assert node is not None and node.raft is not None
        while True:
            raft = node.raft
            if raft.role is not Role.LEADER or raft.term != term:
                return
            store.reput.do_reput()
            if raft.commit_index == node.log.end_index and store.reput.behind() <= 0:
                break
            await asyncio.sleep(MASTER_CATCH_UP_POLL_S)
        store.commitlog.set_topic_queue_table(store.consume_queues.queue_offset_table())
        self.store_config.broker_role = BrokerRole.SYNC_MASTER
        self.broker_config.broker_id = MASTER_ID
        log.info("DLedger: leader of term %d is now the master", term)
        await self.register_broker_all()

    # ------------------------------------------------------------------ NameServer

    def identity(self) -> BrokerIdentity:
        config = self.broker_config
        return BrokerIdentity(
            cluster_name=config.broker_cluster_name,
            broker_addr=config.broker_addr,
            broker_name=config.broker_name,
            broker_id=config.broker_id,
            ha_server_addr=f"{config.broker_ip2}:{self.store_config.ha_listen_port}",
        )

    async def register_broker_all(self) -> None:
        addrs = self.broker_config.namesrv_addr_list()
        if not addrs:
            return
        async with self._register_lock:
            wrapper = self.topic_config_manager.build_serialize_wrapper()
            if self.broker_config.broker_permission != 6:
                for topic_config in wrapper.topic_config_table.values():
                    topic_config.perm &= self.broker_config.broker_permission
            results = await self.outer_api.register_broker_all(addrs, self.identity(), wrapper)
        for result in results:
            if result.order_topic_config is not None:
                self.topic_config_manager.update_order_topic_config(result.order_topic_config)
                break
        for result in results:
            if result.ha_server_addr:  # a slave learns its master's addresses here
                self.master_ha_addr = result.ha_server_addr
                self.master_addr = result.master_addr
                break

    def _master_ha_addr(self) -> str | None:
        """haMasterAddress if configured (as 4.9: taken as is), else what the NameServer said."""
        configured = self.store_config.ha_master_address
        if configured and len(configured) >= 6:
            return configured
        return self.master_ha_addr

    def _topics_changed(self) -> None:
        """A topic changed: tell the NameServers now (as Java's registerIncrementBrokerData)."""
        if self.started:
            self._tasks.spawn(self.register_broker_all(), "register-broker-now")

    # ------------------------------------------------------------------ clients

    def _notify_consumer_ids_changed(self, group: str, channels: list[object]) -> None:
        ext = to_ext_fields(NotifyConsumerIdsChangedRequestHeader(group))
        for channel in channels:
            if isinstance(channel, RemotingConnection) and channel.is_open:
                channel.oneway(request(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, dict(ext)))

    def _on_disconnect(self, conn: RemotingConnection) -> None:
        self.producer_manager.do_channel_close_event(conn)
        self.consumer_manager.do_channel_close_event(conn)

    def _scan_channels(self) -> None:
        for channel in [
            *self.consumer_manager.scan_not_active_channel(),
            *self.producer_manager.scan_not_active_channel(),
        ]:
            if isinstance(channel, RemotingConnection):
                channel.abort()

    def _message_arriving(
        self, topic: str, queue_id: int, logic_offset: int, tags_code: int, store_timestamp: int
    ) -> None:
        self.long_polling.notify_message_arriving(topic, queue_id, logic_offset, tags_code)

    # ------------------------------------------------------------------ runtime info

    def runtime_info(self) -> dict[str, str]:
        """GET_BROKER_RUNTIME_INFO: the keys mqadmin clusterList and brokerStatus read."""
        store = self.message_store
        commitlog = store.commitlog
        return {
            "brokerVersionDesc": "V4_9_8",
            "brokerVersion": "409",
            "brokerActive": "true",
            "putTps": "0.0 0.0 0.0",
            "getTransferedTps": "0.0 0.0 0.0",
            "getTransferredTps": "0.0 0.0 0.0",
            "sendThreadPoolQueueSize": "0",
            "pullThreadPoolQueueSize": "0",
            "sendThreadPoolQueueHeadWaitTimeMills": "0",
            "pullThreadPoolQueueHeadWaitTimeMills": "0",
            "pageCacheLockTimeMills": "0",
            "earliestMessageTimeStamp": str(
                max(commitlog.pickup_store_timestamp(max(commitlog.min_offset(), 0), 0), 0)
            ),
            "commitLogDiskRatio": "0.0",
            "commitLogMinOffset": str(max(commitlog.min_offset(), 0)),
            "commitLogMaxOffset": str(commitlog.max_offset()),
            "dispatchBehindBytes": str(store.dispatch_behind_bytes()),
            "msgPutTotalTodayNow": "0",
            "msgGetTotalTodayNow": "0",
            "msgPutTotalYesterdayMorning": "0",
            "msgPutTotalTodayMorning": "0",
            "msgGetTotalYesterdayMorning": "0",
            "msgGetTotalTodayMorning": "0",
        }
