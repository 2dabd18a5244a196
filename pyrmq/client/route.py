"""Topic route -> the queue lists and broker addresses a client uses (protocol.md §5.4).

Owns the reading of a ``TopicRouteData``: which queues a producer may write to (writable queue
data whose broker name has a live master, or the ``orderTopicConf`` list when present), which
queues a consumer may read from, and where the brokers are. Mirrors
``MQClientInstance.topicRouteData2TopicPublishInfo`` / ``topicRouteData2TopicSubscribeInfo`` and
``TopicPublishInfo``'s queue choice. Pure: values in, values out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyrmq.common.constants import MASTER_ID, PERM_READ, PERM_WRITE
from pyrmq.remoting.bodies import BrokerData, MessageQueue, QueueData, TopicRouteData

__all__ = [
    "TopicPublishInfo",
    "broker_addrs",
    "master_addr",
    "publish_queues",
    "subscribe_queues",
    "with_default_queue_nums",
]


def _broker_data(route: TopicRouteData, broker_name: str) -> BrokerData | None:
    for data in route.broker_datas:
        if data.broker_name == broker_name:
            return data
    return None


def _order_topic_queues(topic: str, conf: str) -> list[MessageQueue]:
    """``brokerName:n;brokerName:n`` -> queues 0..n-1 of each, in the order written."""
    queues: list[MessageQueue] = []
    for item in conf.split(";"):
        name, sep, nums = item.partition(":")
        if not sep:
            continue  # Java would throw on this entry; a malformed entry just adds nothing
        queues.extend(MessageQueue(topic, name, i) for i in range(int(nums)))
    return queues


def publish_queues(topic: str, route: TopicRouteData) -> list[MessageQueue]:
    """Where a producer may send: ``orderTopicConf`` when present, else every writable queue
    data (sorted by broker name, as Java sorts ``QueueData``) whose broker has a master (id 0).
    """
    if route.order_topic_conf:
        return _order_topic_queues(topic, route.order_topic_conf)
    queues: list[MessageQueue] = []
    for data in sorted(route.queue_datas, key=lambda qd: _java_order(qd.broker_name)):
        if not data.perm & PERM_WRITE:
            continue
        broker = _broker_data(route, data.broker_name)
        # A broker name with only slaves left stays in the route; producers must skip it.
        if broker is None or MASTER_ID not in broker.broker_addrs:
            continue
        queues.extend(
            MessageQueue(topic, data.broker_name, i) for i in range(data.write_queue_nums)
        )
    return queues


def subscribe_queues(topic: str, route: TopicRouteData) -> set[MessageQueue]:
    """Where a consumer may read: every readable queue data, master or slave alike."""
    return {
        MessageQueue(topic, data.broker_name, i)
        for data in route.queue_datas
        if data.perm & PERM_READ
        for i in range(data.read_queue_nums)
    }


def master_addr(route: TopicRouteData, broker_name: str) -> str | None:
    """The master's address of ``broker_name`` in this route, if it has one."""
    broker = _broker_data(route, broker_name)
    return None if broker is None else broker.broker_addrs.get(MASTER_ID)


def broker_addrs(route: TopicRouteData) -> dict[str, dict[int, str]]:
    """brokerName -> (brokerId -> address), the client's broker address table entries."""
    return {data.broker_name: dict(data.broker_addrs) for data in route.broker_datas}


def with_default_queue_nums(route: TopicRouteData, queue_nums: int) -> TopicRouteData:
    """The auto-create template route (TBW102) cut to ``min(queue_nums, readQueueNums)``
    read and write queues per broker, as a producer uses it for a topic that does not exist yet
    (protocol.md §5.6)."""
    queue_datas = []
    for data in route.queue_datas:
        nums = min(queue_nums, data.read_queue_nums)
        queue_datas.append(QueueData(data.broker_name, nums, nums, data.perm, data.topic_sys_flag))
    return TopicRouteData(
        queue_datas=queue_datas,
        broker_datas=route.broker_datas,
        filter_server_table=route.filter_server_table,
        order_topic_conf=route.order_topic_conf,
    )


def _java_order(text: str) -> bytes:
    """Sort key equal to Java ``String.compareTo`` (UTF-16 code units)."""
    return text.encode("utf-16-be", "surrogatepass")


@dataclass(slots=True)
class TopicPublishInfo:
    """A topic's publish queues and the round-robin counter over them (``TopicPublishInfo``).

    The counter starts wherever the caller says (Java: a random start per topic) and moves by
    one per selection, retries included.
    """

    queues: list[MessageQueue]
    counter: int = 0
    order_topic: bool = False
    route: TopicRouteData = field(default_factory=TopicRouteData)

    @classmethod
    def from_route(cls, topic: str, route: TopicRouteData, counter: int = 0) -> TopicPublishInfo:
        return cls(publish_queues(topic, route), counter, bool(route.order_topic_conf), route)

    @property
    def ok(self) -> bool:
        return bool(self.queues)

    def _next(self) -> MessageQueue:
        self.counter += 1
        return self.queues[abs(self.counter) % len(self.queues)]

    def select(self, last_broker_name: str | None = None) -> MessageQueue:
        """The next queue; on a retry (``last_broker_name`` set) one of another broker if any
        of the next ``len(queues)`` picks is, else simply the next one."""
        if not self.queues:
            raise LookupError("no publish queue")
        if last_broker_name is not None:
            for _ in range(len(self.queues)):
                mq = self._next()
                if mq.broker_name != last_broker_name:
                    return mq
        return self._next()
