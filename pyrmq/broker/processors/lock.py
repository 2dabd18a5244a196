"""LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42): queue locks for orderly consumers.

Mirrors the lock handlers of 4.9.8 ``AdminBrokerProcessor`` (bodies in protocol.md §3.5.6):
``{"clientId","consumerGroup","mqSet":[MessageQueue]}`` in, ``{"lockOKMQSet":[...]}`` out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from pyrmq.remoting import fastjson
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand
from pyrmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from pyrmq.broker.controller import BrokerController


def _lock_body(data: bytes | None) -> tuple[str, str, list[MessageQueue]]:
    body: Any = fastjson.loads(data or b"{}")
    if not isinstance(body, dict):
        raise ValueError("lock body is not a JSON object")
    mqs = [MessageQueue.from_wire(mq) for mq in body.get("mqSet") or []]
    return str(body.get("consumerGroup") or ""), str(body.get("clientId") or ""), mqs


class LockProcessor:
    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker

    def handlers(self) -> dict[int, object]:
        return {RequestCode.LOCK_BATCH_MQ: self.lock, RequestCode.UNLOCK_BATCH_MQ: self.unlock}

    def lock(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        group, client_id, mqs = _lock_body(req.body)
        granted = self.broker.rebalance_lock_manager.try_lock_batch(
            group, mqs, client_id, self.broker.clock.now_ms()
        )
        ordered = sorted(granted)
        body = orjson.dumps({"lockOKMQSet": [mq.to_wire() for mq in ordered]})
        return req.response(ResponseCode.SUCCESS, body=body)

    def unlock(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        group, client_id, mqs = _lock_body(req.body)
        self.broker.rebalance_lock_manager.unlock_batch(group, mqs, client_id)
        return req.response(ResponseCode.SUCCESS)
