"""SlaveSynchronize: a slave copies its master's metadata every 10 s.

Mirrors 4.9.8 ``SlaveSynchronize`` (store.md §5.7, protocol.md §5.8): GET_ALL_TOPIC_CONFIG (21,
replaced when the master's DataVersion differs), GET_ALL_CONSUMER_OFFSET (43),
GET_ALL_DELAY_OFFSET (45) and GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), each persisted locally, so
that consumers reading from the slave see the master's offsets and a slave promoted by hand has
the master's topics. The master's address comes from the slave's last registration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyrmq.remoting import bodies
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import request
from pyrmq.remoting.errors import RemotingError
from pyrmq.store.metadata import ConsumerOffsetFile, DelayOffsetFile, SubscriptionGroupFile

if TYPE_CHECKING:
    from pyrmq.broker.controller import BrokerController

log = logging.getLogger(__name__)

SYNC_INTERVAL_S = 10.0


class SlaveSynchronize:
    def __init__(self, broker: BrokerController, master_addr: Callable[[], str | None]) -> None:
        self.broker = broker
        self.master_addr = master_addr

    async def sync_all(self) -> bool:
        """One round; False when there is no master to copy from or a request failed."""
        addr = self.master_addr()
        if addr is None:
            return False
        try:
            await self._sync_topic_config(addr)
            await self._sync_consumer_offset(addr)
            await self._sync_delay_offset(addr)
            await self._sync_subscription_group(addr)
        except (RemotingError, ValueError) as exc:
            log.warning("metadata sync from master %s failed: %s", addr, exc)
            return False
        return True

    async def _fetch(self, addr: str, code: int) -> bytes:
        response = await self.broker.remoting_client.invoke(addr, request(code), 3.0)
        if response.code != ResponseCode.SUCCESS:
            raise ValueError(f"{code}: {response.code} {response.remark}")
        return response.body or b"{}"

    async def _sync_topic_config(self, addr: str) -> None:
        wrapper = bodies.decode_topic_config_serialize_wrapper(
            await self._fetch(addr, RequestCode.GET_ALL_TOPIC_CONFIG)
        )
        topics = self.broker.topic_config_manager
        if topics.data_version != wrapper.data_version:
            topics.topic_config_table.clear()
            topics.topic_config_table.update(wrapper.topic_config_table)
            topics.data_version = wrapper.data_version
            topics.persist()
            log.info(
                "topic config synced from master %s: %d topics",
                addr,
                len(wrapper.topic_config_table),
            )

    async def _sync_consumer_offset(self, addr: str) -> None:
        offsets = ConsumerOffsetFile.decode(
            await self._fetch(addr, RequestCode.GET_ALL_CONSUMER_OFFSET)
        )
        manager = self.broker.consumer_offset_manager
        manager.offset_table.update(offsets.offset_table)
        manager.persist()

    async def _sync_delay_offset(self, addr: str) -> None:
        delay = DelayOffsetFile.decode(await self._fetch(addr, RequestCode.GET_ALL_DELAY_OFFSET))
        service = self.broker.schedule_message_service
        service.offset_table.update(delay.offset_table)
        service.persist()

    async def _sync_subscription_group(self, addr: str) -> None:
        groups = SubscriptionGroupFile.decode(
            await self._fetch(addr, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
        )
        manager = self.broker.subscription_group_manager
        manager.subscription_group_table.update(groups.subscription_group_table)
        manager.data_version = groups.data_version
        manager.persist()
