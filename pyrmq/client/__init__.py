"""pyrmq's client: producer, push consumer, admin, and a blocking facade over them.

asyncio-first; ``BlockingProducer`` / ``BlockingPushConsumer`` serve plain synchronous code.
Mirrors the Java client's public surface (``DefaultMQProducer``, ``DefaultMQPushConsumer``,
``MQAdminImpl``). Imports ``remoting`` and ``common`` only (ARCHITECTURE.md §2.2).
"""

from __future__ import annotations

from pyrmq.client.admin import Admin
from pyrmq.client.blocking import BlockingProducer, BlockingPushConsumer
from pyrmq.client.config import ClientConfig
from pyrmq.client.consumer.consume import ConsumeStatus
from pyrmq.client.consumer.push_consumer import PushConsumer
from pyrmq.client.errors import MQClientError
from pyrmq.client.instance import ClientInstance
from pyrmq.client.producer import Producer
from pyrmq.client.sending import SendResult, SendStatus
from pyrmq.common.message import Message, MessageExt
from pyrmq.remoting.bodies import MessageQueue

__all__ = [
    "Admin",
    "BlockingProducer",
    "BlockingPushConsumer",
    "ClientConfig",
    "ClientInstance",
    "ConsumeStatus",
    "MQClientError",
    "Message",
    "MessageExt",
    "MessageQueue",
    "Producer",
    "PushConsumer",
    "SendResult",
    "SendStatus",
]
