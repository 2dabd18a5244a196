"""pyrmq's client: producers, push / lite pull / pull consumers, admin, and a blocking facade.

asyncio-first; ``BlockingProducer`` / ``BlockingPushConsumer`` serve plain synchronous code.
Mirrors the Java client's public surface (``DefaultMQProducer`` with ``MessageQueueSelector``,
``DefaultMQPushConsumer`` — concurrent or orderly, clustering or broadcasting —,
``DefaultLitePullConsumer``, ``DefaultMQPullConsumer``, ``MQAdminImpl``). Imports ``remoting``
and ``common`` only (ARCHITECTURE.md §2.2).
"""

from __future__ import annotations

from pyrmq.client.admin import Admin
from pyrmq.client.blocking import BlockingProducer, BlockingPushConsumer
from pyrmq.client.config import ClientConfig
from pyrmq.client.consumer.consume import ConsumeStatus
from pyrmq.client.consumer.lite_pull import LitePullConsumer
from pyrmq.client.consumer.local_offset_store import LocalFileOffsetStore
from pyrmq.client.consumer.orderly import ConsumeOrderlyStatus
from pyrmq.client.consumer.pull import PullResult, PullStatus
from pyrmq.client.consumer.pull_consumer import PullConsumer
from pyrmq.client.consumer.push_consumer import PushConsumer
from pyrmq.client.errors import MQClientError
from pyrmq.client.instance import ClientInstance
from pyrmq.client.producer import Producer
from pyrmq.client.query import QueryClient
from pyrmq.client.selector import (
    MessageQueueSelector,
    SelectMessageQueueByHash,
    SelectMessageQueueByRandom,
)
from pyrmq.client.sending import SendResult, SendStatus
from pyrmq.client.transaction import (
    LocalTransactionState,
    TransactionListener,
    TransactionProducer,
    TransactionSendResult,
)
from pyrmq.common.message import Message, MessageExt
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.heartbeat import BROADCASTING, CLUSTERING

__all__ = [
    "BROADCASTING",
    "CLUSTERING",
    "Admin",
    "BlockingProducer",
    "BlockingPushConsumer",
    "ClientConfig",
    "ClientInstance",
    "ConsumeOrderlyStatus",
    "ConsumeStatus",
    "LitePullConsumer",
    "LocalFileOffsetStore",
    "LocalTransactionState",
    "MQClientError",
    "Message",
    "MessageExt",
    "MessageQueue",
    "MessageQueueSelector",
    "Producer",
    "PullConsumer",
    "PullResult",
    "PullStatus",
    "PushConsumer",
    "QueryClient",
    "SelectMessageQueueByHash",
    "SelectMessageQueueByRandom",
    "SendResult",
    "SendStatus",
    "TransactionListener",
    "TransactionProducer",
    "TransactionSendResult",
]
