"""ClientInstance: the client side's composition root — connections, routes, timers.

Owns what producers and consumers of one client id share (protocol.md §6.1): the client id, the
one ``RemotingClient``, the route cache (topic -> route, refreshed every 30 s, on demand, and
soon after a failed send), the broker address table derived from it, the heartbeat to every
broker (every 30 s, the first right away), the rebalance service (every 20 s and at once on
NOTIFY_CONSUMER_IDS_CHANGED), offset persistence (every 5 s) and the UNREGISTER_CLIENT calls at
shutdown. Mirrors ``MQClientInstance`` (+ ``RebalanceService``, ``ClientRemotingProcessor``).
Producers and consumers plug in through the ``ProducerInner`` / ``ConsumerInner`` protocols.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable
from typing import Protocol

from pyrmq.client.api import ClientAPI, parse_namesrv_addrs
from pyrmq.client.config import ClientConfig, build_client_id, local_ip
from pyrmq.client.errors import MQClientError
from pyrmq.client.route import broker_addrs, subscribe_queues, with_default_queue_nums
from pyrmq.common.clock import Clock, SystemClock
from pyrmq.common.constants import MASTER_ID
from pyrmq.common.service import PeriodicTask, TaskGroup
from pyrmq.remoting.bodies import MessageQueue, TopicRouteData
from pyrmq.remoting.client import RemotingClient
from pyrmq.remoting.codes import RequestCode
from pyrmq.remoting.command import RemotingCommand
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.errors import MQResponseError, RemotingError, TopicNotExistError
from pyrmq.remoting.heartbeat import ConsumerData, HeartbeatData, ProducerData
from pyrmq.remoting.server import Handler

__all__ = ["CLIENT_INNER_PRODUCER_GROUP", "ClientInstance", "ConsumerInner", "ProducerInner"]

log = logging.getLogger(__name__)

#: How soon the rebalance service looks again while a subscribed topic has no route.
ROUTE_MISSING_RETRY_S = 1.0

#: MixAll.CLIENT_INNER_PRODUCER_GROUP: every Java client instance heartbeats this group too.
CLIENT_INNER_PRODUCER_GROUP = "CLIENT_INNER_PRODUCER"


class ProducerInner(Protocol):
    """What the instance needs from a producer (``MQProducerInner``)."""

    @property
    def group(self) -> str: ...

    def publish_topics(self) -> Iterable[str]: ...

    def update_publish_info(self, topic: str, route: TopicRouteData) -> None: ...


class ConsumerInner(Protocol):
    """What the instance needs from a consumer (``MQConsumerInner``)."""

    @property
    def group(self) -> str: ...

    def consumer_data(self) -> ConsumerData: ...

    def subscribed_topics(self) -> Iterable[str]: ...

    def update_subscribe_info(self, topic: str, queues: set[MessageQueue]) -> None: ...

    async def do_rebalance(self) -> None: ...

    async def persist_offsets(self) -> None: ...


#: MQClientManager's factory table: one instance per (NameServer list, instance name).
_SHARED: dict[tuple[str, str], ClientInstance] = {}


def shared_instance(
    namesrv_addr: str,
    instance_name: str = "DEFAULT",
    *,
    config: ClientConfig | None = None,
    clock: Clock | None = None,
) -> ClientInstance:
    """The process's instance for ``instance_name`` (MQClientManager.getOrCreateMQClientInstance).

    Producers and consumers given the same instance name share one instance: its routes, its
    heartbeat and its connections. ``DEFAULT`` is never shared, as in Java 4.9, where it turns
    into ``<pid>#<nanoTime>``. Every user calls ``release()`` once when done.
    """
    key = (namesrv_addr, instance_name)
    instance = _SHARED.get(key) if instance_name != "DEFAULT" else None
    if instance is None or instance.stopped:
        instance = ClientInstance(namesrv_addr, instance_name, config=config, clock=clock)
        if instance_name != "DEFAULT":
            _SHARED[key] = instance
    instance.users += 1
    instance.registry_key = key if instance_name != "DEFAULT" else None
    return instance


class ClientInstance:
    """Shared client machinery for the producers and consumers registered with it."""

    def __init__(
        self,
        namesrv_addr: str,
        instance_name: str = "DEFAULT",
        *,
        client_ip: str | None = None,
        unit_name: str | None = None,
        config: ClientConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config or ClientConfig()
        self.clock: Clock = clock or SystemClock()
        #: how many producers/consumers hold this instance (``shared_instance``/``release``)
        self.users = 0
        self.registry_key: tuple[str, str] | None = None
        addrs = parse_namesrv_addrs(namesrv_addr)
        self.client_ip = client_ip or local_ip(addrs)
        self.client_id = build_client_id(self.client_ip, instance_name, unit_name)
        handlers: dict[int, Handler] = {
            RequestCode.NOTIFY_CONSUMER_IDS_CHANGED: self._on_consumer_ids_changed,
        }
        self.remoting = RemotingClient(handlers)
        self.api = ClientAPI(self.remoting, addrs)
        self.route_table: dict[str, TopicRouteData] = {}
        #: brokerName -> (brokerId -> address), from the routes in ``route_table``.
        self.broker_addr_table: dict[str, dict[int, str]] = {}
        #: broker address -> the version its last HEART_BEAT response carried.
        self.broker_versions: dict[str, int] = {}
        self.producers: dict[str, ProducerInner] = {}
        self.consumers: dict[str, ConsumerInner] = {}
        self._tasks = TaskGroup(f"client-{self.client_id}")
        self._timers: list[PeriodicTask] = []
        self._rebalance_wakeup = asyncio.Event()
        self._heartbeat_lock = asyncio.Lock()
        self._refreshing: set[str] = set()
        self._state = "created"

    # ------------------------------------------------------------------ registration

    def register_producer(self, producer: ProducerInner) -> None:
        if producer.group in self.producers:
            raise ValueError(f"producer group {producer.group} is already registered")
        self.producers[producer.group] = producer

    def register_consumer(self, consumer: ConsumerInner) -> None:
        if consumer.group in self.consumers:
            raise ValueError(f"consumer group {consumer.group} is already registered")
        self.consumers[consumer.group] = consumer

    async def unregister_producer(self, group: str) -> None:
        if self.producers.pop(group, None) is not None:
            await self._unregister_client(producer_group=group)

    async def unregister_consumer(self, group: str) -> None:
        if self.consumers.pop(group, None) is not None:
            await self._unregister_client(consumer_group=group)

    # ------------------------------------------------------------------ lifecycle

    @property
    def started(self) -> bool:
        return self._state == "running"

    @property
    def stopped(self) -> bool:
        return self._state == "stopped"

    def register_request_handler(self, code: int, handler: Handler) -> None:
        """Answer broker -> client requests of ``code`` (CHECK_TRANSACTION_STATE, ...)."""
        self.remoting.dispatcher.handlers[code] = handler

    async def release(self) -> None:
        """One user is done; the last one shuts the instance down."""
        self.users -= 1
        if self.users > 0:
            return
        if self.registry_key is not None and _SHARED.get(self.registry_key) is self:
            del _SHARED[self.registry_key]
        await self.shutdown()

    async def start(self) -> None:
        """Start the timers (idempotent: producers and consumers sharing us all call it)."""
        if self._state != "created":
            return
        self._state = "running"
        cfg = self.config
        self._timers = [
            PeriodicTask(
                "client-route-refresh",
                self.refresh_all_routes,
                cfg.poll_name_server_interval_s,
                cfg.poll_name_server_interval_s,
            ),
            PeriodicTask(
                "client-heartbeat",
                self.send_heartbeat_to_all_brokers,
                cfg.heartbeat_broker_interval_s,
            ),
            PeriodicTask(
                "client-persist-offsets",
                self.persist_all_consumer_offsets,
                cfg.persist_consumer_offset_interval_s,
                cfg.persist_consumer_offset_initial_delay_s,
            ),
        ]
        for timer in self._timers:
            timer.start()
        self._tasks.spawn(self._rebalance_service(), "client-rebalance")

    async def shutdown(self) -> None:
        """Persist offsets, unregister every group from every broker, stop, close sockets."""
        if self._state == "stopped":
            return
        was_running = self._state == "running"
        self._state = "stopped"
        for timer in self._timers:
            await timer.stop()
        await self._tasks.close()
        if was_running:
            await self.persist_all_consumer_offsets()
            for group in list(self.producers):
                await self.unregister_producer(group)
            for group in list(self.consumers):
                await self.unregister_consumer(group)
        await self.remoting.close()

    # ------------------------------------------------------------------ routes

    async def update_topic_route(
        self, topic: str, *, template: str | None = None, template_queue_nums: int = 4
    ) -> bool:
        """Fetch ``topic``'s route (or, with ``template``, the auto-create template's route cut
        to ``template_queue_nums`` queues) and apply it; False when none could be had."""
        try:
            if template is None:
                route = await self.api.get_route_info(topic, self.config.api_timeout_s)
            else:
                route = await self.api.get_route_info(template, self.config.api_timeout_s)
                route = with_default_queue_nums(route, template_queue_nums)
        except TopicNotExistError:
            log.debug("no route for topic %s (template %s)", topic, template)
            return False
        except (RemotingError, ValueError) as exc:
            log.warning("route of %s not updated: %s", topic, exc)
            return False
        self.apply_route(topic, route)
        return True

    def apply_route(self, topic: str, route: TopicRouteData) -> None:
        """Remember ``route`` and hand it to every producer and consumer of the instance."""
        old = self.route_table.get(topic)
        if old != route:
            log.info("route of %s changed: %s", topic, route)
        self.route_table[topic] = route
        known = {addr for addrs in self.broker_addr_table.values() for addr in addrs.values()}
        self._rebuild_broker_addr_table(route)
        now = {addr for addrs in self.broker_addr_table.values() for addr in addrs.values()}
        if self.consumers and now - known:
            # A broker we never told about our consumers: heartbeat it now, so pulls and the
            # consumer list see us without waiting for the 30 s heartbeat.
            self.request_heartbeat()
        for producer in list(self.producers.values()):
            producer.update_publish_info(topic, route)
        queues = subscribe_queues(topic, route)
        for consumer in list(self.consumers.values()):
            consumer.update_subscribe_info(topic, queues)

    def _rebuild_broker_addr_table(self, latest: TopicRouteData | None = None) -> None:
        # Brokers gone from every route are forgotten (Java cleanOfflineBroker); the route
        # fetched last says where a broker name's ids are now (Java puts each route's broker
        # data as it arrives): another topic's older route must not bring back a dead master.
        table: dict[str, dict[int, str]] = {}
        for route in [*self.route_table.values(), *([latest] if latest is not None else [])]:
            table.update(broker_addrs(route))
        self.broker_addr_table = table

    def _topics_in_use(self) -> set[str]:
        topics: set[str] = set()
        for producer in list(self.producers.values()):
            topics.update(producer.publish_topics())
        for consumer in list(self.consumers.values()):
            topics.update(consumer.subscribed_topics())
        return topics

    async def refresh_all_routes(self) -> None:
        """The 30 s poll: every topic a producer or consumer of ours uses."""
        for topic in sorted(self._topics_in_use()):
            await self.update_topic_route(topic)

    def request_route_refresh(self, topic: str) -> None:
        """Refresh ``topic`` soon, in the background (after a failed send); deduplicated."""
        if self._state != "running" or topic in self._refreshing:
            return
        self._refreshing.add(topic)
        self._tasks.spawn(self._refresh_one(topic), f"client-route-{topic}")

    def request_heartbeat(self) -> None:
        """Heartbeat every broker soon, in the background (subscriptions changed)."""
        if self._state == "running":
            self._tasks.spawn(self.send_heartbeat_to_all_brokers(), "client-heartbeat-now")

    async def _refresh_one(self, topic: str) -> None:
        try:
            await self.update_topic_route(topic)
        finally:
            self._refreshing.discard(topic)

    # ------------------------------------------------------------------ broker addresses

    def master_addr(self, broker_name: str) -> str | None:
        """``findBrokerAddressInPublish``: the master of ``broker_name``."""
        return self.broker_addr_table.get(broker_name, {}).get(MASTER_ID)

    def subscribe_addr(self, broker_name: str, broker_id: int) -> tuple[str, int] | None:
        """``findBrokerAddressInSubscribe``: the address of ``broker_id``, else of ``id + 1``
        (the usual slave), else any; with the id actually chosen."""
        addrs = self.broker_addr_table.get(broker_name)
        if not addrs:
            return None
        for candidate in (broker_id, broker_id + 1):
            if candidate in addrs:
                return addrs[candidate], candidate
        chosen = min(addrs)
        return addrs[chosen], chosen

    async def master_addr_or_refresh(self, topic: str, broker_name: str) -> str | None:
        """The master of ``broker_name``, fetching ``topic``'s route once if it is unknown."""
        addr = self.master_addr(broker_name)
        if addr is None:
            await self.update_topic_route(topic)
            addr = self.master_addr(broker_name)
        return addr

    async def offset_addr_or_refresh(self, topic: str, broker_name: str) -> str | None:
        """Where a consumer offset of ``broker_name`` is read and written: the master, else
        (master down) any address of it, as RemoteBrokerOffsetStore's second lookup does."""
        addr = await self.master_addr_or_refresh(topic, broker_name)
        if addr is not None:
            return addr
        found = self.subscribe_addr(broker_name, MASTER_ID)
        return found[0] if found is not None else None

    def any_broker_addr(self, topic: str) -> str | None:
        """A random broker of ``topic``'s route, master preferred (``findBrokerAddrByTopic``)."""
        route = self.route_table.get(topic)
        if route is None or not route.broker_datas:
            return None
        return random.choice(route.broker_datas).select_broker_addr()

    async def max_offset(self, mq: MessageQueue) -> int:
        """GET_MAX_OFFSET of ``mq`` from its master (``MQAdminImpl.maxOffset``)."""
        addr = await self._require_master(mq)
        return await self.api.get_max_offset(addr, mq.topic, mq.queue_id, self.config.api_timeout_s)

    async def min_offset(self, mq: MessageQueue) -> int:
        """GET_MIN_OFFSET of ``mq`` from its master."""
        addr = await self._require_master(mq)
        return await self.api.get_min_offset(addr, mq.topic, mq.queue_id, self.config.api_timeout_s)

    async def search_offset(self, mq: MessageQueue, timestamp_ms: int) -> int:
        """SEARCH_OFFSET_BY_TIMESTAMP of ``mq`` from its master."""
        addr = await self._require_master(mq)
        return await self.api.search_offset(
            addr, mq.topic, mq.queue_id, timestamp_ms, self.config.api_timeout_s
        )

    async def _require_master(self, mq: MessageQueue) -> str:
        addr = await self.master_addr_or_refresh(mq.topic, mq.broker_name)
        if addr is None:
            raise MQClientError(f"the broker {mq.broker_name} of {mq} does not exist")
        return addr

    async def find_consumer_ids(self, topic: str, group: str) -> list[str] | None:
        """GET_CONSUMER_LIST_BY_GROUP via a broker of ``topic``; None when it cannot be had."""
        addr = self.any_broker_addr(topic)
        if addr is None:
            await self.update_topic_route(topic)
            addr = self.any_broker_addr(topic)
        if addr is None:
            return None
        try:
            return await self.api.get_consumer_id_list(addr, group, self.config.api_timeout_s)
        except (RemotingError, ValueError) as exc:
            log.warning("consumer ids of %s from %s: %s", group, addr, exc)
            return None

    # ------------------------------------------------------------------ heartbeat

    def heartbeat_data(self) -> HeartbeatData:
        producers = [ProducerData(CLIENT_INNER_PRODUCER_GROUP)]
        producers += [ProducerData(group) for group in self.producers]
        consumers = [consumer.consumer_data() for consumer in list(self.consumers.values())]
        return HeartbeatData(self.client_id, producers, consumers)

    async def send_heartbeat_to_all_brokers(self) -> None:
        """HEART_BEAT to every known broker: masters only unless we have a consumer."""
        if not self.producers and not self.consumers:
            return
        async with self._heartbeat_lock:
            heartbeat = self.heartbeat_data()
            targets = [
                addr
                for addrs in self.broker_addr_table.values()
                for broker_id, addr in addrs.items()
                if self.consumers or broker_id == MASTER_ID
            ]
            await asyncio.gather(*(self._heartbeat_one(addr, heartbeat) for addr in targets))

    async def _heartbeat_one(self, addr: str, heartbeat: HeartbeatData) -> None:
        try:
            self.broker_versions[addr] = await self.api.send_heartbeat(
                addr, heartbeat, self.config.api_timeout_s
            )
        except RemotingError as exc:
            log.warning("heartbeat to %s failed: %s", addr, exc)

    async def _unregister_client(
        self, producer_group: str | None = None, consumer_group: str | None = None
    ) -> None:
        addrs = [addr for table in self.broker_addr_table.values() for addr in table.values()]
        for addr in addrs:
            try:
                await self.api.unregister_client(
                    addr, self.client_id, producer_group, consumer_group, self.config.api_timeout_s
                )
            except RemotingError as exc:
                log.warning("unregister %s from %s failed: %s", self.client_id, addr, exc)

    # ------------------------------------------------------------------ rebalance, offsets

    def rebalance_now(self) -> None:
        """Wake the rebalance service (NOTIFY_CONSUMER_IDS_CHANGED, consumer start, ...)."""
        self._rebalance_wakeup.set()

    async def _rebalance_service(self) -> None:
        while True:
            # While a subscribed topic has no route yet, look again soon, not in 20 s.
            waiting = any(
                getattr(c.rebalance, "missing_routes", False)
                for c in self.consumers.values()
                if hasattr(c, "rebalance")
            )
            interval_s = ROUTE_MISSING_RETRY_S if waiting else self.config.rebalance_interval_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s):
                    await self._rebalance_wakeup.wait()
            self._rebalance_wakeup.clear()
            await self.rebalance_all()

    async def rebalance_all(self) -> None:
        for consumer in list(self.consumers.values()):
            try:
                await consumer.do_rebalance()
            except (RemotingError, MQResponseError, ValueError, LookupError):
                log.exception("rebalance of %s failed", consumer.group)

    async def persist_all_consumer_offsets(self) -> None:
        for consumer in list(self.consumers.values()):
            try:
                await consumer.persist_offsets()
            except (RemotingError, ValueError, LookupError):
                log.exception("persisting offsets of %s failed", consumer.group)

    def _on_consumer_ids_changed(
        self, conn: RemotingConnection, cmd: RemotingCommand
    ) -> RemotingCommand | None:
        log.info(
            "consumers of %s changed (notified by %s): rebalancing now",
            cmd.ext("consumerGroup"),
            conn.peer,
        )
        self.rebalance_now()
        return None
