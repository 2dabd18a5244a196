"""BrokerOuterAPI: the broker's side of REGISTER_BROKER and UNREGISTER_BROKER.

Mirrors ``BrokerOuterAPI.registerBrokerAll``/``unregisterBrokerAll`` (protocol.md §3.1, §5.2):
the full topic table with its DataVersion, sent to every NameServer in parallel with the body
CRC; each answer may carry the master's address (for slaves) and the ORDER_TOPIC_CONFIG table.
A NameServer that does not answer is logged and skipped; the next period tries again.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from dataclasses import dataclass

from pyrmq.remoting import bodies
from pyrmq.remoting.client import RemotingClient
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import request
from pyrmq.remoting.errors import RemotingError
from pyrmq.remoting.headers import (
    RegisterBrokerRequestHeader,
    UnRegisterBrokerRequestHeader,
    to_ext_fields,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RegisterResult:
    namesrv_addr: str
    master_addr: str | None
    ha_server_addr: str | None
    order_topic_config: dict[str, str] | None


@dataclass(slots=True)
class BrokerIdentity:
    cluster_name: str
    broker_addr: str
    broker_name: str
    broker_id: int
    ha_server_addr: str


class BrokerOuterAPI:
    def __init__(self, client: RemotingClient, timeout_s: float) -> None:
        self.client = client
        self.timeout_s = timeout_s

    async def register_broker_all(
        self,
        namesrv_addrs: list[str],
        identity: BrokerIdentity,
        wrapper: bodies.TopicConfigSerializeWrapper,
    ) -> list[RegisterResult]:
        body = bodies.encode_register_broker_body(bodies.RegisterBrokerBody(wrapper, []))
        header = RegisterBrokerRequestHeader(
            identity.broker_name,
            identity.broker_addr,
            identity.cluster_name,
            identity.ha_server_addr,
            identity.broker_id,
            False,
            zlib.crc32(body) & 0x7FFFFFFF,
        )
        ext = to_ext_fields(header)
        results = await asyncio.gather(
            *(self._register_one(addr, ext, body) for addr in namesrv_addrs)
        )
        return [result for result in results if result is not None]

    async def _register_one(
        self, addr: str, ext: dict[str, str], body: bytes
    ) -> RegisterResult | None:
        try:
            response = await self.client.invoke(
                addr, request(RequestCode.REGISTER_BROKER, dict(ext), body), self.timeout_s
            )
        except (RemotingError, OSError) as exc:
            log.warning("register to name server %s failed: %s", addr, exc)
            return None
        if response.code != ResponseCode.SUCCESS:
            log.warning("register to name server %s refused: %s", addr, response.remark)
            return None
        order = bodies.decode_kv_table(response.body).table if response.body else None
        return RegisterResult(addr, response.ext("masterAddr"), response.ext("haServerAddr"), order)

    async def unregister_broker_all(
        self, namesrv_addrs: list[str], identity: BrokerIdentity
    ) -> None:
        ext = to_ext_fields(
            UnRegisterBrokerRequestHeader(
                identity.broker_name,
                identity.broker_addr,
                identity.cluster_name,
                identity.broker_id,
            )
        )
        await asyncio.gather(*(self._unregister_one(addr, ext) for addr in namesrv_addrs))

    async def _unregister_one(self, addr: str, ext: dict[str, str]) -> None:
        try:
            await self.client.invoke(
                addr, request(RequestCode.UNREGISTER_BROKER, dict(ext)), self.timeout_s
            )
        except (RemotingError, OSError) as exc:
            log.warning("unregister from name server %s failed: %s", addr, exc)
